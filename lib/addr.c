/*
 * lib/addr.c - e-mail address syntax: RFC 5322 addr-spec (dot-atom or
 * quoted-string local part) within the length limits of RFC 5321, and an
 * RFC 1035 host name with at least two labels as domain.
 *
 * One mailbox has one normalised form: a quoted local part is written in
 * its shortest equivalent (RFC 5321 4.1.2: "per.x" and "per\.x" are the
 * mailbox per.x), so that suppression, lookups and bounce attribution, all
 * keyed on this form, cannot be got around by quoting.
 *
 * Trusts nothing in its input. Error messages say what is wrong without
 * repeating the address, so that they may be logged.
 */
#include "lib.h"

#include <string.h>

static bool
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
check_dot_atom(const char *s, size_t n, char *err)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (i == 0)
				return errf(err, "the local part starts with a dot");
			if (i == n - 1)
				return errf(err, "the local part ends with a dot");
			if (s[i + 1] == '.')
				return errf(err, "the local part has two dots in a row");
		} else if (c >= 0x80) {
			return errf(err, "non-ASCII characters in the local part are not supported");
		} else if (!is_atext(c)) {
			if (c < 0x20 || c == 0x7f)
				return errf(err, "a control character is not allowed in the local part");
			return errf(err, "the character '%c' is not allowed in the local part (unless quoted)", c);
		}
	}
	return 0;
}

static int
check_quoted(const char *s, size_t n, char *err)
{
	/* s[0] and s[n-1] are the quotes */
	for (size_t i = 1; i < n - 1; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\') {
			i++;
			if (i >= n - 1)
				return errf(err, "the quoted local part ends with a lone backslash");
			c = (unsigned char)s[i];
			if (c < 0x20 || c > 0x7e)
				return errf(err, "the quoted local part escapes a character that is not printable ASCII");
		} else if (c == '"') {
			return errf(err, "the quoted local part has an unescaped quote");
		} else if (c >= 0x80) {
			return errf(err, "non-ASCII characters in the local part are not supported");
		} else if (c < 0x20 || c == 0x7f) {
			return errf(err, "a control character is not allowed in the local part");
		}
	}
	return 0;
}

static int
check_domain(const char *s, size_t n, char *err)
{
	size_t label = 0, labels = 1;
	bool all_digits = true;

	if (n == 0)
		return errf(err, "the domain is empty");
	if (s[0] == '[')
		return errf(err, "address literals ([...]) are not accepted as domain");
	if (n > ADDR_DOMAIN_MAX)
		return errf(err, "the domain is longer than %d characters", ADDR_DOMAIN_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0)
				return errf(err, "the domain has an empty label (two dots, or a dot at its start)");
			if (s[i - 1] == '-')
				return errf(err, "a domain label ends with a hyphen");
			label = 0;
			labels++;
			all_digits = true;
			continue;
		}
		if (c >= 0x80)
			return errf(err, "non-ASCII characters in the domain are not supported: use its xn-- (punycode) form");
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-')) {
			if (c < 0x20 || c == 0x7f)
				return errf(err, "a control character is not allowed in the domain");
			return errf(err, "the character '%c' is not allowed in the domain", c);
		}
		if (c == '-' && label == 0)
			return errf(err, "a domain label starts with a hyphen");
		if (!(c >= '0' && c <= '9'))
			all_digits = false;
		if (++label > ADDR_LABEL_MAX)
			return errf(err, "a domain label is longer than %d characters", ADDR_LABEL_MAX);
	}
	if (label == 0)
		return errf(err, "the domain ends with a dot");
	if (s[n - 1] == '-')
		return errf(err, "a domain label ends with a hyphen");
	if (labels < 2)
		return errf(err, "the domain has no dot (a full domain such as example.org is needed)");
	if (all_digits)
		return errf(err, "the domain's last label is all digits");
	return 0;
}

/* Whether @s[0..n) is a dot-atom: atext runs joined by single dots. */
static bool
is_dot_atom(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '.' ? s[i + 1] == '.' : !is_atext((unsigned char)s[i]))
			return false;
	return true;
}

/*
 * Writes the shortest form of the quoted local part @s[0..n) (checked by
 * check_quoted) into @out (ADDR_LOCAL_MAX + 1 bytes): its content bare if
 * that is a dot-atom, else quoted with only quote and backslash escaped.
 */
