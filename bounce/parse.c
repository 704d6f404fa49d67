/*
 * bounce/parse.c - one message in, a verdict per recipient out.
 *
 * GMime parses the MIME structure (multipart/report, encoded parts,
 * charsets); this file reads what GMime hands back: the fields of an RFC
 * 3464 delivery-status part, of an RFC 5965 feedback report, and the
 * human-readable text of bounces that follow no standard, which the phrase
 * table of rules.c judges. Auto-replies (RFC 3834) are recognised and
 * ignored.
 *
 * Speed: building and freeing GMime's objects is most of the time, so
 * GMime builds no more than is read: the top level as a part (no message
 * object and its address lists), parts that are not encoded read from
 * their own stream, charsets converted only when the text is not ASCII,
 * the message read in place, one parser and its buffers per thread
 * (bounce_parser). The returned message is still parsed by GMime: making
 * it one leaf part needs a type registration that GMime 3.2 leaks.
 *
 * Trusts nothing in the message: every copy is bounded, results are capped
 * at BOUNCE_MAX_RESULTS, nesting at MAX_DEPTH. Never touches the store and
 * never decides hard without a phrase or a status code that says the
 * address is gone, and never when the report says it is temporary.
 */
#include "bounce.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>
#include <jansson.h>

#define MAX_DEPTH 16		/* nested MIME parts */
#define MAX_TEXT (256 * 1024)	/* bytes of readable text judged */
#define CONTEXT_LINES 8		/* lines after a recipient's address judged with it */

/*
 * Copies an address read into ADDR_MAX + 1 bytes (value_addr, next_addr);
 * false, and "" in @dst, when it does not fit, which such an address
 * always does: the caller then skips it rather than keep a cut one.
 */
static bool
addr_copy(char dst[ADDR_MAX + 1], const char *a)
{
	return fmt(dst, ADDR_MAX + 1, "%s", a) == 0;
}

/*
 * Evidence (r->evidence, BOUNCE_EVIDENCE_MAX) is an excerpt of the line
 * decided on, cut to its size by design: it is written with fmt_clip().
 */

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void
gmime_start(void)
{
	g_mime_init();
}

void
bounce_init(void)
{
	pthread_once(&gmime_once, gmime_start);
}

const char *
bounce_action_name(enum bounce_action a)
{
	static const char *const names[] = {
		[BOUNCE_IGNORE] = "ignore", [BOUNCE_SOFT] = "soft", [BOUNCE_HARD] = "hard",
		[BOUNCE_COMPLAINT] = "complaint", [BOUNCE_UNSUBSCRIBE] = "unsubscribe",
	};
	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "ignore";
}

const char *
bounce_kind_name(enum bounce_kind k)
{
	static const char *const names[] = {
		[BOUNCE_KIND_NONE] = "none", [BOUNCE_KIND_DSN] = "dsn", [BOUNCE_KIND_ARF] = "arf",
		[BOUNCE_KIND_SES] = "ses", [BOUNCE_KIND_TEXT] = "text", [BOUNCE_KIND_AUTO_REPLY] = "auto-reply",
		[BOUNCE_KIND_UNSUBSCRIBE] = "unsubscribe",
	};
	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "none";
}

struct ctx {
	struct bounce_report *rep;
	struct buf human;	/* readable text of the report itself */
	struct buf html;	/* text/html of the report, when no text/plain */
	struct buf status;	/* message/delivery-status parts */
	struct buf feedback;	/* message/feedback-report parts */
	struct buf returned;	/* headers of the returned message */
	char returned_from[ADDR_MAX + 1];
	char to[ADDR_MAX + 1];		/* the bounce's own To: the sender */
	struct buf lower;	/* the readable part, lower-cased */
	const char *mta;	/* an MTA whose "unknown user" is unambiguous, or NULL */
	bool nested;		/* read a report attached to this one */
};

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
near(const struct ctx *c, const char *addr, const char *const *marks, size_t nmarks)
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
static void
check_context(const struct ctx *c, struct bounce_result *r)
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
static bool
recipient_window(const struct ctx *c, const char *addr, size_t *at, size_t *len)
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

/* --- small text helpers --- */

static void
lower_copy(struct buf *out, const char *s, size_t n)
{
	buf_reset(out);
	buf_add(out, s ? s : "", n);
	for (size_t i = 0; i < n; i++)
		out->s[i] = (char)tolower((unsigned char)out->s[i]);
}

