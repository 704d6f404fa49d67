/*
 * bounce/text.c - bounces in plain text that follow no standard (qmail,
 * Exim, Sendmail, Exchange, Gmail, ...): where the readable text names
 * recipients, which lines concern each, and what they say.
 */
#include "parse_int.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* Where the returned message starts inside a plain-text bounce. */
static const char *const returned_markers[] = {
	"original message follows", "-- original message", "original message --",
	"copy of the message", "copy of your message", "unsent message follows",
	"message header follows", "message headers follow", "returned message follows",
	"headers of the original", "header of the original message", "original message header",
	"undelivered message follows", "returned mail follows", "content-type: message/rfc822",
	"--- below this line", "------ this is a copy",
};

#define NMARKERS (sizeof(returned_markers) / sizeof(returned_markers[0]))

/* Each marker's length, and where it holds the word "message" (SIZE_MAX:
 * it does not): the same for every text, measured once (bounce_init). */
static struct {
	size_t n[NMARKERS], off[NMARKERS];
} marker_len;
static pthread_once_t marker_once = PTHREAD_ONCE_INIT;

static void
markers_measure(void)
{
	for (size_t i = 0; i < NMARKERS; i++) {
		const char *w = strstr(returned_markers[i], "message");

		marker_len.n[i] = strlen(returned_markers[i]);
		marker_len.off[i] = w ? (size_t)(w - returned_markers[i]) : SIZE_MAX;
	}
}

void
bounce_text_markers_init(void)
{
	pthread_once(&marker_once, markers_measure);
}

/*
 * Where each marker first occurs in the @len bytes at @lower (@first,
 * SIZE_MAX when it does not): most hold the word "message", and are
 * found where that word is, in one pass for all of them (memmem per
 * marker was a pass each over the text); the others by memmem.
 */
static void
markers_first(const char *lower, size_t len, size_t first[NMARKERS])
{
	static const char word[] = "message";
	const size_t *off = marker_len.off, *n = marker_len.n;
	const char *q;

	bounce_text_markers_init();
	for (size_t i = 0; i < NMARKERS; i++) {
		first[i] = SIZE_MAX;
		if (off[i] == SIZE_MAX && (q = memmem(lower, len, returned_markers[i], n[i])) != NULL)
			first[i] = (size_t)(q - lower);
	}
	for (q = lower; (q = memmem(q, (size_t)(lower + len - q), word, sizeof(word) - 1)) != NULL; q++) {
		size_t at = (size_t)(q - lower);

		for (size_t i = 0; i < NMARKERS; i++)
			if (off[i] != SIZE_MAX && first[i] == SIZE_MAX && at >= off[i] &&
			    at - off[i] + n[i] <= len && memcmp(q - off[i], returned_markers[i], n[i]) == 0)
				first[i] = at - off[i];
	}
}

