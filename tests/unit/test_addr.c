/*
 * tests/unit/test_addr.c - address normalisation and validation, a row per
 * case, the bad inputs included.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../lib/lib.h"

struct good {
	const char *in, *out;
};

static const struct good goods[] = {
	{"kari@example.no", "kari@example.no"},
	{"  Kari.Nordmann@Example.NO \t\n", "Kari.Nordmann@example.no"},
	{"a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"},
	{"o'brien@example.ie", "o'brien@example.ie"},
	{"x!#$%&'*+-/=?^_`{|}~@example.org", "x!#$%&'*+-/=?^_`{|}~@example.org"},
	{"\"john doe\"@example.org", "\"john doe\"@example.org"},
	{"\"a@b\"@example.org", "\"a@b\"@example.org"},
	{"\"esc\\\"aped\"@example.org", "\"esc\\\"aped\"@example.org"},
	/* A quoted local part in its shortest form (RFC 5321 4.1.2). */
	{"\"per.x\"@Example.com", "per.x@example.com"},
	{"\"per\\.x\"@example.com", "per.x@example.com"},
	{"\"\\p\\e\\r\"@example.com", "per@example.com"},
	{"\"Per.X\"@example.com", "Per.X@example.com"},
	{"\"a+b!#\"@example.com", "a+b!#@example.com"},
	{"\"john\\ doe\"@example.org", "\"john doe\"@example.org"},
	{"\"a\\@b\"@example.org", "\"a@b\"@example.org"},
	{"\"a\\\\b\"@example.org", "\"a\\\\b\"@example.org"},
	{"\"a..b\"@example.org", "\"a..b\"@example.org"},
	{"\".a\"@example.org", "\".a\"@example.org"},
	{"\"a.\"@example.org", "\"a.\"@example.org"},
	{"\"\"@example.org", "\"\"@example.org"},
	{"user@xn--stfold-9xa.no", "user@xn--stfold-9xa.no"},
	{"user@a-b.c-d.example", "user@a-b.c-d.example"},
	{"1@123.example", "1@123.example"},
};

struct bad {
	const char *in, *why;
};

static const struct bad bads[] = {
	{"", "empty"},
	{"   ", "empty"},
	{"kari.example.no", "no '@'"},
	{"@example.no", "local part"},
	{"kari@", "domain is empty"},
	{"ka@ri@example.no", "more than one '@'"},
	{".kari@example.no", "starts with a dot"},
	{"kari.@example.no", "ends with a dot"},
	{"ka..ri@example.no", "two dots"},
	{"ka ri@example.no", "' '"},
	{"kari@localhost", "no dot"},
	{"kari@-example.no", "starts with a hyphen"},
	{"kari@example-.no", "ends with a hyphen"},
	{"kari@example..no", "empty label"},
	{"kari@example.no.", "ends with a dot"},
	{"kari@.example.no", "empty label"},
	{"kari@exa_mple.no", "'_'"},
	{"kari@[127.0.0.1]", "address literals"},
	{"kari@example.123", "all digits"},
	{"kåri@example.no", "non-ASCII"},
	{"kari@østfold.no", "punycode"},
	{"Kari <kari@example.no>", "angle brackets"},
	{"<kari@example.no>", "angle brackets"},
	{"\"unterminated@example.no", "closing quote"},
	{"\"a\"b\"@example.no", "unescaped quote"},
	{"\"a\\\"@example.no", "lone backslash"},
	{"\"per\x01x\"@example.no", "control character"},
	{"\"per\\\x01x\"@example.no", "not printable ASCII"},
	{"\"pér\"@example.no", "non-ASCII"},
	{"ka\x01ri@example.no", "control character"},
	{"kari@exa\x7fmple.no", "control character"},
};

Test(addr, good_addresses_normalise)
{
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		char out[ADDR_MAX + 1], err[ERR_LEN] = "";

		cr_expect_eq(addr_normalize(goods[i].in, out, err), 0, "%s: %s", goods[i].in, err);
		cr_expect_str_eq(out, goods[i].out, "%s", goods[i].in);
	}
}

