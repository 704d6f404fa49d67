/*
 * web/api.c - the admin API: purchases from the shop, a subscriber's data
 * and rights, health and metrics. JSON in and out; errors are
 * {"error": "..."} with a status that says what kind.
 *
 * SECURITY: served only on [web] admin_listen, and only when a bearer token
 * file (mode 0600) is configured. The token is held as its BLAKE2b hash in
 * guarded memory; a request's token is hashed and compared in constant
 * time, whatever its length. Trusts nothing in a request body; the store
 * checks addresses, names, orders and dates itself. Never logs an address.
 *
 * A handler: server.c calls it, and it calls only what sits below it
 * (reply.c, worker.c, scrub.c, metrics.c, the store), never back into
 * server.c.
 */
#include "web_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_HASH_LEN crypto_generichash_BYTES
#define TOKEN_FILE_MAX 1024	/* bytes read from the token file */
#define AUTH_MAX 1024		/* bytes of an Authorization header considered */

unsigned char *
web_api_token_load(const char *path, char *err)
{
	char buf[TOKEN_FILE_MAX + 1];
	unsigned char *h;
	struct stat sb;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errf(err, "admin token file %s: %s", path, strerror(errno)), NULL;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return errf(err, "admin token file %s is not a regular file", path), NULL;
	}
	if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
		close(fd);
		return errf(err, "admin token file %s is readable by others (mode %03o): run 'chmod 600 %s'",
			    path, (unsigned)(sb.st_mode & 0777), path), NULL;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return errf(err, "admin token file %s: %s", path, strerror(errno)), NULL;
	if (n > TOKEN_FILE_MAX)
		return errf(err, "admin token file %s is longer than %d bytes", path, TOKEN_FILE_MAX), NULL;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	if (n < ADMIN_TOKEN_MIN || strpbrk(buf, " \t\r\n") != NULL) {
		sodium_memzero(buf, sizeof(buf));
		return errf(err, "admin token file %s: the token must be one line of at least %d characters "
			    "without spaces (e.g. 'openssl rand -hex 32')", path, ADMIN_TOKEN_MIN), NULL;
	}
	h = sodium_malloc(TOKEN_HASH_LEN);
	if (h == NULL)
		fatal("out of memory (guarded memory)");
	crypto_generichash(h, TOKEN_HASH_LEN, (unsigned char *)buf, (size_t)n, NULL, 0);
	sodium_memzero(buf, sizeof(buf));
	sodium_mprotect_readonly(h);
	return h;
}

void
web_api_token_free(unsigned char *hash)
{
	if (hash)
		sodium_free(hash);
}

bool
web_api_authorized(struct web_request *r, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	unsigned char got[TOKEN_HASH_LEN];
	size_t n;
	int same;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0 || r->srv->admin_hash == NULL)
		return false;
	h += 7;
	while (*h == ' ')
		h++;
	n = strnlen(h, AUTH_MAX + 1);
	if (n == 0 || n > AUTH_MAX)
		return false;
	/* Hashing first makes the comparison independent of the length. */
	crypto_generichash(got, sizeof(got), (const unsigned char *)h, n, NULL, 0);
	same = sodium_memcmp(got, r->srv->admin_hash, TOKEN_HASH_LEN) == 0;
	sodium_memzero(got, sizeof(got));
	return same;
}

/* The HTTP status of a store failure on the API. */
static unsigned
store_http(enum store_status s)
{
	static const unsigned map[] = {
		[STORE_OK] = MHD_HTTP_OK,
		[STORE_NOTFOUND] = MHD_HTTP_NOT_FOUND,
		[STORE_SUPPRESSED] = MHD_HTTP_CONFLICT,
		[STORE_EXISTS] = MHD_HTTP_CONFLICT,
		[STORE_INVALID] = MHD_HTTP_UNPROCESSABLE_CONTENT,
		[STORE_BUSY] = MHD_HTTP_SERVICE_UNAVAILABLE,
		[STORE_ERROR] = MHD_HTTP_SERVICE_UNAVAILABLE,
	};

	return map[s];
}

static enum MHD_Result
store_error(struct web_request *r, struct MHD_Connection *c, enum store_status s, const char *err)
{
	if (s == STORE_BUSY || s == STORE_ERROR)
		log_warn("admin API: %s", err);
	return web_reply_error(r, c, store_http(s), err);
}

