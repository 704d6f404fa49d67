/*
 * tests/unit/test_signup.c - double opt-in in the store against a real
 * SQLite file: each outcome of a request (queued, throttled, full), the
 * confirmation mail queue and its retries, confirmation (new, existing,
 * suppressed, repeated, expired), expiry that leaves no byte of the
 * address in the files, and the evidence in export, rectify and erase.
 */
#include "helpers.h"

#define CONSENT "Yes, send me the newsletter about once a week; every issue has a one-click unsubscribe."

static struct signup
signup_of(const char *email)
{
	return (struct signup){.email = email, .name = "Kari Nordmann", .lang = "nb",
			       .consent_text = CONSENT, .channel = SIGNUP_WEB, .confirm_hours = 72,
			       .resend_hours = 24, .max_pending = 100};
}

static enum signup_outcome
request(struct scratch *s, const struct signup *su)
{
	enum signup_outcome out;
	char err[ERR_LEN] = "";

	cr_assert_eq(store_signup_request(s->st, su, &out, err), STORE_OK, "%s", err);
	return out;
}

static enum confirm_outcome
confirm(struct scratch *s, int64_t signup, int64_t *sub, unsigned *gen)
{
	enum confirm_outcome out;
	char err[ERR_LEN] = "";

	cr_assert_eq(store_signup_confirm(s->st, &(struct token_claims){.subscriber = signup},
					  &out, sub, gen, err), STORE_OK, "%s", err);
	return out;
}

Test(signup, bad_requests_are_refused)
{
	static const struct {
		const char *email, *name, *lang, *consent, *why;
	} bad[] = {
		{"no-at-sign", NULL, "nb", CONSENT, "invalid address"},
		{"a@b.no", "bad\x01name", "nb", CONSENT, "control character"},
		{"a@b.no", NULL, "de", CONSENT, "language"},
		{"a@b.no", NULL, NULL, CONSENT, "language"},
		{"a@b.no", NULL, "en", "", "consent text is empty"},
		{"a@b.no", NULL, "en", NULL, "consent text is empty"},
	};
	struct scratch s;

	scratch_open(&s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct signup su = signup_of(bad[i].email);
		enum signup_outcome out;
		char err[ERR_LEN] = "";

		su.name = bad[i].name;
		su.lang = bad[i].lang;
		su.consent_text = bad[i].consent;
		cr_expect_eq(store_signup_request(s.st, &su, &out, err), STORE_INVALID, "case %zu", i);
		cr_expect(strstr(err, bad[i].why) != NULL, "case %zu: %s", i, err);
	}
	{
		/* a consent text over CONSENT_TEXT_MAX bytes */
		static char longtext[CONSENT_TEXT_MAX + 2];
		struct signup su = signup_of("a@b.no");
		enum signup_outcome out;
		char err[ERR_LEN] = "";

		memset(longtext, 'x', CONSENT_TEXT_MAX + 1);
		su.consent_text = longtext;
		cr_expect_eq(store_signup_request(s.st, &su, &out, err), STORE_INVALID);
		cr_expect(strstr(err, "2000") != NULL, "%s", err);
	}
	cr_expect_eq(scratch_due_signup(&s, "a@b.no"), 0);
	scratch_close(&s);
}

