/*
 * web/reply.c - the replies of every handler: a page in the reader's
 * language, JSON, plain text; with the security headers every reply
 * carries.
 *
 * Below the handlers (unsub.c, api.c) and called by the daemons
 * (server.c) for refusals: it calls neither and knows no route. Queues a
 * reply on the connection it is given and records its status in the
 * request; writes nothing to the store and logs nothing (server.c logs
 * each request once it is complete).
 */
#include "web_int.h"

#include <stdlib.h>
#include <string.h>

/* Queues a reply of @body, which MHD frees (MUST_FREE) or which outlives it (PERSISTENT). */
static enum MHD_Result
reply(struct web_request *r, struct MHD_Connection *c, unsigned status, const char *ctype,
      void *body, size_t len, enum MHD_ResponseMemoryMode mode, const char *disposition)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	bool html = strncmp(ctype, "text/html", 9) == 0;

	resp = MHD_create_response_from_buffer(len, body, mode);
	if (resp == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	/*
	 * Every header costs an allocation or three in libmicrohttpd, on every
	 * request: these are the ones the pages need. The language is in
	 * <html lang>, so no Content-Language.
	 */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Content-Security-Policy",
				html ? r->srv->csp : "default-src 'none'; frame-ancestors 'none'; sandbox");
	if (html)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Language");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED && r->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"newsletter admin\"");
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
	if (status == MHD_HTTP_TOO_MANY_REQUESTS)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "3600");	/* the limit's hour */
	if (disposition != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disposition);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES)
		r->status = status;
	return ret;
}

enum MHD_Result
web_reply(struct web_request *r, struct MHD_Connection *c, unsigned status,
	  const char *ctype, char *body, size_t len)
{
	return reply(r, c, status, ctype, body, len, MHD_RESPMEM_MUST_FREE, NULL);
}

enum web_lang
web_reply_lang(struct web_request *r, struct MHD_Connection *c)
{
	return web_page_lang(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_ACCEPT_LANGUAGE),
			     r->srv->lang);
}

enum MHD_Result
web_reply_page(struct web_request *r, struct MHD_Connection *c, unsigned status,
	       enum web_page_kind kind, const struct web_page_args *a)
{
	static const char html[] = "text/html; charset=utf-8";
	const struct web_page_cache *pc = &r->srv->pages;
	enum web_lang l = web_reply_lang(r, c);
	size_t len;

	if (kind == PAGE_CONFIRM) {
		char *body = web_page_confirm(pc, l, a->masked, a->access, &len);

		return reply(r, c, status, html, body, len, MHD_RESPMEM_MUST_FREE, NULL);
	}
	/* Made when the server started; it outlives every response. */
	const char *page = web_page_cached(pc, kind, l, &len);

	return reply(r, c, status, html, (void *)page, len, MHD_RESPMEM_PERSISTENT, NULL);
}

enum MHD_Result
web_reply_signup(struct web_request *r, struct MHD_Connection *c, unsigned status,
		 enum web_signup_page kind, const struct web_signup_args *a)
{
	static const char html[] = "text/html; charset=utf-8";
	enum web_lang l = web_reply_lang(r, c);
	size_t len;

	if (a != NULL) {
		char *body = web_page_signup(kind, l, a, &len);

		return reply(r, c, status, html, body, len, MHD_RESPMEM_MUST_FREE, NULL);
	}
	/* Made when the server started; it outlives every response. */
	const char *page = web_page_signup_cached(&r->srv->pages, kind, l, &len);

	return reply(r, c, status, html, (void *)page, len, MHD_RESPMEM_PERSISTENT, NULL);
}

enum MHD_Result
web_reply_download(struct web_request *r, struct MHD_Connection *c, const char *ctype, char *body,
		   size_t len, const char *filename)
{
	char disposition[128];

	/* Our own names (data.c's): they fit; if not, the body still goes, inline. */
	if (fmt(disposition, sizeof(disposition), "attachment; filename=\"%s\"", filename) < 0)
		return reply(r, c, MHD_HTTP_OK, ctype, body, len, MHD_RESPMEM_MUST_FREE, NULL);
	return reply(r, c, MHD_HTTP_OK, ctype, body, len, MHD_RESPMEM_MUST_FREE, disposition);
}

void
web_json_text(json_t *o, struct buf *b)
{
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(o);
	if (s == NULL)
		fatal("out of memory (JSON)");
	buf_init(b);
	buf_adds(b, s);
	buf_addc(b, '\n');
	free(s);
}

enum MHD_Result
web_reply_json(struct web_request *r, struct MHD_Connection *c, unsigned status, json_t *o)
{
	struct buf b;

	web_json_text(o, &b);
	return web_reply(r, c, status, "application/json", b.s, b.len);
}

enum MHD_Result
web_reply_error(struct web_request *r, struct MHD_Connection *c, unsigned status,
		const char *msg)
{
	return web_reply_json(r, c, status, json_pack("{s:s}", "error", msg));
}
