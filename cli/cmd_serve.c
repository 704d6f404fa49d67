/*
 * cli/cmd_serve.c - 'newsletter serve': the unsubscribe pages, RFC 8058
 * one-click unsubscription and the admin API, until SIGTERM or SIGINT;
 * with [signup] enabled, also the thread that mails the confirmation
 * links of pending signups and deletes the expired ones.
 *
 * Wiring only: the signup thread calls the mailer's drain and the store's
 * expiry on a store handle of its own. It is the only thread of serve
 * that sends mail, so mailer_run()'s SMTP AUTH set-up (not safe for
 * overlapping runs, see mailer/mailer.h) never overlaps.
 */
#include "cli.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "../mailer/mailer.h"
#include "../web/web.h"

#define SIGNUP_DRAIN_S 1	/* due confirmation mails are looked for this often */
#define SIGNUP_EXPIRE_S 60	/* expired signups are deleted this often */
#define SIGNUP_RELAY_WAIT_MAX_S 60	/* the longest wait for a relay that is down */
#define SIGNUP_REOPEN_S 10	/* a store that would not open is tried again */

struct signup_thread {
	const struct config *cfg;
	const struct store_keys *keys;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;	/* on CLOCK_MONOTONIC */
	bool stop;		/* under mu */
};

/* Waits until @at (monotonic seconds) or a stop; whether to go on. */
static bool
signup_wait(struct signup_thread *t, double at)
{
	struct timespec ts;
	bool go;

	deadline_after(CLOCK_MONOTONIC, at - monotonic_seconds(), &ts);
	pthread_mutex_lock(&t->mu);
	while (!t->stop && pthread_cond_timedwait(&t->cv, &t->mu, &ts) != ETIMEDOUT)
		;
	go = !t->stop;
	pthread_mutex_unlock(&t->mu);
	return go;
}

/* Sends what is due; the time of the next drain. */
static double
signup_drain(struct signup_thread *t, struct store *st, double now, double *relay_wait)
{
	struct confirm_drain res;
	char err[ERR_LEN];

	if (mailer_confirm_drain(t->cfg, t->keys, st, &res, err) < 0) {
		log_error("signup: %s", err);
		return now + SIGNUP_DRAIN_S;
	}
	if (res.relay_down) {
		/* 1 s, doubling: the mails' own back-off is theirs (store). */
		*relay_wait = *relay_wait > 0 ? *relay_wait * 2 : 1;
		if (*relay_wait > SIGNUP_RELAY_WAIT_MAX_S)
			*relay_wait = SIGNUP_RELAY_WAIT_MAX_S;
		return now + *relay_wait;
	}
	*relay_wait = 0;
	/* A full batch: more may be due at once. */
	return res.sent + res.retried + res.refused >= CONFIRM_BATCH ? now : now + SIGNUP_DRAIN_S;
}

static void *
signup_main(void *arg)
{
	struct signup_thread *t = arg;
	struct store *st = NULL;
	double next_drain = 0, next_expire = 0, relay_wait = 0;
	char err[ERR_LEN];

	mailer_hold();	/* GMime stays set up: one mail at a time would leak */
	for (;;) {
		double now = monotonic_seconds();
		long long deleted;

		if (st == NULL && store_open(&st, t->cfg->store.database, t->keys, err) != STORE_OK) {
			log_error("signup: %s; trying again in %d s", err, SIGNUP_REOPEN_S);
			st = NULL;
			if (!signup_wait(t, now + SIGNUP_REOPEN_S))
				break;
			continue;
		}
		if (now >= next_drain)
			next_drain = signup_drain(t, st, now, &relay_wait);
		if (now >= next_expire) {
			if (store_signup_expire(st, &deleted, err) != STORE_OK)
				log_error("signup: deleting expired signups: %s", err);
			else if (deleted > 0)
				log_info("signup: %lld unconfirmed signup%s expired and deleted", deleted,
					 deleted == 1 ? "" : "s");
			next_expire = now + SIGNUP_EXPIRE_S;
		}
		if (!signup_wait(t, next_drain < next_expire ? next_drain : next_expire))
			break;
	}
	store_close(st);
	mailer_release();
	return NULL;
}

/* Starts the signup thread with SIGINT and SIGTERM blocked: they are the
 * web server's sigwait()'s. */
static int
signup_start(struct signup_thread *t, const struct config *cfg, const struct store_keys *keys,
	     char *err)
{
	pthread_condattr_t ca;
	sigset_t set, old;
	int rc;

	t->cfg = cfg;
	t->keys = keys;
	t->stop = false;
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	rc = pthread_create(&t->thread, NULL, signup_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mu);
		return errf(err, "cannot start the signup thread: %s", strerror(rc));
	}
	return 0;
}

/* Stops the thread once its mail in flight, if any, is answered. */
static void
signup_stop(struct signup_thread *t)
{
	pthread_mutex_lock(&t->mu);
	t->stop = true;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
}

int
cmd_serve(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct signup_thread signup;
	const char *listen = NULL;
	char err[ERR_LEN];
	int r;

	while ((r = cli_getopt(c, argc, argv, "hl:", opts)) != -1) {
		if (CLI_RETURN(r))
			return CLI_EXIT(r);
		if (r == 'l')
			listen = optarg;
	}
	if (argc - optind != 0)
		return cli_usage(c, "serve takes no arguments");
	if (listen != NULL && web_listen_check(listen, err) < 0)
		return cli_usage(c, "--listen %s", err);
	/* Opens the store once here, so that a missing database or key file is
	 * reported before anything listens. */
	if ((r = cli_open(c)) != EXIT_OK)
		return r;
	store_close(c->st);
	c->st = NULL;
	/* A relay that closes the connection must not kill the server. */
	signal(SIGPIPE, SIG_IGN);
	if (c->cfg.signup.enabled && signup_start(&signup, &c->cfg, c->keys, err) < 0)
		return cli_fail(c, EXIT_FAIL, "%s", err);
	r = web_serve(&c->cfg, c->keys, listen, err);
	if (c->cfg.signup.enabled)
		signup_stop(&signup);
	if (r < 0)
		return cli_fail(c, EXIT_FAIL, "%s", err);
	return EXIT_OK;
}
