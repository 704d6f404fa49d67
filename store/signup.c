/*
 * store/signup.c - double opt-in of people who bought nothing: the pending
 * signup, its durably queued confirmation mail, the confirmation that
 * enrols with basis consent and keeps the evidence (GDPR art. 7(1)), and
 * the expiry that deletes an unconfirmed address, bytes and all.
 *
 * A request does the same work whatever the address's state (new,
 * pending, subscribed, suppressed): it never reads the subscriber or the
 * suppression tables, so neither the answer nor its time can tell them
 * apart. Only a confirmation, the one explicit act of the person, enrols,
 * and it goes through store_enroll() so that nothing enrolment does is
 * skipped. Trusts nothing from its callers; never logs an address.
 */
#include "store_int.h"

#include <string.h>

#define CONSENT_HASH_LEN 32	/* BLAKE2b-256 */

const char *
store_signup_channel_name(enum signup_channel ch)
{
	return ch == SIGNUP_API ? "api" : "web-form";
}

/* The UTC time @seconds from now, as the store writes times. */
static void
time_after(long long seconds, char out[TIMESTAMP_LEN])
{
	timestamp_at(time(NULL) + (time_t)seconds, out);
}

static enum store_status
check_request(const struct signup *s, char addr[ADDR_MAX + 1], char *err)
{
	enum store_status r;

	if ((r = store_addr(s->email, addr, err)) != STORE_OK)
		return r;
	if (s->name && text_check_name(s->name, NAME_MAX_LEN, "name", err) < 0)
		return STORE_INVALID;
	if (s->lang == NULL || (strcmp(s->lang, "nb") != 0 && strcmp(s->lang, "en") != 0)) {
		errf(err, "the language is not one of nb, en");
		return STORE_INVALID;
	}
	if (s->consent_text == NULL || s->consent_text[0] == '\0') {
		errf(err, "the consent text is empty: a consent must say what was agreed to");
		return STORE_INVALID;
	}
	if (text_check(s->consent_text, CONSENT_TEXT_MAX, "consent text", err) < 0)
		return STORE_INVALID;
	if (s->channel != SIGNUP_WEB && s->channel != SIGNUP_API) {
		errf(err, "the signup channel %d is not web or api", (int)s->channel);
		return STORE_INVALID;
	}
	if (s->confirm_hours < 1 || s->resend_hours < 0 || s->max_pending < 1) {
		errf(err, "confirm_hours (%d) must be 1 or more, resend_hours (%d) 0 or more, "
		     "max_pending (%lld) 1 or more", s->confirm_hours, s->resend_hours, s->max_pending);
		return STORE_INVALID;
	}
	return STORE_OK;
}

/* Keeps @text once per version; its hash into @h. */
static enum store_status
consent_keep(struct store *st, const char *text, unsigned char h[CONSENT_HASH_LEN], char *err)
{
	static const char sql[] =
		"INSERT INTO consent_text(hash, text, first_seen) VALUES (?1, ?2, ?3)"
		" ON CONFLICT(hash) DO NOTHING";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	crypto_generichash(h, CONSENT_HASH_LEN, (const unsigned char *)text, strlen(text), NULL, 0);
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_blob(s, 1, h, CONSENT_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, store_now(st), -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "keeping the consent text", err);
}

/* The pending signup of @addr: *id 0 when there is none. */
static enum store_status
find_pending(struct store *st, const char *addr, int64_t *id, char queued[TIMESTAMP_LEN],
	     char expires[TIMESTAMP_LEN], char *err)
{
	static const char sql[] = "SELECT id, queued, expires FROM signup WHERE email = ?1";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	*id = 0;
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, addr, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(s, 0);
		(void)fmt_clip(queued, TIMESTAMP_LEN, "%s", (const char *)sqlite3_column_text(s, 1));
		(void)fmt_clip(expires, TIMESTAMP_LEN, "%s", (const char *)sqlite3_column_text(s, 2));
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "reading pending signups", err);
}

/* Whether @max pending signups are held already. */
static enum store_status
pending_full(struct store *st, long long max, bool *full, char *err)
{
	static const char sql[] = "SELECT n FROM signup_pending";	/* kept by triggers (db.c) */
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*full = sqlite3_column_int64(s, 0) >= max;
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "counting pending signups", err);
}

