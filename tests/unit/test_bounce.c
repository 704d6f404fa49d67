/*
 * tests/unit/test_bounce.c - the bounce parser, one small inline message
 * per format (RFC 3464 DSN plain, base64 and quoted-printable; ARF; the
 * plain-text bounces of qmail, Exim, Sendmail, Postfix, Exchange/Office
 * 365, Gmail, Yahoo; auto-replies; what is not a bounce; an "unknown user"
 * that stands only from an MTA that means it; Orange's own codes; a report
 * forwarded as an attachment), the phrase table, one parser reused from
 * message to message, and what a verdict does to a real store (VERP
 * attribution, forged tokens, the soft score, the address gone from the
 * files); bounce_run over FILE arguments tells every message, in order.
 */
#include "helpers.h"

#include <glib.h>
#include <sqlite3.h>

#include "../../bounce/bounce.h"

struct want {
	const char *name;
	const char *msg;
	const char *kind;
	const char *rcpt;	/* NULL: no result at all */
	enum bounce_action action;
	const char *status;
};

#define DSN_HEAD \
	"From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\n" \
	"To: bounces+tok@news.example.org\n" \
	"Subject: Undelivered Mail Returned to Sender\n" \
	"MIME-Version: 1.0\n" \
	"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n" \
	"--B\nContent-Type: text/plain\n\nThe mail system\n\n"

