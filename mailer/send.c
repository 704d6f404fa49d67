/*
 * mailer/send.c - the send run: worker threads, each with its own libesmtp
 * session and sharing one store handle under a mutex, take small batches of due recipients in id
 * order, personalise, sign and hand each message to the relay, and record
 * each outcome as soon as the server has answered.
 *
 * What a user may count on:
 * - a message the server accepted is recorded as sent before the data of
 *   the next one goes out on its connection, so a crash or kill sends
 *   again at most the one message per connection that was in flight (the
 *   messages that several connections had accepted meanwhile are recorded
 *   in one commit, by whichever worker needs its own on record first);
 * - recipients are read from the store per batch, just before sending, so
 *   someone who unsubscribes or is restricted meanwhile gets nothing more;
 * - 4xx: left pending and retried in a later pass of the same run (with
 *   back-off), then by the next run; 5xx for a recipient: failed with the
 *   server's reply, and a hard bounce (subscriber deleted, suppressed)
 *   only when lib/status.c says the address is gone;
 * - a lost connection: reconnect and go on; a server that cannot be
 *   reached: stop with host:port named, nothing recorded wrongly;
 * - a relay silent for [smtp] timeout seconds (twice that for the reply to
 *   the end of the data, where a timeout may send the message twice: RFC
 *   5321 4.5.3.2.6) ends its session: reconnect and go on if the session
 *   got something done, else stop, naming the relay and what it did not
 *   answer; the recipients not accepted stay pending for the next run.
 *   The TCP connect counts: one the relay does not answer within the
 *   timeout (each of its addresses, nodelay.c) is such a silence;
 * - a relay that refuses our AUTH: stop, with its reply, nothing sent,
 *   and say so in the result (MAILER_STOP_AUTH): running again does not
 *   help until the credentials are fixed;
 * - with tls = required, a relay without STARTTLS, or a certificate that
 *   does not verify or does not name [smtp] host (its IP entries when host
 *   is an IP address): stop, saying which and what the certificate names,
 *   without a retry, and say so in the result (MAILER_STOP_TLS): running
 *   again does not help until the relay or [smtp] tls and ca_file change.
 *
 * Messages built already (serve's confirmation mails, o->singles) go the
 * same way, one worker, in one session, not recorded: each one's state is
 * handed back to the caller, and a relay that cannot be reached again
 * after a lost connection stops the run at once (their caller retries).
 *
 * A recipient's state changes in one function, set_state(), which records,
 * counts and logs the change; the run stops in one, stop_locked().
 * Never logs an address, a name or a token: a subscriber id at most.
 */
#include <stddef.h>		/* before libesmtp.h, which uses size_t (pitfall 3) */
#include <openssl/ssl.h>	/* before libesmtp.h: smtp_starttls_set_ctx */
#include <openssl/x509v3.h>
#include <auth-client.h>
/* libesmtp's reply struct shares its tag with lib.h's enhanced status code:
 * renamed here, which changes nothing in the library's ABI. */
#define smtp_status esmtp_status
#include <libesmtp.h>
#undef smtp_status

#include "mailer_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BATCH_MAX 256		/* recipients per session and per store read */
_Static_assert(SEND_SINGLES_MAX <= BATCH_MAX, "the singles of a run are one worker's batch");
#define PASSES 3		/* the first, then retries of 4xx answers */
#define RECONNECTS 5		/* sessions in a row that get nothing done */
#define PASSWORD_MAX 1024

static const double pass_delay[PASSES] = {0, 2, 8};	/* seconds before each pass */

struct item {
	struct recipient r;
	const struct buf *message;	/* built already (o->singles), or NULL */
	struct send_worker *w;
	enum send_state state;
	smtp_message_t msg;
	smtp_recipient_t rcpt;
	char verp[TOKEN_LEN + 300];
};

struct send_run {
	const struct send_opts *o;
	struct store *st;	/* under st_mu */
	pthread_mutex_t st_mu;
	/* Accepted messages not yet recorded: at most one per worker. */
	pthread_mutex_t q_mu;
	int64_t *q_ids;		/* under q_mu */
	struct send_worker **q_ws;
	int q_n;
	int64_t *rec_ids;	/* under st_mu: the group being committed */
	struct send_worker **rec_ws;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int64_t cursor;		/* recipients up to this id are handed out */
	int pass;
	int busy;		/* workers holding a batch */
	long long deferred;	/* 4xx answers in this pass */
	bool done, stop, ever_connected;
	double retry_at, next_slot;
	struct send_result res;
	char err[ERR_LEN];
	char hostport[300];
	char helo[ADDR_DOMAIN_MAX + 1];	/* the EHLO name (config_helo) */
	char user[256];
	char *password;
	SSL_CTX *tls;		/* verifies [smtp] host: its name, or its IP address */
	int batch;
};

struct send_worker {
	struct send_run *run;
	struct composer *comp;
	struct buf msg, tmp;
	const struct item *composed;	/* whose message is in msg */
	size_t off;
	bool connected, tls_missing;
	bool queued;		/* under run->q_mu: an accepted message is unrecorded */
	/*
	 * What the session waits for, and since when (monitor_cb, message_cb,
	 * the connect event): a session that ends with the relay silent for
	 * [smtp] timeout names the stage it stalled at. Never a credential or
	 * an address: commands are known by their verb only.
	 */
	const char *stage;
	double stage_limit;	/* the seconds libesmtp waits at this stage */
	double last_io;		/* monotonic seconds of the last byte either way */
	bool in_auth;		/* AUTH sent, its outcome not read yet */
	char auth_refused[160];	/* the relay's refusal of AUTH, printable, or "" */
	struct item items[BATCH_MAX];
	int n;
	pthread_t thread;
};

static void set_state(struct send_worker *w, struct item *it, enum send_state to,
		      const char *reply, const char *code);

/*
 * The ONLY place that stops the run, with run->mu held: the first fatal
 * error stops every worker, and says what kind of failure it was (@why);
 * later ones are dropped.
 */
static void
stop_locked(struct send_run *run, enum mailer_stop why, const char *f, va_list ap)
{
	if (!run->stop) {
		int n = vsnprintf(run->err, sizeof(run->err), f, ap);

		/* An error too long for ERR_LEN keeps its start, which says what
		 * failed, and says that it was cut. */
		if (n < 0 || (size_t)n >= sizeof(run->err))
			memcpy(run->err + sizeof(run->err) - 4, "...", 4);
		run->stop = true;
		run->res.fatal = true;
		run->res.stop = why;
	}
	pthread_cond_broadcast(&run->cv);
}