Test(signup, request_queues_once_per_resend_hours)
{
	struct scratch s;
	struct signup su = signup_of("Kari@Example.NO");
	struct signup_mail m[4];
	char err[ERR_LEN] = "";
	int64_t id;

	scratch_open(&s);
	cr_expect_eq(request(&s, &su), SIGNUP_QUEUED);
	cr_assert_eq(store_signup_due(s.st, m, 4, err), 1, "%s", err);
	cr_expect_str_eq(m[0].email, "Kari@example.no");
	cr_expect_str_eq(m[0].name, "Kari Nordmann");
	cr_expect_str_eq(m[0].lang, "nb");
	cr_expect_eq(m[0].attempts, 0);
	id = m[0].id;
	cr_assert_gt(id, 0);
	/* sent: no longer due */
	cr_assert_eq(store_signup_mailed(s.st, id, true, 0, err), STORE_OK, "%s", err);
	cr_expect_eq(store_signup_due(s.st, m, 4, err), 0);
	/* the same address again, any case: throttled, nothing queued */
	su.email = "kari@example.no";
	cr_expect_eq(request(&s, &su), SIGNUP_THROTTLED);
	cr_expect_eq(store_signup_due(s.st, m, 4, err), 0);
	/* after resend_hours: queued again, the same signup (its link still works) */
	scratch_sql(&s, "UPDATE signup SET queued = '2000-01-01T00:00:00Z'");
	su.lang = "en";
	cr_expect_eq(request(&s, &su), SIGNUP_QUEUED);
	cr_assert_eq(store_signup_due(s.st, m, 4, err), 1);
	cr_expect_eq(m[0].id, id);
	cr_expect_str_eq(m[0].lang, "en");
	/* resend_hours 0: every request queues one */
	su.resend_hours = 0;
	cr_expect_eq(request(&s, &su), SIGNUP_QUEUED);
	scratch_close(&s);
}

Test(signup, cap_on_pending_signups)
{
	struct scratch s;
	struct signup su = signup_of("one@example.no");
	struct signup_mail m[8];
	char err[ERR_LEN] = "";

	scratch_open(&s);
	su.max_pending = 2;
	cr_expect_eq(request(&s, &su), SIGNUP_QUEUED);
	su.email = "two@example.no";
	cr_expect_eq(request(&s, &su), SIGNUP_QUEUED);
	su.email = "three@example.no";
	cr_expect_eq(request(&s, &su), SIGNUP_FULL);
	cr_expect_eq(store_signup_due(s.st, m, 8, err), 2);
	cr_expect(!files_contain(&s, "three@example"), "a refused signup was recorded");
	/* an address already pending is still refreshed when full */
	su.email = "two@example.no";
	su.resend_hours = 0;
	cr_expect_eq(request(&s, &su), SIGNUP_QUEUED);
	su.resend_hours = 24;
	/* a confirmation, an expiry and an erasure each make room for one */
	{
		int64_t sub;
		unsigned gen;

		cr_expect_eq(confirm(&s, scratch_due_signup(&s, "one@example.no"), &sub, &gen), CONFIRM_ENROLLED);
	}
	su.email = "three@example.no";
	cr_expect_eq(request(&s, &su), SIGNUP_QUEUED);
	su.email = "four@example.no";
	cr_expect_eq(request(&s, &su), SIGNUP_FULL);
	scratch_sql(&s, "UPDATE signup SET expires = '2000-01-01T00:00:00Z' WHERE email = 'two@example.no'");
	{
		long long deleted;

		cr_assert_eq(store_signup_expire(s.st, &deleted, err), STORE_OK, "%s", err);
		cr_expect_eq(deleted, 1);
	}
	cr_expect_eq(request(&s, &su), SIGNUP_QUEUED);
	su.email = "five@example.no";
	cr_expect_eq(request(&s, &su), SIGNUP_FULL);
	{
		bool existed;

		cr_assert_eq(store_erase(s.st, "three@example.no", false, "test", &existed, err), STORE_OK);
	}
	cr_expect_eq(request(&s, &su), SIGNUP_QUEUED);
	cr_expect_eq(request(&s, &(struct signup){.email = "six@example.no", .lang = "en",
		.consent_text = CONSENT, .channel = SIGNUP_API, .confirm_hours = 1, .resend_hours = 1,
		.max_pending = 2}), SIGNUP_FULL);
	scratch_close(&s);
}

/* Same work for any address state: a subscriber's and a suppressed
 * address's requests are queued as a new one's is. */