static const struct want cases[] = {
	{"dsn hard", DSN_HEAD
	 "--B\nContent-Type: message/delivery-status\n\n"
	 "Reporting-MTA: dns; mx.example.org\n\n"
	 "Final-Recipient: rfc822; gone@example.net\nAction: failed\nStatus: 5.1.1\n"
	 "Diagnostic-Code: smtp; 550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown\n\n--B--\n",
	 "dsn", "gone@example.net", BOUNCE_HARD, "5.1.1"},
	{"dsn mailbox full", DSN_HEAD
	 "--B\nContent-Type: message/delivery-status\n\n"
	 "Reporting-MTA: dns; mx.example.org\n\n"
	 "Final-Recipient: rfc822; full@example.net\nAction: failed\nStatus: 5.2.2\n"
	 "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\n\n--B--\n",
	 "dsn", "full@example.net", BOUNCE_SOFT, "5.2.2"},
	{"dsn base64 status part", DSN_HEAD
	 "--B\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n"
	 /* "Final-Recipient: rfc822; b64@example.net\nAction: failed\nStatus: 5.1.1\n" */
	 "RmluYWwtUmVjaXBpZW50OiByZmM4MjI7IGI2NEBleGFtcGxlLm5ldApBY3Rpb246IGZhaWxlZApT\n"
	 "dGF0dXM6IDUuMS4xCg==\n\n--B--\n",
	 "dsn", "b64@example.net", BOUNCE_HARD, "5.1.1"},
	{"dsn quoted-printable status part", DSN_HEAD
	 "--B\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: quoted-printable\n\n"
	 "Final-Recipient: rfc822; qp@example.net\nAction: failed\nStatus: 5.7.1\n"
	 "Diagnostic-Code: smtp; 554 5.7.1 Message rejected as sp=\nam\n\n--B--\n",
	 "dsn", "qp@example.net", BOUNCE_SOFT, "5.7.1"},
	{"dsn policy block with a dead-address code is soft", DSN_HEAD
	 "--B\nContent-Type: message/delivery-status\n\n"
	 "Final-Recipient: rfc822; blk@example.net\nAction: failed\nStatus: 5.1.1\n"
	 "Diagnostic-Code: smtp; 550 5.1.1 Blocked: your IP is listed on a blacklist\n\n--B--\n",
	 "dsn", "blk@example.net", BOUNCE_SOFT, "5.1.1"},
	{"dsn delayed is ignored whatever the code", DSN_HEAD
	 "--B\nContent-Type: message/delivery-status\n\n"
	 "Final-Recipient: rfc822; late@example.net\nAction: delayed\nStatus: 4.4.1\n"
	 "Diagnostic-Code: smtp; 450 4.1.1 User unknown, try again\n\n--B--\n",
	 "dsn", "late@example.net", BOUNCE_IGNORE, "4.4.1"},
	{"dsn delivered is ignored", DSN_HEAD
	 "--B\nContent-Type: message/delivery-status\n\n"
	 "Final-Recipient: rfc822; ok@example.net\nAction: delivered\nStatus: 2.0.0\n\n--B--\n",
	 "dsn", "ok@example.net", BOUNCE_IGNORE, "2.0.0"},
	{"dsn user unknown after DATA is a filter", DSN_HEAD
	 "<flt@example.net>: host mx said: 550 Unknown user flt@example.net (in reply to end of DATA command)\n\n"
	 "--B\nContent-Type: message/delivery-status\n\n"
	 "Final-Recipient: rfc822; flt@example.net\nAction: failed\nStatus: 5.0.0\n"
	 "Diagnostic-Code: smtp; 550 Unknown user flt@example.net\n\n--B--\n",
	 "dsn", "flt@example.net", BOUNCE_SOFT, "5.0.0"},
	{"arf abuse", "From: feedback@isp.example\nTo: abuse@news.example.org\nSubject: FW: report\n"
	 "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"A\"\n\n"
	 "--A\nContent-Type: text/plain\n\nA complaint.\n\n"
	 "--A\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: x/1\nVersion: 1\n"
	 "Original-Rcpt-To: <angry@example.net>\n\n"
	 "--A\nContent-Type: message/rfc822\n\nFrom: news@example.org\nTo: angry@example.net\nSubject: hi\n\nbody\n--A--\n",
	 "arf", "angry@example.net", BOUNCE_COMPLAINT, ""},
	{"arf auth-failure is ignored", "From: dmarc@isp.example\nTo: postmaster@news.example.org\nSubject: report\n"
	 "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"A\"\n\n"
	 "--A\nContent-Type: message/feedback-report\n\nFeedback-Type: auth-failure\nVersion: 1\n\n"
	 "--A\nContent-Type: text/rfc822-headers\n\nFrom: news@example.org\nTo: someone@example.net\n\n--A--\n",
	 "arf", "someone@example.net", BOUNCE_IGNORE, ""},
	{"qmail", "From: MAILER-DAEMON@mail.example.net\nTo: bounces+tok@news.example.org\nSubject: failure notice\n\n"
	 "Hi. This is the qmail-send program at mail.example.net.\n"
	 "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
	 "<nobody-here@example.net>:\n192.0.2.1 does not like recipient.\n"
	 "Remote host said: 550 5.1.1 <nobody-here@example.net>... User unknown\nGiving up on 192.0.2.1.\n\n"
	 "--- Below this line is a copy of the message.\n\nTo: nobody-here@example.net\n",
	 "text", "nobody-here@example.net", BOUNCE_HARD, "5.1.1"},
	{"exim", "From: Mail Delivery System <Mailer-Daemon@mx.example.com>\nTo: bounces+tok@news.example.org\n"
	 "Subject: Mail delivery failed: returning message to sender\nX-Failed-Recipients: lost@example.com\n\n"
	 "This message was created automatically by mail delivery software.\n\n"
	 "A message that you sent could not be delivered to one or more of its\nrecipients. This is a permanent error. The following address(es) failed:\n\n"
	 "  lost@example.com\n    SMTP error from remote mail server after RCPT TO:<lost@example.com>:\n"
	 "    550 5.1.1 No such user here\n\n------ This is a copy of the message, including all the headers. ------\n",
	 "text", "lost@example.com", BOUNCE_HARD, "5.1.1"},
	/* The top header block reaches GMime without the fields nothing reads
	 * (Received, DKIM-Signature, ...): a folded line of a dropped field
	 * goes with it, even when it looks like a field that is read. */
	{"exim, trace fields folded around the read ones",
	 "Received: from mx.example.com by news.example.org with esmtp\n"
	 "\tid 1; Sun, 6 Dec 2026 10:00:00 +0000\n"
	 " X-Failed-Recipients: decoy@example.com\n"
	 "From: Mail Delivery System <Mailer-Daemon@mx.example.com>\n"
	 "DKIM-Signature: v=1; a=rsa-sha256; d=mx.example.com;\n"
	 "\tb=AAAA; bh=BBBB\n"
	 "To: bounces+tok@news.example.org\n"
	 "Received: from a by b;\n Sun, 6 Dec 2026 09:59:00 +0000\n"
	 "Subject: Mail delivery failed: returning message to sender\n"
	 "X-Failed-Recipients: lost@example.com\n\n"
	 "This message was created automatically by mail delivery software.\n\n"
	 "A message that you sent could not be delivered to one or more of its\nrecipients. This is a permanent error. The following address(es) failed:\n\n"
	 "  lost@example.com\n    SMTP error from remote mail server after RCPT TO:<lost@example.com>:\n"
	 "    550 5.1.1 No such user here\n\n------ This is a copy of the message, including all the headers. ------\n",
	 "text", "lost@example.com", BOUNCE_HARD, "5.1.1"},
	{"sendmail mailbox full", "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.jp>\nTo: bounces+tok@news.example.org\n"
	 "Subject: Returned mail: see transcript for details\n\n"
	 "   ----- The following addresses had permanent fatal errors -----\n<fat@example.jp>\n"
	 "    (reason: 552 5.2.2 Mailbox full)\n\n   ----- Transcript of session follows -----\n"
	 "... while talking to mx.example.jp.:\n>>> RCPT To:<fat@example.jp>\n<<< 552 5.2.2 <fat@example.jp>... Mailbox full\n",
	 "text", "fat@example.jp", BOUNCE_SOFT, "5.2.2"},
	{"office 365", "From: postmaster@outlook.example.com\nTo: bounces+tok@news.example.org\n"
	 "Subject: Undeliverable: news\n\nDelivery has failed to these recipients or groups:\n\n"
	 "absent@example.com\nThe email address you entered couldn't be found.\n\n"
	 "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'\n",
	 "text", "absent@example.com", BOUNCE_HARD, "5.1.10"},
	{"gmail", "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\nTo: bounces+tok@news.example.org\n"
	 "Subject: Delivery Status Notification (Failure)\n\n"
	 "Delivery to the following recipient failed permanently:\n\n     missing@gmail.example\n\n"
	 "Technical details of permanent failure:\nThe email account that you tried to reach does not exist. "
	 "550 5.1.1 https://support.google.com/mail/?p=NoSuchUser\n",
	 "text", "missing@gmail.example", BOUNCE_HARD, "5.1.1"},
	{"yahoo spam block", "From: MAILER-DAEMON@yahoo.example.com\nTo: bounces+tok@news.example.org\n"
	 "Subject: Failure Notice\n\nSorry, we were unable to deliver your message to the following address.\n\n"
	 "<reader@yahoo.example.com>:\n554: delivery error: dd Sorry your message to reader@yahoo.example.com cannot be delivered. "
	 "This message was blocked as spam\n",
	 "text", "reader@yahoo.example.com", BOUNCE_SOFT, ""},
	{"unknown user alone is not enough", "From: MAILER-DAEMON@mx.example.co.jp\nTo: bounces+tok@news.example.org\n"
	 "Subject: Delivery Status\n\n--- The following addresses had delivery problems ---\n\n"
	 "<guess@example.co.jp>   (Permanent Error)\n550 Unknown user guess@example.co.jp\n",
	 "text", "guess@example.co.jp", BOUNCE_SOFT, ""},
	{"unknown user from an MTA that means it (McAfee)", "From: MAILER-DAEMON@mx.example.co.jp\n"
	 "To: bounces+tok@news.example.org\nX-NAI-Header: Modified by McAfee Email and Web Security Virtual Appliance\n"
	 "Subject: Delivery Status\n\n--- The following addresses had delivery problems ---\n\n"
	 "<gone@example.co.jp>   (Permanent Error)\n550 Unknown user gone@example.co.jp\n",
	 "text", "gone@example.co.jp", BOUNCE_HARD, ""},
	{"orange's own code of an unknown recipient", DSN_HEAD
	 "--B\nContent-Type: message/delivery-status\n\n"
	 "Final-Recipient: rfc822; nul@laposte.example\nAction: failed\nStatus: 5.5.0\n"
	 "Diagnostic-Code: smtp; 550 5.5.0 Adresse destinataire invalide. Invalid recipient. LPN007_416\n\n--B--\n",
	 "dsn", "nul@laposte.example", BOUNCE_HARD, "5.5.0"},
	{"orange's own code of a block", DSN_HEAD
	 "--B\nContent-Type: message/delivery-status\n\n"
	 "Final-Recipient: rfc822; blk@laposte.example\nAction: failed\nStatus: 5.0.0\n"
	 "Diagnostic-Code: smtp; 550 5.0.0 Service refuse. Veuillez essayer plus tard. LPN105_104\n\n--B--\n",
	 "dsn", "blk@laposte.example", BOUNCE_SOFT, "5.0.0"},
	{"a Diagnostic-Code in raw ISO-2022-JP (Domino, in Japanese)", DSN_HEAD
	 "--B\nContent-Type: message/delivery-status\n\n"
	 "Final-Recipient: rfc822; kana@example.co.jp\nAction: failed\nStatus: 5.0.0\n"
	 "Diagnostic-Code: X-Notes; \x1b$B%f!<%6!<\x1b(B kana@example.co.jp \x1b$B$O\x1b(B Domino "
	 "\x1b$B%G%#%l%/%H%j$K$O8+$D$+$j$^$;$s!#\x1b(B\n\n--B--\n",
	 "dsn", "kana@example.co.jp", BOUNCE_HARD, "5.0.0"},
	{"a 5.1.1 inside a 5.1.0 reply", DSN_HEAD
	 "--B\nContent-Type: message/delivery-status\n\n"
	 "Final-Recipient: rfc822; deep@example.com\nAction: failed\nStatus: 5.0.0\n"
	 "Diagnostic-Code: smtp; 5.1.0 - Unknown address error 550-'5.1.1 <deep@example.com>: User unknown'\n\n--B--\n",
	 "dsn", "deep@example.com", BOUNCE_HARD, "5.0.0"},
	{"a delivery report forwarded as an attachment",
	 "From: postmaster@relay.example.org\nTo: bounces+tok@news.example.org\nSubject: Fwd: Returned mail\n"
	 "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"O\"\n\n"
	 "--O\nContent-Type: text/plain\n\nThe original message was received.\n\n"
	 "--O\nContent-Type: message/rfc822\n\n"
	 "From: MAILER-DAEMON@mx.example.org\nTo: someone@relay.example.org\nSubject: Returned mail: User unknown\n"
	 "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"I\"\n\n"
	 "--I\nContent-Type: text/plain\n\nThe following addresses had permanent delivery errors\n\n"
	 "--I\nContent-Type: message/delivery-status\n\n"
	 "Final-Recipient: rfc822; inner@example.net\nAction: failed\nStatus: 5.1.1\n"
	 "Diagnostic-Code: smtp; 550 5.1.1 User unknown\n\n--I--\n\n--O--\n",
	 "dsn", "inner@example.net", BOUNCE_HARD, "5.1.1"},
	{"out of office", "From: Reader <reader@example.net>\nTo: news@example.org\nSubject: Out of Office: news\n"
	 "Auto-Submitted: auto-replied\n\nI am away until Monday.\n",
	 "auto-reply", "reader@example.net", BOUNCE_IGNORE, ""},
	{"mail to the unsubscribe address", "From: Reader <reader@example.net>\nTo: unsubscribe+tok@news.example.org\n"
	 "Subject: unsubscribe\n\n",
	 "unsubscribe", "reader@example.net", BOUNCE_UNSUBSCRIBE, ""},
	/* The top-level fields read outside GMime (bounce/parse.c split_top()):
	 * decoded as GMime decodes them, over CRLF; a header block with a line
	 * GMime reads past, and one that runs to the end, read by GMime. */
	{"out of office in an encoded, folded Subject",
	 "From: Reader <reader@example.net>\r\nTo: news@example.org\r\n"
	 "Subject: =?utf-8?q?Out_of?=\r\n =?utf-8?q?_Office?=: news\r\n\r\nI am away.\r\n",
	 "auto-reply", "reader@example.net", BOUNCE_IGNORE, ""},
	{"out of office after a line that is no field", "From: Reader <reader@example.net>\nTo: news@example.org\n"
	 "not a header line\nSubject: Out of Office\nAuto-Submitted: auto-replied\n\nI am away.\n",
	 "auto-reply", "reader@example.net", BOUNCE_IGNORE, ""},
	{"a header block with no body", "From: MAILER-DAEMON@mx.example.org\nTo: bounces+tok@news.example.org\n"
	 "Subject: Undelivered Mail\nX-Failed-Recipients: gone@example.net",
	 "text", "gone@example.net", BOUNCE_SOFT, ""},
	/* After a marker (bounce/text.c), the quoted returned message is not
	 * the bounce: the address it names is no recipient. */
	{"a returned message quoted after a marker", "From: MAILER-DAEMON@mx.example.org\n"
	 "To: bounces+tok@news.example.org\nSubject: Undelivered Mail\n\n"
	 "This message could not be delivered to the following recipient.\n\n"
	 "<gone@example.net>: 550 5.1.1 user unknown\n\n------ Original message follows ------\n\n"
	 "From: news@example.org\nTo: other@example.com\nSubject: news\n\n"
	 "Hello, other@example.com: your mailbox is full, we hear.\n",
	 "text", "gone@example.net", BOUNCE_HARD, "5.1.1"},
	{"not a bounce", "From: friend@example.net\nTo: news@example.org\nSubject: hello\n\n"
	 "Your list is nice. user unknown, mailbox full, 550 5.1.1.\n",
	 "none", NULL, BOUNCE_IGNORE, ""},
};

static void
init(void)
{
	bounce_init();
}

TestSuite(bounce, .init = init);

Test(bounce, formats)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct want *w = &cases[i];
		struct bounce_report *rep = malloc(sizeof(*rep));
		char err[ERR_LEN] = "";

		cr_assert_not_null(rep);
		cr_assert_eq(bounce_parse(w->msg, strlen(w->msg), NULL, rep, err), 0, "%s: %s", w->name, err);
		cr_expect_str_eq(bounce_kind_name(rep->kind), w->kind, "%s: kind", w->name);
		if (w->rcpt == NULL) {
			cr_expect_eq(rep->n, 0, "%s: no results", w->name);
		} else {
			cr_assert_eq(rep->n, 1, "%s: one result, got %d", w->name, rep->n);
			cr_expect_str_eq(rep->r[0].recipient, w->rcpt, "%s: recipient", w->name);
			cr_expect_eq(rep->r[0].action, w->action, "%s: action %s", w->name,
				     bounce_action_name(rep->r[0].action));
			if (w->status[0])
				cr_expect_str_eq(rep->r[0].status, w->status, "%s: status", w->name);
			cr_expect_neq(rep->r[0].reason, NULL, "%s: a reason", w->name);
		}
		free(rep);
	}
}