/* Records (@id 0) or refreshes the pending signup, its mail due now. */
static enum store_status
pending_write(struct store *st, int64_t id, const char *addr, const struct signup *su,
	      const unsigned char h[CONSENT_HASH_LEN], char *err)
{
	static const char ins[] =
		"INSERT INTO signup(email, name, lang, channel, consent_hash, requested, expires,"
		" queued, mail_due, mail_attempts)"
		" VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?7, 0)";
	static const char upd[] =
		"UPDATE signup SET name = ?3, lang = ?4, channel = ?5, consent_hash = ?6,"
		" requested = ?7, expires = ?8, queued = ?7, mail_due = ?7, mail_attempts = 0,"
		" mail_sent = NULL WHERE id = ?1";
	char expires[TIMESTAMP_LEN];
	sqlite3_stmt *s = store_stmt(st, id ? upd : ins, err);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	time_after((long long)su->confirm_hours * 3600, expires);
	if (id)
		sqlite3_bind_int64(s, 1, id);
	else
		sqlite3_bind_text(s, 2, addr, -1, SQLITE_STATIC);
	if (su->name && su->name[0])
		sqlite3_bind_text(s, 3, su->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, su->lang, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, store_signup_channel_name(su->channel), -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 6, h, CONSENT_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, store_now(st), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 8, expires, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "recording the signup", err);
}

static enum store_status
request(struct store *st, const struct signup *su, const char *addr,
	enum signup_outcome *out, char *err)
{
	char queued[TIMESTAMP_LEN] = "", expires[TIMESTAMP_LEN] = "", since[TIMESTAMP_LEN];
	const char *source = store_signup_channel_name(su->channel);
	unsigned char h[CONSENT_HASH_LEN];
	enum store_status s;
	int64_t id;
	bool full = false;

	if ((s = find_pending(st, addr, &id, queued, expires, err)) != STORE_OK)
		return s;
	/* A pending one whose link still works and whose mail went out
	 * within resend_hours: no second mail (mail bombing by form). */
	time_after(-(long long)su->resend_hours * 3600, since);
	if (id && strcmp(expires, store_now(st)) > 0 && strcmp(queued, since) > 0) {
		*out = SIGNUP_THROTTLED;
		return store_audit_add(st, "signup-requested", addr, 0, source,
				       "no mail: one was queued within resend_hours", err);
	}
	if (id == 0 && (s = pending_full(st, su->max_pending, &full, err)) != STORE_OK)
		return s;
	if (full) {
		*out = SIGNUP_FULL;
		return STORE_OK;	/* nothing recorded: the store holds no more */
	}
	if ((s = consent_keep(st, su->consent_text, h, err)) != STORE_OK ||
	    (s = pending_write(st, id, addr, su, h, err)) != STORE_OK)
		return s;
	*out = SIGNUP_QUEUED;
	return store_audit_add(st, "signup-requested", addr, 0, source,
			       "confirmation mail queued", err);
}

enum store_status
store_signup_request(struct store *st, const struct signup *su, enum signup_outcome *out,
		     char *err)
{
	char addr[ADDR_MAX + 1];
	enum store_status s;
	bool own;

	*out = SIGNUP_FULL;
	if ((s = check_request(su, addr, err)) != STORE_OK)
		return s;
	if ((s = store_tx_start(st, &own, err)) != STORE_OK)
		return s;
	s = request(st, su, addr, out, err);
	sodium_memzero(addr, sizeof(addr));
	return store_tx_end(st, own, s, err);
}

static void
copy_text(sqlite3_stmt *s, int col, char *out, size_t size)
{
	const char *v = (const char *)sqlite3_column_text(s, col);
	size_t n = v ? (size_t)sqlite3_column_bytes(s, col) : 0;

	n = n < size ? n : size - 1;
	memcpy(out, v ? v : "", n);
	out[n] = '\0';
}

int
store_signup_due(struct store *st, struct signup_mail *out, int max, char *err)
{
	static const char sql[] =
		"SELECT id, email, name, lang, expires, mail_attempts FROM signup"
		" WHERE mail_due IS NOT NULL AND mail_due <= ?1 AND expires > ?1"
		" AND email IS NOT NULL ORDER BY mail_due, id LIMIT ?2";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int n = 0, rc = SQLITE_DONE;

	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, store_now(st), -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, max > 0 ? max : 0);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct signup_mail *m = &out[n++];

		memset(m, 0, sizeof(*m));
		m->id = sqlite3_column_int64(s, 0);
		copy_text(s, 1, m->email, sizeof(m->email));
		copy_text(s, 2, m->name, sizeof(m->name));
		copy_text(s, 3, m->lang, sizeof(m->lang));
		copy_text(s, 4, m->expires, sizeof(m->expires));
		m->attempts = sqlite3_column_int(s, 5);
	}
	if (n < max && rc != SQLITE_DONE) {
		store_fail(st, rc, "reading the due confirmation mails", err);
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	return n;
}

