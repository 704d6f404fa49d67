/*
 * store/subscriber.c - subscribers: enrolment by purchase or consent,
 * lookup, correction, restriction, unsubscription and erasure.
 *
 * Trusts nothing from its callers: addresses, names, order references and
 * dates are checked here, so that the CLI, the CSV import and the web API
 * share one set of rules. Deletions end with store_scrub() so that a
 * deleted address is gone from the files, WAL included.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

#define SUB_COLUMNS "id, email, name, state, consent_date, enrolled, last_purchase, last_order, gen"

const char *
store_state_name(enum sub_state s)
{
	return s == SUB_RESTRICTED ? "restricted" : "active";
}

const char *
store_basis_name(bool consent)
{
	return consent ? "consent" : "soft-opt-in";
}

static void
copy_col(sqlite3_stmt *s, int col, char *out, size_t outlen)
{
	const unsigned char *v = sqlite3_column_text(s, col);
	size_t n = v ? strnlen((const char *)v, outlen - 1) : 0;

	memcpy(out, v ? (const char *)v : "", n);	/* no printf: a hot path of the server */
	out[n] = '\0';
}

static void
read_row(sqlite3_stmt *s, struct subscriber *sub)
{
	memset(sub, 0, sizeof(*sub));
	sub->id = sqlite3_column_int64(s, 0);
	copy_col(s, 1, sub->email, sizeof(sub->email));
	copy_col(s, 2, sub->name, sizeof(sub->name));
	sub->state = strcmp((const char *)sqlite3_column_text(s, 3), "restricted") == 0
		? SUB_RESTRICTED : SUB_ACTIVE;
	copy_col(s, 4, sub->consent_date, sizeof(sub->consent_date));
	sub->consent = sub->consent_date[0] != '\0';
	copy_col(s, 5, sub->enrolled, sizeof(sub->enrolled));
	copy_col(s, 6, sub->last_purchase, sizeof(sub->last_purchase));
	copy_col(s, 7, sub->last_order, sizeof(sub->last_order));
	sub->gen = (unsigned)sqlite3_column_int64(s, 8);
}

/* Steps @s, bound by the caller, for one subscriber's row; @none is the
 * error when there is none. Resets @s. */
static enum store_status
read_one(struct store *st, sqlite3_stmt *s, struct subscriber *out, const char *none, char *err)
{
	enum store_status r;
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW) {
		read_row(s, out);
		r = STORE_OK;
	} else if (rc == SQLITE_DONE) {
		r = STORE_NOTFOUND;
		errf(err, "%s", none);
	} else {
		r = store_fail(st, rc, "reading a subscriber", err);
	}
	sqlite3_reset(s);
	return r;
}

/* Looks up a normalised address within the caller's transaction, if any. */
static enum store_status
find_norm(struct store *st, const char *addr, struct subscriber *out, char *err)
{
	static const char sql[] = "SELECT " SUB_COLUMNS " FROM subscriber WHERE email = ?1";
	sqlite3_stmt *s = store_stmt(st, sql, err);

	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, addr, -1, SQLITE_STATIC);
	return read_one(st, s, out, "no subscriber has that address", err);
}

enum store_status
store_subscriber_find(struct store *st, const char *email, struct subscriber *out,
		      char *err)
{
	char addr[ADDR_MAX + 1];
	enum store_status s;

	if ((s = store_addr(email, addr, err)) != STORE_OK)
		return s;
	return find_norm(st, addr, out, err);
}

enum store_status
store_subscriber_get(struct store *st, int64_t id, struct subscriber *out, char *err)
{
	static const char sql[] = "SELECT " SUB_COLUMNS " FROM subscriber WHERE id = ?1";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	char none[ERR_LEN];

	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, id);
	errf(none, "no subscriber has id %lld", (long long)id);
	return read_one(st, s, out, none, err);
}

enum store_status
store_subscriber_email(struct store *st, int64_t id, unsigned gen, char email[ADDR_MAX + 1],
		       char *err)
{
	static const char sql[] = "SELECT email FROM subscriber WHERE id = ?1 AND gen = ?2";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	enum store_status r;
	int rc;

	email[0] = '\0';
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, gen);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *e = (const char *)sqlite3_column_text(s, 0);
		size_t n = e ? (size_t)sqlite3_column_bytes(s, 0) : 0;

		n = n > ADDR_MAX ? ADDR_MAX : n;
		memcpy(email, e ? e : "", n);
		email[n] = '\0';
		r = STORE_OK;
	} else if (rc == SQLITE_DONE) {
		r = STORE_NOTFOUND;
	} else {
		r = store_fail(st, rc, "reading a subscriber", err);
	}
	sqlite3_reset(s);
	return r;
}