/* A report over CRLF with a folded field: its value unfolded, the CRs
 * dropped (bounce_scan_field), as the evidence and the rule show. */
Test(bounce, crlf_folded_report_field)
{
	static const char msg[] =
		"From: MAILER-DAEMON@mx.example.org\r\nTo: bounces+tok@news.example.org\r\n"
		"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
		"--B\r\nContent-Type: text/plain\r\n\r\nThe mail system\r\n\r\n"
		"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
		"Final-Recipient: rfc822; gone@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
		"Diagnostic-Code: smtp; 550 5.1.1 <gone@example.net>:\r\n\tRecipient address rejected: User\r\n"
		" unknown\r\n\r\n--B--\r\n";
	struct bounce_report *rep = malloc(sizeof(*rep));
	char err[ERR_LEN] = "";

	cr_assert_not_null(rep);
	cr_assert_eq(bounce_parse(msg, sizeof(msg) - 1, NULL, rep, err), 0, "%s", err);
	cr_assert_eq(rep->n, 1);
	cr_expect_str_eq(rep->r[0].evidence, "550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown");
	cr_expect_eq(rep->r[0].action, BOUNCE_HARD);
	/* The phrase across the fold is read as one. */
	cr_expect_not_null(strstr(rep->r[0].rule, "\"user unknown\""), "rule: %s", rep->r[0].rule);
	free(rep);
}

Test(bounce, two_recipients_two_verdicts)
{
	static const char msg[] = DSN_HEAD
		"--B\nContent-Type: message/delivery-status\n\n"
		"Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n\n"
		"Final-Recipient: rfc822; b@example.net\nAction: failed\nStatus: 4.2.2\n\n--B--\n";
	struct bounce_report *rep = malloc(sizeof(*rep));
	char err[ERR_LEN];

	cr_assert_eq(bounce_parse(msg, sizeof(msg) - 1, NULL, rep, err), 0);
	cr_assert_eq(rep->n, 2);
	cr_expect_eq(rep->r[0].action, BOUNCE_HARD);
	cr_expect_eq(rep->r[1].action, BOUNCE_SOFT);
	free(rep);
}

/*
 * Degenerate input is never a bounce, and what bounce_parse() returns
 * decides its fate: -1 ("not a mail message") is kept for a person, 0 is
 * handled as "not a bounce". The line is whether a header section can be
 * read: nothing at all, a line that is no header and ends no header
 * section, or an mbox "From " line with nothing after it is -1 (it may be
 * something a person must see); an empty header section (a blank line
 * first) or a header with bytes that are not UTF-8 is a message, of kind
 * "none", without a result.
 */
Test(bounce, degenerate_input)
{
	static const struct {
		const char *in;
		int r;		/* what bounce_parse() must return */
	} rows[] = {
		{"", -1},
		{"x", -1},
		{"From \n", -1},
		{"\n\n\n", 0},
		{"Subject: \xff\xfe\n\n\x01", 0},
	};
	struct bounce_report *rep = malloc(sizeof(*rep));
	char err[ERR_LEN];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int r;

		err[0] = '\0';
		r = bounce_parse(rows[i].in, strlen(rows[i].in), NULL, rep, err);
		cr_expect_eq(r, rows[i].r, "'%s': %d, not %d", rows[i].in, r, rows[i].r);
		if (r < 0)
			cr_expect(strstr(err, "not a mail message") != NULL, "'%s': %s", rows[i].in, err);
		else
			cr_expect_str_eq(bounce_kind_name(rep->kind), "none", "'%s'", rows[i].in);
		cr_expect_eq(rep->n, 0, "a result from '%s'", rows[i].in);
	}
	free(rep);
}

Test(bounce, rules_rank)
{
	static const struct {
		const char *text;
		enum bounce_action action;
	} rows[] = {
		{"550 user unknown", BOUNCE_HARD},
		{"550 5.1.1 user unknown (blocked by spam filter)", BOUNCE_SOFT},
		{"mailbox full", BOUNCE_SOFT},
		{"recipient address rejected", BOUNCE_SOFT},
		{"account disabled", BOUNCE_SOFT},
		{"host unknown", BOUNCE_HARD},
	};
	struct bounce_rule_match m;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cr_assert(bounce_rules_match(rows[i].text, strlen(rows[i].text), &m), "%s", rows[i].text);
		cr_expect_eq(m.action, rows[i].action, "%s", rows[i].text);
	}
	cr_expect_not(bounce_rules_match("hello there", 11, &m));
	cr_expect(bounce_rules_temporary("please try again later", 22));
	/* "check the address and try again" is not a temporary failure */
	cr_expect_not(bounce_rules_temporary("check for typos and try again.", 30));
	cr_expect(bounce_rules_provider_gone("invalid recipient. lpn007_416", 29));
	cr_expect(bounce_rules_provider_gone("invalid recipient. ofr_418 [418]", 32));
	cr_expect_not(bounce_rules_provider_gone("refused. lpn105_104", 19));
	cr_expect_not(bounce_rules_provider_gone("xlpn007_416", 11));
}

/* Whether two reports say the same, field by field. */
static void
expect_same_report(const struct bounce_report *a, const struct bounce_report *b, const char *name)
{
	cr_assert_eq(a->n, b->n, "%s: %d results, %d", name, a->n, b->n);
	cr_expect_eq(a->kind, b->kind, "%s", name);
	cr_expect_str_eq(a->from, b->from, "%s", name);
	cr_assert_eq(a->ntargets, b->ntargets, "%s", name);
	for (int k = 0; k < a->ntargets; k++)
		cr_expect_str_eq(a->targets[k], b->targets[k], "%s", name);
	for (int k = 0; k < a->n; k++) {
		cr_expect_str_eq(a->r[k].recipient, b->r[k].recipient, "%s", name);
		cr_expect_eq(a->r[k].action, b->r[k].action, "%s", name);
		cr_expect_str_eq(a->r[k].status, b->r[k].status, "%s", name);
		cr_expect_str_eq(a->r[k].reason, b->r[k].reason, "%s", name);
		cr_expect_str_eq(a->r[k].evidence, b->r[k].evidence, "%s", name);
		cr_expect_str_eq(a->r[k].rule, b->r[k].rule, "%s", name);
	}
}

/* One parser reused from message to message gives what a new one gives. */
Test(bounce, parser_reuse)
{
	struct bounce_parser *bp = bounce_parser_new();
	struct bounce_report *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char err[ERR_LEN];

	cr_assert(a && b);
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			const char *msg = cases[i].msg;

			cr_assert_eq(bounce_parse(msg, strlen(msg), NULL, a, err), 0, "%s", err);
			cr_assert_eq(bounce_parse_with(bp, msg, strlen(msg), NULL, b, err), 0, "%s", err);
			expect_same_report(a, b, cases[i].name);
		}
	/* A message in a buffer of the caller's, which may be rewritten:
	 * the same report, and only its header block changed. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].msg);
		char *copy = strdup(cases[i].msg);
		const char *body = strstr(cases[i].msg, "\n\n");

		if (body == NULL)
			body = strstr(cases[i].msg, "\n\r\n");
		cr_assert(copy);
		cr_assert_eq(bounce_parse(cases[i].msg, n, NULL, a, err), 0, "%s", err);
		cr_assert_eq(bounce_parse_buffer(bp, copy, n, NULL, b, err), 0, "%s", err);
		expect_same_report(a, b, cases[i].name);
		if (body)
			cr_expect_str_eq(copy + (body - cases[i].msg), body, "%s: the body is left as it was",
					 cases[i].name);
		free(copy);
	}
	{
		/* One with no MIME field: nothing moved before its body. */
		static const char plain[] = "From: MAILER-DAEMON@mx.example.org\nSubject: failure notice\n\n"
					    "<gone@example.net>:\n550 5.1.1 user unknown\n";
		char copy[sizeof(plain)];
		struct bounce_parser *fresh = bounce_parser_new();	/* its buffers not yet allocated */

		memcpy(copy, plain, sizeof(plain));
		cr_assert_eq(bounce_parse(plain, sizeof(plain) - 1, NULL, a, err), 0, "%s", err);
		cr_assert_eq(bounce_parse_buffer(fresh, copy, sizeof(plain) - 1, NULL, b, err), 0, "%s", err);
		expect_same_report(a, b, "no MIME field");
		cr_expect_eq(b->n, 1);
		bounce_parser_free(fresh);
	}
	/* A message that cannot be parsed leaves the parser usable. */
	cr_expect_eq(bounce_parse_with(bp, "", 0, NULL, b, err), bounce_parse("", 0, NULL, a, err));
	cr_assert_eq(bounce_parse_with(bp, cases[0].msg, strlen(cases[0].msg), NULL, b, err), 0, "%s", err);
	cr_expect_eq(b->n, 1);
	bounce_parser_free(bp);
	free(a);
	free(b);
}