enum store_status
store_signup_mailed(struct store *st, int64_t id, bool sent, int retry_seconds, char *err)
{
	static const char ok[] =
		"UPDATE signup SET mail_due = NULL, mail_sent = ?2,"
		" mail_attempts = mail_attempts + 1 WHERE id = ?1";
	/* A retry after the link's end would bring a dead link: none then. */
	static const char again[] =
		"UPDATE signup SET mail_attempts = mail_attempts + 1,"
		" mail_due = CASE WHEN ?3 >= 0 AND ?2 < expires THEN ?2 ELSE NULL END"
		" WHERE id = ?1";
	char when[TIMESTAMP_LEN];
	enum store_status r;
	sqlite3_stmt *s;
	bool own;
	int rc;

	if ((r = store_tx_start(st, &own, err)) != STORE_OK)
		return r;
	if ((s = store_stmt(st, sent ? ok : again, err)) == NULL)
		return store_tx_end(st, own, STORE_ERROR, err);
	sqlite3_bind_int64(s, 1, id);
	if (sent) {
		sqlite3_bind_text(s, 2, store_now(st), -1, SQLITE_STATIC);
	} else {
		time_after(retry_seconds > 0 ? retry_seconds : 0, when);
		sqlite3_bind_text(s, 2, when, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 3, retry_seconds);
	}
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	r = rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "recording a confirmation mail", err);
	return store_tx_end(st, own, r, err);
}

/* What a confirmation reads of its pending signup. */
struct pending {
	char email[ADDR_MAX + 1];
	char name[NAME_MAX_LEN + 1];
	char channel[16];
	char requested[TIMESTAMP_LEN];
	char expires[TIMESTAMP_LEN];
	unsigned char hash[CONSENT_HASH_LEN];
	bool confirmed;
	int64_t subscriber;
};

static enum store_status
pending_get(struct store *st, int64_t id, struct pending *p, bool *found, char *err)
{
	static const char sql[] =
		"SELECT email, name, channel, requested, expires, consent_hash,"
		" confirmed IS NOT NULL, subscriber_id FROM signup WHERE id = ?1";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	*found = false;
	memset(p, 0, sizeof(*p));
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*found = true;
		copy_text(s, 0, p->email, sizeof(p->email));
		copy_text(s, 1, p->name, sizeof(p->name));
		copy_text(s, 2, p->channel, sizeof(p->channel));
		copy_text(s, 3, p->requested, sizeof(p->requested));
		copy_text(s, 4, p->expires, sizeof(p->expires));
		if (sqlite3_column_bytes(s, 5) == CONSENT_HASH_LEN)
			memcpy(p->hash, sqlite3_column_blob(s, 5), CONSENT_HASH_LEN);
		p->confirmed = sqlite3_column_int(s, 6) != 0;
		p->subscriber = sqlite3_column_int64(s, 7);
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "reading a pending signup", err);
}

/* The evidence with the subscriber, and the pending row left a marker
 * that no longer holds the address. */
static enum store_status
record_evidence(struct store *st, int64_t signup, int64_t sub, const struct pending *p, char *err)
{
	static const char ev[] =
		"UPDATE subscriber SET consent_requested = ?2, consent_confirmed = ?3,"
		" consent_channel = ?4, consent_hash = ?5 WHERE id = ?1";
	static const char mark[] =
		"UPDATE signup SET email = NULL, name = NULL, mail_due = NULL, confirmed = ?2,"
		" subscriber_id = ?3 WHERE id = ?1";
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(st, ev, err)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, sub);
	sqlite3_bind_text(s, 2, p->requested, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, store_now(st), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, p->channel, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 5, p->hash, CONSENT_HASH_LEN, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, rc, "recording the consent evidence", err);
	if ((s = store_stmt(st, mark, err)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, signup);
	sqlite3_bind_text(s, 2, store_now(st), -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, sub);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "marking the signup confirmed", err);
}

