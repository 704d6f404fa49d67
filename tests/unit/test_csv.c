/*
 * tests/unit/test_csv.c - RFC 4180 records, a row per input, bad ones too.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../lib/lib.h"

/* Reads every record of @text and renders them as "a|b;c|d;" with errors as "!line;" */
static void
render(const char *text, char *out, size_t outlen)
{
	FILE *fp = fmemopen((void *)text, strlen(text), "r");
	struct csv *c = csv_open(fp);
	char err[ERR_LEN], **f;
	struct buf b;
	int n;

	buf_init(&b);
	while ((n = csv_next(c, &f, err)) != 0) {
		if (n < 0) {
			buf_printf(&b, "!%ld;", csv_line(c));
			continue;
		}
		for (int i = 0; i < n; i++)
			buf_printf(&b, "%s%s", i ? "|" : "", f[i]);
		buf_printf(&b, "@%ld;", csv_line(c));
	}
	snprintf(out, outlen, "%s", b.s ? b.s : "");
	buf_free(&b);
	csv_close(c);
	fclose(fp);
}

static const struct {
	const char *in, *want;
} cases[] = {
	{"", ""},
	{"a,b\n", "a|b@1;"},
	{"a,b", "a|b@1;"},
	{"a,b\r\nc,d\r\n", "a|b@1;c|d@2;"},
	{"\xef\xbb\xbf" "email\nx\n", "email@1;x@2;"},
	{"\"a,1\",b\n", "a,1|b@1;"},
	{"\"say \"\"hi\"\"\",b\n", "say \"hi\"|b@1;"},
	{"\"two\nlines\",b\nc,d\n", "two\nlines|b@1;c|d@3;"},
	{"a,,c\n", "a||c@1;"},
	{",\n", "|@1;"},
	{"a\n\n\nb\n", "a@1;b@4;"},
	{"Ærlig,Øst,Åse\n", "Ærlig|Øst|Åse@1;"},
	{"a\"b,c\nd\n", "!1;d@2;"},
	{"\"a\"b,c\nd\n", "!1;d@2;"},
	{"\"open,c\nd\n", "!1;"},
};

Test(csv, records)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[512];

		render(cases[i].in, out, sizeof(out));
		cr_expect_str_eq(out, cases[i].want, "case %zu", i);
	}
}

Test(csv, nul_byte_is_an_error)
{
	static const char text[] = "a,b\nx\0y,z\nq\n";
	FILE *fp = fmemopen((void *)text, sizeof(text) - 1, "r");
	struct csv *c = csv_open(fp);
	char err[ERR_LEN], **f;

	cr_expect_eq(csv_next(c, &f, err), 2);
	cr_expect_eq(csv_next(c, &f, err), -1);
	cr_expect(strstr(err, "NUL") != NULL, "%s", err);
	cr_expect_eq(csv_line(c), 2);
	cr_expect_eq(csv_next(c, &f, err), 1);
	cr_expect_str_eq(f[0], "q");
	csv_close(c);
	fclose(fp);
}

Test(csv, limits)
{
	struct buf b;
	char out[256];

	buf_init(&b);
	for (int i = 0; i < CSV_MAX_RECORD + 10; i++)
		buf_addc(&b, 'x');
	buf_adds(&b, "\nok\n");
	render(b.s, out, sizeof(out));
	cr_expect_str_eq(out, "!1;ok@2;");
	buf_reset(&b);
	for (int i = 0; i <= CSV_MAX_FIELDS; i++)
		buf_adds(&b, "f,");
	buf_adds(&b, "\nok\n");
	render(b.s, out, sizeof(out));
	cr_expect_str_eq(out, "!1;ok@2;");
	buf_free(&b);
}