/*
 * A text/plain message that is not encoded (no MIME field; or one
 * Content-Type of text/plain and a Content-Transfer-Encoding of no
 * encoding) is read without GMime, its body being its text (RFC 2045
 * 5.2, 6.1); the same message with a Content-Disposition more is read
 * through GMime. Both say the same: short and long bodies, a recipient
 * past the first 4096 bytes, CRLF lines, a last line without its
 * newline, one past MAX_TEXT (not read by either), a charset to convert,
 * a folded Content-Type with a comment.
 */
Test(bounce, plain_message_read_as_gmime_reads_it)
{
	static const char head[] =
		"From: MAILER-DAEMON@mx.example.org\nTo: bounces+tok@news.example.org\n"
		"Subject: failure notice\nMIME-Version: 1.0\n";
	static const char intro[] =
		"Hi. This is the qmail-send program at mx.example.org.\n"
		"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
		"This is a permanent error; I've given up. Sorry it didn't work out.\n\n";
	static const char rcpt[] = "<gone@example.net>:\n550 5.1.1 <gone@example.net>: user unknown \xe4";
	static const char *const fields[] = {
		"",
		"Content-Type: text/plain\n",
		"Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n",
		"Content-Type: (a comment) TEXT/Plain;\n\tcharset=\"iso-8859-1\"\n",
		"Content-Transfer-Encoding: 7bit\n",
		/* Encoded (its body is not base64: what GMime decodes of it
		 * names nobody): read through GMime either way. */
		"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n",
	};
	const size_t encoded = sizeof(fields) / sizeof(fields[0]) - 1;
	static const struct {
		const char *name;
		size_t filler;	/* bytes of "> quoted line\n" before the recipient */
		bool crlf, last_newline, first;	/* first: the recipient's lines open the body */
	} rows[] = {
		{"short", 0, false, true, false},
		{"crlf", 0, true, true, false},
		{"no last newline", 0, false, false, false},
		{"recipient first", 0, false, true, true},
		{"past 4096 bytes", 6000, false, true, false},
		{"past 4096 bytes, crlf", 6000, true, false, false},
		{"past MAX_TEXT", 300 * 1024, false, true, false},
	};
	struct bounce_report *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char err[ERR_LEN], name[128];

	cr_assert(a && b);
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			struct buf plain, typed, body;

			snprintf(name, sizeof(name), "%s, fields %zu", rows[i].name, f);
			buf_init(&plain);
			buf_init(&typed);
			buf_init(&body);
			if (rows[i].first)
				buf_adds(&body, "550 5.1.1 <gone@example.net>: user unknown\n\n");
			buf_adds(&body, intro);
			while (body.len < sizeof(intro) - 1 + rows[i].filler)
				buf_adds(&body, "> a line of the message, as it was written\n");
			if (!rows[i].first)
				buf_adds(&body, rcpt);
			if (rows[i].last_newline)
				buf_adds(&body, "\n");
			buf_adds(&plain, head);
			buf_adds(&plain, fields[f]);
			buf_adds(&plain, "\n");
			buf_adds(&typed, head);
			buf_adds(&typed, fields[f]);
			buf_adds(&typed, "Content-Disposition: inline\n\n");
			buf_add(&plain, body.s, body.len);
			buf_add(&typed, body.s, body.len);
			if (rows[i].crlf) {
				struct buf *both[] = {&plain, &typed};

				for (int k = 0; k < 2; k++) {
					struct buf t;

					buf_init(&t);
					for (size_t j = 0; j < both[k]->len; j++) {
						if (both[k]->s[j] == '\n')
							buf_addc(&t, '\r');
						buf_addc(&t, both[k]->s[j]);
					}
					buf_free(both[k]);
					*both[k] = t;
				}
			}
			cr_assert_eq(bounce_parse(plain.s, plain.len, NULL, a, err), 0, "%s: %s", name, err);
			cr_assert_eq(bounce_parse(typed.s, typed.len, NULL, b, err), 0, "%s: %s", name, err);
			expect_same_report(a, b, name);
			if (f == encoded) {
				/* the same, whatever it is */
			} else if (rows[i].first) {
				cr_expect_geq(a->n, 1, "%s: %d results", name, a->n);
			} else if (rows[i].filler < 256 * 1024) {
				cr_assert_eq(a->n, 1, "%s: %d results", name, a->n);
				cr_expect_str_eq(a->r[0].recipient, "gone@example.net", "%s", name);
				cr_expect_eq(a->r[0].action, BOUNCE_HARD, "%s", name);
			} else {
				cr_expect_eq(a->n, 0, "%s: a recipient past MAX_TEXT is not read", name);
			}
			buf_free(&plain);
			buf_free(&typed);
			buf_free(&body);
		}
	free(a);
	free(b);
}

/*
 * A bounce in HTML only is read as plain lines: tags dropped (a '>' ends
 * a tag even inside a quoted attribute), <p>, <br>, <div> and <tr> start a
 * line, &lt; &gt; &nbsp; decoded, other entities and a '>' in the text
 * left as they are.
 */
Test(bounce, html_only_bounce_read_as_lines)
{
	static const char msg[] =
		"From: postmaster@mx.example.org\nTo: bounces+tok@news.example.org\n"
		"Subject: Undeliverable: news\nMIME-Version: 1.0\nContent-Type: text/html; charset=us-ascii\n\n"
		"<html><body><p>Delivery has failed to these recipients or groups:</p>"
		"<div class=\"a>b\">&lt;gone@example.net&gt;:&nbsp;550 5.1.1 user unknown &amp; 1 > 0 &lt</div>"
		"<p>x</p></body></html>\n";
	struct bounce_report *rep = malloc(sizeof(*rep));
	char err[ERR_LEN];

	cr_assert(rep);
	cr_assert_eq(bounce_parse(msg, sizeof(msg) - 1, NULL, rep, err), 0, "%s", err);
	cr_assert_eq(rep->n, 1);
	cr_expect_str_eq(rep->r[0].recipient, "gone@example.net");
	cr_expect_eq(rep->r[0].action, BOUNCE_HARD);
	cr_expect_str_eq(rep->r[0].evidence, "b\"><gone@example.net>: 550 5.1.1 user unknown &amp; 1 > 0 &lt");
	free(rep);
}

/*
 * A text part in a charset other than ASCII or UTF-8 is read in UTF-8, as
 * GMime's g_mime_text_part_get_text() gives it: a byte that starts no
 * character is dropped, an incomplete character at the end too, and a
 * charset with no converter is read as it is. The evidence shows it
 * (each byte of UTF-8 there is a '?'); the same with one parser reused
 * over more charsets than it keeps converters for.
 */
Test(bounce, text_in_other_charsets)
{
	static const char intro[] =
		"Hi. This is the qmail-send program at mx.example.org.\n"
		"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
		"This is a permanent error; I've given up. Sorry it didn't work out.\n\n<gone@example.net>:\n";
	static const struct {
		const char *charset, *cte, *line, *evidence;
	} rows[] = {
		{"iso-8859-1", NULL, "550 5.1.1 <gone@example.net>: Empf\xe4nger unbekannt, user unknown",
		 "550 5.1.1 <gone@example.net>: Empf??nger unbekannt, user unknown"},
		{"windows-1252", NULL, "550 5.1.1 <gone@example.net>: \x81user\x93 unknown \x80",
		 "550 5.1.1 <gone@example.net>: user??? unknown ???"},
		{"iso-2022-jp", NULL, "550 5.1.1 <gone@example.net>: user unknown \x1b$B$3$l$O\x1b(B ok",
		 "550 5.1.1 <gone@example.net>: user unknown ????????? ok"},
		{"shift_jis", NULL, "550 5.1.1 <gone@example.net>: user unknown \x82\xa0\x82 \xff\xfe end",
		 "550 5.1.1 <gone@example.net>: user unknown ???  end"},
		{"gbk", "base64", "550 5.1.1 <gone@example.net>: user unknown \xc4\xe3\xba\xc3 \xc4",
		 "550 5.1.1 <gone@example.net>: user unknown ??????"},
		{"x-no-such-charset", NULL, "550 5.1.1 <gone@example.net>: user unknown \xe4\xf6",
		 "550 5.1.1 <gone@example.net>: user unknown ??"},
		{"iso-8859-2", NULL, "550 5.1.1 <gone@example.net>: user unknown \xb1", NULL},
		{"iso-8859-5", NULL, "550 5.1.1 <gone@example.net>: user unknown \xb1", NULL},
		{"iso-8859-7", NULL, "550 5.1.1 <gone@example.net>: user unknown \xb1", NULL},
		{"koi8-r", NULL, "550 5.1.1 <gone@example.net>: user unknown \xb1", NULL},
		{"windows-1251", NULL, "550 5.1.1 <gone@example.net>: user unknown \xb1", NULL},
	};
	struct bounce_parser *bp = bounce_parser_new();
	struct bounce_report *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char err[ERR_LEN];

	cr_assert(a && b);
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			struct buf msg, body;

			buf_init(&msg);
			buf_init(&body);
			buf_adds(&body, intro);
			buf_adds(&body, rows[i].line);
			buf_adds(&body, "\n");
			buf_printf(&msg, "From: MAILER-DAEMON@mx.example.org\nTo: bounces+tok@news.example.org\n"
				   "Subject: failure notice\nMIME-Version: 1.0\nContent-Type: text/plain; charset=%s\n",
				   rows[i].charset);
			if (rows[i].cte) {
				gchar *b64 = g_base64_encode((const guchar *)body.s, body.len);

				buf_printf(&msg, "Content-Transfer-Encoding: %s\n\n%s\n", rows[i].cte, b64);
				g_free(b64);
			} else {
				buf_adds(&msg, "\n");
				buf_add(&msg, body.s, body.len);
			}
			cr_assert_eq(bounce_parse(msg.s, msg.len, NULL, a, err), 0, "%s: %s", rows[i].charset, err);
			cr_assert_eq(bounce_parse_with(bp, msg.s, msg.len, NULL, b, err), 0, "%s: %s", rows[i].charset, err);
			expect_same_report(a, b, rows[i].charset);
			cr_assert_eq(a->n, 1, "%s: %d results", rows[i].charset, a->n);
			if (rows[i].evidence)
				cr_expect_str_eq(a->r[0].evidence, rows[i].evidence, "%s", rows[i].charset);
			buf_free(&msg);
			buf_free(&body);
		}
	bounce_parser_free(bp);
	free(a);
	free(b);
}

