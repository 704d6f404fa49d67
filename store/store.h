/*
 * store/store.h - the subscriber store: the one module that touches SQLite.
 *
 * Every function that changes the store is one transaction, unless the
 * caller has opened one with store_begin() around several (a bulk import),
 * in which case it joins that one. Addresses passed in are raw input: the
 * store normalises and validates them itself, so that no path can skip it.
 */
#ifndef NEWSLETTER_STORE_H
#define NEWSLETTER_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../lib/lib.h"

enum store_status {
	STORE_OK = 0,
	STORE_NOTFOUND,		/* no subscriber with that address or id */
	STORE_SUPPRESSED,	/* the address is on the suppression list */
	STORE_EXISTS,		/* the target address is already a subscriber */
	STORE_INVALID,		/* bad input: the message says what */
	STORE_BUSY,		/* locked past the busy timeout: try again */
	STORE_ERROR		/* anything else: the message says what */
};

/* The exit code a command should end with for a status. */
int store_exit_code(enum store_status s);

/* --- key.c: the key file and the keys derived from it --- */

#define STORE_KEY_MAX 255	/* key ids are 1..255 */

struct store_keys;

/* Creates a key file with one fresh key, mode 0600; refuses to overwrite. */
int store_keys_create(const char *path, char *err);
/* Adds a key (the newest signs from now on); writes the new id to *id. */
int store_keys_rotate(const char *path, int *id, char *err);
/* Reads a key file; the result lives in locked, guarded memory. */
struct store_keys *store_keys_load(const char *path, char *err);
void store_keys_free(struct store_keys *k);
int store_keys_count(const struct store_keys *k);
int store_keys_current(const struct store_keys *k);

/* --- token.c: signed link tokens --- */

enum token_purpose {
	TOKEN_UNSUBSCRIBE = 1,
	TOKEN_BOUNCE = 2,	/* VERP envelope sender */
	TOKEN_ACCESS = 3,	/* data access request */
	TOKEN_CONFIRM = 4	/* a signup's confirmation link: names the
				 * pending signup (claims.subscriber), not a
				 * subscriber; claims.gen and .mailing are 0 */
};

#define TOKEN_LEN 49		/* base64url(19) "." base64url(16) */
#define TOKEN_MAX 128		/* longest input accepted for parsing */
#define TOKEN_GEN_MAX 65535u	/* address generations a token can name */
#define TOKEN_MAILING_MAX ((int64_t)0xffffffffffff)	/* 6 bytes */

/* What a token says: whom, for which of their addresses, from which mailing. */
struct token_claims {
	int64_t subscriber;
	unsigned gen;		/* the subscriber's address generation (rectify) */
	int64_t mailing;	/* 0: none */
};

/*
 * Writes a NUL-terminated token of TOKEN_LEN characters into @out; -1 (and
 * "" in @out) when a claim is beyond what a token holds.
 */
int store_token_make(const struct store_keys *k, enum token_purpose purpose,
		     const struct token_claims *c, char out[TOKEN_LEN + 1]);
/*
 * Verifies @token for @purpose in constant time: every failure (malformed,
 * forged, unknown key, other purpose) takes the same path and returns -1.
 * A valid token may still be stale: the caller compares out->gen with the
 * subscriber's current generation (struct subscriber's gen).
 */
int store_token_verify(const struct store_keys *k, const char *token,
		       enum token_purpose purpose, struct token_claims *out);

/* --- db.c: opening, schema, transactions --- */

struct store;

/* Creates a new database file with the current schema; refuses if present. */
enum store_status store_create(const char *path, char *err);
/* Opens an existing database (migrating it if it is older). @keys stays
 * owned by the caller and must outlive the store. A store is used by one
 * thread at a time: a server opens one per worker thread. */
enum store_status store_open(struct store **out, const char *path,
			     const struct store_keys *keys, char *err);
void store_close(struct store *st);
int store_schema_version(struct store *st);

enum store_status store_begin(struct store *st, char *err);
enum store_status store_commit(struct store *st, char *err);
void store_rollback(struct store *st);
/* Prepares for a bulk load: a 40 MiB page cache (the import's memory budget
 * is 64 MB; DESIGN.md measured 1.5x faster loads with a larger cache). */
