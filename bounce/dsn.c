/*
 * bounce/dsn.c - RFC 3464 delivery status notifications: one result per
 * recipient block of the message/delivery-status part, decided on its
 * Diagnostic-Code, its Status and the readable text around its address.
 *
 * Fields are read up to their buffers and cut there by design.
 */
#include "parse_int.h"

#include <string.h>

#include <glib.h>

static void
read_fields(struct bounce_ctx *c, const char *human, size_t hlen)
{
	struct {
		char final[ADDR_MAX + 1], original[ADDR_MAX + 1];
		char action[32], status[64], diag[1024];
		bool any;
	} cur;
	struct bounce_field f;
	size_t pos = 0;
	bool more = true;

	memset(&cur, 0, sizeof(cur));
	while (more) {
		more = bounce_scan_field(c->status.s, c->status.len, &pos, &f);
		bool is_rcpt = more && (bounce_scan_field_is(&f, "final-recipient") || bounce_scan_field_is(&f, "original-recipient"));
		bool flush = !more || (cur.any && (f.blank_before ||
						  (bounce_scan_field_is(&f, "final-recipient") && cur.final[0]) ||
						  (bounce_scan_field_is(&f, "original-recipient") && cur.original[0])));

		if (flush && cur.any) {
			const char *addr = cur.final[0] ? cur.final : cur.original;
			struct bounce_result *r = bounce_verdict_result(c->rep, addr);

			if (r && cur.final[0] && cur.original[0] && strcasecmp(cur.final, cur.original) != 0)
				(void)bounce_scan_copy_addr(r->original, cur.original);	/* "" if it did not fit */
			if (r) {
				struct smtp_status st, *stp = NULL;
				bool delayed = strcasecmp(cur.action, "delayed") == 0;
				const char *p = cur.status;

				while (*p == ' ')
					p++;
				if (status_parse(p, &st))
					stp = &st;
				if (strncasecmp(cur.action, "deliver", 7) == 0 || strcasecmp(cur.action, "relayed") == 0 ||
				    strcasecmp(cur.action, "expanded") == 0) {
					r->action = BOUNCE_IGNORE;
					r->reason = "delivered";
					r->why = "the report says the message was delivered";
					if (stp)
						status_format(stp, r->status);
					fmt_clip(r->evidence, sizeof(r->evidence), "Action: %.200s", cur.action);
				} else if (cur.diag[0]) {
					bounce_verdict_decide(r, cur.diag, strlen(cur.diag), stp, delayed);
					/* No phrase in the code: the readable text may have one. */
					if (r->action == BOUNCE_SOFT && strcmp(r->reason, "undefined") == 0 && hlen)
						bounce_verdict_decide(r, human, hlen, stp, delayed);
				} else {
					bounce_verdict_decide(r, human, hlen, stp, delayed);
					if (stp && r->evidence[0] == '\0')
						fmt_clip(r->evidence, sizeof(r->evidence), "Status: %.200s", cur.status);
				}
			}
			memset(&cur, 0, sizeof(cur));
		}
		if (!more)
			break;
		if (is_rcpt) {
			char a[ADDR_MAX + 1];

			if (bounce_scan_value_addr(f.value, a) &&
			    bounce_scan_copy_addr(bounce_scan_field_is(&f, "final-recipient") ? cur.final : cur.original, a))
				cur.any = true;
		} else if (bounce_scan_field_is(&f, "action")) {
			/* Fields are read up to their buffer and cut there by
			 * design: what is judged is at their start. */
			fmt_clip(cur.action, sizeof(cur.action), "%s", f.value);
		} else if (bounce_scan_field_is(&f, "status")) {
			fmt_clip(cur.status, sizeof(cur.status), "%s", f.value);
		} else if (bounce_scan_field_is(&f, "diagnostic-code")) {
			const char *v = strchr(f.value, ';');

			fmt_clip(cur.diag, sizeof(cur.diag), "%s", v ? v + 1 : f.value);
			/* Japanese MTAs write the field in raw ISO-2022-JP (7 bits,
			 * escape sequences): to UTF-8, as a text part would be. */
			if (strstr(cur.diag, "\x1b$B") || strstr(cur.diag, "\x1b$@")) {
				char *u = g_convert(cur.diag, -1, "UTF-8", "ISO-2022-JP", NULL, NULL, NULL);

				if (u)
					fmt_clip(cur.diag, sizeof(cur.diag), "%s", u);
				g_free(u);
			}
		}
	}
}

void
bounce_dsn_parse(struct bounce_ctx *c, const char *human, size_t hlen)
{
	read_fields(c, human, hlen);
	for (int i = 0; i < c->rep->n; i++) {
		struct bounce_result *r = &c->rep->r[i];
		struct bounce_rule_match m;

		bounce_verdict_context(c, r);
		/* The readable text names a reason that is not a dead
		 * address: the report contradicts itself; never hard. */
		size_t wb, wl;

		if (r->action == BOUNCE_HARD && bounce_verdict_window(c, r->recipient, &wb, &wl) &&
		    bounce_rules_match(c->lower.s + wb, wl, &m) &&
		    m.action == BOUNCE_SOFT && !m.weak && !m.temporary) {
			r->action = BOUNCE_SOFT;
			r->reason = m.reason;
			r->why = "the status says the address is gone, but the readable text gives another reason";
		}
	}
}
