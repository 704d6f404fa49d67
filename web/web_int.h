/*
 * web/web_int.h - what the files of web/ share and nobody else sees.
 */
#ifndef NEWSLETTER_WEB_INT_H
#define NEWSLETTER_WEB_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "web.h"

/* Limits on what a client may send; over one, the request is refused. */
#define MAX_HEADERS 64			/* header fields in one request: 431 */
#define MAX_BODY_PUBLIC (8 * 1024)	/* a form or one-click POST: 413 */
#define MAX_BODY_ADMIN (64 * 1024)	/* an API request: 413 */
#define CONN_MEMORY (16 * 1024)		/* request line and headers per connection */
#define SHUTDOWN_GRACE 10.0		/* seconds in-flight requests get to finish */
#define SCRUB_DELAY_MS 200		/* deletions are scrubbed from the files within this */
#define PIN_POLL_MS 100		/* how often the scrub thread looks at the log */
#define ADMIN_TOKEN_MIN 16

/* --- page.c: languages, texts and HTML pages --- */

enum web_lang { LANG_EN, LANG_NB, LANG_COUNT };

/* The language for an Accept-Language header (NULL: none). */
enum web_lang web_page_lang(const char *accept_language, enum web_lang fallback);
enum web_lang web_page_lang_code(const char *code);
const char *web_page_lang_tag(enum web_lang l);

enum web_page_kind {
	PAGE_CONFIRM,		/* "Unsubscribe k***@example.no from LIST?" */
	PAGE_DONE,		/* unsubscribed now */
	PAGE_ALREADY,		/* unsubscribed before, or deleted */
	PAGE_NO_DATA,		/* data access for a subscriber who is gone */
	PAGE_INVALID,		/* 400: the link is not valid */
	PAGE_NOT_FOUND,		/* 404 */
	PAGE_METHOD,		/* 405 */
	PAGE_TOO_LARGE,		/* 413 */
	PAGE_HEADERS,		/* 431 */
	PAGE_UNAVAILABLE,	/* 503 */
	PAGE_COUNT
};

struct web_page_args {
	const char *list;	/* the list's name */
	const char *masked;	/* "k***@example.no", for PAGE_CONFIRM */
	const char *access;	/* a data access token, for PAGE_CONFIRM */
};

/* A page as a malloc'd, NUL-terminated string; the caller frees it. */
char *web_page_render(enum web_page_kind kind, enum web_lang l, const struct web_page_args *a,
		      size_t *len);
/* Pages made when the server starts (web_page_render's output, kept). */
struct web_page_piece {
	char *s;
	size_t len;
};
struct web_page_template {
	char *s;
	size_t len;
	size_t masked_at, access_at;	/* the one-byte marks to fill */
};
/* The signup pages (signup.c's), apart: they show the consent texts. */
enum web_signup_page {
	SPAGE_FORM,		/* the form: email, name, the honeypot, the consent text */
	SPAGE_CHECK_MAIL,	/* 200 to every valid address: "check your mailbox" */
	SPAGE_CONFIRM,		/* GET /c/: one button */
	SPAGE_DONE,		/* POST /c/: subscribed; their unsubscribe link, data button */
	SPAGE_INVALID,		/* 400: an expired, forged or changed confirmation link */
	SPAGE_TOO_MANY,		/* 429: the per-client limit */
	SPAGE_COUNT
};

#define SIGNUP_HONEYPOT "website"	/* the form field only robots fill */

struct web_signup_args {
	const char *list;
	const char *consent;	/* SPAGE_FORM: the consent text in the page's language */
	const char *reason;	/* SPAGE_FORM at 400: what was wrong, NULL otherwise */
	const char *email, *name;	/* SPAGE_FORM at 400: what was typed, given back */
	const char *unsub, *access;	/* SPAGE_DONE: the subscriber's tokens */
};

struct web_page_cache {
	struct web_page_piece fixed[PAGE_COUNT][LANG_COUNT];	/* all but PAGE_CONFIRM */
	struct web_page_template confirm[LANG_COUNT];
	struct web_page_piece signup[SPAGE_COUNT][LANG_COUNT];	/* all but SPAGE_DONE */
};

