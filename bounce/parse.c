/*
 * bounce/parse.c - one message in, a verdict per recipient out: the MIME
 * walk, the addresses the message was delivered to, and the dispatch to
 * one reader per report kind (dsn.c, arf.c, text.c, provider.c; see
 * parse_int.h).
 *
 * GMime parses the MIME structure (multipart/report, encoded parts,
 * charsets); the readers read what GMime hands back: the fields of an RFC
 * 3464 delivery-status part, of an RFC 5965 feedback report, and the
 * human-readable text of bounces that follow no standard, which the phrase
 * table of rules.c judges. Auto-replies (RFC 3834) are recognised and
 * ignored.
 *
 * Speed: building and freeing GMime's objects is most of the time, so
 * GMime builds no more than is read: the top level as a part (no message
 * object and its address lists), parts that are not encoded read from
 * their own stream, charsets converted only when the text is not ASCII,
 * the message read in place, one parser and its buffers per thread
 * (bounce_parser). The returned message (message/rfc822) is one leaf
 * part, not a message with the tree of its body: its header block is read
 * as a text/rfc822-headers part is, and GMime parses its body only when it
 * forwards a delivery report (returned_message()). That was a third of
 * GMime's time; the type registration it takes loses 16 bytes once per
 * process (gmime_start()). The parts read are of types of ours, read by
 * their type, without the content type objects GMime would make of their
 * Content-Type field (leaf_kind()); a multipart's field that is ASCII with
 * no encoded word is parsed unfolded, without GMime's decoding, which
 * leaves such a value as it is (BounceMultipart). Of the top header block, GMime is given only
 * the MIME fields (Content-*, split_top()): it makes and frees an object
 * for every header, two thirds of a bounce's (Received, DKIM-Signature,
 * Date, ...) are never read, and the others that are (From, To, Subject,
 * kept_headers) need no MIME parsing: they are kept raw in a table of the
 * parser's, and decoded by GMime's own g_mime_utils_header_decode_text()
 * when asked for decoded (top_header()). A header block that does not end
 * as GMime surely ends it goes to GMime with its read fields (drop_unread()).
 * A message that is one text/plain part, not encoded (no MIME field, or a
 * Content-Type of text/plain and a Content-Transfer-Encoding of no
 * encoding, as GMime's own functions read them: plain_top()), is not
 * given to GMime at all: its body is its text, converted from its charset
 * as GMime's charset filter converts (to_utf8()); a third of the messages
 * of tests/bounce/. A message in a buffer of the caller's is read there,
 * its MIME fields moved before its empty line (bounce_parse_buffer()).
 *
 * Trusts nothing in the message: every copy is bounded, results are capped
 * at BOUNCE_MAX_RESULTS, nesting at MAX_DEPTH. Never touches the store.
 */
#include "parse_int.h"

#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

/* LeakSanitizer must not count what GMime keeps for the whole process. */
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#ifdef HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

/*
 * The leaf parts walk() reads are of types of ours (registered in
 * gmime_start()), which GMime makes as its own but for the fields nothing
 * here needs parsed. The media type is the object's type: GMime's parser
 * read the part's Content-Type field to choose it, and a content type
 * object, with its parameter list and parameters, is not made, given
 * events and freed for every part (8 % of all the instructions over
 * tests/bounce/, callgrind). So that a part is read exactly as GMime's
 * content type would have it read, its type decides only when it has one
 * Content-Type field and that field is in its plain form (plain_form());
 * any other part is given the content type GMime would have given it
 * (give_content_type()) and read by it, as GMime's own types are. A text
 * part's charset, in its content type, is read only for a text that is
 * not plain ASCII; its Content-Disposition is parsed only when it is a
 * second text (attachment()). Content-Transfer-Encoding is read by
 * GMime's function from the raw value, not the decoded one (the same but
 * for an encoded word, left to GMime); Content-Description, -Location,
 * -MD5 and -Id are read by nothing here, and not decoded.
 */
enum leaf_kind {
	LEAF_NONE, LEAF_RETURNED, LEAF_STATUS, LEAF_FEEDBACK, LEAF_HEADERS, LEAF_PLAIN, LEAF_HTML,
};

struct leaf_fields {
	guint content_types;		/* Content-Type fields */
	const char *content_type;	/* the first one's raw value (its header's) */
	GMimeHeader *disposition;	/* the last Content-Disposition field */
};

typedef struct {
	GMimePart parent;
	struct leaf_fields f;
} BounceLeaf;
typedef struct {
	GMimePartClass parent_class;
} BounceLeafClass;
typedef struct {
	GMimeTextPart parent;
	struct leaf_fields f;
} BounceText;
typedef struct {
	GMimeTextPartClass parent_class;
} BounceTextClass;

GType bounce_leaf_get_type(void);
GType bounce_text_get_type(void);
G_DEFINE_TYPE(BounceLeaf, bounce_leaf, GMIME_TYPE_PART)
G_DEFINE_TYPE(BounceText, bounce_text, GMIME_TYPE_TEXT_PART)

/*
 * A field added to a part of ours (GMime's parser adds them one by one):
 * true when it is one kept in @f or not read at all; the others are
 * handled by GMime's part.
 */
static bool
keep_field(GMimePart *part, struct leaf_fields *f, GMimeHeader *header)
{
	static const char *const unread[] = {"Description", "Location", "Md5", "Id"};
	const char *name = g_mime_header_get_name(header), *raw;

	if (g_ascii_strncasecmp(name, "Content-", 8) != 0)
		return false;
	if (g_ascii_strcasecmp(name + 8, "Transfer-Encoding") == 0) {
		/* As GMime's part reads it, from the raw value rather than the
		 * decoded one: the same but for an encoded word (GMime's). */
		raw = g_mime_header_get_raw_value(header);
		if (raw == NULL || strstr(raw, "=?") != NULL)
			return false;
		part->encoding = g_mime_content_encoding_from_string(raw);
		return true;
	}
	if (g_ascii_strcasecmp(name + 8, "Type") == 0) {
		if (f->content_types++ == 0)
			f->content_type = g_mime_header_get_raw_value(header);
		return true;
	}
	if (g_ascii_strcasecmp(name + 8, "Disposition") == 0) {
		f->disposition = header;
		return true;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(unread); i++)
		if (g_ascii_strcasecmp(name + 8, unread[i]) == 0)
			return true;
	return false;
}

/* Only give_content_type() changes a field (Content-Type), having set the
 * content type already. */
static bool
content_type_field(GMimeHeader *header)
{
	return g_ascii_strcasecmp(g_mime_header_get_name(header), "Content-Type") == 0;
}

static void
leaf_header_added(GMimeObject *object, GMimeHeader *header)
{
	if (!keep_field((GMimePart *)object, &((BounceLeaf *)object)->f, header))
		GMIME_OBJECT_CLASS(bounce_leaf_parent_class)->header_added(object, header);
}

static void
leaf_header_changed(GMimeObject *object, GMimeHeader *header)
{
	if (!content_type_field(header))
		GMIME_OBJECT_CLASS(bounce_leaf_parent_class)->header_changed(object, header);
}

static void
text_header_added(GMimeObject *object, GMimeHeader *header)
{
	if (!keep_field((GMimePart *)object, &((BounceText *)object)->f, header))
		GMIME_OBJECT_CLASS(bounce_text_parent_class)->header_added(object, header);
}

static void
text_header_changed(GMimeObject *object, GMimeHeader *header)
{
	if (!content_type_field(header))
		GMIME_OBJECT_CLASS(bounce_text_parent_class)->header_changed(object, header);
}

static void
bounce_leaf_init(BounceLeaf *self)
{
	(void)self;	/* zeroed by GObject */
}

static void
bounce_leaf_class_init(BounceLeafClass *klass)
{
	GMIME_OBJECT_CLASS(klass)->header_added = leaf_header_added;
	GMIME_OBJECT_CLASS(klass)->header_changed = leaf_header_changed;
}

static void
bounce_text_init(BounceText *self)
{
	(void)self;
}

static void
bounce_text_class_init(BounceTextClass *klass)
{
	GMIME_OBJECT_CLASS(klass)->header_added = text_header_added;
	GMIME_OBJECT_CLASS(klass)->header_changed = text_header_changed;
}

/*
 * The multiparts are GMime's but for their Content-Type field: GMime
 * decodes the value (RFC 2047) before it parses it, and a value that is
 * ASCII and holds no encoded word decodes to itself, so such a one is
 * parsed as it is unfolded (a fifth of GMime's time for a multipart).
 * Any other value, and any other field, is GMime's to read.
 */
typedef struct {
	GMimeMultipart parent;
} BounceMultipart;
typedef struct {
	GMimeMultipartClass parent_class;
} BounceMultipartClass;

GType bounce_multipart_get_type(void);
G_DEFINE_TYPE(BounceMultipart, bounce_multipart, GMIME_TYPE_MULTIPART)

/* Whether @s is ASCII with no encoded word ("=?") in it. */
static bool
ascii_unencoded(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80 || (s[0] == '=' && s[1] == '?'))
			return false;
	return true;
}

static void
multipart_header_added(GMimeObject *object, GMimeHeader *header)
{
	const char *raw = g_mime_header_get_raw_value(header);

	if (raw != NULL && content_type_field(header)) {
		char *value = g_mime_utils_header_unfold(raw);
		GMimeContentType *ct = ascii_unencoded(value) ? g_mime_content_type_parse(NULL, value) : NULL;

		g_free(value);
		if (ct != NULL) {
			/* As GMime's own handler sets it: the field is not
			 * written again. */
			GMIME_OBJECT_CLASS(bounce_multipart_parent_class)->set_content_type(object, ct);
			g_object_unref(ct);
			return;
		}
	}
	GMIME_OBJECT_CLASS(bounce_multipart_parent_class)->header_added(object, header);
}

