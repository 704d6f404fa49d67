/*
 * web/server.c - 'newsletter serve': the libmicrohttpd daemons, routing,
 * limits, the request watchdog, one log line per request, and a clean
 * shutdown.
 *
 * The top of web/: it calls the handlers (unsub.c, signup.c, api.c) and the helpers
 * below them (reply.c, worker.c, page.c), and no file of web/ calls back
 * into it but for web_serve() and web_listen_check(), which cli/ calls.
 * It never reads or writes the store itself: the handlers do.
 *
 * Two listeners: the public one (subscriber pages, one-click POST, and the
 * signup form and its confirmation links when [signup] is enabled) and,
 * when a bearer token file is configured, the admin API. Each runs
 * libmicrohttpd's own thread pool over epoll, one thread per core. Every
 * thread opens its own store on first use (a store belongs to one thread);
 * writers take the server's write lock so that they queue here instead of
 * sleeping in SQLite's busy handler. A watchdog thread cuts off requests
 * that trickle in for longer than [web] request_timeout, and one address
 * holds [web] max_connections_per_client of the public listener's
 * connections at most.
 *
 * libmicrohttpd 0.9.75 answers "Connection: close" when a response is
 * queued in the first call of the access handler, which costs about 5x in
 * throughput; so the first call only sets up the request, and the reply is
 * queued in a later one (DESIGN.md, pitfall 4). Only refusals (a body over
 * the limit, too many header fields) are queued at once, closing the
 * connection on purpose.
 *
 * Trusts nothing in a request. Never logs a path (it holds a token or an
 * address): a log line names the route. Never answers 500: a store that
 * cannot be reached gives 503.
 */
#include "web_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { M_GET = 1, M_HEAD = 2, M_POST = 4, M_DELETE = 8, M_OTHER = 16 };

/* What a path may lead to: the routes of each listener, in order. */
struct route_def {
	enum web_route route;
	bool admin;		/* on the admin listener, else the public one */
	const char *path;
	bool prefix;		/* @path is a prefix; the rest goes to the handler */
	unsigned methods;
	const char *allow;
	bool auth;		/* needs the bearer token */
	bool signup;		/* only when [signup] enabled; else 404 */
};

static const struct route_def routes[] = {
	{ROUTE_UNSUBSCRIBE, false, "/u/", true, M_GET | M_HEAD | M_POST, "GET, HEAD, POST", false, false},
	{ROUTE_DATA, false, "/a/", true, M_POST, "POST", false, false},
	{ROUTE_SIGNUP, false, "/subscribe", false, M_GET | M_HEAD | M_POST, "GET, HEAD, POST", false, true},
	{ROUTE_SIGNUP_CONFIRM, false, "/c/", true, M_GET | M_HEAD | M_POST, "GET, HEAD, POST", false, true},
	{ROUTE_HEALTHZ, false, "/healthz", false, M_GET | M_HEAD, "GET, HEAD", false, false},
	{ROUTE_HEALTHZ, true, "/healthz", false, M_GET | M_HEAD, "GET, HEAD", false, false},
	{ROUTE_METRICS, true, "/metrics", false, M_GET | M_HEAD, "GET, HEAD", true, false},
	{ROUTE_PURCHASES, true, "/api/v1/purchases", false, M_POST, "POST", true, false},
	{ROUTE_API_SIGNUPS, true, "/api/v1/signups", false, M_POST, "POST", true, true},
	{ROUTE_SUBSCRIBER_ACTION, true, "/api/v1/subscribers/", true, M_POST, "POST", true, false},
	{ROUTE_SUBSCRIBER, true, "/api/v1/subscribers/", true, M_GET | M_HEAD | M_DELETE,
	 "GET, HEAD, DELETE", true, false},
};

static const struct route_def not_found = {ROUTE_NOT_FOUND, false, "", true, 0, NULL, false, false};

/* Whether an API path names an action: ADDRESS/restrict and the like. */
static bool
is_action(const char *rest)
{
	static const char *const actions[] = {"/restrict", "/unrestrict", "/unsubscribe"};
	size_t n = strlen(rest);

	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		size_t k = strlen(actions[i]);

		if (n > k && strcmp(rest + n - k, actions[i]) == 0)
			return true;
	}
	return false;
}

