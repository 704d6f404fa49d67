/*
 * bounce/dsn.c - RFC 3464 delivery status notifications: one result per
 * recipient block of the message/delivery-status part, decided on its
 * Diagnostic-Code, its Status and the readable text around its address.
 *
 * Each block stands alone: its fields are cleared at every block boundary.
 * A recipient field that holds no address gives an "ignore" result that
 * says so, never a recipient. Fields are read up to their buffers and cut
 * there by design.
 */
#include "parse_int.h"

#include <stdlib.h>
#include <string.h>

#include <glib.h>

/*
 * One per-recipient block of the delivery-status part. Every field is
 * the block's own: a block never inherits an Action, a Status or a
 * Diagnostic-Code from the one before it (each starts cleared).
 */
struct block {
	char final[ADDR_MAX + 1], original[ADDR_MAX + 1];
	char bad_field[24], bad[256], bad_why[ERR_LEN];	/* a recipient field that is no address */
	char action[32], status[64], diag[1024];
	bool seen_final, seen_original;		/* the fields, parsed or not */
	bool own_words;			/* the Diagnostic-Code is the reporting MTA's own */
};

/* Reads a Final- or Original-Recipient field into @b. */
static void
read_recipient(struct block *b, const struct bounce_field *f, bool final)
{
	char a[ADDR_MAX + 1], why[ERR_LEN];

	if (final)
		b->seen_final = true;
	else
		b->seen_original = true;
	if (bounce_scan_recipient(f->value, a, why)) {
		(void)bounce_scan_copy_addr(final ? b->final : b->original, a);	/* it fits: ADDR_MAX */
		return;
	}
	/* Kept to be reported, cut to its buffer by design. */
	fmt_clip_str(b->bad_field, sizeof(b->bad_field), final ? "Final-Recipient" : "Original-Recipient");
	fmt_clip_str(b->bad, sizeof(b->bad), f->value);
	fmt_clip_str(b->bad_why, sizeof(b->bad_why), why);
}

/*
 * Whether a Diagnostic-Code of type @value (up to @semi) holds the words
 * of the reporting MTA itself and not a reply it quotes: Postfix types
 * its own "X-Postfix" and quotes a remote as "host NAME said: ...". Its
 * own "unknown user" comes from its local delivery or its address
 * tables: the host that holds the mailbox speaks, as at RCPT TO.
 */
static bool
own_words(const char *value, const char *semi, const char *text)
{
	size_t n = semi ? (size_t)(semi - value) : 0;

	while (n > 0 && value[n - 1] == ' ')
		n--;
	if (n != 9 || strncasecmp(value, "x-postfix", 9) != 0)
		return false;
	for (const char *p = text; (p = strchr(p, ' ')) != NULL; p++)
		if (strncasecmp(p, " said:", 6) == 0)
			return false;
	return true;
}

/* Reads the Diagnostic-Code field into @b. */
static void
read_diag(struct block *b, const struct bounce_field *f)
{
	const char *v = strchr(f->value, ';');

	fmt_clip_str(b->diag, sizeof(b->diag), v ? v + 1 : f->value);
	b->own_words = own_words(f->value, v, b->diag);
	/* Japanese MTAs write the field in raw ISO-2022-JP (7 bits,
	 * escape sequences): to UTF-8, as a text part would be. */
	if (strstr(b->diag, "\x1b$B") || strstr(b->diag, "\x1b$@")) {
		char *u = g_convert(b->diag, -1, "UTF-8", "ISO-2022-JP", NULL, NULL, NULL);

		if (u)
			fmt_clip_str(b->diag, sizeof(b->diag), u);
		g_free(u);
	}
}

/* Whether field @f starts a new block after @b: a blank line, or a
 * recipient field @b already has. */
static bool
starts_block(const struct block *b, const struct bounce_field *f)
{
	return f->blank_before || (bounce_scan_field_is(f, "final-recipient") && b->seen_final) ||
	       (bounce_scan_field_is(f, "original-recipient") && b->seen_original);
}