/* Every page's start (through <h1>) and end: one look for all of them;
 * @wide for a page of tables. */
void web_page_open(struct buf *b, enum web_lang l, const char *title, const char *list, bool wide);
void web_page_close(struct buf *b);
/* A signup page as a malloc'd string; the caller frees it. */
char *web_page_signup(enum web_signup_page kind, enum web_lang l, const struct web_signup_args *a,
		      size_t *len);
/* Makes the signup pages that depend on the list and the consent texts only. */
void web_page_cache_signup(struct web_page_cache *pc, const char *list,
			   const char *const consent[LANG_COUNT]);
const char *web_page_signup_cached(const struct web_page_cache *pc, enum web_signup_page kind,
				   enum web_lang l, size_t *len);

void web_page_cache_init(struct web_page_cache *pc, const char *list);
void web_page_cache_free(struct web_page_cache *pc);
/* A page that depends on nothing but the list: kept, not to be freed. */
const char *web_page_cached(const struct web_page_cache *pc, enum web_page_kind kind, enum web_lang l,
			    size_t *len);
/* The confirmation page, as web_page_render makes it; malloc'd. */
char *web_page_confirm(const struct web_page_cache *pc, enum web_lang l, const char *masked,
		       const char *access, size_t *len);
/* The Content-Security-Policy of every HTML page (the style's hash);
 * 0, or -1 when it does not fit in @outlen bytes. */
int web_page_csp(char *out, size_t outlen) __attribute__((warn_unused_result));

/* --- metrics.c: counters kept in the server, never in globals --- */

enum web_route {
	ROUTE_UNSUBSCRIBE, ROUTE_DATA, ROUTE_HEALTHZ, ROUTE_METRICS,
	ROUTE_PURCHASES, ROUTE_SUBSCRIBER, ROUTE_SUBSCRIBER_ACTION,
	ROUTE_SIGNUP, ROUTE_SIGNUP_CONFIRM, ROUTE_API_SIGNUPS,
	ROUTE_NOT_FOUND, ROUTE_COUNT
};
#define METRICS_STATUSES 16

/* Events of the server: rare, so shared by its threads. */
struct web_metrics {
	atomic_ulong unsubscribes;
	atomic_ulong signups, signups_throttled, signups_full, signups_honeypot, signups_limited;
	atomic_ulong confirmations;
	atomic_ulong enrol_new, enrol_refreshed, enrol_suppressed;
};

/* Requests answered, by route and status: one table per server thread. */
struct web_request_counts {
	atomic_ulong n[ROUTE_COUNT][METRICS_STATUSES];
};

const char *web_metrics_route_name(enum web_route r);
void web_metrics_count(struct web_request_counts *rc, enum web_route r, unsigned status);
/* Adds @rc into @sum. */
void web_metrics_add(unsigned long sum[ROUTE_COUNT][METRICS_STATUSES],
		     const struct web_request_counts *rc);
/* Appends the Prometheus text exposition; @stats may be NULL. */
void web_metrics_render(const struct web_metrics *m,
			const unsigned long requests[ROUTE_COUNT][METRICS_STATUSES],
			const struct store_stats *stats, struct buf *out);

/* --- scrub.c: deletions leave the files within SCRUB_DELAY_MS --- */

struct web_server;

struct web_scrub {
	pthread_t thread;
	struct web_server *srv;		/* whose snapshots are let go of first */
	pthread_mutex_t *write_lock;	/* the server's */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool pending, stop, started;
	const char *database;
	const struct store_keys *keys;
	atomic_ulong runs;
};

int web_scrub_start(struct web_scrub *s, struct web_server *srv, const char *database,
		    const struct store_keys *keys, pthread_mutex_t *write_lock, char *err);
/* A deletion was committed: checkpoint and truncate the log soon. */
void web_scrub_note(struct web_scrub *s);
/* Scrubs what is pending, then ends the thread. */
void web_scrub_stop(struct web_scrub *s);

/* --- writer.c: the public pages' writes, committed in groups --- */

