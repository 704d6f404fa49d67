/*
 * tests/unit/test_web_writer.c - the writer's group commit (web/writer.c),
 * what it promises: the jobs that wait while a group is being written are
 * taken together as the next group; each job gets its own status and
 * "was subscribed"; a job that fails does not take the others of its group
 * down (the group is tried again job by job); with no database, every job
 * fails with a message. Jobs are submitted with no connection: the test's
 * own done() counts them instead of resuming one.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <time.h>

#include "helpers.h"
#include "../../web/web_int.h"

static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static int done_n;

static void
done(struct web_writer_job *j)
{
	(void)j;
	pthread_mutex_lock(&done_mu);
	done_n++;
	pthread_cond_broadcast(&done_cv);
	pthread_mutex_unlock(&done_mu);
}

/* Waits up to 10 s for @n jobs done; false if they were not. */
static bool
wait_done(int n)
{
	struct timespec until;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&done_mu);
	while (done_n < n && pthread_cond_timedwait(&done_cv, &done_mu, &until) == 0)
		;
	ok = done_n >= n;
	pthread_mutex_unlock(&done_mu);
	return ok;
}

/* Waits up to 10 s until the writer has taken @n jobs off its queue. */
static bool
wait_taken(struct web_writer *w, unsigned long n)
{
	struct timespec ms = {0, 1000 * 1000};

	for (int i = 0; i < 10000; i++) {
		if (atomic_load(&w->jobs) >= n)
			return true;
		nanosleep(&ms, NULL);
	}
	return false;
}

struct fixture {
	struct scratch s;
	struct config cfg;
	struct web_server *srv;
	bool scrub;
};

static void
start(struct fixture *f, const char *database)
{
	char err[ERR_LEN] = "";

	scratch_open(&f->s);
	memset(&f->cfg, 0, sizeof(f->cfg));
	f->cfg.store.database = (char *)(database ? database : f->s.db);
	f->srv = xcalloc(1, sizeof(*f->srv));
	f->srv->cfg = &f->cfg;
	f->srv->keys = f->s.keys;
	web_workers_init(f->srv);
	f->scrub = database == NULL;
	if (f->scrub)
		cr_assert_eq(web_scrub_start(&f->srv->scrub, f->srv, f->s.db, f->s.keys,
					     &f->srv->write_lock, err), 0, "%s", err);
	done_n = 0;
	cr_assert_eq(web_writer_start(&f->srv->writer, f->srv, done, err), 0, "%s", err);
}

static void
stop(struct fixture *f)
{
	web_writer_stop(&f->srv->writer);
	if (f->scrub)
		web_scrub_stop(&f->srv->scrub);
	web_workers_free(f->srv);
	free(f->srv);
	scratch_close(&f->s);
}

static int64_t
enrol(struct fixture *f, const char *email, unsigned *gen)
{
	struct purchase p = {.email = email, .source = "cli"};
	enum enroll_result res;
	struct subscriber sub;
	char err[ERR_LEN] = "";
	int64_t id = 0;

	cr_assert_eq(store_enroll(f->s.st, &p, &res, &id, err), STORE_OK, "%s", err);
	cr_assert_eq(store_subscriber_get(f->s.st, id, &sub, err), STORE_OK, "%s", err);
	*gen = sub.gen;
	return id;
}

static bool
subscribed(struct fixture *f, int64_t id)
{
	struct subscriber sub;
	char err[ERR_LEN] = "";
	enum store_status s = store_subscriber_get(f->s.st, id, &sub, err);

	cr_assert(s == STORE_OK || s == STORE_NOTFOUND, "%s", err);
	return s == STORE_OK;
}

/*
 * Submits @first alone, waits until the writer has taken it and is held at
 * the write lock (which the test holds), then submits @rest: they wait
 * together, and make the next group.
 */
static void
submit_grouped(struct fixture *f, struct web_writer_job *first, struct web_writer_job *rest,
	       size_t n)
{
	struct web_writer *w = &f->srv->writer;

	pthread_mutex_lock(&f->srv->write_lock);
	web_writer_submit(w, first);
	cr_assert(wait_taken(w, 1), "the writer took the first job");
	for (size_t i = 0; i < n; i++)
		web_writer_submit(w, &rest[i]);
	pthread_mutex_unlock(&f->srv->write_lock);
	cr_assert(wait_done((int)n + 1), "every job done within 10 s (%d of %zu)", done_n, n + 1);
}