/* Stops the run for a failure of kind @why (takes run->mu). */
static void __attribute__((format(printf, 3, 4)))
run_stop(struct send_run *run, enum mailer_stop why, const char *f, ...)
{
	va_list ap;

	pthread_mutex_lock(&run->mu);
	va_start(ap, f);
	stop_locked(run, why, f, ap);
	va_end(ap);
	pthread_mutex_unlock(&run->mu);
}

/* Stops the run for a failure that running again mends (the relay, the
 * store, a file). */
#define run_fatal(run, ...) run_stop(run, MAILER_STOP_RETRY, __VA_ARGS__)

/* run_fatal() for a caller that holds run->mu. */
static void __attribute__((format(printf, 2, 3)))
run_fatal_locked(struct send_run *run, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	stop_locked(run, MAILER_STOP_RETRY, f, ap);
	va_end(ap);
}

static void
sleep_seconds(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/* Waits for this message's turn under the rate limit. */
static void
rate_wait(struct send_run *run)
{
	double now, slot;

	if (run->o->rate <= 0)
		return;
	pthread_mutex_lock(&run->mu);
	now = monotonic_seconds();
	slot = run->next_slot > now ? run->next_slot : now;
	run->next_slot = slot + 1.0 / run->o->rate;
	pthread_mutex_unlock(&run->mu);
	sleep_seconds(slot - now);
}

/* Composes (and signs) the message of @it into w->msg. */
static int
compose(struct send_worker *w, const struct item *it, char *err)
{
	const struct send_opts *o = w->run->o;
	char token[TOKEN_LEN + 1], msgid[COMPOSE_MSGID_LEN + 1];
	struct token_claims tc = {it->r.id, it->r.gen, o->mailing_id};
	struct personal who;

	if (it->message) {
		/* Built already, for one person: only signed here. */
		buf_reset(&w->msg);
		buf_add(&w->msg, it->message->s, it->message->len);
		if (o->dkim && mailer_dkim_sign(o->dkim, &w->msg, &w->tmp, err) < 0)
			return -1;
		w->composed = it;
		return 0;
	}
	if (store_token_make(o->keys, TOKEN_UNSUBSCRIBE, &tc, token) < 0)
		return errf(err, "subscriber %lld: beyond what a link can name", (long long)it->r.id);
	mailer_compose_msgid(o->mailing_id, it->r.id, msgid);
	who = (struct personal){it->r.email, it->r.name, token, msgid};
	mailer_compose_message(w->comp, &who, &w->msg);
	sodium_memzero(token, sizeof(token));
	if (o->dkim && mailer_dkim_sign(o->dkim, &w->msg, &w->tmp, err) < 0)
		return -1;
	w->composed = it;
	return 0;
}

/* Queues @it, just accepted, to be recorded (wait_recorded). */
static void
queue_sent(struct send_worker *w, const struct item *it)
{
	struct send_run *run = w->run;

	pthread_mutex_lock(&run->q_mu);
	run->q_ids[run->q_n] = it->r.id;
	run->q_ws[run->q_n] = w;
	run->q_n++;
	w->queued = true;
	pthread_mutex_unlock(&run->q_mu);
}

/*
 * Returns once the message @w queued is on record. The worker that gets the
 * store first commits every queued message in one transaction (a group
 * commit); the others find theirs done when they get the store.
 */
static void
wait_recorded(struct send_worker *w)
{
	struct send_run *run = w->run;
	char err[ERR_LEN];

	for (;;) {
		bool queued, failed = false;
		int n;

		pthread_mutex_lock(&run->q_mu);
		queued = w->queued;
		pthread_mutex_unlock(&run->q_mu);
		if (!queued)
			return;
		pthread_mutex_lock(&run->st_mu);
		pthread_mutex_lock(&run->q_mu);
		n = run->q_n;
		memcpy(run->rec_ids, run->q_ids, (size_t)n * sizeof(*run->rec_ids));
		memcpy(run->rec_ws, run->q_ws, (size_t)n * sizeof(*run->rec_ws));
		run->q_n = 0;
		pthread_mutex_unlock(&run->q_mu);
		if (n > 0 && store_mailing_sent(run->st, run->o->mailing_id, run->rec_ids, n,
						err) != STORE_OK)
			failed = true;
		pthread_mutex_lock(&run->q_mu);
		for (int i = 0; i < n; i++)
			run->rec_ws[i]->queued = false;
		pthread_mutex_unlock(&run->q_mu);
		pthread_mutex_unlock(&run->st_mu);
		/* After st_mu: next_batch() takes run->mu before st_mu. */
		if (failed)
			run_fatal(run, "recording %d deliveries as sent: %s", n, err);
	}
}

/* What the session now waits for, for @factor times [smtp] timeout. */
static void
stage_set(struct send_worker *w, const char *stage, int factor)
{
	w->stage = stage;
	w->stage_limit = (double)factor * w->run->o->cfg->smtp.timeout;
	w->last_io = monotonic_seconds();
}

static const char stage_connect[] = "the TCP handshake";
static const char stage_starttls[] = "the reply to STARTTLS";
static const char stage_auth[] = "the reply to AUTH";
static const char stage_quit[] = "the reply to QUIT";
static const char stage_end[] = "the reply to the end of the message data";

/* The commands libesmtp sends, known by their first bytes. */
static const struct {
	const char *verb;
	const char *stage;
} verbs[] = {
	{"EHLO ", "the reply to EHLO"},
	{"HELO ", "the reply to HELO"},
	{"STARTTLS", stage_starttls},
	{"AUTH ", stage_auth},
	{"MAIL FROM:", "the reply to MAIL FROM"},
	{"RCPT TO:", "the reply to RCPT TO"},
	{"DATA", "the reply to DATA"},
	{"RSET", "the reply to RSET"},
	{"QUIT", stage_quit},
};

/*
 * libesmtp's protocol monitor: every command written and reply read,
 * outside the message data. Keeps the stage (the last command's verb;
 * a line that is no command, such as an AUTH response, is not looked
 * at further) and the relay's answer to AUTH.
 */
static void
monitor_cb(const char *buf, int len, int writing, void *arg)
{
	struct send_worker *w = arg;

	if (writing == SMTP_CB_WRITING) {
		/*
		 * Pipelined commands come in one buffer: the last one is the
		 * one whose reply comes last. What is written during AUTH is
		 * its responses (base64, which could begin as "DATA" does):
		 * not looked at.
		 */
		for (const char *p = buf, *end = buf + len; p < end && !w->in_auth;) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

			for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
				size_t v = strlen(verbs[i].verb);

				if (n >= v && memcmp(p, verbs[i].verb, v) == 0) {
					stage_set(w, verbs[i].stage, 1);
					w->in_auth = verbs[i].stage == stage_auth;
					break;
				}
			}
			p = nl ? nl + 1 : end;
		}
		w->last_io = monotonic_seconds();
		return;
	}
	if (writing != SMTP_CB_READING)
		return;
	w->last_io = monotonic_seconds();
	if (len >= 3 && w->stage == stage_starttls && buf[0] == '2')
		stage_set(w, "the TLS handshake", 1);
	if (len >= 3 && w->in_auth && (buf[0] == '4' || buf[0] == '5')) {
		/* Its first line, as printable ASCII: it goes into an error. */
		if (w->auth_refused[0] == '\0') {
			size_t i;

			for (i = 0; i < (size_t)len && i + 1 < sizeof(w->auth_refused) &&
				    buf[i] != '\r' && buf[i] != '\n'; i++)
				w->auth_refused[i] = buf[i] >= ' ' && buf[i] < 0x7f ? buf[i] : '?';
			w->auth_refused[i] = '\0';
		}
		w->in_auth = false;
	} else if (len >= 3 && w->in_auth && buf[0] == '2') {
		w->in_auth = false;
	}
}

