/*
 * tests/unit/test_web_signup.c - what web/signup.c and web/data.c promise,
 * apart from HTTP: the per-client limit (counts per clock hour, IPv4
 * whole and IPv6 by its /64, a table that never grows past RATE_SLOTS, and
 * a flood of new addresses that does not give a counted client a fresh
 * count); the form's reasons in the reader's language for each of lib's
 * kinds of reason; and the data page, which holds every item of a real
 * export, escaped, in nb and en, with hostile values shown as text.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>

#include "helpers.h"
#include "../../web/web_int.h"

#define HOUR 491234u	/* a clock hour: the tests give it, not the clock */

static struct sockaddr_in
v4(const char *a)
{
	struct sockaddr_in s = {.sin_family = AF_INET};

	cr_assert_eq(inet_pton(AF_INET, a, &s.sin_addr), 1, "%s", a);
	return s;
}

static struct sockaddr_in6
v6(const char *a)
{
	struct sockaddr_in6 s = {.sin6_family = AF_INET6};

	cr_assert_eq(inet_pton(AF_INET6, a, &s.sin6_addr), 1, "%s", a);
	return s;
}

/* A distinct IPv4 address (documentation and benchmark ranges) for @i. */
static struct sockaddr_in
nth(uint32_t i)
{
	struct sockaddr_in s = {.sin_family = AF_INET};

	s.sin_addr.s_addr = htonl((198u << 24 | 18u << 16) + i);
	return s;
}

#define SA(x) ((const struct sockaddr *)(const void *)&(x))

Test(web_rate, counts_per_client_per_hour)
{
	struct web_rate *rt = web_rate_new();
	struct sockaddr_in a = v4("192.0.2.10"), b = v4("192.0.2.11");

	for (int i = 0; i < 3; i++)
		cr_expect(web_rate_count(rt, SA(a), HOUR, 3), "request %d refused", i + 1);
	cr_expect(!web_rate_count(rt, SA(a), HOUR, 3), "the 4th request in the hour was let through");
	cr_expect(!web_rate_count(rt, SA(a), HOUR, 3), "the 5th request in the hour was let through");
	/* another client, a neighbour in the same /24, has a count of its own */
	cr_expect(web_rate_count(rt, SA(b), HOUR, 3), "an IPv4 neighbour was counted with a");
	/* the next hour starts afresh */
	for (int i = 0; i < 3; i++)
		cr_expect(web_rate_count(rt, SA(a), HOUR + 1, 3), "next hour: request %d refused", i + 1);
	cr_expect(!web_rate_count(rt, SA(a), HOUR + 1, 3));
	/* a limit of 0 lets nothing through */
	cr_expect(!web_rate_count(rt, SA(b), HOUR + 1, 0));
	web_rate_free(rt);
}

Test(web_rate, ipv6_is_counted_by_its_64)
{
	struct web_rate *rt = web_rate_new();
	struct sockaddr_in6 a = v6("2001:db8:1:2::1"), same = v6("2001:db8:1:2:ffff:eeee:dddd:9"),
		other = v6("2001:db8:1:3::1");

	cr_expect(web_rate_count(rt, SA(a), HOUR, 2));
	cr_expect(web_rate_count(rt, SA(same), HOUR, 2));
	cr_expect(!web_rate_count(rt, SA(a), HOUR, 2), "two hosts of one /64 were not counted as one");
	cr_expect(!web_rate_count(rt, SA(same), HOUR, 2));
	cr_expect(web_rate_count(rt, SA(other), HOUR, 2), "the next /64 was counted with the first");
	cr_expect(web_rate_count(rt, SA(other), HOUR, 2));
	cr_expect(!web_rate_count(rt, SA(other), HOUR, 2));
	web_rate_free(rt);
}

Test(web_rate, table_is_bounded)
{
	struct web_rate *rt = web_rate_new();
	size_t used;

	for (uint32_t i = 0; i < 4 * RATE_SLOTS; i++) {
		struct sockaddr_in a = nth(i);

		cr_assert(web_rate_count(rt, SA(a), HOUR, 10), "client %u refused at its first request", i);
	}
	used = web_rate_used(rt, HOUR);
	cr_expect_leq(used, RATE_SLOTS, "%zu slots in use", used);
	cr_expect_geq(used, RATE_SLOTS * 9 / 10, "only %zu of %d slots filled", used, RATE_SLOTS);
	/* last hour's slots are taken by this hour's clients */
	for (uint32_t i = 0; i < RATE_SLOTS / 2; i++) {
		struct sockaddr_in a = nth(1000000 + i);

		web_rate_count(rt, SA(a), HOUR + 1, 10);
	}
	used = web_rate_used(rt, HOUR + 1);
	cr_expect_geq(used, RATE_SLOTS / 2 * 9 / 10, "last hour's slots were not reused: %zu", used);
	cr_expect_leq(used + web_rate_used(rt, HOUR), RATE_SLOTS);
	web_rate_free(rt);
}

