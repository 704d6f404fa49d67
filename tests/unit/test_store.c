/*
 * tests/unit/test_store.c - the store against a real SQLite file: enrolment,
 * refresh, suppression, unsubscribe, erase, rectify, restrict, retention,
 * export, and that deleted addresses leave the files.
 */
#include <sqlite3.h>

#include "helpers.h"

static enum store_status
enroll(struct scratch *s, const char *email, const char *date, bool consent,
       enum enroll_result *res, int64_t *id)
{
	struct purchase p = {.email = email, .date = date, .consent = consent, .source = "test"};
	char err[ERR_LEN] = "";

	return store_enroll(s->st, &p, res, id, err);
}

/* Enrols @n neighbours, whose pages a deletion must leave in the files. */
static void
neighbours(struct scratch *s, int n)
{
	enum enroll_result res;
	int64_t id;

	for (int i = 0; i < n; i++) {
		char a[64];

		cr_assert_eq(fmt(a, sizeof(a), "neighbour%d@example.no", i), 0);
		cr_assert_eq(enroll(s, a, NULL, false, &res, &id), STORE_OK);
	}
}

Test(store, enrol_refresh_and_identity)
{
	struct scratch s;
	struct subscriber sub;
	enum enroll_result res;
	char err[ERR_LEN] = "";
	int64_t id1, id2, id3;

	scratch_open(&s);
	cr_expect_eq(enroll(&s, "Kari@Example.NO", "2026-01-05", false, &res, &id1), STORE_OK);
	cr_expect_eq(res, ENROLL_NEW);
	cr_expect_eq(enroll(&s, "kari@example.no", "2026-03-01", false, &res, &id2), STORE_OK);
	cr_expect_eq(res, ENROLL_REFRESHED);
	cr_expect_eq(id1, id2);
	/* an older purchase does not move the date back */
	cr_expect_eq(enroll(&s, "KARI@example.no", "2025-12-01", false, &res, &id2), STORE_OK);
	cr_assert_eq(store_subscriber_get(s.st, id1, &sub, err), STORE_OK, "%s", err);
	cr_expect_str_eq(sub.email, "Kari@example.no");
	cr_expect_str_eq(sub.last_purchase, "2026-03-01");
	cr_expect_eq(sub.state, SUB_ACTIVE);
	cr_expect(!sub.consent);
	/* the page view's lighter read: the address alone */
	{
		char email[ADDR_MAX + 1];

		cr_assert_eq(store_subscriber_email(s.st, id1, 0, email, err), STORE_OK, "%s", err);
		cr_expect_str_eq(email, "Kari@example.no");
		cr_expect_eq(store_subscriber_email(s.st, id1 + 1000, 0, email, err), STORE_NOTFOUND);
		cr_expect_str_eq(email, "");
	}
	/* a new address gets the next id */
	cr_expect_eq(enroll(&s, "ola@example.no", NULL, false, &res, &id3), STORE_OK);
	cr_expect_eq(id3, id1 + 1);
	scratch_close(&s);
}

Test(store, bad_purchases_are_refused)
{
	static const struct {
		const char *email, *name, *order, *date, *why;
	} bad[] = {
		{"no-at-sign", NULL, NULL, NULL, "invalid address"},
		{"a@b.no", "bad\x01name", NULL, NULL, "control character"},
		{"a@b.no", "\xff\xfe", NULL, NULL, "UTF-8"},
		{"a@b.no", NULL, NULL, "2026-02-30", "no such day"},
		{"a@b.no", NULL, NULL, "26-01-01", "YYYY-MM-DD"},
		{"a@b.no", NULL, NULL, "2999-01-01", "future"},
		{"a@b.no", NULL, "x\ny", NULL, "control character"},
	};
	struct scratch s;
	enum enroll_result res;
	struct store_stats st;
	int64_t id;

	scratch_open(&s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct purchase p = {.email = bad[i].email, .name = bad[i].name,
				     .order = bad[i].order, .date = bad[i].date};
		char err[ERR_LEN] = "";

		cr_expect_eq(store_enroll(s.st, &p, &res, &id, err), STORE_INVALID, "case %zu", i);
		cr_expect(strstr(err, bad[i].why) != NULL, "case %zu: '%s'", i, err);
	}
	cr_assert_eq(store_stats(s.st, &st, NULL), STORE_OK);
	cr_expect_eq(st.active, 0);
	scratch_close(&s);
}

