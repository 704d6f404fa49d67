/*
 * store/mailing.c - mailings and their deliveries: one row per (mailing,
 * subscriber) that says pending, sent or failed, so that a send that was
 * killed resumes where it stopped and never skips anyone.
 *
 * Trusts its callers for mailing and subscriber ids (they come from this
 * store). Every change is its own short transaction, so that a message the
 * server accepted is recorded as sent before the next one goes out on its
 * connection (the messages several connections had accepted meanwhile share
 * one commit: store_mailing_sent), and an unsubscribe from 'serve' never
 * waits long behind a send.
 */
#include "store_int.h"

#include <string.h>

/* Subscribers given delivery rows per transaction (the write lock's hold). */
#define FILL_CHUNK 20000

enum store_status
store_mailing_find(struct store *st, const char *ident, int64_t *mailing, char *err)
{
	static const char sql[] = "SELECT id FROM mailing WHERE ident = ?1";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	*mailing = 0;
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, ident, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*mailing = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return STORE_OK;
	return store_fail(st, rc, "reading the mailing", err);
}

enum store_status
store_mailing_open(struct store *st, const char *ident, const char *subject,
		   int64_t *mailing, bool *existed, char *err)
{
	static const char ins[] =
		"INSERT OR IGNORE INTO mailing (ident, subject, created) VALUES (?1, ?2, ?3)";
	static const char sel[] = "SELECT id FROM mailing WHERE ident = ?1";
	sqlite3_stmt *s;
	enum store_status r;
	bool own;
	int rc;

	/* What store_stats reads back must fit its fields. */
	if (strlen(ident) > MAILING_IDENT_MAX) {
		errf(err, "the mailing's id is longer than %d bytes (it has %zu)",
		     MAILING_IDENT_MAX, strlen(ident));
		return STORE_INVALID;
	}
	if (strlen(subject) > MAILING_SUBJECT_MAX) {
		errf(err, "the mailing's subject is longer than %d bytes (it has %zu)",
		     MAILING_SUBJECT_MAX, strlen(subject));
		return STORE_INVALID;
	}
	if ((r = store_tx_start(st, &own, err)) != STORE_OK)
		return r;
	if ((s = store_stmt(st, ins, err)) == NULL)
		return store_tx_end(st, own, STORE_ERROR, err);
	sqlite3_bind_text(s, 1, ident, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, store_now(st), -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_tx_end(st, own, store_fail(st, rc, "recording the mailing", err), err);
	*existed = sqlite3_changes(st->db) == 0;
	if ((s = store_stmt(st, sel, err)) == NULL)
		return store_tx_end(st, own, STORE_ERROR, err);
	sqlite3_bind_text(s, 1, ident, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*mailing = sqlite3_column_int64(s, 0);
		r = STORE_OK;
		if (*mailing > TOKEN_MAILING_MAX) {
			errf(err, "mailing id %lld is beyond what a link can name (%lld)",
			     (long long)*mailing, (long long)TOKEN_MAILING_MAX);
			r = STORE_ERROR;
		}
	} else {
		r = store_fail(st, rc, "reading the mailing", err);
	}
	sqlite3_reset(s);
	return store_tx_end(st, own, r, err);
}

enum store_status
store_mailing_fill(struct store *st, int64_t mailing, long long *added, char *err)
{
	static const char max[] = "SELECT coalesce(max(id), 0) FROM subscriber";
	static const char ins[] =
		"INSERT OR IGNORE INTO delivery (mailing_id, subscriber_id, state, updated)"
		" SELECT ?1, id, 'pending', ?2 FROM subscriber"
		" WHERE id > ?3 AND id <= ?4 AND state = 'active'";
	sqlite3_stmt *s;
	enum store_status r;
	int64_t top, lo;
	int rc;

	*added = 0;
	if ((s = store_stmt(st, max, err)) == NULL)
		return STORE_ERROR;
	rc = sqlite3_step(s);
	top = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return store_fail(st, rc, "counting subscribers", err);
	for (lo = 0; lo < top; lo += FILL_CHUNK) {
		if ((r = store_begin(st, err)) != STORE_OK)
			return r;
		if ((s = store_stmt(st, ins, err)) == NULL) {
			store_rollback(st);
			return STORE_ERROR;
		}
		sqlite3_bind_int64(s, 1, mailing);
		sqlite3_bind_text(s, 2, store_now(st), -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, lo);
		sqlite3_bind_int64(s, 4, lo + FILL_CHUNK);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE) {
			store_rollback(st);
			return store_fail(st, rc, "listing the recipients", err);
		}
		*added += sqlite3_changes(st->db);
		if ((r = store_commit(st, err)) != STORE_OK)
			return r;
	}
	return STORE_OK;
}

