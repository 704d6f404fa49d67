/*
 * lib/status.c - RFC 3463 enhanced mail system status codes ("5.1.1"), and
 * what one says of the recipient's address. The one table of these rules:
 * the mailer reads SMTP replies with it and the bounce processor reads
 * delivery status notifications with it, so both judge alike.
 *
 * Trusts nothing in its input. Only a code that says the address itself is
 * gone is STATUS_HARD: a policy, spam or content block, a full mailbox or a
 * system fault says nothing about the address and is STATUS_SOFT.
 */
#include "lib.h"

#include <ctype.h>
#include <string.h>

/* One rule; -1 matches any value. The first rule that matches decides. */
static const struct status_rule {
	int klass, subject, detail;
	enum status_verdict verdict;
	const char *reason;
} status_rules[] = {
	{2, -1, -1, STATUS_SUCCESS, "delivered"},
	{5, 1, 1, STATUS_HARD, "unknown-user"},		/* bad destination mailbox */
	{5, 1, 2, STATUS_HARD, "unknown-domain"},	/* bad destination system */
	{5, 1, 3, STATUS_HARD, "bad-address"},		/* bad mailbox address syntax */
	{5, 1, 6, STATUS_HARD, "moved"},		/* mailbox moved, no forwarding */
	{5, 1, 10, STATUS_HARD, "no-mail-domain"},	/* null MX (RFC 7505) */
	{5, 2, 1, STATUS_HARD, "disabled"},		/* mailbox disabled */
	{5, 1, 7, STATUS_SOFT, "sender"},		/* bad sender's mailbox address syntax */
	{5, 1, 8, STATUS_SOFT, "sender"},		/* bad sender's system address */
	{5, 1, -1, STATUS_UNKNOWN, "address"},		/* 5.1.0 and the rest: read the text */
	{5, 2, 2, STATUS_SOFT, "mailbox-full"},
	{5, 2, 3, STATUS_SOFT, "too-large"},
	{5, 2, -1, STATUS_SOFT, "mailbox"},
	{5, 3, -1, STATUS_SOFT, "system"},
	{5, 4, -1, STATUS_SOFT, "routing"},
	{5, 5, -1, STATUS_SOFT, "protocol"},
	{5, 6, -1, STATUS_SOFT, "content"},
	{5, 7, -1, STATUS_SOFT, "policy"},
	{4, 2, 2, STATUS_SOFT, "mailbox-full"},
	{4, 7, -1, STATUS_SOFT, "policy"},
	{4, -1, -1, STATUS_SOFT, "temporary"},
	{5, -1, -1, STATUS_UNKNOWN, "permanent"},	/* 5.0.0: read the text */
};

/* Reads a number of at most @maxdigits digits; returns the end or NULL. */
static const char *
status_number(const char *s, int maxdigits, int *out)
{
	int n = 0, d = 0;

	while (isdigit((unsigned char)*s) && d < maxdigits) {
		n = n * 10 + (*s++ - '0');
		d++;
	}
	if (d == 0 || isdigit((unsigned char)*s))
		return NULL;
	*out = n;
	return s;
}

const char *
status_parse(const char *s, struct smtp_status *st)
{
	const char *p = s;

	if (*p != '2' && *p != '4' && *p != '5')
		return NULL;
	st->klass = *p++ - '0';
	if (*p++ != '.')
		return NULL;
	if (!(p = status_number(p, 3, &st->subject)) || *p++ != '.')
		return NULL;
	if (!(p = status_number(p, 3, &st->detail)))
		return NULL;
	/* "5.1.1." is a version number or an IP address, not a code. */
	if (*p == '.' && isdigit((unsigned char)p[1]))
		return NULL;
	return p;
}

const char *
status_find(const char *text, size_t len, struct smtp_status *st)
{
	for (size_t i = 0; i < len; i++) {
		const char *end;
		char tmp[12];
		size_t n = len - i < sizeof(tmp) - 1 ? len - i : sizeof(tmp) - 1;

		/* A code starts "2.", "4." or "5." (status_parse()): most
		 * digits of a text are not one, and need no copy. */
		if ((text[i] != '2' && text[i] != '4' && text[i] != '5') || i + 1 == len || text[i + 1] != '.')
			continue;
		if (i > 0 && (isalnum((unsigned char)text[i - 1]) || text[i - 1] == '.'))
			continue;
		memcpy(tmp, text + i, n);
		tmp[n] = '\0';
		if ((end = status_parse(tmp, st)) != NULL)
			return text + i + (end - tmp);
	}
	return NULL;
}

enum status_verdict
status_classify(const struct smtp_status *st, const char **reason)
{
	for (size_t i = 0; i < sizeof(status_rules) / sizeof(status_rules[0]); i++) {
		const struct status_rule *r = &status_rules[i];

		if (r->klass != st->klass ||
		    (r->subject >= 0 && r->subject != st->subject) ||
		    (r->detail >= 0 && r->detail != st->detail))
			continue;
		if (reason)
			*reason = r->reason;
		return r->verdict;
	}
	if (reason)
		*reason = "unknown";
	return STATUS_UNKNOWN;
}

void
status_format(const struct smtp_status *st, char out[STATUS_LEN])
{
	/* At most 5.999.999 from status_parse: 10 of the 16 bytes. A code
	 * made some other way that does not fit is written as unknown. What
	 * snprintf("%d.%d.%d") wrote, by hand: this runs for every recipient
	 * of every bounce, and printf was most of its time. */
	const int part[3] = {st->klass, st->subject, st->detail};
	size_t n = 0;

	for (int i = 0; i < 3; i++) {
		char digits[12];
		size_t k = 0;
		unsigned v = part[i] < 0 ? 0u - (unsigned)part[i] : (unsigned)part[i];

		do
			digits[k++] = (char)('0' + v % 10);
		while ((v /= 10) > 0);
		if (part[i] < 0)
			digits[k++] = '-';
		if (n + k + (i < 2) + 1 > STATUS_LEN) {
			memcpy(out, "?.?.?", sizeof("?.?.?"));
			return;
		}
		while (k > 0)
			out[n++] = digits[--k];
		if (i < 2)
			out[n++] = '.';
	}
	out[n] = '\0';
}