static bool
starts_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Copies the line around @at of @text into @out, printable ASCII only. */
static void
evidence_line(const char *text, size_t len, size_t at, char out[BOUNCE_EVIDENCE_MAX + 1])
{
	size_t b = at, e = at, n = 0;

	if (at > len)
		at = b = e = len;
	while (b > 0 && text[b - 1] != '\n')
		b--;
	while (e < len && text[e] != '\n')
		e++;
	while (b < e && isspace((unsigned char)text[b]))
		b++;
	for (size_t i = b; i < e && n < BOUNCE_EVIDENCE_MAX; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\r')
			continue;
		out[n++] = c >= 0x20 && c < 0x7f ? (char)c : c == '\t' ? ' ' : '?';
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

static bool
addr_char_local(unsigned char c)
{
	return isalnum(c) || (c >= 0x80) || strchr("!#$%&'*+/=?^_`{|}~.-", c) != NULL;
}

static bool
addr_char_domain(unsigned char c)
{
	return isalnum(c) || c == '.' || c == '-' || c == '_';
}

/*
 * The opening quote of the quoted local part whose closing quote is at
 * @s[close] (the first quote before it that no backslash escapes), or
 * close + 1 (none within the longest a local part may be written).
 */
static size_t
quoted_start(const char *s, size_t close)
{
	for (size_t j = close; j > 0 && close - j < 2 * ADDR_LOCAL_MAX + 1;) {
		size_t bs = 0;

		j--;
		if (s[j] != '"')
			continue;
		while (bs < j && s[j - 1 - bs] == '\\')
			bs++;
		if (bs % 2 == 0)
			return j;
	}
	return close + 1;
}

/*
 * Finds the next address in @s[*pos..len): writes it normalised into @out
 * and the offset of its start into *start; advances *pos. False at the end.
 */
static bool
next_addr(const char *s, size_t len, size_t *pos, char out[ADDR_MAX + 1], size_t *start)
{
	char err[ERR_LEN], tmp[ADDR_MAX + 1];

	for (size_t i = *pos; i < len; i++) {
		size_t b = i, e = i + 1;

		if (s[i] != '@')
			continue;
		if (i > 0 && s[i - 1] == '"') {
			/* A quoted local part: addr_normalize gives its plain form. */
			b = quoted_start(s, i - 1);
		} else {
			while (b > 0 && addr_char_local((unsigned char)s[b - 1]) && i - b < ADDR_LOCAL_MAX)
				b--;
			while (b < i && (s[b] == '.' || s[b] == '\''))
				b++;
		}
		while (e < len && addr_char_domain((unsigned char)s[e]) && e - i <= ADDR_DOMAIN_MAX)
			e++;
		while (e > i + 1 && (s[e - 1] == '.' || s[e - 1] == '-'))
			e--;
		*pos = e;
		if (b == i || e == i + 1 || e - b > ADDR_MAX)
			continue;
		if (memchr(s + i + 1, '.', e - i - 1) == NULL)
			continue;	/* a bare host name: not a mail domain */
		memcpy(tmp, s + b, e - b);
		tmp[e - b] = '\0';
		if (addr_normalize(tmp, out, err) < 0)
			continue;
		*start = b;
		return true;
	}
	*pos = len;
	return false;
}

/* The address in a header value or a DSN field ("rfc822; <a@b>"). */
static bool
value_addr(const char *v, char out[ADDR_MAX + 1])
{
	size_t pos = 0, start;
	const char *semi = strchr(v, ';');

	if (semi)
		v = semi + 1;
	return next_addr(v, strlen(v), &pos, out, &start);
}

static const char *const robot_locals[] = {
	"mailer-daemon", "postmaster", "mail-daemon", "maildaemon", "mailerdaemon",
	"noreply", "no-reply", "do-not-reply", "donotreply", "bounce", "bounces",
	"abuse", "root", "daemon", "mdaemon", "nobody", "post_master",
};

static bool
is_robot(const char *addr)
{
	const char *at = strchr(addr, '@');
	size_t n = at ? (size_t)(at - addr) : strlen(addr);

	for (size_t i = 0; i < sizeof(robot_locals) / sizeof(robot_locals[0]); i++)
		if (strlen(robot_locals[i]) == n && strncasecmp(addr, robot_locals[i], n) == 0)
			return true;
	return false;
}

/* --- results --- */

static struct bounce_result *
result_for(struct bounce_report *rep, const char *addr)
{
	for (int i = 0; i < rep->n; i++)
		if (strcasecmp(rep->r[i].recipient, addr) == 0)
			return NULL;	/* reported already */
	if (rep->n >= BOUNCE_MAX_RESULTS)
		return NULL;
	struct bounce_result *r = &rep->r[rep->n++];

	memset(r, 0, sizeof(*r));
	if (!addr_copy(r->recipient, addr)) {
		rep->n--;
		return NULL;
	}
	return r;
}

static bool
is_target(const struct bounce_report *rep, const char *addr)
{
	for (int i = 0; i < rep->ntargets; i++)
		if (strcasecmp(rep->targets[i], addr) == 0)
			return true;
	return false;
}

static void
add_target(struct bounce_report *rep, const char *value)
{
	char a[ADDR_MAX + 1];

	if (value == NULL || !value_addr(value, a) || is_target(rep, a) ||
	    rep->ntargets >= BOUNCE_MAX_TARGETS)
		return;
	if (addr_copy(rep->targets[rep->ntargets], a))
		rep->ntargets++;
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
static void
decide(struct bounce_result *r, const char *text, size_t len, const struct smtp_status *given,
       bool temporary)
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
	lower_copy(&low, text, len);
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
		evidence_line(text, len, 0, r->evidence);
		buf_free(&low);
		return;
	}
	if (have && sv == STATUS_SUCCESS) {
		r->action = BOUNCE_IGNORE;
		r->reason = "delivered";
		r->why = "the report says the message was delivered";
		evidence_line(text, len, code_at ? (size_t)(code_at - text) : 0, r->evidence);
		buf_free(&low);
		return;
	}
	if (rule) {
		evidence_line(text, len, m.at, r->evidence);
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
		evidence_line(text, len, code_at ? (size_t)(code_at - text) : 0, r->evidence);
	} else {
		r->action = BOUNCE_SOFT;
		r->reason = have ? sreason : "undefined";
		r->why = have ? "the status code says nothing certain about the address"
			      : "the report does not say why: never hard on a guess";
		evidence_line(text, len, code_at ? (size_t)(code_at - text) : 0, r->evidence);
	}
	if (temporary && r->action == BOUNCE_SOFT && !rule)
		r->why = "the report calls the failure temporary";
	buf_free(&low);
}

/* --- walking the MIME tree --- */

static void
append_part(GMimePart *part, struct buf *out)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	GMimeStream *mem;
	GByteArray *ba;

	if (content == NULL)
		return;
	switch (g_mime_data_wrapper_get_encoding(content)) {
	case GMIME_CONTENT_ENCODING_BASE64:
	case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
	case GMIME_CONTENT_ENCODING_UUENCODE:
		break;
	default: {
		/* Not encoded: read the part's own stream, no streams built. */
		GMimeStream *src = g_mime_data_wrapper_get_stream(content);
		char tmp[4096];
		ssize_t n;

		if (src == NULL || g_mime_stream_reset(src) < 0)
			break;
		while (out->len < MAX_TEXT && (n = g_mime_stream_read(src, tmp, sizeof(tmp))) > 0)
			buf_add(out, tmp, (size_t)n);
		buf_adds(out, "\n\n");
		return;
	}
	}
	mem = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(content, mem);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	if (ba && ba->len > 0 && out->len < MAX_TEXT)
		buf_add(out, ba->data, ba->len < MAX_TEXT ? ba->len : MAX_TEXT);
	buf_adds(out, "\n\n");
	g_object_unref(mem);
}

static void
append_text(GMimeTextPart *part, struct buf *out)
{
	const char *cs = g_mime_text_part_get_charset(part);
	char *t;

	size_t before = out->len, i;

	/* ASCII and UTF-8 need no conversion: the decoded bytes will do. */
	if (cs == NULL || g_ascii_strcasecmp(cs, "us-ascii") == 0 || g_ascii_strcasecmp(cs, "utf-8") == 0) {
		append_part(GMIME_PART(part), out);
		return;
	}
	/* Nor does text in any other charset that is plain ASCII (no byte
	 * above 0x7f, no ISO 2022 escape or shift, no NUL of UTF-16/32). */
	append_part(GMIME_PART(part), out);
	for (i = before; i < out->len; i++) {
		unsigned char ch = (unsigned char)out->s[i];

		if (ch >= 0x80 || ch == 0x1b || ch == 0x0e || ch == 0x0f || ch == 0)
			break;
	}
	if (i == out->len)
		return;
	out->len = before;
	out->s[out->len] = '\0';
	t = g_mime_text_part_get_text(part);

	if (t) {
		size_t n = strlen(t);

		if (out->len < MAX_TEXT)
			buf_add(out, t, n < MAX_TEXT ? n : MAX_TEXT);
		buf_adds(out, "\n\n");
		g_free(t);
	}
}

