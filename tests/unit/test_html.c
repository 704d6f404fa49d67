/*
 * tests/unit/test_html.c - the one HTML escaper (lib/html.c): a row per
 * case, every special character, UTF-8 passing through, and output that is
 * safe inside an attribute value quoted with either quote.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../lib/lib.h"

struct html_case {
	const char *in, *want;
};

static const struct html_case cases[] = {
	{"", ""},
	{"plain text", "plain text"},
	{"&", "&amp;"},
	{"<", "&lt;"},
	{">", "&gt;"},
	{"\"", "&quot;"},
	{"'", "&#39;"},
	{"&amp;", "&amp;amp;"},				/* escaped again: no entity passes */
	{"<b>\"Kurs\" & 'Varer'</b>", "&lt;b&gt;&quot;Kurs&quot; &amp; &#39;Varer&#39;&lt;/b&gt;"},
	{"a<b", "a&lt;b"},				/* plain text, then the rest */
	{"tail&", "tail&amp;"},
	{"Kjøp på Ærlig Bok – ☕ 😀", "Kjøp på Ærlig Bok – ☕ 😀"},	/* UTF-8 as it is */
	{"æ<ø>å", "æ&lt;ø&gt;å"},
	{"\t\n\x01%s", "\t\n\x01%s"},			/* no other byte is touched */
	{"x\" onmouseover=\"alert(1)", "x&quot; onmouseover=&quot;alert(1)"},
	{"x' onmouseover='alert(1)", "x&#39; onmouseover=&#39;alert(1)"},
};

Test(html, escape_table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;

		buf_init(&b);
		html_escape(&b, cases[i].in);
		cr_assert_not_null(b.s, "row %zu: a string even for empty input", i);
		cr_expect_str_eq(b.s, cases[i].want, "row %zu: '%s'", i, cases[i].in);
		cr_expect_eq(b.len, strlen(cases[i].want), "row %zu: length", i);
		buf_free(&b);
	}
}

Test(html, appends)
{
	struct buf b;

	buf_init(&b);
	buf_adds(&b, "<p>");
	html_escape(&b, "1 < 2");
	buf_adds(&b, "</p>");
	cr_assert_str_eq(b.s, "<p>1 &lt; 2</p>");
	buf_free(&b);
}

/* Whatever the input, the output holds none of the five characters bare. */
Test(html, attribute_safe)
{
	char in[256];
	struct buf b;

	for (int i = 1; i < 256; i++)
		in[i - 1] = (char)i;
	in[255] = '\0';
	buf_init(&b);
	html_escape(&b, in);
	cr_assert_null(strpbrk(b.s, "<>\"'"), "no bare < > \" '");
	for (const char *p = strchr(b.s, '&'); p != NULL; p = strchr(p + 1, '&'))
		cr_assert(strncmp(p, "&amp;", 5) == 0 || strncmp(p, "&lt;", 4) == 0 ||
			  strncmp(p, "&gt;", 4) == 0 || strncmp(p, "&quot;", 6) == 0 ||
			  strncmp(p, "&#39;", 5) == 0, "every & starts an entity we wrote");
	cr_assert_eq(b.len, 255 - 5 + 5 + 4 + 4 + 6 + 5);
	buf_free(&b);
}