/* The store of this thread, or a 503 reply. */
#define NEED_STORE(st, r, c, err) \
	do { \
		if (((st) = web_worker_store((r)->srv, (err))) == NULL) { \
			log_warn("%s", (err)); \
			return web_reply_error((r), (c), MHD_HTTP_SERVICE_UNAVAILABLE, \
						 "the database is unreachable: try again"); \
		} \
	} while (0)

/* A string member of the purchase, NULL when absent or null; -1 if not a string. */
static int
opt_string(json_t *o, const char *key, const char **out)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}

/*
 * The store for a body @o that passed its checks but the last: a reply of
 * @bad when @email is missing, or 503 when the store is unreachable. On
 * either, @o is released, *@ret holds the reply and NULL is returned.
 */
static struct store *
body_store(struct web_request *r, struct MHD_Connection *c, json_t *o, const char *email,
	   unsigned int bad, enum MHD_Result *ret, char *err)
{
	struct store *st;

	if (email == NULL) {
		json_decref(o);
		*ret = web_reply_error(r, c, bad, "email is missing");
		return NULL;
	}
	if ((st = web_worker_store(r->srv, err)) == NULL) {
		json_decref(o);
		log_warn("%s", err);
		*ret = web_reply_error(r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
				       "the database is unreachable: try again");
	}
	return st;
}

enum MHD_Result
web_api_purchases(struct web_request *r, struct MHD_Connection *c, const char *method)
{
	static const char *const fields[] = {"email", "name", "order", "date", "consent"};
	struct purchase p = {.source = "api"};
	enum enroll_result res;
	enum MHD_Result ret;
	char err[ERR_LEN], msg[ERR_LEN + 64];
	json_error_t jerr;
	struct store *st;
	enum store_status s;
	const char *key;
	json_t *o, *v;
	int64_t id = 0;

	(void)method;
	o = json_loadb(r->body.s ? r->body.s : "", r->body.len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL) {
		/* jansson's text is at most JSON_ERROR_TEXT_LENGTH: it fits, or we say less. */
		if (fmt(msg, sizeof(msg), "the body is not JSON: %s (line %d)", jerr.text,
			jerr.line) < 0 &&
		    fmt(msg, sizeof(msg), "the body is not JSON (line %d)", jerr.line) < 0)
			return web_reply_error(r, c, MHD_HTTP_UNPROCESSABLE_CONTENT,
					       "the body is not JSON");
		return web_reply_error(r, c, MHD_HTTP_UNPROCESSABLE_CONTENT, msg);
	}
	if (!json_is_object(o)) {
		json_decref(o);
		return web_reply_error(r, c, MHD_HTTP_UNPROCESSABLE_CONTENT,
				       "the body must be a JSON object {\"email\", \"name\", \"order\", \"date\"}");
	}
	json_object_foreach(o, key, v) {
		bool known = false;

		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			known |= strcmp(key, fields[i]) == 0;
		if (!known) {
			json_decref(o);
			return web_reply_error(r, c, MHD_HTTP_UNPROCESSABLE_CONTENT,
					       "unknown field (known: email, name, order, date, consent)");
		}
	}
	v = json_object_get(o, "consent");
	if (opt_string(o, "email", &p.email) < 0 || opt_string(o, "name", &p.name) < 0 ||
	    opt_string(o, "order", &p.order) < 0 || opt_string(o, "date", &p.date) < 0 ||
	    (v != NULL && !json_is_boolean(v))) {
		json_decref(o);
		return web_reply_error(r, c, MHD_HTTP_UNPROCESSABLE_CONTENT,
				       "email, name, order and date must be strings, consent true or false");
	}
	p.consent = json_is_true(v);
	if ((st = body_store(r, c, o, p.email, MHD_HTTP_UNPROCESSABLE_CONTENT, &ret, err)) == NULL)
		return ret;
	web_worker_write_begin(r->srv);
	s = store_enroll(st, &p, &res, &id, err);
	web_worker_write_end(r->srv);
	json_decref(o);
	if (s == STORE_SUPPRESSED)
		res = ENROLL_SUPPRESSED;	/* not an error for the shop */
	else if (s != STORE_OK)
		return store_error(r, c, s, err);
	switch (res) {
	case ENROLL_NEW:
		atomic_fetch_add(&r->srv->metrics.enrol_new, 1);
		return web_reply_json(r, c, MHD_HTTP_CREATED,
				      json_pack("{s:s, s:I}", "result", "enrolled", "id", (json_int_t)id));
	case ENROLL_REFRESHED:
		atomic_fetch_add(&r->srv->metrics.enrol_refreshed, 1);
		return web_reply_json(r, c, MHD_HTTP_OK,
				      json_pack("{s:s, s:I}", "result", "refreshed", "id", (json_int_t)id));
	default:
		atomic_fetch_add(&r->srv->metrics.enrol_suppressed, 1);
		return web_reply_json(r, c, MHD_HTTP_OK,
				      json_pack("{s:s, s:s}", "result", "suppressed", "detail",
						"not enrolled: the address is on the suppression list "
						"(unsubscribed or reported dead); send \"consent\": true "
						"for an explicit new opt-in"));
	}
}