static void
bounce_multipart_init(BounceMultipart *self)
{
	(void)self;
}

static void
bounce_multipart_class_init(BounceMultipartClass *klass)
{
	GMIME_OBJECT_CLASS(klass)->header_added = multipart_header_added;
}

/* Our fields of @obj, or NULL when it is of GMime's types (its class
 * handles fields as ours do: no type walk). */
static struct leaf_fields *
fields_of(GMimeObject *obj)
{
	void (*added)(GMimeObject *, GMimeHeader *) = GMIME_OBJECT_GET_CLASS(obj)->header_added;

	if (added == leaf_header_added)
		return &((BounceLeaf *)obj)->f;
	if (added == text_header_added)
		return &((BounceText *)obj)->f;
	return NULL;
}

/* One type per kind of part, of ours; the kind is the type. */
#define LEAF_KIND_TYPE(Name, name, Base, base)					\
	typedef Base Name;							\
	typedef Base##Class Name##Class;					\
	GType name##_get_type(void);						\
	G_DEFINE_TYPE(Name, name, base##_get_type())				\
	static void name##_init(Name *self) { (void)self; }			\
	static void name##_class_init(Name##Class *klass) { (void)klass; }

LEAF_KIND_TYPE(BounceReturned, bounce_returned, BounceLeaf, bounce_leaf)
LEAF_KIND_TYPE(BounceStatus, bounce_status, BounceLeaf, bounce_leaf)
LEAF_KIND_TYPE(BounceFeedback, bounce_feedback, BounceLeaf, bounce_leaf)
LEAF_KIND_TYPE(BounceHeaders, bounce_headers, BounceLeaf, bounce_leaf)
LEAF_KIND_TYPE(BouncePlain, bounce_plain, BounceText, bounce_text)
LEAF_KIND_TYPE(BounceHtml, bounce_html, BounceText, bounce_text)

/* Whether @raw, a Content-Type field's raw value, is @mt ("type/subtype")
 * in its plain form: after folding white space, those bytes, then the
 * end, a parameter, white space or a comment. GMime reads such a field,
 * raw or decoded, as @mt; one it cannot read (the parser then chose
 * text/plain, or message/rfc822 in a digest) or holds an encoded word
 * is not in it. */
static bool
plain_form(const char *raw, const char *mt)
{
	size_t n = strlen(mt);

	while (*raw == ' ' || *raw == '\t' || *raw == '\r' || *raw == '\n')
		raw++;
	if (g_ascii_strncasecmp(raw, mt, n) != 0)
		return false;
	raw += n;
	return *raw == '\0' || *raw == ';' || *raw == ' ' || *raw == '\t' || *raw == '\r' ||
	       *raw == '\n' || *raw == '(';
}

/* What walk() reads @obj as by its type alone, or LEAF_NONE: a part of
 * GMime's types, or of ours not with one Content-Type field in its plain
 * form (it is read by its content type). */
static enum leaf_kind
leaf_kind(GMimeObject *obj)
{
	static const struct {
		GType (*get)(void);
		enum leaf_kind kind;
		const char *mt[3];
	} kinds[] = {
		{bounce_returned_get_type, LEAF_RETURNED, {"message/rfc822"}},
		{bounce_status_get_type, LEAF_STATUS, {"message/delivery-status", "message/global-delivery-status"}},
		{bounce_feedback_get_type, LEAF_FEEDBACK, {"message/feedback-report"}},
		{bounce_headers_get_type, LEAF_HEADERS,
		 {"text/rfc822-headers", "message/rfc822-headers", "message/global-headers"}},
		{bounce_plain_get_type, LEAF_PLAIN, {"text/plain"}},
		{bounce_html_get_type, LEAF_HTML, {"text/html"}},
	};
	struct leaf_fields *f = fields_of(obj);
	GType t = G_OBJECT_TYPE(obj);

	if (f == NULL || f->content_types != 1 || f->content_type == NULL)
		return LEAF_NONE;
	for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++) {
		if (t != kinds[i].get())
			continue;
		for (size_t k = 0; k < G_N_ELEMENTS(kinds[i].mt) && kinds[i].mt[k]; k++)
			if (plain_form(f->content_type, kinds[i].mt[k]))
				return kinds[i].kind;
		break;
	}
	return LEAF_NONE;
}

/* Whether the Content-Disposition field @h (NULL: none) says
 * "attachment", as GMime reads it (the decoded value, parsed). */
static bool
attachment(GMimeHeader *h)
{
	GMimeContentDisposition *d;
	const char *value = h ? g_mime_header_get_value(h) : NULL, *disp;
	bool yes;

	if (value == NULL || (d = g_mime_content_disposition_parse(NULL, value)) == NULL)
		return false;
	disp = g_mime_content_disposition_get_disposition(d);
	yes = disp && strcasecmp(disp, "attachment") == 0;
	g_object_unref(d);
	return yes;
}

/* Whether @obj's Content-Disposition says "attachment". */
static bool
part_attachment(GMimeObject *obj)
{
	struct leaf_fields *f = fields_of(obj);
	const char *disp;

	if (f)
		return attachment(f->disposition);
	disp = g_mime_object_get_disposition(obj);
	return disp && strcasecmp(disp, "attachment") == 0;
}

/* Gives @obj, when it is one of our parts with no content type, the one
 * GMime would have given it: its last Content-Type field, decoded, parsed
 * by GMime. */
static void
give_content_type(GMimeObject *obj)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
	GMimeHeader *last = NULL;
	GMimeContentType *ct;
	const char *value;

	if (fields_of(obj) == NULL || g_mime_object_get_content_type(obj) != NULL)
		return;		/* GMime's, or no field (GMime's parser gave it one) */
	for (int i = 0, n = hl ? g_mime_header_list_get_count(hl) : 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);

		if (g_ascii_strcasecmp(g_mime_header_get_name(h), "Content-Type") == 0)
			last = h;
	}
	if (last == NULL || (value = g_mime_header_get_value(last)) == NULL)
		return;
	ct = g_mime_content_type_parse(NULL, value);
	g_mime_object_set_content_type(obj, ct);	/* and rewrites the field */
	g_object_unref(ct);
	fields_of(obj)->content_type = NULL;
}

/*
 * The parts walk() reads are made of our types (leaf_kind()). A returned
 * message (message/rfc822) is parsed by GMime as one leaf part, its bytes
 * left where they are: building it as a message, with the tree of its
 * body (HTML, attachments), was a third of all the time, and only its
 * headers are read (returned_message()). GMime 3.2's registry loses the
 * entry this replaces (16 bytes, once per process: its hash table has no
 * destroy function), which LeakSanitizer would report at exit; the
 * valgrind suppression of tests/valgrind.supp names it too.
 */
static void
gmime_start(void)
{
	static const struct {
		const char *type, *sub;
		GType (*get)(void);
	} leaves[] = {
		{"message", "rfc822", bounce_returned_get_type},
		{"message", "delivery-status", bounce_status_get_type},
		{"message", "global-delivery-status", bounce_status_get_type},
		{"message", "feedback-report", bounce_feedback_get_type},
		{"text", "rfc822-headers", bounce_headers_get_type},
		{"message", "rfc822-headers", bounce_headers_get_type},
		{"message", "global-headers", bounce_headers_get_type},
		{"text", "plain", bounce_plain_get_type},
		{"text", "html", bounce_html_get_type},
	};

#ifdef HAVE_LSAN
	__lsan_disable();
#endif
	g_mime_init();
	for (size_t i = 0; i < G_N_ELEMENTS(leaves); i++)
		g_mime_object_register_type(leaves[i].type, leaves[i].sub, leaves[i].get());
	g_mime_object_register_type("multipart", "*", bounce_multipart_get_type());
#ifdef HAVE_LSAN
	__lsan_enable();
#endif
	/* The phrase table's index (rules.c) and the markers' lengths
	 * (text.c), made on first use, are made now: bounce_run() calls
	 * this before it forks its parsing processes, which then share them
	 * instead of each making them. */
	{
		struct bounce_rule_match m;

		(void)bounce_rules_match("", 0, &m);
		bounce_text_markers_init();
	}
}

void
bounce_init(void)
{
	pthread_once(&gmime_once, gmime_start);
}

const char *
bounce_action_name(enum bounce_action a)
{
	static const char *const names[] = {
		[BOUNCE_IGNORE] = "ignore", [BOUNCE_SOFT] = "soft", [BOUNCE_HARD] = "hard",
		[BOUNCE_COMPLAINT] = "complaint", [BOUNCE_UNSUBSCRIBE] = "unsubscribe",
	};
	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "ignore";
}

const char *
bounce_kind_name(enum bounce_kind k)
{
	static const char *const names[] = {
		[BOUNCE_KIND_NONE] = "none", [BOUNCE_KIND_DSN] = "dsn", [BOUNCE_KIND_ARF] = "arf",
		[BOUNCE_KIND_SES] = "ses", [BOUNCE_KIND_TEXT] = "text", [BOUNCE_KIND_AUTO_REPLY] = "auto-reply",
		[BOUNCE_KIND_UNSUBSCRIBE] = "unsubscribe",
	};
	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "none";
}

static bool
is_target(const struct bounce_report *rep, const char *addr)
{
	for (int i = 0; i < rep->ntargets; i++)
		if (strcasecmp(rep->targets[i], addr) == 0)
			return true;
	return false;
}