/* libesmtp reads each message through this; a NULL @len rewinds. */
static const char *
message_cb(void **ctx, int *len, void *arg)
{
	struct item *it = arg;
	struct send_worker *w = it->w;
	char err[ERR_LEN];

	(void)ctx;
	if (len == NULL) {
		if (w->composed != it) {
			rate_wait(w->run);
			if (compose(w, it, err) < 0) {
				/* libesmtp cannot abort a message: what goes out
				 * is not recorded as sent, and the run stops. */
				run_fatal(w->run, "%s", err);
				set_state(w, it, SEND_HELD, NULL, NULL);
				buf_reset(&w->msg);
			}
		}
		/* The server said 354: the previous message must be on record
		 * before this one's data goes out. */
		wait_recorded(w);
		w->off = 0;
		stage_set(w, "the relay to take the message data", 1);
		return NULL;
	}
	if (w->off >= w->msg.len) {
		/* All handed over: libesmtp writes the end, ".", and waits. */
		stage_set(w, stage_end, 2);
		*len = 0;
		return NULL;
	}
	*len = (int)(w->msg.len - w->off);
	w->off = w->msg.len;
	return w->msg.s;
}

int
mailer_send_apply(struct store *st, enum send_state from, enum send_state to,
		  const struct send_change *c, struct send_result *tally, char *err)
{
	enum store_status s = STORE_OK;
	char detail[STATUS_LEN + 40];
	bool deleted = false;

	if (from != SEND_DUE || to == SEND_DUE)
		return errf(err, "subscriber %lld: no change of state from %d to %d",
			    (long long)c->subscriber, (int)from, (int)to);
	switch (to) {
	case SEND_DUE:
	case SEND_HELD:
		break;
	case SEND_SENT:
		tally->sent++;
		break;
	case SEND_DEFERRED:
		tally->deferred++;
		if (c->mailing != 0)
			s = store_mailing_mark(st, c->mailing, c->subscriber, DELIVERY_PENDING,
					       c->reply, err);
		break;
	case SEND_FAILED:
		tally->failed++;
		if (c->mailing != 0)
			s = store_mailing_mark(st, c->mailing, c->subscriber, DELIVERY_FAILED,
					       c->reply, err);
		break;
	case SEND_BOUNCED:
		tally->failed++;
		if (c->mailing == 0)
			break;
		if (fmt(detail, sizeof(detail), "rejected at send time: %s", c->code) < 0)
			return errf(err, "subscriber %lld: a status code of more than %d bytes",
				    (long long)c->subscriber, STATUS_LEN - 1);
		s = store_delete_claims(st, &(const struct token_claims){.subscriber = c->subscriber,
					.gen = c->gen, .mailing = c->mailing},
					STORE_DEL_BOUNCED, "send", detail, &deleted, err);
		if (s == STORE_OK && deleted)
			tally->bounced++;
		break;
	}
	return s == STORE_OK ? 0 : -1;
}

/*
 * The ONLY way to change a recipient's state (curl's smtp_state()): records
 * the change (mailer_send_apply; an accepted message is queued for the
 * group commit instead), counts it and logs it. A store that fails stops
 * the run. @reply and @code are the server's, for the refusals.
 */
static void
set_state(struct send_worker *w, struct item *it, enum send_state to, const char *reply,
	  const char *code)
{
	struct send_run *run = w->run;
	const struct send_change c = {run->o->mailing_id, it->r.id, reply, code, it->r.gen};
	struct send_result tally = {0};
	enum send_state from = it->state;
	bool stored = c.mailing != 0 && to != SEND_SENT && to != SEND_HELD;
	char err[ERR_LEN];
	int r;

	it->state = to;
	if (stored)
		pthread_mutex_lock(&run->st_mu);
	r = mailer_send_apply(run->st, from, to, &c, &tally, err);
	if (stored)
		pthread_mutex_unlock(&run->st_mu);
	if (r == 0 && to == SEND_SENT && c.mailing != 0)
		queue_sent(w, it);
	pthread_mutex_lock(&run->mu);
	run->res.sent += tally.sent;
	run->res.failed += tally.failed;
	run->res.bounced += tally.bounced;
	run->res.deferred += tally.deferred;
	run->deferred += tally.deferred;
	pthread_mutex_unlock(&run->mu);
	if (r < 0) {
		if (to == SEND_BOUNCED)
			run_fatal(run, "subscriber %lld: %s", (long long)it->r.id, err);
		else
			run_fatal(run, "recording the delivery to subscriber %lld: %s",
				  (long long)it->r.id, err);
		return;
	}
	switch (to) {
	case SEND_DUE:
		break;
	case SEND_SENT:
		log_debug("subscriber %lld: sent", (long long)it->r.id);
		break;
	case SEND_DEFERRED:
		log_debug("subscriber %lld: deferred (%.3s)", (long long)it->r.id, reply);
		break;
	case SEND_FAILED:
		log_info("subscriber %lld: refused (%.3s %s), kept", (long long)it->r.id, reply, code);
		break;
	case SEND_BOUNCED:
		log_info("subscriber %lld: %s, the address does not exist: deleted and suppressed",
			 (long long)it->r.id, code);
		break;
	case SEND_HELD:
		log_debug("subscriber %lld: not sent, the run stops", (long long)it->r.id);
		break;
	}
}