/*
 * POST /api/v1/signups {"email", "name"}: the shop's "send me the
 * newsletter" box. Starts the same double opt-in as the form (channel api,
 * the consent text of [list] language): nothing is enrolled until the
 * person confirms from the mail. 202 whether a mail is queued now or one
 * went out within [signup] resend_hours; 503 when max_pending is reached.
 */
enum MHD_Result
web_api_signups(struct web_request *r, struct MHD_Connection *c)
{
	const struct config *cfg = r->srv->cfg;
	enum web_lang l = r->srv->lang;
	struct signup sg = {
		.lang = web_page_lang_tag(l),
		.consent_text = web_signup_consent(cfg, l),
		.channel = SIGNUP_API,
		.confirm_hours = cfg->signup.confirm_hours,
		.resend_hours = cfg->signup.resend_hours,
		.max_pending = cfg->signup.max_pending,
	};
	enum signup_outcome out;
	enum MHD_Result ret;
	char err[ERR_LEN];
	json_error_t jerr;
	struct store *st;
	enum store_status s;
	const char *key;
	json_t *o, *v;

	o = json_loadb(r->body.s ? r->body.s : "", r->body.len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		return web_reply_error(r, c, MHD_HTTP_BAD_REQUEST,
				       "the body must be a JSON object {\"email\", \"name\"}");
	}
	json_object_foreach(o, key, v) {
		if (strcmp(key, "email") != 0 && strcmp(key, "name") != 0) {
			json_decref(o);
			return web_reply_error(r, c, MHD_HTTP_BAD_REQUEST,
					       "unknown field (known: email, name)");
		}
	}
	if (opt_string(o, "email", &sg.email) < 0 || opt_string(o, "name", &sg.name) < 0) {
		json_decref(o);
		return web_reply_error(r, c, MHD_HTTP_BAD_REQUEST, "email and name must be strings");
	}
	if ((st = body_store(r, c, o, sg.email, MHD_HTTP_BAD_REQUEST, &ret, err)) == NULL)
		return ret;
	web_worker_write_begin(r->srv);
	s = store_signup_request(st, &sg, &out, err);
	web_worker_write_end(r->srv);
	json_decref(o);
	if (s == STORE_INVALID)
		return web_reply_error(r, c, MHD_HTTP_BAD_REQUEST, err);
	if (s != STORE_OK)
		return store_error(r, c, s, err);
	if (out == SIGNUP_FULL) {
		atomic_fetch_add(&r->srv->metrics.signups_full, 1);
		log_warn("API signup not recorded: [signup] max_pending (%d) pending signups are "
			 "waiting for confirmation", cfg->signup.max_pending);
		return web_reply_error(r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
				       "too many signups wait for confirmation ([signup] max_pending): "
				       "try again later");
	}
	atomic_fetch_add(out == SIGNUP_QUEUED ? &r->srv->metrics.signups
					      : &r->srv->metrics.signups_throttled, 1);
	return web_reply_json(r, c, MHD_HTTP_ACCEPTED,
			      json_pack("{s:s, s:s}", "result", "pending",
					"detail", out == SIGNUP_QUEUED
					? "a confirmation mail is on its way; nothing is enrolled until it is confirmed"
					: "a confirmation mail went out recently and is not sent again yet; "
					  "nothing is enrolled until it is confirmed"));
}

