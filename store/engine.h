/* engine.h - what db.c and the PostgreSQL engine (pg.c) share; not for product code. */
#ifndef WARRANT_ENGINE_H
#define WARRANT_ENGINE_H
#include "db.h"

struct pg_stmt;

struct db_stmt {
	struct db *db;
	sqlite3_stmt *lite; /* SQLite */
	struct pg_stmt *pg; /* PostgreSQL */
};

/* The PostgreSQL engine: the same contracts as the db_ functions of db.h. */
struct pg_conn *pg_connect(const char *url, char *err, size_t errlen);
void pg_disconnect(struct pg_conn *pc);
const char *pg_errmsg(struct pg_conn *pc);
int pg_exec(struct db *db, const char *sql);
int pg_in_tx(struct pg_conn *pc);
/* The current schema version (0: none yet), or -1 on error. */
int pg_schema_version(struct db *db);
int pg_set_schema_version(struct db *db, int v);
struct pg_stmt *pg_prepare(struct db *db, const char *sql);
void pg_stmt_free(struct pg_stmt *ps);
/* The statement runs unnamed, parsed on each run (db_prep_new). */
void pg_oneshot(struct pg_stmt *ps);
int pg_bind(struct pg_stmt *ps, int i, const void *p, int n, int kind);
int pg_step(struct db *db, struct pg_stmt *ps);
void pg_reset(struct pg_stmt *ps);
const char *pg_col_text(struct pg_stmt *ps, int i);
const void *pg_col_blob(struct pg_stmt *ps, int i, int *n);
int pg_col_null(struct pg_stmt *ps, int i);

/* kinds for pg_bind */
#define PG_BIND_NULL 0
#define PG_BIND_TEXT 1
#define PG_BIND_BLOB 2

int pg_leader(struct db *db);
int pg_begin(struct db *db);
int pg_commit(struct db *db, int notify);
int pg_defer(struct db *db, struct pg_stmt *ps);
int pg_listen(struct db *db);
int pg_wait_changes(struct db *db, int timeout_ms);
void db_note_unavailable(int down);
#endif
