/* db.c - the storage interface and its SQLite engine; PostgreSQL is in pg.c. See db.h. */
#include "db.h"

#include "engine.h"
#include "schema.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int sync_full;
static atomic_int unavailable;

void db_set_sync_full(int full) { sync_full = full; }
void db_note_unavailable(int down)
{
	if (atomic_load_explicit(&unavailable, memory_order_relaxed) != down)
		atomic_store(&unavailable, down);
}
int db_unavailable(void) { return atomic_load_explicit(&unavailable, memory_order_relaxed); }

enum db_engine db_engine_of(const char *target)
{
	return strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0 ? DB_PG : DB_SQLITE;
}

const char *db_target_shown(const char *target, char *out, size_t cap)
{
	if (db_engine_of(target) != DB_PG) {
		snprintf(out, cap, "%s", target);
		return out;
	}
	/* scheme://[user[:password]@]host...[?...password=...] */
	const char *auth = strstr(target, "://") + 3, *at = strchr(auth, '@'), *slash = strchr(auth, '/');
	const char *colon = at && (!slash || at < slash) ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon)
		snprintf(out, cap, "%.*s:***%s", (int)(colon - target), target, at);
	else
		snprintf(out, cap, "%s", target);
	char *pw = strstr(out, "password=");
	if (pw) {
		char rest[512];
		const char *end = strchr(pw, '&');
		snprintf(rest, sizeof rest, "%s", end ? end : "");
		snprintf(pw, cap - (size_t)(pw - out), "password=***%s", rest);
	}
	return out;
}

const char *db_errmsg(struct db *db)
{
	if (!db)
		return "no database";
	if (db->engine == DB_PG)
		return pg_errmsg(db->pg);
	return db->h ? sqlite3_errmsg(db->h) : "no database";
}

static void tx_note(struct db *db, enum db_tx_event ev)
{
	if (db->tx_hook)
		db->tx_hook(db, ev);
}

/* The transaction statements the hook follows when they are run as SQL (the writer's
 * savepoints, db_rollback). */
static void tx_note_sql(struct db *db, const char *sql, int rc)
{
	if (!db->tx_hook)
		return;
	if (strncmp(sql, "ROLLBACK TO", 11) == 0)
		tx_note(db, DB_TX_ROLLBACK_TO);
	else if (strncmp(sql, "ROLLBACK", 8) == 0)
		tx_note(db, DB_TX_ROLLBACK);
	else if (rc == 0 && strncmp(sql, "SAVEPOINT", 9) == 0)
		tx_note(db, DB_TX_SAVEPOINT);
}

int db_exec(struct db *db, const char *sql)
{
	int rc;
	if (db->engine == DB_PG) {
		rc = pg_exec(db, sql);
	} else {
		char *msg = NULL;
		rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg) == SQLITE_OK ? 0 : -1;
		sqlite3_free(msg);
	}
	tx_note_sql(db, sql, rc);
	return rc;
}

/* The cluster-wide writer lock (PostgreSQL): an advisory lock held until the transaction
 * ends, so write transactions of every node and command run one after another. */
int db_begin(struct db *db)
{
	db->tx_head = -1;
	db->tx_noted = 0;
	int rc = db->engine == DB_PG ? pg_begin(db) : db_exec(db, "BEGIN IMMEDIATE");
	tx_note(db, rc == 0 ? DB_TX_BEGIN : DB_TX_ROLLBACK);
	return rc;
}
int db_begin_read(struct db *db) { return db_exec(db, db_sql(db, "BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ")); }
int db_commit(struct db *db)
{
	/* the followers on other nodes are woken at once, not at their next poll; the channel's
	 * lock is taken only by commits that changed live state */
	int notify = db->tx_noted;
	db->tx_noted = 0;
	int rc = db->engine == DB_PG ? pg_commit(db, notify) : db_exec(db, "COMMIT");
	tx_note(db, rc == 0 ? DB_TX_COMMIT : DB_TX_ROLLBACK);
	return rc;
}
int db_in_tx(struct db *db) { return db->engine == DB_PG ? pg_in_tx(db->pg) : !sqlite3_get_autocommit(db->h); }
void db_rollback(struct db *db)
{
	if (db_in_tx(db))
		db_exec(db, "ROLLBACK");
}