Test(addr, bad_addresses_say_why)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		char out[ADDR_MAX + 1], err[ERR_LEN] = "";

		cr_expect_eq(addr_normalize(bads[i].in, out, err), -1, "accepted: %s", bads[i].in);
		cr_expect(strstr(err, bads[i].why) != NULL, "%s: wanted '%s' in '%s'",
			  bads[i].in, bads[i].why, err);
	}
}

Test(addr, length_limits)
{
	char in[400], out[ADDR_MAX + 1], err[ERR_LEN];

	/* 64-character local part: accepted; 65: refused */
	memset(in, 'a', 64);
	strcpy(in + 64, "@example.no");
	cr_expect_eq(addr_normalize(in, out, err), 0, "%s", err);
	memset(in, 'a', 65);
	strcpy(in + 65, "@example.no");
	cr_expect_eq(addr_normalize(in, out, err), -1);
	cr_expect(strstr(err, "longer than 64") != NULL, "%s", err);

	/* quoted: the limit holds for the shortest form */
	in[0] = '"';
	for (int i = 0; i < 64; i++) {
		in[1 + 2 * i] = '\\';
		in[2 + 2 * i] = 'a';
	}
	strcpy(in + 129, "\"@example.no");
	cr_expect_eq(addr_normalize(in, out, err), 0, "%s", err);
	cr_expect_eq(strlen(out), 64 + strlen("@example.no"));
	in[0] = '"';
	memset(in + 1, 'a', 64);
	strcpy(in + 65, "\"@example.no");
	cr_expect_eq(addr_normalize(in, out, err), 0, "%s", err);
	memset(in + 1, 'a', 65);
	strcpy(in + 66, "\"@example.no");
	cr_expect_eq(addr_normalize(in, out, err), -1);
	cr_expect(strstr(err, "longer than 64") != NULL, "%s", err);
	in[0] = '"';
	memset(in + 1, ' ', 62);		/* needs its quotes: 64 in all */
	strcpy(in + 63, "\"@example.no");
	cr_expect_eq(addr_normalize(in, out, err), 0, "%s", err);
	in[63] = ' ';
	strcpy(in + 64, "\"@example.no");
	cr_expect_eq(addr_normalize(in, out, err), -1);
	cr_expect(strstr(err, "longer than 64") != NULL, "%s", err);

	/* a 64-character label is refused */
	strcpy(in, "a@");
	memset(in + 2, 'b', 64);
	strcpy(in + 66, ".no");
	cr_expect_eq(addr_normalize(in, out, err), -1);
	cr_expect(strstr(err, "label is longer") != NULL, "%s", err);

	/* 255 characters in all: refused */
	strcpy(in, "a@");
	for (int i = 0; i < 4; i++)
		strcat(in, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.");
	strcat(in, "cccccccccccccccccccccccccccccccccccccccccc.no");
	cr_assert_gt(strlen(in), 254);
	cr_expect_eq(addr_normalize(in, out, err), -1);
	cr_expect(strstr(err, "longer than 254") != NULL, "%s", err);
}

Test(addr, fold_and_mask)
{
	char out[ADDR_MAX + 1];

	addr_fold("Kari.Nordmann@example.no", out);
	cr_expect_str_eq(out, "kari.nordmann@example.no");
	addr_mask("kari@example.no", out, sizeof(out));
	cr_expect_str_eq(out, "k***@example.no");
	addr_mask("\"x y\"@example.no", out, sizeof(out));
	cr_expect_str_eq(out, "x***@example.no");
	addr_mask("\"\"@example.no", out, sizeof(out));
	cr_expect_str_eq(out, "***@example.no");
	addr_mask("no-at-sign", out, sizeof(out));
	cr_expect_str_eq(out, "***");
	addr_mask("kari@example.no", out, 8);	/* cut to fit, always terminated */
	cr_expect_str_eq(out, "k***@ex");
	addr_mask("kari@example.no", out, 1);
	cr_expect_str_eq(out, "");
}