static const struct route_def *
route_find(const struct web_server *srv, bool admin, const char *url, const char **rest)
{
	/* The public pages live under [list] base_url's path, if it has one. */
	if (!admin && srv->base_path_len > 0 &&
	    strncmp(url, srv->base_path, srv->base_path_len) == 0 && url[srv->base_path_len] == '/')
		url += srv->base_path_len;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route_def *d = &routes[i];
		size_t n = strlen(d->path);

		if (d->admin != admin || (d->signup && !srv->cfg->signup.enabled))
			continue;
		if (d->prefix ? strncmp(url, d->path, n) != 0 : strcmp(url, d->path) != 0)
			continue;
		*rest = url + n;
		if (d->prefix && **rest == '\0')
			continue;
		if (d->route == ROUTE_SUBSCRIBER_ACTION && !is_action(*rest))
			continue;
		/* A '/' after the '@' is no address: an unknown action. */
		if (d->route == ROUTE_SUBSCRIBER &&
		    strchr(strrchr(*rest, '@') ? strrchr(*rest, '@') : *rest, '/') != NULL)
			continue;
		return d;
	}
	*rest = "";
	return &not_found;
}

static const struct {
	const char *name;
	unsigned bit;
} methods[] = {
	{MHD_HTTP_METHOD_GET, M_GET}, {MHD_HTTP_METHOD_HEAD, M_HEAD},
	{MHD_HTTP_METHOD_POST, M_POST}, {MHD_HTTP_METHOD_DELETE, M_DELETE},
};

/* The method's bit, and its name for the log ("OTHER" for the rest). */
static unsigned
method_bit(const char *m, const char **name)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(m, methods[i].name) == 0) {
			*name = methods[i].name;
			return methods[i].bit;
		}
	*name = "OTHER";
	return M_OTHER;
}

/* --- the whole-request deadline --- */

/*
 * [web] timeout is libmicrohttpd's: a connection idle that long is closed.
 * Every byte received starts it afresh, so a client sending one byte of its
 * header every few seconds kept its connection for ever, and a few hundred
 * such clients every connection of the listener: the unsubscribe pages and
 * the one-click POSTs of mail providers went unanswered. So a request must
 * also come in whole, header and body, within [web] request_timeout of the
 * connection's accept; on a kept-alive connection, within [web] timeout +
 * request_timeout of the previous reply (it may stay idle for the one and
 * then take the other: libmicrohttpd tells nobody when the first byte of
 * the next request comes). A request that is in has no deadline: its answer
 * may wait for the writer thread, its connection suspended.
 *
 * libmicrohttpd 0.9.75 calls the application only once the header is in,
 * so no callback of a connection's own thread can cut a slow header short.
 * A watchdog thread does: it knows every connection's socket from
 * MHD_CONNECTION_NOTIFY_STARTED to MHD_CONNECTION_NOTIFY_CLOSED and shuts
 * down (shutdown(2), not close) the socket of a request past its deadline.
 * libmicrohttpd then reads end-of-file and closes the connection itself, in
 * its own thread. It calls NOTIFY_CLOSED before it closes the descriptor
 * (MHD_cleanup_connections, and the failed-accept path), and NOTIFY_CLOSED
 * unlinks the connection under conns_lock, which the watchdog holds while
 * it acts: so it never shuts down a descriptor that was closed and reused.
 */
/*
 * One connection of a listener, from accept to close (the whole-request
 * deadline). The watchdog reads @deadline and @fd under
 * web_server.conns_lock; the connection's thread writes @deadline.
 */
struct web_conn {
	struct web_conn *prev, *next;	/* web_server.conns */
	int fd;
	atomic_llong deadline;		/* ms (monotonic_ms) by which the request must be in, 0: none */
	/* For a refusal libmicrohttpd makes before the handler's first call: */
	struct MHD_Connection *mhd;
	pthread_t thread;		/* that serves it (and accepted it) */
	bool admin;			/* on the admin listener */
	bool in_head;			/* no handler call yet for its request: @thread's only */
};

#define WATCH_MS 250		/* how often the watchdog looks: deadlines are this late at most */
#define WATCH_LOG_MS 10000	/* a log line at most this often, whatever an attacker does */

