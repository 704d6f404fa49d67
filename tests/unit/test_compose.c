/*
 * tests/unit/test_compose.c - the mailing composed once and personalised
 * per recipient is byte for byte what GMime writes for that recipient from
 * scratch; Markdown rendering; the issue file's header block.
 */
#include <criterion/criterion.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../mailer/mailer.h"

static const char long_line[] =
	"A long paragraph that is longer than a quoted-printable line, so that the encoder "
	"must break it with soft line breaks, and the name {{name}} sits somewhere in the "
	"middle of it, followed by more words and æøå and a link {{unsubscribe_url}} too.\n";

struct person {
	const char *email, *name;
};

static const struct person people[] = {
	{"kari@example.no", "Kari Nordmann"},
	{"per@example.net", "Per Ås"},
	{"x@example.org", ""},
	{"long.address.of.someone@sub.example.com",
	 "Ein svært lang namn med æøå ÆØÅ som må delast over fleire linjer i hovudet To"},
	{"q@example.org", "Lise \"Q\" Berg, <MSc> & co"},
	{"z@example.org", "=?utf-8?q?not_a_word?= tab\there"},
	/* A name that is an encoded word shows as typed, not as what it encodes. */
	{"victim@example.org", "=?utf-8?b?QWRtaW4gPGFkbWluQGV2aWwub3JnPg==?="},
	{"w@example.org", "Åse =?utf-8?q?Admin?= og eit langt namn med æøå som går over fleire ord =?x"},
	{"v@example.org", " =?x?= Ærlig-Østby Ødegård «Åse» \"Q\" <a@b> æøå ÆØÅ æøå ÆØÅ æøå ÆØÅ æøå ÆØÅ x "},
};

/* @s unfolded, tabs as spaces, without the spaces around it (GMime trims). */
static void
unfold(char out[256], const char *s)
{
	size_t n = 0;

	for (; *s && n < 255; s++)
		if (*s != '\r' && *s != '\n')
			out[n++] = *s == '\t' ? ' ' : *s;
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	n = strspn(out, " ");
	memmove(out, out + n, strlen(out + n) + 1);
}

/* The To header, read back by GMime's parser: the address and the name as typed. */
static void
check_to(const struct buf *msg, const struct person *who)
{
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(msg->s, msg->len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *m = g_mime_parser_construct_message(parser, NULL);
	InternetAddressList *to;
	InternetAddress *ia;
	const char *name;
	char got[256], want[256];

	cr_assert_not_null(m);
	to = g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_TO);
	cr_assert_eq(internet_address_list_length(to), 1, "%s: one To address", who->email);
	ia = internet_address_list_get_address(to, 0);
	cr_assert(INTERNET_ADDRESS_IS_MAILBOX(ia));
	cr_expect_str_eq(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)), who->email);
	name = internet_address_get_name(ia);
	/* GMime's parser keeps a fold of its own encoder's as "\r\n\t": unfold both. */
	unfold(got, name ? name : "");
	unfold(want, who->name);
	cr_expect_str_eq(got, want, "%s: the To name [%s]", who->email, got);
	g_object_unref(m);
	g_object_unref(parser);
	g_object_unref(stream);
}

static void
check_equal(const struct compose_params *p, const struct compose *c)
{
	struct composer *w = mailer_composer_new(c);
	struct buf fast, ref;

	buf_init(&fast);
	buf_init(&ref);
	for (size_t i = 0; i < sizeof(people) / sizeof(people[0]); i++) {
		char token[TOKEN_LEN + 1], msgid[COMPOSE_MSGID_LEN + 1];
		struct personal who;

		for (int k = 0; k < TOKEN_LEN; k++)
			token[k] = "abcXYZ019-_"[(k + (int)i) % 11];
		token[26] = '.';
		token[TOKEN_LEN] = '\0';
		mailer_compose_msgid(7, (int64_t)i + 1, msgid);
		who = (struct personal){people[i].email, people[i].name, token, msgid};
		mailer_compose_message(w, &who, &fast);
		mailer_compose_reference(p, &who, &ref);
		cr_assert_eq(fast.len, ref.len, "recipient %zu: %zu bytes, GMime wrote %zu\n%s\n----\n%s",
			     i, fast.len, ref.len, fast.s, ref.s);
		cr_assert(memcmp(fast.s, ref.s, ref.len) == 0, "recipient %zu differs:\n%s\n----\n%s",
			  i, fast.s, ref.s);
		cr_assert(strstr(fast.s, token) != NULL);
		check_to(&fast, &people[i]);
		cr_assert(strstr(fast.s, "\r\n\r\n") != NULL);
		/* Lines within RFC 5322's 998 (here 78 for QP and folded headers). */
		for (const char *l = fast.s; *l;) {
			const char *e = strstr(l, "\r\n");

			cr_assert_not_null(e, "every line ends in CRLF");
			cr_assert_leq((size_t)(e - l), 998);
			l = e + 2;
		}
	}
	buf_free(&fast);
	buf_free(&ref);
	mailer_composer_free(w);
}