Test(signup, request_is_the_same_for_every_state)
{
	struct scratch s;
	struct signup su = signup_of("new@example.no");
	struct purchase p = {.email = "customer@example.no", .source = "test"};
	enum enroll_result res;
	char err[ERR_LEN] = "";
	bool was;
	int64_t id;

	scratch_open(&s);
	cr_assert_eq(store_enroll(s.st, &p, &res, &id, err), STORE_OK, "%s", err);
	cr_assert_eq(store_unsubscribe(s.st, "gone@example.no", "test", &was, err), STORE_OK);
	cr_expect_eq(request(&s, &su), SIGNUP_QUEUED);
	su.email = "customer@example.no";
	cr_expect_eq(request(&s, &su), SIGNUP_QUEUED);
	su.email = "gone@example.no";
	cr_expect_eq(request(&s, &su), SIGNUP_QUEUED);
	cr_expect_neq(scratch_due_signup(&s, "customer@example.no"), 0);
	cr_expect_neq(scratch_due_signup(&s, "gone@example.no"), 0);
	scratch_close(&s);
}

Test(signup, failed_mail_is_retried_until_the_link_expires)
{
	struct scratch s;
	struct signup su = signup_of("retry@example.no");
	struct signup_mail m[4];
	char err[ERR_LEN] = "";
	int64_t id;

	scratch_open(&s);
	request(&s, &su);
	id = scratch_due_signup(&s, "retry@example.no");
	/* a 4xx: again in 60 s, not now */
	cr_assert_eq(store_signup_mailed(s.st, id, false, 60, err), STORE_OK, "%s", err);
	cr_expect_eq(store_signup_due(s.st, m, 4, err), 0);
	scratch_sql(&s, "UPDATE signup SET mail_due = '2000-01-01T00:00:00Z'");
	cr_assert_eq(store_signup_due(s.st, m, 4, err), 1);
	cr_expect_eq(m[0].attempts, 1);
	/* a retry after the link's end is none */
	cr_assert_eq(store_signup_mailed(s.st, id, false, 73 * 3600, err), STORE_OK);
	scratch_sql(&s, "UPDATE signup SET mail_due = coalesce(mail_due, 'none')");
	cr_expect_eq(store_signup_due(s.st, m, 4, err), 0);
	{
		/* mail_due was NULL: coalesce made it 'none', which is no time */
		sqlite3 *db;
		sqlite3_stmt *q;

		cr_assert_eq(sqlite3_open(s.db, &db), SQLITE_OK);
		cr_assert_eq(sqlite3_prepare_v2(db, "SELECT mail_due, mail_attempts FROM signup", -1, &q, NULL), SQLITE_OK);
		cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
		cr_expect_str_eq((const char *)sqlite3_column_text(q, 0), "none");
		cr_expect_eq(sqlite3_column_int(q, 1), 2);
		sqlite3_finalize(q);
		sqlite3_close(db);
	}
	/* a refusal for the address (negative): not tried again */
	su.email = "refused@example.no";
	request(&s, &su);
	id = scratch_due_signup(&s, "refused@example.no");
	cr_assert_eq(store_signup_mailed(s.st, id, false, -1, err), STORE_OK);
	scratch_sql(&s, "UPDATE signup SET mail_due = '2000-01-01T00:00:00Z' WHERE mail_due IS NOT NULL AND mail_due <> 'none'");
	cr_expect_eq(scratch_due_signup(&s, "refused@example.no"), 0);
	/* an expired link is not mailed */
	su.email = "late@example.no";
	request(&s, &su);
	scratch_sql(&s, "UPDATE signup SET expires = '2000-01-01T00:00:00Z' WHERE email = 'late@example.no'");
	cr_expect_eq(scratch_due_signup(&s, "late@example.no"), 0);
	scratch_close(&s);
}