void store_bulk(struct store *st);
/* Makes deleted personal data unreadable in the files (WAL included). */
enum store_status store_scrub(struct store *st, char *err);

/* --- subscriber.c --- */

#define NAME_MAX_LEN 200
#define ORDER_MAX_LEN 100

enum sub_state { SUB_ACTIVE, SUB_RESTRICTED };

struct subscriber {
	int64_t id;
	unsigned gen;		/* address generation: rectify raises it */
	char email[ADDR_MAX + 1];
	char name[NAME_MAX_LEN + 1];
	enum sub_state state;
	bool consent;		/* basis: explicit consent, not soft opt-in */
	char enrolled[TIMESTAMP_LEN];
	char last_purchase[DATE_LEN];
	char last_order[ORDER_MAX_LEN + 1];
	char consent_date[DATE_LEN];
};

const char *store_state_name(enum sub_state s);
const char *store_basis_name(bool consent);

struct purchase {
	const char *email;	/* raw input */
	const char *name;	/* NULL or "" for none */
	const char *order;	/* NULL or "" for none */
	const char *date;	/* YYYY-MM-DD, NULL for today */
	bool consent;		/* explicit opt-in: clears a suppression */
	const char *source;	/* "cli", "import", "api" */
};

enum enroll_result { ENROLL_NEW, ENROLL_REFRESHED, ENROLL_SUPPRESSED };

enum store_status store_enroll(struct store *st, const struct purchase *p,
			       enum enroll_result *res, int64_t *id, char *err);
enum store_status store_subscriber_find(struct store *st, const char *email,
					struct subscriber *out, char *err);
enum store_status store_subscriber_get(struct store *st, int64_t id,
				       struct subscriber *out, char *err);
/* Only the address of subscriber @id (what the unsubscribe page shows,
 * masked): the lighter read of a page view. STORE_NOTFOUND too when the
 * address is not the one of generation @gen (a link mailed to an address
 * the subscriber no longer has). */
enum store_status store_subscriber_email(struct store *st, int64_t id, unsigned gen,
					 char email[ADDR_MAX + 1], char *err);
/* Streams every subscriber in id order; stops when @cb returns non-zero. */
enum store_status store_subscriber_each(struct store *st,
					int (*cb)(const struct subscriber *, void *),
					void *arg, char *err);
enum store_status store_rectify(struct store *st, const char *old_email,
				const char *new_email, const char *source, char *err);
enum store_status store_restrict(struct store *st, const char *email,
				 bool restricted, const char *source, char *err);

/*
 * Unsubscribes: deletes the subscriber and their deliveries, keeps a
 * suppression entry, records an audit event, scrubs the files. Not an error
 * when nobody has the address (the suppression entry is still made);
 * *was_subscribed says which.
 */
enum store_status store_unsubscribe(struct store *st, const char *email,
				    const char *source, bool *was_subscribed,
				    char *err);
/* Why a subscriber is deleted: the reason of their suppression entry and the
 * name of the audit event (store_deletion_name()). */
enum store_deletion {
	STORE_DEL_UNSUBSCRIBED,	/* they asked to leave: "unsubscribed" */
	STORE_DEL_BOUNCED,	/* their address does not exist: "bounced" */
};
const char *store_deletion_name(enum store_deletion why);
/*
 * The one deletion of a subscriber named by a token's claims (a verified
 * link, a bounce, a refusal at send time): deletes c->subscriber and their
 * deliveries, keeps a suppression entry, records the audit event @why
 * with @source ("web", "bounce", "mail", "send") and @detail (a status and
 * a word, never an address, or NULL), and scrubs the files when it owns
 * the transaction (else the owner does, with store_end()). Nothing, and
 * *was false, when they are gone already or c->gen is not their current
 * generation (the token or the mail was about an address they no longer
 * have). Counted on the mailing c->mailing names (the issue whose link or
 * VERP address was used, or whose send refused the address): as a hard
 * bounce (STORE_DEL_BOUNCED; one still pending there counts as failed
 * too) or as an unsubscribe. Mailing 0 (and every other deletion:
 * unsubscribe, erase, soft bounces over the threshold): the newest
 * mailing sent to them, if any.
 */
