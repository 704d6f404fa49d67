/*
 * bounce/verdict.c - the results of a report, and the verdict on the text
 * that concerns each: the phrase table (rules.c), the status code, and
 * where the text names the address (after DATA, the address is not what
 * was refused). Never decides hard without a phrase or a status code that
 * says the address is gone, and never when the report says it is
 * temporary.
 */
#include "parse_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/*
 * Whether the receiver refused @addr only after the message's content was
 * sent (after DATA): it accepted the address at RCPT, so an "unknown user"
 * then is a content filter's word, not a dead address.
 */
static const char *const data_marks[] = {
	"end of data", ">>> data", "in reply to data", "after data", "data command",
	"\ndata\n", "\ndata\r\n",
};
static const char *const rcpt_marks[] = {
	"rcpt",
};
/* Where a report quotes a remote server's reply: then the words are not
 * the reporting MTA's own. */
static const char *const remote_marks[] = {
	"smtp error from remote", "said:",
};
/* A reply to DATA that says no recipient was accepted ("503 5.0.0 Need
 * RCPT"): with PIPELINING the refusals that come after ">>> DATA" in a
 * transcript were the replies to RCPT TO. */
static const char *const no_rcpt_marks[] = {
	"need rcpt", "need recipient", "no valid recipients", "no recipients",
};
/* The stock words of an unknown user that content filters answer with
 * after DATA (NTT docomo, m-FILTER, Mail.ru and Postfix's header checks,
 * as Sisimai files them: "filtered"). After DATA, only other words of a
 * dead address ("does not exist", "invalid mailbox"), in a permanent
 * reply that names it, are taken at their word: a receiver that checks
 * its mailboxes only then. */
static const char *const filter_words[] = {
	"user unknown", "unknown user", "no such user",
};

/* Whether a text decided on says itself that the refusal came after DATA
 * ("550 5.1.1 user unknown (after end of data)"). */
static bool
after_data(const char *low, size_t len)
{
	/* not ">>> DATA" of a transcript: with PIPELINING, the replies to
	 * RCPT TO come after it */
	static const char *const said[] = {"end of data", "in reply to data", "after data"};

	for (size_t i = 0; i < sizeof(said) / sizeof(said[0]); i++)
		if (memmem(low, len, said[i], strlen(said[i])))
			return true;
	return false;
}

