/*
 * store/retention.c - deletes what has no purpose any more: subscribers
 * whose legal basis expired (no purchase, and no consent, within the
 * configured months), audit events older than their age limit, and
 * pending signups whose confirmation links expired.
 *
 * An expired subscriber gets no suppression entry: they did not object, and
 * a new purchase may enrol them again.
 */
#include "store_int.h"

#include <string.h>

/* The basis date: the later of the last purchase and an explicit consent. */
#define EXPIRED_WHERE "max(last_purchase, coalesce(consent_date, '')) < ?1"

static enum store_status
expire_subscribers(struct store *st, const char *cutoff, bool dry_run,
		   long long *n, char *err)
{
	static const char cnt[] = "SELECT count(*) FROM subscriber WHERE " EXPIRED_WHERE;
	static const char log[] =
		"INSERT INTO audit(at, event, subject, subscriber_id, source, detail)"
		" SELECT ?2, 'expired', audit_hash(email), id, 'retention',"
		" 'no purchase or consent within the retention period'"
		" FROM subscriber WHERE " EXPIRED_WHERE;
	static const char del[] = "DELETE FROM subscriber WHERE " EXPIRED_WHERE;
	char now[TIMESTAMP_LEN];
	sqlite3_stmt *s;
	int rc;

	/* Set-based: the audit rows first, then the rows they speak of. */
	if ((s = store_stmt(st, dry_run ? cnt : log, err)) == NULL)
		return STORE_ERROR;
	timestamp_now(now);
	sqlite3_bind_text(s, 1, cutoff, -1, SQLITE_STATIC);
	if (!dry_run)
		sqlite3_bind_text(s, 2, now, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (dry_run && rc == SQLITE_ROW) {
		*n = sqlite3_column_int64(s, 0);
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, rc, "finding expired subscribers", err);
	if (dry_run)
		return STORE_OK;
	if ((s = store_stmt(st, del, err)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, cutoff, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	*n = sqlite3_changes(st->db);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "deleting expired subscribers", err);
}

static enum store_status
expire_audit(struct store *st, const char *cutoff, bool dry_run, long long *n, char *err)
{
	static const char cnt[] = "SELECT count(*) FROM audit WHERE at < ?1";
	static const char del[] = "DELETE FROM audit WHERE at < ?1";
	sqlite3_stmt *s = store_stmt(st, dry_run ? cnt : del, err);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, cutoff, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (dry_run && rc == SQLITE_ROW) {
		*n = sqlite3_column_int64(s, 0);
		rc = SQLITE_DONE;
	} else if (rc == SQLITE_DONE) {
		*n = sqlite3_changes(st->db);
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "deleting old audit events", err);
}

enum store_status
store_retention(struct store *st, int months_without_purchase, int audit_months,
		bool dry_run, struct retention_result *out, char *err)
{
	enum store_status s;

	memset(out, 0, sizeof(*out));
	if ((s = store_begin(st, err)) != STORE_OK)
		return s;
	if (months_without_purchase > 0) {
		date_months_ago(months_without_purchase, out->subscriber_cutoff);
		s = expire_subscribers(st, out->subscriber_cutoff, dry_run, &out->subscribers, err);
	}
	if (s == STORE_OK && audit_months > 0) {
		/* Audit times are timestamps: a date compares as its midnight. */
		date_months_ago(audit_months, out->audit_cutoff);
		s = expire_audit(st, out->audit_cutoff, dry_run, &out->audit_events, err);
	}
	/* Unconfirmed signups whose links expired (serve deletes them every
	 * minute; this is for a store that no server runs on). */
	if (s == STORE_OK)
		s = store_signup_expire(st, &out->signups, err);
	if (s != STORE_OK || dry_run) {
		store_rollback(st);
		return s;
	}
	if ((s = store_commit(st, err)) == STORE_OK &&
	    out->subscribers + out->audit_events + out->signups > 0)
		store_scrub(st, err);
	return s;
}