/* Cuts @b after its header block (at the first empty line). */
static void
header_block(struct buf *b)
{
	for (size_t i = 0; i + 1 < b->len; i++) {
		if (b->s[i] != '\n')
			continue;
		if (b->s[i + 1] == '\n' || (b->s[i + 1] == '\r' && i + 2 < b->len && b->s[i + 2] == '\n')) {
			b->len = i + 1;
			b->s[b->len] = '\0';
			return;
		}
	}
}

/* The returned message's headers that are read (From, To, and Microsoft's
 * X-HmXmrOriginalRecipient), raw: no decoding, no formatting. */
static void
take_headers(struct ctx *c, GMimeObject *obj)
{
	static const char *const wanted[] = {"From", "To", "X-HmXmrOriginalRecipient"};
	GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
	int n = hl ? g_mime_header_list_get_count(hl) : 0;

	if (c->returned.len > 0)
		return;
	for (int i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *name = g_mime_header_get_name(h), *raw;
		size_t k;

		for (k = 0; k < sizeof(wanted) / sizeof(wanted[0]); k++)
			if (g_ascii_strcasecmp(name, wanted[k]) == 0)
				break;
		if (k == sizeof(wanted) / sizeof(wanted[0]) || (raw = g_mime_header_get_raw_value(h)) == NULL)
			continue;
		buf_adds(&c->returned, name);
		buf_addc(&c->returned, ':');
		buf_adds(&c->returned, raw);
		if (c->returned.len == 0 || c->returned.s[c->returned.len - 1] != '\n')
			buf_addc(&c->returned, '\n');
	}
}

static void
walk(struct ctx *c, GMimeObject *obj, int depth)
{
	GMimeContentType *ct;
	const char *type, *sub;

	if (obj == NULL || depth > MAX_DEPTH)
		return;
	ct = g_mime_object_get_content_type(obj);
	type = ct ? g_mime_content_type_get_media_type(ct) : "text";
	sub = ct ? g_mime_content_type_get_media_subtype(ct) : "plain";
	if (!type)
		type = "";
	if (!sub)
		sub = "";

	if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

		GMimeObject *body = m ? g_mime_message_get_mime_part(m) : NULL;
		GMimeContentType *bct = body ? g_mime_object_get_content_type(body) : NULL;

		/* A delivery report forwarded as an attachment, with no report
		 * of its own around it: the attached one is the report. */
		if (bct && c->status.len == 0 && !c->nested &&
		    g_mime_content_type_is_type(bct, "multipart", "report")) {
			c->nested = true;
			walk(c, body, depth + 1);
			return;
		}
		if (m)
			take_headers(c, GMIME_OBJECT(m));
		return;		/* the returned message is not the report */
	}
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp);

		for (int i = 0; i < n && i < 64; i++)
			walk(c, g_mime_multipart_get_part(mp, i), depth + 1);
		return;
	}
	if (!GMIME_IS_PART(obj))
		return;
	if (strcasecmp(type, "message") == 0 &&
	    (strcasecmp(sub, "delivery-status") == 0 || strcasecmp(sub, "global-delivery-status") == 0)) {
		append_part(GMIME_PART(obj), &c->status);
	} else if (strcasecmp(type, "message") == 0 && strcasecmp(sub, "feedback-report") == 0) {
		append_part(GMIME_PART(obj), &c->feedback);
	} else if ((strcasecmp(type, "text") == 0 && strcasecmp(sub, "rfc822-headers") == 0) ||
		   (strcasecmp(type, "message") == 0 && (strcasecmp(sub, "rfc822") == 0 ||
							 strcasecmp(sub, "rfc822-headers") == 0 ||
							 strcasecmp(sub, "global-headers") == 0))) {
		if (c->returned.len == 0) {
			append_part(GMIME_PART(obj), &c->returned);
			header_block(&c->returned);
		}
	} else if (strcasecmp(type, "text") == 0 && strcasecmp(sub, "plain") == 0 && GMIME_IS_TEXT_PART(obj)) {
		const char *disp = g_mime_object_get_disposition(obj);

		if (disp && strcasecmp(disp, "attachment") == 0 && c->human.len > 0)
			return;	/* a returned message sent as text */
		append_text(GMIME_TEXT_PART(obj), &c->human);
	} else if (strcasecmp(type, "text") == 0 && strcasecmp(sub, "html") == 0 && GMIME_IS_TEXT_PART(obj)) {
		append_text(GMIME_TEXT_PART(obj), &c->html);
	}
}

/* Strips tags and entities' markup from HTML into plain lines. */
static void
html_to_text(const struct buf *html, struct buf *out)
{
	bool tag = false;

	for (size_t i = 0; i < html->len; i++) {
		char ch = html->s[i];

		if (ch == '<') {
			tag = true;
			if (i + 3 < html->len && (strncasecmp(html->s + i, "<br", 3) == 0 ||
						  strncasecmp(html->s + i, "<p", 2) == 0 ||
						  strncasecmp(html->s + i, "<tr", 3) == 0 ||
						  strncasecmp(html->s + i, "<div", 4) == 0))
				buf_addc(out, '\n');
		} else if (ch == '>' && tag) {
			tag = false;
		} else if (!tag) {
			if (ch == '&' && strncmp(html->s + i, "&lt;", 4) == 0) {
				buf_addc(out, '<');
				i += 3;
			} else if (ch == '&' && strncmp(html->s + i, "&gt;", 4) == 0) {
				buf_addc(out, '>');
				i += 3;
			} else if (ch == '&' && strncmp(html->s + i, "&nbsp;", 6) == 0) {
				buf_addc(out, ' ');
				i += 5;
			} else {
				buf_addc(out, ch);
			}
		}
	}
}

/* --- header-like fields (DSN, ARF): unfolded, one callback per field --- */

struct field {
	const char *name;
	size_t nlen;
	char value[1024];
	bool blank_before;	/* a new block starts here */
};