static void
add_target(struct bounce_report *rep, const char *value)
{
	char a[ADDR_MAX + 1];

	if (value == NULL || !bounce_scan_value_addr(value, a) || is_target(rep, a) ||
	    rep->ntargets >= BOUNCE_MAX_TARGETS)
		return;
	if (bounce_scan_copy_addr(rep->targets[rep->ntargets], a))
		rep->ntargets++;
}

/* --- walking the MIME tree --- */

/*
 * A top-level header field that is read (kept_header()): its name and its
 * raw value (as GMime's g_mime_header_get_raw_value() gives it: the bytes
 * after the colon, folds and line end included), NUL-terminated in the
 * parser's fieldtext, and its decoded value once it is asked for.
 */
struct top_field {
	size_t name, raw;	/* offsets in bounce_parser.fieldtext */
	size_t nlen;		/* the name's length */
	char *value;		/* g_mime_utils_header_decode_text(), or NULL: g_free() */
};

#define CONVERTERS 8	/* charsets whose converter a parser keeps open */

/* What one thread reuses from message to message. */
struct bounce_parser {
	struct buf top;		/* what GMime parses of the message (split_top(), drop_unread()) */
	struct buf fieldtext;	/* the top-level fields that are read, in order */
	struct top_field *fields;
	size_t nfields, fieldcap;
	GMimeParser *parser;
	GMimeParser *inner;	/* for a returned message (returned_message()) */
	GMimeStream *stream;	/* parser's, over the bytes it parses (parse_in_place()) */
	GMimeStream *inner_stream;	/* inner's */
	struct buf human, html, status, feedback, returned, lower, blocks;
	struct buf raw;		/* a returned message's bytes */
	/* split_top(): the top header block's MIME fields, when they are
	 * at most a Content-Type and a Content-Transfer-Encoding (plain_top()):
	 * where their raw values are in the message, and how many there are. */
	size_t ct_at, ct_len, cte_at, cte_len;
	int nct, ncte, nother;
	size_t start;		/* split_top() in place: where the MIME fields were put */
	char charset[64];	/* plain_top(): the text's charset, or "" */
	struct buf conv;	/* a text part's content in UTF-8 (to_utf8()) */
	struct converter {
		char charset[64];
		iconv_t cd;	/* (iconv_t)-1: GMime has none for it */
	} conv_cache[CONVERTERS];
	int nconv;		/* slots used */
	int conv_next;		/* the slot replaced next once all are used */
	struct buf nested;	/* those of a forwarded report, while it is walked */
};

/*
 * The converter from @cs to UTF-8 (GMime's g_mime_iconv_open(), which
 * knows the names mail uses), kept for the next text in @cs: opening one
 * loads its conversion module, closing the last one unloads it, and the
 * same few charsets come again and again.
 */
static iconv_t
converter(struct bounce_parser *bp, const char *cs)
{
	struct converter *c;

	for (int i = 0; i < bp->nconv; i++)
		if (strcmp(bp->conv_cache[i].charset, cs) == 0)
			return bp->conv_cache[i].cd;
	if (strlen(cs) >= sizeof(c->charset))
		return (iconv_t)-2;	/* not kept: the caller opens its own */
	if (bp->nconv < CONVERTERS) {
		c = &bp->conv_cache[bp->nconv++];
	} else {
		c = &bp->conv_cache[bp->conv_next];
		bp->conv_next = (bp->conv_next + 1) % CONVERTERS;
		if (c->cd != (iconv_t)-1)
			g_mime_iconv_close(c->cd);
	}
	memcpy(c->charset, cs, strlen(cs) + 1);
	c->cd = g_mime_iconv_open("utf-8", cs);
	return c->cd;
}

/* Makes room for @more bytes at *@o in @out, whose bytes up to *@o are
 * kept; *@room is what is left after *@o (the NUL's byte aside). */
static void
conv_room(struct buf *out, char **o, size_t *room, size_t more)
{
	size_t done = (size_t)(*o - out->s);

	out->len = done;
	buf_reserve(out, more);
	*o = out->s + done;
	*room = out->cap - 1 - done;
}

/*
 * The @n bytes at @in, in charset @cs, into @out in UTF-8 as GMime's
 * charset filter makes them for g_mime_text_part_get_text(): a byte that
 * starts no character of @cs is dropped, an incomplete character at the
 * end too; with no converter for @cs, the bytes as they are. False when
 * the conversion fails otherwise (the caller then asks GMime).
 */
static bool
to_utf8(struct bounce_parser *bp, const char *cs, const char *in, size_t n, struct buf *out)
{
	iconv_t cd = converter(bp, cs), own = (iconv_t)-1;
	char *inp = (char *)(uintptr_t)in, *o;
	size_t left = n, room;
	bool ok = true;

	if (cd == (iconv_t)-2)
		cd = own = g_mime_iconv_open("utf-8", cs);
	buf_reset(out);
	if (cd == (iconv_t)-1) {
		buf_add(out, in, n);
		return true;
	}
	iconv(cd, NULL, NULL, NULL, NULL);	/* a kept one starts afresh */
	o = out->s;
	conv_room(out, &o, &room, n * 5 + 16);
	while (left > 0) {
		if (iconv(cd, &inp, &left, &o, &room) != (size_t)-1)
			continue;
		if (errno == E2BIG) {
			conv_room(out, &o, &room, left * 5 + 16);
		} else if (errno == EILSEQ) {
			inp++;
			left--;
		} else if (errno == EINVAL) {
			break;
		} else {
			ok = false;
			break;
		}
	}
	while (ok && iconv(cd, NULL, NULL, &o, &room) == (size_t)-1 && errno == E2BIG)
		conv_room(out, &o, &room, 16);
	out->len = (size_t)(o - out->s);
	out->s[out->len] = '\0';
	if (own != (iconv_t)-1)
		g_mime_iconv_close(own);
	return ok;
}

/*
 * GMime's part for @len bytes at @data, read in place (no copy: GMime only
 * reads them) by @parser through its own @stream, which is pointed at them
 * (a stream per parser, kept from message to message: a part's substreams
 * hold the bytes, not the stream), or NULL when not even a header could be
 * read. The array *@bytes is freed, without its data, once the part is
 * gone; the stream is not read again before it is pointed at other bytes.
 */
static GMimeObject *
parse_in_place(GMimeParser *parser, GMimeStream *stream, const char *data, size_t len, GByteArray **bytes)
{
	GMimeObject *obj;

	*bytes = g_byte_array_new_take((guint8 *)(uintptr_t)data, len);
	/* Not the stream's to free (set_byte_array: no owner), at position 0. */
	g_mime_stream_mem_set_byte_array(GMIME_STREAM_MEM(stream), *bytes);
	g_mime_parser_init_with_stream(parser, stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	/* A part, not a message: its headers and body, without the message
	 * object's address lists (nothing here reads them). */
	obj = g_mime_parser_construct_part(parser, NULL);
	if (obj == NULL) {
		g_byte_array_free(*bytes, FALSE);
		*bytes = NULL;
	}
	return obj;
}

/*
 * Appends @content, in base64 or quoted-printable, decoded by GMime's own
 * decoder (g_mime_encoding_step(), as the basic filter of
 * g_mime_data_wrapper_write_to_stream() runs it), up to MAX_TEXT bytes:
 * no stream or filter objects are made for it.
 */
static bool
decode_onto(GMimeDataWrapper *content, GMimeContentEncoding encoding, struct buf *out)
{
	GMimeStream *src = g_mime_data_wrapper_get_stream(content);
	size_t before = out->len;
	GMimeEncoding dec;
	char tmp[4096];
	ssize_t n;
	bool whole = true;

	if (src == NULL || g_mime_stream_reset(src) < 0)
		return false;
	g_mime_encoding_init_decode(&dec, encoding);
	while ((n = g_mime_stream_read(src, tmp, sizeof(tmp))) > 0) {
		buf_reserve(out, g_mime_encoding_outlen(&dec, (size_t)n));
		out->len += g_mime_encoding_step(&dec, tmp, (size_t)n, out->s + out->len);
	}
	buf_reserve(out, g_mime_encoding_outlen(&dec, 0));
	out->len += g_mime_encoding_flush(&dec, tmp, 0, out->s + out->len);
	if (out->len - before > MAX_TEXT) {
		out->len = before + MAX_TEXT;
		whole = false;
	}
	out->s[out->len] = '\0';
	return whole;
}

/*
 * Appends @part's content, decoded, up to about MAX_TEXT bytes, and an
 * empty line. True when what it appended before the empty line is the
 * whole content.
 */
static bool
append_part(GMimePart *part, struct buf *out)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	GMimeContentEncoding encoding;
	GMimeStream *mem;
	GByteArray *ba;
	bool whole;

	if (content == NULL)
		return false;
	switch ((encoding = g_mime_data_wrapper_get_encoding(content))) {
	case GMIME_CONTENT_ENCODING_BASE64:
	case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
		whole = out->len < MAX_TEXT && decode_onto(content, encoding, out);
		buf_adds(out, "\n\n");
		return whole;
	case GMIME_CONTENT_ENCODING_UUENCODE:
		break;	/* its "begin" line is the filter's to find */
	default: {
		/* Not encoded: read the part's own stream, no streams built. */
		GMimeStream *src = g_mime_data_wrapper_get_stream(content);
		char tmp[4096];
		ssize_t n;

		if (src == NULL || g_mime_stream_reset(src) < 0)
			break;
		whole = false;	/* unless it ends before MAX_TEXT */
		while (out->len < MAX_TEXT) {
			if ((n = g_mime_stream_read(src, tmp, sizeof(tmp))) <= 0) {
				whole = n == 0;
				break;
			}
			buf_add(out, tmp, (size_t)n);
		}
		buf_adds(out, "\n\n");
		return whole;
	}
	}
	mem = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(content, mem);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	whole = ba == NULL || ba->len == 0 || (out->len < MAX_TEXT && ba->len <= MAX_TEXT);
	if (ba && ba->len > 0 && out->len < MAX_TEXT)
		buf_add(out, ba->data, ba->len < MAX_TEXT ? ba->len : MAX_TEXT);
	buf_adds(out, "\n\n");
	g_object_unref(mem);
	return whole;
}

