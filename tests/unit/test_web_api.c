/*
 * tests/unit/test_web_api.c - the admin API's request handling (web/api.c)
 * through the real server: web_serve() runs in a thread of the test on
 * two free ports of 127.0.0.1 and is stopped by the test (SIGTERM to that
 * thread, which sigwait()s for it). A row per request: authorisation (no
 * token, a wrong one, one too long, the scheme in any case), the
 * purchase's body checks (not JSON, not an object, unknown or mistyped
 * fields, a missing or bad address, a body over the limit) and what each
 * answer says; then the store's answers through the API (enrolled,
 * refreshed, suppressed, an unknown address).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

#include "helpers.h"
#include "../../web/web_int.h"

#define TOKEN "unit-test-admin-token-0123456789abcdef"

struct api_server {
	struct scratch s;
	struct config cfg;
	int pub_port, admin_port;
	pthread_t thread;
	int rc;
	char err[ERR_LEN];
};

static int
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t n = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &n), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void
set(char **slot, const char *v)
{
	free(*slot);
	*slot = xstrdup(v);
}

static void *
serve(void *p)
{
	struct api_server *a = p;

	a->rc = web_serve(&a->cfg, a->s.keys, NULL, a->err);
	return NULL;
}

struct reply {
	int status;
	char head[4096];
	char body[65536];
};

/* One request on a connection of its own; false if it could not be made. */
static bool
request(int port, const char *method, const char *path, const char *headers, const char *body,
	size_t body_len, struct reply *out)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	static char raw[1 << 17];
	struct buf req;
	size_t got = 0;
	ssize_t n;
	char *end;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(out, 0, sizeof(*out));
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	buf_init(&req);
	buf_printf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s", method,
		   path, headers ? headers : "");
	if (body != NULL)
		buf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n", body_len);
	buf_adds(&req, "\r\n");
	if (body != NULL)
		buf_add(&req, body, body_len);
	for (size_t off = 0; off < req.len; off += (size_t)n)
		if ((n = write(fd, req.s + off, req.len - off)) <= 0)
			break;
	buf_free(&req);
	while (got < sizeof(raw) - 1 && (n = read(fd, raw + got, sizeof(raw) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	raw[got] = '\0';
	if (sscanf(raw, "HTTP/1.%*d %d", &out->status) != 1)
		return false;
	end = strstr(raw, "\r\n\r\n");
	if (end == NULL)
		return false;
	*end = '\0';
	cr_assert_eq(fmt(out->head, sizeof(out->head), "%s", raw), 0);
	cr_assert_eq(fmt(out->body, sizeof(out->body), "%s", end + 4), 0);
	return true;
}

static void
start(struct api_server *a)
{
	char path[128], err[ERR_LEN] = "";
	struct reply r;
	FILE *f;

	memset(a, 0, sizeof(*a));
	scratch_open(&a->s);
	cr_assert_eq(config_load(&a->cfg, NULL, false, err), 0, "%s", err);
	a->pub_port = free_port();
	a->admin_port = free_port();
	cr_assert_eq(fmt(path, sizeof(path), "%s/token", a->s.dir), 0);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(TOKEN "\n", f);
	fclose(f);
	chmod(path, 0600);
	set(&a->cfg.store.database, a->s.db);
	set(&a->cfg.web.admin_token_file, path);
	cr_assert_eq(fmt(path, sizeof(path), "127.0.0.1:%d", a->pub_port), 0);
	set(&a->cfg.web.listen, path);
	cr_assert_eq(fmt(path, sizeof(path), "127.0.0.1:%d", a->admin_port), 0);
	set(&a->cfg.web.admin_listen, path);
	cr_assert_eq(pthread_create(&a->thread, NULL, serve, a), 0);
	/* Ready once the admin listener answers (its signals are blocked by then). */
	for (int i = 0; i < 1000; i++) {
		struct timespec ms = {0, 10 * 1000 * 1000};

		if (request(a->admin_port, "GET", "/healthz", NULL, NULL, 0, &r))
			return;
		nanosleep(&ms, NULL);
	}
	cr_assert_fail("the server did not answer within 10 s: %s", a->err);
}

static void
stop(struct api_server *a)
{
	pthread_kill(a->thread, SIGTERM);
	pthread_join(a->thread, NULL);
	cr_expect_eq(a->rc, 0, "web_serve: %s", a->err);
	config_free(&a->cfg);
	scratch_close(&a->s);
}

#define AUTH "Authorization: Bearer " TOKEN "\r\n"

struct api_case {
	const char *name;
	const char *method, *path, *headers, *body;
	int status;
	const char *has;	/* in the body, or NULL */
};

static const struct api_case authorisation[] = {
	{"health needs no token", "GET", "/healthz", NULL, NULL, 200, "ok"},
	{"metrics with no token", "GET", "/metrics", NULL, NULL, 401, "bearer token"},
	{"a wrong token", "GET", "/metrics", "Authorization: Bearer " TOKEN "x\r\n", NULL, 401, "bearer token"},
	{"a prefix of the token", "GET", "/metrics", "Authorization: Bearer unit-test\r\n", NULL, 401, NULL},
	{"no scheme", "GET", "/metrics", "Authorization: " TOKEN "\r\n", NULL, 401, NULL},
	{"Basic, not Bearer", "GET", "/metrics", "Authorization: Basic " TOKEN "\r\n", NULL, 401, NULL},
	{"an empty token", "GET", "/metrics", "Authorization: Bearer \r\n", NULL, 401, NULL},
	{"the right token", "GET", "/metrics", AUTH, NULL, 200, "newsletter_"},
	{"the scheme in any case, spaces before the token", "GET", "/metrics",
	 "Authorization: bEARER   " TOKEN "\r\n", NULL, 200, "newsletter_"},
	{"purchases with no token", "POST", "/api/v1/purchases", NULL, "{\"email\":\"a@example.no\"}", 401, "bearer token"},
	{"a subscriber with no token", "GET", "/api/v1/subscribers/a@example.no", NULL, NULL, 401, NULL},
	{"an action with a wrong token", "POST", "/api/v1/subscribers/a@example.no/unsubscribe",
	 "Authorization: Bearer nope-nope-nope-nope\r\n", NULL, 401, NULL},
};

static const struct api_case purchases[] = {
	{"an empty body", "POST", "/api/v1/purchases", AUTH, "", 422, "not JSON"},
	{"not JSON", "POST", "/api/v1/purchases", AUTH, "email=a@example.no", 422, "not JSON"},
	{"cut JSON", "POST", "/api/v1/purchases", AUTH, "{\"email\": \"a@exa", 422, "not JSON"},
	{"a duplicate key", "POST", "/api/v1/purchases", AUTH,
	 "{\"email\":\"a@example.no\",\"email\":\"b@example.no\"}", 422, "not JSON"},
	{"an array", "POST", "/api/v1/purchases", AUTH, "[\"a@example.no\"]", 422, "must be a JSON object"},
	{"a string", "POST", "/api/v1/purchases", AUTH, "\"a@example.no\"", 422, "not JSON"},	/* jansson's own check */
	{"an unknown field", "POST", "/api/v1/purchases", AUTH,
	 "{\"email\":\"a@example.no\",\"phone\":\"123\"}", 422, "unknown field"},
	{"email a number", "POST", "/api/v1/purchases", AUTH, "{\"email\":5}", 422, "must be strings"},
	{"name an object", "POST", "/api/v1/purchases", AUTH,
	 "{\"email\":\"a@example.no\",\"name\":{}}", 422, "must be strings"},
	{"consent a string", "POST", "/api/v1/purchases", AUTH,
	 "{\"email\":\"a@example.no\",\"consent\":\"yes\"}", 422, "consent true or false"},
	{"no email", "POST", "/api/v1/purchases", AUTH, "{\"name\":\"Kari\"}", 422, "email is missing"},
	{"email null", "POST", "/api/v1/purchases", AUTH, "{\"email\":null}", 422, "email is missing"},
	{"not an address", "POST", "/api/v1/purchases", AUTH, "{\"email\":\"kari\"}", 422, "\"error\""},
	{"a bad date", "POST", "/api/v1/purchases", AUTH,
	 "{\"email\":\"a@example.no\",\"date\":\"2024-02-30\"}", 422, "\"error\""},
	{"GET on purchases", "GET", "/api/v1/purchases", AUTH, NULL, 405, "method not allowed"},
	{"no such resource", "GET", "/api/v1/nothing", AUTH, NULL, 404, "no such resource"},
	{"an unknown action", "POST", "/api/v1/subscribers/a@example.no/forget", AUTH, NULL, 404, NULL},
};

static void
run(struct api_server *a, const struct api_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct api_case *c = &cases[i];
		struct reply r;

		cr_assert(request(a->admin_port, c->method, c->path, c->headers, c->body,
				  c->body ? strlen(c->body) : 0, &r), "%s: no reply", c->name);
		cr_expect_eq(r.status, c->status, "%s: status %d, want %d (%s)", c->name, r.status,
			     c->status, r.body);
		if (c->has != NULL)
			cr_expect(strstr(r.body, c->has) != NULL, "%s: '%s' not in %s", c->name,
				  c->has, r.body);
	}
}

Test(web_api, authorisation)
{
	struct api_server a;
	struct reply r;

	start(&a);
	run(&a, authorisation, sizeof(authorisation) / sizeof(authorisation[0]));
	cr_assert(request(a.admin_port, "GET", "/metrics", NULL, NULL, 0, &r));
	cr_expect(strstr(r.head, "WWW-Authenticate: Bearer") != NULL, "a 401 names the scheme: %s",
		  r.head);
	/* A token longer than the API considers is refused without a look. */
	struct buf h;

	buf_init(&h);
	buf_adds(&h, "Authorization: Bearer ");
	for (int i = 0; i < 1100; i++)
		buf_addc(&h, 'x');
	buf_adds(&h, "\r\n");
	cr_assert(request(a.admin_port, "GET", "/metrics", h.s, NULL, 0, &r));
	cr_expect_eq(r.status, 401, "a 1,100-byte token: %d", r.status);
	buf_free(&h);
	/* Nothing was enrolled by the refused requests. */
	cr_assert(request(a.admin_port, "GET", "/api/v1/subscribers/a@example.no", AUTH, NULL, 0, &r));
	cr_expect_eq(r.status, 404, "%s", r.body);
	stop(&a);
}

Test(web_api, purchase_body_checks)
{
	struct api_server a;
	struct reply r;
	struct buf big;

	start(&a);
	run(&a, purchases, sizeof(purchases) / sizeof(purchases[0]));
	/* Over MAX_BODY_ADMIN: 413, whatever it holds. */
	buf_init(&big);
	buf_adds(&big, "{\"email\":\"a@example.no\",\"name\":\"");
	while (big.len <= MAX_BODY_ADMIN)
		buf_adds(&big, "NNNNNNNNNNNNNNNN");
	buf_adds(&big, "\"}");
	cr_assert(request(a.admin_port, "POST", "/api/v1/purchases", AUTH, big.s, big.len, &r));
	cr_expect_eq(r.status, 413, "a body over %d bytes: %d", MAX_BODY_ADMIN, r.status);
	buf_free(&big);
	/* None of the refused bodies enrolled anyone. */
	cr_assert(request(a.admin_port, "GET", "/api/v1/subscribers/a@example.no", AUTH, NULL, 0, &r));
	cr_expect_eq(r.status, 404, "%s", r.body);
	cr_expect(strstr(r.body, "no subscriber has that address") != NULL, "%s", r.body);
	stop(&a);
}

static const struct api_case lifecycle[] = {
	{"a purchase", "POST", "/api/v1/purchases", AUTH,
	 "{\"email\":\"Kari@Example.no\",\"name\":\"Kari\",\"order\":\"W-1\",\"date\":null}", 201,
	 "\"enrolled\""},
	{"the same buyer again", "POST", "/api/v1/purchases", AUTH,
	 "{\"email\":\"kari@example.no\",\"order\":\"W-2\"}", 200, "\"refreshed\""},
	{"her data", "GET", "/api/v1/subscribers/kari@example.no", AUTH, NULL, 200, "legal_basis"},
	{"restrict", "POST", "/api/v1/subscribers/kari@example.no/restrict", AUTH, NULL, 200,
	 "\"restricted\""},
	{"unrestrict", "POST", "/api/v1/subscribers/kari@example.no/unrestrict", AUTH, NULL, 200,
	 "\"active\""},
	{"unsubscribe", "POST", "/api/v1/subscribers/kari@example.no/unsubscribe", AUTH, NULL, 200,
	 "\"was_subscribed\": true"},
	{"her data, gone", "GET", "/api/v1/subscribers/kari@example.no", AUTH, NULL, 404,
	 "no subscriber has that address"},
	{"restrict, gone", "POST", "/api/v1/subscribers/kari@example.no/restrict", AUTH, NULL, 404, NULL},
	{"a purchase, suppressed", "POST", "/api/v1/purchases", AUTH,
	 "{\"email\":\"kari@example.no\"}", 200, "\"suppressed\""},
	{"a purchase with consent", "POST", "/api/v1/purchases", AUTH,
	 "{\"email\":\"kari@example.no\",\"consent\":true}", 201, "\"enrolled\""},
	{"erase", "DELETE", "/api/v1/subscribers/kari@example.no", AUTH, NULL, 200, "\"existed\": true"},
	{"erase again", "DELETE", "/api/v1/subscribers/kari@example.no", AUTH, NULL, 200,
	 "\"existed\": false"},
	{"an address too long for an action", "POST",
	 "/api/v1/subscribers/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.no/restrict",
	 AUTH, NULL, 422, "longer than 254"},
};

Test(web_api, store_answers_through_the_api)
{
	struct api_server a;
	struct reply r;

	start(&a);
	run(&a, lifecycle, sizeof(lifecycle) / sizeof(lifecycle[0]));
	cr_assert(request(a.admin_port, "GET", "/metrics", AUTH, NULL, 0, &r));
	cr_expect(strstr(r.body, "route=\"api_purchases\",status=\"201\"} 2") != NULL, "%s", r.body);
	stop(&a);
}