static long long
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* MHD_OPTION_NOTIFY_CONNECTION: a connection accepted, or about to be closed. */
static void
conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
	    enum MHD_ConnectionNotificationCode toe)
{
	struct web_server *srv = ((struct web_server **)cls)[0];
	struct web_conn *k = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *i =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		k = xcalloc(1, sizeof(*k));
		k->fd = i != NULL ? i->connect_fd : -1;
		k->mhd = c;
		k->thread = pthread_self();
		k->admin = ((struct web_server **)cls)[1] != NULL;
		k->in_head = true;
		atomic_init(&k->deadline, monotonic_ms() + srv->request_ms);
		pthread_mutex_lock(&srv->conns_lock);
		k->next = srv->conns;
		if (k->next != NULL)
			k->next->prev = k;
		srv->conns = k;
		pthread_mutex_unlock(&srv->conns_lock);
		*socket_context = k;
		return;
	}
	if (k == NULL)
		return;
	pthread_mutex_lock(&srv->conns_lock);
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		srv->conns = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	pthread_mutex_unlock(&srv->conns_lock);
	*socket_context = NULL;
	free(k);
}

static struct web_conn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return i != NULL ? i->socket_context : NULL;
}

/* The handler's first call for the request on @c: its header is in. */
static void
conn_begun(struct MHD_Connection *c)
{
	struct web_conn *k = conn_of(c);

	if (k != NULL)
		k->in_head = false;
}

/* The request on @c is in, whole: no deadline until the next one. */
static void
conn_received(struct MHD_Connection *c)
{
	struct web_conn *k = conn_of(c);

	if (k != NULL)
		atomic_store_explicit(&k->deadline, 0, memory_order_relaxed);
}

/* A request on @c has ended: the next one, if any, is due by this. */
static void
conn_next(struct web_server *srv, struct MHD_Connection *c)
{
	struct web_conn *k = conn_of(c);

	if (k == NULL)
		return;
	k->in_head = true;
	atomic_store_explicit(&k->deadline, monotonic_ms() + srv->idle_ms + srv->request_ms,
			      memory_order_relaxed);
}

static void *
watch(void *p)
{
	struct web_server *srv = p;
	long long last_log = 0;
	unsigned long cut = 0;

	pthread_mutex_lock(&srv->conns_lock);
	while (!srv->watch_stop) {
		struct timespec ts;
		long long now;

		deadline_after(CLOCK_MONOTONIC, WATCH_MS / 1000.0, &ts);
		pthread_cond_timedwait(&srv->watch_cv, &srv->conns_lock, &ts);
		now = monotonic_ms();
		for (struct web_conn *k = srv->conns; k != NULL; k = k->next) {
			long long d = atomic_load_explicit(&k->deadline, memory_order_relaxed);

			/* Not if its request came in (or the next began) meanwhile. */
			if (d == 0 || d > now || k->fd < 0 ||
			    !atomic_compare_exchange_strong(&k->deadline, &d, 0))
				continue;
			shutdown(k->fd, SHUT_RDWR);
			cut++;
		}
		if (cut > 0 && (last_log == 0 || now - last_log >= WATCH_LOG_MS)) {
			log_info("closed %lu connection%s whose request was not in within "
				 "[web] request_timeout (%lld s)", cut, cut == 1 ? "" : "s",
				 srv->request_ms / 1000);
			cut = 0;
			last_log = now;
		}
	}
	pthread_mutex_unlock(&srv->conns_lock);
	return NULL;
}

static int
watch_start(struct web_server *srv, char *err)
{
	int rc = pthread_create(&srv->watchdog, NULL, watch, srv);

	if (rc != 0)
		return errf(err, "cannot start the request watchdog: %s", strerror(rc));
	srv->watch_started = true;
	return 0;
}

static void
watch_stop(struct web_server *srv)
{
	if (!srv->watch_started)
		return;
	pthread_mutex_lock(&srv->conns_lock);
	srv->watch_stop = true;
	pthread_cond_signal(&srv->watch_cv);
	pthread_mutex_unlock(&srv->conns_lock);
	pthread_join(srv->watchdog, NULL);
	srv->watch_started = false;
}

/* --- the request, and refusals --- */

struct request_ext {
	struct web_request r;
	const struct route_def *def;	/* where the path leads */
	unsigned method;		/* M_GET... */
	const char *method_name;
};

#define EXT(r) ((struct request_ext *)(void *)(r))