enum store_status store_delete_claims(struct store *st, const struct token_claims *c,
				      enum store_deletion why, const char *source,
				      const char *detail, bool *was, char *err);
/*
 * Ends a transaction the caller opened with store_begin() around the
 * deletions above: commits when @s is STORE_OK, else rolls back, and when
 * a deletion was committed, scrubs the files as a deletion that owns its
 * transaction does (unless store_defer_scrub()). Returns the status.
 */
enum store_status store_end(struct store *st, enum store_status s, char *err);
/* Deletes everything held; a suppression entry only if @suppress. */
enum store_status store_erase(struct store *st, const char *email,
			      bool suppress, const char *source, bool *existed,
			      char *err);

/* --- signup.c: double opt-in of people who bought nothing --- */

#define CONSENT_TEXT_MAX 2000	/* bytes of a consent text */

enum signup_channel { SIGNUP_WEB = 1, SIGNUP_API = 2 };

/* "web-form" or "api": what export and the audit log say. */
const char *store_signup_channel_name(enum signup_channel ch);

struct signup {
	const char *email;	/* raw input: normalised and validated here */
	const char *name;	/* NULL or "" for none */
	const char *lang;	/* "nb" or "en": the confirmation mail's language */
	const char *consent_text;	/* exactly the text shown beside the button */
	enum signup_channel channel;
	int confirm_hours;	/* the confirmation link's life */
	int resend_hours;	/* at most one confirmation mail per address per this */
	long long max_pending;	/* pending signups held at most */
};

enum signup_outcome {
	SIGNUP_QUEUED,		/* a confirmation mail is queued (durably) */
	SIGNUP_THROTTLED,	/* one was queued less than resend_hours ago: none now */
	SIGNUP_FULL,		/* max_pending reached: nothing recorded */
};

/*
 * One transaction: records the pending signup of @s (or refreshes the
 * address's pending one: new name, language, consent text, expiry), keeps
 * its consent text once per version (by hash), adds the audit event
 * "signup-requested" (keyed hash, never the address) and queues its
 * confirmation mail, due now. The same work whatever the address's state
 * (new, pending, subscribed, suppressed): the caller answers the same.
 * STORE_INVALID (the message says why) for an address that is not one.
 */
enum store_status store_signup_request(struct store *st, const struct signup *s,
				       enum signup_outcome *out, char *err);

/* A confirmation mail that is due: what the mailer needs to build it. */
struct signup_mail {
	int64_t id;		/* the pending signup: TOKEN_CONFIRM's claims.subscriber */
	char email[ADDR_MAX + 1];
	char name[NAME_MAX_LEN + 1];
	char lang[3];		/* "nb" or "en" */
	char expires[TIMESTAMP_LEN];	/* when the link stops working (UTC) */
	int attempts;		/* tries so far */
};

/* Up to @max confirmation mails due now (queued, or their retry time
 * reached) whose links have not expired, oldest first, into @out;
 * returns how many, or -1 with @err. Reads only. */
int store_signup_due(struct store *st, struct signup_mail *out, int max, char *err);
/* Records one attempt at mail @id: @sent, or tried again @retry_seconds
 * from now (never past the link's expiry: then it is not tried again;
 * nor when @retry_seconds is negative: a refusal for the address). */
enum store_status store_signup_mailed(struct store *st, int64_t id, bool sent,
				      int retry_seconds, char *err);

enum confirm_outcome {
	CONFIRM_ENROLLED,	/* a new subscriber, basis consent */
	CONFIRM_CONSENTED,	/* already a subscriber: the basis is now consent */
	CONFIRM_ALREADY,	/* confirmed before: nothing changed */
	CONFIRM_EXPIRED,	/* no such pending signup (expired, deleted) */
};

