/*
 * web/unsub.c - the unsubscribe pages and RFC 8058 one-click POST.
 *
 * A GET (or HEAD) never changes the store: link scanners and prefetchers
 * fetch it. A POST with a valid token unsubscribes, whatever its body: the
 * page's button, a mail client's "List-Unsubscribe=One-Click" (urlencoded
 * or multipart), or nothing at all; the answer is a 200 page, never a
 * redirect (RFC 8058). A token of someone already gone gets "you are
 * unsubscribed". A bad or forged token gets a 400 page after the same work
 * as a good one (the check is constant-time and a lookup is made anyway).
 * The data access button posts a token of its own purpose; a GET never
 * shows personal data. A token carries the address generation it was made
 * for: after 'rectify' an older link answers as for a subscriber who is
 * gone, so that whoever holds the old mailbox learns nothing of the new.
 *
 * Trusts nothing in the request. Never logs or shows a token or an
 * address (the page shows the address masked).
 *
 * A handler: server.c calls it, and it calls only what sits below it
 * (reply.c, worker.c, writer.c, the store), never back into server.c.
 */
#include "web_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Verifies the token of the path for @purpose; -1 when it is not valid. */
static int
verify(struct web_request *r, struct store *st, enum token_purpose purpose, struct token_claims *tc)
{
	int ok = store_token_verify(r->srv->keys, r->rest, purpose, tc);

	if (ok < 0 && st != NULL) {
		/* The same lookup a valid token costs, for the same timing. */
		char email[ADDR_MAX + 1], err[ERR_LEN];

		store_subscriber_email(st, 0, 0, email, err);
	}
	return ok;
}

enum MHD_Result
web_unsub_get(struct web_request *r, struct MHD_Connection *c)
{
	const struct config *cfg = r->srv->cfg;
	char masked[ADDR_MAX + 8], access[TOKEN_LEN + 1], err[ERR_LEN];
	struct web_page_args a = {.list = cfg->list.name, .masked = masked, .access = access};
	char email[ADDR_MAX + 1];
	struct store *st = web_worker_snapshot(r->srv, err);
	struct token_claims tc, atc;
	enum store_status s;
	enum MHD_Result ret;
	int64_t id;

	if (verify(r, st, TOKEN_UNSUBSCRIBE, &tc) < 0)
		return web_reply_page(r, c, MHD_HTTP_BAD_REQUEST, PAGE_INVALID, NULL);
	if (st == NULL) {
		log_warn("%s", err);
		return web_reply_page(r, c, MHD_HTTP_SERVICE_UNAVAILABLE, PAGE_UNAVAILABLE, NULL);
	}
	id = tc.subscriber;
	s = store_subscriber_email(st, id, tc.gen, email, err);
	if (s != STORE_OK) {
		/*
		 * The snapshot may be older than another process's enrolment:
		 * "you are unsubscribed", or an error, only from a fresh look.
		 */
		web_worker_snapshot_renew(r->srv);
		s = store_subscriber_email(st, id, tc.gen, email, err);
	}
	if (s == STORE_NOTFOUND)
		return web_reply_page(r, c, MHD_HTTP_OK, PAGE_ALREADY, NULL);
	if (s != STORE_OK) {
		log_warn("subscriber %lld: %s", (long long)id, err);
		return web_reply_page(r, c, MHD_HTTP_SERVICE_UNAVAILABLE, PAGE_UNAVAILABLE, NULL);
	}
	addr_mask(email, masked, sizeof(masked));
	atc = (struct token_claims){.subscriber = id, .gen = tc.gen};
	if (store_token_make(r->srv->keys, TOKEN_ACCESS, &atc, access) < 0) {
		sodium_memzero(email, sizeof(email));
		log_warn("subscriber %lld: no data access link can name them", (long long)id);
		return web_reply_page(r, c, MHD_HTTP_SERVICE_UNAVAILABLE, PAGE_UNAVAILABLE, NULL);
	}
	sodium_memzero(email, sizeof(email));
	ret = web_reply_page(r, c, MHD_HTTP_OK, PAGE_CONFIRM, &a);
	sodium_memzero(masked, sizeof(masked));
	return ret;
}