/* Appends ", DNS:name" or ", IP:address" for each subjectAltName entry. */
static void
cert_names(X509 *cert, struct buf *b)
{
	STACK_OF(GENERAL_NAME) *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int n = names ? sk_GENERAL_NAME_num(names) : 0;

	for (int i = 0; i < n; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		const char *sep = b->len > 0 ? ", " : "";
		char ip[INET6_ADDRSTRLEN];

		if (g->type == GEN_DNS) {
			/* Shown as text: a byte that is not printable ASCII as '?'. */
			buf_printf(b, "%sDNS:", sep);
			for (int k = 0; k < g->d.dNSName->length; k++) {
				unsigned char c = g->d.dNSName->data[k];

				buf_addc(b, c > ' ' && c < 0x7f ? (char)c : '?');
			}
		} else if (g->type == GEN_IPADD) {
			int len = g->d.iPAddress->length;
			int af = len == 4 ? AF_INET : len == 16 ? AF_INET6 : -1;

			if (af < 0 || inet_ntop(af, g->d.iPAddress->data, ip, sizeof(ip)) == NULL)
				buf_printf(b, "%sIP:(%d bytes)", sep, len);
			else
				buf_printf(b, "%sIP:%s", sep, ip);
		}
	}
	GENERAL_NAMES_free(names);
}

/*
 * Stops the run for the server's certificate (tls = required), saying what
 * failed once: the host it does not name and the names it has, or
 * OpenSSL's reason. What a stopped run says is all that is said: the
 * worker does not reconnect (send_batch).
 */
static void
cert_refused(struct send_run *run, SSL *ssl, long result)
{
	const char *host = run->o->cfg->smtp.host;
	X509 *cert = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
	struct buf names;

	if (result != X509_V_ERR_HOSTNAME_MISMATCH && result != X509_V_ERR_IP_ADDRESS_MISMATCH) {
		run_stop(run, MAILER_STOP_TLS, "%s: the server's TLS certificate did not verify: %s "
			 "(tls = required; [smtp] ca_file names the CA to trust)", run->hostport,
			 X509_verify_cert_error_string(result));
		X509_free(cert);
		return;
	}
	buf_init(&names);
	if (cert)
		cert_names(cert, &names);
	run_stop(run, MAILER_STOP_TLS, "%s: the server's TLS certificate does not name %s (its names: %s), "
		 "and tls = required", run->hostport, host, names.len > 0 ? names.s : "none");
	buf_free(&names);
	X509_free(cert);
}

static void
event_cb(smtp_session_t session, int event, void *arg, ...)
{
	struct send_worker *w = arg;
	struct send_run *run = w->run;
	int *ok;
	va_list ap;

	(void)session;
	va_start(ap, arg);
	switch (event) {
	case SMTP_EV_CONNECT:
		w->connected = true;
		stage_set(w, "its greeting", 1);
		pthread_mutex_lock(&run->mu);
		run->ever_connected = true;
		pthread_mutex_unlock(&run->mu);
		break;
	case SMTP_EV_MESSAGESENT: {
		smtp_message_t m = va_arg(ap, smtp_message_t);
		struct item *it = smtp_message_get_application_data(m);
		const smtp_status_t *st = smtp_message_transfer_status(m);

		/* Accepted: queued, and on record before the data of the next
		 * message goes out (message_cb) or the session ends. */
		if (it && st && st->code / 100 == 2 && it->state == SEND_DUE)
			set_state(w, it, SEND_SENT, NULL, NULL);
		break;
	}
	case SMTP_EV_INVALID_PEER_CERTIFICATE: {
		/* OpenSSL's verification failed, the check of [smtp] host
		 * included (tls_setup). */
		long result = va_arg(ap, long);

		ok = va_arg(ap, int *);
		/* Opportunistic TLS protects against eavesdropping only. */
		*ok = run->o->cfg->smtp.tls == TLS_OPPORTUNISTIC;
		if (!*ok)
			cert_refused(run, va_arg(ap, SSL *), result);
		break;
	}
	case SMTP_EV_WRONG_PEER_CERTIFICATE: {
		/*
		 * libesmtp compares DNS names only, and with the name that
		 * getaddrinfo() calls canonical rather than [smtp] host. OpenSSL
		 * has checked the host itself, its IP entries for an address:
		 * its verdict stands, and a certificate it did not pass is
		 * refused here too.
		 */
		SSL *ssl;

		ok = va_arg(ap, int *);
		(void)va_arg(ap, const char *);
		ssl = va_arg(ap, SSL *);
		*ok = run->o->cfg->smtp.tls == TLS_OPPORTUNISTIC ||
		      (run->tls != NULL && SSL_get_verify_result(ssl) == X509_V_OK);
		if (!*ok)
			cert_refused(run, ssl, X509_V_ERR_HOSTNAME_MISMATCH);
		break;
	}
	case SMTP_EV_NO_PEER_CERTIFICATE:
		ok = va_arg(ap, int *);
		*ok = run->o->cfg->smtp.tls == TLS_OPPORTUNISTIC;
		if (!*ok)
			run_stop(run, MAILER_STOP_TLS, "%s: the server sent no TLS certificate (tls = required)",
				 run->hostport);
		break;
	case SMTP_EV_NO_CLIENT_CERTIFICATE:
		ok = va_arg(ap, int *);
		*ok = 1;
		break;
	case SMTP_EV_EXTNA_STARTTLS:
		w->tls_missing = true;
		break;
	default:
		break;
	}
	va_end(ap);
}

static int
auth_cb(auth_client_request_t req, char **result, int fields, void *arg)
{
	struct send_run *run = arg;

	for (int i = 0; i < fields; i++) {
		if (req[i].flags & AUTH_USER)
			result[i] = run->user;
		else if (req[i].flags & AUTH_PASS)
			result[i] = run->password;
		else
			return 0;
	}
	return 1;
}

/* The status a reply carries, from its enhanced code or its text. */
static enum status_verdict
classify(const smtp_status_t *st, char code[STATUS_LEN])
{
	struct smtp_status s = {st->enh_class, st->enh_subject, st->enh_detail};
	const char *why;

	if (s.klass == 0 && (st->text == NULL ||
			     status_find(st->text, strlen(st->text), &s) == NULL)) {
		/* libesmtp's reply codes have three digits. */
		if (fmt(code, STATUS_LEN, "%d", st->code) < 0)
			code[0] = '\0';
		return STATUS_UNKNOWN;
	}
	status_format(&s, code);
	return status_classify(&s, &why);
}

