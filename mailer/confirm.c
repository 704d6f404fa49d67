/*
 * mailer/confirm.c - a signup's confirmation mail, and the drain that
 * sends those the store has queued (serve's signup thread calls it).
 *
 * The mail says who asked (the list), the one link that confirms (a
 * TOKEN_CONFIRM naming the pending signup, never the address), until when
 * it works, and that ignoring it is enough: nothing happens and the
 * address is deleted. It is a transactional mail, not a newsletter: no
 * List-Unsubscribe, no tracking of any kind (no images, no redirects, no
 * per-reader URLs beyond the link itself), Auto-Submitted: auto-generated
 * so that auto-responders stay quiet (RFC 3834).
 *
 * Trusts the pending signup as the store checked it (address, name,
 * language) and the config as lib/config.c did. Logs by signup id only.
 */
#include "mailer_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* The link's URL: [list] base_url (CONFIG_URL_MAX, 512) "/c/" and a token. */
#define CONFIRM_URL_MAX 1024

struct confirm_words {
	const char *subject;	/* "%s": the list's name */
	const char *hello, *hello_name;	/* "%s": the name */
	const char *asked;	/* "%s": the list's name */
	const char *open;
	const char *until;	/* "%s": the time */
	const char *ignore;
	const char *button;
	const char *lang;	/* of the HTML */
};

static const struct confirm_words words_en = {
	.subject = "Confirm your subscription to %s",
	.hello = "Hello,",
	.hello_name = "Hello %s,",
	.asked = "Someone, we hope you, asked to receive %s at this address.",
	.open = "To confirm, open this link and press the button on the page:",
	.until = "The link works until %s.",
	.ignore = "If you did not ask for it, ignore this mail: nothing happens, you get "
		  "nothing more from us, and your address is deleted when the link expires.",
	.button = "Confirm the subscription",
	.lang = "en",
};

static const struct confirm_words words_nb = {
	.subject = "Bekreft påmeldingen til %s",
	.hello = "Hei,",
	.hello_name = "Hei %s,",
	.asked = "Noen, forhåpentligvis du, har bedt om å få %s til denne adressen.",
	.open = "For å bekrefte, åpne lenken og trykk på knappen på siden:",
	.until = "Lenken virker til %s.",
	.ignore = "Har du ikke bedt om dette, kan du se bort fra denne e-posten: ingenting skjer, "
		  "du får ikke mer fra oss, og adressen din slettes når lenken utløper.",
	.button = "Bekreft påmeldingen",
	.lang = "nb",
};

/* "2026-12-09T14:00:00Z" as "2026-12-09 14:00 UTC"; -1 when it is not one. */
static int
human_time(const char *ts, char out[32])
{
	if (strlen(ts) != TIMESTAMP_LEN - 1 || ts[10] != 'T' || ts[19] != 'Z')
		return -1;
	memcpy(out, ts, 10);
	out[10] = ' ';
	memcpy(out + 11, ts + 11, 5);
	memcpy(out + 16, " UTC", 5);
	return 0;
}

/* Appends @f with one "%s" filled by @arg, escaped for HTML when @html. */
static void
add_filled(struct buf *b, const char *f, const char *arg, bool html)
{
	const char *p = strstr(f, "%s");

	if (!html) {
		if (p == NULL) {
			buf_adds(b, f);
			return;
		}
		buf_add(b, f, (size_t)(p - f));
		buf_adds(b, arg);
		buf_adds(b, p + 2);
		return;
	}
	if (p == NULL) {
		html_escape(b, f);
		return;
	}
	{
		char *head = xstrndup(f, (size_t)(p - f));

		html_escape(b, head);
		free(head);
	}
	html_escape(b, arg);
	html_escape(b, p + 2);
}

