/*
 * tests/unit/test_fmt.c - checked formatting: fmt() fails rather than cuts,
 * fmt_clip() cuts on a UTF-8 character boundary and says so.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <string.h>

#include "../../lib/lib.h"

Test(fmt, fits_exactly)
{
	char b[6];

	cr_assert_eq(fmt(b, sizeof(b), "%s", "abcde"), 0);
	cr_assert_str_eq(b, "abcde");
}

Test(fmt, one_byte_too_long_is_an_error)
{
	char b[6];

	cr_assert_eq(fmt(b, sizeof(b), "%s%d", "abcde", 1), -1);
	cr_assert_eq(strlen(b), 5, "the buffer still ends in a NUL");
}

Test(fmt, zero_size_is_an_error)
{
	char b[1] = {'x'};

	cr_assert_eq(fmt(b, 0, "%s", ""), -1);
	cr_assert_eq(b[0], 'x', "nothing written");
}

Test(fmt_clip, short_text_is_not_cut)
{
	char b[8];

	cr_assert_not(fmt_clip(b, sizeof(b), "%s", "abc"));
	cr_assert_str_eq(b, "abc");
}

Test(fmt_clip, cut_keeps_whole_characters)
{
	char b[6];

	/* "abc" + e-acute (2 bytes) fills 5 bytes; the 'z' is cut. */
	cr_assert(fmt_clip(b, sizeof(b), "%s", "abc\xc3\xa9z"));
	cr_assert_str_eq(b, "abc\xc3\xa9");
	/* "abcd" + half of e-acute: the half goes. */
	cr_assert(fmt_clip(b, sizeof(b), "%s", "abcd\xc3\xa9"));
	cr_assert_str_eq(b, "abcd");
	/* A euro sign (3 bytes) and two bytes of a second one. */
	cr_assert(fmt_clip(b, sizeof(b), "%s", "\xe2\x82\xac\xe2\x82\xac"));
	cr_assert_str_eq(b, "\xe2\x82\xac");
}

/* fmt_str() and fmt_clip_str() write and return what fmt() and fmt_clip()
 * with "%s" do, at every size around the text's length. */
Test(fmt_str, as_fmt_with_percent_s)
{
	static const char *const texts[] = {"", "a", "abcde", "abcd\xc3\xa9", "\xe2\x82\xac\xe2\x82\xac"};

	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++)
		for (size_t size = 1; size <= strlen(texts[t]) + 2; size++) {
			char a[16], b[16];
			int ra = fmt_str(a, size, texts[t]), rb = fmt(b, size, "%s", texts[t]);
			bool ca = fmt_clip_str(a + 8, size < 8 ? size : 8, texts[t]);
			bool cb = fmt_clip(b + 8, size < 8 ? size : 8, "%s", texts[t]);

			cr_expect_eq(ra, rb, "fmt_str('%s', %zu)", texts[t], size);
			cr_expect_str_eq(a, b, "fmt_str('%s', %zu)", texts[t], size);
			cr_expect_eq(ca, cb, "fmt_clip_str('%s', %zu)", texts[t], size);
			cr_expect_str_eq(a + 8, b + 8, "fmt_clip_str('%s', %zu)", texts[t], size);
		}
}

Test(fmt_str, zero_size_is_an_error)
{
	char b[1] = {'x'};

	cr_assert_eq(fmt_str(b, 0, "abc"), -1);
	cr_assert_not(fmt_clip_str(b, 0, "abc"));
	cr_assert_eq(b[0], 'x', "nothing written");
}

/* fmt_clip_cat() writes what fmt_clip("%s%s") of the two strings writes,
 * at every size: a cut falls on a character boundary of the whole. */
Test(fmt_clip_cat, as_fmt_clip_of_both)
{
	static const char *const heads[] = {"", "ab", "abc\xc3\xa9", "\xe2\x82\xac"};
	static const char *const tails[] = {"", " -> hard", "\xc3\xa9z"};

	for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++)
		for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++)
			for (size_t size = strlen(heads[h]) + 1; size <= 16; size++) {
				char a[16], b[16];
				bool ca, cb;

				strcpy(a, heads[h]);
				ca = fmt_clip_cat(a, size, tails[t]);
				cb = fmt_clip(b, size, "%s%s", heads[h], tails[t]);
				cr_expect_eq(ca, cb, "'%s' + '%s' in %zu", heads[h], tails[t], size);
				cr_expect_str_eq(a, b, "'%s' + '%s' in %zu", heads[h], tails[t], size);
			}
}