/* A refusal in the listener's own form: a page, or JSON on the admin API. */
static enum MHD_Result
refuse(struct web_request *r, struct MHD_Connection *c, unsigned status)
{
	static const struct {
		unsigned status;
		enum web_page_kind page;
		const char *msg;
	} refusals[] = {
		{MHD_HTTP_NOT_FOUND, PAGE_NOT_FOUND, "no such resource"},
		{MHD_HTTP_METHOD_NOT_ALLOWED, PAGE_METHOD, "method not allowed (see the Allow header)"},
		{MHD_HTTP_CONTENT_TOO_LARGE, PAGE_TOO_LARGE, "the request body is too large"},
		{MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, PAGE_HEADERS, "too many header fields"},
		{MHD_HTTP_SERVICE_UNAVAILABLE, PAGE_UNAVAILABLE, "the database is busy or unreachable: try again"},
	};

	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		if (refusals[i].status != status)
			continue;
		if (r->admin)
			return web_reply_error(r, c, status, refusals[i].msg);
		return web_reply_page(r, c, status, refusals[i].page, NULL);
	}
	return web_reply_error(r, c, status, "refused");
}

/* --- the access handler --- */

static enum MHD_Result
count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind, (void)key, (void)value;
	++*(int *)cls;
	return MHD_YES;
}

/* The first call: set up; refuse at once what is over a limit. */
static enum MHD_Result
request_begin(struct web_server *srv, bool admin, struct MHD_Connection *c, const char *url,
	      const char *method, void **req_cls)
{
	struct request_ext *x = xcalloc(1, sizeof(*x));
	struct web_request *r = &x->r;
	const struct route_def *d;
	const char *cl;
	int headers = 0;

	r->srv = srv;
	r->worker = web_worker(srv);
	r->admin = admin;
	r->start = monotonic_seconds();
	r->limit = admin ? MAX_BODY_ADMIN : MAX_BODY_PUBLIC;
	buf_init(&r->body);
	x->method = method_bit(method, &x->method_name);
	d = route_find(srv, admin, url, &r->rest);
	x->def = d;
	r->route = d->route;
	r->allow = d->allow;
	*req_cls = r;
	atomic_fetch_add_explicit(&r->worker->inflight, 1, memory_order_relaxed);

	MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &headers);
	if (headers > MAX_HEADERS)
		return refuse(r, c, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE);
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && strtoull(cl, NULL, 10) > r->limit)
		return refuse(r, c, MHD_HTTP_CONTENT_TOO_LARGE);
	return MHD_YES;
}

static enum MHD_Result
handle_locked(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	      const char *version, const char *upload_data, size_t *upload_size, void **req_cls)
{
	struct web_server *srv = ((struct web_server **)cls)[0];
	bool admin = ((struct web_server **)cls)[1] != NULL;
	struct web_request *r = *req_cls;
	const struct route_def *d;
	unsigned m;

	(void)version;
	if (r == NULL) {
		conn_begun(c);
		return request_begin(srv, admin, c, url, method, req_cls);
	}
	if (*upload_size == 0)
		conn_received(c);	/* the last call: the whole request is in */
	if (r->status != 0) {
		*upload_size = 0;	/* refused already; the rest is discarded */
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (r->too_big || r->body.len + *upload_size > r->limit)
			r->too_big = true;
		else
			buf_add(&r->body, upload_data, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->too_big)
		return refuse(r, c, MHD_HTTP_CONTENT_TOO_LARGE);
	d = EXT(r)->def;
	m = EXT(r)->method;
	if (d->route == ROUTE_NOT_FOUND)
		return refuse(r, c, MHD_HTTP_NOT_FOUND);
	if (!(d->methods & m))
		return refuse(r, c, MHD_HTTP_METHOD_NOT_ALLOWED);
	if (d->auth && !web_api_authorized(r, c))
		return web_reply_error(r, c, MHD_HTTP_UNAUTHORIZED,
				       "missing or wrong bearer token (Authorization: Bearer TOKEN)");
	switch (d->route) {
	case ROUTE_UNSUBSCRIBE:
		return m == M_POST ? web_unsub_post(r, c) : web_unsub_get(r, c);
	case ROUTE_DATA:
		return web_unsub_data(r, c);
	case ROUTE_SIGNUP:
		return m == M_POST ? web_signup_post(r, c) : web_signup_form(r, c);
	case ROUTE_SIGNUP_CONFIRM:
		return m == M_POST ? web_signup_confirm_post(r, c) : web_signup_confirm_get(r, c);
	case ROUTE_API_SIGNUPS:
		return web_api_signups(r, c);
	case ROUTE_HEALTHZ:
		return web_api_healthz(r, c);
	case ROUTE_METRICS:
		return web_api_metrics(r, c);
	case ROUTE_PURCHASES:
		return web_api_purchases(r, c, method);
	case ROUTE_SUBSCRIBER:
		return web_api_subscriber(r, c, method);
	case ROUTE_SUBSCRIBER_ACTION:
		return web_api_subscriber_action(r, c, method);
	default:
		return refuse(r, c, MHD_HTTP_NOT_FOUND);
	}
}

/* Every call holds the thread's worker: the scrub thread waits for it. */
static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
       const char *version, const char *upload_data, size_t *upload_size, void **req_cls)
{
	struct web_worker *w = web_worker(((struct web_server **)cls)[0]);
	enum MHD_Result ret;

	pthread_mutex_lock(&w->mu);
	ret = handle_locked(cls, c, url, method, version, upload_data, upload_size, req_cls);
	pthread_mutex_unlock(&w->mu);
	return ret;
}