/*
 * The readable text that speaks for a block without a Diagnostic-Code:
 * the lines about its address, or the whole text when the report has one
 * recipient. Another recipient's lines never decide for this one.
 */
static bool
human_for(const struct bounce_ctx *c, const char *addr, int nblocks, const char *human, size_t hlen,
	  const char **t, size_t *tlen)
{
	char low[ADDR_MAX + 1];
	size_t at, len, i;

	*t = human;
	*tlen = hlen;
	if (nblocks <= 1)
		return hlen > 0;
	/* Not named: the text is about the others. The window is in the
	 * lower-cased text, which has the same offsets. */
	i = bounce_scan_lower_copy(low, addr, ADDR_MAX);
	if (c->lower.len == 0 || memmem(c->lower.s, c->lower.len, low, i) == NULL ||
	    !bounce_verdict_window(c, addr, &at, &len) || at + len > hlen)
		return false;
	*t = human + at;
	*tlen = len;
	return true;
}

/* Decides the result of one block. */
static void
decide_block(struct bounce_ctx *c, const struct block *b, int nblocks, const char *human, size_t hlen)
{
	const char *addr = b->final[0] ? b->final : b->original;
	struct smtp_status st, *stp = NULL;
	struct bounce_result *r;
	const char *p = b->status, *t;
	bool delayed = strcasecmp(b->action, "delayed") == 0;
	size_t tlen;

	if (addr[0] == '\0') {
		/* Reported only if nobody else is (bounce_dsn_parse). */
		if (b->bad[0] && c->bad[0] == '\0') {
			memcpy(c->bad_field, b->bad_field, sizeof(c->bad_field));
			memcpy(c->bad, b->bad, sizeof(c->bad));
			memcpy(c->bad_why, b->bad_why, sizeof(c->bad_why));
		}
		return;
	}
	if ((r = bounce_verdict_result(c->rep, addr)) == NULL)
		return;
	if (b->final[0] && b->original[0] && strcasecmp(b->final, b->original) != 0)
		(void)bounce_scan_copy_addr(r->original, b->original);	/* "" if it did not fit */
	while (*p == ' ')
		p++;
	if (status_parse(p, &st))
		stp = &st;
	if (strncasecmp(b->action, "deliver", 7) == 0 || strcasecmp(b->action, "relayed") == 0 ||
	    strcasecmp(b->action, "expanded") == 0) {
		r->action = BOUNCE_IGNORE;
		r->reason = "delivered";
		r->why = "the report says the message was delivered";
		if (stp)
			status_format(stp, r->status);
		fmt_clip(r->evidence, sizeof(r->evidence), "Action: %.200s", b->action);
		bounce_verdict_rule(r, "action \"%.32s\" (delivered, relayed or expanded: not a failure)", b->action);
		return;
	}
	if (b->diag[0]) {
		bounce_verdict_decide(r, b->diag, strlen(b->diag), stp, delayed);
		/* No phrase in the code: the readable text may have one. */
		if (r->action == BOUNCE_SOFT && strcmp(r->reason, "undefined") == 0 &&
		    human_for(c, addr, nblocks, human, hlen, &t, &tlen))
			bounce_verdict_decide(r, t, tlen, stp, delayed);
	} else {
		if (!human_for(c, addr, nblocks, human, hlen, &t, &tlen)) {
			t = "";
			tlen = 0;
		}
		bounce_verdict_decide(r, t, tlen, stp, delayed);
		if (stp && r->evidence[0] == '\0')
			fmt_clip(r->evidence, sizeof(r->evidence), "Status: %.200s", b->status);
	}
	if (r->action == BOUNCE_HARD && b->own_words && strcmp(r->reason, "unknown-user") == 0 &&
	    strncmp(r->rule, "phrase", 6) == 0) {
		/* The reporting MTA's own words, not a relay's gloss: it
		 * holds the mailbox and says it has no such user. */
		r->confirmed = true;
		bounce_verdict_rule_also(r, "in the reporting MTA's own Diagnostic-Code "
					 "(X-Postfix, no remote reply quoted: the mailbox's host speaks)");
	}
	if (delayed && r->action != BOUNCE_IGNORE) {
		/* A delay is never a failure, whatever its text says: the
		 * message is still being delivered and may yet arrive, so it
		 * counts toward nothing (a soft verdict would add a point
		 * toward deleting an address that may well work). The report
		 * of a final failure comes later, if delivery is given up. */
		r->action = BOUNCE_IGNORE;
		r->reason = "delayed";
		r->why = "the report says delivery is delayed, not failed: it is still being tried";
		r->confirmed = r->explicit = false;
		bounce_verdict_rule(r, "action \"delayed\" (a delay warning: not a failure)");
	}
}

