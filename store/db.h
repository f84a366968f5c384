/* db.h - the storage interface: one API over two engines, SQLite (a file, the embedded
 * default) and PostgreSQL (a postgresql:// URL, shared by several nodes).
 *
 * Product code is written once against this API. SQL is shared where the dialects agree
 * (placeholders are `?` or `?N`; write `ON CONFLICT`, `CASE`, `coalesce`, `BIGINT` casts)
 * and picked per engine with db_sql() only where they must differ.
 *
 * One struct db per thread; never shared. A SQLite file is created mode 0600 and opened in
 * WAL mode with foreign keys on. On PostgreSQL a write transaction (db_begin) holds the
 * cluster-wide writer lock until it ends, so a transaction that reads then writes sees
 * what it read unchanged, on every node, exactly as SQLite's single writer does; a lost
 * connection is opened again on the next use. Functions returning int give 0 on success,
 * -1 on failure with the reason in db_errmsg(). */
#ifndef WARRANT_DB_H
#define WARRANT_DB_H
#include <assert.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define DB_STMT_CACHE 96
#define DB_BUSY_TIMEOUT_MS 5000
/* PostgreSQL: seconds to wait for a connection */
#define DB_PG_CONNECT_TIMEOUT_S 3

enum db_mode {
	DB_EXISTING = 0, /* the database must exist and be initialised */
	DB_CREATE = 1,   /* create it (a file: 0600) when missing and migrate to the current schema */
};

enum db_engine { DB_SQLITE = 0, DB_PG = 1 };

/* Results of db_step. */
#define DB_ROW 100
#define DB_DONE 101
#define DB_ERROR (-1)

struct db_stmt;
struct pg_conn;
struct db;

/* What a layer above may follow of a connection's write transactions (the audit chain's
 * head, audit/chain.c): the hook runs after a BEGIN, a SAVEPOINT, a ROLLBACK TO, a COMMIT,
 * a ROLLBACK (and a failed COMMIT), and once from db_close, which it must let free state. */
enum db_tx_event { DB_TX_BEGIN, DB_TX_SAVEPOINT, DB_TX_ROLLBACK_TO, DB_TX_COMMIT, DB_TX_ROLLBACK, DB_TX_CLOSE };
typedef void (*db_tx_hook)(struct db *db, enum db_tx_event ev);

struct db {
	enum db_engine engine;
	sqlite3 *h;         /* SQLite */
	struct pg_conn *pg; /* PostgreSQL */
	pthread_t owner;    /* the one thread that uses this connection (db_claim) */
	int64_t changes;    /* rows changed by the last statement (PostgreSQL) */
	int64_t tx_head;    /* the change log's head in this write transaction; -1 unknown */
	int tx_noted;       /* a change was noted in this transaction: wake the followers */
	int schema_ready;   /* migrated: every table is there */
	db_tx_hook tx_hook; /* NULL, or the follower of its transactions (above) */
	void *tx_state;     /* the hook's state, owned by it */
	int nstmt;
	struct {
		const char *sql; /* compared by address: pass string literals */
		struct db_stmt *st;
	} stmt[DB_STMT_CACHE];
};

/* Debug-build invariants: a function that must run inside the caller's transaction asserts
 * it is open; every use of a connection is on the thread that owns it. */
#define DB_ASSERT_TX(db) assert(db_in_tx(db))
#define DB_ASSERT_OWNER(db) assert(pthread_equal((db)->owner, pthread_self()))

/* The engine a --db value names: a postgresql:// (or postgres://) URL, else a file. */
enum db_engine db_engine_of(const char *target);
/* target as it may be shown (messages, logs): a URL's password, in its user part or a
 * password= parameter, becomes ***. Returns out (cap bytes). */
const char *db_target_shown(const char *target, char *out, size_t cap);
/* Opens target; err (>= 256 bytes) gets a one-line reason on failure (NULL is returned).
 * The reason never repeats a password the URL may hold. */
struct db *db_open(const char *target, enum db_mode mode, char *err, size_t errlen);
void db_close(struct db *db);
/* Makes the calling thread the connection's owner (db_open makes the opening thread it):
 * for a connection opened on one thread and handed to another that alone uses it. */
void db_claim(struct db *db);
const char *db_errmsg(struct db *db);
/* Durability: 1 for synchronous=FULL (survives power loss), 0 for NORMAL (survives a
 * process crash, the default). SQLite; applies to connections opened afterwards. */
void db_set_sync_full(int full);

/* The SQL for this connection's engine: the first for SQLite, the second for PostgreSQL. */
#define db_sql(db, lite, pg) ((db)->engine == DB_PG ? (pg) : (lite))