/*
 * Confirms the pending signup a verified TOKEN_CONFIRM names (@c): in one
 * transaction enrols the address with basis consent (or makes an existing
 * subscriber's basis consent: no second row), clears its suppression
 * entry, records the consent evidence with the subscriber (requested,
 * confirmed, channel, consent text hash) and the audit event
 * "consent-confirmed". *subscriber and *gen name the subscriber (for
 * their unsubscribe link) unless CONFIRM_EXPIRED.
 */
enum store_status store_signup_confirm(struct store *st, const struct token_claims *c,
				       enum confirm_outcome *out, int64_t *subscriber,
				       unsigned *gen, char *err);
/* *live: whether the link @c names can still be used (a pending signup
 * not yet expired, or one confirmed whose subscriber is still there), as
 * store_signup_confirm() would judge it. Reads only: for a GET. */
enum store_status store_signup_live(struct store *st, const struct token_claims *c,
				    bool *live, char *err);
/* Deletes the pending signups whose links have expired, bytes and all
 * (scrubs when any was deleted); *deleted counts them. */
enum store_status store_signup_expire(struct store *st, long long *deleted, char *err);

/* --- suppress.c: keyed hashes of addresses that must not be enrolled --- */

enum store_status store_suppress_add(struct store *st, const char *email,
				     const char *reason, char *err);
/* *has: whether @email (raw input) is suppressed. */
enum store_status store_suppress_has(struct store *st, const char *email,
				     bool *has, char *err);

/* --- audit.c --- */

/* Records an event about @email (normalised, or NULL) in the current write. */
enum store_status store_audit_add(struct store *st, const char *event,
				  const char *email, int64_t subscriber,
				  const char *source, const char *detail, char *err);

/* --- stats.c, retention.c, export.c --- */

/*
 * The longest ident and subject of a mailing, in bytes (an issue file's
 * are at most 100 and 400): store_mailing_open refuses longer ones, so
 * that store_stats holds the last mailing's whole.
 */
#define MAILING_IDENT_MAX 127
#define MAILING_SUBJECT_MAX 1023

struct store_stats {
	long long active, restricted, suppressed, audit_events;
	bool has_mailing;
	char mailing_ident[MAILING_IDENT_MAX + 1];
	char mailing_subject[MAILING_SUBJECT_MAX + 1];
	char mailing_created[TIMESTAMP_LEN];
	long long mailing_sent, mailing_pending, mailing_failed;
};

enum store_status store_stats(struct store *st, struct store_stats *out, char *err);

struct retention_result {
	long long subscribers;	/* deleted (or, in a dry run, to delete) */
	long long audit_events;
	long long signups;	/* pending signups whose links expired */
	char subscriber_cutoff[DATE_LEN];	/* "" when disabled */
	char audit_cutoff[DATE_LEN];
};

enum store_status store_retention(struct store *st, int months_without_purchase,
				  int audit_months, bool dry_run,
				  struct retention_result *out, char *err);

/*
 * Everything held about @email, with purpose and legal basis for each item
 * (GDPR art. 15 and 20). The caller owns the returned object.
 */
enum store_status store_export(struct store *st, const char *email,
			       const char *controller, json_t **out, char *err);

/* --- web: what 'newsletter serve' needs of the store --- */

/* defer.c: with @defer, deletions on this store do not scrub the files;
 * the caller then runs store_scrub() (on any store) soon after each. */
void store_defer_scrub(struct store *st, bool defer);
/*
 * db.c: store_pin() holds a read transaction open on @st until
 * store_unpin(). SQLite shares its locks on the -shm file between the
 * connections of a process: while one holds a read lock, the others begin
 * and end their read transactions without a system call (serve's GETs
 * spend a quarter of their time there otherwise). A pin keeps checkpoints
 * from truncating the log: unpin before store_scrub(). Pin only while the
 * log is empty (store_wal_size() is 0): the pin then reads the database
 * file alone and holds back no writer.
 */
enum store_status store_pin(struct store *st, char *err);
void store_unpin(struct store *st);
/* Bytes in the write-ahead log file: 0 when empty or absent, -1 on error. */
long long store_wal_size(const struct store *st);
/* store_scrub(), but STORE_BUSY at once when another connection is busy. */
enum store_status store_scrub_try(struct store *st, char *err);

/* --- mailing.c: mailings and deliveries (used by the mailer) --- */