/* Reads the next field from @s at *pos; false at the end. */
static bool
next_field(const char *s, size_t len, size_t *pos, struct field *f)
{
	size_t i = *pos, vlen = 0;
	bool blank = false;

	for (;;) {
		size_t e;

		if (i >= len)
			return false;
		e = i;
		while (e < len && s[e] != '\n')
			e++;
		/* blank line? */
		size_t k = i;

		while (k < e && (s[k] == '\r' || s[k] == ' ' || s[k] == '\t'))
			k++;
		if (k == e) {
			blank = true;
			i = e + 1;
			continue;
		}
		if (s[i] == ' ' || s[i] == '\t') {	/* a stray continuation */
			i = e + 1;
			continue;
		}
		const char *colon = memchr(s + i, ':', e - i);

		if (colon == NULL) {
			i = e + 1;
			continue;
		}
		f->name = s + i;
		f->nlen = (size_t)(colon - (s + i));
		f->blank_before = blank;
		const char *v = colon + 1;

		for (;;) {
			while (v < s + e && (*v == ' ' || *v == '\t'))
				v++;
			while (v < s + e && vlen < sizeof(f->value) - 1) {
				if (*v != '\r')
					f->value[vlen++] = *v;
				v++;
			}
			i = e + 1;
			if (i < len && (s[i] == ' ' || s[i] == '\t')) {
				e = i;
				while (e < len && s[e] != '\n')
					e++;
				if (vlen < sizeof(f->value) - 1)
					f->value[vlen++] = ' ';
				v = s + i;
				continue;
			}
			break;
		}
		while (vlen > 0 && isspace((unsigned char)f->value[vlen - 1]))
			vlen--;
		f->value[vlen] = '\0';
		*pos = i;
		return true;
	}
}

static bool
field_is(const struct field *f, const char *name)
{
	return f->nlen == strlen(name) && strncasecmp(f->name, name, f->nlen) == 0;
}

/* --- readable text: where it names recipients, and what it says --- */

/* Where the returned message starts inside a plain-text bounce. */
static const char *const returned_markers[] = {
	"original message follows", "-- original message", "original message --",
	"copy of the message", "copy of your message", "unsent message follows",
	"message header follows", "message headers follow", "returned message follows",
	"headers of the original", "header of the original message", "original message header",
	"undelivered message follows", "returned mail follows", "content-type: message/rfc822",
	"--- below this line", "------ this is a copy",
};

static size_t
human_end(const char *lower, size_t len)
{
	size_t end = len;

	for (size_t i = 0; i < sizeof(returned_markers) / sizeof(returned_markers[0]); i++) {
		const char *p = memmem(lower, end, returned_markers[i], strlen(returned_markers[i]));

		if (p && (size_t)(p - lower) < end)
			end = (size_t)(p - lower);
	}
	/* A returned message quoted without a marker: its header block. */
	for (size_t i = 0; i + 12 < end; i++)
		if ((i == 0 || lower[i - 1] == '\n') &&
		    (strncmp(lower + i, "received: ", 10) == 0 || strncmp(lower + i, "return-path:", 12) == 0)) {
			end = i;
			break;
		}
	/* Back to the start of that line. */
	while (end > 0 && end < len && lower[end - 1] != '\n')
		end--;
	return end;
}

/* Lines of a header block to skip when looking for recipients. */
static bool
header_line(const char *s, size_t n)
{
	static const char *const names[] = {
		"message-id:", "in-reply-to:", "references:", "return-path:", "from:",
		"sender:", "reply-to:", "received:", "dkim-signature:", "x-", "date:",
		"subject:", "mime-version:", "content-", "list-", "errors-to:",
		"arrival-date:", "reporting-mta:", "remote-mta:", "to:", "cc:", "sent:",
	};
	while (n > 0 && (*s == ' ' || *s == '\t' || *s == '>')) {
		s++;
		n--;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t k = strlen(names[i]);

		if (n >= k && strncasecmp(s, names[i], k) == 0)
			return true;
	}
	return false;
}

/* Whether a line is a quoted To: or Cc: header. */
static bool
to_line(const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t' || *s == '>')) {
		s++;
		n--;
	}
	return (n >= 3 && strncasecmp(s, "to:", 3) == 0) || (n >= 3 && strncasecmp(s, "cc:", 3) == 0);
}

/* Whether @a is one of the addresses this report comes from or goes to. */
static bool
is_excluded(const struct ctx *c, const char *a)
{
	return strcasecmp(a, c->to) == 0 || strcasecmp(a, c->rep->from) == 0 ||
	       (c->returned_from[0] && strcasecmp(a, c->returned_from) == 0);
}

struct found {
	char addr[ADDR_MAX + 1];
	size_t at;
};

/* The recipients a plain text names, in order; returns how many. */
static int
text_recipients(const struct ctx *c, const char *text, size_t len, struct found *out, int max,
		int pass)
{
	size_t pos = 0, start;
	char a[ADDR_MAX + 1];
	int n = 0;

	while (n < max && next_addr(text, len, &pos, a, &start)) {
		size_t ls = start;
		bool dup = false;

		while (ls > 0 && text[ls - 1] != '\n')
			ls--;
		if ((header_line(text + ls, start - ls) && !(pass >= 2 && to_line(text + ls, start - ls))) ||
		    is_excluded(c, a) || (pass == 0 && is_robot(a)))
			continue;
		/* "...@host>" right after "message-id" or "<" with digits: an id */
		for (int i = 0; i < n; i++)
			if (strcasecmp(out[i].addr, a) == 0)
				dup = true;
		if (dup)
			continue;
		if (!addr_copy(out[n].addr, a))
			continue;
		out[n].at = ls;
		n++;
	}
	return n;
}

/* The end of the lines that concern a recipient found at @at. */
static size_t
context_end(const char *text, size_t len, size_t at, size_t next)
{
	size_t e = at;
	int lines = 0;

	while (e < len && e < next && lines < CONTEXT_LINES) {
		if (text[e] == '\n')
			lines++;
		e++;
	}
	return e;
}

/* The end of the line at @at and of the indented lines that continue it. */
static size_t
logical_line_end(const char *text, size_t len, size_t at)
{
	size_t e = at;

	for (;;) {
		while (e < len && text[e] != '\n')
			e++;
		if (e + 1 < len && (text[e + 1] == ' ' || text[e + 1] == '\t') &&
		    e + 2 < len && text[e + 2] != '\n' && text[e + 2] != '\r') {
			e++;
			continue;
		}
		return e;
	}
}

/* Whether a text holds an SMTP reply code (4xx or 5xx) as a word. */
static bool
has_reply_code(const char *t, size_t n)
{
	for (size_t i = 0; i + 3 <= n; i++)
		if ((t[i] == '4' || t[i] == '5') && isdigit((unsigned char)t[i + 1]) &&
		    isdigit((unsigned char)t[i + 2]) && (i == 0 || !isalnum((unsigned char)t[i - 1])) &&
		    (i + 3 == n || !isalnum((unsigned char)t[i + 3])))
			return true;
	return false;
}

/* --- the three kinds of report --- */