/*
 * Text that is not ASCII by a NUL (UTF-16) or an ISO 2022 shift, with no
 * byte above 0x7f, is converted from its charset, not read as ASCII.
 */
Test(bounce, ascii_bytes_in_other_charsets)
{
	static const char text[] =
		"Hi. This is the qmail-send program at mx.example.org.\n"
		"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
		"This is a permanent error; I've given up. Sorry it didn't work out.\n\n<gone@example.net>:\n"
		"550 5.1.1 <gone@example.net>: user unknown here\n";
	struct bounce_report *r = malloc(sizeof(*r));
	struct buf msg;
	char err[ERR_LEN];

	cr_assert(r);
	/* UTF-16LE: every other byte a NUL. */
	buf_init(&msg);
	buf_adds(&msg, "From: MAILER-DAEMON@mx.example.org\nTo: bounces+tok@news.example.org\n"
		 "Subject: failure notice\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-16le\n\n");
	for (const char *p = text; *p; p++) {
		buf_addc(&msg, *p);
		buf_addc(&msg, '\0');
	}
	cr_assert_eq(bounce_parse(msg.s, msg.len, NULL, r, err), 0, "%s", err);
	cr_assert_eq(r->n, 1, "utf-16le: %d results", r->n);
	cr_expect_str_eq(r->r[0].evidence, "550 5.1.1 <gone@example.net>: user unknown here");
	buf_free(&msg);
	/* An ISO 2022 shift amid ASCII (here ISO-2022-KR's, with no
	 * designation): the text is converted, not read as the ASCII it is
	 * not: a shift out takes what follows as two-byte characters, a shift
	 * in is dropped. (The NUL above, ISO-2022-JP's escape in
	 * text_in_other_charsets.) */
	for (int i = 0; i < 2; i++) {
		buf_init(&msg);
		buf_printf(&msg, "From: MAILER-DAEMON@mx.example.org\nTo: bounces+tok@news.example.org\n"
			   "Subject: failure notice\nMIME-Version: 1.0\nContent-Type: text/plain; charset=iso-2022-kr\n\n"
			   "%.*s550 5.1.1 <gone@example.net>: user %c unknown\n"
			   "the line after it, for the shift to be in the middle of the text\n",
			   (int)(sizeof(text) - 49), text, i == 0 ? '\x0e' : '\x0f');
		cr_assert_eq(bounce_parse(msg.s, msg.len, NULL, r, err), 0, "%s", err);
		cr_assert_eq(r->n, 1);
		if (i == 0)
			cr_expect_str_neq(r->r[0].evidence, "550 5.1.1 <gone@example.net>: user ? unknown");
		else
			cr_expect_str_eq(r->r[0].evidence, "550 5.1.1 <gone@example.net>: user  unknown");
		buf_free(&msg);
	}
	free(r);
}

/*
 * A text part with no body (its header block runs into the next boundary)
 * is read as no text: the report is read from its other parts. (The
 * fuzzer found its text buffer looked at before it held anything.)
 */
Test(bounce, text_part_without_body)
{
	static const char msg[] =
		"From: MAILER-DAEMON@mx.example.org\nTo: bounces+tok@news.example.org\n"
		"Subject: Undelivered Mail\nMIME-Version: 1.0\n"
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\n\n"
		"--b1\nContent-Type: text/plain; charset=us-ascii\nContent-Description: Notification\n"
		"This message could not be delivered.\n"
		"--b1\nContent-Type: message/delivery-status\n\n"
		"Reporting-MTA: dns; mx.example.org\n\n"
		"Final-Recipient: rfc822; gone@example.net\nAction: failed\nStatus: 5.1.1\n"
		"Diagnostic-Code: smtp; 550 5.1.1 user unknown\n\n"
		"--b1--\n";
	struct bounce_report *r = malloc(sizeof(*r));
	char err[ERR_LEN];

	cr_assert(r);
	cr_assert_eq(bounce_parse(msg, sizeof(msg) - 1, NULL, r, err), 0, "%s", err);
	cr_assert_eq(r->n, 1);
	cr_expect_str_eq(r->r[0].recipient, "gone@example.net");
	cr_expect_str_eq(r->r[0].status, "5.1.1");
	free(r);
}

/*
 * A report's parts are read as GMime reads their Content-Type field
 * (bounce/parse.c reads the parts it knows by the type GMime's parser gave
 * them, without a content type of their own): a field in another case,
 * folded, with a comment, a parameter or an encoded word, given twice, or
 * unreadable, gives what the same part gives with the field GMime would
 * make of it; the charset of a text part still converts its text.
 */
static void
part_report_qp(const char *text_ct, const char *dsn_ct, const char *extra, bool qp, struct bounce_report *rep)
{
	struct buf msg;
	char err[ERR_LEN];

	buf_init(&msg);
	buf_printf(&msg,
		   "From: MAILER-DAEMON@mx.example.org\nTo: bounces+tok@news.example.org\n"
		   "Subject: Undelivered Mail\nMIME-Version: 1.0\n"
		   "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\n\n"
		   "--b1\n%s\n"
		   "The mail system: <gone@example.net>: host mx.example.net said:\n"
		   "550 5.1.1 <gone@example.net>: Empf\xe4nger unbekannt, user unknown\n\n"
		   "--b1\n%s\n"
		   "Reporting-MTA: dns; mx.example.org\n\n"
		   "Final-Recipient: rfc822; gone@example.net\nAction: %s\nStatus: %s\n"
		   "Diagnostic-Code: smtp; %s\n\n"
		   "%s"
		   "--b1\nContent-Type: text/rfc822-headers\n\n"
		   "From: news@example.org\nTo: gone@example.net\nSubject: News\n\n"
		   "--b1--\n", text_ct, dsn_ct, qp ? "fail=65d" : "failed", qp ? "5=2E2=2E2" : "5.2.2",
		   qp ? "552 5=2E2=2E2 mailbox full" : "552 5.2.2 mailbox full", extra);
	cr_assert_eq(bounce_parse(msg.s, msg.len, NULL, rep, err), 0, "%s", err);
	buf_free(&msg);
}

static void
part_report(const char *text_ct, const char *dsn_ct, const char *extra, struct bounce_report *rep)
{
	part_report_qp(text_ct, dsn_ct, extra, false, rep);
}