enum store_status
store_mailing_counts(struct store *st, int64_t mailing, struct mailing_counts *out,
		     char *err)
{
	/* Sent and failed as kept on the mailing's row (they outlive the
	 * subscribers: migration 5); pending ones are live by nature. */
	static const char sql[] =
		"SELECT m.sent, m.failed,"
		" (SELECT count(*) FROM delivery d JOIN subscriber s ON s.id = d.subscriber_id"
		"  WHERE d.mailing_id = m.id AND d.state = 'pending' AND s.state = 'active')"
		" FROM mailing m WHERE m.id = ?1";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, mailing);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->sent = sqlite3_column_int64(s, 0);
		out->failed = sqlite3_column_int64(s, 1);
		out->pending = sqlite3_column_int64(s, 2);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK
		: store_fail(st, rc, "counting deliveries", err);
}

enum store_status
store_mailing_left(struct store *st, int64_t subscriber, int64_t mailing, bool bounced,
		   char *err)
{
	/*
	 * The mailing named, else the newest one sent to them. A hard bounce
	 * of a delivery still pending was a refusal at send time: the message
	 * never went out, and it counts as failed too (the send's own tally
	 * does), since the pending row goes with the subscriber.
	 */
	static const char sql[] =
		"UPDATE mailing SET bounced = bounced + ?3, unsubscribed = unsubscribed + (1 - ?3),"
		" failed = failed + (?3 AND EXISTS (SELECT 1 FROM delivery d WHERE d.mailing_id = mailing.id"
		"  AND d.subscriber_id = ?2 AND d.state = 'pending'))"
		" WHERE id = CASE WHEN ?1 > 0 THEN ?1 ELSE (SELECT max(d.mailing_id) FROM delivery d"
		"  WHERE d.subscriber_id = ?2 AND d.state = 'sent') END";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, mailing);
	sqlite3_bind_int64(s, 2, subscriber);
	sqlite3_bind_int(s, 3, bounced ? 1 : 0);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "counting on the mailing", err);
}

enum store_status
store_mailing_each(struct store *st, int (*cb)(const struct mailing_summary *, void *),
		   void *arg, char *err)
{
	static const char sql[] =
		"SELECT m.id, m.ident, m.subject, m.created, coalesce(m.finished, ''),"
		" m.sent, m.failed, m.bounced, m.unsubscribed,"
		" (SELECT count(*) FROM delivery d WHERE d.mailing_id = m.id AND d.state = 'pending')"
		" FROM mailing m ORDER BY m.id";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	struct mailing_summary m;
	enum store_status r = STORE_OK;
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *ident = (const char *)sqlite3_column_text(s, 1);
		const char *subject = (const char *)sqlite3_column_text(s, 2);
		const char *created = (const char *)sqlite3_column_text(s, 3);
		const char *finished = (const char *)sqlite3_column_text(s, 4);

		memset(&m, 0, sizeof(m));
		m.id = sqlite3_column_int64(s, 0);
		/* store_mailing_open keeps ident and subject within the fields,
		 * and the times are store_now()'s: a longer one was written by
		 * something else. */
		if (fmt(m.ident, sizeof(m.ident), "%s", ident ? ident : "") < 0 ||
		    fmt(m.subject, sizeof(m.subject), "%s", subject ? subject : "") < 0 ||
		    fmt(m.created, sizeof(m.created), "%s", created ? created : "") < 0 ||
		    fmt(m.finished, sizeof(m.finished), "%s", finished ? finished : "") < 0) {
			errf(err, "mailing %lld: its id, subject or a time is longer than %d, %d or %d bytes",
			     (long long)m.id, MAILING_IDENT_MAX, MAILING_SUBJECT_MAX, TIMESTAMP_LEN - 1);
			r = STORE_ERROR;
			break;
		}
		m.sent = sqlite3_column_int64(s, 5);
		m.failed = sqlite3_column_int64(s, 6);
		m.bounced = sqlite3_column_int64(s, 7);
		m.unsubscribed = sqlite3_column_int64(s, 8);
		m.pending = sqlite3_column_int64(s, 9);
		if (cb(&m, arg) != 0)
			break;
	}
	if (r == STORE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = store_fail(st, rc, "reading the mailings", err);
	sqlite3_reset(s);
	return r;
}

/* Active subscribers above ?2 with no delivery of the mailing yet, or a pending one. */
#define DUE_FROM \
	" FROM subscriber s LEFT JOIN delivery d ON d.mailing_id = ?1 AND d.subscriber_id = s.id" \
	" WHERE s.id > ?2 AND s.state = 'active' AND coalesce(d.state, 'pending') = 'pending'"

enum store_status
store_mailing_due(struct store *st, int64_t mailing, long long *due, char *err)
{
	static const char sql[] = "SELECT count(*)" DUE_FROM;
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, mailing);
	sqlite3_bind_int64(s, 2, 0);
	rc = sqlite3_step(s);
	*due = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? STORE_OK : store_fail(st, rc, "counting recipients", err);
}