/*
 * Appends the @n bytes at @s as append_part() appends a part that is not
 * encoded: read 4096 bytes at a time while @out holds less than MAX_TEXT,
 * and an empty line.
 */
static void
append_plain(const char *s, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n && out->len < MAX_TEXT; i += 4096)
		buf_add(out, s + i, n - i < 4096 ? n - i : 4096);
	buf_adds(out, "\n\n");
}

/* Whether text in charset @cs (NULL or "": none) is read as it is:
 * ASCII and UTF-8 need no conversion. */
static bool
read_as_is(const char *cs)
{
	return cs == NULL || cs[0] == '\0' || g_ascii_strcasecmp(cs, "us-ascii") == 0 ||
	       g_ascii_strcasecmp(cs, "utf-8") == 0;
}

/* Whether the bytes of @out from @from are plain ASCII, which any other
 * charset reads as it is too (no byte above 0x7f, no ISO 2022 escape or
 * shift, no NUL of UTF-16/32). Eight bytes at a time: every text a
 * report holds is looked at so. */
static bool
plain_ascii(const struct buf *out, size_t from)
{
	const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
	const unsigned char *p, *end;

	if (out->len <= from)
		return true;	/* nothing (and maybe no room yet: no pointer) */
	p = (const unsigned char *)out->s + from;
	end = (const unsigned char *)out->s + out->len;
	for (; end - p >= 8; p += 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		/* A byte of 0x80 or more, or one that is 0x00, 0x0e, 0x0f or
		 * 0x1b (a byte b is zero in w ^ b*ones: (x - ones) & ~x & high). */
		if ((w & high) != 0 || ((w - ones) & ~w & high) != 0 ||
		    (((w ^ (0x0e * ones)) - ones) & ~(w ^ (0x0e * ones)) & high) != 0 ||
		    (((w ^ (0x0f * ones)) - ones) & ~(w ^ (0x0f * ones)) & high) != 0 ||
		    (((w ^ (0x1b * ones)) - ones) & ~(w ^ (0x1b * ones)) & high) != 0)
			return false;
	}
	for (; p < end; p++)
		if (*p >= 0x80 || *p == 0x1b || *p == 0x0e || *p == 0x0f || *p == 0)
			return false;
	return true;
}

/* Puts the text @conv (to_utf8()), up to its first NUL as GMime's string
 * ends, in place of what @out holds from @from, and an empty line. */
static void
put_converted(struct buf *out, size_t from, const struct buf *conv)
{
	size_t n = strlen(conv->s);

	out->len = from;
	out->s[out->len] = '\0';
	if (out->len < MAX_TEXT)
		buf_add(out, conv->s, n < MAX_TEXT ? n : MAX_TEXT);
	buf_adds(out, "\n\n");
}

static void
append_text(struct bounce_parser *bp, GMimeTextPart *part, struct buf *out)
{
	const char *cs;
	char *t;
	bool whole;

	size_t before = out->len;

	whole = append_part(GMIME_PART(part), out);
	/* Plain ASCII is read as it is in any charset: the charset, in the
	 * content type, is read only for a text that is not. */
	if (plain_ascii(out, before))
		return;
	give_content_type(GMIME_OBJECT(part));
	cs = g_mime_text_part_get_charset(part);
	if (read_as_is(cs))
		return;
	/* Converted as GMime converts it, from the bytes decoded already
	 * (append_part() put them there, and an empty line after them):
	 * no second decoding, no stream and filter objects. */
	if (whole && out->len - before >= 2 &&
	    to_utf8(bp, cs, out->s + before, out->len - before - 2, &bp->conv)) {
		put_converted(out, before, &bp->conv);
		return;
	}
	out->len = before;
	out->s[out->len] = '\0';
	t = g_mime_text_part_get_text(part);

	if (t) {
		size_t n = strlen(t);

		if (out->len < MAX_TEXT)
			buf_add(out, t, n < MAX_TEXT ? n : MAX_TEXT);
		buf_adds(out, "\n\n");
		g_free(t);
	}
}

/* Cuts @b after its header block (at the first empty line). */
static void
header_block(struct buf *b)
{
	const char *nl;

	/* From newline to newline (memchr), not byte by byte. */
	for (size_t i = 0; i + 1 < b->len; i = (size_t)(nl - b->s) + 1) {
		if ((nl = memchr(b->s + i, '\n', b->len - 1 - i)) == NULL)
			return;
		i = (size_t)(nl - b->s);
		if (b->s[i + 1] == '\n' || (b->s[i + 1] == '\r' && i + 2 < b->len && b->s[i + 2] == '\n')) {
			b->len = i + 1;
			b->s[b->len] = '\0';
			return;
		}
	}
}

/* The returned message's headers that are read (From, To, and Microsoft's
 * X-HmXmrOriginalRecipient), raw: no decoding, no formatting. */
static void
take_headers(struct bounce_ctx *c, GMimeObject *obj)
{
	static const char *const wanted[] = {"From", "To", "X-HmXmrOriginalRecipient"};
	GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
	int n = hl ? g_mime_header_list_get_count(hl) : 0;

	if (c->returned.len > 0)
		return;
	for (int i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *name = g_mime_header_get_name(h), *raw;
		size_t k;

		for (k = 0; k < sizeof(wanted) / sizeof(wanted[0]); k++)
			if (g_ascii_strcasecmp(name, wanted[k]) == 0)
				break;
		if (k == sizeof(wanted) / sizeof(wanted[0]) || (raw = g_mime_header_get_raw_value(h)) == NULL)
			continue;
		buf_adds(&c->returned, name);
		buf_addc(&c->returned, ':');
		buf_adds(&c->returned, raw);
		if (c->returned.len == 0 || c->returned.s[c->returned.len - 1] != '\n')
			buf_addc(&c->returned, '\n');
	}
}

static void walk(struct bounce_ctx *c, struct bounce_parser *bp, GMimeObject *obj, int depth);