Test(signup, confirm_enrols_with_consent_and_evidence)
{
	struct scratch s;
	struct signup su = signup_of("ny@example.no");
	struct subscriber sub;
	struct store_stats stats;
	char err[ERR_LEN] = "";
	int64_t id, subscriber, again;
	unsigned gen, gen2;

	scratch_open(&s);
	request(&s, &su);
	id = scratch_due_signup(&s, "ny@example.no");
	cr_expect_eq(confirm(&s, id, &subscriber, &gen), CONFIRM_ENROLLED);
	cr_assert_gt(subscriber, 0);
	cr_expect_eq(gen, 0);
	cr_assert_eq(store_subscriber_get(s.st, subscriber, &sub, err), STORE_OK, "%s", err);
	cr_expect_str_eq(sub.email, "ny@example.no");
	cr_expect_str_eq(sub.name, "Kari Nordmann");
	cr_expect(sub.consent);
	/* the pending row no longer holds the address; no mail is due */
	cr_expect_eq(scratch_due_signup(&s, "ny@example.no"), 0);
	{
		sqlite3 *db;
		sqlite3_stmt *q;

		cr_assert_eq(sqlite3_open(s.db, &db), SQLITE_OK);
		cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM signup WHERE email IS NOT NULL OR name IS NOT NULL", -1, &q, NULL), SQLITE_OK);
		cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
		cr_expect_eq(sqlite3_column_int(q, 0), 0);
		sqlite3_finalize(q);
		cr_assert_eq(sqlite3_prepare_v2(db, "SELECT consent_requested IS NOT NULL, consent_confirmed IS NOT NULL,"
						" consent_channel, length(consent_hash) FROM subscriber", -1, &q, NULL), SQLITE_OK);
		cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
		cr_expect_eq(sqlite3_column_int(q, 0), 1);
		cr_expect_eq(sqlite3_column_int(q, 1), 1);
		cr_expect_str_eq((const char *)sqlite3_column_text(q, 2), "web-form");
		cr_expect_eq(sqlite3_column_int(q, 3), 32);
		sqlite3_finalize(q);
		sqlite3_close(db);
	}
	/* a repeat: the same subscriber, nothing changed */
	cr_assert_eq(store_stats(s.st, &stats, err), STORE_OK);
	{
		long long events = stats.audit_events;

		cr_expect_eq(confirm(&s, id, &again, &gen2), CONFIRM_ALREADY);
		cr_expect_eq(again, subscriber);
		cr_expect_eq(gen2, gen);
		cr_assert_eq(store_stats(s.st, &stats, err), STORE_OK);
		cr_expect_eq(stats.audit_events, events, "a repeat wrote to the audit log");
		cr_expect_eq(stats.active, 1);
	}
	/* an unknown or foreign id, and claims no confirm token has */
	cr_expect_eq(confirm(&s, id + 1000, &again, &gen2), CONFIRM_EXPIRED);
	cr_expect_eq(again, 0);
	{
		enum confirm_outcome out;

		cr_assert_eq(store_signup_confirm(s.st, &(struct token_claims){.subscriber = id, .mailing = 3},
						  &out, &again, &gen2, err), STORE_OK);
		cr_expect_eq(out, CONFIRM_EXPIRED);
	}
	scratch_close(&s);
}

Test(signup, existing_subscriber_gets_consent_and_no_second_row)
{
	struct scratch s;
	struct signup su = signup_of("Kunde@example.no");
	struct purchase p = {.email = "kunde@example.no", .date = "2026-01-05", .source = "test"};
	struct subscriber sub;
	struct store_stats stats;
	enum enroll_result res;
	char err[ERR_LEN] = "";
	int64_t id, buyer, subscriber;
	unsigned gen;

	scratch_open(&s);
	cr_assert_eq(store_enroll(s.st, &p, &res, &buyer, err), STORE_OK, "%s", err);
	request(&s, &su);
	id = scratch_due_signup(&s, "kunde@example.no");
	cr_expect_eq(confirm(&s, id, &subscriber, &gen), CONFIRM_CONSENTED);
	cr_expect_eq(subscriber, buyer);
	cr_assert_eq(store_subscriber_get(s.st, buyer, &sub, err), STORE_OK);
	cr_expect(sub.consent);
	cr_expect_str_eq(sub.last_purchase, "2026-01-05");
	cr_assert_eq(store_stats(s.st, &stats, err), STORE_OK);
	cr_expect_eq(stats.active, 1);
	scratch_close(&s);
}

