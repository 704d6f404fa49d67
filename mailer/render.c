/*
 * mailer/render.c - the issue's Markdown rendered (cmark) into the HTML
 * and plain-text bodies of a mailing, inside the list's template and with
 * the footer that no issue and no template can leave out.
 *
 * Raw HTML in the Markdown is dropped unless the issue says allow_html
 * (cmark's default since 0.29 is safe: CMARK_OPT_UNSAFE lets it through).
 * The template is the operator's own file and is trusted as HTML; what is
 * put into it (subject, preheader, list name, recipient's name) is escaped.
 */
#include "mailer.h"

#include <cmark.h>
#include <glib.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TEMPLATE_MAX (256 * 1024)
#define TEXT_WIDTH 72

static const char builtin_template[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"{{lang}}\">\n"
	"<head>\n"
	"<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<title>{{subject}}</title>\n"
	"</head>\n"
	"<body style=\"margin:0;padding:0;background:#f3f3f1\">\n"
	"<div style=\"display:none;max-height:0;overflow:hidden\">{{preheader}}</div>\n"
	"<div style=\"max-width:600px;margin:0 auto;padding:24px;background:#ffffff;"
	"font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:1.5;color:#222222\">\n"
	"{{content}}\n"
	"</div>\n"
	"</body>\n"
	"</html>\n";

/* The footer, by language: every message carries it. */
static const struct footer {
	const char *lang;
	const char *html;	/* %1$s list name (escaped), %2$s unsubscribe URL */
	const char *text;
} footers[] = {
	{"en",
	 "<hr style=\"border:0;border-top:1px solid #dddddd;margin:32px 0 16px\">\n"
	 "<p style=\"font-size:13px;color:#666666\">You receive %1$s because you are a customer of ours. "
	 "<a href=\"%2$s\" style=\"color:#666666\">Unsubscribe</a> with one click: your address "
	 "is then deleted.</p>\n",
	 "You receive %1$s because you are a customer of ours.\n"
	 "Unsubscribe with one click (your address is then deleted):\n%2$s\n"},
	{"nb",
	 "<hr style=\"border:0;border-top:1px solid #dddddd;margin:32px 0 16px\">\n"
	 "<p style=\"font-size:13px;color:#666666\">Du får %1$s fordi du er kunde hos oss. "
	 "<a href=\"%2$s\" style=\"color:#666666\">Meld deg av</a> med ett klikk: adressen din "
	 "blir da slettet.</p>\n",
	 "Du får %1$s fordi du er kunde hos oss.\n"
	 "Meld deg av med ett klikk (adressen din blir da slettet):\n%2$s\n"},
};

/* Appends @s with every @from replaced by @to. */
static void
replace_into(struct buf *b, const char *s, const char *from, const char *to)
{
	size_t n = strlen(from);
	const char *p;

	while ((p = strstr(s, from)) != NULL) {
		buf_add(b, s, (size_t)(p - s));
		buf_adds(b, to);
		s = p + n;
	}
	buf_adds(b, s);
}

static char *
replace(const char *s, const char *from, const char *to)
{
	struct buf b;

	buf_init(&b);
	replace_into(&b, s, from, to);
	return b.s;
}

/* --- plain text from the same Markdown tree --- */

struct text {
	struct buf out;
	struct buf prefix;	/* "> " and list indents of the open blocks */
};

static void
inline_text(cmark_node *n, struct buf *b)
{
	for (cmark_node *c = cmark_node_first_child(n); c; c = cmark_node_next(c)) {
		const char *lit = cmark_node_get_literal(c);

		switch (cmark_node_get_type(c)) {
		case CMARK_NODE_TEXT:
		case CMARK_NODE_CODE:
			buf_adds(b, lit ? lit : "");
			break;
		case CMARK_NODE_SOFTBREAK:
			buf_addc(b, ' ');
			break;
		case CMARK_NODE_LINEBREAK:
			buf_addc(b, '\n');
			break;
		case CMARK_NODE_LINK: {
			const char *url = cmark_node_get_url(c);
			size_t before = b->len;

			inline_text(c, b);
			if (url && *url && strcmp(b->s + before, url) != 0)
				buf_printf(b, " <%s>", url);
			break;
		}
		case CMARK_NODE_IMAGE:
			buf_addc(b, '[');
			inline_text(c, b);
			buf_addc(b, ']');
			break;
		case CMARK_NODE_HTML_INLINE:
			break;
		default:	/* emphasis, strong, custom: their text */
			inline_text(c, b);
			break;
		}
	}
}

/* Writes @s word-wrapped at TEXT_WIDTH, each line after @first_prefix
 * (first line) or the block prefix plus @indent (the rest). */
static void
wrap(struct text *t, const char *s, const char *first_prefix, size_t indent)
{
	size_t col = 0;
	bool first = true;

	buf_adds(&t->out, first_prefix);
	col = strlen(first_prefix);
	while (*s) {
		size_t w = strcspn(s, " \n");

		if (!first && col + 1 + w > TEXT_WIDTH) {
			buf_addc(&t->out, '\n');
			buf_adds(&t->out, t->prefix.s);
			buf_printf(&t->out, "%*s", (int)indent, "");
			col = t->prefix.len + indent;
		} else if (!first) {
			buf_addc(&t->out, ' ');
			col++;
		}
		buf_add(&t->out, s, w);
		col += (size_t)g_utf8_strlen(s, (gssize)w);
		first = false;
		s += w;
		if (*s == '\n') {
			buf_addc(&t->out, '\n');
			buf_adds(&t->out, t->prefix.s);
			buf_printf(&t->out, "%*s", (int)indent, "");
			col = t->prefix.len + indent;
			first = true;
			s++;
		} else if (*s == ' ') {
			while (*s == ' ')
				s++;
		}
	}
	buf_addc(&t->out, '\n');
}

static void block_text(struct text *t, cmark_node *n, const char *lead, size_t indent);

static void
children_text(struct text *t, cmark_node *n)
{
	bool first = true;

	for (cmark_node *c = cmark_node_first_child(n); c; c = cmark_node_next(c)) {
		if (!first) {
			buf_adds(&t->out, t->prefix.s);
			buf_addc(&t->out, '\n');
		}
		block_text(t, c, t->prefix.s, 0);
		first = false;
	}
}

static void
block_text(struct text *t, cmark_node *n, const char *lead, size_t indent)
{
	struct buf line;

	buf_init(&line);
	switch (cmark_node_get_type(n)) {
	case CMARK_NODE_PARAGRAPH:
		inline_text(n, &line);
		wrap(t, line.s, lead, indent);
		break;
	case CMARK_NODE_HEADING:
		/* No underline: its length would follow the template's
		 * "{{name}}", not the recipient's name. */
		inline_text(n, &line);
		wrap(t, line.s, lead, indent);
		break;
	case CMARK_NODE_CODE_BLOCK: {
		const char *lit = cmark_node_get_literal(n);

		for (const char *p = lit ? lit : ""; *p;) {
			size_t w = strcspn(p, "\n");

			buf_adds(&t->out, t->prefix.s);
			buf_adds(&t->out, "    ");
			buf_add(&t->out, p, w);
			buf_addc(&t->out, '\n');
			p += w + (p[w] == '\n');
		}
		break;
	}
	case CMARK_NODE_THEMATIC_BREAK:
		buf_adds(&t->out, lead);
		buf_adds(&t->out, "----------\n");
		break;
	case CMARK_NODE_BLOCK_QUOTE: {
		size_t keep = t->prefix.len;

		buf_adds(&t->prefix, "> ");
		children_text(t, n);
		t->prefix.len = keep;
		t->prefix.s[keep] = '\0';
		break;
	}
	case CMARK_NODE_LIST: {
		int num = cmark_node_get_list_start(n);
		bool ordered = cmark_node_get_list_type(n) == CMARK_ORDERED_LIST;

		for (cmark_node *it = cmark_node_first_child(n); it; it = cmark_node_next(it)) {
			struct buf mark;
			size_t keep = t->prefix.len;
			bool first = true;

			buf_init(&mark);
			buf_printf(&mark, ordered ? "%d. " : "- ", num++);
			for (cmark_node *c = cmark_node_first_child(it); c; c = cmark_node_next(c)) {
				struct buf l;

				buf_init(&l);
				buf_printf(&l, "%s%s", t->prefix.s, first ? mark.s : "");
				if (!first)
					buf_printf(&l, "%*s", (int)mark.len, "");
				if (cmark_node_get_type(c) == CMARK_NODE_PARAGRAPH) {
					block_text(t, c, l.s, mark.len);
				} else {
					buf_printf(&t->prefix, "%*s", (int)mark.len, "");
					block_text(t, c, t->prefix.s, 0);
					t->prefix.len = keep;
					t->prefix.s[keep] = '\0';
				}
				buf_free(&l);
				first = false;
			}
			buf_free(&mark);
		}
		break;
	}
	case CMARK_NODE_DOCUMENT:
		children_text(t, n);
		break;
	default:		/* raw HTML blocks have no plain-text form */
		break;
	}
	buf_free(&line);
}

static char *
markdown_text(cmark_node *doc)
{
	struct text t;

	buf_init(&t.out);
	buf_init(&t.prefix);
	buf_adds(&t.prefix, "");
	block_text(&t, doc, "", 0);
	buf_free(&t.prefix);
	return t.out.s;
}

/* --- the template --- */

static char *
load_template(const char *path, char *err)
{
	FILE *fp;
	char *s;
	size_t n;

	if (path == NULL)
		return xstrdup(builtin_template);
	if ((fp = fopen(path, "rb")) == NULL) {
		errf(err, "the template %s: %s", path, strerror(errno));
		return NULL;
	}
	s = xmalloc(TEMPLATE_MAX + 1);
	n = fread(s, 1, TEMPLATE_MAX + 1, fp);
	fclose(fp);
	s[n < TEMPLATE_MAX ? n : TEMPLATE_MAX] = '\0';
	if (n > TEMPLATE_MAX || strlen(s) != n || !g_utf8_validate(s, (gssize)n, NULL)) {
		errf(err, "the template %s is not UTF-8 text of at most %d bytes", path, TEMPLATE_MAX);
		free(s);
		return NULL;
	}
	if (strstr(s, "{{content}}") == NULL) {
		errf(err, "the template %s has no {{content}}: the issue and its footer go there", path);
		free(s);
		return NULL;
	}
	return s;
}

static const struct footer *
footer_for(const char *lang)
{
	for (size_t i = 0; i < sizeof(footers) / sizeof(footers[0]); i++)
		if (lang && strcmp(lang, footers[i].lang) == 0)
			return &footers[i];
	return &footers[0];
}

/* Fills the template's fields; {{name}} stays for each recipient. */
static char *
fill_template(const char *tpl, const char *const fields[][2], size_t nfields)
{
	struct buf b;
	const char *p = tpl;

	buf_init(&b);
	while (*p) {
		const char *open = strstr(p, "{{");
		size_t i;

		if (open == NULL) {
			buf_adds(&b, p);
			break;
		}
		buf_add(&b, p, (size_t)(open - p));
		for (i = 0; i < nfields; i++) {
			size_t n = strlen(fields[i][0]);

			if (strncmp(open, fields[i][0], n) == 0) {
				buf_adds(&b, fields[i][1]);
				p = open + n;
				break;
			}
		}
		if (i == nfields) {
			buf_add(&b, "{{", 2);
			p = open + 2;
		}
	}
	return b.s;
}

int
mailer_render(const struct issue *is, const struct config *cfg, const char *unsub_url,
	      struct rendered *out, char *err)
{
	const struct footer *f = footer_for(cfg->list.language);
	struct buf content, esc_list, esc_subject, esc_pre, esc_url, foot;
	char *md, *html, *tpl, *text;
	cmark_node *doc;

	memset(out, 0, sizeof(*out));
	if ((tpl = load_template(cfg->list.template, err)) == NULL)
		return -1;
	/* A link written [x]({{unsubscribe_url}}) reaches cmark as a URL. */
	md = replace(is->markdown, "{{unsubscribe_url}}", unsub_url);
	doc = cmark_parse_document(md, strlen(md),
				   is->allow_html ? CMARK_OPT_UNSAFE : CMARK_OPT_DEFAULT);
	html = cmark_render_html(doc, is->allow_html ? CMARK_OPT_UNSAFE : CMARK_OPT_DEFAULT);
	text = markdown_text(doc);
	cmark_node_free(doc);
	free(md);

	buf_init(&esc_list);
	buf_init(&esc_subject);
	buf_init(&esc_pre);
	buf_init(&esc_url);
	buf_init(&foot);
	buf_init(&content);
	html_escape(&esc_list, cfg->list.name);
	html_escape(&esc_subject, is->subject);
	html_escape(&esc_pre, is->preheader);
	html_escape(&esc_url, unsub_url);
	buf_printf(&foot, f->html, esc_list.s, esc_url.s);
	buf_adds(&content, html);
	buf_adds(&content, foot.s);
	{
		const char *const fields[][2] = {
			{"{{content}}", content.s},
			{"{{subject}}", esc_subject.s},
			{"{{preheader}}", esc_pre.s},
			{"{{list_name}}", esc_list.s},
			{"{{lang}}", f->lang},
			{"{{unsubscribe_url}}", esc_url.s},
		};

		out->html = fill_template(tpl, fields, sizeof(fields) / sizeof(fields[0]));
	}
	buf_reset(&foot);
	buf_adds(&foot, text);
	buf_adds(&foot, "\n-- \n");
	buf_printf(&foot, f->text, cfg->list.name, unsub_url);
	out->text = foot.s;

	free(html);
	free(text);
	free(tpl);
	buf_free(&esc_list);
	buf_free(&esc_subject);
	buf_free(&esc_pre);
	buf_free(&esc_url);
	buf_free(&content);
	return 0;
}

void
mailer_render_free(struct rendered *r)
{
	free(r->text);
	free(r->html);
	memset(r, 0, sizeof(*r));
}