/*
 * The attack: a client at its limit, then a flood of many new addresses,
 * one request each, to push its count out of the table. The table gives
 * up the least counted slot, so the flood only pushes out itself.
 */
Test(web_rate, flood_does_not_reset_a_counted_client)
{
	struct web_rate *rt = web_rate_new();
	struct sockaddr_in victim = v4("192.0.2.66");
	struct sockaddr_in6 victim6 = v6("2001:db8:66::1");

	for (int i = 0; i < 5; i++) {
		cr_assert(web_rate_count(rt, SA(victim), HOUR, 5));
		cr_assert(web_rate_count(rt, SA(victim6), HOUR, 5));
	}
	cr_assert(!web_rate_count(rt, SA(victim), HOUR, 5));
	for (uint32_t i = 0; i < 16 * RATE_SLOTS; i++) {
		struct sockaddr_in a = nth(i);

		web_rate_count(rt, SA(a), HOUR, 5);
	}
	cr_expect_leq(web_rate_used(rt, HOUR), RATE_SLOTS);
	cr_expect(!web_rate_count(rt, SA(victim), HOUR, 5),
		  "a flood of %d one-request addresses reset the counted client", 16 * RATE_SLOTS);
	cr_expect(!web_rate_count(rt, SA(victim6), HOUR, 5),
		  "a flood reset the counted IPv6 client");
	web_rate_free(rt);
}

/* --- the form's reasons --- */

Test(web_signup, reasons_in_the_readers_language)
{
	static const struct {
		const char *input;
		enum web_form_reason want;
	} cases[] = {
		{"", REASON_EMPTY},
		{"kari.example.no", REASON_NO_AT},
		{"a@b@example.no", REASON_MANY_AT},
		{"Kari <kari@example.no>", REASON_BARE},
		{"kari@localhost", REASON_DOMAIN},
		{"kari@exa_mple.no", REASON_DOMAIN},
		{"kari@-example.no", REASON_DOMAIN},
		{"kari..n@example.no", REASON_LOCAL},
		{".kari@example.no", REASON_LOCAL},
		{"kari,n@example.no", REASON_LOCAL},
		{"@example.no", REASON_LOCAL},
		{"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx@example.no",
		 REASON_TOO_LONG},
	};
	char out[ADDR_MAX + 1], err[ERR_LEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		cr_assert_lt(addr_normalize(cases[i].input, out, err), 0, "'%s' was accepted", cases[i].input);
		cr_expect_eq(web_signup_reason_of(err), cases[i].want, "'%s' (lib: %s): reason %d, not %d",
			     cases[i].input, err, web_signup_reason_of(err), cases[i].want);
	}
	cr_expect_lt(text_check_name("a\x01" "b", NAME_MAX_LEN, "name", err), 0);
	cr_expect_eq(web_signup_reason_of(err), REASON_NAME, "%s", err);
	cr_expect_eq(web_signup_reason_of("something new from lib"), REASON_ADDRESS);
	cr_expect_eq(web_signup_reason_of(NULL), REASON_ADDRESS);
	for (int r = 0; r < REASON_COUNT; r++) {
		const char *en = web_signup_reason(r, LANG_EN), *nb = web_signup_reason(r, LANG_NB);

		cr_assert(en != NULL && nb != NULL && *en && *nb, "reason %d has no sentence", r);
		cr_expect_str_neq(en, nb, "reason %d is not translated", r);
		for (int o = 0; o < r; o++)
			cr_expect_str_neq(en, web_signup_reason(o, LANG_EN), "reasons %d and %d alike", o, r);
	}
	cr_expect_str_eq(web_signup_reason(REASON_COUNT, LANG_NB), web_signup_reason(REASON_ADDRESS, LANG_EN));
}

/* --- the data page --- */

#define HOSTILE_NAME "<script>alert('x')</script> & \"Kari\""
#define CONSENT "Ja takk, send meg nyhetsbrevet <b>hver uke</b> & \"gratis\"."

