/*
 * web/worker.c - what each thread of the server keeps for itself: its
 * store (opened on first use, closed at the thread's exit), the read
 * snapshot kept from page view to page view, its request counters; and
 * the server's write lock around a write.
 *
 * Below the handlers (unsub.c, api.c, writer.c, scrub.c) and the daemons
 * (server.c): it calls none of them and knows no request or reply.
 * A store belongs to one thread: nothing here hands a worker's store to
 * another, except that the scrub thread may let go of a worker's snapshot
 * while it holds the worker's lock. Never logs an address or a token.
 */
#include "web_int.h"

#include <stdlib.h>
#include <string.h>

/* At a thread's exit: its store closes; its counters stay for /metrics. */
static void
worker_exit(void *p)
{
	struct web_worker *w = p;

	pthread_mutex_lock(&w->mu);	/* the scrub thread may be letting go of it */
	if (w->held)
		store_unpin(w->st);
	w->held = false;
	store_close(w->st);
	w->st = NULL;
	pthread_mutex_unlock(&w->mu);
}

struct web_worker *
web_worker(struct web_server *srv)
{
	struct web_worker *w = pthread_getspecific(srv->worker_key);

	if (w != NULL)
		return w;
	w = aligned_alloc(_Alignof(struct web_worker), sizeof(*w));
	if (w == NULL)
		fatal("out of memory");
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->mu, NULL);
	pthread_mutex_lock(&srv->workers_lock);
	w->next = srv->workers;
	srv->workers = w;
	pthread_mutex_unlock(&srv->workers_lock);
	pthread_setspecific(srv->worker_key, w);
	return w;
}

static struct store *
worker_store(struct web_server *srv, struct web_worker *w, char *err)
{
	if (w->st != NULL)
		return w->st;
	if (store_open(&w->st, srv->cfg->store.database, srv->keys, err) != STORE_OK) {
		w->st = NULL;
		return NULL;
	}
	store_defer_scrub(w->st, true);	/* scrub.c does it, in batches */
	return w->st;
}

static void
let_go(struct web_worker *w)
{
	if (w->held)
		store_unpin(w->st);
	w->held = false;
}

struct store *
web_worker_store(struct web_server *srv, char *err)
{
	struct web_worker *w = web_worker(srv);
	struct store *st = worker_store(srv, w, err);

	let_go(w);	/* everything but the page view reads and writes afresh */
	return st;
}

/* Takes a snapshot, after every write this server has made so far. */
static void
take(struct web_server *srv, struct web_worker *w)
{
	char err[ERR_LEN];
	unsigned long gen = atomic_load_explicit(&srv->snapshot_gen, memory_order_acquire);

	if (store_pin(w->st, err) == STORE_OK) {
		w->held = true;
		w->gen = gen;
	} else {
		log_debug("no snapshot kept: %s", err);	/* reads go on without one */
	}
}

struct store *
web_worker_snapshot(struct web_server *srv, char *err)
{
	struct web_worker *w = web_worker(srv);
	struct store *st = worker_store(srv, w, err);

	if (st == NULL)
		return NULL;
	if (w->held && w->gen != atomic_load_explicit(&srv->snapshot_gen, memory_order_acquire))
		let_go(w);
	if (!w->held)
		take(srv, w);
	return st;
}

void
web_worker_snapshot_renew(struct web_server *srv)
{
	struct web_worker *w = web_worker(srv);

	if (w->st == NULL)
		return;
	let_go(w);
	take(srv, w);
}

void
web_worker_write_begin(struct web_server *srv)
{
	pthread_mutex_lock(&srv->write_lock);
}

void
web_worker_write_end(struct web_server *srv)
{
	atomic_fetch_add_explicit(&srv->snapshot_gen, 1, memory_order_release);
	pthread_mutex_unlock(&srv->write_lock);
}

/*
 * Workers are only added at the head of the list and freed after every
 * thread has ended, so the list from @head on stays valid without the
 * list's lock; a worker made meanwhile (a thread's first request) is not
 * waited for, and at worst makes a checkpoint try again.
 */
struct web_worker *
web_workers_release(struct web_server *srv)
{
	struct web_worker *head;

	atomic_fetch_add_explicit(&srv->snapshot_gen, 1, memory_order_release);
	pthread_mutex_lock(&srv->workers_lock);
	head = srv->workers;
	pthread_mutex_unlock(&srv->workers_lock);
	for (struct web_worker *w = head; w != NULL; w = w->next) {
		pthread_mutex_lock(&w->mu);
		let_go(w);
	}
	return head;
}

void
web_workers_resume(struct web_worker *head)
{
	for (struct web_worker *w = head; w != NULL; w = w->next)
		pthread_mutex_unlock(&w->mu);
}

void
web_workers_counts(struct web_server *srv, unsigned long sum[ROUTE_COUNT][METRICS_STATUSES])
{
	pthread_mutex_lock(&srv->workers_lock);
	for (const struct web_worker *w = srv->workers; w != NULL; w = w->next)
		web_metrics_add(sum, &w->counts);
	pthread_mutex_unlock(&srv->workers_lock);
}

long
web_workers_inflight(struct web_server *srv)
{
	long n = 0;

	pthread_mutex_lock(&srv->workers_lock);
	for (const struct web_worker *w = srv->workers; w != NULL; w = w->next)
		n += atomic_load_explicit(&w->inflight, memory_order_relaxed);
	pthread_mutex_unlock(&srv->workers_lock);
	return n;
}

void
web_workers_init(struct web_server *srv)
{
	pthread_mutex_init(&srv->write_lock, NULL);
	pthread_mutex_init(&srv->workers_lock, NULL);
	pthread_key_create(&srv->worker_key, worker_exit);
}

/* After every thread of the pools has ended (their stores with them). */
void
web_workers_free(struct web_server *srv)
{
	pthread_key_delete(srv->worker_key);
	for (struct web_worker *w = srv->workers, *next; w != NULL; w = next) {
		next = w->next;
		store_close(w->st);
		pthread_mutex_destroy(&w->mu);
		free(w);
	}
	srv->workers = NULL;
	pthread_mutex_destroy(&srv->workers_lock);
	pthread_mutex_destroy(&srv->write_lock);
}
