/*
 * bounce/arf.c - complaint reports: RFC 5965 (message/feedback-report)
 * and Microsoft's JMRP, which forwards the reported message with the
 * recipient in a header of its own. A complaint unsubscribes; an
 * authentication failure report is not from the subscriber.
 */
#include "parse_int.h"

#include <ctype.h>
#include <string.h>

/* A result for @a with the report's verdict @act (a complaint, or an
 * authentication failure report), @why for a complaint, and the
 * Feedback-Type @type as evidence. */
static void
report(struct bounce_ctx *c, const char *a, enum bounce_action act, const char *type, const char *why)
{
	struct bounce_result *r = bounce_verdict_result(c->rep, a);

	if (r == NULL)
		return;
	r->action = act;
	r->reason = act == BOUNCE_COMPLAINT ? "complaint" : "report";
	r->why = act == BOUNCE_COMPLAINT ? why : "an authentication failure report: not from the subscriber";
	fmt_clip(r->evidence, sizeof(r->evidence), "Feedback-Type: %.100s", type);
	bounce_verdict_rule(r, "report ARF, Feedback-Type \"%.40s\" (%s)", type,
			    act == BOUNCE_COMPLAINT ? "a complaint" : "not from the subscriber");
}

/*
 * The envelope recipient a Received field names ("... for <a@b>; date"),
 * copied into @a. False when it names none.
 */
static bool
received_for(const char *v, char a[ADDR_MAX + 1])
{
	char tok[ADDR_MAX + 3], why[ERR_LEN];
	const char *semi = strchr(v, ';'), *end = semi ? semi : v + strlen(v), *p;
	size_t n;

	for (p = v; p + 4 < end; p++) {
		if (!isspace((unsigned char)p[0]) || strncasecmp(p + 1, "for", 3) != 0 ||
		    !isspace((unsigned char)p[4]))
			continue;
		for (p += 4; p < end && isspace((unsigned char)*p); p++)
			;
		for (n = 0; p + n < end && !isspace((unsigned char)p[n]); n++)
			;
		if (n == 0 || n >= sizeof(tok))
			return false;
		memcpy(tok, p, n);
		tok[n] = '\0';
		return bounce_scan_recipient(tok, a, why);
	}
	return false;
}

/*
 * The recipient of the reported message from its Received fields, when
 * the report names it nowhere else (a redacted report that cut the To
 * field): the envelope recipient they give, if they give one and all
 * agree; with two different ones it is not known whom the complaint is
 * from.
 */
static bool
returned_envelope(const struct bounce_ctx *c, char a[ADDR_MAX + 1])
{
	struct bounce_field f;
	char one[ADDR_MAX + 1];
	size_t pos = 0;
	bool found = false;

	while (bounce_scan_field(c->returned.s, c->returned.len, &pos, &f)) {
		if (!bounce_scan_field_is(&f, "received") || !received_for(f.value, one))
			continue;
		if (found && strcmp(one, a) != 0)
			return false;
		memcpy(a, one, sizeof(one));
		found = true;
	}
	return found;
}

void
bounce_arf_parse(struct bounce_ctx *c)
{
	char type[64] = "abuse", a[ADDR_MAX + 1], why[ERR_LEN];
	struct bounce_field f;
	size_t pos = 0;
	int before = c->rep->n;
	enum bounce_action act;

	while (bounce_scan_field(c->feedback.s, c->feedback.len, &pos, &f))
		if (bounce_scan_field_is(&f, "feedback-type"))
			fmt_clip_str(type, sizeof(type), f.value);	/* cut: a known type is short */
	act = strcasecmp(type, "auth-failure") == 0 || strcasecmp(type, "not-spam") == 0
	      ? BOUNCE_IGNORE : BOUNCE_COMPLAINT;
	pos = 0;
	while (bounce_scan_field(c->feedback.s, c->feedback.len, &pos, &f)) {
		if (!bounce_scan_field_is(&f, "original-rcpt-to") && !bounce_scan_field_is(&f, "removal-recipient"))
			continue;
		/* A redacted recipient ("xxxxxxxx") is no address: the
		 * reported message's To may still name it. */
		if (bounce_scan_recipient(f.value, a, why))
			report(c, a, act, type, "a complaint report (ARF) names the recipient");
	}
	if (c->rep->n > before)
		return;
	/* The recipient of the reported message. */
	pos = 0;
	while (bounce_scan_field(c->returned.s, c->returned.len, &pos, &f)) {
		if (!bounce_scan_field_is(&f, "to") || !bounce_scan_value_addr(f.value, a))
			continue;
		report(c, a, act, type, "a complaint report (ARF) about a message to the recipient");
		return;
	}
	if (returned_envelope(c, a))
		report(c, a, act, type, "a complaint report (ARF) about a message whose Received fields name the recipient");
}

/*
 * Microsoft's complaint reports (JMRP) forward the reported message with
 * no feedback-report part; the recipient is in X-HmXmrOriginalRecipient.
 */
bool
bounce_arf_jmrp(struct bounce_ctx *c)
{
	struct bounce_field f;
	size_t pos = 0;
	char a[ADDR_MAX + 1];

	while (bounce_scan_field(c->returned.s, c->returned.len, &pos, &f)) {
		struct bounce_result *r;

		if (!bounce_scan_field_is(&f, "x-hmxmroriginalrecipient") || !bounce_scan_value_addr(f.value, a))
			continue;
		c->rep->kind = BOUNCE_KIND_ARF;
		if ((r = bounce_verdict_result(c->rep, a)) != NULL) {
			r->action = BOUNCE_COMPLAINT;
			r->reason = "complaint";
			r->why = "a complaint report (Microsoft JMRP) names the recipient";
			fmt_clip(r->evidence, sizeof(r->evidence), "X-HmXmrOriginalRecipient");
			bounce_verdict_rule(r, "report JMRP (Microsoft's complaint report)");
		}
		return true;
	}
	return false;
}