/* Where the header block of @len bytes at @s ends: after its empty line. */
static size_t
header_end(const char *s, size_t len)
{
	if (len > 0 && s[0] == '\n')
		return 1;
	if (len > 1 && s[0] == '\r' && s[1] == '\n')
		return 2;
	for (size_t i = 0; i + 1 < len; i++) {
		const char *nl = memchr(s + i, '\n', len - 1 - i);

		if (nl == NULL)
			break;
		i = (size_t)(nl - s);
		if (s[i + 1] == '\n')
			return i + 2;
		if (s[i + 1] == '\r' && i + 2 < len && s[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

/*
 * Reads more of @src, a returned message's raw bytes, onto @raw: up to the
 * end of its header block when @headers, else to its end (both within
 * BOUNCE_MAX_MESSAGE).
 */
static void
read_raw(GMimeStream *src, struct buf *raw, bool headers)
{
	char tmp[4096];
	ssize_t n;

	if (src == NULL)
		return;		/* decoded, and read whole, already */
	while (raw->len <= BOUNCE_MAX_MESSAGE && (n = g_mime_stream_read(src, tmp, sizeof(tmp))) > 0) {
		buf_add(raw, tmp, (size_t)n);
		/* A header block is rarely longer than one read. */
		if (headers && header_end(raw->s, raw->len) < raw->len)
			return;
	}
}

/* Whether the @n bytes at @s hold the word "report", in any case. */
static bool
has_report(const char *s, size_t n)
{
	for (size_t i = 0; i + 6 <= n; i++)
		if ((s[i] | 0x20) == 'r' && strncasecmp(s + i, "report", 6) == 0)
			return true;
	return false;
}

/*
 * A delivery report forwarded as an attachment (the returned message read
 * from @src into bp->raw, its header block so far, is a multipart/report),
 * with no report of its own around it: the attached one is the report,
 * and it is walked. GMime reads the header block first, and the rest only
 * when it is such a report.
 */
static bool
forwarded_report(struct bounce_ctx *c, struct bounce_parser *bp, GMimeStream *src, int depth)
{
	GMimeContentType *ct;
	GMimeObject *obj;
	GByteArray *bytes;
	struct buf keep;
	bool report;
	size_t hend = header_end(bp->raw.s, bp->raw.len);

	/* No "report" in its header block: no multipart/report, and no
	 * need to ask GMime (a media type is never encoded). */
	if (!has_report(bp->raw.s, hend))
		return false;
	obj = parse_in_place(bp->inner, bp->inner_stream, bp->raw.s, hend, &bytes);
	if (obj == NULL)
		return false;
	ct = g_mime_object_get_content_type(obj);
	report = ct && g_mime_content_type_is_type(ct, "multipart", "report");
	g_object_unref(obj);
	g_byte_array_free(bytes, FALSE);
	if (!report)
		return false;
	read_raw(src, &bp->raw, false);
	/* Its bytes move aside while it is walked: a returned message
	 * inside it is read into bp->raw. */
	keep = bp->nested;
	bp->nested = bp->raw;
	bp->raw = keep;
	if ((obj = parse_in_place(bp->inner, bp->inner_stream, bp->nested.s, bp->nested.len, &bytes)) == NULL) {
		bp->raw = bp->nested;
		bp->nested = keep;
		return false;
	}
	c->nested = true;
	walk(c, bp, obj, depth + 1);
	g_object_unref(obj);
	g_byte_array_free(bytes, FALSE);
	return true;
}

/*
 * A returned message (message/rfc822), which GMime parsed as one leaf
 * (gmime_start()): read as GMime read it as a message, from its raw bytes,
 * never decoded. Its headers are kept when no other part gave them; when
 * it forwards a delivery report and this message has none of its own, the
 * forwarded report is walked instead. Its body is read only for such a
 * report.
 */
static void
returned_message(struct bounce_ctx *c, struct bounce_parser *bp, GMimePart *part, int depth)
{
	bool want_report = c->status.len == 0 && !c->nested;
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	GMimeStream *src = content ? g_mime_data_wrapper_get_stream(content) : NULL;

	if (!want_report && c->returned.len > 0)
		return;		/* nothing in it would be read */
	if (src == NULL || g_mime_stream_reset(src) < 0)
		return;
	buf_reset(&bp->raw);
	switch (g_mime_data_wrapper_get_encoding(content)) {
	case GMIME_CONTENT_ENCODING_BASE64:
	case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
	case GMIME_CONTENT_ENCODING_UUENCODE: {
		/* Encoded (which RFC 2046 forbids, and GMime forgives): the
		 * decoded message, whole, as GMime parsed it as a message. */
		GMimeStream *mem = g_mime_stream_mem_new();
		GByteArray *ba;

		g_mime_data_wrapper_write_to_stream(content, mem);
		ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
		if (ba && ba->len > 0)
			buf_add(&bp->raw, ba->data, ba->len < BOUNCE_MAX_MESSAGE ? ba->len : BOUNCE_MAX_MESSAGE);
		g_object_unref(mem);
		src = NULL;
		break;
	}
	default:
		read_raw(src, &bp->raw, true);
		break;
	}
	if (bp->raw.len == 0)
		return;		/* an empty part: no message */
	if (want_report && forwarded_report(c, bp, src, depth))
		return;
	if (c->returned.len == 0) {
		/* Its header block, read as a text/rfc822-headers part is. */
		buf_add(&c->returned, bp->raw.s, header_end(bp->raw.s, bp->raw.len));
		header_block(&c->returned);
	}
}

static void
walk(struct bounce_ctx *c, struct bounce_parser *bp, GMimeObject *obj, int depth)
{
	GMimeContentType *ct;
	const char *type, *sub;

	if (obj == NULL || depth > MAX_DEPTH)
		return;
	switch (leaf_kind(obj)) {
	case LEAF_RETURNED:
		returned_message(c, bp, GMIME_PART(obj), depth);
		return;
	case LEAF_STATUS:
		append_part(GMIME_PART(obj), &c->status);
		return;
	case LEAF_FEEDBACK:
		append_part(GMIME_PART(obj), &c->feedback);
		return;
	case LEAF_HEADERS:
		if (c->returned.len == 0) {
			append_part(GMIME_PART(obj), &c->returned);
			header_block(&c->returned);
		}
		return;
	case LEAF_PLAIN:
		if (c->human.len > 0 && part_attachment(obj))
			return;	/* a returned message sent as text */
		append_text(bp, GMIME_TEXT_PART(obj), &c->human);
		return;
	case LEAF_HTML:
		append_text(bp, GMIME_TEXT_PART(obj), &c->html);
		return;
	case LEAF_NONE:
		break;
	}
	give_content_type(obj);
	ct = g_mime_object_get_content_type(obj);
	type = ct ? g_mime_content_type_get_media_type(ct) : "text";
	sub = ct ? g_mime_content_type_get_media_subtype(ct) : "plain";
	if (!type)
		type = "";
	if (!sub)
		sub = "";

	if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

		GMimeObject *body = m ? g_mime_message_get_mime_part(m) : NULL;
		GMimeContentType *bct = body ? g_mime_object_get_content_type(body) : NULL;

		/* A delivery report forwarded as an attachment, with no report
		 * of its own around it: the attached one is the report. */
		if (bct && c->status.len == 0 && !c->nested &&
		    g_mime_content_type_is_type(bct, "multipart", "report")) {
			c->nested = true;
			walk(c, bp, body, depth + 1);
			return;
		}
		if (m)
			take_headers(c, GMIME_OBJECT(m));
		return;		/* the returned message is not the report */
	}
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp);

		for (int i = 0; i < n && i < 64; i++)
			walk(c, bp, g_mime_multipart_get_part(mp, i), depth + 1);
		return;
	}
	if (!GMIME_IS_PART(obj))
		return;
	if (strcasecmp(type, "message") == 0 && strcasecmp(sub, "rfc822") == 0) {
		returned_message(c, bp, GMIME_PART(obj), depth);
		return;		/* the returned message is not the report */
	}
	if (strcasecmp(type, "message") == 0 &&
	    (strcasecmp(sub, "delivery-status") == 0 || strcasecmp(sub, "global-delivery-status") == 0)) {
		append_part(GMIME_PART(obj), &c->status);
	} else if (strcasecmp(type, "message") == 0 && strcasecmp(sub, "feedback-report") == 0) {
		append_part(GMIME_PART(obj), &c->feedback);
	} else if ((strcasecmp(type, "text") == 0 && strcasecmp(sub, "rfc822-headers") == 0) ||
		   (strcasecmp(type, "message") == 0 && (strcasecmp(sub, "rfc822-headers") == 0 ||
							 strcasecmp(sub, "global-headers") == 0))) {
		if (c->returned.len == 0) {
			append_part(GMIME_PART(obj), &c->returned);
			header_block(&c->returned);
		}
	} else if (strcasecmp(type, "text") == 0 && strcasecmp(sub, "plain") == 0 && GMIME_IS_TEXT_PART(obj)) {
		if (c->human.len > 0 && part_attachment(obj))
			return;	/* a returned message sent as text */
		append_text(bp, GMIME_TEXT_PART(obj), &c->human);
	} else if (strcasecmp(type, "text") == 0 && strcasecmp(sub, "html") == 0 && GMIME_IS_TEXT_PART(obj)) {
		append_text(bp, GMIME_TEXT_PART(obj), &c->html);
	}
}

/*
 * Appends the @n bytes at @s, a text/plain part's body in charset @cs (""
 * for none) that needs no decoding, as append_text() appends such a part
 * (plain_top() sends no text in another charset longer than MAX_TEXT).
 */
static void
append_plain_text(struct bounce_parser *bp, const char *cs, const char *s, size_t n, struct buf *out)
{
	size_t before = out->len;

	append_plain(s, n, out);
	/* (A conversion that fails otherwise than glibc's iconv() does
	 * leaves the bytes as they are.) */
	if (!read_as_is(cs) && !plain_ascii(out, before) && to_utf8(bp, cs, s, n, &bp->conv))
		put_converted(out, before, &bp->conv);
}

/* Strips tags and entities' markup from HTML into plain lines. */
static void
html_to_text(const struct buf *html, struct buf *out)
{
	const char *s = html->s;
	size_t n = html->len, i = 0;
	bool tag = false;

	while (i < n) {
		size_t j = i;

		/* A run of text is copied whole, not byte by byte; a tag's
		 * bytes are skipped up to its end or the next tag. */
		if (tag) {
			while (j < n && s[j] != '<' && s[j] != '>')
				j++;
		} else {
			while (j < n && s[j] != '<' && s[j] != '&')
				j++;
			buf_add(out, s + i, j - i);
		}
		if (j == n)
			break;
		i = j + 1;
		if (s[j] == '<') {
			tag = true;
			if (j + 3 < n && (strncasecmp(s + j, "<br", 3) == 0 || strncasecmp(s + j, "<p", 2) == 0 ||
					  strncasecmp(s + j, "<tr", 3) == 0 || strncasecmp(s + j, "<div", 4) == 0))
				buf_addc(out, '\n');
		} else if (s[j] == '>') {
			tag = false;
		} else if (strncmp(s + j, "&lt;", 4) == 0) {
			buf_addc(out, '<');
			i = j + 4;
		} else if (strncmp(s + j, "&gt;", 4) == 0) {
			buf_addc(out, '>');
			i = j + 4;
		} else if (strncmp(s + j, "&nbsp;", 6) == 0) {
			buf_addc(out, ' ');
			i = j + 6;
		} else {
			buf_addc(out, '&');
		}
	}
}

/*
 * A mail to unsubscribe+TOKEN@ (the List-Unsubscribe mailto address) is an
 * unsubscribe request from its sender, whatever it says; who that is comes
 * from the token, not from the From header (act.c).
 */
static bool
unsubscribe_request(struct bounce_ctx *c)
{
	struct bounce_result *r;

	for (int i = 0; i < c->rep->ntargets; i++) {
		if (strncasecmp(c->rep->targets[i], "unsubscribe+", 12) != 0)
			continue;
		c->rep->kind = BOUNCE_KIND_UNSUBSCRIBE;
		if (c->rep->from[0] && (r = bounce_verdict_result(c->rep, c->rep->from)) != NULL) {
			r->action = BOUNCE_UNSUBSCRIBE;
			r->reason = "mailto";
			r->why = "a mail to the List-Unsubscribe address asks to unsubscribe";
			fmt_clip(r->evidence, sizeof(r->evidence), "sent to the unsubscribe+TOKEN address");
		}
		return true;
	}
	return false;
}

/* --- the message --- */

/*
 * The top-level header fields that are read: read_addresses(),
 * header_has(), top_header(), raw_header() (for bounce_rules_mta()'s
 * table) and every MIME field, which GMime reads. The others (Received,
 * DKIM-Signature, Date, Message-ID, ...: two thirds of a bounce's
 * headers) are left out, and the read ones are kept raw in the parser's
 * field table (split_top()); GMime is given the MIME fields. Asking for a
 * header not listed here stops the program (check_kept()): add it.
 */
#define KEPT(name) {name, sizeof(name) - 1}
static const struct {
	const char *name;
	size_t len;
} kept_headers[] = {
	KEPT("From"), KEPT("To"), KEPT("Subject"), KEPT("Delivered-To"), KEPT("X-Original-To"),
	KEPT("Envelope-To"), KEPT("X-Envelope-To"), KEPT("Auto-Submitted"), KEPT("X-Autoreply"),
	KEPT("X-Autorespond"), KEPT("X-Failed-Recipients"), KEPT("X-NAI-Header"), KEPT("X-Mailer"),
	KEPT("X-Msg-Ref"), KEPT("X-Gm-Message-State"), KEPT("MIME-Version"),
};
#undef KEPT

/* Whether header @name (@n bytes) is a MIME field, which GMime reads. */
static bool
is_mime_field(const char *name, size_t n)
{
	return n >= 8 && strncasecmp(name, "Content-", 8) == 0;
}

/* Whether header @name (@n bytes) of the top level is read. */
static bool
kept_header(const char *name, size_t n)
{
	if (is_mime_field(name, n))
		return true;
	for (size_t i = 0; i < sizeof(kept_headers) / sizeof(kept_headers[0]); i++)
		if (kept_headers[i].len == n && strncasecmp(name, kept_headers[i].name, n) == 0)
			return true;
	return false;
}

/* A header asked of the top level (@n bytes) must be one that is parsed. */
static void
check_kept(const char *name, size_t n)
{
	if (!kept_header(name, n))
		fatal("bounce: header %s is read but not parsed: add it to kept_headers (bounce/parse.c)", name);
}

/* The first top-level field named @name, or NULL. */
static struct top_field *
top_field(struct bounce_parser *bp, const char *name)
{
	size_t n = strlen(name);

	check_kept(name, n);
	for (size_t i = 0; i < bp->nfields; i++)
		if (bp->fields[i].nlen == n && strncasecmp(bp->fieldtext.s + bp->fields[i].name, name, n) == 0)
			return &bp->fields[i];
	return NULL;
}

/* A top-level field's value as GMime's g_mime_header_get_value() makes
 * it of the raw @len bytes at @raw (unfolded, RFC 2047 words decoded):
 * to be freed with g_free(). */
static char *
header_value(const char *raw, size_t len)
{
	char *copy = g_strndup(raw, len), *unfolded = g_mime_utils_header_unfold(copy), *value;

	value = g_mime_utils_header_decode_text(NULL, unfolded);
	g_free(unfolded);
	g_free(copy);
	return value;
}

/* Header @name of the top level, decoded as g_mime_object_get_header()
 * decodes it (unfolded, RFC 2047 words decoded); once per message. */
static const char *
top_header(struct bounce_parser *bp, const char *name)
{
	struct top_field *f = top_field(bp, name);

	if (f == NULL)
		return NULL;
	if (f->value == NULL)
		f->value = header_value(bp->fieldtext.s + f->raw, strlen(bp->fieldtext.s + f->raw));
	return f->value;
}

static bool
header_has(struct bounce_parser *bp, const char *name, const char *const *words)
{
	const char *v = top_header(bp, name);

	if (v == NULL)
		return false;
	if (words == NULL)
		return true;
	for (; *words; words++)
		if (strcasestr(v, *words))
			return true;
	return false;
}

static const char *const autoreply_subjects[] = {
	"auto:", "automatic reply", "auto reply", "autoreply", "auto-reply", "out of office",
	"out of the office", "vacation", "abwesenheit", "absence", "réponse automatique", NULL,
};
static const char *const bounce_subjects[] = {
	"undeliver", "undelivered", "returned mail", "delivery fail", "delivery status",
	"failure notice", "mail delivery", "delivery notification", "non remis", "nondeliver",
	"not delivered", "could not be delivered", "returned to sender", "delivery problem",
	"rejected", "error", "failed", "warning", "unzustellbar", NULL,
};

static bool
is_autoreply(struct bounce_parser *bp)
{
	static const char *const replied[] = {"auto-replied", NULL};

	return header_has(bp, "Auto-Submitted", replied) || header_has(bp, "X-Autoreply", NULL) ||
	       header_has(bp, "X-Autorespond", NULL) || header_has(bp, "Subject", autoreply_subjects);
}

static bool
looks_bounce(struct bounce_ctx *c, struct bounce_parser *bp)
{
	return bounce_scan_robot(c->rep->from) || header_has(bp, "X-Failed-Recipients", NULL) ||
	       header_has(bp, "Subject", bounce_subjects);
}

/* Header @name of the top level, raw (for bounce_rules_mta()). */
static const char *
raw_header(void *arg, const char *name)
{
	struct bounce_parser *bp = arg;
	struct top_field *f = top_field(bp, name);

	return f ? bp->fieldtext.s + f->raw : NULL;
}

/* The addresses the message was delivered to (the VERP address among
 * them), its sender, and the bounce's own To. Raw values: an address
 * needs no RFC 2047 decoding. */
static void
read_addresses(struct bounce_ctx *c, struct bounce_parser *bp)
{
	for (size_t i = 0; i < bp->nfields; i++) {
		const char *name = bp->fieldtext.s + bp->fields[i].name;
		const char *raw = bp->fieldtext.s + bp->fields[i].raw;

		if (strcasecmp(name, "Delivered-To") != 0 && strcasecmp(name, "X-Original-To") != 0 &&
		    strcasecmp(name, "Envelope-To") != 0 && strcasecmp(name, "X-Envelope-To") != 0 &&
		    strcasecmp(name, "To") != 0 && strcasecmp(name, "From") != 0)
			continue;
		if (strcasecmp(name, "From") == 0) {
			if (c->rep->from[0] == '\0')
				bounce_scan_value_addr(raw, c->rep->from);
			continue;
		}
		add_target(c->rep, raw);
		if (strcasecmp(name, "To") == 0 && c->to[0] == '\0')
			bounce_scan_value_addr(raw, c->to);
	}
}

/*
 * A bounce in plain text may quote the returned message inline, after a
 * marker, at @hend of the readable text: its headers then become the
 * returned headers (when no part gave them), from the first header line.
 */
static void
split_returned(struct bounce_ctx *c, size_t hend)
{
	const char *p;
	size_t k = 0;

	if (hend >= c->human.len || c->returned.len != 0)
		return;
	buf_add(&c->returned, c->human.s + hend, c->human.len - hend);
	/* bounce_scan_field wants headers from the start of a line */
	p = c->returned.s;
	while (k < c->returned.len && !bounce_scan_starts(p + k, "received:") &&
	       !bounce_scan_starts(p + k, "from:") && !bounce_scan_starts(p + k, "to:") &&
	       !bounce_scan_starts(p + k, "return-path:")) {
		const char *nl = memchr(p + k, '\n', c->returned.len - k);

		if (!nl)
			break;
		k = (size_t)(nl - p) + 1;
	}
	memmove(c->returned.s, c->returned.s + k, c->returned.len - k);
	c->returned.len -= k;
	c->returned.s[c->returned.len] = '\0';
}

/* The sender of the returned message, from its headers. */
static void
read_returned_from(struct bounce_ctx *c)
{
	struct bounce_field f;
	size_t pos = 0;

	while (bounce_scan_field(c->returned.s, c->returned.len, &pos, &f))
		if (bounce_scan_field_is(&f, "from")) {
			bounce_scan_value_addr(f.value, c->returned_from);
			break;
		}
}

/*
 * Gathers the text the readers judge: the readable part (HTML made plain
 * when there is no text/plain), lower-cased up to where a returned message
 * is quoted, and the returned message's headers. Returns the length of
 * the readable part.
 */
static size_t
read_text(struct bounce_ctx *c, struct bounce_parser *bp, GMimeObject *top, const char *body, size_t blen)
{
	size_t hend;

	if (top)
		walk(c, bp, top, 0);
	else
		append_plain_text(bp, bp->charset, body, blen, &c->human);
	if (c->human.len == 0 && c->html.len > 0)
		html_to_text(&c->html, &c->human);
	bounce_scan_lower(&c->lower, c->human.s, c->human.len);
	hend = bounce_text_end(c->lower.s, c->lower.len);
	c->lower.len = hend;
	split_returned(c, hend);
	read_returned_from(c);
	return hend;
}

/* An automatic reply: its sender, ignored, with the Subject as evidence. */
static void
auto_reply(struct bounce_ctx *c, struct bounce_parser *bp)
{
	struct bounce_result *r;

	c->rep->kind = BOUNCE_KIND_AUTO_REPLY;
	if (c->rep->from[0] && (r = bounce_verdict_result(c->rep, c->rep->from)) != NULL) {
		const char *subj = top_header(bp, "Subject");

		r->action = BOUNCE_IGNORE;
		r->reason = "auto-reply";
		r->why = "an automatic reply (vacation, out of office) is not a bounce";
		fmt_clip(r->evidence, sizeof(r->evidence), "Subject: %.200s", subj ? subj : "");
		for (char *p = r->evidence; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
	}
}

/*
 * Copies into @dst the lines of @text (@len bytes) from the first that
 * starts with field @name (lower case, with its colon) up to a MIME
 * boundary line ("--..."): the fields of a report part as plain lines.
 */
static bool
lines_from(struct buf *dst, const char *text, size_t len, const char *name)
{
	size_t n = strlen(name), i = 0, e;
	const char *nl;

	/* Line starts only, from newline to newline (memchr). */
	while (i + n <= len && strncasecmp(text + i, name, n) != 0) {
		if ((nl = memchr(text + i, '\n', len - i)) == NULL)
			return false;
		i = (size_t)(nl - text) + 1;
	}
	if (i + n > len)
		return false;
	for (e = i; e < len; e = (size_t)(nl - text) + 1) {
		if ((nl = memchr(text + e, '\n', len - e)) == NULL) {
			e = len;
			break;
		}
		e = (size_t)(nl - text);
		if (e + 2 < len && text[e + 1] == '-' && text[e + 2] == '-')
			break;
	}
	buf_add(dst, text + i, e - i);
	buf_addc(dst, '\n');
	return true;
}

/*
 * A report whose MIME structure could not be read (a boundary that does
 * not match the header's, a Content-Type parameter on an unfolded line, a
 * blank line before the headers) has no delivery-status or feedback-report
 * part, but still carries their RFC 3464 / RFC 5965 fields as lines of its
 * body: read them there, as the parts they were meant to be.
 */
static void
parts_from_body(struct bounce_ctx *c, GMimeObject *top)
{
	const char *text = c->human.s;
	size_t len = c->human.len;

	if (c->status.len > 0 || c->feedback.len > 0)
		return;
	if (GMIME_IS_MULTIPART(top) && g_mime_multipart_get_count(GMIME_MULTIPART(top)) == 0) {
		text = g_mime_multipart_get_prologue(GMIME_MULTIPART(top));
		len = text ? strlen(text) : 0;
	}
	if (text == NULL || len == 0)
		return;
	if (!lines_from(&c->status, text, len, "final-recipient:"))
		(void)lines_from(&c->feedback, text, len, "feedback-type:");
	else if (c->human.len == 0)
		buf_add(&c->human, text, len);
}

/* Which kind of report the message is, and its reader: the first that
 * finds results decides. */
static void
dispatch(struct bounce_ctx *c, struct bounce_parser *bp, GMimeObject *top, const char *human, size_t hlen)
{
	if (unsubscribe_request(c))
		return;
	parts_from_body(c, top);
	if (c->feedback.len > 0) {
		c->rep->kind = BOUNCE_KIND_ARF;
		bounce_arf_parse(c);
		return;
	}
	if (c->returned.len > 0 && c->status.len == 0 && bounce_arf_jmrp(c))
		return;
	if (c->status.len > 0) {
		c->rep->kind = BOUNCE_KIND_DSN;
		bounce_dsn_parse(c, human, hlen);
		if (c->rep->n > 0)
			return;
	}
	if (c->status.len == 0 && !looks_bounce(c, bp) && is_autoreply(bp)) {
		auto_reply(c, bp);
		return;
	}
	if (c->status.len == 0 && !looks_bounce(c, bp)) {
		c->rep->kind = BOUNCE_KIND_NONE;
		return;
	}
	if (bounce_provider_ses(c, human, hlen)) {
		c->rep->kind = BOUNCE_KIND_SES;
		return;
	}
	c->rep->kind = BOUNCE_KIND_TEXT;
	bounce_text_parse(c, human, hlen, top_header(bp, "X-Failed-Recipients"));
}

/* @top: GMime's part for the message; NULL for a message with no MIME
 * field, whose text is the @blen bytes of @body. */
static void
analyze(struct bounce_ctx *c, struct bounce_parser *bp, GMimeObject *top, const char *body, size_t blen)
{
	size_t hlen;

	read_addresses(c, bp);
	c->mta = bounce_rules_mta(raw_header, bp);
	hlen = read_text(c, bp, top, body, blen);
	dispatch(c, bp, top, c->human.s ? c->human.s : "", hlen);
}

/* Forgets the top-level fields of the last message (their room stays). */
static void
clear_fields(struct bounce_parser *bp)
{
	for (size_t i = 0; i < bp->nfields; i++)
		g_free(bp->fields[i].value);
	bp->nfields = 0;
	buf_reset(&bp->fieldtext);
}

/* Adds a top-level field: @nlen bytes of name, @rlen of raw value. */
static void
add_field(struct bounce_parser *bp, const char *name, size_t nlen, const char *raw, size_t rlen)
{
	struct top_field *f;

	if (bp->nfields == bp->fieldcap) {
		bp->fieldcap = bp->fieldcap ? 2 * bp->fieldcap : 16;
		bp->fields = xrealloc(bp->fields, bp->fieldcap * sizeof(*bp->fields));
	}
	f = &bp->fields[bp->nfields++];
	f->value = NULL;
	f->nlen = nlen;
	f->name = bp->fieldtext.len;
	buf_add(&bp->fieldtext, name, nlen);
	buf_addc(&bp->fieldtext, '\0');
	f->raw = bp->fieldtext.len;
	buf_add(&bp->fieldtext, raw, rlen);
	buf_addc(&bp->fieldtext, '\0');
}

/* The fields that are read, from the header list GMime made of @top
 * (when split_top() left the header block to it). */
static void
fields_from(struct bounce_parser *bp, GMimeObject *top)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(top);
	int n = hl ? g_mime_header_list_get_count(hl) : 0;

	for (int i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *name = g_mime_header_get_name(h), *raw = g_mime_header_get_raw_value(h);
		size_t nlen = strlen(name);

		if (raw && kept_header(name, nlen) && !is_mime_field(name, nlen))
			add_field(bp, name, nlen, raw, strlen(raw));
	}
}

struct bounce_parser *
bounce_parser_new(void)
{
	struct bounce_parser *bp = xcalloc(1, sizeof(*bp));

	bounce_init();
	buf_init(&bp->top);
	buf_init(&bp->fieldtext);
	bp->parser = g_mime_parser_new();
	bp->inner = g_mime_parser_new();
	bp->stream = g_mime_stream_mem_new();
	bp->inner_stream = g_mime_stream_mem_new();
	g_mime_parser_init_with_stream(bp->parser, bp->stream);
	g_mime_parser_init_with_stream(bp->inner, bp->inner_stream);
	buf_init(&bp->raw);
	buf_init(&bp->nested);
	buf_init(&bp->human);
	buf_init(&bp->html);
	buf_init(&bp->status);
	buf_init(&bp->feedback);
	buf_init(&bp->returned);
	buf_init(&bp->lower);
	buf_init(&bp->blocks);
	buf_init(&bp->conv);
	return bp;
}

void
bounce_parser_free(struct bounce_parser *bp)
{
	if (bp == NULL)
		return;
	buf_free(&bp->top);
	clear_fields(bp);
	buf_free(&bp->fieldtext);
	free(bp->fields);
	g_object_unref(bp->parser);
	g_object_unref(bp->inner);
	g_object_unref(bp->stream);
	g_object_unref(bp->inner_stream);
	buf_free(&bp->raw);
	buf_free(&bp->nested);
	buf_free(&bp->human);
	buf_free(&bp->html);
	buf_free(&bp->status);
	buf_free(&bp->feedback);
	buf_free(&bp->returned);
	buf_free(&bp->lower);
	buf_free(&bp->blocks);
	buf_free(&bp->conv);
	for (int i = 0; i < bp->nconv; i++)
		if (bp->conv_cache[i].cd != (iconv_t)-1)
			g_mime_iconv_close(bp->conv_cache[i].cd);
	free(bp);
}

/* Whether the @n bytes at @s start a header field (a name and its colon);
 * *@drop says whether it is one that is not read (kept_header()). */
static bool
field_line(const char *s, size_t n, bool *drop)
{
	size_t k = 0;

	while (k < n && s[k] >= '!' && s[k] <= '~' && s[k] != ':')
		k++;
	if (k == 0 || k == n || s[k] != ':')
		return false;
	*drop = !kept_header(s, k);
	return true;
}

/*
 * The @len bytes at @data without the top header block's fields that are
 * not read (kept_header()), copied into @out: false (the message to be
 * read as it is) when there is none, or nothing else. Only whole fields
 * go, each with its folded lines, and only up to the first line that is
 * neither a field nor a folded line (GMime may end the header block
 * there): what GMime reads is otherwise the same bytes.
 */
static bool
drop_unread(const char *data, size_t len, struct buf *out)
{
	size_t i = 0, kept = 0;
	bool drop = false, any = false, other = false;

	buf_reset(out);
	while (i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - data) + 1 : len;
		bool fold = data[i] == ' ' || data[i] == '\t';

		if (!fold && !field_line(data + i, e - i, &drop))
			break;	/* the empty line, or one GMime may stop at */
		if (fold && i == 0)
			break;
		if (drop) {
			/* Dropped: what was kept so far goes first. */
			if (kept < i)
				buf_add(out, data + kept, i - kept);
			kept = e;
			any = true;
		} else if (!fold) {
			other = true;
		}
		i = e;
	}
	/* A header block of dropped fields only stays whole: GMime reads
	 * no header block from nothing. */
	if (!any || !other)
		return false;
	buf_add(out, data + kept, len - kept);
	return true;
}

