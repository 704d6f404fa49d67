/*
 * tests/unit/helpers.h - a scratch folder with a key file and a database
 * for the store's unit tests; removed when the test ends.
 */
#ifndef TEST_HELPERS_H
#define TEST_HELPERS_H

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../store/store.h"

struct scratch {
	char dir[64];
	char key[96];
	char db[96];
	struct store_keys *keys;
	struct store *st;
};

static inline void
scratch_open(struct scratch *s)
{
	char err[ERR_LEN] = "";

	strcpy(s->dir, "/tmp/newsletter-unit.XXXXXX");
	cr_assert_not_null(mkdtemp(s->dir));
	snprintf(s->key, sizeof(s->key), "%s/k", s->dir);
	snprintf(s->db, sizeof(s->db), "%s/db", s->dir);
	cr_assert_eq(store_keys_create(s->key, err), 0, "%s", err);
	s->keys = store_keys_load(s->key, err);
	cr_assert_not_null(s->keys, "%s", err);
	cr_assert_eq(store_create(s->db, err), STORE_OK, "%s", err);
	cr_assert_eq(store_open(&s->st, s->db, s->keys, err), STORE_OK, "%s", err);
}

static inline void
scratch_close(struct scratch *s)
{
	char cmd[128];

	store_close(s->st);
	store_keys_free(s->keys);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	cr_expect_eq(system(cmd), 0);
}

/* A token of generation 0 for @sub and @mailing (what most tests need). */
static inline void
token_for(const struct store_keys *k, enum token_purpose p, int64_t sub, int64_t mailing,
	  char out[TOKEN_LEN + 1])
{
	struct token_claims tc = {.subscriber = sub, .mailing = mailing};

	cr_assert_eq(store_token_make(k, p, &tc, out), 0);
}

/* Whether the scratch database's files (and its -wal, -shm) hold @needle
 * anywhere in their bytes. */
static inline bool
files_contain(const struct scratch *s, const char *needle)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	bool found = false;

	for (size_t i = 0; i < 3 && !found; i++) {
		char path[128], *data;
		size_t n;
		FILE *fp;

		snprintf(path, sizeof(path), "%s%s", s->db, suffix[i]);
		if ((fp = fopen(path, "rb")) == NULL)
			continue;
		fseek(fp, 0, SEEK_END);
		n = (size_t)ftell(fp);
		fseek(fp, 0, SEEK_SET);
		data = malloc(n + 1);
		cr_assert_eq(fread(data, 1, n, fp), n);
		fclose(fp);
		found = memmem(data, n, needle, strlen(needle)) != NULL;
		free(data);
	}
	return found;
}

/* Runs @sql on the scratch database from a connection of its own: what
 * the passing of time does (the store has no test clock). */
static inline void
scratch_sql(const struct scratch *s, const char *sql)
{
	sqlite3 *db;

	cr_assert_eq(sqlite3_open(s->db, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* The number @sql (a count) gives on the scratch database, read from a
 * connection of its own. */
static inline long long
scratch_count(const struct scratch *s, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	long long n;

	cr_assert_eq(sqlite3_open(s->db, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(q), SQLITE_ROW, "%s: no row", sql);
	n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

/* The id of the signup of @email (its case aside) among those whose mail
 * is due, or 0. */
static inline int64_t
scratch_due_signup(struct scratch *s, const char *email)
{
	struct signup_mail m[16];
	char err[ERR_LEN] = "";
	int n = store_signup_due(s->st, m, 16, err);

	cr_assert_geq(n, 0, "%s", err);
	for (int i = 0; i < n; i++)
		if (strcasecmp(m[i].email, email) == 0)
			return m[i].id;
	return 0;
}

#endif