static void
parse_dsn(struct ctx *c, const char *human, size_t hlen)
{
	struct {
		char final[ADDR_MAX + 1], original[ADDR_MAX + 1];
		char action[32], status[64], diag[1024];
		bool any;
	} cur;
	struct field f;
	size_t pos = 0;
	bool more = true;

	memset(&cur, 0, sizeof(cur));
	while (more) {
		more = next_field(c->status.s, c->status.len, &pos, &f);
		bool is_rcpt = more && (field_is(&f, "final-recipient") || field_is(&f, "original-recipient"));
		bool flush = !more || (cur.any && (f.blank_before ||
						  (field_is(&f, "final-recipient") && cur.final[0]) ||
						  (field_is(&f, "original-recipient") && cur.original[0])));

		if (flush && cur.any) {
			const char *addr = cur.final[0] ? cur.final : cur.original;
			struct bounce_result *r = result_for(c->rep, addr);

			if (r && cur.final[0] && cur.original[0] && strcasecmp(cur.final, cur.original) != 0)
				(void)addr_copy(r->original, cur.original);	/* "" if it did not fit */
			if (r) {
				struct smtp_status st, *stp = NULL;
				bool delayed = strcasecmp(cur.action, "delayed") == 0;
				const char *p = cur.status;

				while (*p == ' ')
					p++;
				if (status_parse(p, &st))
					stp = &st;
				if (strncasecmp(cur.action, "deliver", 7) == 0 || strcasecmp(cur.action, "relayed") == 0 ||
				    strcasecmp(cur.action, "expanded") == 0) {
					r->action = BOUNCE_IGNORE;
					r->reason = "delivered";
					r->why = "the report says the message was delivered";
					if (stp)
						status_format(stp, r->status);
					fmt_clip(r->evidence, sizeof(r->evidence), "Action: %.200s", cur.action);
				} else if (cur.diag[0]) {
					decide(r, cur.diag, strlen(cur.diag), stp, delayed);
					/* No phrase in the code: the readable text may have one. */
					if (r->action == BOUNCE_SOFT && strcmp(r->reason, "undefined") == 0 && hlen)
						decide(r, human, hlen, stp, delayed);
				} else {
					decide(r, human, hlen, stp, delayed);
					if (stp && r->evidence[0] == '\0')
						fmt_clip(r->evidence, sizeof(r->evidence), "Status: %.200s", cur.status);
				}
			}
			memset(&cur, 0, sizeof(cur));
		}
		if (!more)
			break;
		if (is_rcpt) {
			char a[ADDR_MAX + 1];

			if (value_addr(f.value, a) &&
			    addr_copy(field_is(&f, "final-recipient") ? cur.final : cur.original, a))
				cur.any = true;
		} else if (field_is(&f, "action")) {
			/* Fields are read up to their buffer and cut there by
			 * design: what is judged is at their start. */
			fmt_clip(cur.action, sizeof(cur.action), "%s", f.value);
		} else if (field_is(&f, "status")) {
			fmt_clip(cur.status, sizeof(cur.status), "%s", f.value);
		} else if (field_is(&f, "diagnostic-code")) {
			const char *v = strchr(f.value, ';');

			fmt_clip(cur.diag, sizeof(cur.diag), "%s", v ? v + 1 : f.value);
			/* Japanese MTAs write the field in raw ISO-2022-JP (7 bits,
			 * escape sequences): to UTF-8, as a text part would be. */
			if (strstr(cur.diag, "\x1b$B") || strstr(cur.diag, "\x1b$@")) {
				char *u = g_convert(cur.diag, -1, "UTF-8", "ISO-2022-JP", NULL, NULL, NULL);

				if (u)
					fmt_clip(cur.diag, sizeof(cur.diag), "%s", u);
				g_free(u);
			}
		}
	}
}

static void
parse_arf(struct ctx *c)
{
	char type[64] = "abuse", a[ADDR_MAX + 1];
	struct field f;
	size_t pos = 0;
	int before = c->rep->n;
	enum bounce_action act;

	while (next_field(c->feedback.s, c->feedback.len, &pos, &f))
		if (field_is(&f, "feedback-type"))
			fmt_clip(type, sizeof(type), "%s", f.value);	/* cut: a known type is short */
	act = strcasecmp(type, "auth-failure") == 0 || strcasecmp(type, "not-spam") == 0
	      ? BOUNCE_IGNORE : BOUNCE_COMPLAINT;
	pos = 0;
	while (next_field(c->feedback.s, c->feedback.len, &pos, &f)) {
		if (!field_is(&f, "original-rcpt-to") && !field_is(&f, "removal-recipient"))
			continue;
		if (value_addr(f.value, a)) {
			struct bounce_result *r = result_for(c->rep, a);

			if (r) {
				r->action = act;
				r->reason = act == BOUNCE_COMPLAINT ? "complaint" : "report";
				r->why = act == BOUNCE_COMPLAINT ? "a complaint report (ARF) names the recipient"
								 : "an authentication failure report: not from the subscriber";
				fmt_clip(r->evidence, sizeof(r->evidence), "Feedback-Type: %.100s", type);
			}
		}
	}
	if (c->rep->n > before)
		return;
	/* The recipient of the reported message. */
	pos = 0;
	while (next_field(c->returned.s, c->returned.len, &pos, &f)) {
		if (!field_is(&f, "to") || !value_addr(f.value, a))
			continue;
		struct bounce_result *r = result_for(c->rep, a);

		if (r) {
			r->action = act;
			r->reason = act == BOUNCE_COMPLAINT ? "complaint" : "report";
			r->why = act == BOUNCE_COMPLAINT ? "a complaint report (ARF) about a message to the recipient"
							 : "an authentication failure report: not from the subscriber";
			fmt_clip(r->evidence, sizeof(r->evidence), "Feedback-Type: %.100s", type);
		}
		break;
	}
}

/*
 * A mail to unsubscribe+TOKEN@ (the List-Unsubscribe mailto address) is an
 * unsubscribe request from its sender, whatever it says; who that is comes
 * from the token, not from the From header (act.c).
 */
static bool
unsubscribe_request(struct ctx *c)
{
	struct bounce_result *r;

	for (int i = 0; i < c->rep->ntargets; i++) {
		if (strncasecmp(c->rep->targets[i], "unsubscribe+", 12) != 0)
			continue;
		c->rep->kind = BOUNCE_KIND_UNSUBSCRIBE;
		if (c->rep->from[0] && (r = result_for(c->rep, c->rep->from)) != NULL) {
			r->action = BOUNCE_UNSUBSCRIBE;
			r->reason = "mailto";
			r->why = "a mail to the List-Unsubscribe address asks to unsubscribe";
			fmt_clip(r->evidence, sizeof(r->evidence), "sent to the unsubscribe+TOKEN address");
		}
		return true;
	}
	return false;
}