Test(compose, personalised_equals_gmime)
{
	char placeholder[TOKEN_LEN + 1], url[256], err[ERR_LEN] = "";
	struct buf text, html;
	struct compose *c;

	g_mime_init();
	mailer_compose_placeholder(placeholder);
	snprintf(url, sizeof(url), "https://news.example.org/u/%s", placeholder);
	buf_init(&text);
	buf_init(&html);
	buf_printf(&text, "Hei {{name}}!\n\nNyheiter med æøå.\n\n%s\nTrailing space \nTo {{name}} and {{name}}\n\n-- \n%s\n",
		   long_line, url);
	buf_printf(&html, "<p>Hei {{name}}!</p>\n<p>%s</p>\n<p><a href=\"%s\">Meld av</a></p>\n"
		   "<p>{{name}}</p>\n", long_line, url);
	{
		char *t = text.s, *h = html.s;
		struct buf tt, hh;

		/* {{unsubscribe_url}} as render.c leaves it: the placeholder URL. */
		buf_init(&tt);
		buf_init(&hh);
		for (; *t; t++)
			if (strncmp(t, "{{unsubscribe_url}}", 19) == 0) {
				buf_adds(&tt, url);
				t += 18;
			} else {
				buf_addc(&tt, *t);
			}
		for (; *h; h++)
			if (strncmp(h, "{{unsubscribe_url}}", 19) == 0) {
				buf_adds(&hh, url);
				h += 18;
			} else {
				buf_addc(&hh, *h);
			}
		struct compose_params p = {
			.from = "Nyheitsbrev Ås <news@example.org>",
			.subject = "Vekas nytt: æøå og ÆØÅ, og eit langt emne som må brytast over fleire linjer",
			.list_id = "news.example.org", .list_name = "Nyheitsbrevet",
			.base_url = "https://news.example.org", .bounce_domain = "bounce.example.org",
			.text = tt.s, .html = hh.s, .unsub_url = url, .mailing = 7,
			.date = 1790000000, .boundary = "=-nl-boundary-7",
		};

		c = mailer_compose_new(&p, err);
		cr_assert_not_null(c, "%s", err);
		check_equal(&p, c);
		mailer_compose_free(c);
		g_mime_shutdown();
		buf_free(&tt);
		buf_free(&hh);
	}
	buf_free(&text);
	buf_free(&html);
}

struct issue_case {
	const char *file;
	int ok;
	const char *subject, *ident, *err;
};

static const struct issue_case issue_cases[] = {
	{"subject: Hei æøå\nid: 2026-48\n\n# Body\n", 1, "Hei æøå", "2026-48", NULL},
	{"---\nsubject: Front\nallow_html: true\n---\n\nBody\n", 1, "Front", NULL, NULL},
	{"Subject:   spaced   \n\nx\n", 1, "spaced", NULL, NULL},
	{"# No header\n\ntext\n", 0, NULL, NULL, "header block"},
	{"id: x\n\nbody\n", 0, NULL, NULL, "no subject"},
	{"subjet: typo\n\nbody\n", 0, NULL, NULL, "unknown key"},
	{"subject: x\nid: bad id!\n\nbody\n", 0, NULL, NULL, "id may hold"},
	{"subject: x\nallow_html: maybe\n\nb\n", 0, NULL, NULL, "allow_html"},
	{"subject: no body", 0, NULL, NULL, "ends in its header"},
	{"subject: \xff\n\nb\n", 0, NULL, NULL, "UTF-8"},
};

Test(compose, issue_file)
{
	for (size_t i = 0; i < sizeof(issue_cases) / sizeof(issue_cases[0]); i++) {
		const struct issue_case *ic = &issue_cases[i];
		char path[] = "/tmp/newsletter-issue.XXXXXX", err[ERR_LEN] = "";
		struct issue is;
		int fd = mkstemp(path), r;

		cr_assert_geq(fd, 0);
		cr_assert_eq(write(fd, ic->file, strlen(ic->file)), (ssize_t)strlen(ic->file));
		close(fd);
		r = mailer_issue_load(path, &is, err);
		unlink(path);
		cr_assert_eq(r == 0, ic->ok, "case %zu: %s", i, err);
		if (!ic->ok) {
			cr_assert(strstr(err, ic->err) != NULL, "case %zu: '%s' lacks '%s'", i, err, ic->err);
			continue;
		}
		cr_assert_str_eq(is.subject, ic->subject);
		if (ic->ident)
			cr_assert_str_eq(is.ident, ic->ident);
		else
			cr_assert(strncmp(is.ident, "b2-", 3) == 0);
		mailer_issue_free(&is);
	}
}

Test(compose, render_safe_and_footer)
{
	struct config cfg = {0};
	struct issue is = {.subject = "S <b>", .ident = "x", .preheader = "",
			   .markdown = "Hei {{name}}\n\n<script>alert(1)</script>\n\n"
				       "[Meld av]({{unsubscribe_url}})\n"};
	struct rendered r;
	char err[ERR_LEN] = "";

	cfg.list.name = "Liste & co";
	cfg.list.language = "nb";
	cr_assert_eq(mailer_render(&is, &cfg, "https://x.example/u/T", &r, err), 0, "%s", err);
	cr_assert(strstr(r.html, "<script>") == NULL, "raw HTML is dropped");
	cr_assert(strstr(r.html, "Hei {{name}}") != NULL);
	cr_assert(strstr(r.html, "href=\"https://x.example/u/T\"") != NULL);
	cr_assert(strstr(r.html, "Liste &amp; co") != NULL, "the footer names the list");
	cr_assert(strstr(r.html, "<title>S &lt;b&gt;</title>") != NULL);
	cr_assert(strstr(r.text, "Hei {{name}}") != NULL);
	cr_assert(strstr(r.text, "https://x.example/u/T") != NULL);
	cr_assert(strstr(r.text, "Meld deg av") != NULL);
	mailer_render_free(&r);
	is.allow_html = true;
	cr_assert_eq(mailer_render(&is, &cfg, "https://x.example/u/T", &r, err), 0, "%s", err);
	cr_assert(strstr(r.html, "<script>") != NULL, "allow_html keeps raw HTML");
	mailer_render_free(&r);
}
