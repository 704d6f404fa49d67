/*
 * store/store_int.h - what the files of store/ share and nobody else sees.
 */
#ifndef NEWSLETTER_STORE_INT_H
#define NEWSLETTER_STORE_INT_H

#include <sqlite3.h>
#include <sodium.h>

#include "store.h"

#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_STMT_CACHE 48
#define SUPPRESS_HASH_LEN 32
#define AUDIT_HASH_LEN 16

struct store_keys {
	int n;			/* keys loaded */
	int current;		/* id of the newest key: it signs */
	unsigned char mac[STORE_KEY_MAX + 1][crypto_auth_KEYBYTES]; /* by id */
	bool have[STORE_KEY_MAX + 1];
	unsigned char dummy[crypto_auth_KEYBYTES]; /* for unknown key ids */
	/*
	 * HMAC states with the key (of that id, or the dummy one) already
	 * absorbed: a token's MAC then costs two SHA-512 blocks, not four.
	 */
	crypto_auth_hmacsha512256_state mac_state[STORE_KEY_MAX + 1];
	crypto_auth_hmacsha512256_state dummy_state;
	unsigned char suppress[crypto_generichash_KEYBYTES];
	unsigned char audit[crypto_generichash_KEYBYTES];
};

struct store {
	sqlite3 *db;
	const struct store_keys *keys;
	char *path;
	struct {
		const char *sql;
		sqlite3_stmt *stmt;
	} cache[STORE_STMT_CACHE];
	time_t clock;		/* when now/today below were formatted */
	char now[TIMESTAMP_LEN];
	char today[DATE_LEN];
	bool defer_scrub;	/* the owner scrubs deletions in batches (serve) */
	/* The open transaction deleted a subscriber (set by store_remove(),
	 * cleared when store_end_deletion() or store_end() ends it; left set
	 * by an owner that ends it with store_commit(), which costs at most
	 * one needless scrub, never a missing one). */
	bool deleted;
};

/* A prepared, reset statement for a static SQL string (cached by pointer). */
sqlite3_stmt *store_stmt(struct store *st, const char *sql, char *err);
/* Maps a SQLite result code to a status and a message in @err. */
enum store_status store_fail(struct store *st, int rc, const char *what, char *err);
/* Opens a write transaction unless one is open; *own tells the caller to end it. */
enum store_status store_tx_start(struct store *st, bool *own, char *err);
/* Commits (status OK) or rolls back (otherwise) a transaction we own. */
enum store_status store_tx_end(struct store *st, bool own, enum store_status s, char *err);

/* The current time and date, formatted at most once a second (hot in imports). */
const char *store_now(struct store *st);
const char *store_today(struct store *st);
/* Normalises raw input, or returns STORE_INVALID with the reason. */
enum store_status store_addr(const char *raw, char out[ADDR_MAX + 1], char *err);
void store_suppress_hash(const struct store *st, const char *normalized,
			 unsigned char out[SUPPRESS_HASH_LEN]);
void store_audit_hash(const struct store *st, const char *normalized,
		      unsigned char out[AUDIT_HASH_LEN]);
/* Joins the current transaction: the caller owns it. */
enum store_status store_suppress_remove(struct store *st, const char *normalized,
					bool *removed, char *err);
/* Deletes a subscriber (deliveries and bounce days cascade), keeps a
 * suppression entry with @event as its reason, records the audit event
 * @event and counts the leave on @mailing (store_mailing_left(); "bounced"
 * as a hard bounce); in the caller's transaction. (subscriber.c) */
enum store_status store_remove(struct store *st, const struct subscriber *sub,
			       int64_t mailing, const char *event, const char *source,
			       const char *detail, char *err);
/* Counts subscriber @subscriber, about to be deleted, on @mailing (0: the
 * newest mailing sent to them; none, nothing): as a hard bounce when
 * @bounced, else as an unsubscribe. In the caller's transaction, before
 * the deletion cascades their deliveries away. (mailing.c) */
enum store_status store_mailing_left(struct store *st, int64_t subscriber, int64_t mailing,
				     bool bounced, char *err);
/* The shared end of every deletion: commit when @own, then scrub the files
 * when @deleted or store_remove() ran in the transaction (unless the owner of
 * the store has taken that on: store_defer_scrub()). Not @own: @s, and the
 * owner's store_end() scrubs. */
enum store_status store_end_deletion(struct store *st, bool own, enum store_status s,
				     bool deleted, char *err);
/* Writes every stored address that has a quoted local part in the form
 * addr_normalize() gives now (a migration step; subscriber.c). */
enum store_status store_renormalize(struct store *st, char *err);
/* Deletes the pending signup of @normalized, if any, in the caller's
 * transaction (erasure). (signup.c) */
enum store_status store_signup_forget(struct store *st, const char *normalized, char *err);
enum store_status store_suppress_add_norm(struct store *st, const char *normalized,
					  const char *reason, char *err);
enum store_status store_suppress_has_norm(struct store *st, const char *normalized,
					  bool *has, char *err);

#endif