#define WRITER_BATCH 512	/* jobs in one transaction at most */

enum web_job_kind {
	JOB_UNSUBSCRIBE,	/* POST /u/: id, gen, mailing in; was out */
	JOB_SIGNUP,		/* POST /subscribe: signup in; signup_out out */
	JOB_CONFIRM,		/* POST /c/: id (the pending signup) in; confirm_out.. out */
};

struct web_writer_job {
	struct web_writer_job *next;
	struct MHD_Connection *conn;	/* suspended until the job is done */
	enum web_job_kind kind;
	int64_t id;
	unsigned gen;			/* the link's address generation */
	int64_t mailing;		/* the link's mailing: counts the unsubscribe */
	struct signup signup;		/* JOB_SIGNUP: points at the two below */
	char email[ADDR_MAX + 1];	/* JOB_SIGNUP: normalised */
	char name[NAME_MAX_LEN + 1];
	enum signup_outcome signup_out;
	enum confirm_outcome confirm_out;
	int64_t subscriber;		/* JOB_CONFIRM: whom the signup enrolled */
	unsigned sub_gen;
	enum store_status status;
	bool was;			/* was subscribed (now deleted) */
	char err[ERR_LEN];
};

struct web_server;

struct web_writer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct web_writer_job *head, **tail;
	bool stop, started;
	struct web_server *srv;
	void (*done)(struct web_writer_job *);	/* for each job, once its status is set */
	atomic_ulong batches, jobs;		/* groups run, jobs taken */
};

/*
 * Starts the thread. @done is called for each job once its group is
 * committed (or each job tried alone), from the writer's thread, after
 * which the job may be gone; NULL: resume the job's connection.
 */
int web_writer_start(struct web_writer *w, struct web_server *srv,
		     void (*done)(struct web_writer_job *), char *err);
/* Queues @j; its connection must be suspended: the writer resumes it. */
void web_writer_submit(struct web_writer *w, struct web_writer_job *j);
void web_writer_stop(struct web_writer *w);

/* --- the server and its requests (server.c makes them) --- */

/*
 * What one thread of a pool keeps for itself: its store and its counters
 * (worker.c). A request touches no memory that another thread writes, so
 * the cores do not pass cache lines to and fro on every request. Counters
 * are atomic all the same: a request may end on another thread when the
 * server stops.
 */
struct web_worker {
	_Alignas(64) struct web_worker *next;	/* web_server.workers */
	/*
	 * Held by the thread while it answers a request, and by the scrub
	 * thread while it checkpoints (it lets go of @st's snapshot first).
	 */
	pthread_mutex_t mu;
	struct store *st;		/* opened on first use; closed at thread exit */
	bool held;			/* @st holds a read snapshot (web_worker_snapshot) */
	unsigned long gen;		/* web_server.snapshot_gen when it was taken */
	atomic_long inflight;		/* requests begun and not yet ended */
	struct web_request_counts counts;
};

struct web_conn;	/* server.c's: one connection of a listener */

struct web_server {
	const struct config *cfg;
	const struct store_keys *keys;
	pthread_key_t worker_key;	/* this thread's struct web_worker */
	pthread_mutex_t workers_lock;	/* guards the list, not the workers */
	struct web_worker *workers;
	pthread_mutex_t write_lock;	/* writers queue here, not in SQLite's busy loop */
	atomic_ulong snapshot_gen;	/* a write of this server: snapshots are old */
	struct MHD_Daemon *pub, *admin;
	struct web_metrics metrics;
	struct web_scrub scrub;
	struct web_writer writer;
	enum web_lang lang;		/* [list] language */
	char csp[256];
	struct web_page_cache pages;	/* made at start, read-only after */
	struct web_rate *rate;		/* signup.c's per-client limit, NULL when off */
	const char *base_path;		/* of [list] base_url, "" for none */
	size_t base_path_len;
	unsigned char *admin_hash;	/* BLAKE2b of the bearer token (sodium_malloc) */
	long long request_ms;		/* [web] request_timeout */
	long long idle_ms;		/* [web] timeout */
	pthread_mutex_t conns_lock;	/* guards the list and the watchdog's state */
	struct web_conn *conns;		/* open connections of both listeners */
	pthread_cond_t watch_cv;
	pthread_t watchdog;
	bool watch_stop, watch_started;
};

