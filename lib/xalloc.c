/*
 * lib/xalloc.c - allocation that never returns NULL (Postfix mymalloc.c):
 * running out of memory ends the process with a message, so that callers
 * need no NULL checks. Also errf(), the one way to fill an error buffer.
 */
#include "lib.h"

#include <stdlib.h>
#include <string.h>

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		fatal("out of memory (%zu bytes)", n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		fatal("out of memory (%zu x %zu bytes)", nmemb, size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		fatal("out of memory (%zu bytes)", n);
	return q;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int
errf(char *err, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL) {
		/* A message for a person: cut to ERR_LEN, ending in "..." if so. */
		va_start(ap, fmt);
		log_vformat(err, ERR_LEN, fmt, ap);
		va_end(ap);
	}
	return -1;
}