Test(store, unsubscribe_suppresses_and_scrubs)
{
	struct scratch s;
	enum enroll_result res;
	struct subscriber sub;
	struct store_stats st;
	char err[ERR_LEN] = "", tok[TOKEN_LEN + 1];
	bool was, has;
	int64_t id;

	scratch_open(&s);
	neighbours(&s, 50);
	cr_assert_eq(enroll(&s, "zq-gone-4711@example.no", NULL, false, &res, &id), STORE_OK);
	cr_expect(files_contain(&s, "zq-gone-4711"));
	cr_assert_eq(store_unsubscribe(s.st, "zq-gone-4711@example.no", "test", &was, err), STORE_OK, "%s", err);
	cr_expect(was);
	cr_expect_eq(store_subscriber_find(s.st, "zq-gone-4711@example.no", &sub, err), STORE_NOTFOUND);
	cr_expect(!files_contain(&s, "zq-gone-4711"), "the address is still in the files");
	cr_assert_eq(store_suppress_has(s.st, "ZQ-GONE-4711@example.no", &has, err), STORE_OK);
	cr_expect(has);
	/* a purchase does not enrol again; consent does */
	cr_expect_eq(enroll(&s, "zq-gone-4711@example.no", NULL, false, &res, &id), STORE_SUPPRESSED);
	cr_expect_eq(enroll(&s, "zq-gone-4711@example.no", NULL, true, &res, &id), STORE_OK);
	cr_expect_eq(res, ENROLL_NEW);
	cr_assert_eq(store_suppress_has(s.st, "zq-gone-4711@example.no", &has, err), STORE_OK);
	cr_expect(!has);
	/* by id, as a link does; twice is fine */
	token_for(s.keys, TOKEN_UNSUBSCRIBE, id, 0, tok);
	cr_expect_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = id, .gen = 0}, STORE_DEL_UNSUBSCRIBED, "web", NULL, &was, err), STORE_OK);
	cr_expect(was);
	cr_expect_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = id, .gen = 0}, STORE_DEL_UNSUBSCRIBED, "web", NULL, &was, err), STORE_OK);
	cr_expect(!was);
	/* an unknown address still gets a suppression entry */
	cr_expect_eq(store_unsubscribe(s.st, "never@example.no", "test", &was, err), STORE_OK);
	cr_expect(!was);
	cr_assert_eq(store_stats(s.st, &st, err), STORE_OK);
	cr_expect_eq(st.active, 50);
	cr_expect_eq(st.suppressed, 2);
	scratch_close(&s);
}

Test(store, erase_with_and_without_suppression)
{
	struct scratch s;
	enum enroll_result res;
	char err[ERR_LEN] = "";
	bool existed, has;
	int64_t id;

	scratch_open(&s);
	enroll(&s, "zq-erase-1@example.no", NULL, false, &res, &id);
	enroll(&s, "zq-erase-2@example.no", NULL, false, &res, &id);
	cr_expect_eq(store_erase(s.st, "zq-erase-1@example.no", false, "test", &existed, err), STORE_OK);
	cr_expect(existed);
	cr_expect_eq(store_erase(s.st, "zq-erase-2@example.no", true, "test", &existed, err), STORE_OK);
	cr_expect(!files_contain(&s, "zq-erase-"));
	store_suppress_has(s.st, "zq-erase-1@example.no", &has, err);
	cr_expect(!has);
	store_suppress_has(s.st, "zq-erase-2@example.no", &has, err);
	cr_expect(has);
	cr_expect_eq(enroll(&s, "zq-erase-1@example.no", NULL, false, &res, &id), STORE_OK);
	cr_expect_eq(enroll(&s, "zq-erase-2@example.no", NULL, false, &res, &id), STORE_SUPPRESSED);
	/* erasing an unsubscribed address removes its suppression entry too */
	cr_expect_eq(store_erase(s.st, "zq-erase-2@example.no", false, "test", &existed, err), STORE_OK);
	cr_expect(!existed);
	store_suppress_has(s.st, "zq-erase-2@example.no", &has, err);
	cr_expect(!has);
	scratch_close(&s);
}