enum MHD_Result
web_unsub_post(struct web_request *r, struct MHD_Connection *c)
{
	struct web_server *srv = r->srv;
	struct web_writer_job *j = &r->job;
	char err[ERR_LEN];
	struct store *st;
	struct token_claims tc;

	if (r->queued) {
		/* Called again after writer.c committed the job and resumed us. */
		if (j->status != STORE_OK) {
			log_warn("unsubscribing subscriber %lld: %s", (long long)j->id, j->err);
			return web_reply_page(r, c, MHD_HTTP_SERVICE_UNAVAILABLE, PAGE_UNAVAILABLE, NULL);
		}
		return web_reply_page(r, c, MHD_HTTP_OK, j->was ? PAGE_DONE : PAGE_ALREADY, NULL);
	}
	/* The body is not read: any POST with a valid token unsubscribes. */
	st = web_worker_store(srv, err);
	if (verify(r, st, TOKEN_UNSUBSCRIBE, &tc) < 0)
		return web_reply_page(r, c, MHD_HTTP_BAD_REQUEST, PAGE_INVALID, NULL);
	return web_writer_queue(r, c, JOB_UNSUBSCRIBE, &tc);
}

/* The data page's form: format=json asks for the file. */
static void
data_field(void *cls, const char *key, const char *value)
{
	if (strcmp(key, "format") == 0)
		*(bool *)cls = strcmp(value, "json") == 0;
}

#define DATA_FIELD_MAX 64	/* bytes of a field of the data page's form */

/* The export as a download, for GDPR art. 20: no address in its name. */
static enum MHD_Result
data_json(struct web_request *r, struct MHD_Connection *c, json_t *o)
{
	char day[DATE_LEN], name[64];
	struct buf b;

	web_json_text(o, &b);
	date_today(day);
	if (fmt(name, sizeof(name), "newsletter-data-%s.json", day) < 0)
		memcpy(name, "newsletter-data.json", sizeof("newsletter-data.json"));
	return web_reply_download(r, c, "application/json", b.s, b.len, name);
}

enum MHD_Result
web_unsub_data(struct web_request *r, struct MHD_Connection *c)
{
	const struct config *cfg = r->srv->cfg;
	char err[ERR_LEN];
	struct store *st = web_worker_store(r->srv, err);
	struct subscriber sub;
	struct token_claims tc;
	enum store_status s;
	bool want_json = false;
	size_t len;
	char *page;
	json_t *o;
	int64_t id;

	/* A body that is no form asks for nothing more than the page. */
	if (web_form_read(r, c, DATA_FIELD_MAX, data_field, &want_json, err) < 0)
		want_json = false;
	if (verify(r, st, TOKEN_ACCESS, &tc) < 0)
		return web_reply_page(r, c, MHD_HTTP_BAD_REQUEST, PAGE_INVALID, NULL);
	if (st == NULL) {
		log_warn("%s", err);
		return web_reply_page(r, c, MHD_HTTP_SERVICE_UNAVAILABLE, PAGE_UNAVAILABLE, NULL);
	}
	id = tc.subscriber;
	s = store_subscriber_get(st, id, &sub, err);
	if (s == STORE_OK && sub.gen != tc.gen)
		s = STORE_NOTFOUND;	/* a link to an address they no longer have */
	if (s == STORE_OK)
		s = store_export(st, sub.email, cfg->list.name, &o, err);
	sodium_memzero(&sub, sizeof(sub));
	if (s == STORE_NOTFOUND)
		return web_reply_page(r, c, MHD_HTTP_OK, PAGE_NO_DATA, NULL);
	if (s != STORE_OK) {
		log_warn("data access for subscriber %lld: %s", (long long)id, err);
		return web_reply_page(r, c, MHD_HTTP_SERVICE_UNAVAILABLE, PAGE_UNAVAILABLE, NULL);
	}
	if (want_json)
		return data_json(r, c, o);
	page = web_data_page(o, web_reply_lang(r, c), cfg->list.name, &len);
	json_decref(o);
	return web_reply(r, c, MHD_HTTP_OK, "text/html; charset=utf-8", page, len);
}