/* A prepared statement, cached per connection by the address of sql; unbound, no result.
 * Do not free it; it stays valid until the next db_prep of the same sql on db. NULL on a
 * prepare error (or, on PostgreSQL, when the database cannot be reached). */
struct db_stmt *db_prep(struct db *db, const char *sql);
/* A statement of its own, not cached: for SQL built at run time, or a query whose rows are
 * walked while the same cached statement runs again. NULL on error; free with
 * db_finalize (NULL is fine). */
struct db_stmt *db_prep_new(struct db *db, const char *sql);
void db_finalize(struct db_stmt *st);
/* Runs sql (one or more statements, no parameters, results ignored). */
int db_exec(struct db *db, const char *sql);
int db_begin(struct db *db);      /* a write transaction (SQLite: BEGIN IMMEDIATE) */
int db_begin_read(struct db *db); /* a read transaction: one snapshot for all its reads */
int db_commit(struct db *db);     /* -1 when the transaction was not committed */
void db_rollback(struct db *db);
/* 1 inside a transaction. */
int db_in_tx(struct db *db);

/* Binders, 1-based like SQLite's; NULL text binds SQL NULL. 0 or -1. */
int db_bind_int64(struct db_stmt *st, int i, int64_t v);
int db_bind_int(struct db_stmt *st, int i, int v);
int db_bind_text(struct db_stmt *st, int i, const char *s);
int db_bind_blob(struct db_stmt *st, int i, const void *p, int n);
int db_bind_null(struct db_stmt *st, int i);
/* Runs the statement on its first call and moves to the next row: DB_ROW, DB_DONE when
 * there is none, DB_ERROR on failure. */
int db_step(struct db_stmt *st);
/* Lets the statement run again (bindings kept) and frees its result. */
void db_reset(struct db_stmt *st);
/* Columns of the current row, 0-based. Text and blobs stay valid until the next step or
 * reset; NULL reads as NULL text, 0 and an empty blob. */
int64_t db_col_int64(struct db_stmt *st, int i);
int db_col_int(struct db_stmt *st, int i);
const char *db_col_text(struct db_stmt *st, int i);
const void *db_col_blob(struct db_stmt *st, int i);
int db_col_bytes(struct db_stmt *st, int i);
int db_col_null(struct db_stmt *st, int i);
/* Copies column i as text into out (cap bytes, NUL-terminated; "" for NULL). */
void db_col_copy(struct db_stmt *st, int i, char *out, size_t cap);
/* Runs a statement that returns nothing (or whose rows are ignored) and resets it; 0 when
 * it ran to the end. */
int db_step_done(struct db_stmt *st);
/* Runs an INSERT ... VALUES (...) whose caller needs no more than its success, inside a
 * write transaction. PostgreSQL: the row waits and is written with the others of the same
 * statement as one multi-row INSERT before any other statement runs on the connection or
 * the transaction commits (a failure then fails the transaction; a rollback forgets the
 * rows). SQLite: runs now. 0 or -1; resets the statement. */
int db_insert_later(struct db_stmt *st);
/* Rows inserted, changed or deleted by the connection's last statement. */
int64_t db_changes(struct db *db);

/* Settings table, for server-side secrets and parameters. get returns length or -1. */
int db_setting_get(struct db *db, const char *key, void *out, int cap);
int db_setting_put(struct db *db, const char *key, const void *val, int len);

/* Scheduled work (key rotation, expiry, retention, pruning) runs on one process at a time.
 * 1 when this connection holds the scheduler lease (taking it when free), 0 when another
 * holds it, -1 on error. SQLite (one server per file): always 1. PostgreSQL: a session
 * advisory lock, released when the session ends, so when its node dies another node takes
 * over at its next try. */
int db_leader(struct db *db);

/* PostgreSQL: the channel on which a commit that noted a change wakes every follower. */
#define DB_CHANGES_CHANNEL "warrant_changes"
/* Listens on DB_CHANGES_CHANNEL (PostgreSQL; -1 on SQLite, where followers poll). */
int db_listen(struct db *db);
/* Waits up to timeout_ms for a commit that noted a change. 1 woken (or the connection was
 * lost and is back: changes may have been missed), 0 timed out, -1 the database is away
 * (the caller waits and calls again: the connection is opened anew and listens again). */
int db_wait_changes(struct db *db, int timeout_ms);

/* SQLite: PRAGMA page_size in bytes (4096 when it cannot be read or on PostgreSQL). */
int db_page_size(struct db *db);

/* 1 while this process last found PostgreSQL unreachable (cleared by the next success):
 * requests that failed on the database answer 503 then, not 500. Always 0 on SQLite. */
int db_unavailable(void);
#endif
