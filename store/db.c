/*
 * store/db.c - opening the database, its schema and migrations, statements
 * and transactions.
 *
 * Every process (serve, send, bounce, the CLI) opens the same file: WAL
 * lets readers and one writer work at once, the busy timeout makes writers
 * queue, and a writer that waited too long gets STORE_BUSY (exit 75), never
 * a half-written store. secure_delete and a truncating checkpoint after
 * deletions keep deleted addresses out of the files' bytes.
 */
#include "store_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Migrations, in order: migrations[i] takes user_version i to i + 1. Never
 * edit one that has shipped; add another.
 */
static const char *const migrations[] = {
	/* 1: subscribers, suppression list, audit log, mailings, deliveries */
	"CREATE TABLE subscriber ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"	/* never reused */
	"  email TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	"  name TEXT,"
	"  state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'restricted')),"
	"  consent_date TEXT,"		/* basis: consent when set, else soft opt-in */
	"  enrolled TEXT NOT NULL,"
	"  last_purchase TEXT NOT NULL,"
	"  last_order TEXT"
	");"
	"CREATE TABLE suppression ("
	"  hash BLOB PRIMARY KEY,"	/* keyed BLAKE2b of the folded address */
	"  reason TEXT NOT NULL,"
	"  created TEXT NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY,"
	"  at TEXT NOT NULL,"
	"  event TEXT NOT NULL,"
	"  subject BLOB,"		/* keyed BLAKE2b, never the address */
	"  subscriber_id INTEGER,"
	"  source TEXT NOT NULL,"
	"  detail TEXT"
	");"
	/* No index on audit: it is read by access requests and retention only,
	 * and an index would cost every enrolment of a bulk import. */
	"CREATE TABLE mailing ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ident TEXT NOT NULL UNIQUE,"
	"  subject TEXT NOT NULL,"
	"  created TEXT NOT NULL,"
	"  finished TEXT"
	");"
	"CREATE TABLE delivery ("
	"  mailing_id INTEGER NOT NULL REFERENCES mailing(id) ON DELETE CASCADE,"
	"  subscriber_id INTEGER NOT NULL REFERENCES subscriber(id) ON DELETE CASCADE,"
	"  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  updated TEXT NOT NULL,"
	"  reply TEXT,"
	"  PRIMARY KEY (mailing_id, subscriber_id)"
	") WITHOUT ROWID;"
	"CREATE INDEX delivery_subscriber ON delivery(subscriber_id);",
	/* 2: soft bounces, one row per subscriber and day (the bounce score) */
	"CREATE TABLE bounce ("
	"  subscriber_id INTEGER NOT NULL REFERENCES subscriber(id) ON DELETE CASCADE,"
	"  day TEXT NOT NULL,"		/* YYYY-MM-DD: at most one point a day */
	"  status TEXT,"		/* the enhanced status code, e.g. 4.2.2 */
	"  reason TEXT,"		/* a short word: mailbox-full, blocked, ... */
	"  PRIMARY KEY (subscriber_id, day)"
	") WITHOUT ROWID;",
	/* 3: the address generation, raised by rectify: a link carries the
	 * generation of the address it was mailed to (store/token.c) */
	"ALTER TABLE subscriber ADD COLUMN gen INTEGER NOT NULL DEFAULT 0;",
	/* 4: addresses with a quoted local part, stored as written before,
	 * in their shortest form (store_renormalize(), after this step) */
	"",
	/*
	 * 5: a mailing's counts, kept on its row as numbers that name nobody:
	 * deliveries cascade away with a deleted subscriber, and an issue's
	 * history must not shrink with them. The triggers keep sent and
	 * failed in the statement (so the transaction) that changes a
	 * delivery's state; there is no trigger on DELETE, by design.
	 * bounced and unsubscribed are counted by the deletion itself
	 * (store_mailing_left()). An existing database starts from the
	 * deliveries still there; its past deletions are not known.
	 */
	"ALTER TABLE mailing ADD COLUMN sent INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE mailing ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE mailing ADD COLUMN bounced INTEGER NOT NULL DEFAULT 0;"	/* hard bounces */
	"ALTER TABLE mailing ADD COLUMN unsubscribed INTEGER NOT NULL DEFAULT 0;"
	"UPDATE mailing SET"
	"  sent = (SELECT count(*) FROM delivery d WHERE d.mailing_id = mailing.id AND d.state = 'sent'),"
	"  failed = (SELECT count(*) FROM delivery d WHERE d.mailing_id = mailing.id AND d.state = 'failed');"
	"CREATE TRIGGER delivery_counted_insert AFTER INSERT ON delivery"
	"  WHEN new.state <> 'pending' BEGIN"
	"  UPDATE mailing SET sent = sent + (new.state = 'sent'), failed = failed + (new.state = 'failed')"
	"   WHERE id = new.mailing_id;"
	" END;"
	"CREATE TRIGGER delivery_counted_update AFTER UPDATE OF state ON delivery"
	"  WHEN new.state <> old.state BEGIN"
	"  UPDATE mailing SET sent = sent + (new.state = 'sent') - (old.state = 'sent'),"
	"   failed = failed + (new.state = 'failed') - (old.state = 'failed')"
	"   WHERE id = new.mailing_id;"
	" END;",
	/*
	 * 6: double opt-in (store/signup.c). A pending signup holds the
	 * address until it is confirmed (then only a marker that names the
	 * subscriber remains, and goes with them) or expires (deleted, bytes
	 * and all). Consent texts are kept once per version, by hash; the
	 * subscriber row holds the evidence of a confirmed consent.
	 */
	"CREATE TABLE consent_text ("
	"  hash BLOB PRIMARY KEY,"	/* BLAKE2b-256 of the text, unkeyed: anyone can check it */
	"  text TEXT NOT NULL,"
	"  first_seen TEXT NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE signup ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"	/* never reused: a link names one */
	"  email TEXT UNIQUE COLLATE NOCASE,"	/* normalised; NULL once confirmed */
	"  name TEXT,"
	"  lang TEXT NOT NULL,"
	"  channel TEXT NOT NULL,"
	"  consent_hash BLOB NOT NULL REFERENCES consent_text(hash),"
	"  requested TEXT NOT NULL,"
	"  expires TEXT NOT NULL,"	/* the link's end; the row is deleted after it */
	"  queued TEXT NOT NULL,"	/* the last confirmation mail queued (resend limit) */
	"  mail_due TEXT,"		/* NULL: no mail to send */
	"  mail_attempts INTEGER NOT NULL DEFAULT 0,"
	"  mail_sent TEXT,"
	"  confirmed TEXT,"		/* the confirmed marker */
	"  subscriber_id INTEGER REFERENCES subscriber(id) ON DELETE CASCADE"
	");"
	"CREATE INDEX signup_due ON signup(mail_due) WHERE mail_due IS NOT NULL;"
	"CREATE INDEX signup_expires ON signup(expires);"
	"CREATE INDEX signup_subscriber ON signup(subscriber_id) WHERE subscriber_id IS NOT NULL;"
	/* How many signups hold an address, kept by triggers in the statement
	 * that changes one: the cap is checked on every request, and a
	 * count(*) of 10,000 rows would cost more than the rest of it. */
	"CREATE TABLE signup_pending (one INTEGER PRIMARY KEY CHECK (one = 1), n INTEGER NOT NULL);"
	"INSERT INTO signup_pending VALUES (1, 0);"
	"CREATE TRIGGER signup_pending_insert AFTER INSERT ON signup"
	"  WHEN new.email IS NOT NULL BEGIN"
	"  UPDATE signup_pending SET n = n + 1;"
	" END;"
	"CREATE TRIGGER signup_pending_delete AFTER DELETE ON signup"
	"  WHEN old.email IS NOT NULL BEGIN"
	"  UPDATE signup_pending SET n = n - 1;"
	" END;"
	"CREATE TRIGGER signup_pending_update AFTER UPDATE OF email ON signup"
	"  WHEN (old.email IS NULL) <> (new.email IS NULL) BEGIN"
	"  UPDATE signup_pending SET n = n + (new.email IS NOT NULL) - (old.email IS NOT NULL);"
	" END;"
	"ALTER TABLE subscriber ADD COLUMN consent_requested TEXT;"
	"ALTER TABLE subscriber ADD COLUMN consent_confirmed TEXT;"
	"ALTER TABLE subscriber ADD COLUMN consent_channel TEXT;"
	"ALTER TABLE subscriber ADD COLUMN consent_hash BLOB;",
};
#define MIGRATION_RENORMALIZE 3	/* the index of the step above */
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))
#define APPLICATION_ID 0x4e4c5452	/* "NLTR": marks a newsletter database */