enum store_status
store_subscriber_each(struct store *st, int (*cb)(const struct subscriber *, void *),
		      void *arg, char *err)
{
	sqlite3_stmt *s;
	struct subscriber sub;
	enum store_status r = STORE_OK;
	int rc;

	/* Its own statement: the callback may use the cached ones. */
	rc = sqlite3_prepare_v2(st->db, "SELECT " SUB_COLUMNS " FROM subscriber ORDER BY id",
				-1, &s, NULL);
	if (rc != SQLITE_OK)
		return store_fail(st, rc, "listing subscribers", err);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		read_row(s, &sub);
		if (cb(&sub, arg) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = store_fail(st, rc, "listing subscribers", err);
	sqlite3_finalize(s);
	return r;
}

/* Checks the parts of a purchase other than the address. */
static enum store_status
check_purchase(struct store *st, const struct purchase *p, char date[DATE_LEN], char *err)
{
	const char *today = store_today(st);

	if (p->name && text_check_name(p->name, NAME_MAX_LEN, "name", err) < 0)
		return STORE_INVALID;
	if (p->order && text_check(p->order, ORDER_MAX_LEN, "order reference", err) < 0)
		return STORE_INVALID;
	if (p->date == NULL || p->date[0] == '\0') {
		memcpy(date, today, DATE_LEN);
		return STORE_OK;
	}
	if (date_parse(p->date, NULL, NULL, NULL, err) < 0)
		return STORE_INVALID;
	if (strcmp(p->date, today) > 0) {
		errf(err, "the purchase date %s is in the future", p->date);
		return STORE_INVALID;
	}
	memcpy(date, p->date, DATE_LEN);
	return STORE_OK;
}

static void
bind_opt(sqlite3_stmt *s, int i, const char *v)
{
	if (v != NULL && v[0] != '\0')
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static enum store_status
enroll(struct store *st, const struct purchase *p, enum enroll_result *res,
       int64_t *id, char *err)
{
	static const char probe[] = "SELECT id FROM subscriber WHERE email = ?1";
	/*
	 * OR IGNORE: no statement journal per row (this runs for every row of an
	 * import). Nothing is ignored in fact: the probe above, in the same write
	 * transaction, found no such address, and every NOT NULL column is bound;
	 * the changes() check below makes sure.
	 */
	static const char ins[] =
		"INSERT OR IGNORE INTO subscriber(email, name, consent_date, enrolled, last_purchase, last_order)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
	static const char upd[] =
		"UPDATE OR IGNORE subscriber SET name = coalesce(?2, name),"
		" consent_date = coalesce(?3, consent_date),"
		" last_order = CASE WHEN ?5 >= last_purchase THEN coalesce(?6, last_order) ELSE last_order END,"
		" last_purchase = max(last_purchase, ?5)"
		" WHERE id = ?1";
	char addr[ADDR_MAX + 1], date[DATE_LEN];
	const char *source = p->source ? p->source : "cli";
	const char *today = NULL;
	enum store_status s;
	sqlite3_stmt *q;
	bool flag;
	int rc;

	if ((s = store_addr(p->email, addr, err)) != STORE_OK ||
	    (s = check_purchase(st, p, date, err)) != STORE_OK)
		return s;
	if (p->consent) {
		today = store_today(st);
		if ((s = store_suppress_remove(st, addr, &flag, err)) != STORE_OK)
			return s;
		if (flag && (s = store_audit_add(st, "suppression-cleared", addr, 0, source,
						 "explicit consent", err)) != STORE_OK)
			return s;
	} else {
		if ((s = store_suppress_has_norm(st, addr, &flag, err)) != STORE_OK)
			return s;
		if (flag) {
			*res = ENROLL_SUPPRESSED;
			errf(err, "the address is on the suppression list (it was unsubscribed or reported dead): "
			     "a purchase does not enrol it again; use --consent for an explicit new opt-in");
			return STORE_SUPPRESSED;
		}
	}

	if ((q = store_stmt(st, probe, err)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(q, 1, addr, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	*id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(st, rc, "reading a subscriber", err);

	if (*id == 0) {
		if ((q = store_stmt(st, ins, err)) == NULL)
			return STORE_ERROR;
		sqlite3_bind_text(q, 1, addr, -1, SQLITE_STATIC);
		bind_opt(q, 2, p->name);
		bind_opt(q, 3, today);
		sqlite3_bind_text(q, 4, store_now(st), -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 5, date, -1, SQLITE_STATIC);
		bind_opt(q, 6, p->order);
		rc = sqlite3_step(q);
		sqlite3_reset(q);
		if (rc != SQLITE_DONE)
			return store_fail(st, rc, "enrolling", err);
		if (sqlite3_changes(st->db) != 1) {
			errf(err, "enrolling: the row was not inserted");
			return STORE_ERROR;
		}
		*res = ENROLL_NEW;
		*id = sqlite3_last_insert_rowid(st->db);
		return store_audit_add(st, "enrolled", addr, *id, source,
				       p->consent ? "basis: consent" : NULL, err);
	}

	if ((q = store_stmt(st, upd, err)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(q, 1, *id);
	bind_opt(q, 2, p->name);
	bind_opt(q, 3, today);
	sqlite3_bind_text(q, 5, date, -1, SQLITE_STATIC);
	bind_opt(q, 6, p->order);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return store_fail(st, rc, "refreshing a subscriber", err);
	*res = ENROLL_REFRESHED;
	if (p->consent)
		return store_audit_add(st, "consented", addr, *id, source, "explicit opt-in", err);
	return STORE_OK;
}

enum store_status
store_enroll(struct store *st, const struct purchase *p, enum enroll_result *res,
	     int64_t *id, char *err)
{
	enum store_status s;
	bool own;

	*id = 0;
	if ((s = store_tx_start(st, &own, err)) != STORE_OK)
		return s;
	s = enroll(st, p, res, id, err);
	return store_tx_end(st, own, s, err);
}

/* Deletes one subscriber row (deliveries cascade) in the current transaction. */
static enum store_status
delete_row(struct store *st, int64_t id, char *err)
{
	static const char sql[] = "DELETE FROM subscriber WHERE id = ?1";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "deleting a subscriber", err);
}

enum store_status
store_end_deletion(struct store *st, bool own, enum store_status s, bool deleted, char *err)
{
	deleted = deleted || st->deleted;
	if (!own)
		return s;	/* the owner of the transaction ends it: store_end() */
	st->deleted = false;
	s = store_tx_end(st, own, s, err);
	if (s == STORE_OK && deleted && !st->defer_scrub) {
		char scrub_err[ERR_LEN];

		/*
		 * The deletion is committed and stands: a failed checkpoint
		 * (store_scrub() has logged it) leaves the deleted bytes in
		 * the log until the next one, it does not undo the change, so
		 * the caller is not told to try again.
		 */
		if (store_scrub(st, scrub_err) != STORE_OK)
			log_debug("the deletion is committed; the files are scrubbed at the next checkpoint");
	}
	return s;
}

enum store_status
store_end(struct store *st, enum store_status s, char *err)
{
	return store_end_deletion(st, true, s, false, err);
}

enum store_status
store_remove(struct store *st, const struct subscriber *sub, int64_t mailing,
	     const char *event, const char *source, const char *detail, char *err)
{
	bool bounced = strcmp(event, store_deletion_name(STORE_DEL_BOUNCED)) == 0;
	enum store_status s;

	if ((s = store_mailing_left(st, sub->id, mailing, bounced, err)) != STORE_OK ||
	    (s = delete_row(st, sub->id, err)) != STORE_OK ||
	    (s = store_suppress_add_norm(st, sub->email, event, err)) != STORE_OK)
		return s;
	st->deleted = true;	/* the end of the transaction scrubs */
	return store_audit_add(st, event, sub->email, sub->id, source, detail, err);
}

enum store_status
store_unsubscribe(struct store *st, const char *email, const char *source,
		  bool *was_subscribed, char *err)
{
	char addr[ADDR_MAX + 1];
	struct subscriber sub;
	enum store_status s;
	bool own;

	*was_subscribed = false;
	if ((s = store_addr(email, addr, err)) != STORE_OK)
		return s;
	if ((s = store_tx_start(st, &own, err)) != STORE_OK)
		return s;
	s = find_norm(st, addr, &sub, err);
	if (s == STORE_OK) {
		*was_subscribed = true;
		s = store_remove(st, &sub, 0, "unsubscribed", source, NULL, err);
	} else if (s == STORE_NOTFOUND) {
		/* Nobody to delete; still make sure no purchase enrols them. */
		s = store_suppress_add_norm(st, addr, "unsubscribed", err);
		if (s == STORE_OK)
			s = store_audit_add(st, "unsubscribed", addr, 0, source,
					    "not a subscriber: suppression entry only", err);
	}
	sodium_memzero(&sub, sizeof(sub));
	return store_end_deletion(st, own, s, *was_subscribed, err);
}

const char *
store_deletion_name(enum store_deletion why)
{
	return why == STORE_DEL_BOUNCED ? "bounced" : "unsubscribed";
}

enum store_status
store_delete_claims(struct store *st, const struct token_claims *c, enum store_deletion why,
		    const char *source, const char *detail, bool *was, char *err)
{
	struct subscriber sub;
	enum store_status s;
	bool own;

	*was = false;
	if ((s = store_tx_start(st, &own, err)) != STORE_OK)
		return s;
	s = store_subscriber_get(st, c->subscriber, &sub, err);
	if (s == STORE_OK && sub.gen != c->gen)
		s = STORE_NOTFOUND;	/* about an address they no longer have */
	if (s == STORE_OK) {
		*was = true;
		s = store_remove(st, &sub, c->mailing, store_deletion_name(why), source, detail, err);
	} else if (s == STORE_NOTFOUND) {
		s = STORE_OK;	/* gone already: not an error */
	}
	sodium_memzero(&sub, sizeof(sub));
	return store_end_deletion(st, own, s, *was, err);
}

/*
 * Deletes the audit events about @addr (by its keyed hash) and about
 * subscriber @id: after an erasure nothing links the log to the person.
 */
static enum store_status
forget_audit(struct store *st, const char *addr, int64_t id, char *err)
{
	static const char sql[] = "DELETE FROM audit WHERE subject = ?1 OR (?2 > 0 AND subscriber_id = ?2)";
	unsigned char h[AUDIT_HASH_LEN];
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	store_audit_hash(st, addr, h);
	sqlite3_bind_blob(s, 1, h, sizeof(h), SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, id);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "deleting audit events", err);
}

enum store_status
store_erase(struct store *st, const char *email, bool suppress, const char *source,
	    bool *existed, char *err)
{
	char addr[ADDR_MAX + 1];
	struct subscriber sub;
	enum store_status s;
	bool own, removed = false;

	*existed = false;
	if ((s = store_addr(email, addr, err)) != STORE_OK)
		return s;
	if ((s = store_tx_start(st, &own, err)) != STORE_OK)
		return s;
	s = find_norm(st, addr, &sub, err);
	if (s == STORE_OK) {
		*existed = true;
		/* A leave like an unsubscribe, on the newest mailing they got:
		 * a count, which names nobody, survives the erasure. */
		s = store_mailing_left(st, sub.id, 0, false, err);
		if (s == STORE_OK)
			s = delete_row(st, sub.id, err);
	} else if (s == STORE_NOTFOUND) {
		s = STORE_OK;
		sub.id = 0;
	}
	/* A pending signup is held about the address too. */
	if (s == STORE_OK)
		s = store_signup_forget(st, addr, err);
	if (s == STORE_OK)
		s = suppress ? store_suppress_add_norm(st, addr, "erased", err)
			     : store_suppress_remove(st, addr, &removed, err);
	if (s == STORE_OK)
		s = forget_audit(st, addr, sub.id, err);
	/* Accountability without a link to the person: that an erasure was
	 * made, when and through what, with neither hash nor id. */
	if (s == STORE_OK)
		s = store_audit_add(st, "erased", NULL, 0, source,
				    suppress ? "everything deleted, audit events included; a suppression entry kept on request"
					     : "everything deleted, audit events and suppression entry included", err);
	sodium_memzero(&sub, sizeof(sub));
	return store_end_deletion(st, own, s, true, err);
}

/* The reply text @in with every occurrence of @addr (any case) replaced. */
static void
redact(const char *in, const char *addr, struct buf *out)
{
	size_t n = strlen(addr);
	const char *p = in, *q;

	buf_reset(out);
	while ((q = strcasestr(p, addr)) != NULL) {
		buf_add(out, p, (size_t)(q - p));
		buf_adds(out, "[a former address]");
		p = q + n;
	}
	buf_adds(out, p);
}

/*
 * Takes @old_addr out of the SMTP replies recorded for subscriber @id (a
 * server's "550 <old@...>: ..." quoted it), in the caller's transaction.
 */
static enum store_status
redact_replies(struct store *st, int64_t id, const char *old_addr, char *err)
{
	static const char sel[] =
		"SELECT mailing_id, reply FROM delivery WHERE subscriber_id = ?1 AND reply IS NOT NULL";
	static const char upd[] =
		"UPDATE delivery SET reply = ?3 WHERE mailing_id = ?1 AND subscriber_id = ?2";
	struct {
		int64_t mailing;
		char *reply;
	} *rows = NULL;
	size_t n = 0, cap = 0;
	enum store_status r = STORE_OK;
	struct buf b;
	sqlite3_stmt *s = store_stmt(st, sel, err);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *reply = (const char *)sqlite3_column_text(s, 1);

		if (reply == NULL || strcasestr(reply, old_addr) == NULL)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			rows = xrealloc(rows, cap * sizeof(*rows));
		}
		rows[n].mailing = sqlite3_column_int64(s, 0);
		rows[n++].reply = xstrdup(reply);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		r = store_fail(st, rc, "reading deliveries", err);
	buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		if (r == STORE_OK) {
			redact(rows[i].reply, old_addr, &b);
			if ((s = store_stmt(st, upd, err)) == NULL) {
				r = STORE_ERROR;
			} else {
				sqlite3_bind_int64(s, 1, rows[i].mailing);
				sqlite3_bind_int64(s, 2, id);
				sqlite3_bind_text(s, 3, b.s, (int)b.len, SQLITE_STATIC);
				rc = sqlite3_step(s);
				sqlite3_reset(s);
				if (rc != SQLITE_DONE)
					r = store_fail(st, rc, "correcting a delivery's reply", err);
			}
		}
		sodium_memzero(rows[i].reply, strlen(rows[i].reply));
		free(rows[i].reply);
	}
	if (b.s)
		sodium_memzero(b.s, b.cap);
	buf_free(&b);
	free(rows);
	return r;
}

enum store_status
store_rectify(struct store *st, const char *old_email, const char *new_email,
	      const char *source, char *err)
{
	static const char sql[] = "UPDATE subscriber SET email = ?2, gen = gen + ?3 WHERE id = ?1";
	char old_addr[ADDR_MAX + 1], new_addr[ADDR_MAX + 1], why[ERR_LEN];
	char old_fold[ADDR_MAX + 1], new_fold[ADDR_MAX + 1];
	struct subscriber sub, other;
	enum store_status s;
	sqlite3_stmt *q;
	bool own, suppressed, moved;
	int rc;

	if ((s = store_addr(old_email, old_addr, err)) != STORE_OK)
		return s;
	if ((s = store_addr(new_email, new_addr, why)) != STORE_OK) {
		errf(err, "the new address: %s", why);
		return s;
	}
	if ((s = store_tx_start(st, &own, err)) != STORE_OK)
		return s;
	if ((s = find_norm(st, old_addr, &sub, err)) != STORE_OK)
		goto out;
	s = find_norm(st, new_addr, &other, err);
	if (s == STORE_OK && other.id != sub.id) {
		errf(err, "the new address is already a subscriber (id %lld): erase or unsubscribe one of the two first",
		     (long long)other.id);
		s = STORE_EXISTS;
		goto out;
	}
	if (s != STORE_OK && s != STORE_NOTFOUND)
		goto out;
	if ((s = store_suppress_has_norm(st, new_addr, &suppressed, err)) != STORE_OK)
		goto out;
	if (suppressed) {
		errf(err, "the new address is on the suppression list (it was unsubscribed or reported dead): "
		     "erase the old one and enrol the new one with --consent if the person asks for it");
		s = STORE_SUPPRESSED;
		goto out;
	}
	/* Another mailbox, not the same one written in another case: links
	 * mailed to the old one stop working (the generation). */
	addr_fold(old_addr, old_fold);
	addr_fold(new_addr, new_fold);
	moved = strcmp(old_fold, new_fold) != 0;
	if (moved && sub.gen >= TOKEN_GEN_MAX) {
		errf(err, "this subscriber's address was corrected %u times, as often as a link can tell apart: "
		     "erase the subscriber and enrol the new address with --consent", sub.gen);
		s = STORE_INVALID;
		goto out;
	}
	if ((q = store_stmt(st, sql, err)) == NULL) {
		s = STORE_ERROR;
		goto out;
	}
	sqlite3_bind_int64(q, 1, sub.id);
	sqlite3_bind_text(q, 2, new_addr, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 3, moved);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		s = store_fail(st, rc, "correcting the address", err);
		goto out;
	}
	/* No reply keeps quoting the old address. */
	if (moved && (s = redact_replies(st, sub.id, old_addr, err)) != STORE_OK)
		goto out;
	if ((s = store_audit_add(st, "rectified", old_addr, sub.id, source,
				 "address corrected: this was the old address", err)) == STORE_OK)
		s = store_audit_add(st, "rectified", new_addr, sub.id, source,
				    "address corrected: this is the new address", err);
out:
	sodium_memzero(&sub, sizeof(sub));
	sodium_memzero(&other, sizeof(other));
	return store_end_deletion(st, own, s, true, err);
}

enum store_status
store_restrict(struct store *st, const char *email, bool restricted,
	       const char *source, char *err)
{
	static const char sql[] = "UPDATE subscriber SET state = ?2 WHERE id = ?1";
	char addr[ADDR_MAX + 1];
	struct subscriber sub;
	enum store_status s;
	enum sub_state want = restricted ? SUB_RESTRICTED : SUB_ACTIVE;
	sqlite3_stmt *q;
	bool own;
	int rc;

	if ((s = store_addr(email, addr, err)) != STORE_OK)
		return s;
	if ((s = store_tx_start(st, &own, err)) != STORE_OK)
		return s;
	if ((s = find_norm(st, addr, &sub, err)) != STORE_OK || sub.state == want)
		return store_tx_end(st, own, s, err);
	if ((q = store_stmt(st, sql, err)) == NULL)
		return store_tx_end(st, own, STORE_ERROR, err);
	sqlite3_bind_int64(q, 1, sub.id);
	sqlite3_bind_text(q, 2, store_state_name(want), -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	s = rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "changing the state", err);
	if (s == STORE_OK)
		s = store_audit_add(st, restricted ? "restricted" : "unrestricted", addr,
				    sub.id, source, NULL, err);
	return store_tx_end(st, own, s, err);
}

enum store_status
store_renormalize(struct store *st, char *err)
{
	static const char sel[] = "SELECT id, email FROM subscriber WHERE instr(email, '\"') > 0";
	static const char upd[] = "UPDATE OR IGNORE subscriber SET email = ?2 WHERE id = ?1";
	sqlite3_stmt *s, *u;
	char addr[ADDR_MAX + 1], why[ERR_LEN];
	enum store_status r = STORE_OK;
	int rc;

	/* Its own statement: the update below uses the cache. */
	if ((rc = sqlite3_prepare_v2(st->db, sel, -1, &s, NULL)) != SQLITE_OK)
		return store_fail(st, rc, "migrating quoted addresses", err);
	while (r == STORE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		const char *email = (const char *)sqlite3_column_text(s, 1);

		if (addr_normalize(email, addr, why) < 0 || strcmp(addr, email) == 0)
			continue;	/* kept as it is: still found by id */
		if ((u = store_stmt(st, upd, err)) == NULL) {
			r = STORE_ERROR;
			break;
		}
		sqlite3_bind_int64(u, 1, id);
		sqlite3_bind_text(u, 2, addr, -1, SQLITE_STATIC);
		rc = sqlite3_step(u);
		sqlite3_reset(u);
		if (rc != SQLITE_DONE)
			r = store_fail(st, rc, "migrating quoted addresses", err);
		else if (sqlite3_changes(st->db) == 0)
			log_warn("subscriber %lld: the shortest form of the address belongs to another subscriber; "
				 "kept as written: erase one of the two", (long long)id);
	}
	if (r == STORE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_fail(st, rc, "migrating quoted addresses", err);
	sqlite3_finalize(s);
	sodium_memzero(addr, sizeof(addr));
	return r;
}