/* Whether @s is one of @list. */
static bool
listed(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/*
 * Whether @mark is in @s as words of their own: "rcpt" in "RCPT TO:", not
 * in an address such as rcpt@example.net.
 */
static bool
word_in(const char *s, size_t len, const char *mark)
{
	const char *p = s, *end = s + len, *q;
	size_t n = strlen(mark);

	while ((q = memmem(p, (size_t)(end - p), mark, n)) != NULL) {
		bool open = q == s || !isalnum((unsigned char)mark[0]) || !isalnum((unsigned char)q[-1]);
		bool shut = q + n == end || !isalnum((unsigned char)mark[n - 1]) ||
			    (!isalnum((unsigned char)q[n]) && q[n] != '@' && q[n] != '.');

		if (open && shut)
			return true;
		p = q + 1;
	}
	return false;
}

/* Whether one of @marks is within a few lines of @addr in the readable text. */
static bool
near(const struct bounce_ctx *c, const char *addr, const char *const *marks, size_t nmarks)
{
	const char *s = c->lower.s, *end = s + c->lower.len, *p = s;
	size_t n = strlen(addr);

	if (s == NULL || n == 0)
		return false;
	while ((p = memmem(p, (size_t)(end - p), addr, n)) != NULL) {
		const char *b = p, *e = p;
		int lines;

		for (lines = 0; b > s && lines < 3; b--)
			if (b[-1] == '\n')
				lines++;
		for (lines = 0; e < end && lines < 4; e++)
			if (*e == '\n')
				lines++;
		for (size_t i = 0; i < nmarks; i++)
			if (word_in(b, (size_t)(e - b), marks[i]))
				return true;
		p += n;
	}
	return false;
}

/* How a permanent reply names the address (reply_names()). */
enum refusal { REFUSED_NOT, REFUSED_STOCK, REFUSED_OWN };

/*
 * How the line [@b, @e) of lower-cased text, which names an address at @p,
 * refuses it: REFUSED_OWN when it is a permanent SMTP reply that says there
 * is no such user in words other than a content filter's stock ones,
 * REFUSED_STOCK when in those words, else REFUSED_NOT.
 */
static enum refusal
reply_line(const char *b, const char *e, const char *p)
{
	struct bounce_rule_match m;

	while (b < p && (*b == ' ' || *b == '\t' || *b == '<'))	/* "<<< 550" of a transcript */
		b++;
	if (p - b < 4 || b[0] != '5' || !isdigit((unsigned char)b[1]) || !isdigit((unsigned char)b[2]) ||
	    (b[3] != ' ' && b[3] != '-') || !bounce_rules_match(b, (size_t)(e - b), &m) ||
	    m.action != BOUNCE_HARD || strcmp(m.reason, "unknown-user") != 0)
		return REFUSED_NOT;
	return listed(m.phrase, filter_words, sizeof(filter_words) / sizeof(filter_words[0])) ? REFUSED_STOCK
												 : REFUSED_OWN;
}

/*
 * Whether the receiver's reply names @addr and says in the same line that
 * there is no such user ("550 a@b unknown user account", "<<< 550 <a@b>...
 * User unknown" in a transcript): its refusal of that recipient, which is
 * what a reply naming an address answers. The reply is a line of the
 * readable text, or the text decided on (@evidence: a Diagnostic-Code,
 * which no MTA wraps as it wraps its own notice), which counts only in
 * words other than a content filter's stock ones (REFUSED_OWN).
 */
static enum refusal
reply_names(const struct bounce_ctx *c, const char *addr, const char *evidence)
{
	const char *s = c->lower.s, *end = s + c->lower.len, *p = s;
	char line[BOUNCE_EVIDENCE_MAX + 1];
	enum refusal found = REFUSED_NOT, k;
	size_t n = strlen(addr), len;

	if (n == 0)
		return REFUSED_NOT;
	while (s != NULL && (p = memmem(p, (size_t)(end - p), addr, n)) != NULL) {
		const char *b = p, *e = p + n;

		while (b > s && b[-1] != '\n')
			b--;
		while (e < end && *e != '\n')
			e++;
		if ((k = reply_line(b, e, p)) == REFUSED_OWN)
			return REFUSED_OWN;
		if (k == REFUSED_STOCK)
			found = REFUSED_STOCK;
		p += n;
	}
	len = bounce_scan_lower_copy(line, evidence, BOUNCE_EVIDENCE_MAX);
	p = memmem(line, len, addr, n);
	if (p != NULL && reply_line(line, line + len, p) == REFUSED_OWN)
		return REFUSED_OWN;
	return found;
}

/*
 * A phrase of a dead address needs support before it deletes anyone: a
 * status code that says so, a refusal at RCPT TO, or a permanent status
 * (even 5.0.0, which says no more) beside a permanent reply that names the
 * address. The same phrase after
 * DATA, when the receiver had accepted the address, is a content filter's
 * word; and with neither, it is a guess.
 */
void
bounce_verdict_context(const struct bounce_ctx *c, struct bounce_result *r)
{
	char low[ADDR_MAX + 1];
	struct smtp_status st;
	enum refusal named;
	bool code_hard, data;

	if (r->action != BOUNCE_HARD)
		return;
	bounce_scan_lower_copy(low, r->recipient, ADDR_MAX);
	/* 5.1.x codes of a dead address (not 5.2.1, "disabled", which a
	 * filter also uses) stand on their own. */
	code_hard = status_parse(r->status, &st) && status_classify(&st, NULL) == STATUS_HARD &&
		    st.subject == 1;
	if (code_hard)
		return;
	if (r->confirmed && r->explicit)
		return;
	data = near(c, low, data_marks, sizeof(data_marks) / sizeof(data_marks[0])) &&
	       !near(c, low, no_rcpt_marks, sizeof(no_rcpt_marks) / sizeof(no_rcpt_marks[0]));
	if ((r->confirmed || (c->mta && strcmp(r->reason, "unknown-user") == 0 &&
			      !near(c, low, remote_marks, sizeof(remote_marks) / sizeof(remote_marks[0])))) &&
	    !data)
		return;
	named = r->status[0] == '5' ? reply_names(c, low, r->evidence) : REFUSED_NOT;
	if (data && named == REFUSED_OWN) {
		bounce_verdict_rule_also(r, "in a permanent reply after DATA that names the address (a receiver that "
					    "checks its mailboxes only then)");
	} else if (data) {
		r->action = BOUNCE_SOFT;
		r->reason = "filtered";
		r->why = "refused after the message was sent (after DATA): a content filter, not a dead address";
		bounce_verdict_rule(r, "context \"after DATA\" (the receiver had accepted the address)");
	} else if (named != REFUSED_NOT) {
		bounce_verdict_rule_also(r, "in a permanent reply that names the address (the receiver refused it)");
	} else if (strcmp(r->reason, "unknown-user") == 0 &&
		   !near(c, low, rcpt_marks, sizeof(rcpt_marks) / sizeof(rcpt_marks[0]))) {
		r->action = BOUNCE_SOFT;
		r->reason = "unconfirmed";
		r->why = "the text says the user is unknown, but neither a status code nor a refusal at RCPT TO confirms it: never hard on a guess";
		bounce_verdict_rule(r, "context \"unconfirmed\" (no status code, no refusal at RCPT TO)");
	}
}

/*
 * The part of the readable text about @addr: the lines from where it is
 * first named; the whole text when it names nobody else. False when there
 * is nothing to read.
 */
bool
bounce_verdict_window(const struct bounce_ctx *c, const char *addr, size_t *at, size_t *len)
{
	char low[ADDR_MAX + 1];
	const char *p;
	size_t i, e;
	int lines = 0;

	if (c->lower.len == 0)
		return false;
	i = bounce_scan_lower_copy(low, addr, ADDR_MAX);
	p = memmem(c->lower.s, c->lower.len, low, i);
	if (p == NULL) {
		if (c->rep->n != 1)
			return false;
		*at = 0;
		*len = c->lower.len;
		return true;
	}
	while (p > c->lower.s && p[-1] != '\n')
		p--;
	e = (size_t)(p - c->lower.s);
	while (e < c->lower.len && lines < 3)
		if (c->lower.s[e++] == '\n')
			lines++;
	*at = (size_t)(p - c->lower.s);
	*len = e - *at;
	return true;
}

/* --- results --- */

struct bounce_result *
bounce_verdict_result(struct bounce_report *rep, const char *addr)
{
	for (int i = 0; i < rep->n; i++)
		if (strcasecmp(rep->r[i].recipient, addr) == 0)
			return NULL;	/* reported already */
	if (rep->n >= BOUNCE_MAX_RESULTS)
		return NULL;
	struct bounce_result *r = &rep->r[rep->n++];

	memset(r, 0, sizeof(*r));
	if (!bounce_scan_copy_addr(r->recipient, addr)) {
		rep->n--;
		return NULL;
	}
	return r;
}

struct bounce_result *
bounce_verdict_unaddressed(struct bounce_report *rep, const char *field, const char *raw, const char *why)
{
	struct bounce_result *r;

	for (int i = 0; i < rep->n; i++)
		if (rep->r[i].recipient[0] == '\0' && strncmp(rep->r[i].evidence, field, strlen(field)) == 0 &&
		    strstr(rep->r[i].evidence, raw) != NULL)
			return NULL;	/* reported already */
	if (rep->n >= BOUNCE_MAX_RESULTS)
		return NULL;
	r = &rep->r[rep->n++];
	memset(r, 0, sizeof(*r));
	r->action = BOUNCE_IGNORE;
	r->reason = "not-an-address";
	r->why = "the recipient is not an address: nothing can be done about it";
	/* The field as given, cut to the evidence's size by design. */
	fmt_clip(r->evidence, sizeof(r->evidence), "%s: %.120s (%s)", field, raw, why);
	for (char *p = r->evidence; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	bounce_verdict_rule(r, "recipient: not an address");
	return r;
}

/* Whether the text's SMTP reply is 500-504: a command or syntax error. */
static bool
syntax_reply(const char *t, size_t n)
{
	for (size_t i = 0; i + 3 <= n; i++)
		if (t[i] == '5' && t[i + 1] == '0' && t[i + 2] >= '0' && t[i + 2] <= '4' &&
		    (i == 0 || !isalnum((unsigned char)t[i - 1])) && (i + 3 == n || !isalnum((unsigned char)t[i + 3])))
			return true;
	return false;
}

/* Whether the line of @text at @at, the phrase decided on, is a reply to a
 * malformed command: not another reply of a transcript ("503 Need RCPT"
 * to DATA after a refused recipient). */
static bool
syntax_line(const char *text, size_t len, size_t at)
{
	size_t b = at, e = at;

	while (b > 0 && text[b - 1] != '\n')
		b--;
	while (e < len && text[e] != '\n')
		e++;
	return syntax_reply(text + b, e - b);
}

/* Whether any status code in the text says the address is gone (5.1.x):
 * "5.1.0 - Unknown address error 550-'5.1.1 <a@b>: ... User unknown'". */
static bool
gone_code(const char *text, size_t len)
{
	struct smtp_status st;
	const char *p = text, *end = text + len, *e;

	while (p < end && (e = status_find(p, (size_t)(end - p), &st)) != NULL) {
		if (bounce_rules_code(&st)->cls == BOUNCE_CODE_GONE && st.subject == 1)
			return true;
		p = e;
	}
	return false;
}

/*
 * Whether @text is a remote server's own reply without an enhanced status
 * code ("550 not our customer"): then a Status field beside it is the
 * reporting MTA's mapping of the bare reply code (sendmail gives 550
 * "5.1.1 User unknown", 551 "5.1.6"), not the remote's word, and the
 * remote's text decides.
 */
static bool
bare_reply(const char *text, size_t len)
{
	struct smtp_status st;
	size_t i = 0;

	while (i < len && (text[i] == ' ' || text[i] == '\t'))
		i++;
	if (i + 3 > len || text[i] != '5' || !isdigit((unsigned char)text[i + 1]) ||
	    !isdigit((unsigned char)text[i + 2]) || (i + 3 < len && isalnum((unsigned char)text[i + 3])))
		return false;
	return status_find(text, len, &st) == NULL;
}

/* Which domain the text of a "domain not found" names. */
enum named { NAMED_NONE, NAMED_RECIPIENT, NAMED_OTHER };

static bool
domain_char(unsigned char ch)
{
	return isalnum(ch) || ch == '.' || ch == '-' || ch == '_';
}

/*
 * Which domain @low (lower-cased) names in the lines around @at: @addr's
 * own domain ("example.org", "name=example.org"), another one (the
 * sender's, a relay's, a host under it: "mx.example.org", the domain of
 * another address), or none. The recipient's own address names who the
 * report is about, not what was not found; a URL's host is no name (a
 * help page). The recipient's domain, when named, wins.
 */
static enum named
domain_named(const char *addr, const char *low, size_t len, size_t at)
{
	const char *d = strrchr(addr, '@');
	size_t n, b = at, e = at, i;
	enum named found = NAMED_NONE;
	int lines;

	if (d == NULL || (n = strlen(d + 1)) == 0)
		return NAMED_NONE;
	d++;
	/* the line of the phrase, one before and one after */
	for (lines = 0; b > 0 && lines < 2; b--)
		if (low[b - 1] == '\n')
			lines++;
	for (lines = 0; e < len && lines < 2; e++)
		if (low[e] == '\n')
			lines++;
	for (i = b; i < e;) {
		size_t s = i, k, last;
		bool dot = false, alpha_tld = true;

		if (!domain_char((unsigned char)low[i])) {
			i++;
			continue;
		}
		while (i < e && domain_char((unsigned char)low[i]))
			i++;
		k = i;
		while (k > s && (low[k - 1] == '.' || low[k - 1] == '-'))
			k--;
		for (size_t j = s; j < k; j++)
			dot |= low[j] == '.';
		if (!dot)
			continue;
		last = k;
		while (last > s && low[last - 1] != '.')
			last--;
		for (size_t j = last; j < k; j++)
			alpha_tld &= isalpha((unsigned char)low[j]) != 0;
		if (!alpha_tld || k - last < 2)
			continue;	/* an IP address, a version, a number */
		if (s >= 2 && low[s - 1] == '/' && low[s - 2] == '/')
			continue;	/* a URL's host */
		/* the domain of an address (a token starts after its '@'):
		 * the recipient's own address says who, not what was not found */
		bool in_addr = s > 0 && low[s - 1] == '@';

		if (k - s == n && strncasecmp(low + s, d, n) == 0) {
			if (in_addr)
				continue;
			return NAMED_RECIPIENT;
		}
		/* a local part with a dot ("first.last@") is not a domain */
		if (k < len && low[k] == '@')
			continue;
		found = NAMED_OTHER;
	}
	return found;
}

void
bounce_verdict_rule(struct bounce_result *r, const char *fmt_, ...)
{
	char arrow[32];
	va_list ap;
	int n;

	va_start(ap, fmt_);
	n = vsnprintf(r->rule, sizeof(r->rule), fmt_, ap);
	va_end(ap);
	if (n < 0)
		r->rule[0] = '\0';
	/* A rule's name is ours, and short; one cut to its size still names it. */
	memcpy(arrow, " -> ", 4);
	if (fmt_str(arrow + 4, sizeof(arrow) - 4, bounce_action_name(r->action)) != 0)
		fatal("bounce: an action's name is longer than %zu bytes", sizeof(arrow) - 5);
	(void)fmt_clip_cat(r->rule, sizeof(r->rule), arrow);
}

void
bounce_verdict_rule_also(struct bounce_result *r, const char *more)
{
	char row[BOUNCE_RULE_MAX + 1], *arrow;

	memcpy(row, r->rule, sizeof(row));
	if ((arrow = strstr(row, " -> ")) != NULL)
		*arrow = '\0';
	bounce_verdict_rule(r, "%s, %s", row, more);
}

/* The rule of a phrase row, with a note on why its verdict was not its own. */
static void
rule_phrase(struct bounce_result *r, const struct bounce_rule_match *m, const char *note)
{
	bounce_verdict_rule(r, "phrase #%d \"%s\" (%s)%s%s", m->row, m->phrase, m->rank,
			    note ? ": " : "", note ? note : "");
}

/* The rule of a status table row. */
static void
rule_code(struct bounce_result *r, const struct bounce_code_rule *code, const char *note)
{
	bounce_verdict_rule(r, "status %s (%s: %s)%s%s", code->name, code->means,
			    bounce_rules_code_class(code->cls), note ? ", " : "", note ? note : "");
}

/*
 * Decides one recipient from the text that concerns it (@text, @len; a
 * Diagnostic-Code or the lines around its address), a status code if the
 * report gave one, and whether the report calls the failure temporary.
 *
 * A hard verdict comes from a RANK_GONE phrase or a GONE status row, and
 * only when nothing else in the text or the code says otherwise: a code
 * about the sender, the message or a mailbox that exists, a phrase of a
 * policy or a block, a temporary failure, a domain that is not the
 * recipient's. When code and text disagree, the verdict is soft.
 */
void
bounce_verdict_decide(struct bounce_result *r, const char *text, size_t len,
		      const struct smtp_status *given, bool temporary)
{
	struct bounce_rule_match m;
	struct smtp_status st;
	const struct bounce_code_rule *code = NULL;
	const char *code_at = NULL;
	struct buf low;
	bool rule, gone_by_code, relay_gloss;
	size_t i;

	if (len > MAX_TEXT)
		len = MAX_TEXT;
	r->confirmed = r->explicit = false;
	r->rule[0] = '\0';
	if (given)
		st = *given;
	if (given || (code_at = status_find(text, len, &st)) != NULL) {
		code = bounce_rules_code(&st);
		status_format(&st, r->status);
		if (st.klass == 4)
			temporary = true;
	}
	if (given) {
		/* The text's own code may disagree with the report's Status
		 * ("Status: 5.1.1" beside "550 5.7.1 ..."): one about the
		 * sender, a mailbox that exists or a temporary failure is
		 * what decides, and the verdict is never hard. */
		struct smtp_status ts;
		const char *at = status_find(text, len, &ts);
		const struct bounce_code_rule *tc = at ? bounce_rules_code(&ts) : NULL;

		if (tc && (tc->cls == BOUNCE_CODE_SENDER || tc->cls == BOUNCE_CODE_EXISTS ||
			   tc->cls == BOUNCE_CODE_TEMPORARY) && tc != code) {
			code = tc;
			st = ts;
			code_at = at;
			if (ts.klass == 4)
				temporary = true;
		}
	}
	buf_init(&low);
	bounce_scan_lower(&low, text, len);
	rule = bounce_rules_match(low.s, len, &m);
	if (!temporary && code == NULL) {
		/* An SMTP reply code without an enhanced one: "450 ..." */
		for (i = 0; i + 3 < len; i++)
			if (text[i] == '4' && isdigit((unsigned char)text[i + 1]) &&
			    isdigit((unsigned char)text[i + 2]) && (text[i + 3] == ' ' || text[i + 3] == '-') &&
			    (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\n' || text[i - 1] == ';')) {
				temporary = true;
				break;
			}
	}
	gone_by_code = code && code->cls == BOUNCE_CODE_GONE && !temporary;
	/* The Status only maps the remote's bare reply code: its text decides. */
	relay_gloss = gone_by_code && given && code_at == NULL && bare_reply(text, len);
	if (relay_gloss)
		gone_by_code = false;
	bounce_scan_evidence(text, len, code_at ? (size_t)(code_at - text) : 0, r->evidence);

	if (code && code->cls == BOUNCE_CODE_SUCCESS) {
		r->action = BOUNCE_IGNORE;
		r->reason = "delivered";
		r->why = "the report says the message was delivered";
		rule_code(r, code, NULL);
	} else if (!temporary && (code == NULL || (st.klass == 5 && code->cls != BOUNCE_CODE_SENDER)) &&
		   bounce_rules_provider_gone(low.s, len)) {
		r->action = BOUNCE_HARD;
		r->reason = "unknown-user";
		r->why = "the receiver's own error code says the recipient does not exist";
		r->confirmed = r->explicit = true;
		bounce_scan_evidence(text, len, 0, r->evidence);
		bounce_verdict_rule(r, "provider code (Orange LPN/OFR/OUK 416, 418: no such recipient)");
	} else if (rule && m.action == BOUNCE_IGNORE) {
		bounce_scan_evidence(text, len, m.at, r->evidence);
		r->action = BOUNCE_IGNORE;
		r->reason = m.reason;
		r->why = m.why;
		rule_phrase(r, &m, NULL);
	} else if (rule && m.action == BOUNCE_HARD) {
		bounce_scan_evidence(text, len, m.at, r->evidence);
		r->reason = m.reason;
		r->why = m.why;
		r->action = BOUNCE_SOFT;
		if (temporary || bounce_rules_temporary(low.s, len)) {
			r->why = "the address may be gone, but the report calls the failure temporary";
			rule_phrase(r, &m, "but the report calls the failure temporary");
		} else if (code && (code->cls == BOUNCE_CODE_SENDER || code->cls == BOUNCE_CODE_EXISTS)) {
			r->reason = code->reason;
			r->why = code->cls == BOUNCE_CODE_SENDER
				 ? "the status code is about the sender or the message, not the address: code and text disagree"
				 : "the status code says the mailbox exists: code and text disagree";
			rule_code(r, code, "whatever the text says");
		} else if (!m.strong && after_data(low.s, len)) {
			r->reason = "filtered";
			r->why = "refused after the message was sent (after DATA): a content filter, not a dead address";
			bounce_verdict_rule(r, "context \"after DATA\" (the receiver had accepted the address)");
		} else if (syntax_line(text, len, m.at) && !gone_by_code && !m.strong) {
			r->reason = "syntax";
			r->why = "a reply to a malformed command (500-504) says nothing about the address";
			rule_phrase(r, &m, "but a reply to a malformed command (500-504)");
		} else if (m.domain && domain_named(r->recipient, low.s, len, m.at) == NAMED_OTHER) {
			if (gone_by_code && st.subject == 1 && (st.detail == 2 || st.detail == 10)) {
				r->action = BOUNCE_HARD;
				r->reason = code->reason;
				r->why = "the status code says the recipient's domain is gone";
				r->confirmed = true;
				rule_code(r, code, NULL);
			} else {
				r->reason = "other-domain";
				r->why = "the text says a domain is gone, but names another domain than the recipient's";
				rule_phrase(r, &m, "names another domain than the recipient's");
			}
		} else {
			r->action = BOUNCE_HARD;
			/* 5.1.x codes of a dead address confirm it. */
			r->confirmed = m.strong || (gone_by_code && st.subject == 1) ||
				       (!relay_gloss && gone_code(text, len));
			r->explicit = m.strong;
			rule_phrase(r, &m, NULL);
		}
	} else if (rule && m.weak && gone_by_code) {
		r->action = BOUNCE_HARD;
		r->reason = code->reason;
		r->why = "the status code says the address is gone";
		rule_code(r, code, "the text gives no other reason");
	} else if (rule) {
		bounce_scan_evidence(text, len, m.at, r->evidence);
		r->action = BOUNCE_SOFT;
		r->reason = m.reason;
		r->why = m.why;
		rule_phrase(r, &m, gone_by_code ? "the status code says gone, the text says otherwise"
				   : relay_gloss ? "the remote's own reply decides, not the relay's status" : NULL);
	} else if (gone_by_code) {
		r->action = BOUNCE_HARD;
		r->reason = code->reason;
		r->why = "the status code says the address is gone";
		rule_code(r, code, NULL);
	} else {
		r->action = BOUNCE_SOFT;
		r->reason = code ? code->reason : "undefined";
		r->why = code ? "the status code says nothing certain about the address"
			      : "the report does not say why: never hard on a guess";
		if (temporary)
			r->why = "the report calls the failure temporary";
		else if (relay_gloss)
			r->why = "the Status is a relay's mapping of the remote's bare reply, "
				 "which does not say the address is gone";
		if (code)
			rule_code(r, code, temporary && code->cls != BOUNCE_CODE_TEMPORARY
					   ? "the report calls it temporary"
					   : relay_gloss ? "a relay's mapping of the remote's bare reply, which decides"
					   : NULL);
		else
			bounce_verdict_rule(r, "no rule: %s", temporary ? "the report calls the failure temporary"
					    : "no status code and no phrase");
	}
	buf_free(&low);
}
