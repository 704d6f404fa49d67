/*
 * store/stats.c - counts for 'newsletter stats' and the web's metrics:
 * subscribers by state, suppression entries, audit events, last mailing.
 */
#include "store_int.h"

#include <string.h>

static enum store_status
count(struct store *st, const char *sql, long long *out, char *err)
{
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	rc = sqlite3_step(s);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? STORE_OK : store_fail(st, rc, "counting", err);
}

enum store_status
store_stats(struct store *st, struct store_stats *out, char *err)
{
	static const char active[] = "SELECT count(*) FROM subscriber WHERE state = 'active'";
	static const char restricted[] = "SELECT count(*) FROM subscriber WHERE state = 'restricted'";
	static const char suppressed[] = "SELECT count(*) FROM suppression";
	static const char audit[] = "SELECT count(*) FROM audit";
	static const char last[] =
		"SELECT m.ident, m.subject, m.created, m.sent,"
		" (SELECT count(*) FROM delivery d WHERE d.mailing_id = m.id AND d.state = 'pending'),"
		" m.failed"	/* kept on the row: they outlive the subscribers */
		" FROM mailing m ORDER BY m.id DESC LIMIT 1";
	enum store_status r;
	sqlite3_stmt *s;
	int rc;

	memset(out, 0, sizeof(*out));
	/* One read transaction, so that the counts agree with each other. */
	if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(st, sqlite3_errcode(st->db), "reading counts", err);
	if ((r = count(st, active, &out->active, err)) != STORE_OK ||
	    (r = count(st, restricted, &out->restricted, err)) != STORE_OK ||
	    (r = count(st, suppressed, &out->suppressed, err)) != STORE_OK ||
	    (r = count(st, audit, &out->audit_events, err)) != STORE_OK)
		goto out;
	if ((s = store_stmt(st, last, err)) == NULL) {
		r = STORE_ERROR;
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *ident = (const char *)sqlite3_column_text(s, 0);
		const char *subject = (const char *)sqlite3_column_text(s, 1);
		const char *created = (const char *)sqlite3_column_text(s, 2);

		out->has_mailing = true;
		/*
		 * store_mailing_open refuses an ident or subject longer than the
		 * fields, and created is a timestamp of store_now(): they fit,
		 * unless the row was written by something else.
		 */
		if (fmt(out->mailing_ident, sizeof(out->mailing_ident), "%s", ident ? ident : "") < 0 ||
		    fmt(out->mailing_subject, sizeof(out->mailing_subject), "%s", subject ? subject : "") < 0 ||
		    fmt(out->mailing_created, sizeof(out->mailing_created), "%s", created ? created : "") < 0) {
			errf(err, "the last mailing's id, subject or time is longer than %d, %d or %d bytes",
			     MAILING_IDENT_MAX, MAILING_SUBJECT_MAX, TIMESTAMP_LEN - 1);
			r = STORE_ERROR;
		}
		out->mailing_sent = sqlite3_column_int64(s, 3);
		out->mailing_pending = sqlite3_column_int64(s, 4);
		out->mailing_failed = sqlite3_column_int64(s, 5);
	} else if (rc != SQLITE_DONE) {
		r = store_fail(st, rc, "reading the last mailing", err);
	}
	sqlite3_reset(s);
out:
	sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	return r;
}
