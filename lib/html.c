/*
 * lib/html.c - HTML escaping, the one copy: the mail's HTML part
 * (mailer/render.c) and the subscriber's pages (web/page.c) both use it.
 *
 * Escapes the five characters that matter in text and in attribute values
 * quoted with either quote: & < > " '. Every other byte passes through as
 * it is, UTF-8 included. Knows no newsletter logic.
 */
#include "lib.h"

#include <string.h>

void
html_escape(struct buf *b, const char *s)
{
	size_t plain = strcspn(s, "&<>\"'");

	buf_add(b, s, plain);	/* most text has nothing to escape; allocates even for "" */
	for (s += plain; *s; s++) {
		switch (*s) {
		case '&': buf_adds(b, "&amp;"); break;
		case '<': buf_adds(b, "&lt;"); break;
		case '>': buf_adds(b, "&gt;"); break;
		case '"': buf_adds(b, "&quot;"); break;
		case '\'': buf_adds(b, "&#39;"); break;
		default: buf_addc(b, *s); break;
		}
	}
}
