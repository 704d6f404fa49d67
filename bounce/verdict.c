/*
 * bounce/verdict.c - the results of a report, and the verdict on the text
 * that concerns each: the phrase table (rules.c), the status code, and
 * where the text names the address (after DATA, the address is not what
 * was refused). Never decides hard without a phrase or a status code that
 * says the address is gone, and never when the report says it is
 * temporary.
 */
#include "parse_int.h"

#include <ctype.h>
#include <string.h>

/*
 * Whether the receiver refused @addr only after the message's content was
 * sent (after DATA): it accepted the address at RCPT, so an "unknown user"
 * then is a content filter's word, not a dead address.
 */
static const char *const data_marks[] = {
	"end of data", ">>> data", "in reply to data", "after data", "data command",
	"\ndata\n", "\ndata\r\n",
};
static const char *const rcpt_marks[] = {
	"rcpt",
};

/* Whether one of @marks is within a few lines of @addr in the readable text. */
static bool
near(const struct bounce_ctx *c, const char *addr, const char *const *marks, size_t nmarks)
{
	const char *s = c->lower.s, *end = s + c->lower.len, *p = s;
	size_t n = strlen(addr);

	if (s == NULL || n == 0)
		return false;
	while ((p = memmem(p, (size_t)(end - p), addr, n)) != NULL) {
		const char *b = p, *e = p;
		int lines;

		for (lines = 0; b > s && lines < 3; b--)
			if (b[-1] == '\n')
				lines++;
		for (lines = 0; e < end && lines < 4; e++)
			if (*e == '\n')
				lines++;
		for (size_t i = 0; i < nmarks; i++)
			if (memmem(b, (size_t)(e - b), marks[i], strlen(marks[i])))
				return true;
		p += n;
	}
	return false;
}

/*
 * A phrase of a dead address needs support before it deletes anyone: a
 * status code that says so, or a refusal at RCPT TO. The same phrase after
 * DATA, when the receiver had accepted the address, is a content filter's
 * word; and with neither, it is a guess.
 */
void
bounce_verdict_context(const struct bounce_ctx *c, struct bounce_result *r)
{
	char low[ADDR_MAX + 1];
	struct smtp_status st;
	bool code_hard;
	size_t i;

	if (r->action != BOUNCE_HARD)
		return;
	for (i = 0; r->recipient[i] && i < ADDR_MAX; i++)
		low[i] = (char)tolower((unsigned char)r->recipient[i]);
	low[i] = '\0';
	/* 5.1.x codes of a dead address (not 5.2.1, "disabled", which a
	 * filter also uses) stand on their own. */
	code_hard = status_parse(r->status, &st) && status_classify(&st, NULL) == STATUS_HARD &&
		    st.subject == 1;
	if (code_hard)
		return;
	if (r->confirmed && r->explicit)
		return;
	if ((r->confirmed || (c->mta && strcmp(r->reason, "unknown-user") == 0)) &&
	    !near(c, low, data_marks, sizeof(data_marks) / sizeof(data_marks[0])))
		return;
	if (near(c, low, data_marks, sizeof(data_marks) / sizeof(data_marks[0]))) {
		r->action = BOUNCE_SOFT;
		r->reason = "filtered";
		r->why = "refused after the message was sent (after DATA): a content filter, not a dead address";
	} else if (strcmp(r->reason, "unknown-user") == 0 &&
		   !near(c, low, rcpt_marks, sizeof(rcpt_marks) / sizeof(rcpt_marks[0]))) {
		r->action = BOUNCE_SOFT;
		r->reason = "unconfirmed";
		r->why = "the text says the user is unknown, but neither a status code nor a refusal at RCPT TO confirms it: never hard on a guess";
	}
}

/*
 * The part of the readable text about @addr: the lines from where it is
 * first named; the whole text when it names nobody else. False when there
 * is nothing to read.
 */
bool
bounce_verdict_window(const struct bounce_ctx *c, const char *addr, size_t *at, size_t *len)
{
	char low[ADDR_MAX + 1];
	const char *p;
	size_t i, e;
	int lines = 0;

	if (c->lower.len == 0)
		return false;
	for (i = 0; addr[i] && i < ADDR_MAX; i++)
		low[i] = (char)tolower((unsigned char)addr[i]);
	low[i] = '\0';
	p = memmem(c->lower.s, c->lower.len, low, i);
	if (p == NULL) {
		if (c->rep->n != 1)
			return false;
		*at = 0;
		*len = c->lower.len;
		return true;
	}
	while (p > c->lower.s && p[-1] != '\n')
		p--;
	e = (size_t)(p - c->lower.s);
	while (e < c->lower.len && lines < 3)
		if (c->lower.s[e++] == '\n')
			lines++;
	*at = (size_t)(p - c->lower.s);
	*len = e - *at;
	return true;
}

/* --- results --- */

struct bounce_result *
bounce_verdict_result(struct bounce_report *rep, const char *addr)
{
	for (int i = 0; i < rep->n; i++)
		if (strcasecmp(rep->r[i].recipient, addr) == 0)
			return NULL;	/* reported already */
	if (rep->n >= BOUNCE_MAX_RESULTS)
		return NULL;
	struct bounce_result *r = &rep->r[rep->n++];

	memset(r, 0, sizeof(*r));
	if (!bounce_scan_copy_addr(r->recipient, addr)) {
		rep->n--;
		return NULL;
	}
	return r;
}


