/*
 * bounce/parse_int.h - what the parts of the bounce parser share: the
 * context of one message, and the helpers each report kind reads with.
 *
 *   parse.c     the MIME walk, the addresses a message was sent to, and
 *               the dispatch to one reader per report kind
 *   dsn.c       RFC 3464 delivery status notifications
 *   arf.c       RFC 5965 complaint reports (and Microsoft's JMRP)
 *   text.c      plain-text bounces that follow no standard
 *   provider.c  a provider's own notification format (Amazon SES JSON)
 *   verdict.c   results, and the verdict on a text (the phrase table of
 *               rules.c, status codes, where the text names the address)
 *   scan.c      reading addresses, fields and lines out of text
 *
 * Private to bounce/: nothing outside it includes this file. No file here
 * touches the store.
 */
#ifndef NEWSLETTER_BOUNCE_PARSE_INT_H
#define NEWSLETTER_BOUNCE_PARSE_INT_H

#include "bounce.h"

#include <string.h>
#include <strings.h>

#define MAX_DEPTH 16		/* nested MIME parts */
#define MAX_TEXT (256 * 1024)	/* bytes of readable text judged */
#define CONTEXT_LINES 8		/* lines after a recipient's address judged with it */

/* What one message's readers share; the buffers are the thread's bounce_parser's. */
struct bounce_ctx {
	struct bounce_report *rep;
	struct buf human;	/* readable text of the report itself */
	struct buf html;	/* text/html of the report, when no text/plain */
	struct buf status;	/* message/delivery-status parts */
	struct buf feedback;	/* message/feedback-report parts */
	struct buf returned;	/* headers of the returned message */
	char returned_from[ADDR_MAX + 1];
	char to[ADDR_MAX + 1];		/* the bounce's own To: the sender */
	struct buf lower;	/* the readable part, lower-cased */
	struct buf blocks;	/* room for a DSN's recipient blocks (dsn.c), kept by the parser */
	const char *mta;	/* an MTA whose "unknown user" is unambiguous, or NULL */
	bool nested;		/* read a report attached to this one */
	/* A DSN recipient field that holds no address ("rfc822;|/bin/prog"):
	 * reported as an ignore result only when no reader finds a recipient,
	 * so that the text of the bounce is still read for one. */
	char bad_field[24], bad[256], bad_why[ERR_LEN];
};

/*
 * Evidence (r->evidence, BOUNCE_EVIDENCE_MAX) is an excerpt of the line
 * decided on, cut to its size by design: it is written with fmt_clip() or
 * bounce_scan_evidence().
 */

/* --- scan.c --- */

/* One header-like field (DSN, ARF, returned headers), unfolded; a longer
 * value is cut to the buffer (what is judged is at its start). */
struct bounce_field {
	const char *name;
	size_t nlen;
	char value[1024];
	bool blank_before;	/* a new block starts here */
};

/*
 * Copies an address read into ADDR_MAX + 1 bytes (bounce_scan_value_addr,
 * bounce_scan_addr); false, and "" in @dst, when it does not fit, which
 * such an address always does: the caller then skips it rather than keep a
 * cut one.
 */
bool bounce_scan_copy_addr(char dst[ADDR_MAX + 1], const char *a);
/* @n bytes of @s, lower-cased, into @out. */
void bounce_scan_lower(struct buf *out, const char *s, size_t n);
/* At most @max bytes of the string @s, lower-cased, into @dst (@max + 1
 * bytes); the length copied. */
size_t bounce_scan_lower_copy(char *dst, const char *s, size_t max);
/* Whether @s starts with @prefix, ignoring case. */
bool bounce_scan_starts(const char *s, const char *prefix);
/* Copies the line around @at of @text into @out, printable ASCII only. */
void bounce_scan_evidence(const char *text, size_t len, size_t at, char out[BOUNCE_EVIDENCE_MAX + 1]);
/* The next address in @s from *pos (its start in *start); false at the end. */
bool bounce_scan_addr(const char *s, size_t len, size_t *pos, char out[ADDR_MAX + 1], size_t *start);
/* The address in a header value or a DSN field ("rfc822; <a@b>"). */
bool bounce_scan_value_addr(const char *v, char out[ADDR_MAX + 1]);
/*
 * A recipient field as a report writes it ("rfc822; <a@b>", "SMTP=a@b",
 * "\"a@b\"", "a@b.", "a@b (comment)") as the bare address the store would
 * hold: type prefixes, brackets, quotes around the whole, comments and
 * trailing dots stripped, then checked and normalised by addr_normalize().
 * False, with what is wrong in @err, when what is left is not an address.
 */