int
mailer_confirm_message(const struct config *cfg, const char *to, const struct mailer_confirm *c,
		       time_t date, struct buf *out, char *err)
{
	static const char *const headers[] = {"Auto-Submitted", "auto-generated", NULL};
	const struct confirm_words *w = c->lang && strcmp(c->lang, "nb") == 0 ? &words_nb : &words_en;
	bool named = c->name && c->name[0];
	struct buf subject, text, html;
	char until[32];

	if (human_time(c->expires, until) < 0)
		return errf(err, "signup %lld: the expiry is not a time", (long long)c->signup);
	if (strlen(c->link) > CONFIRM_URL_MAX)
		return errf(err, "signup %lld: the link is longer than %d bytes",
			    (long long)c->signup, CONFIRM_URL_MAX);
	buf_init(&subject);
	buf_init(&text);
	buf_init(&html);
	add_filled(&subject, w->subject, cfg->list.name, false);

	add_filled(&text, named ? w->hello_name : w->hello, named ? c->name : "", false);
	buf_adds(&text, "\n\n");
	add_filled(&text, w->asked, cfg->list.name, false);
	buf_adds(&text, "\n");
	buf_adds(&text, w->open);
	buf_printf(&text, "\n\n%s\n\n", c->link);
	add_filled(&text, w->until, until, false);
	buf_adds(&text, "\n\n");
	buf_adds(&text, w->ignore);
	buf_adds(&text, "\n\n-- \n");
	buf_adds(&text, cfg->list.name);
	buf_adds(&text, "\n");

	buf_printf(&html, "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n<title>",
		   w->lang);
	html_escape(&html, subject.s);
	buf_adds(&html, "</title>\n</head>\n<body style=\"font-family: sans-serif; line-height: 1.5\">\n<p>");
	add_filled(&html, named ? w->hello_name : w->hello, named ? c->name : "", true);
	buf_adds(&html, "</p>\n<p>");
	add_filled(&html, w->asked, cfg->list.name, true);
	buf_adds(&html, "<br>\n");
	html_escape(&html, w->open);
	buf_adds(&html, "</p>\n<p><a href=\"");
	html_escape(&html, c->link);
	buf_adds(&html, "\">");
	html_escape(&html, w->button);
	buf_adds(&html, "</a></p>\n<p>");
	html_escape(&html, c->link);
	buf_adds(&html, "</p>\n<p>");
	add_filled(&html, w->until, until, true);
	buf_adds(&html, "</p>\n<p>");
	html_escape(&html, w->ignore);
	buf_adds(&html, "</p>\n</body>\n</html>\n");

	mailer_compose_single(&(const struct single_mail){
		.from = cfg->list.from, .to = to, .to_name = named ? c->name : "",
		.subject = subject.s, .text = text.s, .html = html.s, .headers = headers,
		.date = date}, out);
	sodium_memzero(text.s, text.cap);
	sodium_memzero(html.s, html.cap);
	buf_free(&subject);
	buf_free(&text);
	buf_free(&html);
	return 0;
}

/* Seconds before the next try of a mail tried @attempts times before. */
static int
backoff(int attempts)
{
	int s = CONFIRM_RETRY_MIN;

	for (int i = 0; i < attempts && s < CONFIRM_RETRY_MAX; i++)
		s *= 2;
	return s < CONFIRM_RETRY_MAX ? s : CONFIRM_RETRY_MAX;
}

/* What became of one mail: recorded with the others of its drain. */
struct outcome {
	bool sent;
	int retry;		/* seconds; -1: not tried again */
};

/* The confirmation of mail @m, its link into @link; -1 when none can be made. */
static int
confirm_of(const struct config *cfg, const struct store_keys *keys, const struct signup_mail *m,
	   char link[CONFIRM_URL_MAX + 1], struct mailer_confirm *c)
{
	struct token_claims tc = {.subscriber = m->id};
	char token[TOKEN_LEN + 1];
	int r = 0;

	if (store_token_make(keys, TOKEN_CONFIRM, &tc, token) < 0 ||
	    fmt(link, CONFIRM_URL_MAX + 1, "%s/c/%s", cfg->list.base_url, token) < 0)
		r = -1;
	sodium_memzero(token, sizeof(token));
	*c = (struct mailer_confirm){.signup = m->id, .to = m->email, .name = m->name,
				     .lang = m->lang, .link = link, .expires = m->expires};
	return r;
}