struct web_request {
	struct web_server *srv;
	struct web_worker *worker;	/* of the thread it began on */
	bool admin;			/* on the admin listener */
	enum web_route route;
	const char *rest;		/* the path after the route's prefix */
	const char *allow;		/* the route's methods, for a 405's Allow */
	double start;
	struct buf body;
	size_t limit;
	bool too_big;
	unsigned status;		/* of the reply queued, 0 for none */
	bool queued;			/* @job went to the writer */
	struct web_writer_job job;
};

/* --- worker.c: each thread's store and snapshot; the write lock --- */

/* The thread key and locks; web_workers_free() after every thread ended. */
void web_workers_init(struct web_server *srv);
void web_workers_free(struct web_server *srv);
/* This thread's worker, made on first use. */
struct web_worker *web_worker(struct web_server *srv);
/* This thread's store, opened on first use; NULL with @err on failure. */
struct store *web_worker_store(struct web_server *srv, char *err);
/*
 * This thread's store inside a read snapshot kept from request to request
 * (no read transaction to begin and end for each): for the page view only.
 * A snapshot is renewed after any write of this server; another process's
 * write is seen within PIN_POLL_MS (the scrub thread lets go of every
 * snapshot then), and at once by web_worker_snapshot_renew().
 */
struct store *web_worker_snapshot(struct web_server *srv, char *err);
void web_worker_snapshot_renew(struct web_server *srv);
/* Around a write: the write lock; snapshots taken before it are renewed. */
void web_worker_write_begin(struct web_server *srv);
void web_worker_write_end(struct web_server *srv);
/* For the scrub thread: lets go of every snapshot and keeps the workers
 * waiting until web_workers_resume() with what this returned. */
struct web_worker *web_workers_release(struct web_server *srv);
void web_workers_resume(struct web_worker *held);
/* Requests answered by every thread, summed. */
void web_workers_counts(struct web_server *srv,
			unsigned long sum[ROUTE_COUNT][METRICS_STATUSES]);
/* Requests begun and not yet ended, on every thread. */
long web_workers_inflight(struct web_server *srv);

/* --- reply.c: the replies of the handlers --- */

/* Queues a reply; takes @body (malloc'd) whatever happens. */
enum MHD_Result web_reply(struct web_request *r, struct MHD_Connection *c, unsigned status,
			  const char *ctype, char *body, size_t len);
/* A page in the reader's language. */
enum MHD_Result web_reply_page(struct web_request *r, struct MHD_Connection *c,
			       unsigned status, enum web_page_kind kind,
			       const struct web_page_args *a);
/* Queues the request's job for writer.c and suspends @c (writer.c). */
enum MHD_Result web_writer_queue(struct web_request *r, struct MHD_Connection *c,
				 enum web_job_kind kind, const struct token_claims *tc);
/* @o (released) as indented JSON and a newline, in a new @b. */
void web_json_text(json_t *o, struct buf *b);
/* A JSON reply (takes @o) or {"error": MSG}. */
enum MHD_Result web_reply_json(struct web_request *r, struct MHD_Connection *c,
			       unsigned status, json_t *o);
enum MHD_Result web_reply_error(struct web_request *r, struct MHD_Connection *c,
				unsigned status, const char *msg);
enum web_lang web_reply_lang(struct web_request *r, struct MHD_Connection *c);
/* A signup page in the reader's language (@a: NULL for a kept one). */
enum MHD_Result web_reply_signup(struct web_request *r, struct MHD_Connection *c, unsigned status,
				 enum web_signup_page kind, const struct web_signup_args *a);
/* @body (malloc'd, taken) as a download named @filename. */
enum MHD_Result web_reply_download(struct web_request *r, struct MHD_Connection *c,
				   const char *ctype, char *body, size_t len, const char *filename);

/* --- unsub.c: the subscriber's pages --- */