Test(signup, confirmed_opt_in_clears_the_suppression)
{
	struct scratch s;
	struct signup su = signup_of("back@example.no");
	char err[ERR_LEN] = "";
	bool was, has;
	int64_t id, subscriber;
	unsigned gen;

	scratch_open(&s);
	cr_assert_eq(store_unsubscribe(s.st, "back@example.no", "test", &was, err), STORE_OK);
	request(&s, &su);
	/* a request alone clears nothing */
	cr_assert_eq(store_suppress_has(s.st, "back@example.no", &has, err), STORE_OK);
	cr_expect(has);
	id = scratch_due_signup(&s, "back@example.no");
	cr_expect_eq(confirm(&s, id, &subscriber, &gen), CONFIRM_ENROLLED);
	cr_assert_eq(store_suppress_has(s.st, "back@example.no", &has, err), STORE_OK);
	cr_expect(!has, "the suppression entry is still there");
	scratch_close(&s);
}

Test(signup, expired_is_not_confirmed_and_leaves_no_bytes)
{
	struct scratch s;
	struct signup su = signup_of("zq-pending-4711@example.no");
	struct retention_result r;
	char err[ERR_LEN] = "";
	long long deleted;
	int64_t id, subscriber;
	unsigned gen;
	json_t *o;

	scratch_open(&s);
	/* neighbours whose pages stay */
	for (int i = 0; i < 50; i++) {
		char a[64];

		cr_assert_eq(fmt(a, sizeof(a), "neighbour%d@example.no", i), 0);
		su.email = a;
		request(&s, &su);
	}
	su.email = "zq-pending-4711@example.no";
	su.name = "Zq Pendingname";
	request(&s, &su);
	id = scratch_due_signup(&s, "zq-pending-4711@example.no");
	cr_expect(files_contain(&s, "zq-pending-4711"));
	cr_expect_eq(store_signup_expire(s.st, &deleted, err), STORE_OK, "%s", err);
	cr_expect_eq(deleted, 0);
	scratch_sql(&s, "UPDATE signup SET expires = '2000-01-01T00:00:00Z' WHERE email LIKE 'zq-pending%'");
	/* expired before the expiry ran: not confirmed */
	cr_expect_eq(confirm(&s, id, &subscriber, &gen), CONFIRM_EXPIRED);
	cr_expect_eq(subscriber, 0);
	cr_assert_eq(store_signup_expire(s.st, &deleted, err), STORE_OK, "%s", err);
	cr_expect_eq(deleted, 1);
	cr_expect(!files_contain(&s, "zq-pending-4711"), "the address is still in the files");
	cr_expect(!files_contain(&s, "Zq Pendingname"), "the name is still in the files");
	cr_expect(files_contain(&s, "neighbour7@example.no"));
	cr_expect_eq(confirm(&s, id, &subscriber, &gen), CONFIRM_EXPIRED);
	cr_assert_eq(store_export(s.st, "zq-pending-4711@example.no", "Test", &o, err), STORE_OK);
	cr_expect(json_is_null(json_object_get(o, "pending_signup")));
	json_decref(o);
	/* retention deletes expired signups too */
	scratch_sql(&s, "UPDATE signup SET expires = '2000-01-01T00:00:00Z' WHERE email = 'neighbour3@example.no'");
	cr_assert_eq(store_retention(s.st, 24, 36, false, &r, err), STORE_OK, "%s", err);
	cr_expect_eq(r.signups, 1);
	cr_expect(!files_contain(&s, "neighbour3@example.no"));
	scratch_close(&s);
}