int
store_exit_code(enum store_status s)
{
	switch (s) {
	case STORE_OK:
		return EXIT_OK;
	case STORE_INVALID:
		return EXIT_USAGE;
	case STORE_BUSY:
		return EXIT_TEMPFAIL;
	default:
		return EXIT_FAIL;
	}
}

enum store_status
store_fail(struct store *st, int rc, const char *what, char *err)
{
	const char *path = st && st->path ? st->path : "the database";

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		errf(err, "%s: the database %s is busy (locked by another process for more than %d s): try again",
		     what, path, STORE_BUSY_TIMEOUT_MS / 1000);
		return STORE_BUSY;
	case SQLITE_READONLY:
		errf(err, "%s: the database %s is read-only: check the permissions of the file and its folder",
		     what, path);
		return STORE_ERROR;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		errf(err, "%s: %s is damaged or not a newsletter database", what, path);
		return STORE_ERROR;
	case SQLITE_FULL:
		errf(err, "%s: the disk holding %s is full", what, path);
		return STORE_ERROR;
	case SQLITE_CANTOPEN:
		errf(err, "%s: cannot open %s (does its folder exist and is it writable?)", what, path);
		return STORE_ERROR;
	case SQLITE_IOERR:
		errf(err, "%s: input/output error on %s", what, path);
		return STORE_ERROR;
	default:
		errf(err, "%s: %s", what, st && st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		return STORE_ERROR;
	}
}