/* Counts, logs and decides the outcome of mail @m from its result @cr. */
static void
settle(const struct signup_mail *m, enum mailer_confirm_result cr, struct outcome *o,
       struct confirm_drain *res)
{
	o->sent = false;
	o->retry = -1;
	switch (cr) {
	case CONFIRM_SENT:
		o->sent = true;
		res->sent++;
		log_info("signup %lld: confirmation mail sent", (long long)m->id);
		return;
	case CONFIRM_REFUSED:
		res->refused++;
		log_warn("signup %lld: the relay refused the confirmation mail (5xx): not tried again",
			 (long long)m->id);
		return;
	case CONFIRM_DEFERRED:
	case CONFIRM_UNSENT:
		break;
	}
	/* A 4xx, a relay that cannot be reached or went away before it
	 * answered, or a mail that could not be built: nothing about the
	 * address. */
	o->retry = backoff(m->attempts);
	res->retried++;
	log_warn("signup %lld: confirmation mail not sent (%s); tried again in %d s "
		 "(or not, past the link's expiry)", (long long)m->id,
		 cr == CONFIRM_DEFERRED ? "4xx" : "not answered", o->retry);
}

/*
 * The outcomes of a drain are recorded in one transaction: a commit waits
 * for the disk (synchronous = FULL), and one per mail cost more than the
 * mail. A crash between a send and that commit sends those mails again
 * (CONFIRM_BATCH at most), which a confirmation mail may afford: a second
 * copy of the same link. CONFIRM_BATCH is 128 rather than 32 for the rate:
 * one session and one commit per 128 mails left about 10-40% faster on
 * this machine (2 cores, loaded) than per 32, and at the weekly send's
 * rate over one connection.
 */
static int
record(struct store *st, const struct signup_mail *m, const struct outcome *o, int n, char *err)
{
	enum store_status s;

	if (n == 0)
		return 0;
	if ((s = store_begin(st, err)) != STORE_OK)
		return -1;
	for (int i = 0; i < n && s == STORE_OK; i++)
		s = store_signup_mailed(st, m[i].id, o[i].sent, o[i].retry, err);
	if (s != STORE_OK) {
		store_rollback(st);
		return -1;
	}
	return store_commit(st, err) == STORE_OK ? 0 : -1;
}

int
mailer_confirm_drain(const struct config *cfg, const struct store_keys *keys, struct store *st,
		     struct confirm_drain *res, char *err)
{
	struct signup_mail *m = xcalloc(CONFIRM_BATCH, sizeof(*m));
	struct mailer_confirm *c = xcalloc(CONFIRM_BATCH, sizeof(*c));
	char (*link)[CONFIRM_URL_MAX + 1] = xcalloc(CONFIRM_BATCH, sizeof(*link));
	enum mailer_confirm_result cr[CONFIRM_BATCH];
	struct outcome o[CONFIRM_BATCH];
	struct mailer_report rep;
	enum mailer_outcome oc = MAILER_OK;
	char why[ERR_LEN] = "";
	int n, k = 0, r;

	memset(res, 0, sizeof(*res));
	if ((n = store_signup_due(st, m, CONFIRM_BATCH, err)) < 0) {
		free(link);
		free(c);
		free(m);
		return -1;
	}
	/* The mails with a link go in one run, one SMTP session: c[0..k). */
	for (int i = 0; i < n; i++) {
		cr[i] = CONFIRM_UNSENT;
		if (confirm_of(cfg, keys, &m[i], link[k], &c[k]) < 0) {
			/* base_url is at most 512 bytes and ids fit a token: not met. */
			log_error("signup %lld: no confirmation link can be made: not mailed",
				  (long long)m[i].id);
			continue;
		}
		k++;
	}
	if (k > 0) {
		oc = mailer_run(&(const struct mailer_job){.cfg = cfg, .keys = keys,
				.mode = MAILER_CONFIRM, .confirm = c, .confirms = k,
				.connections = 1}, &rep, why);
		if (oc != MAILER_OK)
			log_warn("confirmation mails: %s", why);
		/* Stopped: the relay could not be reached, or went away. */
		res->relay_down = oc == MAILER_FAILED;
	}
	for (int i = 0, j = 0; i < n; i++) {
		if (j < k && c[j].signup == m[i].id)
			cr[i] = c[j++].result;
		settle(&m[i], cr[i], &o[i], res);
	}
	r = record(st, m, o, n, err);
	sodium_memzero(link, CONFIRM_BATCH * sizeof(*link));
	sodium_memzero(m, CONFIRM_BATCH * sizeof(*m));
	free(link);
	free(c);
	free(m);
	return r;
}
