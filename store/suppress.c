/*
 * store/suppress.c - the suppression list: keyed BLAKE2b hashes of folded
 * addresses that a purchase must not enrol again (they unsubscribed, were
 * reported dead, or complained). No address is stored in clear; the key
 * comes from the key file, so the hashes cannot be tested against a list of
 * addresses without it.
 */
#include "store_int.h"

#include <string.h>

void
store_suppress_hash(const struct store *st, const char *normalized,
		    unsigned char out[SUPPRESS_HASH_LEN])
{
	char folded[ADDR_MAX + 1];

	addr_fold(normalized, folded);
	crypto_generichash(out, SUPPRESS_HASH_LEN, (const unsigned char *)folded,
			   strlen(folded), st->keys->suppress, sizeof(st->keys->suppress));
}

static enum store_status
suppress_insert(struct store *st, const char *normalized, const char *reason, char *err)
{
	static const char sql[] =
		"INSERT INTO suppression(hash, reason, created) VALUES (?1, ?2, ?3)"
		" ON CONFLICT(hash) DO NOTHING";
	unsigned char h[SUPPRESS_HASH_LEN];
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	store_suppress_hash(st, normalized, h);
	sqlite3_bind_blob(s, 1, h, sizeof(h), SQLITE_STATIC);
	sqlite3_bind_text(s, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, store_now(st), -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "adding a suppression entry", err);
}

enum store_status
store_suppress_add(struct store *st, const char *email, const char *reason, char *err)
{
	char addr[ADDR_MAX + 1];
	enum store_status s;
	bool own;

	if ((s = store_addr(email, addr, err)) != STORE_OK)
		return s;
	if ((s = store_tx_start(st, &own, err)) != STORE_OK)
		return s;
	s = suppress_insert(st, addr, reason, err);
	return store_tx_end(st, own, s, err);
}

enum store_status
store_suppress_add_norm(struct store *st, const char *normalized, const char *reason, char *err)
{
	return suppress_insert(st, normalized, reason, err);
}

/* Runs @sql with the hash of @normalized as ?1; an SQLite result code. */
static int
hash_step(struct store *st, const char *sql, const char *normalized, char *err)
{
	unsigned char h[SUPPRESS_HASH_LEN];
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return SQLITE_ERROR;
	store_suppress_hash(st, normalized, h);
	sqlite3_bind_blob(s, 1, h, sizeof(h), SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc;
}

enum store_status
store_suppress_has_norm(struct store *st, const char *normalized, bool *has, char *err)
{
	static const char sql[] = "SELECT 1 FROM suppression WHERE hash = ?1";
	int rc = hash_step(st, sql, normalized, err);

	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(st, rc, "reading the suppression list", err);
	*has = rc == SQLITE_ROW;
	return STORE_OK;
}

enum store_status
store_suppress_has(struct store *st, const char *email, bool *has, char *err)
{
	char addr[ADDR_MAX + 1];
	enum store_status s;

	if ((s = store_addr(email, addr, err)) != STORE_OK)
		return s;
	return store_suppress_has_norm(st, addr, has, err);
}

enum store_status
store_suppress_remove(struct store *st, const char *normalized, bool *removed, char *err)
{
	static const char sql[] = "DELETE FROM suppression WHERE hash = ?1";
	int rc = hash_step(st, sql, normalized, err);

	if (rc != SQLITE_DONE)
		return store_fail(st, rc, "removing a suppression entry", err);
	*removed = sqlite3_changes(st->db) > 0;
	return STORE_OK;
}