enum MHD_Result
web_api_subscriber(struct web_request *r, struct MHD_Connection *c, const char *method)
{
	const char *email = r->rest;
	struct subscriber sub;
	char err[ERR_LEN];
	struct store *st;
	enum store_status s;
	json_t *o;

	NEED_STORE(st, r, c, err);
	if (strcmp(method, MHD_HTTP_METHOD_DELETE) == 0) {
		const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "suppress");
		bool suppress = q != NULL && (strcmp(q, "1") == 0 || strcmp(q, "true") == 0);
		bool existed;

		web_worker_write_begin(r->srv);
		s = store_erase(st, email, suppress, "api", &existed, err);
		web_worker_write_end(r->srv);
		if (s != STORE_OK)
			return store_error(r, c, s, err);
		web_scrub_note(&r->srv->scrub);
		return web_reply_json(r, c, MHD_HTTP_OK,
				      json_pack("{s:s, s:b, s:b}", "result", "erased", "existed", existed,
						"suppressed", suppress));
	}
	s = store_subscriber_find(st, email, &sub, err);
	sodium_memzero(&sub, sizeof(sub));
	if (s != STORE_OK)
		return store_error(r, c, s, s == STORE_NOTFOUND ? "no subscriber has that address" : err);
	s = store_export(st, email, r->srv->cfg->list.name, &o, err);
	if (s != STORE_OK)
		return store_error(r, c, s, err);
	return web_reply_json(r, c, MHD_HTTP_OK, o);
}

enum MHD_Result
web_api_subscriber_action(struct web_request *r, struct MHD_Connection *c, const char *method)
{
	const char *slash = strrchr(r->rest, '/');
	const char *action = slash + 1;
	char email[ADDR_MAX * 3 + 1], err[ERR_LEN];
	size_t n = (size_t)(slash - r->rest);
	struct subscriber sub;
	struct store *st;
	enum store_status s;
	bool was = false;

	(void)method;
	if (n >= sizeof(email))
		return web_reply_error(r, c, MHD_HTTP_UNPROCESSABLE_CONTENT,
				       "invalid address: longer than 254 characters");
	memcpy(email, r->rest, n);
	email[n] = '\0';
	NEED_STORE(st, r, c, err);
	web_worker_write_begin(r->srv);
	if (strcmp(action, "unsubscribe") == 0)
		s = store_unsubscribe(st, email, "api", &was, err);
	else
		s = store_restrict(st, email, strcmp(action, "restrict") == 0, "api", err);
	web_worker_write_end(r->srv);
	if (s != STORE_OK)
		return store_error(r, c, s, s == STORE_NOTFOUND ? "no subscriber has that address" : err);
	if (strcmp(action, "unsubscribe") == 0) {
		if (was) {
			atomic_fetch_add(&r->srv->metrics.unsubscribes, 1);
			web_scrub_note(&r->srv->scrub);
		}
		return web_reply_json(r, c, MHD_HTTP_OK,
				      json_pack("{s:s, s:b}", "result", "unsubscribed", "was_subscribed", was));
	}
	s = store_subscriber_find(st, email, &sub, err);
	if (s != STORE_OK)
		return store_error(r, c, s, err);
	sodium_memzero(sub.email, sizeof(sub.email));
	return web_reply_json(r, c, MHD_HTTP_OK,
			      json_pack("{s:I, s:s}", "id", (json_int_t)sub.id,
					"state", store_state_name(sub.state)));
}

enum MHD_Result
web_api_healthz(struct web_request *r, struct MHD_Connection *c)
{
	char err[ERR_LEN];
	struct store *st = web_worker_store(r->srv, err);
	bool ok = st != NULL && store_schema_version(st) > 0;
	char *body = xstrdup(ok ? "ok\n" : "unavailable: the database cannot be read\n");

	if (!ok)
		log_warn("health check: %s", st == NULL ? err : "the database cannot be read");
	return web_reply(r, c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
			 "text/plain; charset=utf-8", body, strlen(body));
}

enum MHD_Result
web_api_metrics(struct web_request *r, struct MHD_Connection *c)
{
	struct store_stats stats;
	char err[ERR_LEN];
	struct store *st = web_worker_store(r->srv, err);
	bool have = st != NULL && store_stats(st, &stats, err) == STORE_OK;
	unsigned long requests[ROUTE_COUNT][METRICS_STATUSES] = {{0}};
	struct buf b;

	buf_init(&b);
	web_workers_counts(r->srv, requests);
	web_metrics_render(&r->srv->metrics, requests, have ? &stats : NULL, &b);
	if (b.s == NULL)
		buf_adds(&b, "");
	return web_reply(r, c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.s, b.len);
}