/* A MIME field of the top header block, from @field to @end in @data (its
 * colon at @colon): given to GMime in bp->top, and counted, with where its
 * raw value is in bp->top (plain_top()). */
static void
mime_field(struct bounce_parser *bp, const char *data, size_t field, size_t colon, size_t end)
{
	size_t at = bp->top.len + (colon - field) + 1;

	buf_add(&bp->top, data + field, end - field);
	if (colon - field == 12 && strncasecmp(data + field, "Content-Type", 12) == 0) {
		bp->nct++;
		bp->ct_at = at;
		bp->ct_len = end - colon - 1;
	} else if (colon - field == 25 && strncasecmp(data + field, "Content-Transfer-Encoding", 25) == 0) {
		bp->ncte++;
		bp->cte_at = at;
		bp->cte_len = end - colon - 1;
	} else {
		bp->nother++;
	}
}

/* Whether a Content-Type value (@v) says text/plain, as GMime parses it. */
static bool
is_text_plain(const char *v, GMimeContentType **ct)
{
	GMimeContentType *t;
	bool yes;

	/* GMime's type is the token after white space and comments: one
	 * that does not start with "text" or a comment is another type,
	 * known without making an object of it (most: multipart/report). */
	while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
		v++;
	if (*v != '(' && g_ascii_strncasecmp(v, "text", 4) != 0)
		return false;
	t = g_mime_content_type_parse(NULL, v);
	yes = t && g_mime_content_type_is_type(t, "text", "plain");

	if (ct && yes)
		*ct = t;
	else if (t)
		g_object_unref(t);
	return yes;
}