static enum store_status
confirm(struct store *st, int64_t id, enum confirm_outcome *out, int64_t *subscriber,
	unsigned *gen, char *err)
{
	struct pending p;
	struct subscriber sub;
	enum enroll_result res;
	enum store_status s;
	bool found;

	if ((s = pending_get(st, id, &p, &found, err)) != STORE_OK)
		goto out;
	if (found && p.confirmed) {
		/* A repeat: the subscriber it made, nothing changed. */
		*out = CONFIRM_ALREADY;
		*subscriber = p.subscriber;
		s = store_subscriber_get(st, p.subscriber, &sub, err);
		if (s == STORE_OK) {
			*gen = sub.gen;
		} else if (s == STORE_NOTFOUND) {
			/* Gone (the marker goes with them): not confirmable again. */
			*out = CONFIRM_EXPIRED;
			s = STORE_OK;
		}
		goto out;
	}
	if (!found || p.email[0] == '\0' || strcmp(p.expires, store_now(st)) <= 0) {
		*out = CONFIRM_EXPIRED;
		goto out;
	}
	/* A confirmation is no purchase: an existing subscriber's purchase
	 * date stays as it is (enrolment takes a date, today by default). */
	s = store_subscriber_find(st, p.email, &sub, err);
	if (s != STORE_OK && s != STORE_NOTFOUND)
		goto out;
	/* Enrolment's one path: it clears the suppression entry (a confirmed
	 * opt-in is the one thing that may) and writes its audit events. */
	s = store_enroll(st, &(const struct purchase){.email = p.email, .name = p.name,
			 .consent = true, .source = p.channel,
			 .date = s == STORE_OK ? sub.last_purchase : NULL}, &res, subscriber, err);
	if (s != STORE_OK)
		goto out;
	*out = res == ENROLL_NEW ? CONFIRM_ENROLLED : CONFIRM_CONSENTED;
	if ((s = record_evidence(st, id, *subscriber, &p, err)) != STORE_OK ||
	    (s = store_subscriber_get(st, *subscriber, &sub, err)) != STORE_OK)
		goto out;
	*gen = sub.gen;
	s = store_audit_add(st, "consent-confirmed", p.email, *subscriber, p.channel,
			    "double opt-in: the confirmation link was used", err);
out:
	sodium_memzero(&p, sizeof(p));
	sodium_memzero(&sub, sizeof(sub));
	return s;
}

enum store_status
store_signup_confirm(struct store *st, const struct token_claims *c, enum confirm_outcome *out,
		     int64_t *subscriber, unsigned *gen, char *err)
{
	enum store_status s;
	bool own;

	*out = CONFIRM_EXPIRED;
	*subscriber = 0;
	*gen = 0;
	if (c->subscriber < 1 || c->gen != 0 || c->mailing != 0)
		return STORE_OK;	/* names no signup: as an expired one */
	if ((s = store_tx_start(st, &own, err)) != STORE_OK)
		return s;
	s = confirm(st, c->subscriber, out, subscriber, gen, err);
	if (s != STORE_OK || *out == CONFIRM_EXPIRED) {
		*subscriber = 0;
		*gen = 0;
	}
	return store_tx_end(st, own, s, err);
}

/*
 * Whether the link still works, read only: what a GET of it may show. The
 * same test store_signup_confirm() makes, without its transaction.
 */
static enum store_status
live(struct store *st, int64_t id, bool *out, char *err)
{
	static const char sql[] =
		"SELECT 1 FROM signup WHERE id = ?1 AND ("
		" (confirmed IS NULL AND email IS NOT NULL AND expires > ?2)"
		" OR (confirmed IS NOT NULL AND EXISTS"
		"  (SELECT 1 FROM subscriber WHERE subscriber.id = signup.subscriber_id)))";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, store_now(st), -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	*out = rc == SQLITE_ROW;
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK
		: store_fail(st, rc, "reading a pending signup", err);
}

enum store_status
store_signup_live(struct store *st, const struct token_claims *c, bool *out, char *err)
{
	*out = false;
	if (c->subscriber < 1 || c->gen != 0 || c->mailing != 0)
		return STORE_OK;	/* names no signup: as an expired one */
	return live(st, c->subscriber, out, err);
}

/* Deletes the expired signups, in the caller's transaction. */
static enum store_status
expire(struct store *st, long long *deleted, char *err)
{
	static const char log[] =
		"INSERT INTO audit(at, event, subject, subscriber_id, source, detail)"
		" SELECT ?1, 'signup-expired', audit_hash(email), NULL, 'signup',"
		" 'not confirmed in time: the address is deleted'"
		" FROM signup WHERE expires <= ?1 AND email IS NOT NULL";
	static const char del[] = "DELETE FROM signup WHERE expires <= ?1";
	sqlite3_stmt *s;
	int rc;

	*deleted = 0;
	if ((s = store_stmt(st, log, err)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, store_now(st), -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	/* One audit row per pending address: the count of them. The markers
	 * of confirmed ones, which hold no address, go too (uncounted). */
	*deleted = sqlite3_changes(st->db);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, rc, "finding expired signups", err);
	if ((s = store_stmt(st, del, err)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, store_now(st), -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "deleting expired signups", err);
}

enum store_status
store_signup_expire(struct store *st, long long *deleted, char *err)
{
	enum store_status s;
	bool own;

	*deleted = 0;
	if ((s = store_tx_start(st, &own, err)) != STORE_OK)
		return s;
	s = expire(st, deleted, err);
	return store_end_deletion(st, own, s, s == STORE_OK && *deleted > 0, err);
}

enum store_status
store_signup_forget(struct store *st, const char *normalized, char *err)
{
	static const char sql[] = "DELETE FROM signup WHERE email = ?1";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, normalized, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "deleting a pending signup", err);
}