sqlite3_stmt *
store_stmt(struct store *st, const char *sql, char *err)
{
	int i, rc;

	for (i = 0; i < STORE_STMT_CACHE && st->cache[i].sql != NULL; i++) {
		if (st->cache[i].sql == sql) {
			sqlite3_reset(st->cache[i].stmt);
			sqlite3_clear_bindings(st->cache[i].stmt);
			return st->cache[i].stmt;
		}
	}
	if (i == STORE_STMT_CACHE)
		fatal("store: statement cache full (raise STORE_STMT_CACHE)");
	rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
				&st->cache[i].stmt, NULL);
	if (rc != SQLITE_OK) {
		store_fail(st, rc, "preparing a statement", err);
		return NULL;
	}
	st->cache[i].sql = sql;
	return st->cache[i].stmt;
}

static enum store_status
exec(struct store *st, const char *sql, const char *what, char *err)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? STORE_OK : store_fail(st, rc, what, err);
}

/* One statement from the cache: for those run at every transaction, which
 * sqlite3_exec() would parse again each time. */
static enum store_status
step_cached(struct store *st, const char *sql, const char *what, char *err)
{
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, what, err);
}

enum store_status
store_begin(struct store *st, char *err)
{
	static const char sql[] = "BEGIN IMMEDIATE";

	return step_cached(st, sql, "starting a transaction", err);
}

enum store_status
store_commit(struct store *st, char *err)
{
	static const char sql[] = "COMMIT";
	enum store_status s = step_cached(st, sql, "committing", err);

	if (s != STORE_OK)
		store_rollback(st);
	return s;
}

void
store_rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

enum store_status
store_tx_start(struct store *st, bool *own, char *err)
{
	*own = sqlite3_get_autocommit(st->db) != 0;
	return *own ? store_begin(st, err) : STORE_OK;
}

enum store_status
store_tx_end(struct store *st, bool own, enum store_status s, char *err)
{
	if (!own)
		return s;
	if (s == STORE_OK)
		return store_commit(st, err);
	store_rollback(st);
	return s;
}

void
store_bulk(struct store *st)
{
	sqlite3_exec(st->db, "PRAGMA cache_size = -40960", NULL, NULL, NULL);
}

enum store_status
store_scrub(struct store *st, char *err)
{
	int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);

	if (rc != SQLITE_OK) {
		log_warn("deleted data stays in the write-ahead log of %s until the next checkpoint: %s",
			 st->path, sqlite3_errmsg(st->db));
		/* Callers that can try again later (serve) look at the status. */
		return store_fail(st, rc, "checkpointing", err);
	}
	return STORE_OK;
}