/* A real export: enrolled by purchase, then signed up and confirmed. */
static json_t *
export_of(struct scratch *s, const char *email)
{
	struct signup su = {.email = email, .name = HOSTILE_NAME, .lang = "nb",
			    .consent_text = CONSENT, .channel = SIGNUP_WEB, .confirm_hours = 72,
			    .resend_hours = 24, .max_pending = 100};
	struct signup_mail m[4];
	enum signup_outcome so;
	enum confirm_outcome co;
	enum enroll_result res;
	char err[ERR_LEN] = "";
	int64_t id, sub;
	unsigned gen;
	json_t *o;
	int n;

	cr_assert_eq(store_enroll(s->st, &(struct purchase){.email = email, .name = HOSTILE_NAME,
				  .order = "<img src=x onerror=alert(1)>", .source = "cli"},
				  &res, &id, err), STORE_OK, "%s", err);
	cr_assert_eq(store_signup_request(s->st, &su, &so, err), STORE_OK, "%s", err);
	n = store_signup_due(s->st, m, 4, err);
	cr_assert_eq(n, 1, "%s", err);
	cr_assert_eq(store_signup_confirm(s->st, &(struct token_claims){.subscriber = m[0].id},
					  &co, &sub, &gen, err), STORE_OK, "%s", err);
	cr_assert_eq(co, CONFIRM_CONSENTED);
	cr_assert_eq(store_export(s->st, email, "Test & <Co>", &o, err), STORE_OK, "%s", err);
	/* What the store may add later: shown all the same, escaped. */
	json_object_set_new(o, "<b>new_item</b>", json_pack("{s:s, s:s, s:[{s:s, s:i}]}",
		"purpose", "<script>purpose()</script>", "legal_basis", "<i>basis</i>",
		"items", "<u>key</u>", "<script>value()</script>", "n", 4711));
	return o;
}

static char *
escaped(const char *s)
{
	struct buf b;

	buf_init(&b);
	html_escape(&b, s);
	return b.s;
}

/* Words the page puts in the reader's language (data.c's tables). */
static bool
translated(const char *key, const char *v)
{
	static const char *const keys[] = {"purpose", "legal_basis", "recipients", "source"};
	static const char *const words[] = {"active", "restricted", "consent", "soft-opt-in",
					    "web-form", "api"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (key != NULL && strcmp(key, keys[i]) == 0)
			return true;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(v, words[i]) == 0)
			return true;
	return false;
}

/* Every string and number of @v is on @page, escaped (in nb, all but the
 * store's own words, which the page translates); counts them. */
static int
holds_every_item(const char *page, const char *key, const json_t *v, enum web_lang l)
{
	const char *k;
	json_t *m;
	size_t i;
	int n = 0;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, m)
			n += holds_every_item(page, k, m, l);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			n += holds_every_item(page, key, m, l);
	} else if (json_is_string(v)) {
		char *e = escaped(json_string_value(v));

		if (l == LANG_EN || !translated(key, json_string_value(v)))
			cr_expect(strstr(page, e) != NULL, "%s: '%s' (%s) is not on the page",
				  l == LANG_NB ? "nb" : "en", json_string_value(v), key);
		free(e);
		n++;
	} else if (json_is_integer(v)) {
		char num[32];

		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		cr_expect(strstr(page, num) != NULL, "the number %s (%s) is not on the page", num, key);
		n++;
	}
	return n;
}

static void
page_test(enum web_lang l)
{
	struct scratch s;
	json_t *o;
	char *page;
	size_t len;
	int n;

	scratch_open(&s);
	o = export_of(&s, "kari.data@example.no");
	page = web_data_page(o, l, "Nyhetsbrev <&> \"Test\"", &len);
	cr_assert_not_null(page);
	cr_assert_eq(strlen(page), len);
	n = holds_every_item(page, NULL, o, l);
	cr_expect_geq(n, 20, "only %d items in the export", n);
	cr_expect(strstr(page, "kari.data@example.no") != NULL);
	cr_expect(strstr(page, l == LANG_NB ? "lang=\"nb\"" : "lang=\"en\"") != NULL);
	if (l == LANG_NB) {
		cr_expect(strstr(page, "Opplysningene vi har om deg") != NULL);
		cr_expect(strstr(page, "for å sende deg nyhetsbrevet") != NULL);
		cr_expect(strstr(page, "skjemaet på nettsiden") != NULL, "web-form is not in Bokmål");
		cr_expect(strstr(page, "to send you the newsletter") == NULL, "an English purpose on the nb page");
	} else {
		cr_expect(strstr(page, "The data we hold about you") != NULL);
		cr_expect(strstr(page, "GDPR art. 6(1)(a), consent") != NULL);
	}
	/* hostile values are text: no element of theirs on the page */
	cr_expect(strstr(page, "<script") == NULL, "a <script> element on the page");
	cr_expect(strstr(page, "&lt;script&gt;alert(") != NULL, "the hostile name is not shown escaped");
	cr_expect(strstr(page, "<img") == NULL && strstr(page, "&lt;img src=x") != NULL);
	cr_expect(strstr(page, "<b>") == NULL && strstr(page, "&lt;b&gt;new_item") != NULL);
	cr_expect(strstr(page, "<u>") == NULL && strstr(page, "<i>") == NULL);
	cr_expect(strstr(page, "Nyhetsbrev &lt;&amp;&gt;") != NULL, "the list's name is not escaped");
	cr_expect(strstr(page, "name=\"format\" value=\"json\"") != NULL, "no JSON button");
	free(page);
	json_decref(o);
	scratch_close(&s);
}

Test(web_data, page_holds_every_item_escaped_en)
{
	page_test(LANG_EN);
}

Test(web_data, page_holds_every_item_escaped_nb)
{
	page_test(LANG_NB);
}