bool bounce_scan_recipient(const char *v, char out[ADDR_MAX + 1], char *err);
/* Whether @addr is a robot's (MAILER-DAEMON, postmaster, ...). */
bool bounce_scan_robot(const char *addr);
/* Reads the next field from @s at *pos; false at the end. */
bool bounce_scan_field(const char *s, size_t len, size_t *pos, struct bounce_field *f);
/* Whether field @f is named @name (ignoring case). */
static inline bool
bounce_scan_field_is(const struct bounce_field *f, const char *name)
{
	/* Inline: the length of a literal @name is known where it is called. */
	return f->nlen == strlen(name) && strncasecmp(f->name, name, f->nlen) == 0;
}

/* --- verdict.c --- */

/*
 * A result about a recipient field (@field, "Final-Recipient") that holds
 * no address (@raw; @why says what is wrong with it): BOUNCE_IGNORE, with
 * no recipient. NULL when it is reported already or the report is full.
 */
struct bounce_result *bounce_verdict_unaddressed(struct bounce_report *rep, const char *field,
						 const char *raw, const char *why);
/* Names the rule that decided @r ("... -> hard" is added). */
void bounce_verdict_rule(struct bounce_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Adds @more to the name of the rule that decided @r: what else made it
 * stand ("phrase #N ..., @more -> hard"). */
void bounce_verdict_rule_also(struct bounce_result *r, const char *more);
/* A new result for @addr in @rep, cleared; NULL when it is reported
 * already, when the report is full, or when the address does not fit. */
struct bounce_result *bounce_verdict_result(struct bounce_report *rep, const char *addr);
/*
 * Decides @r from @text (the lines about its recipient, or a field), with
 * the status code @given by the report (or NULL) and whether the report
 * calls the failure @temporary.
 */
void bounce_verdict_decide(struct bounce_result *r, const char *text, size_t len,
			   const struct smtp_status *given, bool temporary);
/* Checks a hard verdict against the readable text around its address: a
 * refusal after DATA, or one with no status code and no refusal at RCPT,
 * is not a dead address. */
void bounce_verdict_context(const struct bounce_ctx *c, struct bounce_result *r);
/* The part of the readable text about @addr (*at, *len): from where it is
 * first named, or all of it when it names nobody else; false when there is
 * nothing to read. */
bool bounce_verdict_window(const struct bounce_ctx *c, const char *addr, size_t *at, size_t *len);

/* --- the readers, one per report kind (parse.c dispatches) --- */

/* dsn.c: the message/delivery-status fields, read with the readable text
 * @human (@hlen bytes). */
void bounce_dsn_parse(struct bounce_ctx *c, const char *human, size_t hlen);
/* arf.c: a message/feedback-report. */
void bounce_arf_parse(struct bounce_ctx *c);
/* arf.c: a Microsoft JMRP complaint; false when it is not one. */
bool bounce_arf_jmrp(struct bounce_ctx *c);
/* text.c: where a returned message starts in lower-cased readable text. */
size_t bounce_text_end(const char *lower, size_t len);
/* Measures the markers bounce_text_end() looks for (once; bounce_init). */
void bounce_text_markers_init(void);
/* text.c: a bounce in plain text; @failed_hdr: X-Failed-Recipients, or NULL. */
void bounce_text_parse(struct bounce_ctx *c, const char *text, size_t len, const char *failed_hdr);
/* provider.c: an Amazon SES notification; false when it is not one. */
bool bounce_provider_ses(struct bounce_ctx *c, const char *text, size_t len);

#endif