Test(bounce, part_types_read_as_gmime_reads_them)
{
	static const char plain[] = "Content-Type: text/plain\n", dsn[] = "Content-Type: message/delivery-status\n",
		ignored[] = "Content-Type: application/octet-stream\n";
	static const struct {
		const char *name, *text_ct, *dsn_ct;
		/* 0: read as the plain fields are; 1: the DSN part not read;
		 * 2: the text not read (rows that change the text ignore the
		 * DSN part, whose status would decide otherwise) */
		int like;
	} rows[] = {
		{"dsn upper case", plain, "Content-Type: MESSAGE/Delivery-Status\n", 0},
		{"dsn folded", plain, "Content-Type:\n\tmessage/delivery-status\n", 0},
		{"dsn comment", plain, "Content-Type: (the report) message/delivery-status (v1)\n", 0},
		{"dsn parameter", plain, "Content-Type: message/delivery-status;x=1\n", 0},
		{"dsn encoded word", plain, "Content-Type: =?us-ascii?q?message/delivery-status?=\n", 0},
		{"dsn global", plain, "Content-Type: message/global-delivery-status\n", 0},
		{"dsn given twice, last", plain, "Content-Type: text/plain\nContent-Type: message/delivery-status\n", 0},
		{"dsn given twice, first", plain, "Content-Type: message/delivery-status\nContent-Type: image/png\n", 1},
		{"dsn unreadable", plain, "Content-Type: message delivery-status\n", 1},
		{"dsn longer subtype", plain, "Content-Type: message/delivery-statuses\n", 1},
		{"text unreadable", "Content-Type: text plain\n", ignored, 2},
		{"text encoded word", "Content-Type: =?us-ascii?q?text/plain?=\n", ignored, 1},
		{"text given twice, last", "Content-Type: image/png\nContent-Type: text/plain\n", ignored, 1},
		{"text given twice, first", "Content-Type: text/plain\nContent-Type: image/png\n", ignored, 2},
		{"text folded", "Content-Type: text/\n plain\n", ignored, 1},
		{"text with fields not read", "Content-Type: text/plain\nContent-Description: =?utf-8?q?R=C3=A9sum=C3=A9?=\n"
		 "Content-Id: <x@example.org>\nContent-Location: here\n", ignored, 1},
	};
	struct bounce_report *base = malloc(sizeof(*base)), *no_dsn = malloc(sizeof(*no_dsn)),
		*no_text = malloc(sizeof(*no_text)), *r = malloc(sizeof(*r));

	cr_assert(base && no_dsn && no_text && r);
	part_report(plain, dsn, "", base);
	part_report(plain, ignored, "", no_dsn);
	part_report(ignored, ignored, "", no_text);
	/* The three read differently: each part is read, or not. */
	cr_assert_eq(base->n, 1);
	cr_expect_str_eq(base->r[0].status, "5.2.2");
	cr_assert_eq(no_dsn->n, 1);
	cr_expect_str_eq(no_dsn->r[0].status, "5.1.1");
	cr_expect(no_text->n == 0 || strcmp(no_text->r[0].evidence, no_dsn->r[0].evidence) != 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		part_report(rows[i].text_ct, rows[i].dsn_ct, "", r);
		expect_same_report(r, rows[i].like == 0 ? base : rows[i].like == 1 ? no_dsn : no_text, rows[i].name);
	}

	/* The DSN part's Content-Transfer-Encoding, quoted-printable however
	 * GMime reads it (an encoded word too), or none. */
	{
		static const char *const qp[] = {
			"Content-Transfer-Encoding: quoted-printable\n",
			"Content-Transfer-Encoding: Quoted-Printable (for =)\n",
			"Content-Transfer-Encoding:\n quoted-printable\n",
			"Content-Transfer-Encoding: =?us-ascii?q?quoted-printable?=\n",
			"Content-Transfer-Encoding: 7bit\nContent-Transfer-Encoding: quoted-printable\n",
		}, *none[] = {
			"Content-Transfer-Encoding: quoted-printable-x\n",
			"Content-Transfer-Encoding: quoted-printable\nContent-Transfer-Encoding: 7bit\n",
		};
		char ct[256];

		for (size_t i = 0; i < sizeof(qp) / sizeof(qp[0]); i++) {
			snprintf(ct, sizeof(ct), "%s%s", dsn, qp[i]);
			part_report_qp(plain, ct, "", true, r);
			expect_same_report(r, base, qp[i]);
		}
		for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
			snprintf(ct, sizeof(ct), "%s%s", dsn, none[i]);
			part_report_qp(plain, ct, "", true, r);
			cr_expect(r->n != 1 || strcmp(r->r[0].status, "5.2.2") != 0 ||
				  strcmp(r->r[0].evidence, base->r[0].evidence) != 0, "%s read as quoted-printable", none[i]);
		}
	}

	/* The text's charset: converted when given (two bytes of UTF-8 for
	 * the a-umlaut), read as it is when not, and when the field is not
	 * in its plain form. */
	part_report("Content-Type: text/plain; charset=iso-8859-1\n", ignored, "", r);
	cr_expect_str_eq(r->r[0].evidence, "550 5.1.1 <gone@example.net>: Empf??nger unbekannt, user unknown");
	part_report("Content-Type: text/plain;\n charset=\"ISO-8859-1\" (latin)\n", ignored, "", r);
	cr_expect_str_eq(r->r[0].evidence, "550 5.1.1 <gone@example.net>: Empf??nger unbekannt, user unknown");
	part_report("Content-Type: text/plain; charset=us-ascii\nContent-Type: text/plain; charset=iso-8859-1\n",
		    ignored, "", r);
	cr_expect_str_eq(r->r[0].evidence, "550 5.1.1 <gone@example.net>: Empf??nger unbekannt, user unknown");
	part_report(plain, ignored, "", r);
	cr_expect_str_eq(r->r[0].evidence, "550 5.1.1 <gone@example.net>: Empf?nger unbekannt, user unknown");

	/* A second text part, an attachment, is not the report's text; the
	 * first is, whatever its disposition. */
	part_report(plain, ignored, "--b1\nContent-Type: text/plain\nContent-Disposition: attachment\n\n"
		    "<also@example.net>: host mx.example.net said:\n550 5.1.1 <also@example.net>: user unknown\n\n", r);
	expect_same_report(r, no_dsn, "an attached second text");
	part_report("Content-Type: text/plain\nContent-Disposition: attachment; filename=x.txt\n", ignored, "", r);
	expect_same_report(r, no_dsn, "an attached first text");
	part_report(plain, ignored, "--b1\nContent-Type: text/plain\nContent-Disposition: inline\n"
		    "Content-Disposition: ATTACHMENT\n\n<also@example.net>: host mx.example.net said:\n"
		    "550 5.1.1 <also@example.net>: user unknown\n\n", r);
	expect_same_report(r, no_dsn, "a second text attached by its last field");
	part_report(plain, ignored, "--b1\nContent-Type: text/plain\nContent-Disposition: inline\n\n"
		    "<also@example.net>: host mx.example.net said:\n550 5.1.1 <also@example.net>: user unknown\n\n", r);
	cr_expect_eq(r->n, 2, "a second text inline is read: %d results", r->n);
	free(base);
	free(no_dsn);
	free(no_text);
	free(r);
}

/*
 * A multipart's boundary is read as GMime reads its Content-Type field
 * (bounce/parse.c parses a value that is ASCII with no encoded word as it
 * stands, GMime decodes it first): folded, with comments, in RFC 2231
 * pieces, with an encoded word or an 8-bit byte in it. The multipart is
 * nested (at the top, a body whose boundary is not found is read as the
 * report's text, and gives the same); @ct is its field's value, @b the
 * boundary its body's lines give.
 */
static bool
multipart_read(const char *ct, const char *b)
{
	struct bounce_report *r = malloc(sizeof(*r));
	struct buf msg;
	char err[ERR_LEN];
	bool read;

	cr_assert(r);
	buf_init(&msg);
	buf_printf(&msg,
		   "From: MAILER-DAEMON@mx.example.org\nTo: bounces+tok@news.example.org\n"
		   "Subject: Undelivered Mail\nMIME-Version: 1.0\n"
		   "Content-Type: multipart/mixed; boundary=\"outer\"\n\n"
		   "--outer\nContent-Type: %s\n\n"
		   "--%s\nContent-Type: message/delivery-status\n\n"
		   "Reporting-MTA: dns; mx.example.org\n\n"
		   "Final-Recipient: rfc822; gone@example.net\nAction: failed\nStatus: 5.2.2\n\n"
		   "--%s--\n--outer--\n", ct, b, b);
	cr_assert_eq(bounce_parse(msg.s, msg.len, NULL, r, err), 0, "%s", err);
	read = r->n == 1 && strcmp(r->r[0].status, "5.2.2") == 0;
	buf_free(&msg);
	free(r);
	return read;
}

