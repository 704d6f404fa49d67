/*
 * lib/utf8.c - checks that outside text is well-formed UTF-8 without
 * control characters, so that it can be stored, shown and put in JSON.
 *
 * A name is shown to people (in the To header, greeting them in the
 * newsletter), so it is held to more: no invisible format character (Unicode
 * category Cf) and no line or paragraph separator either. Bidi controls such
 * as U+202E RIGHT-TO-LEFT OVERRIDE make a name display as something else,
 * and zero-width characters hide text. The two joiners are let through:
 * U+200C ZERO WIDTH NON-JOINER is part of the spelling of Persian and of
 * Indic scripts, and U+200D ZERO WIDTH JOINER too, and of emoji sequences.
 */
#include "lib.h"

#include <string.h>

/* Unicode 15.0's format characters (Cf), less the joiners U+200C/U+200D. */
static const struct {
	unsigned int lo, hi;
} format_chars[] = {
	{0x00ad, 0x00ad}, {0x0600, 0x0605}, {0x061c, 0x061c}, {0x06dd, 0x06dd},
	{0x070f, 0x070f}, {0x0890, 0x0891}, {0x08e2, 0x08e2}, {0x180e, 0x180e},
	{0x200b, 0x200b}, {0x200e, 0x200f}, {0x202a, 0x202e}, {0x2060, 0x2064},
	{0x2066, 0x206f}, {0xfeff, 0xfeff}, {0xfff9, 0xfffb}, {0x110bd, 0x110bd},
	{0x110cd, 0x110cd}, {0x13430, 0x1343f}, {0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a},
	{0xe0001, 0xe0001}, {0xe0020, 0xe007f},
};

static bool
is_bidi_control(unsigned int cp)
{
	return cp == 0x061c || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Why @cp may not be in a name, or 0 if it may. */
static int
name_refuses(unsigned int cp, const char *what, char *err)
{
	if (is_bidi_control(cp))
		return errf(err, "the %s has a bidirectional control character (U+%04X), which would "
			    "make it display as something else", what, cp);
	if (cp == 0x2028 || cp == 0x2029)
		return errf(err, "the %s has a line or paragraph separator (U+%04X)", what, cp);
	for (size_t i = 0; i < sizeof(format_chars) / sizeof(format_chars[0]); i++)
		if (cp >= format_chars[i].lo && cp <= format_chars[i].hi)
			return errf(err, "the %s has an invisible format character (U+%04X)", what, cp);
	return 0;
}

static int
check(const char *s, size_t max, const char *what, bool name, char *err)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	if (n > max)
		return errf(err, "the %s is longer than %zu bytes", what, max);
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		size_t len;
		unsigned int cp;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return errf(err, "the %s has a control character", what);
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return errf(err, "the %s is not valid UTF-8", what);
		}
		if (i + len > n)
			return errf(err, "the %s is not valid UTF-8", what);
		for (size_t j = 1; j < len; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return errf(err, "the %s is not valid UTF-8", what);
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return errf(err, "the %s is not valid UTF-8", what);
		if (cp >= 0x80 && cp <= 0x9f)
			return errf(err, "the %s has a control character", what);
		if (name && name_refuses(cp, what, err) < 0)
			return -1;
		i += len;
	}
	return 0;
}

int
text_check(const char *s, size_t max, const char *what, char *err)
{
	return check(s, max, what, false, err);
}

int
text_check_name(const char *s, size_t max, const char *what, char *err)
{
	return check(s, max, what, true, err);
}