/* Appends @s at @p; returns the end. */
static char *
put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

/* Appends @v in decimal, at least @digits digits; returns the end. */
static char *
put_num(char *p, unsigned long v, int digits)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0 || n < digits);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

/*
 * The request's log line, in log.c's form: route and status only, for the
 * path holds a token or an address. One write(2) of a line formatted here
 * by hand (this runs for every request): the threads of the pool never
 * wait for each other on stderr's stdio lock, and no printf runs.
 */
static void
log_request(const struct web_request *r, bool complete)
{
	char line[160], *p = line;
	double us = (monotonic_seconds() - r->start) * 1e6;
	unsigned long t = us > 0 ? (unsigned long)us : 0;

	p = put_str(p, r->admin ? "newsletter: admin " : "newsletter: web ");
	p = put_str(p, EXT(r)->method_name);
	*p++ = ' ';
	p = put_str(p, web_metrics_route_name(r->route));
	*p++ = ' ';
	p = put_num(p, r->status, 1);
	*p++ = ' ';
	p = put_num(p, t / 1000, 1);
	*p++ = '.';
	p = put_num(p, t % 1000 / 10, 2);
	p = put_str(p, complete ? " ms\n" : " ms (connection closed early)\n");
	if (write(STDERR_FILENO, line, (size_t)(p - line)) < 0)
		(void)0;	/* nowhere to report it */
}

static void
completed(void *cls, struct MHD_Connection *c, void **req_cls,
	  enum MHD_RequestTerminationCode toe)
{
	struct web_request *r = *req_cls;

