/*
 * store/audit.c - the audit log: what happened to whom, when, and through
 * which part (cli, import, web, api, bounce, retention). The subject is a
 * keyed BLAKE2b hash of the folded address (its key differs from the
 * suppression key) and the subscriber id; details never hold an address.
 */
#include "store_int.h"

#include <string.h>

void
store_audit_hash(const struct store *st, const char *normalized,
		 unsigned char out[AUDIT_HASH_LEN])
{
	char folded[ADDR_MAX + 1];

	addr_fold(normalized, folded);
	crypto_generichash(out, AUDIT_HASH_LEN, (const unsigned char *)folded,
			   strlen(folded), st->keys->audit, sizeof(st->keys->audit));
}

enum store_status
store_audit_add(struct store *st, const char *event, const char *email,
		int64_t subscriber, const char *source, const char *detail, char *err)
{
	/* OR IGNORE: no statement journal; every NOT NULL column is bound. */
	static const char sql[] =
		"INSERT OR IGNORE INTO audit(at, event, subject, subscriber_id, source, detail)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
	unsigned char h[AUDIT_HASH_LEN];
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, store_now(st), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, event, -1, SQLITE_STATIC);
	if (email != NULL) {
		store_audit_hash(st, email, h);
		sqlite3_bind_blob(s, 3, h, sizeof(h), SQLITE_STATIC);
	}
	if (subscriber > 0)
		sqlite3_bind_int64(s, 4, subscriber);
	sqlite3_bind_text(s, 5, source ? source : "cli", -1, SQLITE_STATIC);
	if (detail != NULL)
		sqlite3_bind_text(s, 6, detail, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "writing the audit log", err);
}
