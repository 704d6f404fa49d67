/*
 * store/bounce.c - what a bounce does to a subscriber: a soft bounce adds a point
 * to their bounce score (at most one a day), and enough points within the
 * window count as a hard bounce. Points older than the window no longer
 * count and are deleted: the score decays when no bounce comes. (A hard
 * bounce is a deletion like any other: store_delete_claims() in subscriber.c.)
 *
 * Called by bounce/ with a subscriber id from a verified token (or, when
 * the operator allows it, from an address). Each function is one
 * transaction, or joins the caller's. Audit details hold a status code and
 * a short word, never an address.
 */
#include "store_int.h"

#include <string.h>

/* "-N days" for SQLite's date(): an int always fits in 32 bytes. */
static enum store_status
window_too_long(char *err)
{
	errf(err, "the bounce window in days does not fit in the date modifier");
	return STORE_INVALID;
}

enum store_status
store_bounce_soft(struct store *st, int64_t id, const char *status, const char *reason,
		  int threshold, int window_days, int *score, bool *deleted, char *err)
{
	static const char prune[] =
		"DELETE FROM bounce WHERE subscriber_id = ?1 AND day <= date(?2, ?3)";
	static const char add[] =
		"INSERT OR IGNORE INTO bounce(subscriber_id, day, status, reason) VALUES (?1, ?2, ?3, ?4)";
	static const char sum[] = "SELECT count(*) FROM bounce WHERE subscriber_id = ?1";
	struct subscriber sub;
	char window[32], detail[128];
	sqlite3_stmt *q;
	enum store_status s;
	bool own;
	int rc;

	*deleted = false;
	*score = 0;
	if ((s = store_tx_start(st, &own, err)) != STORE_OK)
		return s;
	s = store_subscriber_get(st, id, &sub, err);
	if (s == STORE_NOTFOUND) {
		s = STORE_OK;
		goto out;
	}
	if (s != STORE_OK)
		goto out;
	if (fmt(window, sizeof(window), "-%d days", window_days) != 0) {
		s = window_too_long(err);
		goto out;
	}
	if ((q = store_stmt(st, prune, err)) == NULL) {
		s = STORE_ERROR;
		goto out;
	}
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_text(q, 2, store_today(st), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, window, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		s = store_fail(st, rc, "decaying a bounce score", err);
		goto out;
	}
	if ((q = store_stmt(st, add, err)) == NULL) {
		s = STORE_ERROR;
		goto out;
	}
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_text(q, 2, store_today(st), -1, SQLITE_STATIC);
	if (status && *status)
		sqlite3_bind_text(q, 3, status, -1, SQLITE_STATIC);
	if (reason && *reason)
		sqlite3_bind_text(q, 4, reason, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		s = store_fail(st, rc, "counting a soft bounce", err);
		goto out;
	}
	if ((q = store_stmt(st, sum, err)) == NULL) {
		s = STORE_ERROR;
		goto out;
	}
	sqlite3_bind_int64(q, 1, id);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*score = sqlite3_column_int(q, 0);
	sqlite3_reset(q);
	if (rc != SQLITE_ROW) {
		s = store_fail(st, rc, "reading a bounce score", err);
		goto out;
	}
	if (*score >= threshold) {
		if (fmt(detail, sizeof(detail), "%d soft bounces within %d days (last %s %s)",
			*score, window_days, status && *status ? status : "-", reason ? reason : "") != 0) {
			s = STORE_INVALID;
			errf(err, "the audit detail of a soft bounce (status and reason) is longer than %zu bytes",
			     sizeof(detail) - 1);
			goto out;
		}
		s = store_remove(st, &sub, 0, "bounced", "bounce", detail, err);
		*deleted = s == STORE_OK;
	}
out:
	sodium_memzero(&sub, sizeof(sub));
	return store_end_deletion(st, own, s, *deleted, err);
}

enum store_status
store_bounce_score(struct store *st, int64_t id, int window_days, int *score, char *err)
{
	static const char sql[] =
		"SELECT count(*) FROM bounce WHERE subscriber_id = ?1 AND day > date(?2, ?3)";
	char window[32];
	sqlite3_stmt *q = store_stmt(st, sql, err);
	int rc;

	*score = 0;
	if (q == NULL)
		return STORE_ERROR;
	if (fmt(window, sizeof(window), "-%d days", window_days) != 0)
		return window_too_long(err);
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_text(q, 2, store_today(st), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, window, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*score = sqlite3_column_int(q, 0);
	sqlite3_reset(q);
	return rc == SQLITE_ROW ? STORE_OK : store_fail(st, rc, "reading a bounce score", err);
}
