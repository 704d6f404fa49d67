/*
 * web/scrub.c - the thread that removes deleted addresses from the files.
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
 */
#include "web_int.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* One truncating checkpoint; false when it could not finish (a reader of
 * another process held an old snapshot): it is tried again. */
static bool
scrub_once(struct scrub *s, struct store *st)
{
	enum store_status r;
	char err[ERR_LEN];

	pthread_mutex_lock(s->write_lock);
	r = store_scrub(st, err);
	pthread_mutex_unlock(s->write_lock);
	atomic_fetch_add(&s->runs, 1);
	return r == STORE_OK;
}

static void *
scrub_main(void *arg)
{
	struct scrub *s = arg;
	struct store *st = NULL;
	char err[ERR_LEN];
	bool stop = false;

	if (store_open(&st, s->database, s->keys, err) != STORE_OK) {
		log_error("scrub: %s", err);
		st = NULL;
	}
	pthread_mutex_lock(&s->mu);
	while (!stop) {
		struct timespec until;

		while (!s->pending && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		/* Let the batch gather, unless we are stopping. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += SCRUB_DELAY_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &until) != ETIMEDOUT)
			;
		stop = s->stop;
		if (s->pending) {
			bool done;

			s->pending = false;
			pthread_mutex_unlock(&s->mu);
			done = st == NULL || scrub_once(s, st);
			pthread_mutex_lock(&s->mu);
			if (!done && !stop)
				s->pending = true;
		}
	}
	pthread_mutex_unlock(&s->mu);
	store_close(st);
	return NULL;
}

int
scrub_start(struct scrub *s, const char *database, const struct store_keys *keys,
	    pthread_mutex_t *write_lock, char *err)
{
	int rc;

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
scrub_note(struct scrub *s)
{
	pthread_mutex_lock(&s->mu);
	if (!s->pending) {
		s->pending = true;
		pthread_cond_signal(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
}

void
scrub_stop(struct scrub *s)
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