int
store_mailing_next(struct store *st, int64_t mailing, int64_t after,
		   struct recipient *out, int max, char *err)
{
	static const char sql[] =
		"SELECT s.id, s.email, coalesce(s.name, ''), s.gen" DUE_FROM " ORDER BY s.id LIMIT ?3";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int n = 0, rc = SQLITE_DONE;

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, mailing);
	sqlite3_bind_int64(s, 2, after);
	sqlite3_bind_int(s, 3, max);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct recipient *r = &out[n++];
		const char *email = (const char *)sqlite3_column_text(s, 1);
		const char *name = (const char *)sqlite3_column_text(s, 2);

		r->id = sqlite3_column_int64(s, 0);
		r->gen = (unsigned)sqlite3_column_int64(s, 3);
		/*
		 * Enrolment and rectify write at most ADDR_MAX and NAME_MAX_LEN
		 * bytes; a longer row was written by something else, and a cut
		 * address would be mailed as another one.
		 */
		if (fmt(r->email, sizeof(r->email), "%s", email ? email : "") < 0 ||
		    fmt(r->name, sizeof(r->name), "%s", name ? name : "") < 0) {
			sqlite3_reset(s);
			errf(err, "subscriber %lld: the address or name in the database is longer than"
			     " %d or %d bytes", (long long)r->id, ADDR_MAX, NAME_MAX_LEN);
			return -1;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sqlite3_reset(s);
		store_fail(st, rc, "reading the recipients", err);
		return -1;
	}
	sqlite3_reset(s);
	return n;
}

enum store_status
store_mailing_mark(struct store *st, int64_t mailing, int64_t subscriber,
		   enum delivery_state state, const char *reply, char *err)
{
	static const char sql[] =
		"INSERT INTO delivery (mailing_id, subscriber_id, state, attempts, updated, reply)"
		" SELECT ?1, ?2, ?3, 1, ?4, ?5 WHERE EXISTS (SELECT 1 FROM subscriber WHERE id = ?2)"
		" ON CONFLICT (mailing_id, subscriber_id) DO UPDATE"
		" SET state = ?3, attempts = attempts + 1, updated = ?4, reply = ?5";
	static const char *const names[] = {
		[DELIVERY_PENDING] = "pending", [DELIVERY_SENT] = "sent", [DELIVERY_FAILED] = "failed",
	};
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	/* Autocommit: one statement, one transaction. */
	sqlite3_bind_int64(s, 1, mailing);
	sqlite3_bind_int64(s, 2, subscriber);
	sqlite3_bind_text(s, 3, names[state], -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, store_now(st), -1, SQLITE_STATIC);
	if (reply)
		sqlite3_bind_text(s, 5, reply, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "recording a delivery", err);
}

enum store_status
store_mailing_sent(struct store *st, int64_t mailing, const int64_t *subscribers, int n,
		   char *err)
{
	/* The row is there (store_mailing_open made it pending): an update by
	 * primary key, the cheapest write; the upsert only when it is not. */
	static const char sql[] =
		"UPDATE delivery SET state = 'sent', attempts = attempts + 1, updated = ?3, reply = NULL"
		" WHERE mailing_id = ?1 AND subscriber_id = ?2";
	enum store_status r;
	bool own;

	if ((r = store_tx_start(st, &own, err)) != STORE_OK)
		return r;
	for (int i = 0; i < n && r == STORE_OK; i++) {
		sqlite3_stmt *s = store_stmt(st, sql, err);
		int rc;

		if (s == NULL) {
			r = STORE_ERROR;
			break;
		}
		sqlite3_bind_int64(s, 1, mailing);
		sqlite3_bind_int64(s, 2, subscribers[i]);
		sqlite3_bind_text(s, 3, store_now(st), -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			r = store_fail(st, rc, "recording a delivery", err);
		else if (sqlite3_changes(st->db) == 0)
			r = store_mailing_mark(st, mailing, subscribers[i], DELIVERY_SENT, NULL, err);
	}
	return store_tx_end(st, own, r, err);
}

enum store_status
store_mailing_finish(struct store *st, int64_t mailing, char *err)
{
	static const char sql[] =
		"UPDATE mailing SET finished = ?2 WHERE id = ?1 AND finished IS NULL";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, mailing);
	sqlite3_bind_text(s, 2, store_now(st), -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "finishing the mailing", err);
}

void
store_mailing_sender(struct store *st)
{
	/*
	 * DESIGN.md: a WAL commit costs about 27 us with synchronous=NORMAL and
	 * 130 us with FULL. A sender commits once per accepted message or
	 * group of them (store_mailing_sent); NORMAL
	 * keeps every commit across a crash or kill of the process, and a power
	 * cut can only cost the last commits, whose messages are then sent
	 * again, never skipped.
	 */
	sqlite3_exec(st->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	/* It reads in id order and writes one row at a time: a small cache
	 * keeps its memory flat at any list size. */
	sqlite3_exec(st->db, "PRAGMA cache_size = -4096", NULL, NULL, NULL);
}