Test(signup, export_rectify_and_erase_of_the_evidence)
{
	struct scratch s;
	struct signup su = signup_of("vis@example.no");
	char err[ERR_LEN] = "";
	json_t *o, *c, *p;
	bool existed;
	int64_t id, subscriber;
	unsigned gen;

	scratch_open(&s);
	/* a pending signup is in the export */
	request(&s, &su);
	cr_assert_eq(store_export(s.st, "vis@example.no", "Test", &o, err), STORE_OK, "%s", err);
	p = json_object_get(o, "pending_signup");
	cr_assert(json_is_object(p));
	cr_expect_str_eq(json_string_value(json_object_get(p, "consent_text")), CONSENT);
	cr_expect_not_null(json_string_value(json_object_get(p, "legal_basis")));
	cr_expect(json_is_null(json_object_get(o, "consent")));
	json_decref(o);
	id = scratch_due_signup(&s, "vis@example.no");
	cr_assert_eq(confirm(&s, id, &subscriber, &gen), CONFIRM_ENROLLED);
	cr_assert_eq(store_export(s.st, "vis@example.no", "Test", &o, err), STORE_OK, "%s", err);
	c = json_object_get(o, "consent");
	cr_assert(json_is_object(c));
	cr_expect_str_eq(json_string_value(json_object_get(c, "consent_text")), CONSENT);
	cr_expect_eq(strlen(json_string_value(json_object_get(c, "consent_text_hash"))), 64);
	cr_expect_str_eq(json_string_value(json_object_get(c, "channel")), "web-form");
	cr_expect_not_null(json_string_value(json_object_get(c, "requested")));
	cr_expect_not_null(json_string_value(json_object_get(c, "confirmed")));
	cr_expect(strstr(json_string_value(json_object_get(c, "legal_basis")), "7(1)") != NULL);
	cr_expect_not_null(json_string_value(json_object_get(c, "purpose")));
	cr_expect(json_is_null(json_object_get(o, "pending_signup")));
	json_decref(o);
	/* rectify keeps it */
	cr_assert_eq(store_rectify(s.st, "vis@example.no", "ny-vis@example.no", "test", err), STORE_OK, "%s", err);
	cr_assert_eq(store_export(s.st, "ny-vis@example.no", "Test", &o, err), STORE_OK);
	cr_expect(json_is_object(json_object_get(o, "consent")));
	json_decref(o);
	/* a new pending signup for it too; erase deletes all of it */
	su.email = "ny-vis@example.no";
	su.name = "Zq Erasename";
	request(&s, &su);
	cr_assert_eq(store_erase(s.st, "ny-vis@example.no", false, "test", &existed, err), STORE_OK, "%s", err);
	cr_expect(existed);
	cr_expect(!files_contain(&s, "vis@example.no"));
	cr_expect(!files_contain(&s, "Zq Erasename"));
	cr_assert_eq(store_export(s.st, "ny-vis@example.no", "Test", &o, err), STORE_OK);
	cr_expect(json_is_null(json_object_get(o, "consent")));
	cr_expect(json_is_null(json_object_get(o, "pending_signup")));
	json_decref(o);
	/* the confirmed marker went with the subscriber: no repeat */
	cr_expect_eq(confirm(&s, id, &subscriber, &gen), CONFIRM_EXPIRED);
	scratch_close(&s);
}

