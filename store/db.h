/* db.h - the SQLite connection: opening, pragmas, versioned migrations, cached statements.
 *
 * One struct db per thread; never shared. The file is created mode 0600 and opened in WAL
 * mode with foreign keys on. Functions returning int give 0 on success, -1 on failure with
 * the SQLite message in db_errmsg(). */
#ifndef WARRANT_DB_H
#define WARRANT_DB_H
#include <assert.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define DB_STMT_CACHE 96
#define DB_BUSY_TIMEOUT_MS 5000
#define DB_SCHEMA_VERSION 1

enum db_mode {
	DB_EXISTING = 0, /* the file must exist and be initialised */
	DB_CREATE = 1,   /* create it (0600) when missing and migrate to the current schema */
};

struct db {
	sqlite3 *h;
	pthread_t owner; /* the one thread that uses this connection (db_claim) */
	int nstmt;
	struct {
		const char *sql; /* compared by address: pass string literals */
		sqlite3_stmt *st;
	} stmt[DB_STMT_CACHE];
};

/* Debug-build invariants: a function that must run inside the caller's transaction asserts
 * it is open; every use of a connection is on the thread that owns it. */
#define DB_ASSERT_TX(db) assert(!sqlite3_get_autocommit((db)->h))
#define DB_ASSERT_OWNER(db) assert(pthread_equal((db)->owner, pthread_self()))

/* Opens path; err (>= 256 bytes) gets a one-line reason on failure (NULL is returned). */
struct db *db_open(const char *path, enum db_mode mode, char *err, size_t errlen);
void db_close(struct db *db);
/* Makes the calling thread the connection's owner (db_open makes the opening thread it):
 * for a connection opened on one thread and handed to another that alone uses it. */
void db_claim(struct db *db);
const char *db_errmsg(struct db *db);
/* Durability: 1 for synchronous=FULL (survives power loss), 0 for NORMAL (survives a
 * process crash, the default). Applies to connections opened afterwards. */
void db_set_sync_full(int full);

/* A prepared statement, cached per connection by the address of sql; reset and unbound.
 * Do not finalize it. NULL on a prepare error. */
sqlite3_stmt *db_prep(struct db *db, const char *sql);
int db_exec(struct db *db, const char *sql);
int db_begin(struct db *db); /* BEGIN IMMEDIATE */
int db_commit(struct db *db);
void db_rollback(struct db *db);

/* Convenience binders: NULL text binds SQL NULL. */
int db_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Copies column i as text into out (cap bytes, NUL-terminated; "" for NULL). */
void db_col_copy(sqlite3_stmt *st, int i, char *out, size_t cap);
/* Runs a statement that returns nothing (or whose rows are ignored); 0 on SQLITE_DONE. */
int db_step_done(sqlite3_stmt *st);

/* Settings table, for server-side secrets and parameters. get returns length or -1. */
int db_setting_get(struct db *db, const char *key, void *out, int cap);
int db_setting_put(struct db *db, const char *key, const void *val, int len);

/* PRAGMA data_version: changes when another connection commits (cross-process coherence). */
int64_t db_data_version(struct db *db);
/* PRAGMA page_size in bytes (4096 when it cannot be read). */
int db_page_size(struct db *db);
#endif