static int user_version(struct db *db)
{
	if (db->engine == DB_PG)
		return pg_schema_version(db);
	sqlite3_stmt *st;
	int v = -1;
	if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int set_version(struct db *db, int v)
{
	if (db->engine == DB_PG)
		return pg_set_schema_version(db, v);
	char sql[64];
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
	return db_exec(db, sql);
}

static int migrate(struct db *db, char *err, size_t errlen)
{
	if (db_begin(db) < 0)
		goto fail;
	int v = user_version(db); /* under the writer lock: one process migrates at a time */
	if (v < 0)
		goto fail;
	if (v > schema_version) {
		db_rollback(db);
		snprintf(err, errlen, "database schema %d is newer than this warrant (%d)", v, schema_version);
		return -1;
	}
	for (; v < schema_version; v++) {
		const char *sql = db_sql(db, schema_sqlite[v], schema_pg[v]);
		if ((*sql && db_exec(db, sql) < 0) || set_version(db, v + 1) < 0)
			goto fail;
	}
	if (db_commit(db) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "migration failed: %s", db_errmsg(db));
	db_rollback(db);
	return -1;
}

static int open_sqlite(struct db *db, const char *path, enum db_mode mode, char *err, size_t errlen)
{
	struct stat sb;
	if (stat(path, &sb) < 0) {
		if (mode != DB_CREATE) {
			snprintf(err, errlen, "no database at %s (run: warrant init --db %s)", path, path);
			return -1;
		}
		/* create it 0600 before SQLite does, so it never exists with wider permissions;
		 * SQLite gives the -wal and -shm files the mode of the database file */
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0) {
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
			return -1;
		}
		close(fd);
	}
	if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path, db->h ? sqlite3_errmsg(db->h) : "out of memory");
		return -1;
	}
	sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(db->h, 1);
	if (db_exec(db, "PRAGMA journal_mode=WAL") < 0 ||
	    db_exec(db, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") < 0 ||
	    db_exec(db, "PRAGMA foreign_keys=ON") < 0 || db_exec(db, "PRAGMA temp_store=MEMORY") < 0 ||
	    /* readers touch few pages: the server's hot state lives in its own caches */
	    db_exec(db, "PRAGMA cache_size=-1024") < 0) {
		snprintf(err, errlen, "cannot use %s: %s", path, sqlite3_errmsg(db->h));
		return -1;
	}
	return 0;
}

struct db *db_open(const char *target, enum db_mode mode, char *err, size_t errlen)
{
	struct db *db = calloc(1, sizeof *db);
	if (!db) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	db->owner = pthread_self();
	db->tx_head = -1;
	db->engine = db_engine_of(target);
	if (db->engine == DB_PG) {
		db->pg = pg_connect(target, err, errlen);
		if (!db->pg)
			goto fail;
	} else if (open_sqlite(db, target, mode, err, errlen) < 0) {
		goto fail;
	}
	int v = user_version(db);
	if (v < 0) {
		snprintf(err, errlen, "cannot read the schema version: %s", db_errmsg(db));
		goto fail;
	}
	if (mode == DB_CREATE) {
		if (migrate(db, err, errlen) < 0)
			goto fail;
	} else if (v == 0) {
		snprintf(err, errlen, "%s is not a warrant database (run: warrant init --db ...)",
			 db->engine == DB_PG ? "the PostgreSQL database" : target);
		goto fail;
	} else if (v != schema_version) {
		if (migrate(db, err, errlen) < 0)
			goto fail;
	}
	db->schema_ready = 1;
	return db;
fail:
	db_close(db);
	return NULL;
}