Test(web_writer, waiting_jobs_make_one_group_each_with_its_own_status)
{
	struct fixture f;
	unsigned ga, gb, gc, gd;

	start(&f, NULL);
	int64_t a = enrol(&f, "a@example.no", &ga), b = enrol(&f, "b@example.no", &gb);
	int64_t c = enrol(&f, "c@example.no", &gc), d = enrol(&f, "d@example.no", &gd);
	struct web_writer_job first = {.id = a, .gen = ga, .status = STORE_ERROR};
	struct web_writer_job rest[] = {
		{.id = b, .gen = gb, .status = STORE_ERROR},
		{.id = 999999, .gen = 0, .status = STORE_ERROR},	/* no such subscriber */
		{.id = c, .gen = gc + 1, .status = STORE_ERROR},	/* a link to an old address */
		{.id = d, .gen = gd, .status = STORE_ERROR},
	};
	const bool was[] = {true, false, false, true};

	submit_grouped(&f, &first, rest, 4);
	cr_expect_eq(atomic_load(&f.srv->writer.jobs), 5);
	cr_expect_eq(atomic_load(&f.srv->writer.batches), 2,
		     "the four jobs that waited were one group (groups: %lu)",
		     atomic_load(&f.srv->writer.batches));
	cr_expect_eq(first.status, STORE_OK, "%s", first.err);
	cr_expect(first.was);
	for (size_t i = 0; i < 4; i++) {
		cr_expect_eq(rest[i].status, STORE_OK, "job %zu: %s", i, rest[i].err);
		cr_expect_eq(rest[i].was, was[i], "job %zu: was subscribed", i);
	}
	cr_expect_not(subscribed(&f, a), "a is deleted");
	cr_expect_not(subscribed(&f, b), "b is deleted");
	cr_expect(subscribed(&f, c), "c is kept: its link named an older address");
	cr_expect_not(subscribed(&f, d), "d is deleted");
	cr_expect_eq(atomic_load(&f.srv->metrics.unsubscribes), 3);
	stop(&f);
}

Test(web_writer, a_failing_job_does_not_take_its_group_down)
{
	struct fixture f;
	unsigned g0, ga, gx, gb;
	char sql[256];
	sqlite3 *db;

	start(&f, NULL);
	int64_t z = enrol(&f, "z@example.no", &g0), a = enrol(&f, "a@example.no", &ga);
	int64_t x = enrol(&f, "x@example.no", &gx), b = enrol(&f, "b@example.no", &gb);
	/* The database refuses to delete x: its job fails, in the middle of the group. */
	cr_assert_eq(sqlite3_open(f.s.db, &db), SQLITE_OK);
	cr_assert_eq(fmt(sql, sizeof(sql),
			 "CREATE TRIGGER keep_x BEFORE DELETE ON subscriber WHEN OLD.id = %lld "
			 "BEGIN SELECT RAISE(ABORT, 'test: x is kept'); END", (long long)x), 0);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);

	struct web_writer_job first = {.id = z, .gen = g0, .status = STORE_ERROR};
	struct web_writer_job rest[] = {
		{.id = a, .gen = ga, .status = STORE_ERROR},
		{.id = x, .gen = gx, .status = STORE_OK},
		{.id = b, .gen = gb, .status = STORE_ERROR},
	};

	submit_grouped(&f, &first, rest, 3);
	cr_expect_eq(atomic_load(&f.srv->writer.batches), 2);
	cr_expect_eq(rest[0].status, STORE_OK, "a: %s", rest[0].err);
	cr_expect(rest[0].was);
	cr_expect_neq(rest[1].status, STORE_OK, "x's job fails");	/* @was means nothing then */
	cr_expect(rest[1].err[0] != '\0', "x's job says why");
	cr_expect_eq(rest[2].status, STORE_OK, "b: %s", rest[2].err);
	cr_expect(rest[2].was);
	cr_expect_not(subscribed(&f, a), "a is deleted, committed");
	cr_expect(subscribed(&f, x), "x is kept");
	cr_expect_not(subscribed(&f, b), "b is deleted, committed");
	cr_expect_eq(atomic_load(&f.srv->metrics.unsubscribes), 3, "z, a and b");
	stop(&f);
}

Test(web_writer, no_database_fails_every_job_with_a_message)
{
	struct fixture f;

	start(&f, "/nonexistent/newsletter-unit/db");
	struct web_writer_job first = {.id = 1, .status = STORE_OK};
	struct web_writer_job rest[] = {{.id = 2, .status = STORE_OK}, {.id = 3, .status = STORE_OK}};

	submit_grouped(&f, &first, rest, 2);
	cr_expect_eq(first.status, STORE_ERROR);
	for (size_t i = 0; i < 2; i++) {
		cr_expect_eq(rest[i].status, STORE_ERROR, "job %zu", i);
		cr_expect_not(rest[i].was);
		cr_expect(strstr(rest[i].err, "could not be opened") != NULL, "job %zu: '%s'", i,
			  rest[i].err);
	}
	cr_expect_eq(atomic_load(&f.srv->metrics.unsubscribes), 0);
	stop(&f);
}