Test(store, rectify_and_restrict)
{
	struct scratch s;
	enum enroll_result res;
	struct subscriber sub;
	char err[ERR_LEN] = "";
	int64_t id, other;
	bool was;

	scratch_open(&s);
	enroll(&s, "zq-old@example.no", NULL, false, &res, &id);
	enroll(&s, "taken@example.no", NULL, false, &res, &other);
	cr_expect_eq(store_rectify(s.st, "zq-old@example.no", "taken@example.no", "test", err), STORE_EXISTS);
	cr_expect_eq(store_rectify(s.st, "nobody@example.no", "x@example.no", "test", err), STORE_NOTFOUND);
	cr_expect_eq(store_rectify(s.st, "zq-old@example.no", "bad", "test", err), STORE_INVALID);
	store_unsubscribe(s.st, "blocked@example.no", "test", &was, err);
	cr_expect_eq(store_rectify(s.st, "zq-old@example.no", "blocked@example.no", "test", err), STORE_SUPPRESSED);
	cr_assert_eq(store_rectify(s.st, "zq-old@example.no", "new@example.no", "test", err), STORE_OK, "%s", err);
	cr_assert_eq(store_subscriber_find(s.st, "new@example.no", &sub, err), STORE_OK);
	cr_expect_eq(sub.id, id);
	cr_expect(!files_contain(&s, "zq-old@"));

	cr_expect_eq(store_restrict(s.st, "new@example.no", true, "test", err), STORE_OK);
	store_subscriber_get(s.st, id, &sub, err);
	cr_expect_eq(sub.state, SUB_RESTRICTED);
	/* a purchase does not lift a restriction */
	enroll(&s, "new@example.no", NULL, false, &res, &id);
	store_subscriber_get(s.st, id, &sub, err);
	cr_expect_eq(sub.state, SUB_RESTRICTED);
	cr_expect_eq(store_restrict(s.st, "new@example.no", false, "test", err), STORE_OK);
	store_subscriber_get(s.st, id, &sub, err);
	cr_expect_eq(sub.state, SUB_ACTIVE);
	cr_expect_eq(store_restrict(s.st, "nobody@example.no", true, "test", err), STORE_NOTFOUND);
	scratch_close(&s);
}

/*
 * After rectify, a link mailed to the old address names a generation the
 * subscriber no longer has: the page view finds nobody, an unsubscribe by
 * it changes nothing, and replies that quoted the old address lose it.
 */
Test(store, rectify_binds_links_to_the_address)
{
	struct scratch s;
	enum enroll_result res;
	struct subscriber sub;
	char err[ERR_LEN] = "", email[ADDR_MAX + 1];
	int64_t id, mailing;
	bool was, existed;

	scratch_open(&s);
	enroll(&s, "zq-recycled@example.no", NULL, false, &res, &id);
	cr_assert_eq(store_mailing_open(s.st, "2026-49", "Week 49", &mailing, &existed, err), STORE_OK);
	cr_assert_eq(store_mailing_mark(s.st, mailing, id, DELIVERY_PENDING,
					"452 4.2.2 <ZQ-Recycled@example.no>: mailbox full, zq-recycled@example.no", err),
		     STORE_OK, "%s", err);
	cr_assert_eq(store_subscriber_get(s.st, id, &sub, err), STORE_OK);
	cr_expect_eq(sub.gen, 0);
	cr_assert_eq(store_rectify(s.st, "zq-recycled@example.no", "zq-new@example.no", "test", err),
		     STORE_OK, "%s", err);
	cr_assert_eq(store_subscriber_get(s.st, id, &sub, err), STORE_OK);
	cr_expect_eq(sub.gen, 1);
	/* the old link (generation 0): nobody; the new one: the new address */
	cr_expect_eq(store_subscriber_email(s.st, id, 0, email, err), STORE_NOTFOUND);
	cr_expect_str_eq(email, "");
	cr_expect_eq(store_subscriber_email(s.st, id, 1, email, err), STORE_OK);
	cr_expect_str_eq(email, "zq-new@example.no");
	cr_expect_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = id, .gen = 0}, STORE_DEL_UNSUBSCRIBED, "web", NULL, &was, err), STORE_OK);
	cr_expect(!was, "an old link unsubscribed the new address");
	cr_expect_eq(store_subscriber_get(s.st, id, &sub, err), STORE_OK);
	/* the reply keeps its words, not the old address, in any case */
	cr_expect(!files_contain(&s, "ecycled@"), "the old address is still in the files");
	cr_expect_eq(scratch_count(&s, "SELECT count(*) FROM delivery WHERE reply ="
			     " '452 4.2.2 <[a former address]>: mailbox full, [a former address]'"), 1);
	cr_expect_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = id, .gen = 1}, STORE_DEL_UNSUBSCRIBED, "web", NULL, &was, err), STORE_OK);
	cr_expect(was);
	scratch_close(&s);
}

