/*
 * web/signup.c - the signup form and its confirmation link: double opt-in
 * for people who bought nothing (DESIGN.md, "Signup").
 *
 * POST /subscribe answers every valid address with the same page, in the
 * same time, whatever the store knows of it (new, pending, subscribed,
 * suppressed): the store does the same work for all, through the writer
 * thread, and the reply waits for its commit. Only an address that is not
 * one (400), a filled honeypot (the same 200, nothing recorded) and the
 * per-client limit (429) answer otherwise, and none of them depends on the
 * store. A GET of the confirmation link changes nothing (scanners fetch
 * it) but reads whether the link still works: a button for a pending or
 * confirmed signup, the 400 page for one expired or deleted; its POST
 * enrols, through the writer too.
 *
 * The per-client limit is kept in memory only: a fixed table of keyed
 * hashes (SipHash, a key made at start and never written anywhere) of the
 * client's address, with a counter for the current hour. The address
 * itself is never stored, logged or kept; the table's size bounds memory
 * whatever the number of clients.
 *
 * Trusts nothing in the request. Never logs an address, a name or a token.
 * A handler: server.c calls it, and it calls only what sits below it
 * (reply.c, page.c, worker.c, writer.c, the store).
 */
#include "web_int.h"

#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FORM_FIELD_MAX 1024	/* bytes of one form field */

/* --- the per-client limit --- */

struct rate_slot {
	uint64_t key;		/* keyed hash of the client address; 0: free */
	uint32_t hour;		/* the clock hour counted */
	uint32_t count;
};

struct web_rate {
	pthread_mutex_t mu;
	unsigned char key[crypto_shorthash_KEYBYTES];
	struct rate_slot slot[RATE_SLOTS];
};