Test(signup, unsubscribe_deletes_the_evidence)
{
	struct scratch s;
	struct signup su = signup_of("leave@example.no");
	char err[ERR_LEN] = "";
	bool was;
	int64_t id, subscriber;
	unsigned gen;
	sqlite3 *db;
	sqlite3_stmt *q;

	scratch_open(&s);
	request(&s, &su);
	id = scratch_due_signup(&s, "leave@example.no");
	cr_assert_eq(confirm(&s, id, &subscriber, &gen), CONFIRM_ENROLLED);
	cr_assert_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = subscriber},
					 STORE_DEL_UNSUBSCRIBED, "web", NULL, &was, err), STORE_OK, "%s", err);
	cr_expect(was);
	cr_assert_eq(sqlite3_open(s.db, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM signup) + (SELECT count(*) FROM subscriber)",
					-1, &q, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
	cr_expect_eq(sqlite3_column_int(q, 0), 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	cr_expect(!files_contain(&s, "leave@example.no"));
	cr_expect_eq(confirm(&s, id, &subscriber, &gen), CONFIRM_EXPIRED);
	scratch_close(&s);
}

Test(signup, consent_texts_are_kept_once_per_version)
{
	struct scratch s;
	struct signup su = signup_of("a@example.no");
	sqlite3 *db;
	sqlite3_stmt *q;

	scratch_open(&s);
	request(&s, &su);
	su.email = "b@example.no";
	request(&s, &su);
	su.email = "c@example.no";
	su.consent_text = "Another version of the text.";
	request(&s, &su);
	cr_assert_eq(sqlite3_open(s.db, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM consent_text", -1, &q, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
	cr_expect_eq(sqlite3_column_int(q, 0), 2);
	sqlite3_finalize(q);
	sqlite3_close(db);
	scratch_close(&s);
}

Test(signup, audit_by_keyed_hash)
{
	struct scratch s;
	struct signup su = signup_of("zq-audited@example.no");
	int64_t id, subscriber;
	unsigned gen;
	sqlite3 *db;
	sqlite3_stmt *q;
	int n = 0;

	scratch_open(&s);
	request(&s, &su);
	id = scratch_due_signup(&s, "zq-audited@example.no");
	confirm(&s, id, &subscriber, &gen);
	cr_assert_eq(sqlite3_open(s.db, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT event, length(subject) FROM audit"
					" WHERE event IN ('signup-requested', 'consent-confirmed') ORDER BY id",
					-1, &q, NULL), SQLITE_OK);
	while (sqlite3_step(q) == SQLITE_ROW) {
		cr_expect_str_eq((const char *)sqlite3_column_text(q, 0),
				 n == 0 ? "signup-requested" : "consent-confirmed");
		cr_expect_eq(sqlite3_column_int(q, 1), 16);
		n++;
	}
	cr_expect_eq(n, 2);
	sqlite3_finalize(q);
	sqlite3_close(db);
	scratch_close(&s);
}

Test(signup, confirm_token_verifies_for_its_purpose_only)
{
	struct scratch s;
	struct token_claims c = {.subscriber = 42}, out;
	char tok[TOKEN_LEN + 1];

	scratch_open(&s);
	cr_assert_eq(store_token_make(s.keys, TOKEN_CONFIRM, &c, tok), 0);
	cr_expect_eq(store_token_verify(s.keys, tok, TOKEN_CONFIRM, &out), 0);
	cr_expect_eq(out.subscriber, 42);
	cr_expect_eq(out.gen, 0);
	cr_expect_eq(out.mailing, 0);
	cr_expect_eq(store_token_verify(s.keys, tok, TOKEN_UNSUBSCRIBE, &out), -1);
	cr_expect_eq(store_token_verify(s.keys, tok, TOKEN_ACCESS, &out), -1);
	token_for(s.keys, TOKEN_UNSUBSCRIBE, 42, 0, tok);
	cr_expect_eq(store_token_verify(s.keys, tok, TOKEN_CONFIRM, &out), -1);
	scratch_close(&s);
}

static bool
live(struct scratch *s, const struct token_claims *c)
{
	char err[ERR_LEN] = "";
	bool l = true;

	cr_assert_eq(store_signup_live(s->st, c, &l, err), STORE_OK, "%s", err);
	return l;
}

/* What a GET of the confirmation link may show: the link's state, read
 * only, judged as the confirmation judges it. */
Test(signup, live_tells_what_a_confirmation_would_find)
{
	struct scratch s;
	struct signup su = signup_of("live@example.no");
	char err[ERR_LEN] = "";
	int64_t id, gone_id, subscriber;
	unsigned gen;
	bool existed;
	long long deleted;
	const char *changes = "SELECT (SELECT count(*) FROM audit) * 1000000 + "
		"(SELECT count(*) FROM subscriber) * 1000 + (SELECT count(*) FROM signup)";
	long long before;

	scratch_open(&s);
	request(&s, &su);
	id = scratch_due_signup(&s, "live@example.no");
	cr_assert_gt(id, 0);
	before = scratch_count(&s, changes);
	for (int i = 0; i < 5; i++)
		cr_expect(live(&s, &(struct token_claims){.subscriber = id}), "a pending signup is live");
	cr_expect_eq(scratch_count(&s, changes), before, "store_signup_live changed the store");
	cr_expect_eq(scratch_due_signup(&s, "live@example.no"), id, "the mail is still due");
	/* claims that name no signup */
	cr_expect(!live(&s, &(struct token_claims){.subscriber = id + 1000}));
	cr_expect(!live(&s, &(struct token_claims){.subscriber = 0}));
	cr_expect(!live(&s, &(struct token_claims){.subscriber = id, .gen = 1}));
	cr_expect(!live(&s, &(struct token_claims){.subscriber = id, .mailing = 3}));
	/* confirmed: still the button (a repeat POST answers 200) */
	cr_assert_eq(confirm(&s, id, &subscriber, &gen), CONFIRM_ENROLLED);
	cr_expect(live(&s, &(struct token_claims){.subscriber = id}), "a confirmed signup is live");
	/* its subscriber erased: the confirmation would answer expired */
	cr_assert_eq(store_erase(s.st, "live@example.no", false, "test", &existed, err), STORE_OK, "%s", err);
	cr_expect_eq(confirm(&s, id, &subscriber, &gen), CONFIRM_EXPIRED);
	cr_expect(!live(&s, &(struct token_claims){.subscriber = id}), "confirmed, then erased: live");
	/* a marker whose subscriber is gone without the cascade (a connection
	 * without foreign keys, as sqlite3's shell is): not live either */
	su.email = "marker@example.no";
	request(&s, &su);
	id = scratch_due_signup(&s, "marker@example.no");
	cr_assert_eq(confirm(&s, id, &subscriber, &gen), CONFIRM_ENROLLED);
	{
		char sql[128];

		cr_assert_eq(fmt(sql, sizeof(sql), "PRAGMA foreign_keys = OFF; DELETE FROM subscriber "
				 "WHERE id = %lld", (long long)subscriber), 0);
		scratch_sql(&s, sql);
	}
	cr_expect_eq(scratch_count(&s, "SELECT count(*) FROM signup WHERE confirmed IS NOT NULL"), 1);
	cr_expect(!live(&s, &(struct token_claims){.subscriber = id}), "a marker of no one: live");
	cr_expect_eq(confirm(&s, id, &subscriber, &gen), CONFIRM_EXPIRED);
	/* expired, before and after the expiry deleted it */
	su.email = "gone@example.no";
	request(&s, &su);
	gone_id = scratch_due_signup(&s, "gone@example.no");
	cr_assert_gt(gone_id, 0);
	cr_expect(live(&s, &(struct token_claims){.subscriber = gone_id}));
	scratch_sql(&s, "UPDATE signup SET expires = '2000-01-01T00:00:00Z' WHERE email = 'gone@example.no'");
	cr_expect(!live(&s, &(struct token_claims){.subscriber = gone_id}), "expired: live");
	cr_expect_eq(confirm(&s, gone_id, &subscriber, &gen), CONFIRM_EXPIRED);
	cr_assert_eq(store_signup_expire(s.st, &deleted, err), STORE_OK, "%s", err);
	cr_expect_eq(deleted, 1);
	cr_expect(!live(&s, &(struct token_claims){.subscriber = gone_id}), "deleted: live");
	scratch_close(&s);
}