static void stmt_free(struct db_stmt *st)
{
	if (!st)
		return;
	if (st->lite)
		sqlite3_finalize(st->lite);
	if (st->pg)
		pg_stmt_free(st->pg);
	free(st);
}

void db_close(struct db *db)
{
	if (!db)
		return;
	tx_note(db, DB_TX_CLOSE);
	for (int i = 0; i < db->nstmt; i++)
		stmt_free(db->stmt[i].st);
	if (db->h)
		sqlite3_close(db->h);
	if (db->pg)
		pg_disconnect(db->pg);
	free(db);
}

void db_claim(struct db *db) { db->owner = pthread_self(); }

struct db_stmt *db_prep(struct db *db, const char *sql)
{
	DB_ASSERT_OWNER(db);
	for (int i = 0; i < db->nstmt; i++)
		if (db->stmt[i].sql == sql) {
			struct db_stmt *st = db->stmt[i].st;
			if (st->lite) {
				sqlite3_reset(st->lite);
				sqlite3_clear_bindings(st->lite);
			} else {
				pg_reset(st->pg);
				for (int k = 1; pg_bind(st->pg, k, NULL, 0, PG_BIND_NULL) == 0; k++)
					;
			}
			return st;
		}
	if (db->nstmt >= DB_STMT_CACHE)
		return NULL; /* cache full: a programming error; fail loudly rather than leak */
	struct db_stmt *st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	st->db = db;
	if (db->engine == DB_PG)
		st->pg = pg_prepare(db, sql);
	else if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->lite, NULL) != SQLITE_OK)
		st->lite = NULL;
	if (!st->lite && !st->pg) {
		free(st);
		return NULL;
	}
	db->stmt[db->nstmt].sql = sql;
	db->stmt[db->nstmt].st = st;
	db->nstmt++;
	return st;
}

struct db_stmt *db_prep_new(struct db *db, const char *sql)
{
	DB_ASSERT_OWNER(db);
	struct db_stmt *st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	st->db = db;
	if (db->engine == DB_PG) {
		st->pg = pg_prepare(db, sql);
		if (st->pg)
			pg_oneshot(st->pg);
	} else if (sqlite3_prepare_v2(db->h, sql, -1, &st->lite, NULL) != SQLITE_OK) {
		sqlite3_finalize(st->lite);
		st->lite = NULL;
	}
	if (!st->lite && !st->pg) {
		free(st);
		return NULL;
	}
	return st;
}

void db_finalize(struct db_stmt *st) { stmt_free(st); }

int db_bind_int64(struct db_stmt *st, int i, int64_t v)
{
	if (st->lite)
		return sqlite3_bind_int64(st->lite, i, v) == SQLITE_OK ? 0 : -1;
	char num[24];
	int n = snprintf(num, sizeof num, "%" PRId64, v);
	return pg_bind(st->pg, i, num, n, PG_BIND_TEXT);
}

int db_bind_int(struct db_stmt *st, int i, int v) { return db_bind_int64(st, i, v); }