/* The keyed hash of the client's address: IPv4 whole, IPv6 by its /64. */
static uint64_t
client_key(const struct web_rate *rt, const struct sockaddr *sa)
{
	unsigned char h[crypto_shorthash_BYTES];
	const unsigned char *p = (const unsigned char *)"";
	size_t n = 0;
	uint64_t k;

	if (sa != NULL && sa->sa_family == AF_INET) {
		p = (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		n = 4;
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		/* One host commonly holds a whole /64: count it as one client. */
		p = (const unsigned char *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		n = 8;
	}
	crypto_shorthash(h, p, n, rt->key);
	memcpy(&k, h, sizeof(k));
	return k != 0 ? k : 1;
}

struct web_rate *
web_rate_new(void)
{
	struct web_rate *rt = xcalloc(1, sizeof(*rt));

	pthread_mutex_init(&rt->mu, NULL);
	crypto_shorthash_keygen(rt->key);
	return rt;
}

void
web_rate_free(struct web_rate *rt)
{
	if (rt == NULL)
		return;
	pthread_mutex_destroy(&rt->mu);
	sodium_memzero(rt, sizeof(*rt));
	free(rt);
}

/*
 * A full table gives up the slot that has counted least this hour: memory
 * stays bounded, and an attacker who floods the table with many addresses
 * only frees the least active.
 */
bool
web_rate_count(struct web_rate *rt, const struct sockaddr *sa, uint32_t hour, uint32_t limit)
{
	struct rate_slot *s, *take = NULL;
	uint64_t k = client_key(rt, sa);
	bool ok;

	pthread_mutex_lock(&rt->mu);
	for (unsigned i = 0; i < RATE_PROBE; i++) {
		s = &rt->slot[(k + i) % RATE_SLOTS];
		if (s->key == k) {
			take = s;
			break;
		}
		if (s->key == 0 || s->hour != hour) {
			if (take == NULL || take->hour == hour)
				take = s;
		} else if (take == NULL || (take->hour == hour && s->count < take->count)) {
			take = s;
		}
	}
	if (take->key != k || take->hour != hour) {
		take->key = k;
		take->hour = hour;
		take->count = 0;
	}
	if (take->count < UINT32_MAX)
		take->count++;
	ok = take->count <= limit;
	pthread_mutex_unlock(&rt->mu);
	return ok;
}

size_t
web_rate_used(struct web_rate *rt, uint32_t hour)
{
	size_t n = 0;

	pthread_mutex_lock(&rt->mu);
	for (size_t i = 0; i < RATE_SLOTS; i++)
		n += rt->slot[i].key != 0 && rt->slot[i].hour == hour;
	pthread_mutex_unlock(&rt->mu);
	return n;
}

/* Counts a request of the client on @c; whether it is within [signup]
 * client_hourly for this clock hour. */
static bool
rate_allow(struct web_server *srv, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i;

	if (srv->rate == NULL)
		return true;
	i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	return web_rate_count(srv->rate, i != NULL ? i->client_addr : NULL,
			      (uint32_t)(time(NULL) / 3600), (uint32_t)srv->cfg->signup.client_hourly);
}

void
web_signup_init(struct web_server *srv)
{
	const struct config *cfg = srv->cfg;
	const char *consent[LANG_COUNT] = {
		[LANG_EN] = web_signup_consent(cfg, LANG_EN),
		[LANG_NB] = web_signup_consent(cfg, LANG_NB),
	};

	if (!cfg->signup.enabled)
		return;
	web_page_cache_signup(&srv->pages, cfg->list.name, consent);
	if (cfg->signup.client_hourly > 0) {
		srv->rate = web_rate_new();
	}
}

void
web_signup_free(struct web_server *srv)
{
	web_rate_free(srv->rate);
	srv->rate = NULL;
}

const char *
web_signup_consent(const struct config *cfg, enum web_lang l)
{
	const char *t = l == LANG_NB ? cfg->signup.consent_text_nb : cfg->signup.consent_text_en;

	return t != NULL ? t : "";
}

/* --- the form's reasons, in the reader's language --- */

/*
 * lib's and the store's reasons are English sentences for the CLI's
 * operator; a reader of the form gets one of these instead, in their
 * language. Only the few things a person can act on are told apart.
 */
static const char *const reasons[REASON_COUNT][LANG_COUNT] = {
	[REASON_EMPTY] = {"Please enter your e-mail address.", "Skriv inn e-postadressen din."},
	[REASON_TOO_LONG] = {"This e-mail address is too long.", "E-postadressen er for lang."},
	[REASON_NO_AT] = {"An e-mail address has an @ between the name and the domain, "
			  "as in kari@example.no.",
			  "En e-postadresse har @ mellom navnet og domenet, som i kari@example.no."},
	[REASON_MANY_AT] = {"An e-mail address has only one @.", "En e-postadresse har bare én @."},
	[REASON_BARE] = {"Please enter the address alone, without a name or angle brackets.",
			 "Skriv bare adressen, uten navn eller vinkelparenteser."},
	[REASON_DOMAIN] = {"The part after the @ is not a valid domain (such as example.no).",
			   "Delen etter @ er ikke et gyldig domene (som example.no)."},
	[REASON_LOCAL] = {"The part before the @ has characters or dots that an address "
			  "cannot have.",
			  "Delen før @ har tegn eller punktum som en adresse ikke kan ha."},
	[REASON_ADDRESS] = {"This is not a valid e-mail address.", "Dette er ikke en gyldig e-postadresse."},
	[REASON_NAME] = {"The name has characters that cannot be used, or is too long.",
			 "Navnet har tegn som ikke kan brukes, eller er for langt."},
	[REASON_FORM] = {"The form could not be read; please fill it in again.",
			 "Skjemaet kunne ikke leses. Fyll det ut på nytt."},
};

enum web_form_reason
web_signup_reason_of(const char *why)
{
	if (why == NULL)
		return REASON_ADDRESS;
	if (strncmp(why, "the name ", 9) == 0)
		return REASON_NAME;
	if (strstr(why, "address is empty") != NULL)
		return REASON_EMPTY;
	if (strstr(why, "is longer than") != NULL)
		return REASON_TOO_LONG;
	if (strstr(why, "has no '@'") != NULL)
		return REASON_NO_AT;
	if (strstr(why, "more than one '@'") != NULL)
		return REASON_MANY_AT;
	if (strstr(why, "bare address") != NULL)
		return REASON_BARE;
	if (strstr(why, "domain") != NULL)
		return REASON_DOMAIN;
	if (strstr(why, "local part") != NULL)
		return REASON_LOCAL;
	return REASON_ADDRESS;
}

const char *
web_signup_reason(enum web_form_reason why, enum web_lang l)
{
	if ((unsigned)why >= REASON_COUNT || (unsigned)l >= LANG_COUNT)
		why = REASON_ADDRESS, l = LANG_EN;
	return reasons[why][l];
}

/* --- form bodies --- */

struct form_read {
	size_t max;
	struct buf key, value;	/* the field being read */
	bool over;
	char *err;
	void (*fn)(void *, const char *, const char *);
	void *cls;
};

/* The field read so far is whole: hand it over. */
static void
form_flush(struct form_read *f)
{
	if (f->key.s != NULL && !f->over)
		f->fn(f->cls, f->key.s, f->value.s != NULL ? f->value.s : "");
	buf_reset(&f->key);
	buf_reset(&f->value);
}

/* libmicrohttpd's post processor: a field comes in pieces (@off > 0 goes on). */
static enum MHD_Result
form_piece(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
	   const char *ctype, const char *encoding, const char *data, uint64_t off, size_t size)
{
	struct form_read *f = cls;

	(void)kind, (void)filename, (void)ctype, (void)encoding;
	if (key == NULL)
		return MHD_YES;	/* a multipart part without a name: no field of ours */
	if (off == 0 || f->key.s == NULL || strcmp(f->key.s, key) != 0) {
		form_flush(f);
		buf_adds(&f->key, key);
		buf_adds(&f->value, "");
	}
	if (f->value.len + size > f->max) {
		if (!f->over)
			errf(f->err, "the field '%.40s' is longer than %zu bytes", key, f->max);
		f->over = true;
		return MHD_YES;
	}
	buf_add(&f->value, data, size);
	return MHD_YES;
}

int
web_form_read(struct web_request *r, struct MHD_Connection *c, size_t max,
	      void (*fn)(void *cls, const char *key, const char *value), void *cls, char *err)
{
	struct form_read f = {.max = max, .err = err, .fn = fn, .cls = cls};
	struct MHD_PostProcessor *pp;
	enum MHD_Result ok;

	if (r->body.len == 0)
		return 0;	/* no fields: a button without a name */
	pp = MHD_create_post_processor(c, 1024, form_piece, &f);
	if (pp == NULL)
		return errf(err, "the form must be sent as application/x-www-form-urlencoded "
			    "or multipart/form-data");
	buf_init(&f.key);
	buf_init(&f.value);
	ok = MHD_post_process(pp, r->body.s, r->body.len);
	if (MHD_destroy_post_processor(pp) != MHD_YES)
		ok = MHD_NO;	/* a multipart body cut short */
	if (ok == MHD_YES)
		form_flush(&f);
	if (f.value.s != NULL)
		sodium_memzero(f.value.s, f.value.len);
	buf_free(&f.key);
	buf_free(&f.value);
	if (f.over)
		return -1;
	if (ok != MHD_YES)
		return errf(err, "the form's body is malformed");
	return 0;
}

/* --- the handlers --- */

struct signup_form {
	struct buf email, name;
	bool honeypot;		/* the hidden field was filled: a robot */
};

static void
signup_field(void *cls, const char *key, const char *value)
{
	struct signup_form *f = cls;

	if (strcmp(key, "email") == 0) {
		buf_reset(&f->email);
		buf_adds(&f->email, value);
	} else if (strcmp(key, "name") == 0) {
		buf_reset(&f->name);
		buf_adds(&f->name, value);
	} else if (strcmp(key, SIGNUP_HONEYPOT) == 0 && *value != '\0') {
		f->honeypot = true;
	}
}

static void
signup_form_free(struct signup_form *f)
{
	if (f->email.s != NULL)
		sodium_memzero(f->email.s, f->email.len);
	if (f->name.s != NULL)
		sodium_memzero(f->name.s, f->name.len);
	buf_free(&f->email);
	buf_free(&f->name);
}

/* 400: the form again, with what was typed and why it was refused. */
static enum MHD_Result
refuse_form(struct web_request *r, struct MHD_Connection *c, const struct signup_form *f,
	    enum web_form_reason why)
{
	const struct config *cfg = r->srv->cfg;
	enum web_lang l = web_reply_lang(r, c);
	struct web_signup_args a = {
		.list = cfg->list.name,
		.consent = web_signup_consent(cfg, l),
		.reason = web_signup_reason(why, l),
		.email = f != NULL ? f->email.s : NULL,
		.name = f != NULL ? f->name.s : NULL,
	};

	return web_reply_signup(r, c, MHD_HTTP_BAD_REQUEST, SPAGE_FORM, &a);
}

enum MHD_Result
web_signup_form(struct web_request *r, struct MHD_Connection *c)
{
	return web_reply_signup(r, c, MHD_HTTP_OK, SPAGE_FORM, NULL);
}

/* The writer committed the request (or failed to): the page. */
static enum MHD_Result
signup_done(struct web_request *r, struct MHD_Connection *c)
{
	struct web_server *srv = r->srv;
	struct web_writer_job *j = &r->job;
	enum MHD_Result ret;

	if (j->status == STORE_INVALID) {
		/* Caught before it was queued, as a rule: the store's reason. */
		ret = refuse_form(r, c, NULL, web_signup_reason_of(j->err));
	} else if (j->status != STORE_OK) {
		log_warn("signup request: %s", j->err);
		ret = web_reply_page(r, c, MHD_HTTP_SERVICE_UNAVAILABLE, PAGE_UNAVAILABLE, NULL);
	} else {
		if (j->signup_out == SIGNUP_FULL) {
			atomic_fetch_add(&srv->metrics.signups_full, 1);
			log_warn("signup request not recorded: [signup] max_pending (%d) pending "
				 "signups are waiting for confirmation", srv->cfg->signup.max_pending);
		} else if (j->signup_out == SIGNUP_THROTTLED) {
			atomic_fetch_add(&srv->metrics.signups_throttled, 1);
		} else {
			atomic_fetch_add(&srv->metrics.signups, 1);
		}
		/* The same page whatever the outcome: nothing tells what is known. */
		ret = web_reply_signup(r, c, MHD_HTTP_OK, SPAGE_CHECK_MAIL, NULL);
	}
	sodium_memzero(j->email, sizeof(j->email));
	sodium_memzero(j->name, sizeof(j->name));
	return ret;
}

enum MHD_Result
web_signup_post(struct web_request *r, struct MHD_Connection *c)
{
	struct web_server *srv = r->srv;
	const struct config *cfg = srv->cfg;
	struct web_writer_job *j = &r->job;
	struct signup_form f = {.honeypot = false};
	char err[ERR_LEN];
	enum MHD_Result ret;
	enum web_lang l;

	if (r->queued)
		return signup_done(r, c);
	buf_init(&f.email);
	buf_init(&f.name);
	if (web_form_read(r, c, FORM_FIELD_MAX, signup_field, &f, err) < 0) {
		ret = refuse_form(r, c, NULL, strstr(err, "longer than") != NULL
				  ? REASON_TOO_LONG : REASON_FORM);
		goto out;
	}
	if (f.honeypot) {
		/* A robot: answered as a person is, and nothing else happens. */
		atomic_fetch_add(&srv->metrics.signups_honeypot, 1);
		ret = rate_allow(srv, c)
			? web_reply_signup(r, c, MHD_HTTP_OK, SPAGE_CHECK_MAIL, NULL)
			: web_reply_signup(r, c, MHD_HTTP_TOO_MANY_REQUESTS, SPAGE_TOO_MANY, NULL);
		goto out;
	}
	if (f.email.len == 0) {
		ret = refuse_form(r, c, &f, REASON_EMPTY);
		goto out;
	}
	if (addr_normalize(f.email.s, j->email, err) < 0) {
		ret = refuse_form(r, c, &f, web_signup_reason_of(err));
		goto out;
	}
	if (f.name.len > 0 && text_check_name(f.name.s, NAME_MAX_LEN, "name", err) < 0) {
		ret = refuse_form(r, c, &f, REASON_NAME);
		goto out;
	}
	if (!rate_allow(srv, c)) {
		atomic_fetch_add(&srv->metrics.signups_limited, 1);
		ret = web_reply_signup(r, c, MHD_HTTP_TOO_MANY_REQUESTS, SPAGE_TOO_MANY, NULL);
		goto out;
	}
	memcpy(j->name, f.name.s != NULL ? f.name.s : "", f.name.len + 1);
	l = web_reply_lang(r, c);
	j->kind = JOB_SIGNUP;
	j->signup = (struct signup){
		.email = j->email,
		.name = j->name,
		.lang = web_page_lang_tag(l),
		.consent_text = web_signup_consent(cfg, l),	/* what the form showed */
		.channel = SIGNUP_WEB,
		.confirm_hours = cfg->signup.confirm_hours,
		.resend_hours = cfg->signup.resend_hours,
		.max_pending = cfg->signup.max_pending,
	};
	j->conn = c;
	r->queued = true;
	MHD_suspend_connection(c);
	web_writer_submit(&srv->writer, j);
	ret = MHD_YES;
out:
	signup_form_free(&f);
	return ret;
}

enum MHD_Result
web_signup_confirm_get(struct web_request *r, struct MHD_Connection *c)
{
	struct token_claims tc;
	char err[ERR_LEN];
	struct store *st;
	enum store_status s;
	bool live = false;

	/* Read, never written: the button's POST does the work. */
	if (store_token_verify(r->srv->keys, r->rest, TOKEN_CONFIRM, &tc) < 0)
		return web_reply_signup(r, c, MHD_HTTP_BAD_REQUEST, SPAGE_INVALID, NULL);
	if ((st = web_worker_snapshot(r->srv, err)) == NULL) {
		log_warn("%s", err);
		return web_reply_page(r, c, MHD_HTTP_SERVICE_UNAVAILABLE, PAGE_UNAVAILABLE, NULL);
	}
	s = store_signup_live(st, &tc, &live, err);
	if (s == STORE_OK && !live) {
		/* The snapshot may be older than the request the link is for:
		 * "expired" only from a fresh look. */
		web_worker_snapshot_renew(r->srv);
		s = store_signup_live(st, &tc, &live, err);
	}
	if (s != STORE_OK) {
		log_warn("signup %lld: %s", (long long)tc.subscriber, err);
		return web_reply_page(r, c, MHD_HTTP_SERVICE_UNAVAILABLE, PAGE_UNAVAILABLE, NULL);
	}
	if (!live)
		return web_reply_signup(r, c, MHD_HTTP_BAD_REQUEST, SPAGE_INVALID, NULL);
	return web_reply_signup(r, c, MHD_HTTP_OK, SPAGE_CONFIRM, NULL);
}

/* The confirmed page, with the new subscriber's own links. */
static enum MHD_Result
confirmed(struct web_request *r, struct MHD_Connection *c)
{
	struct web_server *srv = r->srv;
	struct web_writer_job *j = &r->job;
	struct token_claims uc = {.subscriber = j->subscriber, .gen = j->sub_gen};
	char unsub[TOKEN_LEN + 1], access[TOKEN_LEN + 1];
	struct web_signup_args a = {.list = srv->cfg->list.name, .unsub = unsub, .access = access};

	if (j->status != STORE_OK) {
		log_warn("confirming signup %lld: %s", (long long)j->id, j->err);
		return web_reply_page(r, c, MHD_HTTP_SERVICE_UNAVAILABLE, PAGE_UNAVAILABLE, NULL);
	}
	if (j->confirm_out == CONFIRM_EXPIRED)
		return web_reply_signup(r, c, MHD_HTTP_BAD_REQUEST, SPAGE_INVALID, NULL);
	if (j->confirm_out != CONFIRM_ALREADY)
		atomic_fetch_add(&srv->metrics.confirmations, 1);
	if (store_token_make(srv->keys, TOKEN_UNSUBSCRIBE, &uc, unsub) < 0 ||
	    store_token_make(srv->keys, TOKEN_ACCESS, &uc, access) < 0) {
		log_warn("subscriber %lld: no link can name them", (long long)j->subscriber);
		return web_reply_page(r, c, MHD_HTTP_SERVICE_UNAVAILABLE, PAGE_UNAVAILABLE, NULL);
	}
	return web_reply_signup(r, c, MHD_HTTP_OK, SPAGE_DONE, &a);
}

enum MHD_Result
web_signup_confirm_post(struct web_request *r, struct MHD_Connection *c)
{
	struct token_claims tc;

	if (r->queued)
		return confirmed(r, c);
	/* The body is not read: the button is all there is. */
	if (store_token_verify(r->srv->keys, r->rest, TOKEN_CONFIRM, &tc) < 0)
		return web_reply_signup(r, c, MHD_HTTP_BAD_REQUEST, SPAGE_INVALID, NULL);
	return web_writer_queue(r, c, JOB_CONFIRM, &tc);
}