enum delivery_state { DELIVERY_PENDING, DELIVERY_SENT, DELIVERY_FAILED };

struct mailing_counts {
	long long sent, pending, failed;
};

/* One recipient of a mailing, as the mailer needs it. */
struct recipient {
	int64_t id;
	unsigned gen;		/* address generation, for the tokens */
	char email[ADDR_MAX + 1];
	char name[NAME_MAX_LEN + 1];
};

/* Finds or records the mailing @ident; *existed says which. An ident or
 * subject longer than MAILING_IDENT_MAX or MAILING_SUBJECT_MAX bytes is
 * STORE_INVALID. */
enum store_status store_mailing_open(struct store *st, const char *ident,
				     const char *subject, int64_t *mailing,
				     bool *existed, char *err);
/* The id of mailing @ident, or 0 when there is none; writes nothing. */
enum store_status store_mailing_find(struct store *st, const char *ident,
				     int64_t *mailing, char *err);
/* Gives every active subscriber without one a pending delivery, in short
 * transactions; *added counts the new rows. */
enum store_status store_mailing_fill(struct store *st, int64_t mailing,
				     long long *added, char *err);
/* A mailing's sent and failed as kept on its row (they outlive the
 * subscribers they were about), and its pending deliveries now, those of
 * restricted subscribers not counted; all 0 when there is no such mailing. */
enum store_status store_mailing_counts(struct store *st, int64_t mailing,
				       struct mailing_counts *out, char *err);
/* How many active subscribers are due: no delivery yet, or a pending one. */
enum store_status store_mailing_due(struct store *st, int64_t mailing,
				    long long *due, char *err);
/* Up to @max due subscribers (see store_mailing_due) with ids above
 * @after, in id order, into @out; returns how many, or -1 with @err.
 * Mailing 0 (none yet) makes every active subscriber due. */
int store_mailing_next(struct store *st, int64_t mailing, int64_t after,
		       struct recipient *out, int max, char *err);
/* Records the outcome of one attempt (its own transaction); nothing
 * when the subscriber is gone. */
enum store_status store_mailing_mark(struct store *st, int64_t mailing,
				     int64_t subscriber, enum delivery_state state,
				     const char *reply, char *err);
/* Records @n accepted messages as sent in one transaction (a group
 * commit); nothing for subscribers that are gone. */
enum store_status store_mailing_sent(struct store *st, int64_t mailing,
				     const int64_t *subscribers, int n, char *err);
enum store_status store_mailing_finish(struct store *st, int64_t mailing, char *err);

/* One issue's history: counts only, nothing that names a subscriber. */
struct mailing_summary {
	int64_t id;
	char ident[MAILING_IDENT_MAX + 1];
	char subject[MAILING_SUBJECT_MAX + 1];
	char created[TIMESTAMP_LEN];
	char finished[TIMESTAMP_LEN];	/* "" while not finished */
	long long sent, failed, pending;
	long long bounced;		/* hard bounces, at send time or reported later */
	long long unsubscribed;		/* unsubscribes (and erasures) since */
};

/* Every mailing, oldest first; stops when @cb returns non-zero. */
enum store_status store_mailing_each(struct store *st,
				     int (*cb)(const struct mailing_summary *, void *),
				     void *arg, char *err);
/* For the sender's handle: commits survive a crash of the process, not a
 * power cut; a 4 MiB page cache. */
void store_mailing_sender(struct store *st);

/* --- bounce.c: what bounces do to a subscriber (used by bounce/) --- */

/* A hard bounce is a deletion: store_delete_claims(..., STORE_DEL_BOUNCED, ...). */
/* A soft bounce: one point a day at most; points older than @window_days
 * are dropped (decay); @threshold points within the window delete as a hard
 * bounce. *score is the score after this bounce. */
enum store_status store_bounce_soft(struct store *st, int64_t id, const char *status,
				    const char *reason, int threshold, int window_days,
				    int *score, bool *deleted, char *err);
/* The current bounce score: soft-bounce days within the window. */
enum store_status store_bounce_score(struct store *st, int64_t id, int window_days,
				     int *score, char *err);

#endif
