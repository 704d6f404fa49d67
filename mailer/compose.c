/*
 * mailer/compose.c - the mailing as a MIME message, built by GMime once,
 * and each recipient's copy made from it by changing only what is
 * personal.
 *
 * GMime writes the whole message once with placeholders: a To address, a
 * Message-ID and an unsubscribe token of the real ones' fixed length and
 * character class, and "{{name}}" in the bodies. The bytes are kept with a
 * list of edits. Per recipient, the To header is written by GMime (its
 * RFC 2047 encoding and folding), the token and Message-ID are patched in
 * at their offsets (base64url and hex survive quoted-printable and header
 * folding unchanged, so the layout is the same), and each body line that
 * holds "{{name}}" is filled and quoted-printable encoded again by GMime's
 * encoder. QP works line by line, so the result is byte for byte what GMime
 * writes for that recipient from scratch (mailer_compose_reference; the
 * unit tests compare the two).
 *
 * Trusts its caller for well-formed UTF-8; a recipient's name is escaped
 * for HTML here. Never logs an address, a name or a token.
 */
#include "mailer_int.h"

#include <gmime/gmime.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define PLACEHOLDER_TO "recipient@compose.invalid"

enum edit_kind { EDIT_TO, EDIT_MSGID, EDIT_TOKEN, EDIT_NAME_TEXT, EDIT_NAME_HTML };

struct edit {
	size_t off, len;	/* the bytes of the template it replaces */
	enum edit_kind kind;
	size_t from;		/* EDIT_TOKEN: first token character replaced */
	char *line;		/* EDIT_NAME_*: the decoded line, LF-ended */
};

struct compose {
	char *bytes;		/* the template message, CRLF */
	size_t len;
	struct edit *edits;	/* in order of offset */
	size_t nedits;
	char placeholder[TOKEN_LEN + 1];
};

struct composer {
	const struct compose *c;
	GMimeMessage *scratch;	/* writes the To header */
	struct buf line, esc;
	char *qp;
	size_t qpcap;
};

void
mailer_compose_placeholder(char out[TOKEN_LEN + 1])
{
	/* The shape of a token: base64url(19) "." base64url(16). */
	memset(out, 'Z', TOKEN_LEN);
	out[26] = '.';
	out[TOKEN_LEN] = '\0';
}

void
mailer_compose_msgid(int64_t mailing, int64_t subscriber, char out[COMPOSE_MSGID_LEN + 1])
{
	uint64_t r[2];

	if (subscriber == 0) {
		randombytes_buf(r, sizeof(r));
	} else {
		r[0] = (uint64_t)mailing;
		r[1] = (uint64_t)subscriber;
	}
	/* "%016llx.%016llx", written out: the length is fixed. */
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 16; i++)
			out[k * 17 + i] = "0123456789abcdef"[(r[k] >> (60 - 4 * i)) & 0xf];
	out[16] = '.';
	out[COMPOSE_MSGID_LEN] = '\0';
}

/* The domain of the From address ("Name <a@domain>"), for Message-IDs. */
static void
domain_of(const char *from, char *out, size_t outlen)
{
	const char *at = strrchr(from, '@');
	size_t n = at ? strcspn(at + 1, "> \t") : 0;

	static const char none[] = "localhost";

	if (n == 0 || n >= outlen) {
		at = none - 1;
		n = sizeof(none) - 1;
	}
	/* outlen is at least sizeof(none): the only caller's buffer is 256. */
	memcpy(out, at + 1, n);
	out[n] = '\0';
}

/* Appends @s with LF line ends turned into CRLF (as GMime's writer does). */
static void
add_crlf(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			buf_addc(b, '\r');
		buf_addc(b, s[i]);
	}
}

/* Whether the byte @c stands for itself (or, a space, as '_') in a "Q" word. */
static bool
q_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == ' ' || (c != '\0' && strchr("!*+-/", c) != NULL);
}