/* An address corrected as often as a token can tell apart is refused. */
Test(store, rectify_stops_at_the_last_generation)
{
	struct scratch s;
	enum enroll_result res;
	char err[ERR_LEN] = "";
	int64_t id;
	sqlite3 *db;

	scratch_open(&s);
	enroll(&s, "zq-a@example.no", NULL, false, &res, &id);
	cr_assert_eq(sqlite3_open(s.db, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "UPDATE subscriber SET gen = 65534", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	cr_expect_eq(store_rectify(s.st, "zq-a@example.no", "zq-b@example.no", "test", err), STORE_OK, "%s", err);
	cr_expect_eq(store_rectify(s.st, "zq-b@example.no", "zq-c@example.no", "test", err), STORE_INVALID);
	cr_expect(strstr(err, "65535 times") != NULL, "%s", err);
	scratch_close(&s);
}

/* Erasure deletes the audit events about the person; one "erased" event
 * with neither hash nor id stays. */
Test(store, erase_deletes_the_audit_trail)
{
	struct scratch s;
	enum enroll_result res;
	char err[ERR_LEN] = "";
	int64_t id, keep;
	bool existed, was;
	json_t *o;

	scratch_open(&s);
	enroll(&s, "zq-erase@example.no", NULL, false, &res, &id);
	enroll(&s, "zq-keep@example.no", NULL, false, &res, &keep);
	cr_assert_eq(store_rectify(s.st, "zq-erase@example.no", "zq-erase2@example.no", "test", err), STORE_OK);
	store_restrict(s.st, "zq-erase2@example.no", true, "test", err);
	/* an event about the address alone, before the erasure */
	store_unsubscribe(s.st, "zq-erase3@example.no", "test", &was, err);
	cr_assert_eq(id, 1);
	/* enrolled, rectified (old and new address), restricted */
	cr_expect_eq(scratch_count(&s, "SELECT count(*) FROM audit WHERE subscriber_id = 1"), 4);
	cr_assert_eq(store_erase(s.st, "zq-erase2@example.no", false, "test", &existed, err), STORE_OK, "%s", err);
	cr_expect(existed);
	cr_expect_eq(scratch_count(&s, "SELECT count(*) FROM audit WHERE subscriber_id = 1"), 0);
	cr_expect_eq(scratch_count(&s, "SELECT count(*) FROM audit WHERE event = 'erased'"
			     " AND subject IS NULL AND subscriber_id IS NULL"), 1);
	cr_expect_eq(scratch_count(&s, "SELECT count(*) FROM audit WHERE subscriber_id = 2"), 1);
	cr_assert_eq(store_export(s.st, "zq-erase2@example.no", "Test", &o, err), STORE_OK);
	cr_expect_eq(json_array_size(json_object_get(json_object_get(o, "audit"), "items")), 0, "export still lists audit events");
	json_decref(o);
	/* events about another address stay */
	cr_assert_eq(store_export(s.st, "zq-erase3@example.no", "Test", &o, err), STORE_OK);
	cr_expect_eq(json_array_size(json_object_get(json_object_get(o, "audit"), "items")), 1);
	json_decref(o);
	scratch_close(&s);
}

Test(store, retention)
{
	struct scratch s;
	struct retention_result r;
	struct store_stats st;
	enum enroll_result res;
	char err[ERR_LEN] = "";
	int64_t id;

	scratch_open(&s);
	enroll(&s, "zq-old-buyer@example.no", "2020-01-01", false, &res, &id);
	enroll(&s, "recent@example.no", NULL, false, &res, &id);
	enroll(&s, "consented@example.no", "2020-01-01", true, &res, &id);
	cr_assert_eq(store_retention(s.st, 24, 36, true, &r, err), STORE_OK, "%s", err);
	cr_expect_eq(r.subscribers, 1);
	store_stats(s.st, &st, err);
	cr_expect_eq(st.active, 3);
	cr_assert_eq(store_retention(s.st, 24, 36, false, &r, err), STORE_OK, "%s", err);
	cr_expect_eq(r.subscribers, 1);
	store_stats(s.st, &st, err);
	cr_expect_eq(st.active, 2);
	cr_expect(!files_contain(&s, "zq-old-buyer"));
	/* expired is not unsubscribed: a new purchase enrols again */
	cr_expect_eq(enroll(&s, "zq-old-buyer@example.no", NULL, false, &res, &id), STORE_OK);
	/* 0 disables */
	cr_assert_eq(store_retention(s.st, 0, 0, false, &r, err), STORE_OK);
	cr_expect_eq(r.subscribers, 0);
	cr_expect_eq(r.subscriber_cutoff[0], '\0');
	scratch_close(&s);
}

Test(store, export_has_purpose_and_basis)
{
	struct scratch s;
	enum enroll_result res;
	char err[ERR_LEN] = "";
	json_t *o, *email;
	int64_t id;

	scratch_open(&s);
	enroll(&s, "kari@example.no", "2026-01-01", false, &res, &id);
	cr_assert_eq(store_export(s.st, "Kari@EXAMPLE.no", "Test", &o, err), STORE_OK, "%s", err);
	email = json_object_get(json_object_get(o, "subscriber"), "email");
	cr_expect_str_eq(json_string_value(json_object_get(email, "value")), "kari@example.no");
	cr_expect_not_null(json_string_value(json_object_get(email, "purpose")));
	cr_expect(strstr(json_string_value(json_object_get(email, "legal_basis")), "6(1)(f)") != NULL);
	cr_expect_eq(json_array_size(json_object_get(json_object_get(o, "audit"), "items")), 1);
	json_decref(o);
	cr_assert_eq(store_export(s.st, "nobody@example.no", "Test", &o, err), STORE_OK);
	cr_expect(json_is_null(json_object_get(o, "subscriber")));
	json_decref(o);
	cr_expect_eq(store_export(s.st, "bad", "Test", &o, err), STORE_INVALID);
	scratch_close(&s);
}

/*
 * Enrol, restrict, unsubscribe: the audit table holds the three events, each
 * with the subscriber's id and a keyed hash as the subject (the same one
 * each time), and no column of any row, nor any byte of the files, holds
 * the address.
 */
Test(store, audit_never_holds_the_address)
{
	static const char *const want[] = {"enrolled", "restricted", "unsubscribed"};
	struct scratch s;
	enum enroll_result res;
	char err[ERR_LEN] = "";
	unsigned char subject[64];
	int subject_len = -1;
	int64_t id;
	bool was = false;
	sqlite3 *db;
	sqlite3_stmt *q;
	size_t n = 0;

	scratch_open(&s);
	cr_assert_eq(enroll(&s, "zq-audit@example.no", NULL, false, &res, &id), STORE_OK);
	cr_assert_eq(res, ENROLL_NEW);
	cr_assert_eq(store_restrict(s.st, "zq-audit@example.no", true, "test", err), STORE_OK, "%s", err);
	cr_assert_eq(store_unsubscribe(s.st, "zq-audit@example.no", "test", &was, err), STORE_OK, "%s", err);
	cr_expect(was, "the subscriber was not there to unsubscribe");

	cr_assert_eq(sqlite3_open(s.db, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT event, subscriber_id, source, subject, detail"
					" FROM audit ORDER BY id", -1, &q, NULL), SQLITE_OK,
		     "%s", sqlite3_errmsg(db));
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *event = (const char *)sqlite3_column_text(q, 0);
		const char *source = (const char *)sqlite3_column_text(q, 2);
		const void *subj = sqlite3_column_blob(q, 3);
		int len = sqlite3_column_bytes(q, 3);
		const char *detail = (const char *)sqlite3_column_text(q, 4);

		cr_assert_lt(n, sizeof(want) / sizeof(want[0]), "an audit event too many: %s", event);
		cr_expect_str_eq(event, want[n], "event %zu", n);
		cr_expect_eq(sqlite3_column_int64(q, 1), id, "event %s: the subscriber's id", event);
		cr_expect_str_eq(source, "test");
		/* the subject: a keyed hash, the same for every event of the address */
		cr_expect_eq(sqlite3_column_type(q, 3), SQLITE_BLOB, "event %s: the subject is not a hash", event);
		cr_expect(len > 0 && len <= (int)sizeof(subject), "event %s: a subject of %d bytes", event, len);
		if (subject_len < 0 && len > 0 && len <= (int)sizeof(subject)) {
			memcpy(subject, subj, (size_t)len);
			subject_len = len;
		} else {
			cr_expect(len == subject_len && memcmp(subj, subject, (size_t)len) == 0,
				  "event %s: another subject", event);
		}
		cr_expect(memmem(subj, (size_t)len, "zq-audit", 8) == NULL, "event %s: the subject holds the address", event);
		cr_expect(detail == NULL || strstr(detail, "zq-audit") == NULL,
			  "event %s: the detail holds the address: %s", event, detail);
		n++;
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	cr_expect_eq(n, sizeof(want) / sizeof(want[0]), "%zu audit events", n);
	cr_expect(!files_contain(&s, "zq-audit"));
	scratch_close(&s);
}

Test(store, newer_schema_is_refused)
{
	struct scratch s;
	struct store *st2;
	char err[ERR_LEN] = "";
	sqlite3 *db;

	scratch_open(&s);
	cr_expect_geq(store_schema_version(s.st), 2);
	cr_assert_eq(sqlite3_open(s.db, &db), SQLITE_OK);
	sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
	sqlite3_close(db);
	cr_expect_eq(store_open(&st2, s.db, s.keys, err), STORE_ERROR);
	cr_expect(strstr(err, "newer than this program") != NULL, "%s", err);
	cr_expect_eq(store_create(s.db, err), STORE_EXISTS);
	scratch_close(&s);
}

/* What migration 6 (double opt-in) added, and 5 (a mailing's kept counts)
 * with it: a test that makes an older database takes them away first. */
#define UNDO_6 "DROP TABLE signup; DROP TABLE consent_text; DROP TABLE signup_pending;" \
	" ALTER TABLE subscriber DROP COLUMN consent_requested;" \
	" ALTER TABLE subscriber DROP COLUMN consent_confirmed;" \
	" ALTER TABLE subscriber DROP COLUMN consent_channel;" \
	" ALTER TABLE subscriber DROP COLUMN consent_hash;"
#define UNDO_5 UNDO_6 " DROP TRIGGER delivery_counted_insert; DROP TRIGGER delivery_counted_update;" \
	" ALTER TABLE mailing DROP COLUMN sent; ALTER TABLE mailing DROP COLUMN failed;" \
	" ALTER TABLE mailing DROP COLUMN bounced; ALTER TABLE mailing DROP COLUMN unsubscribed;"

Test(store, version_1_migrates_to_the_bounce_score)
{
	struct scratch s;
	struct store *st2;
	char err[ERR_LEN] = "";
	sqlite3 *db;
	sqlite3_stmt *q;

	scratch_open(&s);
	store_close(s.st);
	/* Make the file a version 1 database, as the first release wrote it. */
	cr_assert_eq(sqlite3_open(s.db, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, UNDO_5 "DROP TABLE bounce; ALTER TABLE subscriber DROP COLUMN gen;"
				  " PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	cr_assert_eq(store_open(&st2, s.db, s.keys, err), STORE_OK, "%s", err);
	cr_expect_geq(store_schema_version(st2), 3);
	store_close(st2);
	cr_assert_eq(sqlite3_open(s.db, &db), SQLITE_OK);
	cr_expect_eq(sqlite3_prepare_v2(db, "SELECT subscriber_id, day, status, reason FROM bounce", -1, &q, NULL),
		     SQLITE_OK, "the bounce table exists after the migration");
	sqlite3_finalize(q);
	sqlite3_close(db);
	cr_assert_eq(store_open(&s.st, s.db, s.keys, err), STORE_OK, "%s", err);
	scratch_close(&s);
}

/*
 * A version 4 database counted a mailing from its deliveries: migrating
 * keeps what they say (sent and failed; later deletions were not known),
 * in the same step as the triggers that keep the counts from then on, and
 * a deletion after the migration no longer shrinks them.
 */
Test(store, version_4_keeps_the_counts_of_the_deliveries)
{
	struct scratch s;
	struct mailing_counts c;
	enum enroll_result res;
	char err[ERR_LEN] = "", email[32];
	int64_t ids[6], m = 0;
	bool existed, was;
	long long added;
	sqlite3 *db;

	scratch_open(&s);
	for (int i = 0; i < 6; i++) {
		cr_assert(snprintf(email, sizeof(email), "zq-m%d@example.no", i) < (int)sizeof(email));
		cr_assert_eq(enroll(&s, email, NULL, false, &res, &ids[i]), STORE_OK);
	}
	cr_assert_eq(store_mailing_open(s.st, "old", "Old", &m, &existed, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_fill(s.st, m, &added, err), STORE_OK, "%s", err);
	store_close(s.st);
	/* Version 4, with deliveries written as it wrote them: 3 sent, 2 failed, 1 pending. */
	cr_assert_eq(sqlite3_open(s.db, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, UNDO_5
		"UPDATE delivery SET state = 'sent' WHERE subscriber_id <= 3;"
		"UPDATE delivery SET state = 'failed' WHERE subscriber_id IN (4, 5);"
		"PRAGMA user_version = 4", NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
	cr_assert_eq(store_open(&s.st, s.db, s.keys, err), STORE_OK, "%s", err);
	cr_expect_geq(store_schema_version(s.st), 5);
	cr_assert_eq(store_mailing_counts(s.st, m, &c, err), STORE_OK, "%s", err);
	cr_expect_eq(c.sent, 3);
	cr_expect_eq(c.failed, 2);
	cr_expect_eq(c.pending, 1);
	cr_assert_eq(store_unsubscribe(s.st, "zq-m0@example.no", "test", &was, err), STORE_OK, "%s", err);
	cr_assert_eq(store_erase(s.st, "zq-m3@example.no", false, "test", &was, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_sent(s.st, m, &ids[5], 1, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_counts(s.st, m, &c, err), STORE_OK, "%s", err);
	cr_expect_eq(c.sent, 4, "3 kept, one more by the trigger, none lost with the deleted");
	cr_expect_eq(c.failed, 2);
	cr_expect_eq(c.pending, 0);
	scratch_close(&s);
}

/* A version 3 database may hold quoted local parts as written: opening it
 * writes them in their shortest form, so that lookups find them. */
Test(store, version_3_renormalizes_quoted_addresses)
{
	struct scratch s;
	struct subscriber sub;
	char err[ERR_LEN] = "";
	sqlite3 *db;

	scratch_open(&s);
	store_close(s.st);
	cr_assert_eq(sqlite3_open(s.db, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, UNDO_5
		"INSERT INTO subscriber(email, enrolled, last_purchase) VALUES"
		" ('\"per.x\"@example.com', '2026-01-01T00:00:00Z', '2026-01-01'),"
		" ('\"a b\"@example.com', '2026-01-01T00:00:00Z', '2026-01-01'),"
		" ('\"ola\"@example.com', '2026-01-01T00:00:00Z', '2026-01-01'),"
		" ('ola@example.com', '2026-01-01T00:00:00Z', '2026-01-01');"
		" PRAGMA user_version = 3", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	cr_assert_eq(store_open(&s.st, s.db, s.keys, err), STORE_OK, "%s", err);
	cr_expect_geq(store_schema_version(s.st), 4);
	cr_expect_eq(store_subscriber_find(s.st, "per.x@example.com", &sub, err), STORE_OK, "%s", err);
	cr_expect_str_eq(sub.email, "per.x@example.com");
	cr_expect_eq(store_subscriber_find(s.st, "\"a b\"@example.com", &sub, err), STORE_OK, "%s", err);
	/* the shortest form is another subscriber's: kept as written, by id */
	cr_expect_eq(store_subscriber_get(s.st, 3, &sub, err), STORE_OK);
	cr_expect_str_eq(sub.email, "\"ola\"@example.com");
	scratch_close(&s);
}

/*
 * store_delete_claims, the one deletion by id (a hard bounce, an unsubscribe
 * by token or by mail): a row per caller. Each deletes the subscriber,
 * keeps a suppression entry and an audit event with the caller's source
 * and detail (the event names the reason), scrubs the address from the
 * files (in its own transaction, or at the caller's store_end()), and
 * says whether anyone was deleted: nobody the second time, nobody for a
 * generation the subscriber no longer has.
 */
Test(store, delete_id_is_the_one_deletion)
{
	static const struct {
		const char *email;
		enum store_deletion why;
		const char *source, *detail, *event;
		bool callers_tx;	/* inside the caller's store_begin() .. store_end() */
	} rows[] = {
		{"zq-hard-4711@example.no", STORE_DEL_BOUNCED, "bounce", "5.1.1 unknown-user", "bounced", false},
		{"zq-send-4711@example.no", STORE_DEL_BOUNCED, "send", "rejected at send time: 5.1.1", "bounced", true},
		{"zq-link-4711@example.no", STORE_DEL_UNSUBSCRIBED, "web", NULL, "unsubscribed", true},
		{"zq-mail-4711@example.no", STORE_DEL_UNSUBSCRIBED, "bounce", NULL, "unsubscribed", false},
	};
	enum enroll_result res;
	struct subscriber sub;
	struct scratch s;
	char err[ERR_LEN] = "", sql[256];
	bool was, has;
	int64_t id;

	scratch_open(&s);
	neighbours(&s, 50);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *local = rows[i].email;

		cr_assert_eq(enroll(&s, rows[i].email, NULL, false, &res, &id), STORE_OK);
		cr_expect(files_contain(&s, "4711@example.no"));
		/* a generation the subscriber does not have: nothing */
		cr_expect_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = id, .gen = 1}, rows[i].why, rows[i].source, rows[i].detail, &was, err),
			     STORE_OK, "%s", err);
		cr_expect(!was, "%s: deleted by a generation they never had", local);
		cr_expect_eq(store_subscriber_get(s.st, id, &sub, err), STORE_OK, "%s", local);

		if (rows[i].callers_tx)
			cr_assert_eq(store_begin(s.st, err), STORE_OK, "%s", err);
		cr_expect_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = id, .gen = 0}, rows[i].why, rows[i].source, rows[i].detail, &was, err),
			     STORE_OK, "%s: %s", local, err);
		cr_expect(was, "%s: not deleted", local);
		if (rows[i].callers_tx)
			cr_expect_eq(store_end(s.st, STORE_OK, err), STORE_OK, "%s", err);

		cr_expect_eq(store_subscriber_get(s.st, id, &sub, err), STORE_NOTFOUND, "%s", local);
		cr_expect_eq(store_suppress_has(s.st, rows[i].email, &has, err), STORE_OK);
		cr_expect(has, "%s: no suppression entry", local);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM suppression WHERE reason = '%s'", rows[i].event);
		cr_expect_geq(scratch_count(&s, sql), 1, "%s: no suppression entry '%s'", local, rows[i].event);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE subscriber_id = %lld AND event = '%s'"
			 " AND source = '%s' AND detail %s%s%s AND subject IS NOT NULL", (long long)id, rows[i].event,
			 rows[i].source, rows[i].detail ? "= '" : "IS NULL", rows[i].detail ? rows[i].detail : "",
			 rows[i].detail ? "'" : "");
		cr_expect_eq(scratch_count(&s, sql), 1, "%s: audit event: %s", local, sql);
		cr_expect(!files_contain(&s, "4711@example.no"), "%s: the address is still in the files", local);

		/* gone already: not an error, nobody deleted, no second event */
		cr_expect_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = id, .gen = 0}, rows[i].why, rows[i].source, rows[i].detail, &was, err),
			     STORE_OK, "%s", err);
		cr_expect(!was, "%s: deleted twice", local);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE subscriber_id = %lld AND event = '%s'",
			 (long long)id, rows[i].event);
		cr_expect_eq(scratch_count(&s, sql), 1, "%s", local);
	}
	/* a caller's transaction that fails is rolled back: nobody deleted */
	cr_assert_eq(enroll(&s, "zq-kept@example.no", NULL, false, &res, &id), STORE_OK);
	cr_assert_eq(store_begin(s.st, err), STORE_OK, "%s", err);
	cr_expect_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = id, .gen = 0}, STORE_DEL_BOUNCED, "bounce", "5.1.1", &was, err), STORE_OK);
	cr_expect(was);
	cr_expect_eq(store_end(s.st, STORE_ERROR, err), STORE_ERROR);
	cr_expect_eq(store_subscriber_get(s.st, id, &sub, err), STORE_OK, "a rolled back deletion stands");
	scratch_close(&s);
}

