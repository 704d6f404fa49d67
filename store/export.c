/*
 * store/export.c - everything held about one address, as JSON, each item
 * with its purpose and legal basis: the answer to an access request (GDPR
 * art. 15) in a portable form (art. 20). Used by 'newsletter export' and
 * the web's data access button.
 */
#include "store_int.h"

#include <string.h>

#define BASIS_SOFT "GDPR art. 6(1)(f), legitimate interest: marketing of our own similar products to customers (soft opt-in, Norwegian Marketing Control Act § 15)"
#define BASIS_CONSENT "GDPR art. 6(1)(a), consent"
#define BASIS_AUDIT "GDPR art. 6(1)(c) and art. 5(2): a record of how your data was handled, which we must be able to show"
#define BASIS_BOUNCE "GDPR art. 6(1)(f) and art. 5(1)(d): keeping the list accurate, so that mail stops going to an address that no longer works"
#define BASIS_SUPPRESS "GDPR art. 6(1)(f) and art. 21(3): to respect your objection to direct marketing, held as a keyed hash, not as your address"

static json_t *
item(const char *value, const char *purpose, const char *basis)
{
	return json_pack("{s:s?, s:s, s:s}", "value", value && *value ? value : NULL,
			 "purpose", purpose, "legal_basis", basis);
}

static json_t *
subscriber_json(const struct subscriber *s)
{
	const char *basis = s->consent ? BASIS_CONSENT : BASIS_SOFT;
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(s->id));
	json_object_set_new(o, "email", item(s->email, "to send you the newsletter", basis));
	json_object_set_new(o, "name", item(s->name, "to greet you by name in the newsletter", basis));
	json_object_set_new(o, "state", item(store_state_name(s->state),
					    "whether you receive the newsletter (restricted: kept but not mailed)", basis));
	json_object_set_new(o, "legal_basis", item(store_basis_name(s->consent),
						   "why we may send you the newsletter", basis));
	json_object_set_new(o, "enrolled", item(s->enrolled, "when you were enrolled", basis));
	json_object_set_new(o, "last_purchase", item(s->last_purchase,
						     "the soft opt-in lasts as long as you are a customer: your data is deleted when no purchase follows within the retention period",
						     basis));
	json_object_set_new(o, "last_order", item(s->last_order, "the purchase that enrolled you or renewed your enrolment", basis));
	json_object_set_new(o, "consent_date", item(s->consent_date, "when you gave explicit consent", basis));
	return o;
}

/* One row of a query as JSON. */
typedef json_t *row_fn(sqlite3_stmt *s, const char *addr);

/*
 * Steps @s (prepared and bound) to its end: each row, made JSON by @fn,
 * is appended to @items, or, with @items NULL, the first row alone is
 * set in *@one (NULL if there is none). @what names the reading in an error.
 */
static enum store_status
rows_json(struct store *st, sqlite3_stmt *s, row_fn *fn, const char *addr,
	  json_t *items, json_t **one, const char *what, char *err)
{
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (items == NULL) {
			*one = fn(s, addr);
			rc = SQLITE_DONE;
			break;
		}
		json_array_append_new(items, fn(s, addr));
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, what, err);
}

/* @sql prepared with ?1 bound to @id, or NULL. */
static sqlite3_stmt *
stmt_id(struct store *st, const char *sql, int64_t id, char *err)
{
	sqlite3_stmt *s = store_stmt(st, sql, err);

	if (s != NULL)
		sqlite3_bind_int64(s, 1, id);
	return s;
}

static json_t *
evidence_row(sqlite3_stmt *s, const char *addr)
{
	(void)addr;
	return json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}",
		"purpose", "to show that you asked for the newsletter and confirmed it (double opt-in): "
			   "when, through what, and the exact text you agreed to",
		"legal_basis", "GDPR art. 7(1) and art. 6(1)(c): we must be able to show your consent",
		"requested", sqlite3_column_text(s, 0), "confirmed", sqlite3_column_text(s, 1),
		"channel", sqlite3_column_text(s, 2), "consent_text_hash", sqlite3_column_text(s, 3),
		"consent_text", sqlite3_column_text(s, 4),
		"consent_text_first_shown", sqlite3_column_text(s, 5));
}