static int
canonical_quoted(const char *s, size_t n, char *out, size_t *outlen, char *err)
{
	char content[ADDR_LOCAL_MAX + 1];
	size_t len = 0, o = 0;

	for (size_t i = 1; i < n - 1; i++) {
		if (s[i] == '\\')
			i++;
		if (len == ADDR_LOCAL_MAX)
			return errf(err, "the local part is longer than %d characters", ADDR_LOCAL_MAX);
		content[len++] = s[i];
	}
	if (is_dot_atom(content, len)) {
		memcpy(out, content, len);
		*outlen = len;
		return 0;
	}
	out[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		size_t need = (content[i] == '"' || content[i] == '\\') ? 2 : 1;

		if (o + need + 1 > ADDR_LOCAL_MAX)
			return errf(err, "the local part is longer than %d characters", ADDR_LOCAL_MAX);
		if (need == 2)
			out[o++] = '\\';
		out[o++] = content[i];
	}
	out[o++] = '"';
	*outlen = o;
	return 0;
}

int
addr_normalize(const char *in, char *out, char *err)
{
	const char *start = in, *end = in + strlen(in), *at;
	char local[ADDR_LOCAL_MAX + 1];
	size_t n, local_len, domain_len;

	while (start < end && is_space((unsigned char)*start))
		start++;
	while (end > start && is_space((unsigned char)end[-1]))
		end--;
	n = (size_t)(end - start);
	if (n == 0)
		return errf(err, "the address is empty");
	/*
	 * The limits hold for the normalised form; as written, a quoted local
	 * part may be up to twice as long plus its quotes ("\a\b" is ab).
	 */
	if (n > 2 * ADDR_MAX + 2)
		return errf(err, "the address is longer than %d characters", ADDR_MAX);
	if (*start == '<' || memchr(start, '<', n) != NULL)
		return errf(err, "give the bare address, without a name or angle brackets");

	/* The last '@' separates: a quoted local part may contain one. */
	at = NULL;
	for (const char *p = end; p > start; p--)
		if (p[-1] == '@') {
			at = p - 1;
			break;
		}
	if (at == NULL)
		return errf(err, "the address has no '@'");
	local_len = (size_t)(at - start);
	domain_len = (size_t)(end - at - 1);
	if (local_len == 0)
		return errf(err, "the local part (before '@') is empty");
	if (start[0] == '"') {
		if (local_len < 2 || start[local_len - 1] != '"')
			return errf(err, "the quoted local part has no closing quote");
		if (check_quoted(start, local_len, err) < 0)
			return -1;
		if (canonical_quoted(start, local_len, local, &local_len, err) < 0)
			return -1;
	} else {
		if (local_len > ADDR_LOCAL_MAX)
			return errf(err, "the local part is longer than %d characters", ADDR_LOCAL_MAX);
		if (memchr(start, '@', local_len) != NULL)
			return errf(err, "the address has more than one '@'");
		if (check_dot_atom(start, local_len, err) < 0)
			return -1;
		memcpy(local, start, local_len);
	}
	if (local_len + 1 + domain_len > ADDR_MAX)
		return errf(err, "the address is longer than %d characters", ADDR_MAX);
	if (check_domain(at + 1, domain_len, err) < 0)
		return -1;

	memcpy(out, local, local_len);
	out[local_len] = '@';
	for (size_t i = 0; i < domain_len; i++) {
		char c = at[1 + i];

		out[local_len + 1 + i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[local_len + 1 + domain_len] = '\0';
	return 0;
}

void
addr_fold(const char *normalized, char *out)
{
	size_t i;

	for (i = 0; normalized[i] != '\0' && i < ADDR_MAX; i++) {
		char c = normalized[i];

		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[i] = '\0';
}

void
addr_mask(const char *normalized, char *out, size_t outlen)
{
	const char *at = strrchr(normalized, '@');
	const char *first = normalized, *end = at ? at : normalized;
	size_t n = 0, dom;

	/* By hand, not snprintf: every page view of the server masks one. */
	if (outlen == 0)
		return;
	while (first < end && !is_atext((unsigned char)*first))
		first++;
	if (first < end && n + 1 < outlen)
		out[n++] = *first;
	for (int i = 0; i < 3 && n + 1 < outlen; i++)
		out[n++] = '*';
	if (at == NULL)
		at = "";
	dom = strlen(at);
	if (dom > outlen - 1 - n)
		dom = outlen - 1 - n;
	memcpy(out + n, at, dom);
	out[n + dom] = '\0';
}
