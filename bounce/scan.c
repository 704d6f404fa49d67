/*
 * bounce/scan.c - reading addresses, header-like fields and lines out of
 * the text of a bounce: the few primitives every report kind reads with.
 *
 * Trusts nothing in the text: every copy is bounded by its buffer, and an
 * address that does not fit is skipped, never cut.
 */
#include "parse_int.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

/*
 * Copies an address read into ADDR_MAX + 1 bytes (bounce_scan_value_addr, bounce_scan_addr);
 * false, and "" in @dst, when it does not fit, which such an address
 * always does: the caller then skips it rather than keep a cut one.
 */
bool
bounce_scan_copy_addr(char dst[ADDR_MAX + 1], const char *a)
{
	return fmt_str(dst, ADDR_MAX + 1, a) == 0;
}

size_t
bounce_scan_lower_copy(char *dst, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] && i < max; i++)
		dst[i] = (char)tolower((unsigned char)s[i]);
	dst[i] = '\0';
	return i;
}

void
bounce_scan_lower(struct buf *out, const char *s, size_t n)
{
	buf_reset(out);
	buf_add(out, s ? s : "", n);
	/* ASCII only, as tolower() in the C locale this program runs in,
	 * without a call per byte. */
	size_t i = 0;

	/* Eight bytes at a time: in each byte below 0x80, 'A'..'Z' gets its
	 * 0x20 bit (the high bit of the sums marks >= 'A' and > 'Z'). */
	for (; i + 8 <= n; i += 8) {
		const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
		uint64_t w, low, upper;

		memcpy(&w, out->s + i, 8);
		low = w & ~high;
		upper = (low + (0x80 - 'A') * ones) & ~(low + (0x80 - 'Z' - 1) * ones) & ~w & high;
		w |= upper >> 2;
		memcpy(out->s + i, &w, 8);
	}
	for (; i < n; i++) {
		unsigned char c = (unsigned char)out->s[i];

		out->s[i] = (char)(c + (((unsigned char)(c - 'A') < 26) << 5));
	}
}

