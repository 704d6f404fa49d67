/*
 * web/scrub.c - the thread that removes deleted addresses from the files,
 * and holds the read transaction that makes the server's reads cheap.
 *
 * Each unsubscription is committed durably (synchronous = FULL) with
 * secure_delete, before its reply; the server's stores defer the truncating
 * checkpoint that empties the write-ahead log of older copies of the
 * deleted rows (store_defer_scrub). This thread runs that checkpoint, on a
 * store of its own, at most SCRUB_DELAY_MS after the first deletion of a
 * batch, while holding the server's write lock so that no writer is kept
 * waiting in SQLite's busy loop. One checkpoint serves every deletion of
 * the batch: that keeps the promise (the bytes leave -wal within a fraction
 * of a second) at thousands of unsubscriptions a second.
 *
 * Between checkpoints, while the log is empty, its store holds a read
 * transaction open (store_pin): SQLite then keeps its lock on the -shm
 * file at the system level for the whole process, and a GET's read
 * transaction costs no system call. Every PIN_POLL_MS it looks at the
 * log: when another process wrote, it lets go, truncates the log (that
 * process's deleted rows leave the files too), and holds again. Nobody's
 * checkpoint waits for the pin longer than that.
 *
 * The page views of the pool's threads read in snapshots they keep from
 * request to request (web_worker_snapshot). Before each checkpoint this
 * thread lets go of all of them (worker.c) and keeps the threads out until
 * it is done, so a snapshot never holds back a checkpoint, ours or another
 * process's, for longer than the pin does; and a page view after it reads
 * afresh. Calls down only (worker.c, the store), never into server.c.
 */
#include "web_int.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* One truncating checkpoint; false when it could not finish (a reader of
 * another process held an old snapshot): it is tried again. */
static bool
scrub_once(struct web_scrub *s, struct store *st)
{
	enum store_status r;
	char err[ERR_LEN];

	struct web_worker *held = web_workers_release(s->srv);

	pthread_mutex_lock(s->write_lock);
	r = store_scrub(st, err);
	pthread_mutex_unlock(s->write_lock);
	web_workers_resume(held);
	atomic_fetch_add(&s->runs, 1);
	return r == STORE_OK;
}

/* @until: @ms milliseconds from now, for pthread_cond_timedwait(). */
static void
deadline(struct timespec *until, long ms)
{
	clock_gettime(CLOCK_REALTIME, until);
	until->tv_nsec += ms * 1000000L;
	until->tv_sec += until->tv_nsec / 1000000000L;
	until->tv_nsec %= 1000000000L;
}

/* Another process wrote: empty the log, if nobody is in the way now. */
static void
truncate_log(struct web_scrub *s, struct store *st)
{
	char err[ERR_LEN];
	struct web_worker *held = web_workers_release(s->srv);

	pthread_mutex_lock(s->write_lock);
	if (store_scrub_try(st, err) == STORE_OK)
		atomic_fetch_add(&s->runs, 1);
	pthread_mutex_unlock(s->write_lock);
	web_workers_resume(held);
}

static void
pin(struct store *st)
{
	char err[ERR_LEN];

	if (store_wal_size(st) == 0 && store_pin(st, err) != STORE_OK)
		log_debug("scrub: no read transaction held: %s", err);
}

static void *
scrub_main(void *arg)
{
	struct web_scrub *s = arg;
	struct store *st = NULL;
	char err[ERR_LEN];
	bool stop = false;

	if (store_open(&st, s->database, s->keys, err) != STORE_OK) {
		log_error("scrub: %s", err);
		st = NULL;
	}
	if (st != NULL)
		pin(st);
	pthread_mutex_lock(&s->mu);
	while (!stop) {
		struct timespec until;
		bool pending;

		deadline(&until, PIN_POLL_MS);
		while (!s->pending && !s->stop &&
		       pthread_cond_timedwait(&s->cv, &s->mu, &until) != ETIMEDOUT)
			;
		/* A deletion: let the batch gather, unless we are stopping. */
		if (s->pending) {
			deadline(&until, SCRUB_DELAY_MS);
			while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &until) != ETIMEDOUT)
				;
		}
		stop = s->stop;
		pending = s->pending;
		s->pending = false;
		pthread_mutex_unlock(&s->mu);
		if (st != NULL && (pending || store_wal_size(st) != 0)) {
			store_unpin(st);
			if (!pending)
				truncate_log(s, st);
			else if (scrub_once(s, st))
				pending = false;
		}
		if (st != NULL && !stop)
			pin(st);
		pthread_mutex_lock(&s->mu);
		/* A checkpoint that could not finish is tried again. */
		if (pending && st != NULL && !stop)
			s->pending = true;
	}
	pthread_mutex_unlock(&s->mu);
	if (st != NULL)
		store_unpin(st);
	store_close(st);
	return NULL;
}

int
web_scrub_start(struct web_scrub *s, struct web_server *srv, const char *database,
		const struct store_keys *keys, pthread_mutex_t *write_lock, char *err)
{
	int rc;

	s->srv = srv;
	s->database = database;
	s->keys = keys;
	s->write_lock = write_lock;
	s->pending = s->stop = false;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if ((rc = pthread_create(&s->thread, NULL, scrub_main, s)) != 0)
		return errf(err, "cannot start the scrub thread: %s", strerror(rc));
	s->started = true;
	return 0;
}

void
web_scrub_note(struct web_scrub *s)
{
	pthread_mutex_lock(&s->mu);
	if (!s->pending) {
		s->pending = true;
		pthread_cond_signal(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
}

void
web_scrub_stop(struct web_scrub *s)
{
	if (!s->started)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	s->started = false;
}