enum MHD_Result web_unsub_get(struct web_request *r, struct MHD_Connection *c);
enum MHD_Result web_unsub_post(struct web_request *r, struct MHD_Connection *c);
enum MHD_Result web_unsub_data(struct web_request *r, struct MHD_Connection *c);

/* --- signup.c: the signup form and its confirmation (double opt-in) --- */

struct web_rate;

#define RATE_SLOTS 4096		/* clients counted at once: the table's bound */
#define RATE_PROBE 8		/* slots looked at for one client */

/* The per-client limit's table (fixed size, a fresh key); free with
 * web_rate_free. */
struct web_rate *web_rate_new(void);
void web_rate_free(struct web_rate *rt);
/* Counts a request of the client @sa (NULL: unknown, all such are one) in
 * clock hour @hour; whether it is within @limit for that hour. */
bool web_rate_count(struct web_rate *rt, const struct sockaddr *sa, uint32_t hour, uint32_t limit);
/* Slots counting a client in @hour: at most RATE_SLOTS. */
size_t web_rate_used(struct web_rate *rt, uint32_t hour);

/* The signup pages and the per-client limit, when [signup] enabled. */
void web_signup_init(struct web_server *srv);
void web_signup_free(struct web_server *srv);
enum MHD_Result web_signup_form(struct web_request *r, struct MHD_Connection *c);
enum MHD_Result web_signup_post(struct web_request *r, struct MHD_Connection *c);
enum MHD_Result web_signup_confirm_get(struct web_request *r, struct MHD_Connection *c);
enum MHD_Result web_signup_confirm_post(struct web_request *r, struct MHD_Connection *c);
/* The consent text shown in @l, from [signup]. */
const char *web_signup_consent(const struct config *cfg, enum web_lang l);

/* Why the form was refused, as the reader is told it. */
enum web_form_reason {
	REASON_EMPTY, REASON_TOO_LONG, REASON_NO_AT, REASON_MANY_AT, REASON_BARE,
	REASON_DOMAIN, REASON_LOCAL, REASON_ADDRESS, REASON_NAME, REASON_FORM,
	REASON_COUNT
};
/* The kind of lib's or the store's (English) reason @why for an address
 * or a name; their wording is the CLI's and is not changed for this. */
enum web_form_reason web_signup_reason_of(const char *why);
/* The sentence for @why in @l. */
const char *web_signup_reason(enum web_form_reason why, enum web_lang l);

/*
 * Reads an application/x-www-form-urlencoded or multipart/form-data body
 * already received: @fn is called for each field whole (at most @max
 * bytes, else -1 "the field NAME is longer than MAX bytes"). -1 with the
 * reason in @err for a body of another type or a malformed one.
 */
int web_form_read(struct web_request *r, struct MHD_Connection *c, size_t max,
		  void (*fn)(void *cls, const char *key, const char *value), void *cls, char *err);

/* --- data.c: the data page a person can read --- */

/* The HTML page of @export (store_export's JSON); malloc'd. */
char *web_data_page(const json_t *export, enum web_lang l, const char *list, size_t *len);

/* --- api.c: the admin API --- */

/* Reads and checks the bearer token file; returns its hash (sodium_malloc). */
unsigned char *web_api_token_load(const char *path, char *err);
void web_api_token_free(unsigned char *hash);
/* Whether the request carries the right bearer token (constant time). */
bool web_api_authorized(struct web_request *r, struct MHD_Connection *c);
enum MHD_Result web_api_purchases(struct web_request *r, struct MHD_Connection *c, const char *method);
enum MHD_Result web_api_subscriber(struct web_request *r, struct MHD_Connection *c, const char *method);
enum MHD_Result web_api_subscriber_action(struct web_request *r, struct MHD_Connection *c,
					  const char *method);
enum MHD_Result web_api_signups(struct web_request *r, struct MHD_Connection *c);
enum MHD_Result web_api_healthz(struct web_request *r, struct MHD_Connection *c);
enum MHD_Result web_api_metrics(struct web_request *r, struct MHD_Connection *c);

#endif