/* What became of an item the session did not see accepted. */
static void
settle(struct send_worker *w, struct item *it)
{
	const smtp_status_t *mail = smtp_reverse_path_status(it->msg);
	const smtp_status_t *rcpt = smtp_recipient_status(it->rcpt);
	const smtp_status_t *data = smtp_message_transfer_status(it->msg);
	const smtp_status_t *st = NULL;
	char code[STATUS_LEN], reply[600];

	/* The first refusal decides: the later ones (503) only follow from it. */
	if (mail && mail->code >= 400)
		st = mail;
	else if (rcpt && rcpt->code >= 400)
		st = rcpt;
	else if (data && data->code >= 400)
		st = data;
	if (st == NULL)
		return;		/* never answered: the next session tries again */
	/* Cut on purpose: the reply is kept as evidence of what the server
	 * said, and its start (code and enhanced code) is what matters. */
	(void)fmt_clip(reply, sizeof(reply), "%d %s", st->code, st->text ? st->text : "");
	reply[strcspn(reply, "\r\n")] = '\0';
	if (st->code < 500 || st == mail) {
		/* 4xx, or a refusal of our sender: nothing about the recipient. */
		set_state(w, it, SEND_DEFERRED, reply, NULL);
		return;
	}
	if (classify(st, code) == STATUS_HARD && w->run->o->mailing_id != 0)
		set_state(w, it, SEND_BOUNCED, reply, code);
	else
		set_state(w, it, SEND_FAILED, reply, code);
}

static smtp_session_t
new_session(struct send_worker *w, auth_context_t *auth)
{
	struct send_run *run = w->run;
	const struct config *cfg = run->o->cfg;
	long ms = 1000L * cfg->smtp.timeout;	/* 1 to 3600 s (lib/config.c) */
	smtp_session_t s = smtp_create_session();
	static const enum starttls_option modes[] = {
		[TLS_OFF] = Starttls_DISABLED,
		[TLS_OPPORTUNISTIC] = Starttls_ENABLED,
		[TLS_REQUIRED] = Starttls_REQUIRED,
	};

	if (s == NULL)
		fatal("libesmtp: out of memory");
	smtp_set_server(s, run->hostport);
	/* libesmtp's own is gethostname(): a bare name that relays checking
	 * HELO (Postfix's reject_non_fqdn_helo_hostname) refuse. */
	if (run->helo[0] && !smtp_set_hostname(s, run->helo))
		fatal("libesmtp: cannot set the EHLO name");
	smtp_set_eventcb(s, event_cb, w);
	smtp_starttls_enable(s, modes[cfg->smtp.tls]);
	if (run->tls)
		smtp_starttls_set_ctx(s, run->tls);
	/*
	 * libesmtp 1.1 counts milliseconds, whatever its comment says (it
	 * raises anything under 1000 to 1000): seconds here made every wait
	 * 1 s. Each is a wait for one reply, or for the relay to take one
	 * buffer of data; the reply to the end of the data gets twice as
	 * long, as RFC 5321 4.5.3.2 gives it twice the others' (10 minutes to
	 * 5): the relay delivers then, and giving up sends the message again.
	 * libesmtp sets no limit on the TCP connect: nodelay.c gives it the
	 * same timeout (mailer_nodelay_enter, send_batch).
	 */
	smtp_set_timeout(s, Timeout_GREETING | Timeout_OVERRIDE_RFC2822_MINIMUM, ms);
	smtp_set_timeout(s, Timeout_ENVELOPE | Timeout_OVERRIDE_RFC2822_MINIMUM, ms);
	smtp_set_timeout(s, Timeout_DATA | Timeout_OVERRIDE_RFC2822_MINIMUM, ms);
	smtp_set_timeout(s, Timeout_TRANSFER | Timeout_OVERRIDE_RFC2822_MINIMUM, ms);
	smtp_set_timeout(s, Timeout_DATA2 | Timeout_OVERRIDE_RFC2822_MINIMUM, 2 * ms);
	smtp_set_monitorcb(s, monitor_cb, w, 0);
	*auth = NULL;
	if (run->user[0]) {
		*auth = auth_create_context();
		auth_set_mechanism_flags(*auth, AUTH_PLUGIN_PLAIN, 0);
		auth_set_interact_cb(*auth, auth_cb, run);
		smtp_auth_set_context(s, *auth);
	}
	return s;
}

/*
 * The stage at which the relay stalled, when the session just ended after
 * a silence as long as libesmtp waits there; NULL when it did not (it
 * ended, or the connection was dropped, in time). @timed_out: the
 * session's connects that got no answer within the timeout (nodelay.c).
 */
static const char *
stalled_at(const struct send_worker *w, int timed_out)
{
	if (!w->connected)
		return timed_out > 0 && w->stage == stage_connect ? stage_connect : NULL;
	if (w->stage == NULL)
		return NULL;
	/* poll() never returns early; 50 ms spare for the clocks' steps. */
	if (monotonic_seconds() - w->last_io + 0.05 < w->stage_limit)
		return NULL;
	return w->stage;
}

