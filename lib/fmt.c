/*
 * lib/fmt.c - formatting into a fixed buffer, where running out of room
 * is an error the caller must handle, never a silent cut.
 *
 * snprintf() returns the length it wanted and cuts the rest; a caller that
 * ignores the result writes a shorter string than it meant (a URL without
 * its token, a path naming another file). fmt() returns -1 when the text
 * does not fit and is declared warn_unused_result, so the compiler holds
 * every caller to checking it. fmt_clip() is for the few texts meant to be
 * cut to a size (a line quoted as evidence): it cuts at a UTF-8 character
 * boundary and says whether it cut.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib.h"

static int
vfmt(char *out, size_t size, const char *f, va_list ap)
{
	int n;

	if (size == 0)
		return -1;
	n = vsnprintf(out, size, f, ap);
	if (n < 0) {
		out[0] = '\0';
		return -1;
	}
	return (size_t)n < size ? 0 : -1;
}

int
fmt(char *out, size_t size, const char *f, ...)
{
	va_list ap;
	int r;

	va_start(ap, f);
	r = vfmt(out, size, f, ap);
	va_end(ap);
	return r;
}

/* Cuts the last character of @out if cutting it to @size bytes left it
 * partial (a UTF-8 sequence without its last bytes). */
static void
cut_partial(char *out)
{
	size_t end = strlen(out), start = end, want, n;
	unsigned char lead;

	while (start > 0 && end - start < 4 && ((unsigned char)out[start - 1] & 0xC0) == 0x80)
		start--;
	if (start == 0)
		return;
	lead = (unsigned char)out[start - 1];
	want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
	n = end - (start - 1);
	if (lead >= 0x80 && n < want)
		out[start - 1] = '\0';
}

bool
fmt_clip(char *out, size_t size, const char *f, ...)
{
	va_list ap;
	int r;

	va_start(ap, f);
	r = vfmt(out, size, f, ap);
	va_end(ap);
	if (r == 0 || size == 0)
		return false;
	cut_partial(out);
	return true;
}

int
fmt_str(char *out, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (size == 0)
		return -1;
	if (n >= size) {
		memcpy(out, s, size - 1);
		out[size - 1] = '\0';
		return -1;
	}
	memcpy(out, s, n + 1);
	return 0;
}

bool
fmt_clip_str(char *out, size_t size, const char *s)
{
	if (fmt_str(out, size, s) == 0 || size == 0)
		return false;
	cut_partial(out);
	return true;
}

bool
fmt_clip_cat(char *out, size_t size, const char *s)
{
	size_t len = strnlen(out, size);

	if (len >= size)
		return fmt_clip_str(out, size, "");
	if (fmt_str(out + len, size - len, s) == 0)
		return false;
	cut_partial(out);
	return true;
}
