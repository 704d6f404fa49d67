/*
 * tests/unit/test_text.c - dates and outside text (names, order
 * references): a row per case, the bad inputs included.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../lib/lib.h"

Test(date, parse)
{
	static const struct {
		const char *in;
		int ok;
		const char *why;
	} cases[] = {
		{"2026-11-24", 1, NULL},
		{"2024-02-29", 1, NULL},
		{"2000-02-29", 1, NULL},
		{"1970-01-01", 1, NULL},
		{"2023-02-29", 0, "no such day"},
		{"1900-02-29", 0, "out of range"},
		{"2100-02-29", 0, "no such day"},
		{"2026-04-31", 0, "no such day"},
		{"2026-13-01", 0, "no such month"},
		{"2026-00-10", 0, "no such month"},
		{"2026-01-00", 0, "no such day"},
		{"1969-12-31", 0, "out of range"},
		{"2026-1-01", 0, "YYYY-MM-DD"},
		{"2026/01/01", 0, "YYYY-MM-DD"},
		{"20260101", 0, "YYYY-MM-DD"},
		{"2026-01-01T00:00", 0, "YYYY-MM-DD"},
		{"２026-01-01", 0, "YYYY-MM-DD"},
		{"", 0, "YYYY-MM-DD"},
		{"abcd-ef-gh", 0, "YYYY-MM-DD"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[ERR_LEN] = "";
		int r = date_parse(cases[i].in, NULL, NULL, NULL, err);

		cr_expect_eq(r == 0, cases[i].ok, "%s: %s", cases[i].in, err);
		if (!cases[i].ok)
			cr_expect(strstr(err, cases[i].why) != NULL, "%s: wanted '%s' in '%s'",
				  cases[i].in, cases[i].why, err);
	}
}

Test(date, months_ago_is_a_valid_earlier_date)
{
	char today[DATE_LEN], then[DATE_LEN], err[ERR_LEN];
	const int months[] = {0, 1, 11, 12, 13, 24, 36, 120};

	date_today(today);
	for (size_t i = 0; i < sizeof(months) / sizeof(months[0]); i++) {
		date_months_ago(months[i], then);
		cr_expect_eq(date_parse(then, NULL, NULL, NULL, err), 0, "%s: %s", then, err);
		cr_expect(strcmp(then, today) <= 0, "%d months ago: %s", months[i], then);
	}
	date_months_ago(0, then);
	cr_expect_str_eq(then, today);
}

struct text_case {
	const char *in;
	int ok;
	const char *why;	/* in the error when not ok */
};

/* Runs @check over @cases: each is accepted or refused as it says, and a
 * refusal names its reason. */
static void
check_cases(const struct text_case *cases, size_t n,
	    int (*check)(const char *, size_t, const char *, char *))
{
	for (size_t i = 0; i < n; i++) {
		char err[ERR_LEN] = "";
		int r = check(cases[i].in, 200, "name", err);

		cr_expect_eq(r == 0, cases[i].ok, "case %zu: %s", i, err);
		if (!cases[i].ok)
			cr_expect(strstr(err, cases[i].why) != NULL, "case %zu: wanted '%s' in '%s'",
				  i, cases[i].why, err);
	}
}

Test(text, check)
{
	static const struct text_case cases[] = {
		{"Kari Nordmann", 1, NULL},
		{"Åse Ærlig-Østby", 1, NULL},
		{"Ольга 陈伟 محمد 😀", 1, NULL},
		{"", 1, NULL},
		{"tab\there", 0, "control character"},
		{"new\nline", 0, "control character"},
		{"del\x7f", 0, "control character"},
		{"c1 \xc2\x85 next-line", 0, "control character"},
		{"\xff", 0, "UTF-8"},
		{"\xc3", 0, "UTF-8"},			/* truncated */
		{"\xc0\xaf", 0, "UTF-8"},		/* overlong */
		{"\xe0\x80\xaf", 0, "UTF-8"},		/* overlong */
		{"\xed\xa0\x80", 0, "UTF-8"},		/* surrogate */
		{"\xf4\x90\x80\x80", 0, "UTF-8"},	/* past U+10FFFF */
		{"\xe2\x82", 0, "UTF-8"},
	};

	check_cases(cases, sizeof(cases) / sizeof(cases[0]), text_check);
}