/* Sends the batch, reconnecting while sessions get something done. */
static void
send_batch(struct send_worker *w)
{
	struct send_run *run = w->run;
	int idle = 0;

	for (;;) {
		smtp_session_t s;
		auth_context_t auth;
		int due = 0, settled = 0, ok, timed_out;
		const char *stalled;
		char why[200];

		if (run->stop)
			return;
		s = new_session(w, &auth);
		for (int i = 0; i < w->n; i++) {
			struct item *it = &w->items[i];

			if (it->state != SEND_DUE)
				continue;
			due++;
			it->msg = smtp_add_message(s);
			smtp_message_set_application_data_release(it->msg, it, NULL);
			smtp_set_reverse_path(it->msg, it->verp);
			it->rcpt = smtp_add_recipient(it->msg, it->r.email);
			smtp_set_messagecb(it->msg, message_cb, it);
		}
		if (due == 0) {
			smtp_destroy_session(s);
			if (auth)
				auth_destroy_context(auth);
			return;
		}
		w->connected = w->tls_missing = w->in_auth = false;
		w->auth_refused[0] = '\0';
		w->composed = NULL;
		/* Until the connect event: the TCP connect, which nodelay.c
		 * gives up after [smtp] timeout (libesmtp sets no limit). */
		stage_set(w, stage_connect, 1);
		mailer_nodelay_enter(run->o->cfg->smtp.timeout);
		ok = smtp_start_session(s);
		timed_out = mailer_nodelay_leave();
		stalled = stalled_at(w, timed_out);
		if (stalled) {
			/* A number and a stage of the verbs table: it fits. */
			if (fmt(why, sizeof(why), "no answer within %d s ([smtp] timeout), waiting for %s",
				(int)w->stage_limit, stalled) < 0)
				why[0] = '\0';
		} else if (!ok) {
			smtp_strerror(smtp_errno(), why, sizeof(why));
		} else {
			const smtp_status_t *st = smtp_message_transfer_status(w->items[0].msg);

			/* Two numbers in a fixed text: it fits. */
			if (fmt(why, sizeof(why), "the connection ended early (libesmtp error %d, reply %d)",
				smtp_errno(), st ? st->code : -1) < 0)
				why[0] = '\0';
		}
		wait_recorded(w);
		for (int i = 0; i < w->n; i++) {
			struct item *it = &w->items[i];

			/* After a refused AUTH libesmtp goes on without it, and
			 * the relay's refusals of MAIL (530) say nothing about
			 * the recipients: they stay due. */
			if (it->state == SEND_DUE && it->msg && !w->auth_refused[0]) {
				settle(w, it);
				if (it->state != SEND_DUE)
					settled++;
			} else if (it->state == SEND_SENT && it->msg) {
				settled++;
			}
			it->msg = NULL;
		}
		smtp_destroy_session(s);
		if (auth)
			auth_destroy_context(auth);
		for (int i = 0; i < w->n; i++)
			if (w->items[i].state == SEND_SENT)
				w->items[i].msg = NULL;
		if (w->tls_missing) {
			run_stop(run, MAILER_STOP_TLS, "%s does not offer STARTTLS (tls = required): nothing sent",
				 run->hostport);
			return;
		}
		if (w->auth_refused[0]) {
			run_stop(run, MAILER_STOP_AUTH, "the SMTP server %s refused our AUTH "
				 "([smtp] username and password_file): %s", run->hostport,
				 w->auth_refused);
			return;
		}
		/*
		 * A relay silent for the whole timeout in a session that got
		 * nothing done stops the run: the next session would wait as
		 * long again, and RECONNECTS of them would be minutes of
		 * silence. Those not accepted stay pending for the next run.
		 * One that stalls after doing some work may be loaded: go on.
		 * A stall at QUIT costs nothing: everything is on record.
		 */
		if (stalled && stalled != stage_quit) {
			const char *twice = stalled == stage_end ?
					    "; the message in flight may arrive twice" : "";

			if (settled == 0) {
				run_fatal(run, "the SMTP server %s: %s%s", run->hostport, why, twice);
				return;
			}
			log_warn("the SMTP server %s: %s%s; reconnecting", run->hostport, why, twice);
		}
		/* Messages built already (serve's confirmation mails) do not wait
		 * for a relay that went away: they have their own back-off, and
		 * serve's one signup thread has other work. */
		if (!w->connected && (!run->ever_connected || run->o->singles)) {
			run_fatal(run, "cannot connect to the SMTP server %s: %s", run->hostport, why);
			return;
		}
		/* Stopped meanwhile (a certificate refused, a store that failed):
		 * what stopped it is the one thing to say, and nothing to retry. */
		if (run->stop)
			return;
		idle = settled > 0 ? 0 : idle + 1;
		if (idle > 0) {
			if (idle >= RECONNECTS) {
				run_fatal(run, "the SMTP server %s: %s (%d sessions in a row got nothing done)",
					  run->hostport, why, RECONNECTS);
				return;
			}
			log_warn("the SMTP server %s: %s; reconnecting", run->hostport, why);
			sleep_seconds(0.2 * (1 << idle));
		}
	}
}

/* Writes, or counts, the batch without SMTP (--dry-run, --preview). */
static void
render_batch(struct send_worker *w)
{
	const struct send_opts *o = w->run->o;
	char err[ERR_LEN], path[4096];

	for (int i = 0; i < w->n && !w->run->stop; i++) {
		if (compose(w, &w->items[i], err) < 0) {
			run_fatal(w->run, "%s", err);
			return;
		}
		if (o->preview_dir) {
			int fd;

			if (fmt(path, sizeof(path), "%s/%lld.eml", o->preview_dir,
				(long long)w->items[i].r.id) < 0) {
				run_fatal(w->run, "--preview: the folder's name is too long "
					  "(%zu bytes at most)", sizeof(path) - 24);
				return;
			}
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || write(fd, w->msg.s, w->msg.len) != (ssize_t)w->msg.len) {
				run_fatal(w->run, "writing %s: %s", path, strerror(errno));
				if (fd >= 0)
					close(fd);
				return;
			}
			close(fd);
		}
		pthread_mutex_lock(&w->run->mu);
		w->run->res.rendered++;
		pthread_mutex_unlock(&w->run->mu);
	}
}

/* The bounce address of a recipient (mailer_send has checked that the
 * domain leaves room for it). */
static int
verp_of(const struct send_opts *o, const struct token_claims *tc, char *out, size_t size,
	char *err)
{
	char token[TOKEN_LEN + 1];

	/* The claims were checked by compose()'s token: mailing ids are
	 * checked when the mailing is opened, generations by rectify. */
	(void)store_token_make(o->keys, TOKEN_BOUNCE, tc, token);
	if (fmt(out, size, "bounces+%s@%s", token, o->cfg->bounce.domain) < 0)
		return errf(err, "[bounce] domain is too long for a bounce address (%zu bytes at most)",
			    size - TOKEN_LEN - 10);
	return 0;
}

/* Makes @it the item of recipient @r, due. */
static int
item_load(struct send_worker *w, struct item *it, const struct recipient *r, char *err)
{
	const struct send_opts *o = w->run->o;
	struct token_claims tc = {r->id, r->gen, o->mailing_id};

	memset(it, 0, sizeof(*it));
	it->r = *r;
	it->w = w;
	it->state = SEND_DUE;
	return verp_of(o, &tc, it->verp, sizeof(it->verp), err);
}

