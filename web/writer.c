/*
 * web/writer.c - the one thread that commits the public pages' writes
 * (unsubscriptions, signup requests and confirmations), in groups.
 *
 * A commit with synchronous = FULL waits for the disk (an fsync of the
 * write-ahead log: about 0.1 to 0.5 ms here). One commit per request would
 * cap the server at a few thousand unsubscriptions a second, and the
 * threads of the pool would wait on the disk instead of serving pages. So
 * a POST suspends its connection and hands the subscriber id to this
 * thread, which takes every id waiting, deletes them all in one
 * transaction, commits it (durably: every reply is sent after its commit),
 * and resumes the connections. Under load, a group holds as many
 * unsubscriptions as arrived during the previous commit.
 *
 * If a group fails (another process held the database past the busy
 * timeout, a full disk), each of its jobs is tried again alone, so that one
 * bad job cannot fail the others.
 *
 * A signup request (POST /subscribe) and its confirmation (POST /c/) go
 * the same way: each must be on disk before its page says so, and a form
 * posted by thousands must not cost thousands of fsyncs.
 *
 * Below the handlers: unsub.c and signup.c submit, and this file calls
 * only the store and the helpers below it (worker.c's write lock,
 * scrub.c). Never logs an address or a token: a job holds a subscriber id,
 * or a signup's address that it hands to the store and nowhere else.
 */
#include "web_int.h"

#include <string.h>

/* One job's write, inside the group's transaction (the store joins it). */
static enum store_status
run_job(struct store *st, struct web_writer_job *j)
{
	const struct token_claims c = {.subscriber = j->id, .gen = j->gen, .mailing = j->mailing};

	switch (j->kind) {
	case JOB_SIGNUP:
		return store_signup_request(st, &j->signup, &j->signup_out, j->err);
	case JOB_CONFIRM:
		/* The claims as the link carried them: they name the pending signup. */
		return store_signup_confirm(st, &c, &j->confirm_out, &j->subscriber, &j->sub_gen,
					    j->err);
	default:
		/* An unsubscription, counted on the mailing its link came with. */
		return store_delete_claims(st, &c, STORE_DEL_UNSUBSCRIBED, "web", NULL, &j->was,
					   j->err);
	}
}

/* Whether the job deleted bytes that the scrub thread must clear. */
static bool
deleted_bytes(const struct web_writer_job *j)
{
	if (j->status != STORE_OK)
		return false;
	/* A confirmation deletes its pending row (the address moves over). */
	return j->kind == JOB_CONFIRM ? j->confirm_out != CONFIRM_ALREADY &&
					j->confirm_out != CONFIRM_EXPIRED
				      : j->kind == JOB_UNSUBSCRIBE && j->was;
}

/* Commits @n jobs from @first in one transaction; false if that failed. */
static bool
commit_group(struct store *st, struct web_writer_job *first, char *err)
{
	struct web_writer_job *j;

	if (store_begin(st, err) != STORE_OK)
		return false;
	for (j = first; j; j = j->next) {
		j->status = run_job(st, j);
		if (j->status != STORE_OK) {
			store_rollback(st);
			return false;
		}
	}
	return store_commit(st, err) == STORE_OK;
}

static void
run_group(struct web_writer *w, struct store *st, struct web_writer_job *first)
{
	struct web_server *srv = w->srv;
	struct web_writer_job *j, *next;
	unsigned long deleted = 0;
	bool scrub = false;
	char err[ERR_LEN];

	web_worker_write_begin(srv);
	if (st == NULL) {
		for (j = first; j; j = j->next) {
			j->status = STORE_ERROR;
			j->was = false;
			errf(j->err, "the database could not be opened");
		}
	} else if (!commit_group(st, first, err)) {
		for (j = first; j; j = j->next)
			j->status = run_job(st, j);
	}
	web_worker_write_end(srv);	/* before the replies: a page view after one reads afresh */
	for (j = first; j; j = j->next) {
		deleted += j->kind == JOB_UNSUBSCRIBE && j->status == STORE_OK && j->was;
		scrub |= deleted_bytes(j);
	}
	if (deleted > 0)
		atomic_fetch_add(&srv->metrics.unsubscribes, deleted);
	if (scrub)
		web_scrub_note(&srv->scrub);
	atomic_fetch_add(&w->batches, 1);
	for (j = first; j; j = next) {
		/* Once done, the request (and the job in it) may be gone. */
		next = j->next;
		w->done(j);
	}
}

static void *
writer_main(void *arg)
{
	struct web_writer *w = arg;
	struct store *st = NULL;
	char err[ERR_LEN];

	if (store_open(&st, w->srv->cfg->store.database, w->srv->keys, err) != STORE_OK) {
		log_error("writer: %s", err);
		st = NULL;
	} else {
		store_defer_scrub(st, true);
	}
	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct web_writer_job *first, *j;
		int n = 1;

		while (w->head == NULL && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->head == NULL)
			break;
		/* Take up to WRITER_BATCH jobs; the rest wait for the next group. */
		first = j = w->head;
		while (j->next && n < WRITER_BATCH) {
			j = j->next;
			n++;
		}
		w->head = j->next;
		if (w->head == NULL)
			w->tail = &w->head;
		j->next = NULL;
		pthread_mutex_unlock(&w->mu);
		atomic_fetch_add(&w->jobs, (unsigned long)n);
		run_group(w, st, first);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	store_close(st);
	return NULL;
}

/* The usual end of a job: its request is answered on its own thread. */
static void
resume(struct web_writer_job *j)
{
	MHD_resume_connection(j->conn);
}

int
web_writer_start(struct web_writer *w, struct web_server *srv,
		 void (*done)(struct web_writer_job *), char *err)
{
	int rc;

	w->srv = srv;
	w->done = done != NULL ? done : resume;
	w->head = NULL;
	w->tail = &w->head;
	w->stop = false;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if ((rc = pthread_create(&w->thread, NULL, writer_main, w)) != 0)
		return errf(err, "cannot start the writer thread: %s", strerror(rc));
	w->started = true;
	return 0;
}

void
web_writer_submit(struct web_writer *w, struct web_writer_job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&w->mu);
	*w->tail = j;
	w->tail = &j->next;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/*
 * Hands the request's job of @kind for the token @tc to the writer and
 * suspends @c: the handler is called again (r->queued) once it is done.
 */
enum MHD_Result
web_writer_queue(struct web_request *r, struct MHD_Connection *c, enum web_job_kind kind,
		 const struct token_claims *tc)
{
	struct web_writer_job *j = &r->job;

	j->kind = kind;
	j->id = tc->subscriber;
	j->gen = tc->gen;
	j->mailing = tc->mailing;
	j->conn = c;
	r->queued = true;
	MHD_suspend_connection(c);
	web_writer_submit(&r->srv->writer, j);
	return MHD_YES;
}

void
web_writer_stop(struct web_writer *w)
{
	if (!w->started)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	w->started = false;
}