	conn_next(cls, c);
	if (r == NULL)
		return;
	*req_cls = NULL;
	if (r->status != 0)
		web_metrics_count(&r->worker->counts, r->route, r->status);
	if (log_get_level() >= LOG_INFO)
		log_request(r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	buf_free(&r->body);
	atomic_fetch_sub_explicit(&r->worker->inflight, 1, memory_order_relaxed);
	free(EXT(r));
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	     : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/*
 * Decodes %XX in the path and arguments, except %00: a NUL would cut the
 * string short, and "/u/TOKEN%00anything" must not pass for "/u/TOKEN".
 */
static size_t
unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *w = strchr(s, '%');

	(void)cls, (void)c;
	if (w == NULL)
		return strlen(s);	/* nothing escaped: the usual path */
	for (const char *p = w; *p;) {
		int hi, lo;

		if (p[0] == '%' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0 &&
		    (hi | lo) != 0) {
			*w++ = (char)(hi << 4 | lo);
			p += 3;
		} else {
			*w++ = *p++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

/* --- refusals libmicrohttpd makes itself --- */

/*
 * libmicrohttpd 0.9.75 answers a request whose Content-Length is not a
 * number ("-1", "0x10", "+5") or does not fit in 64 bits with its status
 * line and header twice: parse_connection_headers() queues the refusal and
 * builds its header, and the state machine, not seeing it, goes on and
 * builds the header again. No callback of the application runs in between;
 * the one notice it gets is the log line written just before, from the
 * connection's own thread. So the logger answers in its stead: it finds
 * the connection this thread has a whole header of and no handler call
 * for, writes the refusal itself and shuts down the socket's sending side.
 * libmicrohttpd's doubled reply then fails to go out (EPIPE), and it closes
 * the connection. The socket is this thread's, and libmicrohttpd writes to
 * it only after the header is parsed. Should the connection not be known
 * for sure (two of them fit), nothing is done: libmicrohttpd's reply goes
 * out as it is.
 */
static const struct {
	const char *fmt;	/* the start of libmicrohttpd's log line */
	unsigned status;
	const char *reason, *why;
} mhd_refusals[] = {
	{"Failed to parse `Content-Length' header", 400, "Bad Request",
	 "the Content-Length header is not a number"},
	{"Too large value of 'Content-Length' header", 413, "Content Too Large",
	 "the Content-Length header is too large"},
};

/* Writes the refusal and ends the connection's sending side. */
static void
refuse_early(const struct web_conn *k, unsigned status, const char *reason, const char *why)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	char body[160], reply[1024];
	time_t now = time(NULL);
	struct tm tm;
	size_t bn, n;

	gmtime_r(&now, &tm);
	/* Our own texts (mhd_refusals) and a fixed header: they fit; if not, libmicrohttpd answers. */
	if ((k->admin ? fmt(body, sizeof(body), "{\n  \"error\": \"%s\"\n}\n", why)
		      : fmt(body, sizeof(body), "%s\n", why)) < 0) {
		log_warn("the %u reply is longer than its %zu bytes: left to libmicrohttpd", status,
			 sizeof(body));
		return;
	}
	bn = strlen(body);
	if (fmt(reply, sizeof(reply),
		"HTTP/1.1 %u %s\r\n"
		"Date: %s, %02d %s %d %02d:%02d:%02d GMT\r\n"
		"Connection: close\r\n"
		"Content-Length: %zu\r\n"
		"Content-Type: %s\r\n"
		"Cache-Control: no-store\r\n"
		"X-Content-Type-Options: nosniff\r\n"
		"Referrer-Policy: no-referrer\r\n"
		"X-Frame-Options: DENY\r\n"
		"Content-Security-Policy: default-src 'none'; frame-ancestors 'none'; sandbox\r\n"
		"\r\n%s",
		status, reason, days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
		tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, bn,
		k->admin ? "application/json" : "text/plain; charset=utf-8", body) < 0) {
		log_warn("the %u reply is longer than its %zu bytes: left to libmicrohttpd", status,
			 sizeof(reply));
		return;
	}
	n = strlen(reply);
	/* A fresh or idle socket: its send buffer has room for this. */
	if (send(k->fd, reply, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n)
		log_debug("the %u reply did not go out whole", status);
	shutdown(k->fd, SHUT_WR);
	log_info("%s %u (%s): answered for libmicrohttpd, connection closed",
		 k->admin ? "admin" : "web", status, why);
}

static void
answer_early(struct web_server *srv, unsigned status, const char *reason, const char *why)
{
	pthread_t self = pthread_self();
	struct web_conn *found = NULL;
	int n = 0;

	pthread_mutex_lock(&srv->conns_lock);
	for (struct web_conn *k = srv->conns; k != NULL; k = k->next) {
		/* Another thread's connection is not looked at: it is not ours to read. */
		if (!pthread_equal(k->thread, self) || !k->in_head ||
		    MHD_get_connection_info(k->mhd, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE) == NULL)
			continue;
		found = k;
		n++;
	}
	if (n == 1) {
		found->in_head = false;
		atomic_store_explicit(&found->deadline, 0, memory_order_relaxed);
		refuse_early(found, status, reason, why);
	} else {
		log_debug("%d connections could have had a %u from libmicrohttpd: left to it", n, status);
	}
	pthread_mutex_unlock(&srv->conns_lock);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	for (size_t i = 0; i < sizeof(mhd_refusals) / sizeof(mhd_refusals[0]); i++)
		if (strncmp(fmt, mhd_refusals[i].fmt, strlen(mhd_refusals[i].fmt)) == 0)
			answer_early(((struct web_server **)cls)[0], mhd_refusals[i].status,
				     mhd_refusals[i].reason, mhd_refusals[i].why);
	/*
	 * Cut on purpose: a debug line quoting libmicrohttpd, whose messages
	 * are short; a longer one loses its end, marked with "...".
	 */
	if (vsnprintf(line, sizeof(line), fmt, ap) >= (int)sizeof(line))
		memcpy(line + sizeof(line) - 4, "...", 4);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_debug("libmicrohttpd: %s", line);
}

/* --- listening --- */

/* Splits "ADDR:PORT" / "[V6]:PORT" and resolves it (numeric port). */
static int
resolve(const char *listen, struct addrinfo **res, char *err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	const char *colon = strrchr(listen, ':');
	char host[256];
	size_t n;
	int rc;

	if (colon == NULL || colon == listen || colon[1] == '\0')
		return errf(err, "'%s' is not of the form ADDRESS:PORT", listen);
	n = (size_t)(colon - listen);
	if (listen[0] == '[' && colon[-1] == ']') {
		listen++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(host))
		return errf(err, "'%s' is not of the form ADDRESS:PORT", listen);
	memcpy(host, listen, n);
	host[n] = '\0';
	for (const char *p = colon + 1; *p; p++)
		if (*p < '0' || *p > '9' || p - colon > 5)
			return errf(err, "'%s': the port is not a number from 1 to 65535", listen);
	if (atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
		return errf(err, "'%s': the port is not a number from 1 to 65535", listen);
	rc = getaddrinfo(host, colon + 1, &hints, res);
	if (rc != 0)
		return errf(err, "'%s': %s", listen, gai_strerror(rc));
	return 0;
}

int
web_listen_check(const char *listen, char *err)
{
	struct addrinfo *res;

	if (resolve(listen, &res, err) < 0)
		return -1;
	freeaddrinfo(res);
	return 0;
}

/* Binds and listens ourselves, so that a taken port gets a clear message. */
static int
listen_on(const char *where, bool *v6, char *err)
{
	struct addrinfo *res;
	int fd, one = 1, e;

	if (resolve(where, &res, err) < 0)
		return -1;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		e = errno;
		freeaddrinfo(res);
		return errf(err, "socket for %s: %s", where, strerror(e));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	*v6 = res->ai_family == AF_INET6;
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
		e = errno;
		freeaddrinfo(res);
		close(fd);
		return errf(err, "cannot listen on %s: %s", where, strerror(e));
	}
	freeaddrinfo(res);
	return fd;
}

static unsigned
pool_size(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

/*
 * How many connections each listener may keep open: [web] max_connections,
 * as far as the file descriptor limit allows (raised for it if it can be),
 * with both listeners full and some to spare.
 */
static unsigned
conn_limit(unsigned want)
{
	rlim_t need = (rlim_t)want * 2 + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return want;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ? rl.rlim_max : need;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 32;
	if (rl.rlim_cur >= need)
		return want;
	return rl.rlim_cur > 128 ? (unsigned)((rl.rlim_cur - 64) / 2) : 32;
}

static struct MHD_Daemon *
start_daemon(struct web_server *srv, struct web_server **cls, const char *listen, unsigned threads,
	     char *err)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
			 MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
	struct MHD_Daemon *d;
	bool v6 = false;
	unsigned limit = conn_limit((unsigned)srv->cfg->web.max_connections);
	/*
	 * One address may hold only so many of the public listener's
	 * connections (0: no cap). The admin listener serves one trusted
	 * client, the shop, which may well need them all.
	 */
	unsigned per_client = cls[1] != NULL ? 0 : (unsigned)srv->cfg->web.max_connections_per_client;
	int fd = listen_on(listen, &v6, err);

	if (fd < 0)
		return NULL;
	if (v6)
		flags |= MHD_USE_IPv6;
	/* A pool shares the limit out: every thread gets one connection at least. */
	if (threads > limit)
		threads = limit;
	/* One thread: libmicrohttpd's internal thread, no pool. */
	d = MHD_start_daemon(flags, 0, NULL, NULL, handle, cls,
			     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, cls,
			     MHD_OPTION_LISTEN_SOCKET, fd,
			     MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0,
			     MHD_OPTION_CONNECTION_LIMIT, limit,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)srv->cfg->web.timeout,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_client,
			     MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
			     MHD_OPTION_NOTIFY_CONNECTION, conn_notify, cls,
			     MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
			     MHD_OPTION_END);
	if (d == NULL) {
		close(fd);
		errf(err, "cannot start the HTTP server on %s", listen);
	}
	return d;
}

/* The path of a URL ("https://host/news" -> "/news"), without a final '/'. */
static void
base_path(struct web_server *srv, const char *url)
{
	const char *p = strstr(url, "://");

	p = p ? strchr(p + 3, '/') : NULL;
	srv->base_path = p ? p : "";
	srv->base_path_len = strlen(srv->base_path);
	while (srv->base_path_len > 0 && srv->base_path[srv->base_path_len - 1] == '/')
		srv->base_path_len--;
}

static void
wait_for_signal(void)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigwait(&set, &sig);
	log_info("%s: stopping (in-flight requests finish)", sig == SIGINT ? "SIGINT" : "SIGTERM");
}

static void
drain(struct web_server *srv)
{
	double until = monotonic_seconds() + SHUTDOWN_GRACE;
	struct timespec ms = {0, 5 * 1000 * 1000};
	MHD_socket fd;

	if ((fd = MHD_quiesce_daemon(srv->pub)) != MHD_INVALID_SOCKET)
		close(fd);
	if (srv->admin && (fd = MHD_quiesce_daemon(srv->admin)) != MHD_INVALID_SOCKET)
		close(fd);
	while (web_workers_inflight(srv) > 0 && monotonic_seconds() < until)
		nanosleep(&ms, NULL);
	if (web_workers_inflight(srv) > 0)
		log_warn("stopping with %ld requests unfinished after %.0f s",
			 web_workers_inflight(srv), SHUTDOWN_GRACE);
}

int
web_serve(const struct config *cfg, const struct store_keys *keys, const char *listen,
	  char *err)
{
	struct web_server *srv = xcalloc(1, sizeof(*srv));
	struct web_server *pub_cls[2] = {srv, NULL}, *admin_cls[2] = {srv, srv};
	sigset_t set, old;
	pthread_condattr_t cattr;
	int rc = -1;

	srv->cfg = cfg;
	srv->keys = keys;
	srv->lang = web_page_lang_code(cfg->list.language);
	web_page_cache_init(&srv->pages, cfg->list.name);
	web_signup_init(srv);
	base_path(srv, cfg->list.base_url);
	web_workers_init(srv);
	pthread_mutex_init(&srv->conns_lock, NULL);
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);	/* the watchdog's waits */
	pthread_cond_init(&srv->watch_cv, &cattr);
	pthread_condattr_destroy(&cattr);
	srv->request_ms = (long long)cfg->web.request_timeout * 1000;
	srv->idle_ms = (long long)cfg->web.timeout * 1000;
	if (web_page_csp(srv->csp, sizeof(srv->csp)) < 0) {
		errf(err, "the Content-Security-Policy is longer than its %zu bytes", sizeof(srv->csp));
		goto out;
	}
	if (listen == NULL)
		listen = cfg->web.listen;
	if (cfg->web.admin_token_file != NULL &&
	    (srv->admin_hash = web_api_token_load(cfg->web.admin_token_file, err)) == NULL)
		goto out;

	/* Threads started from here on leave SIGINT and SIGTERM to sigwait(). */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if (web_scrub_start(&srv->scrub, srv, cfg->store.database, keys, &srv->write_lock, err) < 0)
		goto out_mask;
	if (web_writer_start(&srv->writer, srv, NULL, err) < 0)
		goto out_scrub;
	if (watch_start(srv, err) < 0)
		goto out_writer;
	if ((srv->pub = start_daemon(srv, pub_cls, listen, pool_size(), err)) == NULL)
		goto out_watch;
	if (srv->admin_hash != NULL &&
	    (srv->admin = start_daemon(srv, admin_cls, cfg->web.admin_listen, 1, err)) == NULL)
		goto out_pub;
	log_info("serving the subscriber pages on http://%s (%u threads)%s%s", listen, pool_size(),
		 srv->admin ? "; the admin API on http://" : "; no admin API (no [web] admin_token_file)",
		 srv->admin ? cfg->web.admin_listen : "");
	wait_for_signal();
	drain(srv);
	rc = 0;
	if (srv->admin)
		MHD_stop_daemon(srv->admin);
out_pub:
	MHD_stop_daemon(srv->pub);
out_watch:
	watch_stop(srv);	/* after the daemons: every connection is closed */
out_writer:
	web_writer_stop(&srv->writer);
out_scrub:
	web_scrub_stop(&srv->scrub);	/* scrubs what is pending */
out_mask:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
out:
	if (rc == 0)
		log_info("stopped");
	web_api_token_free(srv->admin_hash);
	web_page_cache_free(&srv->pages);
	web_signup_free(srv);
	/* The pools' threads have ended, and their stores with them. */
	web_workers_free(srv);
	pthread_mutex_destroy(&srv->conns_lock);
	pthread_cond_destroy(&srv->watch_cv);
	free(srv);
	return rc;
}