/* Whether the text's SMTP reply is 500-504: a command or syntax error. */
static bool
syntax_reply(const char *t, size_t n)
{
	for (size_t i = 0; i + 3 <= n; i++)
		if (t[i] == '5' && t[i + 1] == '0' && t[i + 2] >= '0' && t[i + 2] <= '4' &&
		    (i == 0 || !isalnum((unsigned char)t[i - 1])) && (i + 3 == n || !isalnum((unsigned char)t[i + 3])))
			return true;
	return false;
}

/* Whether any status code in the text says the address is gone (5.1.x):
 * "5.1.0 - Unknown address error 550-'5.1.1 <a@b>: ... User unknown'". */
static bool
gone_code(const char *text, size_t len)
{
	struct smtp_status st;
	const char *p = text, *end = text + len, *e;

	while (p < end && (e = status_find(p, (size_t)(end - p), &st)) != NULL) {
		if (status_classify(&st, NULL) == STATUS_HARD && st.subject == 1)
			return true;
		p = e;
	}
	return false;
}

/*
 * Decides one recipient from the text that concerns it (@text, @len; a
 * Diagnostic-Code or the lines around its address), a status code if the
 * report gave one, and whether the report calls the failure temporary.
 */
void
bounce_verdict_decide(struct bounce_result *r, const char *text, size_t len,
		      const struct smtp_status *given, bool temporary)
{
	struct bounce_rule_match m;
	struct smtp_status st;
	const char *sreason = NULL, *code_at = NULL;
	enum status_verdict sv = STATUS_UNKNOWN;
	struct buf low;
	bool have = false, rule;

	if (len > MAX_TEXT)
		len = MAX_TEXT;
	if (given) {
		st = *given;
		have = true;
	} else if ((code_at = status_find(text, len, &st)) != NULL) {
		have = true;
	}
	if (have) {
		sv = status_classify(&st, &sreason);
		status_format(&st, r->status);
		if (st.klass == 4)
			temporary = true;
	}
	buf_init(&low);
	bounce_scan_lower(&low, text, len);
	rule = bounce_rules_match(low.s, len, &m);
	if (!temporary && !have) {
		/* An SMTP reply code without an enhanced one: "450 ..." */
		for (size_t i = 0; i + 3 < len; i++)
			if (text[i] == '4' && isdigit((unsigned char)text[i + 1]) &&
			    isdigit((unsigned char)text[i + 2]) && (text[i + 3] == ' ' || text[i + 3] == '-') &&
			    (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\n' || text[i - 1] == ';')) {
				temporary = true;
				break;
			}
	}

	if (!temporary && (!have || st.klass == 5) && bounce_rules_provider_gone(low.s, len)) {
		r->action = BOUNCE_HARD;
		r->reason = "unknown-user";
		r->why = "the receiver's own error code says the recipient does not exist";
		r->confirmed = r->explicit = true;
		bounce_scan_evidence(text, len, 0, r->evidence);
		buf_free(&low);
		return;
	}
	if (have && sv == STATUS_SUCCESS) {
		r->action = BOUNCE_IGNORE;
		r->reason = "delivered";
		r->why = "the report says the message was delivered";
		bounce_scan_evidence(text, len, code_at ? (size_t)(code_at - text) : 0, r->evidence);
		buf_free(&low);
		return;
	}
	if (rule) {
		bounce_scan_evidence(text, len, m.at, r->evidence);
		r->reason = m.reason;
		r->why = m.why;
		if (m.action == BOUNCE_HARD) {
			if (temporary || bounce_rules_temporary(low.s, len)) {
				r->action = BOUNCE_SOFT;
				r->why = "the address may be gone, but the report calls the failure temporary";
			} else if (syntax_reply(text, len) && sv != STATUS_HARD) {
				r->action = BOUNCE_SOFT;
				r->reason = "syntax";
				r->why = "a reply to a malformed command (500-504) says nothing about the address";
			} else {
				r->action = BOUNCE_HARD;
				/* 5.1.x codes of a dead address confirm it; 5.2.1
				 * ("disabled") is also a filter's word. */
				r->confirmed = m.strong || (sv == STATUS_HARD && st.subject == 1) ||
					       gone_code(text, len);
				r->explicit = m.strong;
			}
		} else if (m.weak && sv == STATUS_HARD && !temporary) {
			r->action = BOUNCE_HARD;
			r->reason = sreason;
			r->why = "the status code says the address is gone";
		} else {
			r->action = BOUNCE_SOFT;
		}
	} else if (have && sv == STATUS_HARD && !temporary) {
		r->action = BOUNCE_HARD;
		r->reason = sreason;
		r->why = "the status code says the address is gone";
		bounce_scan_evidence(text, len, code_at ? (size_t)(code_at - text) : 0, r->evidence);
	} else {
		r->action = BOUNCE_SOFT;
		r->reason = have ? sreason : "undefined";
		r->why = have ? "the status code says nothing certain about the address"
			      : "the report does not say why: never hard on a guess";
		bounce_scan_evidence(text, len, code_at ? (size_t)(code_at - text) : 0, r->evidence);
	}
	if (temporary && r->action == BOUNCE_SOFT && !rule)
		r->why = "the report calls the failure temporary";
	buf_free(&low);
}
