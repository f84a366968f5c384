/* db.c - SQLite connection handling and migrations; see db.h. */
#include "db.h"

#include "schema.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int sync_full;

void db_set_sync_full(int full) { sync_full = full; }

const char *db_errmsg(struct db *db) { return db && db->h ? sqlite3_errmsg(db->h) : "no database"; }

int db_exec(struct db *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);
	sqlite3_free(msg);
	return rc == SQLITE_OK ? 0 : -1;
}

int db_begin(struct db *db) { return db_exec(db, "BEGIN IMMEDIATE"); }
int db_commit(struct db *db) { return db_exec(db, "COMMIT"); }
void db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		db_exec(db, "ROLLBACK");
}

static int user_version(struct db *db)
{
	sqlite3_stmt *st;
	int v = -1;
	if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int migrate(struct db *db, char *err, size_t errlen)
{
	if (db_begin(db) < 0)
		goto fail;
	int v = user_version(db);
	if (v < 0)
		goto fail;
	if (v > schema_version) {
		db_rollback(db);
		snprintf(err, errlen, "database schema %d is newer than this warrant (%d)", v, schema_version);
		return -1;
	}
	for (; v < schema_version; v++) {
		char sql[64];
		if (db_exec(db, schema_migrations[v]) < 0)
			goto fail;
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
		if (db_exec(db, sql) < 0)
			goto fail;
	}
	if (db_commit(db) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "migration failed: %s", sqlite3_errmsg(db->h));
	db_rollback(db);
	return -1;
}

struct db *db_open(const char *path, enum db_mode mode, char *err, size_t errlen)
{
	struct db *db = calloc(1, sizeof *db);
	if (!db) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	db->owner = pthread_self();
	struct stat sb;
	if (stat(path, &sb) < 0) {
		if (mode != DB_CREATE) {
			snprintf(err, errlen, "no database at %s (run: warrant init --db %s)", path, path);
			goto fail;
		}
		/* create it 0600 before SQLite does, so it never exists with wider permissions;
		 * SQLite gives the -wal and -shm files the mode of the database file */
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0) {
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
			goto fail;
		}
		close(fd);
	}
	if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path, db->h ? sqlite3_errmsg(db->h) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(db->h, 1);
	if (db_exec(db, "PRAGMA journal_mode=WAL") < 0 ||
	    db_exec(db, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") < 0 ||
	    db_exec(db, "PRAGMA foreign_keys=ON") < 0 || db_exec(db, "PRAGMA temp_store=MEMORY") < 0 ||
	    /* readers touch few pages: the server's hot state lives in its own caches */
	    db_exec(db, "PRAGMA cache_size=-1024") < 0) {
		snprintf(err, errlen, "cannot use %s: %s", path, sqlite3_errmsg(db->h));
		goto fail;
	}
	int v = user_version(db);
	if (mode == DB_CREATE) {
		if (migrate(db, err, errlen) < 0)
			goto fail;
	} else if (v == 0) {
		snprintf(err, errlen, "%s is not a warrant database (run: warrant init --db %s)", path, path);
		goto fail;
	} else if (v != schema_version) {
		if (migrate(db, err, errlen) < 0)
			goto fail;
	}
	return db;
fail:
	db_close(db);
	return NULL;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	for (int i = 0; i < db->nstmt; i++)
		sqlite3_finalize(db->stmt[i].st);
	if (db->h)
		sqlite3_close(db->h);
	free(db);
}

void db_claim(struct db *db) { db->owner = pthread_self(); }

sqlite3_stmt *db_prep(struct db *db, const char *sql)
{
	DB_ASSERT_OWNER(db);
	for (int i = 0; i < db->nstmt; i++)
		if (db->stmt[i].sql == sql) {
			sqlite3_stmt *st = db->stmt[i].st;
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return st;
		}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
		return NULL;
	if (db->nstmt < DB_STMT_CACHE) {
		db->stmt[db->nstmt].sql = sql;
		db->stmt[db->nstmt].st = st;
		db->nstmt++;
		return st;
	}
	/* cache full: a programming error; fail loudly rather than leak */
	sqlite3_finalize(st);
	return NULL;
}

int db_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (!s)
		return sqlite3_bind_null(st, i) == SQLITE_OK ? 0 : -1;
	return sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
}

void db_col_copy(sqlite3_stmt *st, int i, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	if (!t) {
		out[0] = '\0';
		return;
	}
	size_t n = (size_t)sqlite3_column_bytes(st, i);
	if (n >= cap)
		n = cap - 1;
	memcpy(out, t, n);
	out[n] = '\0';
}

int db_step_done(sqlite3_stmt *st)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int db_setting_get(struct db *db, const char *key, void *out, int cap)
{
	sqlite3_stmt *st = db_prep(db, "SELECT value FROM settings WHERE key = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, key);
	int n = -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		n = sqlite3_column_bytes(st, 0);
		if (n > cap)
			n = -1;
		else
			memcpy(out, sqlite3_column_blob(st, 0), (size_t)n);
	}
	sqlite3_reset(st);
	return n;
}

int db_setting_put(struct db *db, const char *key, const void *val, int len)
{
	sqlite3_stmt *st = db_prep(db, "INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)");
	if (!st)
		return -1;
	db_bind_text(st, 1, key);
	sqlite3_bind_blob(st, 2, val, len, SQLITE_TRANSIENT);
	return db_step_done(st);
}

int64_t db_data_version(struct db *db)
{
	sqlite3_stmt *st = db_prep(db, "PRAGMA data_version");
	int64_t v = -1;
	if (st && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	return v;
}

int db_page_size(struct db *db)
{
	sqlite3_stmt *st = NULL;
	int n = 0;
	if (sqlite3_prepare_v2(db->h, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n > 0 ? n : 4096;
}
