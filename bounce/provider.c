/*
 * bounce/provider.c - a provider's own notification format sent by mail:
 * Amazon SES (SNS) JSON. Its recipients and codes are fields; jansson
 * reads them.
 */
#include "parse_int.h"

#include <string.h>

#include <jansson.h>

/*
 * Amazon SES notifications sent by mail (SNS): JSON, not a DSN. The
 * recipients and their codes are fields; jansson reads them.
 */
static json_t *
ses_json(const char *text, size_t len)
{
	const char *b = memchr(text, '{', len);
	json_t *j, *msg;

	if (b == NULL || memmem(text, len, "notificationType", 16) == NULL)
		return NULL;
	{
		/* Long lines arrive folded: the line breaks are not JSON's. */
		struct buf flat;

		buf_init(&flat);
		for (const char *p = b; p < text + len; p++)
			if (*p != '\n' && *p != '\r')
				buf_addc(&flat, *p);
		j = flat.len ? json_loadb(flat.s, flat.len, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
		buf_free(&flat);
	}
	if (j == NULL)
		return NULL;
	msg = json_object_get(j, "Message");
	if (json_is_string(msg)) {	/* SNS wraps the notification in a string */
		json_t *inner = json_loads(json_string_value(msg), 0, NULL);

		json_decref(j);
		j = inner;
	}
	if (j && !json_is_string(json_object_get(j, "notificationType"))) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

bool
bounce_provider_ses(struct bounce_ctx *c, const char *text, size_t len)
{
	json_t *j = ses_json(text, len), *list, *item;
	const char *type;
	size_t i;

	if (j == NULL)
		return false;
	type = json_string_value(json_object_get(j, "notificationType"));
	if (strcasecmp(type, "Bounce") == 0) {
		json_t *b = json_object_get(j, "bounce");
		const char *btype = json_string_value(json_object_get(b, "bounceType"));
		bool transient = btype && strcasecmp(btype, "Permanent") != 0;

		list = json_object_get(b, "bouncedRecipients");
		json_array_foreach(list, i, item) {
			const char *addr = json_string_value(json_object_get(item, "emailAddress"));
			const char *status = json_string_value(json_object_get(item, "status"));
			const char *diag = json_string_value(json_object_get(item, "diagnosticCode"));
			char a[ADDR_MAX + 1], why[ERR_LEN];
			struct smtp_status st;
			struct bounce_result *r;

			if (addr && !bounce_scan_recipient(addr, a, why)) {
				(void)bounce_verdict_unaddressed(c->rep, "emailAddress", addr, why);
				continue;
			}
			if (!addr || (r = bounce_verdict_result(c->rep, a)) == NULL)
				continue;
			if (!diag)
				diag = "";
			bounce_verdict_decide(r, diag, strlen(diag), status && status_parse(status, &st) ? &st : NULL, transient);
		}
	} else if (strcasecmp(type, "Complaint") == 0) {
		list = json_object_get(json_object_get(j, "complaint"), "complainedRecipients");
		json_array_foreach(list, i, item) {
			const char *addr = json_string_value(json_object_get(item, "emailAddress"));
			char a[ADDR_MAX + 1], why[ERR_LEN];
			struct bounce_result *r;

			if (!addr || !bounce_scan_recipient(addr, a, why) || (r = bounce_verdict_result(c->rep, a)) == NULL)
				continue;
			r->action = BOUNCE_COMPLAINT;
			r->reason = "complaint";
			r->why = "an Amazon SES complaint notification names the recipient";
			fmt_clip(r->evidence, sizeof(r->evidence), "notificationType: Complaint");
			bounce_verdict_rule(r, "report Amazon SES, notificationType \"Complaint\"");
		}
	} else if (strcasecmp(type, "Delivery") == 0) {
		list = json_object_get(json_object_get(j, "delivery"), "recipients");
		json_array_foreach(list, i, item) {
			char a[ADDR_MAX + 1], why[ERR_LEN];
			struct bounce_result *r;

			if (!json_is_string(item) || !bounce_scan_recipient(json_string_value(item), a, why) ||
			    (r = bounce_verdict_result(c->rep, a)) == NULL)
				continue;
			r->action = BOUNCE_IGNORE;
			r->reason = "delivered";
			r->why = "an Amazon SES delivery notification";
			fmt_clip(r->evidence, sizeof(r->evidence), "notificationType: Delivery");
			bounce_verdict_rule(r, "report Amazon SES, notificationType \"Delivery\"");
		}
	}
	json_decref(j);
	return true;
}
