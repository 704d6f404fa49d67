/*
 * lib/utf8.c - checks that outside text is well-formed UTF-8 without
 * control characters, so that it can be stored, shown and put in JSON.
 */
#include "lib.h"

#include <string.h>

int
text_check(const char *s, size_t max, const char *what, char *err)
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
		i += len;
	}
	return 0;
}
