/*
 * tests/fuzz/fuzz_accept_language.c - libFuzzer over the Accept-Language
 * parser of the web pages: any header, of any length, gives one of the
 * languages we speak and never reads out of bounds.
 */
#include <stdlib.h>
#include <string.h>

#include "../../web/web_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *h = malloc(size + 1);
	enum web_lang l;

	if (h == NULL)
		return 0;
	memcpy(h, data, size);
	h[size] = '\0';
	l = web_page_lang(h, LANG_NB);
	if (l != LANG_EN && l != LANG_NB)
		abort();
	free(h);
	return 0;
}