/*
 * Microsoft's complaint reports (JMRP) forward the reported message with
 * no feedback-report part; the recipient is in X-HmXmrOriginalRecipient.
 */
static bool
jmrp(struct ctx *c)
{
	struct field f;
	size_t pos = 0;
	char a[ADDR_MAX + 1];

	while (next_field(c->returned.s, c->returned.len, &pos, &f)) {
		struct bounce_result *r;

		if (!field_is(&f, "x-hmxmroriginalrecipient") || !value_addr(f.value, a))
			continue;
		c->rep->kind = BOUNCE_KIND_ARF;
		if ((r = result_for(c->rep, a)) != NULL) {
			r->action = BOUNCE_COMPLAINT;
			r->reason = "complaint";
			r->why = "a complaint report (Microsoft JMRP) names the recipient";
			fmt_clip(r->evidence, sizeof(r->evidence), "X-HmXmrOriginalRecipient");
		}
		return true;
	}
	return false;
}

static void
parse_text(struct ctx *c, const char *text, size_t len, const char *failed_hdr)
{
	struct found found[BOUNCE_MAX_RESULTS];
	int n = 0;

	/* Exim's X-Failed-Recipients names them. */
	if (failed_hdr) {
		size_t pos = 0, start;
		char a[ADDR_MAX + 1];

		while (n < BOUNCE_MAX_RESULTS && next_addr(failed_hdr, strlen(failed_hdr), &pos, a, &start)) {
			size_t p2 = 0, s2;
			char b[ADDR_MAX + 1];

			if (!addr_copy(found[n].addr, a))
				continue;
			found[n].at = len;
			while (next_addr(text, len, &p2, b, &s2))
				if (strcasecmp(a, b) == 0) {
					while (s2 > 0 && text[s2 - 1] != '\n')
						s2--;
					found[n].at = s2;
					break;
				}
			n++;
		}
	}
	if (n == 0)
		n = text_recipients(c, text, len, found, BOUNCE_MAX_RESULTS, 0);
	if (n == 0)	/* a bounce about postmaster@ itself */
		n = text_recipients(c, text, len, found, BOUNCE_MAX_RESULTS, 1);
	if (n == 0)	/* only the quoted To: of the message names it */
		n = text_recipients(c, text, len, found, BOUNCE_MAX_RESULTS, 2);
	if (n == 0) {
		/* The returned message's To: */
		struct field f;
		size_t pos = 0;
		char a[ADDR_MAX + 1];

		while (next_field(c->returned.s, c->returned.len, &pos, &f))
			if (field_is(&f, "to") && value_addr(f.value, a) && !is_excluded(c, a)) {
				if (!addr_copy(found[0].addr, a))
					continue;
				found[0].at = len;
				n = 1;
				break;
			}
	}
	for (int i = 0; i < n; i++) {
		struct bounce_result *r = result_for(c->rep, found[i].addr);
		size_t next = len;

		if (r == NULL)
			continue;
		for (int j = 0; j < n; j++)
			if (found[j].at > found[i].at && found[j].at < next)
				next = found[j].at;
		if (found[i].at < len) {
			size_t e = context_end(text, len, found[i].at, next);
			size_t le = logical_line_end(text, len, found[i].at);

			/* The recipient's own line first, when it says why. */
			decide(r, text + found[i].at, le - found[i].at, NULL, false);
			/* Else the first line after it that gives a code or a reason. */
			for (size_t b = le + 1; strcmp(r->reason, "undefined") == 0 &&
			     !has_reply_code(text + found[i].at, le - found[i].at) && b < e; ) {
				size_t be = logical_line_end(text, len, b);
				struct bounce_rule_match m;

				if (be > e)
					be = e;
				if (has_reply_code(text + b, be - b) ||
				    (bounce_rules_match(c->lower.s + b, be - b, &m) && !m.weak)) {
					decide(r, text + b, be - b, NULL, false);
					break;
				}
				b = be + 1;
			}
			if (strcmp(r->reason, "undefined") == 0 && !has_reply_code(text + found[i].at, le - found[i].at)) {
				decide(r, text + found[i].at, e - found[i].at, NULL, false);
				if (r->action == BOUNCE_SOFT && strcmp(r->reason, "undefined") == 0)
					decide(r, text, len, NULL, false);
			}
		} else {
			decide(r, text, len, NULL, false);
		}
	}
}

/*
 * Amazon SES notifications sent by mail (SNS): JSON, not a DSN. The
 * recipients and their codes are fields; jansson reads them.
 */