Test(text, names_refuse_bidi_and_format_characters)
{
	static const struct text_case cases[] = {
		{"Kari Nordmann", 1, NULL},
		{"Ольга 陈伟 محمد 😀", 1, NULL},
		{"\xd9\x85\xdb\x8c\xe2\x80\x8c\xd8\xae\xd9\x88\xd8\xa7\xd9\x87", 1, NULL}, /* ZWNJ, Persian */
		{"\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb", 1, NULL},	/* ZWJ emoji */
		{"\xc2\xa0no-break space", 1, NULL},
		{"=?utf-8?b?QWRtaW4gPGFkbWluQGV2aWwub3JnPg==?=", 1, NULL},	/* text, encoded when sent */
		{"Admin \xe2\x80\xaegro.live", 0, "bidirectional control character (U+202E)"},
		{"\xe2\x80\xaaLRE", 0, "bidirectional control character (U+202A)"},
		{"\xe2\x80\xacPDF", 0, "bidirectional control character (U+202C)"},
		{"\xe2\x81\xa6LRI", 0, "bidirectional control character (U+2066)"},
		{"\xe2\x81\xa9PDI", 0, "bidirectional control character (U+2069)"},
		{"\xe2\x80\x8eLRM", 0, "bidirectional control character (U+200E)"},
		{"\xe2\x80\x8fRLM", 0, "bidirectional control character (U+200F)"},
		{"\xd8\x9c" "ALM", 0, "bidirectional control character (U+061C)"},
		{"zero\xe2\x80\x8bwidth", 0, "invisible format character (U+200B)"},
		{"soft\xc2\xadhyphen", 0, "invisible format character (U+00AD)"},
		{"word\xe2\x81\xa0joiner", 0, "invisible format character (U+2060)"},
		{"\xef\xbb\xbf" "BOM", 0, "invisible format character (U+FEFF)"},
		{"tag\xf3\xa0\x80\x81", 0, "invisible format character (U+E0001)"},
		{"tag\xf3\xa0\x81\xbf", 0, "invisible format character (U+E007F)"},
		{"line\xe2\x80\xa8sep", 0, "line or paragraph separator (U+2028)"},
		{"para\xe2\x80\xa9sep", 0, "line or paragraph separator (U+2029)"},
		{"c1 \xc2\x85", 0, "control character"},
		{"tab\there", 0, "control character"},
		{"\xff", 0, "UTF-8"},
	};

	check_cases(cases, sizeof(cases) / sizeof(cases[0]), text_check_name);
	/* Other text (subjects) may hold what a right-to-left language needs. */
	cr_expect_eq(text_check("\xe2\x80\x8f\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d", 200, "subject", NULL), 0);
}

Test(text, length_limit_names_the_limit)
{
	char s[300], err[ERR_LEN] = "";

	memset(s, 'x', 201);
	s[201] = '\0';
	cr_expect_eq(text_check(s, 200, "name", err), -1);
	cr_expect_str_eq(err, "the name is longer than 200 bytes");
	s[200] = '\0';
	cr_expect_eq(text_check(s, 200, "name", err), 0);
}

Test(buf, grows_and_formats)
{
	struct buf b;

	buf_init(&b);
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	cr_expect_eq(b.len, strlen(b.s));
	cr_expect(strncmp(b.s, "0,1,2,", 6) == 0);
	cr_expect(strcmp(b.s + b.len - 4, "999,") == 0);
	buf_reset(&b);
	cr_expect_str_eq(b.s, "");
	buf_add(&b, "a\0b", 3);
	cr_expect_eq(b.len, 3);
	buf_free(&b);
	cr_expect_null(b.s);
}