/*
 * Whether the message (@len bytes at @data: bp->top, as split_top() left
 * it) is a text/plain part whose body is its text as it stands, with no MIME
 * field but one Content-Type (text/plain, as GMime reads both the raw
 * value, which makes the part, and the decoded one, which types it) and
 * at most one Content-Transfer-Encoding that is no encoding (7bit, 8bit,
 * binary): then GMime is not needed to read it, and its charset is
 * copied into bp->charset ("" for none). A message with no MIME field at
 * all is one (RFC 2045 5.2, 6.1: text/plain in US-ASCII, 7bit). A text
 * in another charset longer than MAX_TEXT is not: GMime converts such a
 * text from its whole content (append_text()).
 */
static bool
plain_top(struct bounce_parser *bp, const char *data, size_t len)
{
	GMimeContentType *ct = NULL;
	const char *cs;
	char *v;
	bool ok;

	bp->charset[0] = '\0';
	if (bp->nother > 0 || bp->nct > 1 || bp->ncte > 1)
		return false;
	if (bp->ncte == 1) {
		v = header_value(data + bp->cte_at, bp->cte_len);
		switch (g_mime_content_encoding_from_string(v)) {
		case GMIME_CONTENT_ENCODING_BASE64:
		case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
		case GMIME_CONTENT_ENCODING_UUENCODE:
			ok = false;
			break;
		default:
			ok = true;
			break;
		}
		g_free(v);
		if (!ok)
			return false;
	}
	if (bp->nct == 0)
		return true;
	v = g_strndup(data + bp->ct_at, bp->ct_len);
	ok = is_text_plain(v, NULL);
	g_free(v);
	if (!ok)
		return false;
	v = header_value(data + bp->ct_at, bp->ct_len);
	ok = is_text_plain(v, &ct);
	g_free(v);
	if (!ok)
		return false;
	cs = g_mime_content_type_get_parameter(ct, "charset");
	ok = cs == NULL || strlen(cs) < sizeof(bp->charset);
	if (ok && cs)
		memcpy(bp->charset, cs, strlen(cs) + 1);
	g_object_unref(ct);	/* and with it @cs: its copy is read below */
	if (ok && !read_as_is(bp->charset) && len > MAX_TEXT)
		ok = false;
	return ok;
}