static json_t *
ses_json(const char *text, size_t len)
{
	const char *b = memchr(text, '{', len);
	json_t *j, *msg;

	if (b == NULL || memmem(text, len, "notificationType", 16) == NULL)
		return NULL;
	{
		/* Long lines arrive folded: the line breaks are not JSON's. */
		struct buf flat;

		buf_init(&flat);
		for (const char *p = b; p < text + len; p++)
			if (*p != '\n' && *p != '\r')
				buf_addc(&flat, *p);
		j = flat.len ? json_loadb(flat.s, flat.len, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
		buf_free(&flat);
	}
	if (j == NULL)
		return NULL;
	msg = json_object_get(j, "Message");
	if (json_is_string(msg)) {	/* SNS wraps the notification in a string */
		json_t *inner = json_loads(json_string_value(msg), 0, NULL);

		json_decref(j);
		j = inner;
	}
	if (j && !json_is_string(json_object_get(j, "notificationType"))) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

static bool
parse_ses(struct ctx *c, const char *text, size_t len)
{
	json_t *j = ses_json(text, len), *list, *item;
	const char *type;
	size_t i;

	if (j == NULL)
		return false;
	type = json_string_value(json_object_get(j, "notificationType"));
	if (strcasecmp(type, "Bounce") == 0) {
		json_t *b = json_object_get(j, "bounce");
		const char *btype = json_string_value(json_object_get(b, "bounceType"));
		bool transient = btype && strcasecmp(btype, "Permanent") != 0;

		list = json_object_get(b, "bouncedRecipients");
		json_array_foreach(list, i, item) {
			const char *addr = json_string_value(json_object_get(item, "emailAddress"));
			const char *status = json_string_value(json_object_get(item, "status"));
			const char *diag = json_string_value(json_object_get(item, "diagnosticCode"));
			char a[ADDR_MAX + 1];
			struct smtp_status st;
			struct bounce_result *r;

			if (!addr || !value_addr(addr, a) || (r = result_for(c->rep, a)) == NULL)
				continue;
			if (!diag)
				diag = "";
			decide(r, diag, strlen(diag), status && status_parse(status, &st) ? &st : NULL, transient);
		}
	} else if (strcasecmp(type, "Complaint") == 0) {
		list = json_object_get(json_object_get(j, "complaint"), "complainedRecipients");
		json_array_foreach(list, i, item) {
			const char *addr = json_string_value(json_object_get(item, "emailAddress"));
			char a[ADDR_MAX + 1];
			struct bounce_result *r;

			if (!addr || !value_addr(addr, a) || (r = result_for(c->rep, a)) == NULL)
				continue;
			r->action = BOUNCE_COMPLAINT;
			r->reason = "complaint";
			r->why = "an Amazon SES complaint notification names the recipient";
			fmt_clip(r->evidence, sizeof(r->evidence), "notificationType: Complaint");
		}
	} else if (strcasecmp(type, "Delivery") == 0) {
		list = json_object_get(json_object_get(j, "delivery"), "recipients");
		json_array_foreach(list, i, item) {
			char a[ADDR_MAX + 1];
			struct bounce_result *r;

			if (!json_is_string(item) || !value_addr(json_string_value(item), a) ||
			    (r = result_for(c->rep, a)) == NULL)
				continue;
			r->action = BOUNCE_IGNORE;
			r->reason = "delivered";
			r->why = "an Amazon SES delivery notification";
			fmt_clip(r->evidence, sizeof(r->evidence), "notificationType: Delivery");
		}
	}
	json_decref(j);
	return true;
}

/* --- the message --- */

static bool
header_has(GMimeObject *o, const char *name, const char *const *words)
{
	const char *v = g_mime_object_get_header(o, name);

	if (v == NULL)
		return false;
	if (words == NULL)
		return true;
	for (; *words; words++)
		if (strcasestr(v, *words))
			return true;
	return false;
}

static const char *const autoreply_subjects[] = {
	"auto:", "automatic reply", "auto reply", "autoreply", "auto-reply", "out of office",
	"out of the office", "vacation", "abwesenheit", "absence", "réponse automatique", NULL,
};
static const char *const bounce_subjects[] = {
	"undeliver", "undelivered", "returned mail", "delivery fail", "delivery status",
	"failure notice", "mail delivery", "delivery notification", "non remis", "nondeliver",
	"not delivered", "could not be delivered", "returned to sender", "delivery problem",
	"rejected", "error", "failed", "warning", "unzustellbar", NULL,
};

static bool
is_autoreply(GMimeObject *top)
{
	static const char *const replied[] = {"auto-replied", NULL};

	return header_has(top, "Auto-Submitted", replied) || header_has(top, "X-Autoreply", NULL) ||
	       header_has(top, "X-Autorespond", NULL) || header_has(top, "Subject", autoreply_subjects);
}

static bool
looks_bounce(struct ctx *c, GMimeObject *top)
{
	return is_robot(c->rep->from) || header_has(top, "X-Failed-Recipients", NULL) ||
	       header_has(top, "Subject", bounce_subjects);
}

static const char *
raw_header(void *arg, const char *name)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(arg);
	GMimeHeader *h = hl ? g_mime_header_list_get_header(hl, name) : NULL;

	return h ? g_mime_header_get_raw_value(h) : NULL;
}

static void
analyze(struct ctx *c, GMimeObject *top)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(top);
	int nh = hl ? g_mime_header_list_get_count(hl) : 0;
	const char *failed = g_mime_object_get_header(top, "X-Failed-Recipients");
	size_t hend;
	const char *human;
	size_t hlen;

	for (int i = 0; i < nh; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *name = g_mime_header_get_name(h);
		const char *raw;

		/* Raw values: an address needs no RFC 2047 decoding. */
		if (strcasecmp(name, "Delivered-To") != 0 && strcasecmp(name, "X-Original-To") != 0 &&
		    strcasecmp(name, "Envelope-To") != 0 && strcasecmp(name, "X-Envelope-To") != 0 &&
		    strcasecmp(name, "To") != 0 && strcasecmp(name, "From") != 0)
			continue;
		if ((raw = g_mime_header_get_raw_value(h)) == NULL)
			continue;
		if (strcasecmp(name, "From") == 0) {
			if (c->rep->from[0] == '\0')
				value_addr(raw, c->rep->from);
			continue;
		}
		add_target(c->rep, raw);
		if (strcasecmp(name, "To") == 0 && c->to[0] == '\0')
			value_addr(raw, c->to);
	}


	c->mta = bounce_rules_mta(raw_header, top);
	walk(c, top, 0);
	if (c->human.len == 0 && c->html.len > 0)
		html_to_text(&c->html, &c->human);
	{
		struct field f;
		size_t pos = 0;

		while (next_field(c->returned.s, c->returned.len, &pos, &f))
			if (field_is(&f, "from")) {
				value_addr(f.value, c->returned_from);
				break;
			}
	}

	/* The readable part, up to where a returned message is quoted. */
	lower_copy(&c->lower, c->human.s, c->human.len);
	hend = human_end(c->lower.s, c->lower.len);
	c->lower.len = hend;
	human = c->human.s ? c->human.s : "";
	hlen = hend;
	if (hend < c->human.len && c->returned.len == 0) {
		/* Inline returned message: its headers follow the marker. */
		buf_add(&c->returned, c->human.s + hend, c->human.len - hend);
		/* next_field wants headers from the start of a line */
		const char *p = c->returned.s;
		size_t k = 0;

		while (k < c->returned.len && !starts_ci(p + k, "received:") && !starts_ci(p + k, "from:") &&
		       !starts_ci(p + k, "to:") && !starts_ci(p + k, "return-path:")) {
			const char *nl = memchr(p + k, '\n', c->returned.len - k);

			if (!nl)
				break;
			k = (size_t)(nl - p) + 1;
		}
		memmove(c->returned.s, c->returned.s + k, c->returned.len - k);
		c->returned.len -= k;
		c->returned.s[c->returned.len] = '\0';
		{
			struct field f;
			size_t pos = 0;

			while (next_field(c->returned.s, c->returned.len, &pos, &f))
				if (field_is(&f, "from")) {
					value_addr(f.value, c->returned_from);
					break;
				}
		}
	}

	if (unsubscribe_request(c))
		return;
	if (c->feedback.len > 0) {
		c->rep->kind = BOUNCE_KIND_ARF;
		parse_arf(c);
		return;
	}
	if (c->returned.len > 0 && c->status.len == 0 && jmrp(c))
		return;
	if (c->status.len > 0) {
		c->rep->kind = BOUNCE_KIND_DSN;
		parse_dsn(c, human, hlen);
		for (int i = 0; i < c->rep->n; i++) {
			struct bounce_result *r = &c->rep->r[i];
			struct bounce_rule_match m;

			check_context(c, r);
			/* The readable text names a reason that is not a dead
			 * address: the report contradicts itself; never hard. */
			size_t wb, wl;

			if (r->action == BOUNCE_HARD && recipient_window(c, r->recipient, &wb, &wl) &&
			    bounce_rules_match(c->lower.s + wb, wl, &m) &&
			    m.action == BOUNCE_SOFT && !m.weak && !m.temporary) {
				r->action = BOUNCE_SOFT;
				r->reason = m.reason;
				r->why = "the status says the address is gone, but the readable text gives another reason";
			}
		}
		if (c->rep->n > 0)
			return;
	}
	if (c->status.len == 0 && !looks_bounce(c, top) && is_autoreply(top)) {
		struct bounce_result *r;

		c->rep->kind = BOUNCE_KIND_AUTO_REPLY;
		if (c->rep->from[0] && (r = result_for(c->rep, c->rep->from)) != NULL) {
			const char *subj = g_mime_object_get_header(top, "Subject");

			r->action = BOUNCE_IGNORE;
			r->reason = "auto-reply";
			r->why = "an automatic reply (vacation, out of office) is not a bounce";
			fmt_clip(r->evidence, sizeof(r->evidence), "Subject: %.200s", subj ? subj : "");
			for (char *p = r->evidence; *p; p++)
				if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
					*p = '?';
		}
		return;
	}
	if (c->status.len == 0 && !looks_bounce(c, top)) {
		c->rep->kind = BOUNCE_KIND_NONE;
		return;
	}
	if (parse_ses(c, human, hlen)) {
		c->rep->kind = BOUNCE_KIND_SES;
		return;
	}
	c->rep->kind = BOUNCE_KIND_TEXT;
	parse_text(c, human, hlen, failed);
	for (int i = 0; i < c->rep->n; i++)
		check_context(c, &c->rep->r[i]);
}