/* The consent evidence of a confirmed signup (GDPR art. 7(1)), or NULL. */
static enum store_status
evidence_json(struct store *st, int64_t id, json_t **out, char *err)
{
	static const char sql[] =
		"SELECT s.consent_requested, s.consent_confirmed, s.consent_channel,"
		" lower(hex(s.consent_hash)), t.text, t.first_seen"
		" FROM subscriber s LEFT JOIN consent_text t ON t.hash = s.consent_hash"
		" WHERE s.id = ?1 AND s.consent_confirmed IS NOT NULL";
	sqlite3_stmt *s = stmt_id(st, sql, id, err);

	*out = NULL;
	if (s == NULL)
		return STORE_ERROR;
	return rows_json(st, s, evidence_row, NULL, NULL, out, "reading the consent evidence", err);
}

static json_t *
pending_row(sqlite3_stmt *s, const char *addr)
{
	return json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:s, s:s?, s:i, s:s?, s:s?}",
		"purpose", "to send you one confirmation link; nothing else is done with it, "
			   "and it is deleted when the link expires unless you confirm",
		"legal_basis", "GDPR art. 6(1)(f), at your request: to check that the request came from "
			       "the owner of the address before anything else is sent (double opt-in)",
		"email", addr, "name", sqlite3_column_text(s, 0),
		"language", sqlite3_column_text(s, 1), "channel", sqlite3_column_text(s, 2),
		"requested", sqlite3_column_text(s, 3), "expires", sqlite3_column_text(s, 4),
		"confirmation_mail_sent", sqlite3_column_text(s, 5),
		"confirmation_mail_attempts", sqlite3_column_int(s, 6),
		"consent_text_hash", sqlite3_column_text(s, 7),
		"consent_text", sqlite3_column_text(s, 8));
}

/* A signup of @addr waiting for its confirmation, or NULL. */
static enum store_status
pending_json(struct store *st, const char *addr, json_t **out, char *err)
{
	static const char sql[] =
		"SELECT g.name, g.lang, g.channel, g.requested, g.expires, g.mail_sent,"
		" g.mail_attempts, lower(hex(g.consent_hash)), t.text"
		" FROM signup g LEFT JOIN consent_text t ON t.hash = g.consent_hash"
		" WHERE g.email = ?1";
	sqlite3_stmt *s = store_stmt(st, sql, err);

	*out = NULL;
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, addr, -1, SQLITE_STATIC);
	return rows_json(st, s, pending_row, addr, NULL, out, "reading a pending signup", err);
}

static json_t *
delivery_row(sqlite3_stmt *s, const char *addr)
{
	(void)addr;
	return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s?}",
		"mailing", sqlite3_column_text(s, 0), "subject", sqlite3_column_text(s, 1),
		"state", sqlite3_column_text(s, 2), "attempts", sqlite3_column_int(s, 3),
		"updated", sqlite3_column_text(s, 4), "reply", sqlite3_column_text(s, 5));
}

static enum store_status
deliveries_json(struct store *st, int64_t id, json_t *items, char *err)
{
	static const char sql[] =
		"SELECT m.ident, m.subject, d.state, d.attempts, d.updated, d.reply"
		" FROM delivery d JOIN mailing m ON m.id = d.mailing_id"
		" WHERE d.subscriber_id = ?1 ORDER BY d.mailing_id";
	sqlite3_stmt *s = stmt_id(st, sql, id, err);

	if (s == NULL)
		return STORE_ERROR;
	return rows_json(st, s, delivery_row, NULL, items, NULL, "reading deliveries", err);
}

static json_t *
bounce_row(sqlite3_stmt *s, const char *addr)
{
	(void)addr;
	return json_pack("{s:s, s:s?, s:s?}",
		"day", sqlite3_column_text(s, 0), "status", sqlite3_column_text(s, 1),
		"reason", sqlite3_column_text(s, 2));
}

static enum store_status
bounces_json(struct store *st, int64_t id, json_t *items, char *err)
{
	static const char sql[] =
		"SELECT day, status, reason FROM bounce WHERE subscriber_id = ?1 ORDER BY day";
	sqlite3_stmt *s = stmt_id(st, sql, id, err);

	if (s == NULL)
		return STORE_ERROR;
	return rows_json(st, s, bounce_row, NULL, items, NULL, "reading bounces", err);
}

static json_t *
audit_row(sqlite3_stmt *s, const char *addr)
{
	(void)addr;
	return json_pack("{s:s, s:s, s:s, s:s?}",
		"at", sqlite3_column_text(s, 0), "event", sqlite3_column_text(s, 1),
		"source", sqlite3_column_text(s, 2), "detail", sqlite3_column_text(s, 3));
}