/*
 * @s[0..n) as RFC 2047 encoded words: "Q" encoding of its UTF-8 (RFC 2047
 * 5(3): in a phrase only letters, digits and "!*+-/" stand for
 * themselves), whole characters to a word, each word within 75
 * characters. Not "B": GMime's parser joins adjacent "B" words before it
 * decodes them and stops at the padding of the first.
 */
static void
encode_run(struct buf *b, const char *s, size_t n)
{
	enum { PAYLOAD = 75 - 12 };	/* less "=?utf-8?q?" and "?=" */
	static const char hex[] = "0123456789ABCDEF";
	size_t used = 0;
	bool open = false;

	for (size_t i = 0, len; i < n; i += len) {
		size_t cost = 0;

		len = 1;
		if ((unsigned char)s[i] >= 0xc0)
			while (i + len < n && ((unsigned char)s[i + len] & 0xc0) == 0x80)
				len++;
		for (size_t k = i; k < i + len; k++)
			cost += q_safe((unsigned char)s[k]) ? 1 : 3;
		if (open && used + cost > PAYLOAD) {
			buf_adds(b, "?= ");
			open = false;
		}
		if (!open) {
			buf_adds(b, "=?utf-8?q?");
			open = true;
			used = 0;
		}
		for (size_t k = i; k < i + len; k++) {
			unsigned char c = (unsigned char)s[k];

			if (c == ' ') {
				buf_addc(b, '_');
			} else if (q_safe(c)) {
				buf_addc(b, (char)c);
			} else {
				buf_addc(b, '=');
				buf_addc(b, hex[c >> 4]);
				buf_addc(b, hex[c & 15]);
			}
		}
		used += cost;
	}
	if (open)
		buf_adds(b, "?=");
}

/* Whether a word of a name can stand in the header as it is. */
static bool
plain_word(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL)))
			return false;
		if (c == '=' && i + 1 < n && s[i + 1] == '?')
			return false;
	}
	return true;
}

/*
 * @name as a display name of atoms and encoded words. A word that is not
 * a plain atom, or that holds "=?", is encoded, together with the spaces
 * between it and the next such word; plain words and the spaces beside
 * them stay as they are. Two encoded words then never stand side by side
 * unless one run needs more than one (over 63 characters encoded): readers
 * that follow RFC 2047 6.2 drop the space between them, but Python's email
 * package (3.11) shows it, and in that case alone adds a space there.
 */
static void
encode_phrase(struct buf *b, const char *name)
{
	size_t n = strlen(name), lead = 0, end = n, run = 0;
	bool in_run = false;

	while (lead < n && name[lead] == ' ')
		lead++;
	while (end > lead && name[end - 1] == ' ')
		end--;
	for (size_t i = lead, ws, we; i < end; i = we) {
		bool enc;

		for (ws = i; name[ws] == ' '; ws++)
			;
		for (we = ws; we < end && name[we] != ' '; we++)
			;
		/* Spaces around the name are kept inside an encoded word. */
		enc = !plain_word(name + ws, we - ws) || (ws == lead && lead > 0) ||
		      (we == end && end < n);
		if (enc && !in_run) {
			buf_add(b, name + i, ws - i);
			run = ws == lead ? 0 : ws;
			in_run = true;
		} else if (!enc) {
			if (in_run)
				encode_run(b, name + run, i - run);
			in_run = false;
			buf_add(b, name + i, we - i);
		}
	}
	if (in_run)
		encode_run(b, name + run, (end < n ? n : end) - run);
	else if (lead == end)
		encode_run(b, name, n);		/* spaces alone */
}

/*
 * The To header: GMime's mailbox, with the name given as text for GMime to
 * encode. But GMime (3.2) writes an ASCII word of a name as it is, so a
 * name holding "=?" would reach mail clients as an encoded word of its
 * author's making: "=?utf-8?b?QWRtaW4gPGFkbWluQGV2aWwub3JnPg==?=" shows as
 * "Admin <admin@evil.org>". Such a name is encoded here (encode_phrase),
 * and GMime writes the result unchanged (atoms and encoded words, which
 * are atoms to it) and folds between them: readers decode it to the name
 * as typed.
 */