/* What one thread reuses from message to message. */
struct bounce_parser {
	GMimeParser *parser;
	GMimeStream *empty;	/* given to the parser between messages */
	struct buf human, html, status, feedback, returned, lower;
};

struct bounce_parser *
bounce_parser_new(void)
{
	struct bounce_parser *bp = xcalloc(1, sizeof(*bp));

	bounce_init();
	bp->parser = g_mime_parser_new();
	bp->empty = g_mime_stream_mem_new();
	g_mime_parser_init_with_stream(bp->parser, bp->empty);
	buf_init(&bp->human);
	buf_init(&bp->html);
	buf_init(&bp->status);
	buf_init(&bp->feedback);
	buf_init(&bp->returned);
	buf_init(&bp->lower);
	return bp;
}

void
bounce_parser_free(struct bounce_parser *bp)
{
	if (bp == NULL)
		return;
	g_object_unref(bp->parser);
	g_object_unref(bp->empty);
	buf_free(&bp->human);
	buf_free(&bp->html);
	buf_free(&bp->status);
	buf_free(&bp->feedback);
	buf_free(&bp->returned);
	buf_free(&bp->lower);
	free(bp);
}

int
bounce_parse_with(struct bounce_parser *bp, const char *data, size_t len, const char *envelope_rcpt,
		  struct bounce_report *rep, char *err)
{
	GMimeStream *stream;
	GMimeObject *msg;
	GByteArray *bytes;
	struct ctx c;

	/* Not the whole report (tens of kilobytes): each result is cleared
	 * when it is added (result_for). */
	rep->n = 0;
	rep->ntargets = 0;
	rep->from[0] = '\0';
	rep->kind = BOUNCE_KIND_NONE;
	if (len > BOUNCE_MAX_MESSAGE)
		return errf(err, "the message is larger than %d bytes (BOUNCE_MAX_MESSAGE)", BOUNCE_MAX_MESSAGE);
	if (envelope_rcpt && *envelope_rcpt)
		add_target(rep, envelope_rcpt);
	/* An mbox "From " line first is the envelope, not a header. */
	if (len >= 5 && memcmp(data, "From ", 5) == 0) {
		const char *nl = memchr(data, '\n', len);

		len = nl ? len - (size_t)(nl + 1 - data) : 0;
		data = nl ? nl + 1 : data + len;
	}
	/* The stream reads @data in place (no copy): GMime only reads it, and
	 * the array is freed without its data once the message is gone. */
	bytes = g_byte_array_new_take((guint8 *)(uintptr_t)data, len);
	stream = g_mime_stream_mem_new_with_byte_array(bytes);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	g_mime_parser_init_with_stream(bp->parser, stream);
	g_object_unref(stream);
	g_mime_parser_set_format(bp->parser, GMIME_FORMAT_MESSAGE);
	/* The top level as a part: its headers and body, without the
	 * message object's address lists (nothing here reads them). */
	msg = g_mime_parser_construct_part(bp->parser, NULL);
	/* The parser lets go of the stream: only the message holds it now. */
	g_mime_parser_init_with_stream(bp->parser, bp->empty);
	if (msg == NULL) {
		g_byte_array_free(bytes, FALSE);
		return errf(err, "not a mail message: no header could be read");
	}

	memset(&c, 0, sizeof(c));
	c.rep = rep;
	c.human = bp->human;
	c.html = bp->html;
	c.status = bp->status;
	c.feedback = bp->feedback;
	c.returned = bp->returned;
	c.lower = bp->lower;
	buf_reset(&c.human);
	buf_reset(&c.html);
	buf_reset(&c.status);
	buf_reset(&c.feedback);
	buf_reset(&c.returned);
	buf_reset(&c.lower);
	analyze(&c, msg);
	/* Evidence copied from fields may hold any byte: printable ASCII only. */
	for (int i = 0; i < rep->n; i++)
		for (char *p = rep->r[i].evidence; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				*p = '?';
	/* The buffers keep their room for the next message. */
	bp->human = c.human;
	bp->html = c.html;
	bp->status = c.status;
	bp->feedback = c.feedback;
	bp->returned = c.returned;
	bp->lower = c.lower;
	g_object_unref(msg);
	g_byte_array_free(bytes, FALSE);
	return 0;
}

int
bounce_parse(const char *data, size_t len, const char *envelope_rcpt,
	     struct bounce_report *rep, char *err)
{
	struct bounce_parser *bp = bounce_parser_new();
	int r = bounce_parse_with(bp, data, len, envelope_rcpt, rep, err);

	bounce_parser_free(bp);
	return r;
}