static enum store_status
audit_json(struct store *st, int64_t id, const char *addr, json_t *items, char *err)
{
	static const char sql[] =
		"SELECT at, event, source, detail FROM audit"
		" WHERE subscriber_id = ?1 OR subject = ?2 ORDER BY id";
	unsigned char h[AUDIT_HASH_LEN];
	sqlite3_stmt *s = store_stmt(st, sql, err);

	if (s == NULL)
		return STORE_ERROR;
	store_audit_hash(st, addr, h);
	if (id > 0)
		sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_blob(s, 2, h, sizeof(h), SQLITE_STATIC);
	return rows_json(st, s, audit_row, addr, items, NULL, "reading the audit log", err);
}

enum store_status
store_export(struct store *st, const char *email, const char *controller,
	     json_t **out, char *err)
{
	char addr[ADDR_MAX + 1], now[TIMESTAMP_LEN];
	struct subscriber sub;
	json_t *o, *deliveries, *audit, *bounces, *evidence = NULL, *pending = NULL;
	enum store_status s;
	bool suppressed;

	*out = NULL;
	if ((s = store_addr(email, addr, err)) != STORE_OK)
		return s;
	if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(st, sqlite3_errcode(st->db), "reading", err);
	s = store_subscriber_find(st, addr, &sub, err);
	if (s == STORE_NOTFOUND) {
		memset(&sub, 0, sizeof(sub));
		s = STORE_OK;
	}
	if (s != STORE_OK)
		goto fail;
	if ((s = store_suppress_has_norm(st, addr, &suppressed, err)) != STORE_OK ||
	    (sub.id && (s = evidence_json(st, sub.id, &evidence, err)) != STORE_OK) ||
	    (s = pending_json(st, addr, &pending, err)) != STORE_OK) {
		json_decref(evidence);
		goto fail;
	}

	timestamp_now(now);
	o = json_object();
	json_object_set_new(o, "controller", json_string(controller));
	json_object_set_new(o, "generated", json_string(now));
	json_object_set_new(o, "subscriber", sub.id ? subscriber_json(&sub) : json_null());
	json_object_set_new(o, "consent", evidence ? evidence : json_null());
	json_object_set_new(o, "pending_signup", pending ? pending : json_null());
	deliveries = json_array();
	audit = json_array();
	bounces = json_array();
	if ((sub.id && (s = deliveries_json(st, sub.id, deliveries, err)) != STORE_OK) ||
	    (sub.id && (s = bounces_json(st, sub.id, bounces, err)) != STORE_OK) ||
	    (s = audit_json(st, sub.id, addr, audit, err)) != STORE_OK) {
		json_decref(deliveries);
		json_decref(audit);
		json_decref(bounces);
		json_decref(o);
		goto fail;
	}
	json_object_set_new(o, "deliveries", json_pack("{s:s, s:s, s:o}",
		"purpose", "which newsletters were sent to you, to send each one once and to handle bounces",
		"legal_basis", sub.id == 0 ? "none: nothing is held" : sub.consent ? BASIS_CONSENT : BASIS_SOFT,
		"items", deliveries));
	json_object_set_new(o, "bounces", json_pack("{s:s, s:s, s:o}",
		"purpose", "days on which mail to you bounced for a temporary reason: enough of them within a window mean the address no longer works, and it is deleted",
		"legal_basis", sub.id == 0 ? "none: nothing is held" : BASIS_BOUNCE,
		"items", bounces));
	json_object_set_new(o, "suppression", json_pack("{s:b, s:s, s:s}",
		"listed", suppressed,
		"purpose", "so that a later purchase does not enrol you again after you unsubscribed",
		"legal_basis", BASIS_SUPPRESS));
	json_object_set_new(o, "audit", json_pack("{s:s, s:s, s:o}",
		"purpose", "what was done with your data and when (identified by a keyed hash, not your address); "
			   "erasing your data deletes these events too, and leaves only a record that an erasure was made, "
			   "which names no one",
		"legal_basis", BASIS_AUDIT, "items", audit));
	json_object_set_new(o, "recipients", json_string("none: your data is kept in a database of our own and shared with no one"));
	json_object_set_new(o, "source", json_string("your purchases from us, or your own sign-up"));
	sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	sodium_memzero(&sub, sizeof(sub));
	*out = o;
	return STORE_OK;
fail:
	sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	sodium_memzero(&sub, sizeof(sub));
	return s;
}