/* Hands the worker its next batch; 0 when the run is over. */
static int
next_batch(struct send_worker *w)
{
	struct send_run *run = w->run;
	const struct send_opts *o = run->o;
	struct recipient r[BATCH_MAX];
	char err[ERR_LEN];
	int n = 0;

	pthread_mutex_lock(&run->mu);
	for (;;) {
		double now = monotonic_seconds();

		if (run->stop || run->done) {
			n = 0;
			break;
		}
		if (now < run->retry_at) {
			struct timespec ts;

			deadline_after(CLOCK_REALTIME, run->retry_at - now, &ts);
			pthread_cond_timedwait(&run->cv, &run->mu, &ts);
			continue;
		}
		pthread_mutex_lock(&run->st_mu);
		n = store_mailing_next(run->st, o->mailing_id, run->cursor, r, run->batch, err);
		pthread_mutex_unlock(&run->st_mu);
		if (n < 0) {
			run_fatal_locked(run, "%s", err);
			n = 0;
			break;
		}
		if (n > 0) {
			run->cursor = r[n - 1].id;
			run->busy++;
			break;
		}
		if (run->busy > 0) {	/* they may yet defer someone */
			pthread_cond_wait(&run->cv, &run->mu);
			continue;
		}
		if (run->deferred > 0 && run->pass + 1 < PASSES && !o->dry_run && !o->preview_dir) {
			run->pass++;
			run->deferred = 0;
			run->cursor = 0;
			run->retry_at = monotonic_seconds() + pass_delay[run->pass];
			log_info("retrying the deferred recipients in %.0f s", pass_delay[run->pass]);
			continue;
		}
		run->done = true;
		pthread_cond_broadcast(&run->cv);
		break;
	}
	pthread_mutex_unlock(&run->mu);
	for (int i = 0; i < n; i++) {
		if (item_load(w, &w->items[i], &r[i], err) < 0) {
			run_fatal(run, "%s", err);
			n = i;
			break;
		}
	}
	sodium_memzero(r, sizeof(r));
	w->n = n;
	return n;
}

static void
batch_done(struct send_worker *w)
{
	pthread_mutex_lock(&w->run->mu);
	w->run->busy--;
	pthread_cond_broadcast(&w->run->cv);
	pthread_mutex_unlock(&w->run->mu);
	for (int i = 0; i < w->n; i++)
		sodium_memzero(&w->items[i].r, sizeof(w->items[i].r));
}

static void *
worker_main(void *arg)
{
	struct send_worker *w = arg;

	while (next_batch(w) > 0) {
		if (w->run->o->dry_run || w->run->o->preview_dir)
			render_batch(w);
		else
			send_batch(w);
		batch_done(w);
	}
	return NULL;
}

static int
read_password(const char *path, char **out, char *err)
{
	struct stat sb;
	FILE *fp;
	size_t n, line;
	bool bad;

	*out = NULL;
	if (path == NULL)
		return 0;
	if ((fp = fopen(path, "rb")) == NULL)
		return errf(err, "the SMTP password file %s: %s", path, strerror(errno));
	if (fstat(fileno(fp), &sb) == 0 && (sb.st_mode & 077) != 0) {
		fclose(fp);
		return errf(err, "the SMTP password file %s is readable by others: chmod 600 it", path);
	}
	/* The password is the file's first line: one byte more than the
	 * limit shows whether that line is longer. */
	if ((*out = sodium_malloc(PASSWORD_MAX + 2)) == NULL)
		fatal("out of memory");
	n = fread(*out, 1, PASSWORD_MAX + 1, fp);
	bad = ferror(fp);
	fclose(fp);
	(*out)[n] = '\0';
	line = strcspn(*out, "\r\n");
	(*out)[line] = '\0';
	if (bad || line > PASSWORD_MAX) {
		sodium_free(*out);
		*out = NULL;
		if (bad)
			return errf(err, "the SMTP password file %s: cannot read it", path);
		return errf(err, "the SMTP password file %s: the password (its first line) is longer "
			    "than %d bytes", path, PASSWORD_MAX);
	}
	return 0;
}

static int
tls_setup(struct send_run *run, char *err)
{
	const struct config *cfg = run->o->cfg;
	const char *host = cfg->smtp.host;
	X509_VERIFY_PARAM *param;
	struct in6_addr a6;

	if (cfg->smtp.tls == TLS_OFF)
		return 0;
	if ((run->tls = SSL_CTX_new(TLS_client_method())) == NULL)
		return errf(err, "TLS: cannot create a context");
	SSL_CTX_set_min_proto_version(run->tls, TLS1_2_VERSION);
	/*
	 * And at most 1.2: after a TLS 1.3 handshake the server sends session
	 * tickets, and libesmtp 1.1, finding the socket readable, reads for
	 * the EHLO reply before it has sent the EHLO; the read times out and
	 * the session ends as a dropped connection (about one in three on
	 * loopback, more on a slow link). TLS 1.2 sends no tickets after the
	 * handshake.
	 */
	SSL_CTX_set_max_proto_version(run->tls, TLS1_2_VERSION);
	if (cfg->smtp.ca_file) {
		if (SSL_CTX_load_verify_locations(run->tls, cfg->smtp.ca_file, NULL) != 1)
			return errf(err, "TLS: cannot read the CA file %s", cfg->smtp.ca_file);
	} else {
		SSL_CTX_set_default_verify_paths(run->tls);
	}
	/*
	 * The certificate must name [smtp] host: an IP address in its IP
	 * entries (libesmtp knows none), a name in its DNS entries. Set here,
	 * OpenSSL's verification checks it, and its result is what the event
	 * callback goes by.
	 */
	param = SSL_CTX_get0_param(run->tls);
	if (inet_pton(AF_INET, host, &a6) == 1 || inet_pton(AF_INET6, host, &a6) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1)
			return errf(err, "TLS: cannot check certificates for the address %s", host);
	} else {
		X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (X509_VERIFY_PARAM_set1_host(param, host, 0) != 1)
			return errf(err, "TLS: cannot check certificates for the name %s", host);
	}
	return 0;
}

/* One test copy to o->test_to: a recipient with subscriber id 0. */
static void
test_copy(struct send_worker *w)
{
	struct item *it = &w->items[0];
	struct recipient r = {0};
	char err[ERR_LEN];

	/* A token of subscriber 0 names nobody: a bounce of it does nothing. */
	if (fmt(r.email, sizeof(r.email), "%s", w->run->o->test_to) < 0) {
		run_fatal(w->run, "the address is longer than %d bytes", ADDR_MAX);
		return;
	}
	if (item_load(w, it, &r, err) < 0) {
		run_fatal(w->run, "%s", err);
		return;
	}
	sodium_memzero(&r, sizeof(r));
	w->n = 1;
	send_batch(w);
	if (it->state == SEND_FAILED || it->state == SEND_DEFERRED || it->state == SEND_BOUNCED)
		run_fatal(w->run, "the test copy was refused");
}

/*
 * The messages of o->singles, in one session: recipients with subscriber
 * id 0 (their bounce addresses name nobody), each with its message. A
 * refusal is that message's outcome, not the run's: the caller reads
 * each one's state.
 */