int db_bind_text(struct db_stmt *st, int i, const char *s)
{
	if (!s)
		return db_bind_null(st, i);
	if (st->lite)
		return sqlite3_bind_text(st->lite, i, s, -1, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
	return pg_bind(st->pg, i, s, (int)strlen(s), PG_BIND_TEXT);
}

int db_bind_blob(struct db_stmt *st, int i, const void *p, int n)
{
	if (st->lite)
		return sqlite3_bind_blob(st->lite, i, p, n, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
	return pg_bind(st->pg, i, p, n, PG_BIND_BLOB);
}

int db_bind_null(struct db_stmt *st, int i)
{
	if (st->lite)
		return sqlite3_bind_null(st->lite, i) == SQLITE_OK ? 0 : -1;
	return pg_bind(st->pg, i, NULL, 0, PG_BIND_NULL);
}

int db_step(struct db_stmt *st)
{
	if (st->pg)
		return pg_step(st->db, st->pg);
	int rc = sqlite3_step(st->lite);
	return rc == SQLITE_ROW ? DB_ROW : rc == SQLITE_DONE ? DB_DONE : DB_ERROR;
}

void db_reset(struct db_stmt *st)
{
	if (st->lite)
		sqlite3_reset(st->lite);
	else
		pg_reset(st->pg);
}

int64_t db_col_int64(struct db_stmt *st, int i)
{
	if (st->lite)
		return sqlite3_column_int64(st->lite, i);
	const char *t = pg_col_text(st->pg, i);
	if (!t)
		return 0;
	if (t[0] == 't' && !t[1])
		return 1; /* a boolean */
	return strtoll(t, NULL, 10);
}

int db_col_int(struct db_stmt *st, int i) { return (int)db_col_int64(st, i); }

const char *db_col_text(struct db_stmt *st, int i)
{
	return st->lite ? (const char *)sqlite3_column_text(st->lite, i) : pg_col_text(st->pg, i);
}

const void *db_col_blob(struct db_stmt *st, int i)
{
	int n;
	return st->lite ? sqlite3_column_blob(st->lite, i) : pg_col_blob(st->pg, i, &n);
}

int db_col_bytes(struct db_stmt *st, int i)
{
	if (st->lite)
		return sqlite3_column_bytes(st->lite, i);
	int n = 0;
	pg_col_blob(st->pg, i, &n);
	return n;
}

int db_col_null(struct db_stmt *st, int i)
{
	return st->lite ? sqlite3_column_type(st->lite, i) == SQLITE_NULL : pg_col_null(st->pg, i);
}

int64_t db_changes(struct db *db) { return db->engine == DB_PG ? db->changes : sqlite3_changes(db->h); }

void db_col_copy(struct db_stmt *st, int i, char *out, size_t cap)
{
	const char *t = db_col_text(st, i);
	if (!t) {
		out[0] = '\0';
		return;
	}
	size_t n = st->lite ? (size_t)sqlite3_column_bytes(st->lite, i) : strlen(t);
	if (n >= cap)
		n = cap - 1;
	memcpy(out, t, n);
	out[n] = '\0';
}

int db_insert_later(struct db_stmt *st)
{
	if (!st->pg)
		return db_step_done(st);
	int rc = pg_defer(st->db, st->pg);
	db_reset(st);
	return rc;
}

int db_step_done(struct db_stmt *st)
{
	int rc;
	while ((rc = db_step(st)) == DB_ROW)
		;
	db_reset(st);
	return rc == DB_DONE ? 0 : -1;
}

int db_setting_get(struct db *db, const char *key, void *out, int cap)
{
	struct db_stmt *st = db_prep(db, "SELECT value FROM settings WHERE key = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, key);
	int n = -1;
	if (db_step(st) == DB_ROW) {
		n = db_col_bytes(st, 0);
		if (n > cap)
			n = -1;
		else
			memcpy(out, db_col_blob(st, 0), (size_t)n);
	}
	db_reset(st);
	return n;
}

int db_setting_put(struct db *db, const char *key, const void *val, int len)
{
	struct db_stmt *st = db_prep(db, "INSERT INTO settings(key, value) VALUES (?, ?)"
					 " ON CONFLICT (key) DO UPDATE SET value = excluded.value");
	if (!st)
		return -1;
	db_bind_text(st, 1, key);
	db_bind_blob(st, 2, val, len);
	return db_step_done(st);
}

int db_listen(struct db *db) { return db->engine == DB_PG ? pg_listen(db) : -1; }
int db_wait_changes(struct db *db, int timeout_ms)
{
	return db->engine == DB_PG ? pg_wait_changes(db, timeout_ms) : -1;
}

int db_leader(struct db *db) { return db->engine == DB_PG ? pg_leader(db) : 1; }

int db_page_size(struct db *db)
{
	if (db->engine == DB_PG)
		return 4096;
	sqlite3_stmt *st = NULL;
	int n = 0;
	if (sqlite3_prepare_v2(db->h, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n > 0 ? n : 4096;
}
