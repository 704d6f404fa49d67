/*
 * tests/unit/test_page.c - the web pages: the language chosen for an
 * Accept-Language header (a row per case, bad headers included), escaping
 * of the list's name, and the style's hash in the Content-Security-Policy.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "../../web/web_int.h"

struct lang_case {
	const char *header;
	enum web_lang fallback, want;
};

static const struct lang_case langs[] = {
	{NULL, LANG_NB, LANG_NB},
	{"", LANG_EN, LANG_EN},
	{"nb-NO", LANG_EN, LANG_NB},
	{"nb-NO,nb;q=0.9,en;q=0.5", LANG_EN, LANG_NB},
	{"no", LANG_EN, LANG_NB},
	{"nn-NO", LANG_EN, LANG_NB},
	{"NB", LANG_EN, LANG_NB},
	{"en", LANG_NB, LANG_EN},
	{"en-GB,en;q=0.8", LANG_NB, LANG_EN},
	{"de-DE, en;q=0.3, nb;q=0.8", LANG_EN, LANG_NB},
	{"de-DE, nb;q=0.3, en;q=0.8", LANG_NB, LANG_EN},
	{"fr, de", LANG_NB, LANG_NB},		/* nothing we speak: the default */
	{"*", LANG_NB, LANG_NB},
	{"en;q=0", LANG_NB, LANG_NB},		/* q=0: not acceptable */
	{"nb;q=0.000, en;q=0.001", LANG_NB, LANG_EN},
	{"en;q=1.0, nb;q=1", LANG_NB, LANG_EN},	/* a tie: the first */
	{",,,;;;q=,", LANG_EN, LANG_EN},
	{"nb;q=abc", LANG_EN, LANG_EN},		/* a bad q is 0 */
	{"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-nb", LANG_EN, LANG_EN},
	{"  en  ", LANG_NB, LANG_EN},
};

Test(page, lang_by_accept_language)
{
	for (size_t i = 0; i < sizeof(langs) / sizeof(langs[0]); i++)
		cr_expect_eq(web_page_lang(langs[i].header, langs[i].fallback), langs[i].want,
			     "Accept-Language '%s'", langs[i].header ? langs[i].header : "(none)");
}

Test(page, lang_codes)
{
	cr_expect_eq(web_page_lang_code("nb"), LANG_NB);
	cr_expect_eq(web_page_lang_code("en"), LANG_EN);
	cr_expect_str_eq(web_page_lang_tag(LANG_NB), "nb");
	cr_expect_str_eq(web_page_lang_tag(LANG_EN), "en");
}

Test(page, escapes_and_lang)
{
	struct web_page_args a = {.list = "<b>\"Kurs\" & 'Varer'</b>", .masked = "k***@example.no",
			      .access = "AQEDAAAAAAAAAAEAAAAAAAAAAA.xlockpUF9EkRPqVoKuti0w"};
	size_t len;
	char *p = web_page_render(PAGE_CONFIRM, LANG_NB, &a, &len);

	cr_assert_eq(strlen(p), len);
	cr_expect(strstr(p, "<html lang=\"nb\">") != NULL);
	cr_expect(strstr(p, "&lt;b&gt;&quot;Kurs&quot; &amp; &#39;Varer&#39;&lt;/b&gt;") != NULL);
	cr_expect(strstr(p, "<b>") == NULL, "the list's name is escaped");
	cr_expect(strstr(p, "k***@example.no") != NULL);
	cr_expect(strstr(p, "action=\"../a/AQEDAAAAAAAAAAEAAAAAAAAAAA.xlockpUF9EkRPqVoKuti0w\"") != NULL);
	cr_expect(strstr(p, "<script") == NULL);
	free(p);
}

Test(page, every_page_in_every_language)
{
	struct web_page_args a = {.list = "L", .masked = "k***@example.no", .access = "T"};

	for (int k = 0; k < PAGE_COUNT; k++)
		for (int l = 0; l < LANG_COUNT; l++) {
			size_t len;
			char *p = web_page_render(k, l, &a, &len);

			cr_expect(strstr(p, "<h1>") != NULL && strstr(p, "</main>") != NULL,
				  "page %d, language %d", k, l);
			cr_expect(strstr(p, "<h1></h1>") == NULL, "page %d, language %d has a title", k, l);
			free(p);
		}
}

/* What the server sends from its page cache is what web_page_render writes. */
Test(page, cache_matches_page_render)
{
	static const char *const lists[] = {"Kurs & Varer AS", "<b>\"Q\" 'x'</b>", "L"};
	static const char *const masked[] = {"k***@example.no", "&***@ex<a>mple.no", "***", ""};
	const char *access = "AQEDAAAAAAAAAAEAAAAAAAAAAA.xlockpUF9EkRPqVoKuti0w";

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		struct web_page_cache pc;

		web_page_cache_init(&pc, lists[i]);
		for (int k = 0; k < PAGE_COUNT; k++)
			for (int l = 0; l < LANG_COUNT; l++) {
				struct web_page_args a = {.list = lists[i]};
				size_t want_len, len;
				char *want;

				if (k == PAGE_CONFIRM) {
					cr_expect_null(web_page_cached(&pc, k, l, &len));
					continue;
				}
				want = web_page_render(k, l, &a, &want_len);
				const char *got = web_page_cached(&pc, k, l, &len);

				cr_assert_not_null(got);
				cr_expect_eq(len, want_len, "page %d, language %d", k, l);
				cr_expect(memcmp(got, want, want_len) == 0, "page %d, language %d", k, l);
				free(want);
			}
		for (size_t m = 0; m < sizeof(masked) / sizeof(masked[0]); m++)
			for (int l = 0; l < LANG_COUNT; l++) {
				struct web_page_args a = {.list = lists[i], .masked = masked[m], .access = access};
				size_t want_len, len;
				char *want = web_page_render(PAGE_CONFIRM, l, &a, &want_len);
				char *got = web_page_confirm(&pc, l, masked[m], access, &len);

				cr_expect_eq(len, want_len, "list %zu, address %zu, language %d", i, m, l);
				cr_expect_str_eq(got, want, "list %zu, address %zu, language %d", i, m, l);
				free(want);
				free(got);
			}
		web_page_cache_free(&pc);
	}
}

Test(page, csp_hashes_the_style)
{
	char csp[256], b64[64];
	unsigned char h[crypto_hash_sha256_BYTES];
	struct web_page_args a = {.list = "L"};
	size_t len;
	char *p = web_page_render(PAGE_NOT_FOUND, LANG_EN, &a, &len);
	const char *s = strstr(p, "<style>") + 7, *e = strstr(p, "</style>");

	cr_assert(sodium_init() >= 0);
	crypto_hash_sha256(h, (const unsigned char *)s, (size_t)(e - s));
	sodium_bin2base64(b64, sizeof(b64), h, sizeof(h), sodium_base64_VARIANT_ORIGINAL);
	cr_assert_eq(web_page_csp(csp, sizeof(csp)), 0);
	cr_expect(strncmp(csp, "default-src 'none';", 19) == 0);
	cr_expect(strstr(csp, b64) != NULL, "CSP %s has the hash %s", csp, b64);
	free(p);
}