static void
read_fields(struct bounce_ctx *c, const char *human, size_t hlen)
{
	/* The parser's room (140 kB, allocated once: malloc gathers its free
	 * chunks before every allocation that large), not cleared whole
	 * (for the one or two blocks a report has): each block is cleared
	 * when it is started. */
	struct block *blocks, *cur;
	struct bounce_field f;
	size_t pos = 0;
	int n = 0;
	bool open = false;	/* @cur has a recipient field */

	buf_reserve(&c->blocks, BOUNCE_MAX_RESULTS * sizeof(*blocks));
	blocks = (struct block *)(void *)c->blocks.s;
	cur = &blocks[0];
	memset(cur, 0, sizeof(*cur));
	while (bounce_scan_field(c->status.s, c->status.len, &pos, &f)) {
		bool is_final = bounce_scan_field_is(&f, "final-recipient");
		bool is_rcpt = is_final || bounce_scan_field_is(&f, "original-recipient");

		if (starts_block(cur, &f)) {
			/* Every field is reset at every boundary, whether or not
			 * the block's recipient could be read. */
			if (open) {
				if (++n == BOUNCE_MAX_RESULTS)
					break;
				cur = &blocks[n];
			}
			memset(cur, 0, sizeof(*cur));
			open = false;
		}
		if (is_rcpt) {
			read_recipient(cur, &f, is_final);
			open = true;
		} else if (bounce_scan_field_is(&f, "action")) {
			/* Fields are read up to their buffer and cut there by
			 * design: what is judged is at their start. */
			fmt_clip_str(cur->action, sizeof(cur->action), f.value);
		} else if (bounce_scan_field_is(&f, "status")) {
			fmt_clip_str(cur->status, sizeof(cur->status), f.value);
		} else if (bounce_scan_field_is(&f, "diagnostic-code")) {
			read_diag(cur, &f);
		}
	}
	if (open && n < BOUNCE_MAX_RESULTS)
		n++;
	for (int i = 0; i < n; i++)
		decide_block(c, &blocks[i], n, human, hlen);
}

void
bounce_dsn_parse(struct bounce_ctx *c, const char *human, size_t hlen)
{
	read_fields(c, human, hlen);
	/* Other recipients are reported: the one that is no address is
	 * reported beside them. With none, the text reader reads the
	 * readable part for one (bounce_text_parse reports it then). */
	if (c->rep->n > 0 && c->bad[0]) {
		(void)bounce_verdict_unaddressed(c->rep, c->bad_field, c->bad, c->bad_why);
		c->bad[0] = '\0';
	}
	for (int i = 0; i < c->rep->n; i++) {
		struct bounce_result *r = &c->rep->r[i];
		struct bounce_rule_match m;

		bounce_verdict_context(c, r);
		/* The readable text names a reason that is not a dead
		 * address: the report contradicts itself; never hard. */
		size_t wb, wl;

		if (r->action == BOUNCE_HARD && bounce_verdict_window(c, r->recipient, &wb, &wl) &&
		    bounce_rules_match(c->lower.s + wb, wl, &m) &&
		    m.action != BOUNCE_HARD && !m.weak && !m.temporary) {
			r->action = BOUNCE_SOFT;
			r->reason = m.reason;
			r->why = "the status says the address is gone, but the readable text gives another reason";
			bounce_verdict_rule(r, "phrase #%d \"%s\" (%s) in the readable text: code and text disagree",
					    m.row, m.phrase, m.rank);
		}
	}
}