bool
bounce_scan_starts(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Copies the line around @at of @text into @out, printable ASCII only. */
void
bounce_scan_evidence(const char *text, size_t len, size_t at, char out[BOUNCE_EVIDENCE_MAX + 1])
{
	size_t b = at, e = at, n = 0;
	const char *nl;

	if (at > len)
		b = e = len;
	/* The line's start and end by memrchr and memchr, not byte by byte. */
	b = (nl = memrchr(text, '\n', b)) != NULL ? (size_t)(nl - text) + 1 : 0;
	e = (nl = memchr(text + e, '\n', len - e)) != NULL ? (size_t)(nl - text) : len;
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

/* Address types written before a recipient with '=' or ':' (X.400 and
 * Exchange style: "SMTP=a@b", "smtp:a@b"); any word before ';' is one. */
static const char *const addr_types[] = {
	"rfc822", "smtp", "x400", "x-400", "x500", "ex", "sip", "utf-8", "x-local", "local", "unknown",
};

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
bool
bounce_scan_addr(const char *s, size_t len, size_t *pos, char out[ADDR_MAX + 1], size_t *start)
{
	char err[ERR_LEN], tmp[ADDR_MAX + 1];

	for (size_t i = *pos; i < len; i++) {
		const char *at = memchr(s + i, '@', len - i);
		size_t b, e;

		if (at == NULL)
			break;
		i = (size_t)(at - s);
		b = i;
		e = i + 1;
		if (i > 0 && s[i - 1] == '"') {
			/* A quoted local part: addr_normalize gives its plain form. */
			b = quoted_start(s, i - 1);
		} else {
			while (b > 0 && addr_char_local((unsigned char)s[b - 1]) && i - b < ADDR_LOCAL_MAX)
				b--;
			while (b < i && (s[b] == '.' || s[b] == '\''))
				b++;
			/* An address type written into the local part:
			 * "SMTP=a@b", "RFC822=a@b" (X.400 style); only where
			 * the local part has an '='. */
			bool typed = memchr(s + b, '=', i - b) != NULL;

			for (size_t t = 0; typed && t < sizeof(addr_types) / sizeof(addr_types[0]); t++) {
				size_t tn = strlen(addr_types[t]);

				if (i - b > tn + 1 && strncasecmp(s + b, addr_types[t], tn) == 0 && s[b + tn] == '=') {
					b += tn + 1;
					break;
				}
			}
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
bool
bounce_scan_value_addr(const char *v, char out[ADDR_MAX + 1])
{
	size_t pos = 0, start;
	const char *semi = strchr(v, ';');

	if (semi)
		v = semi + 1;
	return bounce_scan_addr(v, strlen(v), &pos, out, &start);
}


/* Strips an address type before ';', or a known one before '=' or ':'. */
static bool
strip_type(char **s)
{
	char *p = *s;
	size_t n = 0;

	while (isalnum((unsigned char)p[n]) || p[n] == '-' || p[n] == '.' || p[n] == '_')
		n++;
	if (n == 0)
		return false;
	if (p[n] == ';') {
		*s = p + n + 1;
		return true;
	}
	if (p[n] != '=' && p[n] != ':')
		return false;
	for (size_t i = 0; i < sizeof(addr_types) / sizeof(addr_types[0]); i++)
		if (strlen(addr_types[i]) == n && strncasecmp(p, addr_types[i], n) == 0) {
			*s = p + n + 1;
			return true;
		}
	return false;
}

/* Removes (comments), nested, outside quoted strings, in place. */
static void
strip_comments(char *s)
{
	char *w = s;
	int depth = 0;
	bool quoted = false;

	for (char *p = s; *p; p++) {
		if (*p == '\\' && p[1] && (quoted || depth > 0)) {
			if (depth == 0) {
				*w++ = *p++;
				*w++ = *p;
			} else {
				p++;
			}
			continue;
		}
		if (*p == '"' && depth == 0)
			quoted = !quoted;
		else if (*p == '(' && !quoted) {
			depth++;
			continue;
		} else if (*p == ')' && !quoted && depth > 0) {
			depth--;
			*w++ = ' ';
			continue;
		}
		if (depth == 0)
			*w++ = *p;
	}
	*w = '\0';
}

/* Trims white space both ends of @s, in place; returns the new start. */
static char *
trim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

bool
bounce_scan_recipient(const char *v, char out[ADDR_MAX + 1], char *err)
{
	char buf[1024], *s, *lt;
	size_t n;

	out[0] = '\0';
	if (fmt_str(buf, sizeof(buf), v) != 0) {
		errf(err, "longer than %zu bytes", sizeof(buf) - 1);
		return false;
	}
	strip_comments(buf);
	s = trim(buf);
	while (strip_type(&s))
		s = trim(s);
	/* "Name <a@b>" or "<a@b>": what is in the brackets. */
	if ((lt = strchr(s, '<')) != NULL && (s[0] == '<' || strchr(s, '"') == NULL || strchr(s, '"') > lt)) {
		char *gt = strchr(lt + 1, '>');

		if (gt == NULL) {
			errf(err, "an unclosed '<'");
			return false;
		}
		*gt = '\0';
		s = trim(lt + 1);
		while (strip_type(&s))
			s = trim(s);
	}
	n = strlen(s);
	/* Quotes or apostrophes around the whole: "\"a@b\"", "'a@b'". */
	if (n >= 2 && ((s[0] == '"' && s[n - 1] == '"' && memchr(s + 1, '"', n - 2) == NULL) ||
		       (s[0] == '\'' && s[n - 1] == '\''))) {
		s[n - 1] = '\0';
		s = trim(s + 1);
		n = strlen(s);
	}
	while (n > 0 && (s[n - 1] == '.' || s[n - 1] == ',' || s[n - 1] == ';'))
		s[--n] = '\0';
	s = trim(s);
	if (*s == '\0') {
		errf(err, "empty");
		return false;
	}
	if (strchr(s, '@') == NULL) {
		errf(err, "no '@'");
		return false;
	}
	if (addr_normalize(s, out, err) < 0) {
		out[0] = '\0';
		return false;
	}
	return true;
}

static const char *const robot_locals[] = {
	"mailer-daemon", "postmaster", "mail-daemon", "maildaemon", "mailerdaemon",
	"noreply", "no-reply", "do-not-reply", "donotreply", "bounce", "bounces",
	"abuse", "root", "daemon", "mdaemon", "nobody", "post_master",
};

bool
bounce_scan_robot(const char *addr)
{
	const char *at = strchr(addr, '@');
	size_t n = at ? (size_t)(at - addr) : strlen(addr);

	for (size_t i = 0; i < sizeof(robot_locals) / sizeof(robot_locals[0]); i++)
		if (strlen(robot_locals[i]) == n && strncasecmp(addr, robot_locals[i], n) == 0)
			return true;
	return false;
}

/* --- header-like fields (DSN, ARF): unfolded, one at a time --- */

/* Reads the next field from @s at *pos; false at the end. */
/* Where the line at @i of @s (@len bytes) ends: its newline, or @len. */
static size_t
line_end(const char *s, size_t len, size_t i)
{
	const char *nl = i < len ? memchr(s + i, '\n', len - i) : NULL;

	return nl ? (size_t)(nl - s) : len;
}

bool
bounce_scan_field(const char *s, size_t len, size_t *pos, struct bounce_field *f)
{
	size_t i = *pos, vlen = 0;
	bool blank = false;

	for (;;) {
		size_t e;

		if (i >= len)
			return false;
		e = line_end(s, len, i);
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
			/* Span by span up to a CR (memchr, memcpy), not byte by
			 * byte: a CR is dropped and takes no room. */
			while (v < s + e && vlen < sizeof(f->value) - 1) {
				size_t n = (size_t)(s + e - v), room = sizeof(f->value) - 1 - vlen;
				const char *cr;

				if (n > room)
					n = room;
				if ((cr = memchr(v, '\r', n)) != NULL)
					n = (size_t)(cr - v);
				memcpy(f->value + vlen, v, n);
				vlen += n;
				v += n + (cr != NULL);
			}
			i = e + 1;
			if (i < len && (s[i] == ' ' || s[i] == '\t')) {
				e = line_end(s, len, i);
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