enum store_status
store_scrub_try(struct store *st, char *err)
{
	int rc;

	sqlite3_busy_timeout(st->db, 0);
	rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	return rc == SQLITE_OK ? STORE_OK : store_fail(st, rc, "checkpointing", err);
}

long long
store_wal_size(const struct store *st)
{
	char path[PATH_MAX];
	struct stat sb;

	if (snprintf(path, sizeof(path), "%s-wal", st->path) >= (int)sizeof(path))
		return -1;
	if (stat(path, &sb) != 0)
		return errno == ENOENT ? 0 : -1;
	return (long long)sb.st_size;
}

/*
 * A read transaction is open once a statement has read the database: the
 * SELECT is stepped once and reset, which keeps the transaction (and its
 * snapshot) until the COMMIT of store_unpin().
 */
enum store_status
store_pin(struct store *st, char *err)
{
	sqlite3_stmt *s;
	enum store_status r;
	int rc;

	if (!sqlite3_get_autocommit(st->db))
		return STORE_OK;	/* pinned already */
	if ((r = exec(st, "BEGIN", "holding a read transaction", err)) != STORE_OK)
		return r;
	if ((s = store_stmt(st, "SELECT 1 FROM sqlite_schema LIMIT 1", err)) == NULL) {
		store_rollback(st);
		return STORE_ERROR;
	}
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW) {
		r = store_fail(st, rc, "holding a read transaction", err);
		store_rollback(st);
		return r;
	}
	return STORE_OK;
}

void
store_unpin(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		store_rollback(st);
}