static void
singles_send(struct send_worker *w)
{
	const struct send_opts *o = w->run->o;
	struct recipient r = {0};
	char err[ERR_LEN];
	int n = 0;

	for (; n < o->n_singles; n++) {
		struct item *it = &w->items[n];

		if (fmt(r.email, sizeof(r.email), "%s", o->singles[n].to) < 0) {
			run_fatal(w->run, "message %d of %d: the address is longer than %d bytes",
				  n + 1, o->n_singles, ADDR_MAX);
			break;
		}
		if (item_load(w, it, &r, err) < 0) {
			run_fatal(w->run, "%s", err);
			break;
		}
		it->message = o->singles[n].message;
	}
	sodium_memzero(&r, sizeof(r));
	w->n = n;
	if (n == o->n_singles)
		send_batch(w);
	for (int i = 0; i < n; i++) {
		o->singles[i].state = w->items[i].state;
		sodium_memzero(&w->items[i].r, sizeof(w->items[i].r));
	}
}

int
mailer_send(const struct send_opts *o, struct send_result *res, char *err)
{
	struct send_run run = {0};
	struct send_worker *ws;
	struct progress prog;
	int nw = o->test_to || o->singles || o->connections < 1 ? 1 : o->connections;
	int started = 0, rc = 0;

	memset(res, 0, sizeof(*res));
	for (int i = 0; o->singles && i < o->n_singles; i++)
		o->singles[i].state = SEND_DUE;
	run.o = o;
	pthread_mutex_init(&run.mu, NULL);
	pthread_mutex_init(&run.st_mu, NULL);
	pthread_mutex_init(&run.q_mu, NULL);
	pthread_cond_init(&run.cv, NULL);
	if (o->singles && (o->n_singles < 1 || o->n_singles > SEND_SINGLES_MAX)) {
		rc = errf(err, "%d messages in one run: 1 to %d", o->n_singles, SEND_SINGLES_MAX);
		goto out;
	}
	run.batch = BATCH_MAX;
	if (o->rate > 0 && o->rate / nw < BATCH_MAX)
		run.batch = o->rate / nw > 0 ? o->rate / nw : 1;	/* about a second's worth */
	if (fmt(run.hostport, sizeof(run.hostport), "%s:%d", o->cfg->smtp.host, o->cfg->smtp.port) < 0) {
		rc = errf(err, "[smtp] host is too long (%zu bytes at most)", sizeof(run.hostport) - 7);
		goto out;
	}
	if (o->cfg->smtp.username && *o->cfg->smtp.username &&
	    fmt(run.user, sizeof(run.user), "%s", o->cfg->smtp.username) < 0) {
		rc = errf(err, "[smtp] username is too long (%zu bytes at most)", sizeof(run.user) - 1);
		run.user[0] = '\0';	/* no auth_client_init() to undo */
		goto out;
	}
	{
		/* Every bounce address has the same length: one checked here
		 * fails the run before anything goes out. */
		struct token_claims none = {0};
		char verp[sizeof(((struct item *)0)->verp)];

		if (verp_of(o, &none, verp, sizeof(verp), err) < 0) {
			rc = -1;
			goto out;
		}
	}
	if (!o->dry_run && !o->preview_dir)
		config_helo(o->cfg, run.helo);
	if (read_password(o->cfg->smtp.password_file, &run.password, err) < 0 ||
	    tls_setup(&run, err) < 0) {
		rc = -1;
		goto out;
	}
	if (run.user[0])
		auth_client_init();
	if (run.user[0] && run.password == NULL) {
		if ((run.password = sodium_malloc(1)) == NULL)
			fatal("out of memory");
		run.password[0] = '\0';
	}
	ws = xcalloc((size_t)nw, sizeof(*ws));
	run.q_ids = xcalloc((size_t)nw, sizeof(*run.q_ids));
	run.rec_ids = xcalloc((size_t)nw, sizeof(*run.rec_ids));
	run.q_ws = xcalloc((size_t)nw, sizeof(*run.q_ws));
	run.rec_ws = xcalloc((size_t)nw, sizeof(*run.rec_ws));
	for (int i = 0; i < nw; i++) {
		struct send_worker *w = &ws[i];

		w->run = &run;
		w->comp = o->singles ? NULL : mailer_composer_new(o->mailing);
		buf_init(&w->msg);
		buf_init(&w->tmp);
	}
	if (!o->test_to && !o->singles) {
		/*
		 * One store for the run, used under st_mu by one thread at a time:
		 * the workers' commits queue on a mutex instead of SQLite's busy
		 * handler (which sleeps in steps of milliseconds), and the page
		 * cache is not thrown away by each other's commits.
		 */
		enum store_status s = store_open(&run.st, o->cfg->store.database, o->keys, err);

		if (s != STORE_OK)
			rc = -1;
		else
			store_mailing_sender(run.st);
	}
	if (rc == 0 && o->test_to) {
		test_copy(&ws[0]);
	} else if (rc == 0 && o->singles) {
		singles_send(&ws[0]);
	} else if (rc == 0) {
		progress_init(&prog);
		for (int i = 0; i < nw; i++)
			if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) == 0)
				started++;
		for (;;) {
			bool over;
			long long done, failed;
			char what[96];

			pthread_mutex_lock(&run.mu);
			over = run.done || run.stop;
			done = run.res.sent + run.res.rendered;
			failed = run.res.failed;
			pthread_mutex_unlock(&run.mu);
			if (over)
				break;
			/* A word and two numbers: it fits. */
			if (fmt(what, sizeof(what), "%s (of %lld; %lld failed)",
				o->dry_run || o->preview_dir ? "rendered" : "sent", o->total, failed) == 0)
				progress_update(&prog, what, done,
						o->total > 0 ? (double)done / (double)o->total : -1);
			sleep_seconds(0.1);
		}
		for (int i = 0; i < started; i++)
			pthread_join(ws[i].thread, NULL);
		progress_done(&prog);
	}
	for (int i = 0; i < nw; i++) {
		mailer_composer_free(ws[i].comp);
		buf_free(&ws[i].msg);
		buf_free(&ws[i].tmp);
	}
	store_close(run.st);
	free(ws);
	free(run.q_ids);
	free(run.rec_ids);
	free(run.q_ws);
	free(run.rec_ws);
	if (rc == 0 && run.res.fatal) {
		memcpy(err, run.err, ERR_LEN);
		rc = -1;
	}
out:
	if (run.user[0])
		auth_client_exit();
	*res = run.res;
	if (run.password)
		sodium_free(run.password);
	if (run.tls)
		SSL_CTX_free(run.tls);
	pthread_cond_destroy(&run.cv);
	pthread_mutex_destroy(&run.mu);
	pthread_mutex_destroy(&run.st_mu);
	pthread_mutex_destroy(&run.q_mu);
	return rc;
}