size_t
bounce_text_end(const char *lower, size_t len)
{
	size_t first[NMARKERS], end = len;

	/* The earliest marker, as memmem of each in turn over the text
	 * before the earliest so far finds it: a first occurrence that
	 * does not end before that is no occurrence there. */
	markers_first(lower, len, first);
	for (size_t i = 0; i < NMARKERS; i++)
		if (first[i] != SIZE_MAX && first[i] + marker_len.n[i] <= end)
			end = first[i];
	/* A returned message quoted without a marker: its header block. */
	for (size_t i = 0; i + 12 < end; ) {
		const char *nl;

		if (strncmp(lower + i, "received: ", 10) == 0 || strncmp(lower + i, "return-path:", 12) == 0) {
			end = i;
			break;
		}
		/* The next line's start (memchr, not byte by byte). */
		if ((nl = memchr(lower + i, '\n', end - i)) == NULL)
			break;
		i = (size_t)(nl - lower) + 1;
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
is_excluded(const struct bounce_ctx *c, const char *a)
{
	return strcasecmp(a, c->to) == 0 || strcasecmp(a, c->rep->from) == 0 ||
	       (c->returned_from[0] && strcasecmp(a, c->returned_from) == 0);
}

struct found {
	char addr[ADDR_MAX + 1];
	size_t at;
};

/* Whether the address at @start follows "generated from" or "expanded
 * from": the address mailed, named beside a recipient (mailed_as), not a
 * recipient of its own. */
static bool
origin_of_another(const char *text, size_t start)
{
	static const char *const marks[] = {"generated from ", "expanded from "};
	size_t e = start;

	if (e > 0 && text[e - 1] == '<')
		e--;
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		size_t k = strlen(marks[i]);

		if (e >= k && strncasecmp(text + e - k, marks[i], k) == 0)
			return true;
	}
	return false;
}

/* The recipients a plain text names, in order; returns how many. */
static int
text_recipients(const struct bounce_ctx *c, const char *text, size_t len, struct found *out, int max,
		int pass)
{
	size_t pos = 0, start;
	char a[ADDR_MAX + 1];
	int n = 0;

	while (n < max && bounce_scan_addr(text, len, &pos, a, &start)) {
		size_t ls = start;
		bool dup = false;

		while (ls > 0 && text[ls - 1] != '\n')
			ls--;
		if ((header_line(text + ls, start - ls) && !(pass >= 2 && to_line(text + ls, start - ls))) ||
		    is_excluded(c, a) || (pass == 0 && bounce_scan_robot(a)) || origin_of_another(text, start))
			continue;
		/* "...@host>" right after "message-id" or "<" with digits: an id */
		for (int i = 0; i < n; i++)
			if (strcasecmp(out[i].addr, a) == 0)
				dup = true;
		if (dup)
			continue;
		if (!bounce_scan_copy_addr(out[n].addr, a))
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
		const char *nl = e < len ? memchr(text + e, '\n', len - e) : NULL;

		e = nl ? (size_t)(nl - text) : len;
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

/*
 * The address mailed, when the lines about a recipient say it was reached
 * through another: Exim's "(generated from A)" or "(ultimately generated
 * from A)", Postfix's "(expanded from <A>)". That address is the one a
 * subscriber list holds; the result keeps it as its original.
 */
static void
mailed_as(const struct bounce_ctx *c, const char *text, size_t at, size_t end, struct bounce_result *r)
{
	static const char *const marks[] = {"generated from ", "expanded from "};
	const char *low = c->lower.s + at;
	char a[ADDR_MAX + 1];

	if (c->lower.s == NULL || end > c->lower.len || at >= end)
		return;
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		const char *p = memmem(low, end - at, marks[i], strlen(marks[i]));
		size_t pos, start, line;

		if (p == NULL)
			continue;
		/* the address right after the words, on the same line */
		pos = (size_t)(p - c->lower.s) + strlen(marks[i]);
		for (line = pos; line < end && text[line] != '\n'; line++)
			;
		if (bounce_scan_addr(text, line, &pos, a, &start) && strcasecmp(a, r->recipient) != 0)
			(void)bounce_scan_copy_addr(r->original, a);	/* "" if it did not fit */
		return;
	}
}

static void
read_recipients(struct bounce_ctx *c, const char *text, size_t len, const char *failed_hdr)
{
	struct found found[BOUNCE_MAX_RESULTS];
	struct bounce_rule_match pm;
	size_t first = len;
	int n = 0;

	/* Exim's X-Failed-Recipients names them. */
	if (failed_hdr) {
		size_t pos = 0, start;
		char a[ADDR_MAX + 1];

		while (n < BOUNCE_MAX_RESULTS && bounce_scan_addr(failed_hdr, strlen(failed_hdr), &pos, a, &start)) {
			size_t p2 = 0, s2;
			char b[ADDR_MAX + 1];

			if (!bounce_scan_copy_addr(found[n].addr, a))
				continue;
			found[n].at = len;
			while (bounce_scan_addr(text, len, &p2, b, &s2))
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
		struct bounce_field f;
		size_t pos = 0;
		char a[ADDR_MAX + 1];

		while (bounce_scan_field(c->returned.s, c->returned.len, &pos, &f))
			if (bounce_scan_field_is(&f, "to") && bounce_scan_value_addr(f.value, a) && !is_excluded(c, a)) {
				if (!bounce_scan_copy_addr(found[0].addr, a))
					continue;
				found[0].at = len;
				n = 1;
				break;
			}
	}
	/* What the text says before it names anyone speaks for all: "Message
	 * ... has been frozen.", an auto-reply's opening. Only a message
	 * that is no bounce is decided so (an ignore row): a failure's
	 * reason is each recipient's own. */
	for (int i = 0; i < n; i++)
		if (found[i].at < first)
			first = found[i].at;
	if (first < len && first > 0 && bounce_rules_match(c->lower.s, first, &pm) &&
	    pm.action == BOUNCE_IGNORE) {
		for (int i = 0; i < n; i++) {
			struct bounce_result *r = bounce_verdict_result(c->rep, found[i].addr);

			if (r)
				bounce_verdict_decide(r, text, first, NULL, false);
		}
		return;
	}
	for (int i = 0; i < n; i++) {
		struct bounce_result *r = bounce_verdict_result(c->rep, found[i].addr);
		size_t next = len;

		if (r == NULL)
			continue;
		for (int j = 0; j < n; j++)
			if (found[j].at > found[i].at && found[j].at < next)
				next = found[j].at;
		if (found[i].at < len) {
			size_t e = context_end(text, len, found[i].at, next);
			size_t le = logical_line_end(text, len, found[i].at);

			mailed_as(c, text, found[i].at, e, r);

			/* The recipient's own line first, when it says why. */
			bounce_verdict_decide(r, text + found[i].at, le - found[i].at, NULL, false);
			/* Else the first line after it that gives a code or a reason. */
			for (size_t b = le + 1; strcmp(r->reason, "undefined") == 0 &&
			     !has_reply_code(text + found[i].at, le - found[i].at) && b < e; ) {
				size_t be = logical_line_end(text, len, b);
				struct bounce_rule_match m;

				if (be > e)
					be = e;
				if (has_reply_code(text + b, be - b) ||
				    (bounce_rules_match(c->lower.s + b, be - b, &m) && !m.weak)) {
					bounce_verdict_decide(r, text + b, be - b, NULL, false);
					break;
				}
				b = be + 1;
			}
			if (strcmp(r->reason, "undefined") == 0 && !has_reply_code(text + found[i].at, le - found[i].at)) {
				bounce_verdict_decide(r, text + found[i].at, e - found[i].at, NULL, false);
				/* The whole text only when it is about this one
				 * recipient: another's lines never decide for it. */
				if (r->action == BOUNCE_SOFT && strcmp(r->reason, "undefined") == 0 && n == 1)
					bounce_verdict_decide(r, text, len, NULL, false);
			}
		} else {
			/* Not named in the text (X-Failed-Recipients, the
			 * returned To): the text speaks for it only when it is
			 * the one recipient. */
			bounce_verdict_decide(r, n == 1 ? text : "", n == 1 ? len : 0, NULL, false);
		}
	}
}

/*
 * The entries of Exim's X-Failed-Recipients that are no address we could
 * have mailed ("someone@somewhere", a domain of one label): reported as
 * such, so that the recipient the report names is not lost in silence.
 */
static void
failed_unaddressed(struct bounce_ctx *c, const char *hdr)
{
	char tok[256], a[ADDR_MAX + 1], why[ERR_LEN];

	while (*hdr) {
		size_t n = strcspn(hdr, ","), b = 0, e = n;

		while (b < e && isspace((unsigned char)hdr[b]))
			b++;
		while (e > b && isspace((unsigned char)hdr[e - 1]))
			e--;
		if (e > b && e - b < sizeof(tok)) {
			memcpy(tok, hdr + b, e - b);
			tok[e - b] = '\0';
			if (!bounce_scan_recipient(tok, a, why))
				(void)bounce_verdict_unaddressed(c->rep, "X-Failed-Recipients", tok, why);
		}
		hdr += n;
		if (*hdr == ',')
			hdr++;
	}
}

void
bounce_text_parse(struct bounce_ctx *c, const char *text, size_t len, const char *failed_hdr)
{
	read_recipients(c, text, len, failed_hdr);
	for (int i = 0; i < c->rep->n; i++)
		bounce_verdict_context(c, &c->rep->r[i]);
	if (failed_hdr)
		failed_unaddressed(c, failed_hdr);
	/* A DSN whose only recipient field held no address, and no address
	 * in its text either: say so. */
	if (c->rep->n == 0 && c->bad[0])
		(void)bounce_verdict_unaddressed(c->rep, c->bad_field, c->bad, c->bad_why);
}