/* The value of an integer pragma, or -1. */
static int
pragma_int(struct store *st, const char *sql)
{
	sqlite3_stmt *s;
	int v = -1;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

int
store_schema_version(struct store *st)
{
	return pragma_int(st, "PRAGMA user_version");
}

/*
 * An empty file, or another program's database, is never made ours: it is
 * checked before anything (even journal_mode) writes to it.
 */
static enum store_status
check_ours(struct store *st, char *err)
{
	int v = store_schema_version(st);

	if (v < 0)
		return store_fail(st, sqlite3_errcode(st->db), "reading the schema version", err);
	if (v == 0 || pragma_int(st, "PRAGMA application_id") != APPLICATION_ID) {
		errf(err, "%s is empty or not a newsletter database: check the [store] database setting "
		     "(or restore the file from a backup)", st->path);
		return STORE_ERROR;
	}
	return STORE_OK;
}

static enum store_status
migrate(struct store *st, char *err)
{
	enum store_status s;
	char sql[96];
	int v;

	v = store_schema_version(st);
	if (v < 0)
		return store_fail(st, sqlite3_errcode(st->db), "reading the schema version", err);
	if (v > SCHEMA_VERSION) {
		errf(err, "the database %s has schema version %d, newer than this program knows (%d): upgrade newsletter",
		     st->path, v, SCHEMA_VERSION);
		return STORE_ERROR;
	}
	if (v == SCHEMA_VERSION)
		return STORE_OK;
	if ((s = store_begin(st, err)) != STORE_OK)
		return s;
	/* Read again inside the write lock: another process may have migrated. */
	v = store_schema_version(st);
	for (; v < SCHEMA_VERSION; v++) {
		if ((s = exec(st, migrations[v], "migrating the schema", err)) != STORE_OK ||
		    (v == MIGRATION_RENORMALIZE && (s = store_renormalize(st, err)) != STORE_OK)) {
			store_rollback(st);
			return s;
		}
	}
	/* Two ints in 96 bytes: fits; a cut statement would set another version. */
	if (fmt(sql, sizeof(sql), "PRAGMA user_version = %d; PRAGMA application_id = %d",
		SCHEMA_VERSION, APPLICATION_ID) < 0) {
		store_rollback(st);
		errf(err, "migrating the schema: the version statement is longer than %zu bytes",
		     sizeof(sql) - 1);
		return STORE_ERROR;
	}
	if ((s = exec(st, sql, "migrating the schema", err)) != STORE_OK) {
		store_rollback(st);
		return s;
	}
	return store_commit(st, err);
}

/* SQL function audit_hash(email): the audit subject of an address. */
static void
sql_audit_hash(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct store *st = sqlite3_user_data(ctx);
	const unsigned char *email = sqlite3_value_text(argv[0]);
	unsigned char h[AUDIT_HASH_LEN];

	(void)argc;
	if (email == NULL || st->keys == NULL) {
		sqlite3_result_null(ctx);
		return;
	}
	store_audit_hash(st, (const char *)email, h);
	sqlite3_result_blob(ctx, h, sizeof(h), SQLITE_TRANSIENT);
}

static enum store_status
store_open_flags(struct store **out, const char *path,
		 const struct store_keys *keys, int flags, char *err)
{
	static const char pragmas[] =
		"PRAGMA journal_mode = WAL;"
		"PRAGMA synchronous = FULL;"	/* an unsubscribe must survive a power cut */
		"PRAGMA foreign_keys = ON;"
		"PRAGMA secure_delete = ON;"
		"PRAGMA journal_size_limit = 0;"	/* a kept WAL is emptied */
		"PRAGMA trusted_schema = OFF;"
		"PRAGMA cache_size = -16384;";	/* 16 MiB */
	struct store *st = xcalloc(1, sizeof(*st));
	enum store_status s;
	int rc;

	st->path = xstrdup(path);
	st->keys = keys;
	/*
	 * SQLite's memory statistics (which nothing here reads) take one
	 * process-wide mutex on every allocation: threads with stores of their
	 * own would queue on it. It can be turned off only before SQLite
	 * initialises, i.e. in the first open, made before any thread starts;
	 * later calls are refused and change nothing.
	 */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	/* A store belongs to one thread (NOMUTEX): no lock per SQLite call. */
	rc = sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		if ((rc & 0xff) == SQLITE_CANTOPEN && !(flags & SQLITE_OPEN_CREATE) &&
		    access(path, F_OK) != 0)
			errf(err, "the database %s does not exist: run 'newsletter init' first", path);
		else
			store_fail(st, rc, "opening the database", err);
		store_close(st);
		return STORE_ERROR;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	/*
	 * Keep the WAL file when the last connection closes (truncated to
	 * nothing by journal_size_limit), so that the next short command does
	 * not create it again with a folder fsync.
	 */
	{
		int one = 1;

		sqlite3_file_control(st->db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
	}
	sqlite3_create_function_v2(st->db, "audit_hash", 1,
				   SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
				   st, sql_audit_hash, NULL, NULL, NULL);
	if ((!(flags & SQLITE_OPEN_CREATE) && (s = check_ours(st, err)) != STORE_OK) ||
	    (s = exec(st, pragmas, "opening the database", err)) != STORE_OK ||
	    (s = migrate(st, err)) != STORE_OK) {
		store_close(st);
		return s;
	}
	*out = st;
	return STORE_OK;
}

enum store_status
store_open(struct store **out, const char *path, const struct store_keys *keys,
	   char *err)
{
	return store_open_flags(out, path, keys, SQLITE_OPEN_READWRITE, err);
}

enum store_status
store_create(const char *path, char *err)
{
	struct store *st;
	enum store_status s;

	if (access(path, F_OK) == 0) {
		errf(err, "the database %s exists already: refusing to overwrite it", path);
		return STORE_EXISTS;
	}
	s = store_open_flags(&st, path, NULL, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err);
	if (s == STORE_OK)
		store_close(st);
	return s;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	for (int i = 0; i < STORE_STMT_CACHE && st->cache[i].sql != NULL; i++)
		sqlite3_finalize(st->cache[i].stmt);
	if (st->db)
		sqlite3_close(st->db);
	free(st->path);
	free(st);
}

static void
store_clock(struct store *st)
{
	time_t t = time(NULL);

	if (t != st->clock) {
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(st->now, sizeof(st->now), "%Y-%m-%dT%H:%M:%SZ", &tm);
		strftime(st->today, sizeof(st->today), "%Y-%m-%d", &tm);
		st->clock = t;
	}
}

const char *
store_now(struct store *st)
{
	store_clock(st);
	return st->now;
}

const char *
store_today(struct store *st)
{
	store_clock(st);
	return st->today;
}

enum store_status
store_addr(const char *raw, char out[ADDR_MAX + 1], char *err)
{
	char why[ERR_LEN];

	if (addr_normalize(raw, out, why) < 0) {
		errf(err, "invalid address: %s", why);
		return STORE_INVALID;
	}
	return STORE_OK;
}