/* A version 5 database gains the signup tables and the consent evidence
 * columns; its subscribers are kept. */
Test(store, version_5_migrates_to_double_opt_in)
{
	struct scratch s;
	struct subscriber sub;
	enum enroll_result res;
	enum signup_outcome out;
	char err[ERR_LEN] = "";
	int64_t id;
	sqlite3 *db;

	scratch_open(&s);
	cr_assert_eq(enroll(&s, "kept@example.no", NULL, false, &res, &id), STORE_OK);
	store_close(s.st);
	cr_assert_eq(sqlite3_open(s.db, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, UNDO_6 " PRAGMA user_version = 5", NULL, NULL, NULL), SQLITE_OK,
		     "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
	cr_assert_eq(store_open(&s.st, s.db, s.keys, err), STORE_OK, "%s", err);
	cr_expect_geq(store_schema_version(s.st), 6);
	cr_expect_eq(store_subscriber_find(s.st, "kept@example.no", &sub, err), STORE_OK, "%s", err);
	cr_expect_eq(store_signup_request(s.st, &(struct signup){.email = "new@example.no", .lang = "en",
			.consent_text = "Yes.", .channel = SIGNUP_API, .confirm_hours = 1,
			.resend_hours = 1, .max_pending = 10}, &out, err), STORE_OK, "%s", err);
	cr_expect_eq(out, SIGNUP_QUEUED);
	scratch_close(&s);
}