/*
 * Splits the top header block of the @len bytes at @data: the fields that
 * are read (kept_header(), but the MIME fields) go into bp's field table,
 * raw, and GMime is given, in bp->top, only the MIME fields (Content-*)
 * and what follows the header block: it makes and frees an object for
 * every header, and the fields read here need no MIME parsing. False,
 * with nothing kept, when the block does not end as GMime surely ends it
 * (at an empty line or the end): a line that is neither a field nor a
 * folded line, a fold first, or a block of read fields only that runs to
 * the end (GMime reads no part from nothing); drop_unread() then decides.
 */
static bool
split_top(struct bounce_parser *bp, const char *data, size_t len, bool writable)
{
	size_t i = 0, field = 0, colon = 0;
	enum { NONE, DROP, READ, MIME } kind = NONE;
	bool mime = false, drop;

	buf_reset(&bp->top);
	bp->nct = bp->ncte = bp->nother = 0;
	for (;;) {
		const char *nl = i < len ? memchr(data + i, '\n', len - i) : NULL;
		size_t e = nl ? (size_t)(nl - data) + 1 : len;
		bool end = i == len || data[i] == '\n' || (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n');

		if (i < len && (data[i] == ' ' || data[i] == '\t')) {
			if (i == 0)
				break;
			i = e;	/* a folded line of the field */
			continue;
		}
		/* The field before this line is whole. */
		if (kind == READ)
			add_field(bp, data + field, colon - field, data + colon + 1, i - colon - 1);
		else if (kind == MIME)
			mime_field(bp, data, field, colon, i);
		if (end) {
			if (!mime && i == len)
				break;
			if (writable) {
				/* The MIME fields right before the empty line,
				 * over header bytes read already (kept fields
				 * and MIME fields are copies): the message is
				 * read where it is, its body not copied. */
				bp->start = i - bp->top.len;
				if (bp->top.len > 0)
					memcpy((char *)(uintptr_t)data + bp->start, bp->top.s, bp->top.len);
			} else {
				buf_add(&bp->top, data + i, len - i);
			}
			return true;
		}
		if (!field_line(data + i, e - i, &drop))
			break;
		field = i;
		colon = (size_t)((const char *)memchr(data + i, ':', e - i) - data);
		kind = drop ? DROP : is_mime_field(data + i, colon - i) ? MIME : READ;
		mime = mime || kind == MIME;
		i = e;
	}
	clear_fields(bp);
	buf_reset(&bp->top);
	return false;
}

/* bounce_parse_with(); with @writable, the message's header block may be
 * rewritten in place (bounce_parse_buffer()). */
static int
parse_message(struct bounce_parser *bp, const char *data, size_t len, bool writable,
	      const char *envelope_rcpt, struct bounce_report *rep, char *err)
{
	GMimeObject *msg = NULL;
	GByteArray *bytes = NULL;
	struct bounce_ctx c;
	size_t body = 0;
	bool own;

	/* Not the whole report (tens of kilobytes): each result is cleared
	 * when it is added (bounce_verdict_result). */
	rep->n = 0;
	rep->ntargets = 0;
	rep->from[0] = '\0';
	rep->kind = BOUNCE_KIND_NONE;
	if (len > BOUNCE_MAX_MESSAGE)
		return errf(err, "the message is larger than %d bytes (BOUNCE_MAX_MESSAGE)", BOUNCE_MAX_MESSAGE);
	if (envelope_rcpt && *envelope_rcpt)
		add_target(rep, envelope_rcpt);
	/* An mbox "From " line first is the envelope, not a header. */
	if (len >= 5 && memcmp(data, "From ", 5) == 0) {
		const char *nl = memchr(data, '\n', len);

		len = nl ? len - (size_t)(nl + 1 - data) : 0;
		data = nl ? nl + 1 : data + len;
	}
	clear_fields(bp);
	if ((own = split_top(bp, data, len, writable)) && writable) {
		data += bp->start;
		len -= bp->start;
	} else if (own || drop_unread(data, len, &bp->top)) {
		data = bp->top.s;
		len = bp->top.len;
	}
	if (own && plain_top(bp, data, len)) {
		/* A text/plain part that is not encoded: its text is the body
		 * as it stands, after the empty line that split_top() kept
		 * (its MIME fields, then that line). GMime would make
		 * a part of it (a dozen objects) only to hand back its bytes. */
		body = header_end(data, len);
	} else if ((msg = parse_in_place(bp->parser, bp->stream, data, len, &bytes)) == NULL) {
		return errf(err, "not a mail message: no header could be read");
	}
	if (!own)
		fields_from(bp, msg);

	memset(&c, 0, sizeof(c));
	c.rep = rep;
	c.human = bp->human;
	c.html = bp->html;
	c.status = bp->status;
	c.feedback = bp->feedback;
	c.returned = bp->returned;
	c.lower = bp->lower;
	c.blocks = bp->blocks;
	buf_reset(&c.human);
	buf_reset(&c.html);
	buf_reset(&c.status);
	buf_reset(&c.feedback);
	buf_reset(&c.returned);
	buf_reset(&c.lower);
	analyze(&c, bp, msg, data + body, len - body);
	/* Evidence copied from fields may hold any byte: printable ASCII only. */
	for (int i = 0; i < rep->n; i++)
		for (char *p = rep->r[i].evidence; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				*p = '?';
	/* The buffers keep their room for the next message. */
	bp->human = c.human;
	bp->html = c.html;
	bp->status = c.status;
	bp->feedback = c.feedback;
	bp->returned = c.returned;
	bp->lower = c.lower;
	bp->blocks = c.blocks;
	if (msg) {
		g_object_unref(msg);
		g_byte_array_free(bytes, FALSE);
	}
	return 0;
}

int
bounce_parse_with(struct bounce_parser *bp, const char *data, size_t len, const char *envelope_rcpt,
		  struct bounce_report *rep, char *err)
{
	return parse_message(bp, data, len, false, envelope_rcpt, rep, err);
}

int
bounce_parse_buffer(struct bounce_parser *bp, char *data, size_t len, const char *envelope_rcpt,
		    struct bounce_report *rep, char *err)
{
	return parse_message(bp, data, len, true, envelope_rcpt, rep, err);
}

int
bounce_parse(const char *data, size_t len, const char *envelope_rcpt,
	     struct bounce_report *rep, char *err)
{
	struct bounce_parser *bp = bounce_parser_new();
	int r = bounce_parse_with(bp, data, len, envelope_rcpt, rep, err);

	bounce_parser_free(bp);
	return r;
}