static void
set_to(GMimeMessage *m, const char *name, const char *email)
{
	InternetAddressList *to = g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_TO);
	InternetAddress *ia;
	struct buf enc;

	buf_init(&enc);
	if (name && strstr(name, "=?") != NULL) {
		encode_phrase(&enc, name);
		name = enc.s;
	}
	ia = internet_address_mailbox_new(name && *name ? name : NULL, email);
	internet_address_set_charset(ia, "utf-8");
	internet_address_list_clear(to);
	internet_address_list_add(to, ia);
	g_object_unref(ia);
	buf_free(&enc);
}

/* A UTF-8 text part, quoted-printable (set_text would pick another charset). */
static GMimeObject *
text_part(const char *subtype, const char *text)
{
	GMimeTextPart *tp = g_mime_text_part_new_with_subtype(subtype);
	GMimeStream *mem = g_mime_stream_mem_new_with_buffer(text, strlen(text));
	GMimeDataWrapper *dw = g_mime_data_wrapper_new_with_stream(mem, GMIME_CONTENT_ENCODING_DEFAULT);

	g_mime_part_set_content(GMIME_PART(tp), dw);
	g_mime_object_set_content_type_parameter(GMIME_OBJECT(tp), "charset", "utf-8");
	g_mime_part_set_content_encoding(GMIME_PART(tp), GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
	g_object_unref(dw);
	g_object_unref(mem);
	return GMIME_OBJECT(tp);
}

/*
 * The headers every message starts with: From (each mailbox UTF-8), To,
 * Subject, Date and a Message-ID of @msgid at the domain of @from.
 */
static void
set_head(GMimeMessage *m, const char *from_hdr, const char *to_name, const char *to,
	 const char *subject, time_t when, const char *msgid)
{
	GMimeObject *obj = GMIME_OBJECT(m);
	InternetAddressList *from;
	GDateTime *date;
	struct buf v;
	char domain[256];

	from = internet_address_list_parse(NULL, from_hdr);
	if (from) {
		for (int i = 0; i < internet_address_list_length(from); i++)
			internet_address_set_charset(internet_address_list_get_address(from, i), "utf-8");
		internet_address_list_append(g_mime_message_get_from(m), from);
		g_object_unref(from);
	}
	set_to(m, to_name, to);
	g_mime_message_set_subject(m, subject, "utf-8");
	date = g_date_time_new_from_unix_utc(when);
	g_mime_message_set_date(m, date);
	g_date_time_unref(date);
	/* GMime 3.2's own Message-ID formatting doubles the closing '>'. */
	domain_of(from_hdr, domain, sizeof(domain));
	buf_init(&v);
	buf_printf(&v, " <%s@%s>\n", msgid, domain);
	g_mime_object_append_header(obj, "Message-ID", "", NULL);
	g_mime_header_set_raw_value(g_mime_header_list_get_header(
		g_mime_object_get_header_list(obj), "Message-ID"), v.s);
	buf_free(&v);
}

/*
 * The text and HTML alternatives (with @boundary if not NULL) as the body
 * of @m, and the whole message written into @out, CRLF line ends. @m is
 * released.
 */
static void
finish(GMimeMessage *m, const char *boundary, const char *text, const char *html,
       struct buf *out)
{
	GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
	GMimeObject *tp, *hp;
	GMimeFormatOptions *fo;
	GMimeStream *mem;
	GByteArray *bytes;

	if (boundary)
		g_mime_multipart_set_boundary(alt, boundary);
	tp = text_part("plain", text);
	hp = text_part("html", html);
	g_mime_multipart_add(alt, tp);
	g_mime_multipart_add(alt, hp);
	g_object_unref(tp);
	g_object_unref(hp);
	g_mime_message_set_mime_part(m, GMIME_OBJECT(alt));
	g_object_unref(alt);

	fo = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	mem = g_mime_stream_mem_new();
	g_mime_object_write_to_stream(GMIME_OBJECT(m), fo, mem);
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	buf_reset(out);
	buf_add(out, bytes->data, bytes->len);
	g_object_unref(mem);
	g_mime_format_options_free(fo);
	g_object_unref(m);
}

/* The whole message for @who, written by GMime, CRLF line ends. */
static void
build(const struct compose_params *p, const struct personal *who, const char *text,
      const char *html, struct buf *out)
{
	GMimeMessage *m = g_mime_message_new(FALSE);
	GMimeObject *obj = GMIME_OBJECT(m);
	struct buf v;

	set_head(m, p->from, who->name, who->email, p->subject, p->date, who->msgid);
	buf_init(&v);
	buf_printf(&v, "%s <%s>", p->list_name, p->list_id);
	g_mime_object_append_header(obj, "List-Id", v.s, "utf-8");
	buf_reset(&v);
	/*
	 * GMime would fold the long URL as RFC 2047 words, which no client reads
	 * as a URL (RFC 2369 wants it literal): the value is ASCII, folded after
	 * the comma here and set as GMime's raw value.
	 */
	buf_printf(&v, " <%s/u/%s>,\n <mailto:unsubscribe+%s@%s?subject=unsubscribe>\n",
		   p->base_url, who->token, who->token, p->bounce_domain);
	g_mime_object_append_header(obj, "List-Unsubscribe", "", NULL);
	g_mime_header_set_raw_value(g_mime_header_list_get_header(
		g_mime_object_get_header_list(obj), "List-Unsubscribe"), v.s);
	g_mime_object_append_header(obj, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click", NULL);
	g_mime_object_append_header(obj, "MIME-Version", "1.0", NULL);
	buf_free(&v);
	finish(m, p->boundary, text, html, out);
}

void
mailer_compose_single(const struct single_mail *sm, struct buf *out)
{
	GMimeMessage *m = g_mime_message_new(FALSE);
	GMimeObject *obj = GMIME_OBJECT(m);
	char msgid[COMPOSE_MSGID_LEN + 1];

	/* Random: it says nothing about whom it went to. */
	mailer_compose_msgid(0, 0, msgid);
	set_head(m, sm->from, sm->to_name, sm->to, sm->subject, sm->date, msgid);
	for (const char *const *h = sm->headers; h && h[0]; h += 2)
		g_mime_object_append_header(obj, h[0], h[1], NULL);
	g_mime_object_append_header(obj, "MIME-Version", "1.0", NULL);
	finish(m, NULL, sm->text, sm->html, out);
}

/* @s (one line) with the name and token filled in, for the text or HTML part. */
static void
fill_line(struct buf *b, struct buf *esc, const char *s, const char *placeholder,
	  const struct personal *who, bool html)
{
	const char *name = who->name;

	if (html) {
		buf_reset(esc);
		html_escape(esc, who->name);
		name = esc->s;
	}
	buf_reset(b);
	while (*s) {
		if (strncmp(s, RENDER_NAME, strlen(RENDER_NAME)) == 0) {
			buf_adds(b, name);
			s += strlen(RENDER_NAME);
		} else if (strncmp(s, placeholder, TOKEN_LEN) == 0) {
			buf_adds(b, who->token);
			s += TOKEN_LEN;
		} else {
			buf_addc(b, *s++);
		}
	}
}

/* @text personalised, for the reference message. */
static char *
fill_all(const char *text, const char *placeholder, const struct personal *who, bool html)
{
	struct buf b, esc;

	buf_init(&esc);
	buf_init(&b);
	fill_line(&b, &esc, text, placeholder, who, html);
	buf_free(&esc);
	return b.s;
}

/* GMime's quoted-printable encoding of one LF-ended line, CRLF, onto @b. */
static void
qp_line(char **tmp, size_t *cap, struct buf *b, const char *s, size_t n)
{
	GMimeEncoding enc;
	size_t need, m;

	g_mime_encoding_init_encode(&enc, GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
	need = g_mime_encoding_outlen(&enc, n) + 16;
	if (need > *cap) {
		*cap = need;
		*tmp = xrealloc(*tmp, need);
	}
	m = g_mime_encoding_flush(&enc, s, n, *tmp);
	add_crlf(b, *tmp, m);
}

void
mailer_compose_reference(const struct compose_params *p, const struct personal *who,
			 struct buf *out)
{
	char placeholder[TOKEN_LEN + 1];
	char *text, *html;

	mailer_compose_placeholder(placeholder);
	text = fill_all(p->text, placeholder, who, false);
	html = fill_all(p->html, placeholder, who, true);
	build(p, who, text, html, out);
	free(text);
	free(html);
}

static void
add_edit(struct compose *c, size_t *cap, struct edit e)
{
	if (c->nedits == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		c->edits = xrealloc(c->edits, *cap * sizeof(*c->edits));
	}
	c->edits[c->nedits++] = e;
}

static int
edit_order(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* Whether [off, off+len) lies within a name-line edit. */
static bool
inside_line(const struct compose *c, size_t off)
{
	for (size_t i = 0; i < c->nedits; i++)
		if ((c->edits[i].kind == EDIT_NAME_TEXT || c->edits[i].kind == EDIT_NAME_HTML) &&
		    off >= c->edits[i].off && off < c->edits[i].off + c->edits[i].len)
			return true;
	return false;
}

/* Finds the encoded form of every "{{name}}" line of @body after @from. */
static int
find_name_lines(struct compose *c, size_t *cap, const char *body, enum edit_kind kind,
		size_t *from, char *err)
{
	struct buf enc;
	char *tmp = NULL;
	size_t tcap = 0;

	buf_init(&enc);
	for (const char *s = body; *s;) {
		size_t n = strcspn(s, "\n");
		const char *hit = memmem(s, n, RENDER_NAME, strlen(RENDER_NAME));

		n += s[n] == '\n';
		if (hit) {
			const char *at;

			buf_reset(&enc);
			qp_line(&tmp, &tcap, &enc, s, n);
			at = memmem(c->bytes + *from, c->len - *from, enc.s, enc.len);
			if (at == NULL) {
				buf_free(&enc);
				free(tmp);
				return errf(err, "composing: a {{name}} line was not found in the message");
			}
			add_edit(c, cap, (struct edit){
				.off = (size_t)(at - c->bytes), .len = enc.len, .kind = kind,
				.line = xstrndup(s, n)});
			*from = (size_t)(at - c->bytes) + enc.len;
		}
		s += n;
	}
	buf_free(&enc);
	free(tmp);
	return 0;
}

/* Records every place of the placeholder token, across QP soft breaks. */
static void
find_tokens(struct compose *c, size_t *cap)
{
	const char *b = c->bytes, *t = c->placeholder;
	size_t nlines = c->nedits;

	for (size_t i = 0; i + TOKEN_LEN <= c->len; i++) {
		size_t at[TOKEN_LEN], k = 0, j = i;

		if (b[i] != t[0])
			continue;
		while (k < TOKEN_LEN && j < c->len) {
			if (b[j] == t[k]) {
				at[k++] = j++;
			} else if (k > 0 && j + 2 < c->len && b[j] == '=' && b[j + 1] == '\r' &&
				   b[j + 2] == '\n') {
				j += 3;
			} else {
				break;
			}
		}
		if (k < TOKEN_LEN)
			continue;
		(void)nlines;
		if (inside_line(c, i)) {
			i = j - 1;
			continue;
		}
		/* One edit per run of contiguous characters. */
		for (size_t s = 0; s < TOKEN_LEN;) {
			size_t e = s + 1;

			while (e < TOKEN_LEN && at[e] == at[e - 1] + 1)
				e++;
			add_edit(c, cap, (struct edit){.off = at[s], .len = e - s,
					 .kind = EDIT_TOKEN, .from = s});
			s = e;
		}
		i = j - 1;
	}
}

struct compose *
mailer_compose_new(const struct compose_params *p, char *err)
{
	struct compose *c = xcalloc(1, sizeof(*c));
	char msgid[COMPOSE_MSGID_LEN + 1];
	struct personal who;
	struct buf out;
	const char *hdr_end, *to, *mid;
	size_t cap = 0, from;

	mailer_compose_placeholder(c->placeholder);
	memset(msgid, 'm', COMPOSE_MSGID_LEN);
	msgid[16] = '.';
	msgid[COMPOSE_MSGID_LEN] = '\0';
	who = (struct personal){.email = PLACEHOLDER_TO, .name = "", .token = c->placeholder,
				.msgid = msgid};
	buf_init(&out);
	build(p, &who, p->text, p->html, &out);
	c->bytes = out.s;
	c->len = out.len;

	hdr_end = memmem(c->bytes, c->len, "\r\n\r\n", 4);
	to = memmem(c->bytes, c->len, "\r\nTo: ", 6);
	mid = memmem(c->bytes, c->len, msgid, COMPOSE_MSGID_LEN);
	if (hdr_end == NULL || to == NULL || to > hdr_end || mid == NULL || mid > hdr_end) {
		errf(err, "composing: GMime wrote an unexpected header block");
		mailer_compose_free(c);
		return NULL;
	}
	{
		const char *e = to + 2;

		do {
			e = memmem(e, (size_t)(hdr_end + 2 - e), "\r\n", 2) + 2;
		} while (*e == ' ' || *e == '\t');
		add_edit(c, &cap, (struct edit){.off = (size_t)(to + 2 - c->bytes),
				 .len = (size_t)(e - (to + 2)), .kind = EDIT_TO});
	}
	add_edit(c, &cap, (struct edit){.off = (size_t)(mid - c->bytes),
			 .len = COMPOSE_MSGID_LEN, .kind = EDIT_MSGID});
	from = (size_t)(hdr_end - c->bytes);
	if (find_name_lines(c, &cap, p->text, EDIT_NAME_TEXT, &from, err) < 0 ||
	    find_name_lines(c, &cap, p->html, EDIT_NAME_HTML, &from, err) < 0) {
		mailer_compose_free(c);
		return NULL;
	}
	find_tokens(c, &cap);
	qsort(c->edits, c->nedits, sizeof(*c->edits), edit_order);
	return c;
}

void
mailer_compose_free(struct compose *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nedits; i++)
		free(c->edits[i].line);
	free(c->edits);
	free(c->bytes);
	free(c);
}

struct composer *
mailer_composer_new(const struct compose *c)
{
	struct composer *w = xcalloc(1, sizeof(*w));

	w->c = c;
	w->scratch = g_mime_message_new(FALSE);
	buf_init(&w->line);
	buf_init(&w->esc);
	return w;
}

void
mailer_composer_free(struct composer *w)
{
	if (w == NULL)
		return;
	g_object_unref(w->scratch);
	buf_free(&w->line);
	buf_free(&w->esc);
	free(w->qp);
	free(w);
}

void
mailer_compose_message(struct composer *w, const struct personal *who, struct buf *out)
{
	const struct compose *c = w->c;
	size_t pos = 0;

	buf_reset(out);
	for (size_t i = 0; i < c->nedits; i++) {
		const struct edit *e = &c->edits[i];

		buf_add(out, c->bytes + pos, e->off - pos);
		switch (e->kind) {
		case EDIT_TO: {
			GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(w->scratch));
			GMimeHeader *h;

			set_to(w->scratch, who->name, who->email);
			h = g_mime_header_list_get_header(hl, "To");
			buf_adds(out, "To:");
			add_crlf(out, g_mime_header_get_raw_value(h),
				 strlen(g_mime_header_get_raw_value(h)));
			break;
		}
		case EDIT_MSGID:
			buf_add(out, who->msgid, COMPOSE_MSGID_LEN);
			break;
		case EDIT_TOKEN:
			buf_add(out, who->token + e->from, e->len);
			break;
		case EDIT_NAME_TEXT:
		case EDIT_NAME_HTML:
			fill_line(&w->line, &w->esc, e->line, c->placeholder, who,
				  e->kind == EDIT_NAME_HTML);
			qp_line(&w->qp, &w->qpcap, out, w->line.s, w->line.len);
			break;
		}
		pos = e->off + e->len;
	}
	buf_add(out, c->bytes + pos, c->len - pos);
}
