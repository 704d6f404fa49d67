/*
 * tests/unit/test_status.c - enhanced status codes: parsing, finding one in
 * a reply, and the verdict table (only an address that is gone is hard).
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "../../lib/lib.h"

struct verdict_case {
	const char *text;
	const char *code;		/* NULL: no code found */
	enum status_verdict verdict;
};

static const struct verdict_case cases[] = {
	{"550 5.1.1 <x@example.org>: Recipient address rejected", "5.1.1", STATUS_HARD},
	{"550-5.1.1 The email account that you tried to reach does not exist", "5.1.1", STATUS_HARD},
	{"550 5.1.2 Host unknown", "5.1.2", STATUS_HARD},
	{"550 5.1.10 RESOLVER.ADR.RecipientNotFound", "5.1.10", STATUS_HARD},
	{"550 5.2.1 Mailbox disabled", "5.2.1", STATUS_HARD},
	{"552 5.2.2 Mailbox full", "5.2.2", STATUS_SOFT},
	{"554 5.7.1 Message rejected as spam", "5.7.1", STATUS_SOFT},
	{"550 5.7.606 Access denied, banned sending IP", "5.7.606", STATUS_SOFT},
	{"451 4.7.1 Greylisted, try again", "4.7.1", STATUS_SOFT},
	{"421 4.3.2 Service shutting down", "4.3.2", STATUS_SOFT},
	{"550 5.1.0 Address rejected", "5.1.0", STATUS_UNKNOWN},
	{"553 5.1.8 Domain of sender address does not exist", "5.1.8", STATUS_SOFT},
	{"501 5.1.7 Bad sender address syntax", "5.1.7", STATUS_SOFT},
	{"554 5.0.0 Service unavailable", "5.0.0", STATUS_UNKNOWN},
	{"250 2.0.0 Ok: queued", "2.0.0", STATUS_SUCCESS},
	{"550 User unknown", NULL, STATUS_UNKNOWN},
	{"relay 10.5.1.1 said: no", NULL, STATUS_UNKNOWN},
	{"version 5.1.1.4 of the filter", NULL, STATUS_UNKNOWN},
	{"5.1.1234", NULL, STATUS_UNKNOWN},
	{"", NULL, STATUS_UNKNOWN},
};

Test(status, table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct verdict_case *c = &cases[i];
		struct smtp_status st;
		char code[STATUS_LEN];
		const char *end = status_find(c->text, strlen(c->text), &st);

		if (!c->code) {
			cr_expect_null(end, "no code in '%s'", c->text);
			continue;
		}
		cr_assert_not_null(end, "a code in '%s'", c->text);
		status_format(&st, code);
		cr_expect_str_eq(code, c->code, "code of '%s'", c->text);
		cr_expect_eq(status_classify(&st, NULL), c->verdict, "verdict of '%s'", c->text);
	}
}

Test(status, parse_bounds)
{
	struct smtp_status st;

	cr_expect_not_null(status_parse("5.1.1", &st));
	cr_expect_null(status_parse("6.1.1", &st));
	cr_expect_null(status_parse("5.1", &st));
	cr_expect_null(status_parse("5..1", &st));
	cr_expect_null(status_parse("5.1000.1", &st));
	cr_expect_not_null(status_parse("4.999.999", &st));
}

/* status_format() writes what snprintf("%d.%d.%d") does, and "?.?.?" when
 * that does not fit in STATUS_LEN bytes: edges of each part, negative
 * ones (a code not made by status_parse) included. */
Test(status, format_as_printf)
{
	static const int v[] = {0, 1, 9, 10, 99, 100, 999, 1000, 123456, -1, -10, INT_MAX, INT_MIN};
	const size_t n = sizeof(v) / sizeof(v[0]);

	for (size_t a = 0; a < n; a++)
		for (size_t b = 0; b < n; b++)
			for (size_t c = 0; c < n; c++) {
				struct smtp_status st = {v[a], v[b], v[c]};
				char got[STATUS_LEN], want[STATUS_LEN];

				if (snprintf(want, sizeof(want), "%d.%d.%d", v[a], v[b], v[c]) >= (int)sizeof(want))
					strcpy(want, "?.?.?");
				status_format(&st, got);
				cr_assert_str_eq(got, want, "%d.%d.%d", v[a], v[b], v[c]);
			}
}