Test(bounce, multipart_boundaries_read_as_gmime_reads_them)
{
	static const struct {
		const char *ct, *b;
		bool read;	/* the DSN part is found: the boundary is */
	} rows[] = {
		{"multipart/report; report-type=delivery-status; boundary=\"b1\"", "b1", true},
		{"multipart/report;\n\treport-type=delivery-status;\n\tboundary=\"b1\"", "b1", true},
		{"MULTIPART/Report (a report); BOUNDARY=\"b1\" (its boundary)", "b1", true},
		{"multipart/report; boundary=b1 (not b1 to GMime)", "b1", false},
		{"multipart/report; boundary*0=\"b\"; boundary*1=\"1\"", "b1", true},
		{"multipart/report; boundary*=us-ascii''b%31", "b1", true},
		{"multipart/report; boundary=\"b1\"  ", "b1", true},
		{"multipart/report; boundary=\"b\n 1\"", "b 1", true},
		{"multipart/report; boundary=\"b1\"; x=\"caf\xe9\"", "b1", true},
		/* GMime decodes an encoded word in a value; one in the field
		 * is decoded before the field is read (here the boundary it
		 * reads is empty); an 8-bit byte is read as UTF-8 from the
		 * charset GMime guesses. */
		{"multipart/report; boundary=\"=?us-ascii?q?b1?=\"", "b1", true},
		{"multipart/report; boundary=\"=?us-ascii?q?b1?=\"", "=?us-ascii?q?b1?=", false},
		{"multipart/report; x==?us-ascii?q?1;_boundary=b2?=; boundary=b1", "b1", false},
		{"multipart/report; boundary=\"x\xe9y\"", "x\xe9y", false},
		{"multipart/report; boundary=\"x\xe9y\"", "x\xc3\xa9y", true},
		{"multipart/report; boundary=\"b2\"", "b1", false},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		cr_expect_eq(multipart_read(rows[i].ct, rows[i].b), rows[i].read, "%s, lines --%s: %s", rows[i].ct,
			     rows[i].b, rows[i].read ? "not read" : "read");
}

/* --- acting on a real store --- */

/* The VERP address bounces+TOKEN@news.example.org of a token for @id. */
static void
verp_to(const struct store_keys *k, enum token_purpose p, int64_t id, int64_t mailing, char to[128])
{
	char tok[TOKEN_LEN + 1];

	token_for(k, p, id, mailing, tok);
	cr_assert_eq(fmt(to, 128, "bounces+%s@news.example.org", tok), 0);
}

static const char *
verp_dsn(char *buf, size_t n, const char *to, const char *rcpt, const char *status, const char *diag)
{
	snprintf(buf, n,
		 "From: MAILER-DAEMON@mx.example.net\nTo: %s\nSubject: Undelivered Mail Returned to Sender\n"
		 "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
		 "--B\nContent-Type: message/delivery-status\n\n"
		 "Final-Recipient: rfc822; %s\nAction: failed\nStatus: %s\nDiagnostic-Code: smtp; %s\n\n--B--\n",
		 to, rcpt, status, diag);
	return buf;
}

static int64_t
enrol(struct scratch *s, const char *email)
{
	struct purchase p = {.email = email, .source = "cli"};
	enum enroll_result res;
	int64_t id = 0;
	char err[ERR_LEN];

	cr_assert_eq(store_enroll(s->st, &p, &res, &id, err), STORE_OK, "%s", err);
	return id;
}

static enum store_status
run(struct scratch *s, const struct bounce_policy *pol, const char *msg, struct bounce_outcome *out)
{
	struct bounce_report *rep = malloc(sizeof(*rep));
	char err[ERR_LEN];
	enum store_status st;

	cr_assert_eq(bounce_parse(msg, strlen(msg), NULL, rep, err), 0, "%s", err);
	st = bounce_act(s->st, s->keys, pol, rep, out, err);
	free(rep);
	return st;
}

Test(bounce, verp_hard_deletes_and_forged_deletes_nobody)
{
	struct bounce_policy pol = {.require_verp = true, .soft_threshold = 3, .soft_window_days = 30};
	struct scratch s;
	struct subscriber sub;
	struct bounce_outcome out;
	char to[128], msg[2048], err[ERR_LEN];
	bool has;
	int64_t a, b;

	scratch_open(&s);
	a = enrol(&s, "dead@example.net");
	b = enrol(&s, "alive@example.net");

	/* A forged bounce: no token, or a token of the wrong purpose. */
	verp_dsn(msg, sizeof(msg), "bounces@news.example.org", "alive@example.net", "5.1.1", "550 5.1.1 User unknown");
	cr_expect_eq(run(&s, &pol, msg, &out), STORE_OK);
	verp_to(s.keys, TOKEN_UNSUBSCRIBE, b, 1, to);
	verp_dsn(msg, sizeof(msg), to, "alive@example.net", "5.1.1", "550 5.1.1 User unknown");
	cr_expect_eq(run(&s, &pol, msg, &out), STORE_OK);
	cr_expect_eq(store_subscriber_get(s.st, b, &sub, err), STORE_OK, "a forged bounce deleted nobody");

	/* A real one. */
	verp_to(s.keys, TOKEN_BOUNCE, a, 1, to);
	verp_dsn(msg, sizeof(msg), to, "dead@example.net", "5.1.1", "550 5.1.1 User unknown");
	cr_expect_eq(run(&s, &pol, msg, &out), STORE_OK);
	cr_expect_eq(out.subscriber, a);
	cr_expect_eq(store_subscriber_get(s.st, a, &sub, err), STORE_NOTFOUND, "the dead address is deleted");
	cr_expect_eq(store_suppress_has(s.st, "dead@example.net", &has, err), STORE_OK);
	cr_expect(has, "and suppressed");
	cr_expect_eq(store_subscriber_get(s.st, b, &sub, err), STORE_OK, "the other stays");
	scratch_close(&s);
}

Test(bounce, soft_score_one_point_a_day_then_hard)
{
	struct bounce_policy pol = {.require_verp = true, .soft_threshold = 2, .soft_window_days = 30};
	struct scratch s;
	struct subscriber sub;
	struct bounce_outcome out;
	char to[128], msg[2048], err[ERR_LEN];
	int64_t a;
	int score;
	bool deleted;

	scratch_open(&s);
	a = enrol(&s, "full@example.net");
	verp_to(s.keys, TOKEN_BOUNCE, a, 1, to);
	verp_dsn(msg, sizeof(msg), to, "full@example.net", "4.2.2", "452 4.2.2 Mailbox full");
	cr_expect_eq(run(&s, &pol, msg, &out), STORE_OK);
	cr_expect_eq(run(&s, &pol, msg, &out), STORE_OK);
	cr_expect_eq(store_bounce_score(s.st, a, 30, &score, err), STORE_OK);
	cr_expect_eq(score, 1, "two bounces on one day count once");
	cr_expect_eq(store_subscriber_get(s.st, a, &sub, err), STORE_OK);

	/* With a threshold of one point, a soft bounce deletes. */
	pol.soft_threshold = 1;
	cr_expect_eq(run(&s, &pol, msg, &out), STORE_OK);
	cr_expect_eq(store_subscriber_get(s.st, a, &sub, err), STORE_NOTFOUND, "over the threshold: deleted");
	cr_expect_eq(store_bounce_soft(s.st, a, "4.2.2", "mailbox-full", 1, 30, &score, &deleted, err), STORE_OK,
		     "a bounce for someone gone is not an error");
	cr_expect_not(deleted);
	scratch_close(&s);
}

Test(bounce, unsubscribe_by_mail)
{
	struct bounce_policy pol = {.require_verp = true, .soft_threshold = 3, .soft_window_days = 30};
	struct scratch s;
	struct subscriber sub;
	struct bounce_outcome out;
	char tok[TOKEN_LEN + 1], msg[1024], err[ERR_LEN];
	int64_t a;

	scratch_open(&s);
	a = enrol(&s, "leaving@example.net");
	token_for(s.keys, TOKEN_UNSUBSCRIBE, a, 1, tok);
	snprintf(msg, sizeof(msg), "From: leaving@example.net\nTo: unsubscribe+%s@news.example.org\n"
		 "Subject: unsubscribe\n\n", tok);
	cr_expect_eq(run(&s, &pol, msg, &out), STORE_OK);
	cr_expect_eq(store_subscriber_get(s.st, a, &sub, err), STORE_NOTFOUND);
	scratch_close(&s);
}

/* The audit event of subscriber @id, as "event source detail" ("-" for none). */
static void
audit_of(struct scratch *s, int64_t id, char *out, size_t n)
{
	sqlite3 *db;
	sqlite3_stmt *q;

	snprintf(out, n, "none");
	cr_assert_eq(sqlite3_open(s->db, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT event, source, coalesce(detail, '-') FROM audit"
					" WHERE subscriber_id = ?1 AND event <> 'enrolled' ORDER BY id DESC",
					-1, &q, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_bind_int64(q, 1, id);
	if (sqlite3_step(q) == SQLITE_ROW)
		snprintf(out, n, "%s %s %s", sqlite3_column_text(q, 0), sqlite3_column_text(q, 1),
			 sqlite3_column_text(q, 2));
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static int
keep_summary(const struct mailing_summary *m, void *arg)
{
	struct mailing_summary *want = arg;

	if (m->id == want->id)
		*want = *m;
	return 0;
}

/*
 * A mail to unsubscribe+TOKEN@ is audited as what it is (source "mail",
 * detail "mailto"), a VERP bounce as a bounce; each is counted on the
 * mailing its token names, though a newer one went out since.
 */
Test(bounce, mailto_audited_as_mail_and_counted_on_its_mailing)
{
	struct bounce_policy pol = {.require_verp = true, .soft_threshold = 3, .soft_window_days = 30};
	struct scratch s;
	struct bounce_outcome out;
	struct mailing_summary m1 = {0}, m2 = {0};
	char tok[TOKEN_LEN + 1], to[128], msg[2048], err[ERR_LEN], audit[128];
	int64_t ids[3];
	bool existed;
	long long added;

	scratch_open(&s);
	ids[0] = enrol(&s, "leaving@example.net");
	ids[1] = enrol(&s, "dead@example.net");
	ids[2] = enrol(&s, "stays@example.net");
	cr_assert_eq(store_mailing_open(s.st, "one", "One", &m1.id, &existed, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_fill(s.st, m1.id, &added, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_sent(s.st, m1.id, ids, 3, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_open(s.st, "two", "Two", &m2.id, &existed, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_fill(s.st, m2.id, &added, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_sent(s.st, m2.id, ids, 3, err), STORE_OK, "%s", err);

	token_for(s.keys, TOKEN_UNSUBSCRIBE, ids[0], m1.id, tok);
	snprintf(msg, sizeof(msg), "From: leaving@example.net\nTo: unsubscribe+%s@news.example.org\n"
		 "Subject: unsubscribe\n\n", tok);
	cr_expect_eq(run(&s, &pol, msg, &out), STORE_OK);
	cr_expect_eq(out.effect, BOUNCE_UNSUBSCRIBED);
	audit_of(&s, ids[0], audit, sizeof(audit));
	cr_expect_str_eq(audit, "unsubscribed mail mailto");

	verp_to(s.keys, TOKEN_BOUNCE, ids[1], m1.id, to);
	verp_dsn(msg, sizeof(msg), to, "dead@example.net", "5.1.1", "550 5.1.1 User unknown");
	cr_expect_eq(run(&s, &pol, msg, &out), STORE_OK);
	cr_expect_eq(out.effect, BOUNCE_DELETED);
	audit_of(&s, ids[1], audit, sizeof(audit));
	cr_expect_eq(strncmp(audit, "bounced bounce 5.1.1", 20), 0, "%s", audit);

	cr_assert_eq(store_mailing_each(s.st, keep_summary, &m1, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_each(s.st, keep_summary, &m2, err), STORE_OK, "%s", err);
	cr_expect_eq(m1.sent, 3);
	cr_expect_eq(m1.unsubscribed, 1, "the token's mailing");
	cr_expect_eq(m1.bounced, 1, "the token's mailing");
	cr_expect_eq(m2.sent, 3);
	cr_expect_eq(m2.unsubscribed, 0, "not the newest one");
	cr_expect_eq(m2.bounced, 0);
	scratch_close(&s);
}

Test(bounce, dry_run_changes_nothing)
{
	struct bounce_policy pol = {.dry_run = true, .require_verp = true, .soft_threshold = 3, .soft_window_days = 30};
	struct scratch s;
	struct subscriber sub;
	struct bounce_outcome out;
	char to[128], msg[2048], err[ERR_LEN];
	int64_t a;

	scratch_open(&s);
	a = enrol(&s, "dead@example.net");
	verp_to(s.keys, TOKEN_BOUNCE, a, 1, to);
	verp_dsn(msg, sizeof(msg), to, "dead@example.net", "5.1.1", "550 5.1.1 User unknown");
	cr_expect_eq(run(&s, &pol, msg, &out), STORE_OK);
	cr_expect_str_eq(bounce_effect_name(out.effect), "would delete");
	cr_expect_eq(store_subscriber_get(s.st, a, &sub, err), STORE_OK);
	scratch_close(&s);
}

/*
 * A valid token is not enough: the report must be about the subscriber's
 * current address (as Final- or Original-Recipient). About another
 * address (a forward, an address they no longer have): nothing changes.
 */
Test(bounce, verp_acts_only_on_the_current_address)
{
	struct bounce_policy pol = {.require_verp = true, .soft_threshold = 3, .soft_window_days = 30};
	struct scratch s;
	struct subscriber sub;
	struct bounce_outcome out;
	char to[128], msg[2048], err[ERR_LEN];
	int64_t a;

	scratch_open(&s);
	a = enrol(&s, "kari@example.net");
	verp_to(s.keys, TOKEN_BOUNCE, a, 1, to);

	verp_dsn(msg, sizeof(msg), to, "kari.old@example.org", "5.1.1", "550 5.1.1 User unknown");
	cr_expect_eq(run(&s, &pol, msg, &out), STORE_OK);
	cr_expect_eq(store_subscriber_get(s.st, a, &sub, err), STORE_OK, "deleted on a report about another address");
	cr_expect(strstr(out.detail, "another address") != NULL, "%s", out.detail);

	/* Original-Recipient names her address, Final-Recipient the mailbox it
	 * was forwarded to: the report is about her address. */
	snprintf(msg, sizeof(msg),
		 "From: MAILER-DAEMON@mx.example.net\nTo: %s\nSubject: Undelivered Mail Returned to Sender\n"
		 "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
		 "--B\nContent-Type: message/delivery-status\n\n"
		 "Original-Recipient: rfc822; kari@example.net\nFinal-Recipient: rfc822; k.n@inner.example.net\n"
		 "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n\n--B--\n", to);
	cr_expect_eq(run(&s, &pol, msg, &out), STORE_OK);
	cr_expect_eq(store_subscriber_get(s.st, a, &sub, err), STORE_NOTFOUND,
		     "a report whose Original-Recipient is her address acts");
	scratch_close(&s);
}

/*
 * What a bounce deletes leaves the files when its transaction commits (the
 * store's deletion scrubs, not bounce/act.c): a hard bounce, a complaint
 * and an unsubscribe by mail, a row each, among neighbours whose pages
 * stay.
 */
Test(bounce, acting_scrubs_what_it_deletes)
{
	static const struct {
		const char *email;
		enum token_purpose purpose;
		const char *status, *diag;	/* NULL: a mail to unsubscribe+TOKEN@ */
		const char *done;
	} rows[] = {
		{"zq-dead-4711@example.net", TOKEN_BOUNCE, "5.1.1", "550 5.1.1 User unknown", "deleted"},
		{"zq-leaving-4711@example.net", TOKEN_UNSUBSCRIBE, NULL, NULL, "unsubscribed"},
	};
	struct bounce_policy pol = {.require_verp = true, .soft_threshold = 3, .soft_window_days = 30};
	struct scratch s;
	struct subscriber sub;
	struct bounce_outcome out;
	char tok[TOKEN_LEN + 1], to[128], msg[2048], err[ERR_LEN];

	scratch_open(&s);
	for (int i = 0; i < 50; i++) {
		char a[64];

		snprintf(a, sizeof(a), "neighbour%d@example.net", i);
		enrol(&s, a);
	}
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int64_t a = enrol(&s, rows[i].email);

		cr_expect(files_contain(&s, "4711@example.net"), "%s: the check cannot see the address", rows[i].email);
		token_for(s.keys, rows[i].purpose, a, 1, tok);
		if (rows[i].diag) {
			snprintf(to, sizeof(to), "bounces+%s@news.example.org", tok);
			verp_dsn(msg, sizeof(msg), to, rows[i].email, rows[i].status, rows[i].diag);
		} else {
			snprintf(msg, sizeof(msg), "From: %s\nTo: unsubscribe+%s@news.example.org\n"
				 "Subject: unsubscribe\n\n", rows[i].email, tok);
		}
		cr_expect_eq(run(&s, &pol, msg, &out), STORE_OK);
		cr_expect_str_eq(bounce_effect_name(out.effect), rows[i].done);
		cr_expect_eq(store_subscriber_get(s.st, a, &sub, err), STORE_NOTFOUND, "%s", rows[i].email);
		cr_expect(!files_contain(&s, "4711@example.net"), "%s: the address is still in the files", rows[i].email);
	}
	scratch_close(&s);
}

/* What bounce_run's callback was told, message by message. */
#define TOLD_MAX 1600	/* more than run_tells_every_file_in_order's files */
struct told {
	int n;
	char path[TOLD_MAX][96];
	enum bounce_fate fate[TOLD_MAX];
	enum bounce_kind kind[TOLD_MAX];
	bool out[TOLD_MAX];
};

static void
tell_test(const struct bounce_message *m, void *arg)
{
	struct told *t = arg;

	cr_assert_lt(t->n, TOLD_MAX);
	snprintf(t->path[t->n], sizeof(t->path[0]), "%s", m->path);
	t->fate[t->n] = m->fate;
	t->kind[t->n] = m->rep->kind;
	t->out[t->n] = m->out != NULL;
	t->n++;
}

/*
 * bounce_run over FILE arguments (many times what the ring of parsed slots
 * holds, so that a slot printed but left marked ready, and printed again
 * stale, is caught: with 300 files that slip failed one run in three, with
 * 1,500 every run): the callback hears of every file once, in argument
 * order, with what became of it (parsed, not a message, not readable), and
 * the counts put each in one place. Without a store: verdicts only.
 */
Test(bounce, run_tells_every_file_in_order)
{
	enum { N = 1500 };	/* many times bounce/run.c's PARSE_RING (256): each slot reused */
	static const char dsn[] =
		"From: MAILER-DAEMON@mx.example.net\nTo: bounces@news.example.org\nSubject: Undelivered Mail\n"
		"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
		"--B\nContent-Type: message/delivery-status\n\n"
		"Final-Recipient: rfc822; gone@example.net\nAction: failed\nStatus: 5.1.1\n\n--B--\n";
	struct bounce_run_opts o = {.from = BOUNCE_FROM_FILES, .pol = {.dry_run = true}};
	struct bounce_run_counts n;
	struct told *t = calloc(1, sizeof(*t));
	char dir[] = "/tmp/newsletter-run.XXXXXX", err[ERR_LEN], *files[N];
	enum log_level level;

	cr_assert_not_null(mkdtemp(dir));
	for (int i = 0; i < N; i++) {
		FILE *fp;

		files[i] = malloc(96);
		snprintf(files[i], 96, "%s/%03d.eml", dir, i);
		if (i % 3 == 2)
			continue;	/* never written: not readable */
		cr_assert_not_null(fp = fopen(files[i], "w"));
		fputs(i % 3 == 0 ? dsn : "x", fp);
		fclose(fp);
	}
	o.files = files;
	o.nfiles = N;
	/* a warning for each file that is not a message: not wanted here */
	level = log_get_level();
	log_set_level(LOG_ERROR);
	cr_assert_eq(bounce_run(&o, tell_test, t, &n, err), 0, "%s", err);
	log_set_level(level);
	cr_expect_eq(t->n, N);
	for (int i = 0; i < t->n; i++) {
		cr_expect_str_eq(t->path[i], files[i], "message %d told out of order", i);
		cr_expect_eq(t->fate[i], i % 3 == 0 ? BOUNCE_FATE_PARSED : i % 3 == 1 ? BOUNCE_FATE_UNPARSED
			     : BOUNCE_FATE_UNREAD, "%s", files[i]);
		cr_expect_eq(t->kind[i], i % 3 == 0 ? BOUNCE_KIND_DSN : BOUNCE_KIND_NONE, "%s", files[i]);
		cr_expect_eq(t->out[i], i % 3 == 0, "%s: an outcome only when acted on", files[i]);
	}
	cr_expect_eq(n.messages, N);
	cr_expect_eq(n.unparsed, N / 3);
	cr_expect_eq(n.unread, N / 3);
	cr_expect_eq(n.retried, 0);
	for (int i = 0; i < N; i++) {
		unlink(files[i]);
		free(files[i]);
	}
	rmdir(dir);
	free(t);
}
