/* pg.c - the PostgreSQL engine behind db.h (libpq).
 *
 * Statements are prepared once per connection (named s1, s2...) from the shared SQL, whose
 * `?` and `?N` placeholders become `$N`. Parameters travel as text (blobs in binary) with
 * types left to the server to infer from the statement; results come back as text (bytea
 * in hex, decoded on demand). A connection found broken is reset on the next statement
 * outside a transaction, and its statements are prepared again. */
#include "engine.h"

#include "../common/buf.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_MAX_PARAMS 32
/* INSERT statements with rows waiting at once, and rows per multi-row INSERT */
#define PG_DEFER_STMTS 8
#define PG_DEFER_ROWS 64
/* the longest COMMIT string with the waiting rows as literals (pg_commit) */
#define PG_COMMIT_SQL_MAX (64u << 20)

/* Every session: quiet, UTC, and bounded when a peer goes silent. A transaction left idle
 * (its node died or lost the network mid-way) is ended by the server within seconds, and
 * with it the writer lock; a wait for that lock gives up rather than hang a request; the
 * server notices a vanished node's socket within seconds, and with it the scheduler lease. */
#define SESSION_SETUP                                                               \
	"SET client_min_messages = warning; SET TIME ZONE 'UTC';"                   \
	" SET idle_in_transaction_session_timeout = 5000; SET lock_timeout = 4000;" \
	" SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 3"

struct pg_conn {
	PGconn *c;
	long gen; /* counts (re)connections: statements prepared in an older one are gone */
	int next_name;
	long leader_gen; /* the generation in which this session took the scheduler lease */
	long listen_gen; /* the generation in which it listens (LISTEN) */
	char err[256];
	/* rows of INSERTs waiting to be written as one multi-row INSERT each (pg_defer) */
	struct pg_stmt *waiting[PG_DEFER_STMTS];
	int nwaiting;
};

struct pg_param {
	char *v; /* heap copy; NULL for SQL NULL */
	int len;
	int fmt; /* 0 text, 1 binary */
};

struct pg_stmt {
	char *sql; /* with $N placeholders */
	char name[16];
	long gen; /* the connection generation it was prepared in; -1: not yet */
	int oneshot;
	/* rows waiting (pg_defer): nparams values each */
	struct pg_param *rows;
	int nrows_waiting, rows_cap;
	uint32_t used; /* bit k-1: $k appears in the statement */
	int nparams;
	struct pg_param p[PG_MAX_PARAMS];
	PGresult *res;
	int row, nrows, ran;
	unsigned char **dec; /* bytea columns of the current row, decoded */
	size_t *declen;
	int decrow, ncols;
};

static void set_err(struct pg_conn *pc, const char *m)
{
	snprintf(pc->err, sizeof pc->err, "%s", m && *m ? m : "PostgreSQL error");
	char *nl = strchr(pc->err, '\n');
	if (nl)
		*nl = '\0';
}

const char *pg_errmsg(struct pg_conn *pc) { return pc ? pc->err : "no database"; }

static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

struct pg_conn *pg_connect(const char *url, char *err, size_t errlen)
{
	struct pg_conn *pc = calloc(1, sizeof *pc);
	if (!pc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* defaults first: what the URL names wins */
	const char *keys[] = {"connect_timeout",
			      "application_name",
			      "keepalives",
			      "keepalives_idle",
			      "keepalives_interval",
			      "keepalives_count",
			      "tcp_user_timeout",
			      "dbname",
			      NULL};
	char timeout[16];
	snprintf(timeout, sizeof timeout, "%d", DB_PG_CONNECT_TIMEOUT_S);
	const char *vals[] = {timeout, "warrant", "1", "5", "1", "3", "4000", url, NULL};
	pc->c = PQconnectdbParams(keys, vals, 1);
	if (!pc->c || PQstatus(pc->c) != CONNECTION_OK) {
		/* libpq's message names host and port, never the password */
		snprintf(err, errlen, "cannot connect to PostgreSQL: %s",
			 pc->c ? PQerrorMessage(pc->c) : "out of memory");
		char *nl = strchr(err, '\n');
		if (nl)
			*nl = '\0';
		db_note_unavailable(1);
		pg_disconnect(pc);
		return NULL;
	}
	PQsetNoticeProcessor(pc->c, quiet, NULL);
	PGresult *r = PQexec(pc->c, SESSION_SETUP);
	PQclear(r);
	pc->gen = 1;
	return pc;
}

void pg_disconnect(struct pg_conn *pc)
{
	if (!pc)
		return;
	if (pc->c)
		PQfinish(pc->c);
	free(pc);
}

int pg_in_tx(struct pg_conn *pc)
{
	PGTransactionStatusType t = PQtransactionStatus(pc->c);
	return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

/* A broken connection is reset outside a transaction (inside one, the transaction is lost
 * anyway: it fails, and the caller's rollback ends it). */
static int ensure(struct pg_conn *pc)
{
	if (PQstatus(pc->c) == CONNECTION_OK)
		return 0;
	PQreset(pc->c);
	if (PQstatus(pc->c) != CONNECTION_OK) {
		set_err(pc, PQerrorMessage(pc->c));
		db_note_unavailable(1);
		return -1;
	}
	PGresult *r = PQexec(pc->c, SESSION_SETUP);
	PQclear(r);
	pc->gen++;
	return 0;
}

/* Checks a result; 0 when it succeeded. Notes the database unreachable when the
 * connection broke. */
static int check(struct db *db, PGresult *r)
{
	struct pg_conn *pc = db->pg;
	ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
		db_note_unavailable(0);
		return 0;
	}
	set_err(pc, r ? PQresultErrorMessage(r) : PQerrorMessage(pc->c));
	if (PQstatus(pc->c) != CONNECTION_OK)
		db_note_unavailable(1);
	return -1;
}

static void drop_rows(struct pg_stmt *ps)
{
	for (int i = 0; i < ps->nrows_waiting * ps->nparams; i++)
		free(ps->rows[i].v);
	ps->nrows_waiting = 0;
}

/* Forgets every waiting row (a rollback). */
static void discard(struct pg_conn *pc)
{
	for (int i = 0; i < pc->nwaiting; i++)
		drop_rows(pc->waiting[i]);
	pc->nwaiting = 0;
}

/* The multi-row form of an INSERT ... VALUES (...) [suffix]: the row group repeated n times,
 * its $k renumbered for each row. NULL when the statement has no VALUES group. */
static char *multi_row_sql(const char *sql, int nparams, int n)
{
	const char *v = strstr(sql, " VALUES (");
	const char *open = v ? v + 8 : NULL, *close = open ? strchr(open, ')') : NULL;
	if (!close)
		return NULL;
	size_t cap = strlen(sql) + (size_t)n * ((size_t)(close - open) + 2 + (size_t)nparams * 6) + 1;
	char *out = malloc(cap), *o = out;
	if (!out)
		return NULL;
	o += sprintf(o, "%.*s", (int)(open - sql), sql);
	for (int r = 0; r < n; r++) {
		if (r)
			*o++ = ',';
		for (const char *s = open; s <= close; s++) {
			if (*s != '$') {
				*o++ = *s;
				continue;
			}
			int k = (int)strtol(s + 1, (char **)&s, 10);
			s--;
			o += sprintf(o, "$%d", r * nparams + k);
		}
	}
	strcpy(o, close + 1);
	return out;
}

/* Writes the waiting rows of ps as one statement; -1 fails the transaction. */
static int flush_stmt(struct db *db, struct pg_stmt *ps)
{
	int n = ps->nrows_waiting, k = ps->nparams, rc = -1;
	char *sql = multi_row_sql(ps->sql, k, n);
	const char **vals = malloc(sizeof *vals * (size_t)(n * k));
	int *lens = malloc(sizeof *lens * (size_t)(n * k)), *fmts = malloc(sizeof *fmts * (size_t)(n * k));
	if (sql && vals && lens && fmts) {
		for (int i = 0; i < n * k; i++) {
			vals[i] = ps->rows[i].v;
			lens[i] = ps->rows[i].len;
			fmts[i] = ps->rows[i].fmt;
		}
		PGresult *r = PQexecParams(db->pg->c, sql, n * k, NULL, vals, lens, fmts, 0);
		rc = check(db, r);
		PQclear(r);
	} else {
		set_err(db->pg, "out of memory");
	}
	free(sql);
	free(vals);
	free(lens);
	free(fmts);
	drop_rows(ps);
	return rc;
}

/* Appends param q as an SQL literal: NULL, a quoted text (PQescapeLiteral: libpq's own,
 * aware of the connection's encoding) or a bytea in hex. -1 out of memory. */
static int put_literal(PGconn *c, const struct pg_param *q, struct buf *b)
{
	if (!q->v)
		return buf_puts(b, "NULL");
	if (q->fmt) {
		static const char hex[] = "0123456789abcdef";
		buf_puts(b, "'\\x");
		for (int i = 0; i < q->len; i++) {
			unsigned char ch = (unsigned char)q->v[i];
			char two[2] = {hex[ch >> 4], hex[ch & 15]};
			buf_put(b, two, 2);
		}
		return buf_puts(b, "'");
	}
	char *lit = PQescapeLiteral(c, q->v, (size_t)q->len);
	if (!lit)
		return -1;
	int rc = buf_puts(b, lit);
	PQfreemem(lit);
	return rc;
}

/* Appends the waiting rows of ps as one multi-row INSERT with literal values, and forgets
 * them. -1 when the statement has no VALUES group or memory ran out. */
static int put_rows(PGconn *c, struct pg_stmt *ps, struct buf *b)
{
	const char *v = strstr(ps->sql, " VALUES (");
	const char *open = v ? v + 8 : NULL, *close = open ? strchr(open, ')') : NULL;
	int rc = close ? 0 : -1;
	if (close) {
		buf_put(b, ps->sql, (size_t)(open - ps->sql));
		for (int r = 0; r < ps->nrows_waiting && rc == 0; r++) {
			if (r)
				buf_puts(b, ",");
			for (const char *s = open; s <= close && rc == 0; s++) {
				if (*s != '$') {
					buf_put(b, s, 1);
					continue;
				}
				int k = (int)strtol(s + 1, (char **)&s, 10);
				s--;
				rc = k >= 1 && k <= ps->nparams ? put_literal(c, &ps->rows[r * ps->nparams + k - 1], b)
								: -1;
			}
		}
		buf_puts(b, close + 1);
		buf_puts(b, ";");
	}
	drop_rows(ps);
	return rc < 0 || b->failed ? -1 : 0;
}

int pg_commit(struct db *db, int notify)
{
	struct pg_conn *pc = db->pg;
	if (!pg_in_tx(pc))
		return pg_exec(db, "COMMIT"); /* answered with a warning; nothing to write */
	/* the waiting rows, the wake-up and the COMMIT in one round trip: the rows' values as
	 * escaped literals, since a query of several statements takes no parameters */
	struct buf b;
	buf_init(&b, PG_COMMIT_SQL_MAX);
	int rc = 0;
	for (int i = 0; i < pc->nwaiting && rc == 0; i++)
		if (pc->waiting[i]->nrows_waiting)
			rc = put_rows(pc->c, pc->waiting[i], &b);
	discard(pc);
	if (notify)
		buf_puts(&b, "NOTIFY " DB_CHANGES_CHANNEL ";");
	buf_puts(&b, "COMMIT");
	if (rc < 0 || b.failed) {
		buf_free(&b);
		set_err(pc, "out of memory");
		return -1;
	}
	PGresult *r = PQexec(pc->c, b.p);
	buf_free(&b);
	rc = check(db, r);
	/* a failed statement ends the string early; a COMMIT of a failed transaction is
	 * answered ROLLBACK, with success */
	if (rc == 0 && strcmp(PQcmdStatus(r), "COMMIT") != 0) {
		set_err(pc, "the transaction failed and was rolled back");
		rc = -1;
	}
	PQclear(r);
	return rc;
}

int pg_begin(struct db *db)
{
	struct pg_conn *pc = db->pg;
	int autocommit = !pg_in_tx(pc);
	if (autocommit && ensure(pc) < 0)
		return -1;
	/* the writer lock, and the change log's head as this transaction sees it (the issuing
	 * jobs ask for it: changes_head_in_tx), in one round trip */
	const char *sql = db->schema_ready
				  ? "BEGIN; SELECT pg_advisory_xact_lock(7316253407); SELECT v FROM change_counter"
				  : "BEGIN; SELECT pg_advisory_xact_lock(7316253407)"; /* migrating */
	PGresult *r = PQexec(pc->c, sql);
	int rc = check(db, r);
	if (rc < 0 && autocommit && PQstatus(pc->c) != CONNECTION_OK && ensure(pc) == 0) {
		PQclear(r); /* lost connection: begin on a new one */
		r = PQexec(pc->c, sql);
		rc = check(db, r);
	}
	if (rc == 0 && db->schema_ready && PQntuples(r) == 1)
		db->tx_head = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return rc;
}

/* Writes every waiting row, in the order the statements first waited. */
static int flush(struct db *db)
{
	struct pg_conn *pc = db->pg;
	int rc = 0;
	for (int i = 0; i < pc->nwaiting; i++)
		if (pc->waiting[i]->nrows_waiting && flush_stmt(db, pc->waiting[i]) < 0 && rc == 0)
			rc = -1;
	if (rc < 0)
		discard(pc);
	pc->nwaiting = 0;
	return rc;
}

int pg_defer(struct db *db, struct pg_stmt *ps)
{
	struct pg_conn *pc = db->pg;
	if (!pg_in_tx(pc) || !strstr(ps->sql, " VALUES (") || ps->nparams == 0)
		return pg_step(db, ps) == DB_ERROR ? -1 : 0; /* nothing to join: now */
	if (!ps->nrows_waiting) {
		if (pc->nwaiting == PG_DEFER_STMTS && flush(db) < 0)
			return -1;
		pc->waiting[pc->nwaiting++] = ps;
	}
	if (ps->nrows_waiting == ps->rows_cap) {
		int cap = ps->rows_cap ? 2 * ps->rows_cap : 8;
		struct pg_param *nr = realloc(ps->rows, sizeof *nr * (size_t)(cap * ps->nparams));
		if (!nr)
			return -1;
		ps->rows = nr;
		ps->rows_cap = cap;
	}
	struct pg_param *row = ps->rows + ps->nrows_waiting * ps->nparams;
	for (int i = 0; i < ps->nparams; i++) {
		row[i] = ps->p[i];
		ps->p[i].v = NULL; /* the row owns the value now; the statement is rebound next time */
		ps->p[i].len = 0;
	}
	ps->nrows_waiting++;
	db->changes = 1;
	return ps->nrows_waiting >= PG_DEFER_ROWS ? flush_stmt(db, ps) : 0;
}

int pg_exec(struct db *db, const char *sql)
{
	struct pg_conn *pc = db->pg;
	if (!pg_in_tx(pc) && ensure(pc) < 0)
		return -1;
	/* waiting rows: written before anything else runs, forgotten by a rollback (a SAVEPOINT
	 * writes them first, so those a ROLLBACK TO forgets all came after it) */
	if (strncmp(sql, "ROLLBACK", 8) == 0)
		discard(pc);
	else if (pc->nwaiting && flush(db) < 0)
		return -1;
	int autocommit = !pg_in_tx(pc);
	PGresult *r = PQexec(pc->c, sql);
	int rc = check(db, r);
	/* a transaction that could not begin on a connection found lost begins on a new one */
	if (rc < 0 && autocommit && strncmp(sql, "BEGIN", 5) == 0 && PQstatus(pc->c) != CONNECTION_OK &&
	    ensure(pc) == 0) {
		PQclear(r);
		r = PQexec(pc->c, sql);
		rc = check(db, r);
	}
	/* COMMIT of a transaction that failed is answered ROLLBACK, with success */
	if (rc == 0 && strcmp(sql, "COMMIT") == 0 && strcmp(PQcmdStatus(r), "COMMIT") != 0) {
		set_err(pc, "the transaction failed and was rolled back");
		rc = -1;
	}
	PQclear(r);
	return rc;
}

int pg_listen(struct db *db)
{
	struct pg_conn *pc = db->pg;
	if (ensure(pc) < 0)
		return -1;
	PGresult *r = PQexec(pc->c, "LISTEN " DB_CHANGES_CHANNEL);
	int rc = check(db, r);
	PQclear(r);
	pc->listen_gen = rc == 0 ? pc->gen : 0;
	return rc;
}

int pg_wait_changes(struct db *db, int timeout_ms)
{
	struct pg_conn *pc = db->pg;
	if (PQstatus(pc->c) != CONNECTION_OK || pc->listen_gen != pc->gen) {
		if (pg_listen(db) < 0)
			return -1;
		return 1; /* back: what was committed meanwhile is for the caller to read */
	}
	struct pollfd p = {.fd = PQsocket(pc->c), .events = POLLIN};
	PGnotify *n = NULL;
	if (PQconsumeInput(pc->c) && (n = PQnotifies(pc->c)) == NULL && poll(&p, 1, timeout_ms) > 0)
		PQconsumeInput(pc->c);
	int woken = 0;
	if (!n)
		n = PQnotifies(pc->c);
	while (n) {
		woken = 1;
		PQfreemem(n);
		n = PQnotifies(pc->c);
	}
	if (PQstatus(pc->c) != CONNECTION_OK) {
		db_note_unavailable(1);
		return -1;
	}
	return woken;
}

int pg_leader(struct db *db)
{
	struct pg_conn *pc = db->pg;
	if (pg_in_tx(pc))
		return -1;
	if (ensure(pc) < 0)
		return -1;
	if (pc->leader_gen == pc->gen)
		return 1; /* a session lock lasts as long as the session */
	PGresult *r = PQexec(pc->c, "SELECT pg_try_advisory_lock(7316253408)");
	int rc = -1;
	if (check(db, r) == 0 && PQntuples(r) == 1) {
		rc = PQgetvalue(r, 0, 0)[0] == 't';
		if (rc)
			pc->leader_gen = pc->gen;
	}
	PQclear(r);
	return rc;
}

int pg_schema_version(struct db *db)
{
	PGresult *r = PQexec(db->pg->c, "SELECT to_regclass('warrant_schema') IS NOT NULL");
	if (check(db, r) < 0 || PQntuples(r) != 1) {
		PQclear(r);
		return -1;
	}
	int exists = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	if (!exists)
		return 0;
	r = PQexec(db->pg->c, "SELECT version FROM warrant_schema");
	int v = -1;
	if (check(db, r) == 0)
		v = PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : 0;
	PQclear(r);
	return v;
}

int pg_set_schema_version(struct db *db, int v)
{
	char sql[160];
	snprintf(sql, sizeof sql,
		 "CREATE TABLE IF NOT EXISTS warrant_schema (version INTEGER NOT NULL);"
		 " DELETE FROM warrant_schema; INSERT INTO warrant_schema VALUES (%d)",
		 v);
	return pg_exec(db, sql);
}

/* SQLite's `?` and `?N` placeholders as PostgreSQL's `$N`, outside quoted text; *n gets the
 * highest number. NULL when out of memory or past PG_MAX_PARAMS. */
static char *translate(const char *sql, int *n, uint32_t *used)
{
	size_t len = strlen(sql);
	char *out = malloc(len * 3 + 1), *o = out;
	if (!out)
		return NULL;
	int next = 0, max = 0;
	char quote = 0;
	for (const char *s = sql; *s; s++) {
		if (quote) {
			if (*s == quote)
				quote = 0;
			*o++ = *s;
			continue;
		}
		if (*s == '\'' || *s == '"') {
			quote = *s;
			*o++ = *s;
			continue;
		}
		if (*s != '?') {
			*o++ = *s;
			continue;
		}
		int k;
		if (s[1] >= '0' && s[1] <= '9') {
			k = (int)strtol(s + 1, (char **)&s, 10);
			s--;
		} else {
			k = ++next;
		}
		if (k < 1 || k > PG_MAX_PARAMS) {
			free(out);
			return NULL;
		}
		if (k > max)
			max = k;
		*used |= 1u << (k - 1);
		o += sprintf(o, "$%d", k);
	}
	*o = '\0';
	*n = max;
	return out;
}

struct pg_stmt *pg_prepare(struct db *db, const char *sql)
{
	struct pg_stmt *ps = calloc(1, sizeof *ps);
	if (!ps)
		return NULL;
	ps->sql = translate(sql, &ps->nparams, &ps->used);
	if (!ps->sql) {
		free(ps);
		set_err(db->pg, "a statement with too many parameters");
		return NULL;
	}
	snprintf(ps->name, sizeof ps->name, "s%d", ++db->pg->next_name);
	ps->gen = -1;
	return ps;
}

static void clear_result(struct pg_stmt *ps)
{
	if (ps->dec) {
		for (int i = 0; i < ps->ncols; i++)
			PQfreemem(ps->dec[i]);
		free(ps->dec);
		free(ps->declen);
		ps->dec = NULL;
		ps->declen = NULL;
	}
	PQclear(ps->res);
	ps->res = NULL;
	ps->row = ps->nrows = ps->ran = 0;
	ps->decrow = -1;
}

void pg_stmt_free(struct pg_stmt *ps)
{
	clear_result(ps);
	drop_rows(ps);
	free(ps->rows);
	for (int i = 0; i < PG_MAX_PARAMS; i++)
		free(ps->p[i].v);
	free(ps->sql);
	free(ps);
}

void pg_reset(struct pg_stmt *ps) { clear_result(ps); }

void pg_oneshot(struct pg_stmt *ps) { ps->oneshot = 1; }

/* PostgreSQL refuses text that is not UTF-8, where SQLite stores any bytes: an ill-formed
 * byte (only ever from a request, never a stored value) becomes U+FFFD, so a lookup of it
 * finds nothing instead of failing. */
static char *utf8_copy(const char *p, int n, int *outn)
{
	char *out = malloc((size_t)n * 3 + 1), *o = out;
	if (!out)
		return NULL;
	const unsigned char *s = (const unsigned char *)p;
	for (int k = 0; k < n;) {
		int len = utf8_len(s + k, (size_t)(n - k)); /* the rule of JSON output (common/buf.c) */
		if (len > 0 && s[k]) {
			memcpy(o, s + k, (size_t)len);
			o += len;
			k += len;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			k += len < 0 ? -len : 1;
		}
	}
	*o = '\0';
	*outn = (int)(o - out);
	return out;
}

int pg_bind(struct pg_stmt *ps, int i, const void *p, int n, int kind)
{
	if (i < 1 || i > ps->nparams)
		return -1;
	struct pg_param *q = &ps->p[i - 1];
	free(q->v);
	q->v = NULL;
	q->len = 0;
	q->fmt = kind == PG_BIND_BLOB;
	if (kind == PG_BIND_NULL)
		return 0;
	if (kind == PG_BIND_TEXT) {
		q->v = utf8_copy(p, n, &q->len);
		return q->v ? 0 : -1;
	}
	q->v = malloc((size_t)n + 1);
	if (!q->v)
		return -1;
	if (n)
		memcpy(q->v, p, (size_t)n);
	q->v[n] = '\0';
	q->len = n;
	return 0;
}

/* Prepares ps on this connection when it has not been, and runs it; 0 or -1. */
static int exec_once(struct db *db, struct pg_stmt *ps)
{
	struct pg_conn *pc = db->pg;
	const char *vals[PG_MAX_PARAMS];
	int lens[PG_MAX_PARAMS], fmts[PG_MAX_PARAMS];
	Oid types[PG_MAX_PARAMS];
	for (int i = 0; i < ps->nparams; i++) {
		types[i] = ps->used >> i & 1 ? 0 : 25; /* a number the SQL skips has no type to infer: text */
		vals[i] = ps->p[i].v;
		lens[i] = ps->p[i].len;
		fmts[i] = ps->p[i].fmt;
	}
	if (!ps->oneshot && ps->gen != pc->gen) {
		PGresult *r = PQprepare(pc->c, ps->name, ps->sql, ps->nparams, types);
		int rc = check(db, r);
		PQclear(r);
		if (rc < 0)
			return -1;
		ps->gen = pc->gen;
	}
	PQclear(ps->res);
	ps->res = ps->oneshot ? PQexecParams(pc->c, ps->sql, ps->nparams, types, vals, lens, fmts, 0)
			      : PQexecPrepared(pc->c, ps->name, ps->nparams, vals, lens, fmts, 0);
	if (check(db, ps->res) < 0) {
		/* a statement prepared on a connection since lost is prepared again next time */
		if (PQstatus(pc->c) != CONNECTION_OK)
			ps->gen = -1;
		return -1;
	}
	return 0;
}

static int run(struct db *db, struct pg_stmt *ps)
{
	struct pg_conn *pc = db->pg;
	int autocommit = !pg_in_tx(pc);
	if (autocommit && ensure(pc) < 0)
		return -1;
	if (pc->nwaiting && flush(db) < 0)
		return -1;
	int rc = exec_once(db, ps);
	/* a read outside a transaction on a connection found lost (the server restarted, the
	 * session was ended) is read again on a new one rather than failing the request; a
	 * write is not repeated: it may have committed before the connection went */
	if (rc < 0 && autocommit && PQstatus(pc->c) != CONNECTION_OK && strncmp(ps->sql, "SELECT", 6) == 0 &&
	    ensure(pc) == 0)
		rc = exec_once(db, ps);
	if (rc < 0)
		return -1;
	ps->nrows = PQntuples(ps->res);
	ps->ncols = PQnfields(ps->res);
	const char *t = PQcmdTuples(ps->res);
	db->changes = *t ? strtoll(t, NULL, 10) : 0;
	ps->row = -1;
	ps->ran = 1;
	return 0;
}

int pg_step(struct db *db, struct pg_stmt *ps)
{
	if (!ps->ran && run(db, ps) < 0)
		return DB_ERROR;
	if (ps->row + 1 >= ps->nrows) {
		ps->row = ps->nrows;
		return DB_DONE;
	}
	ps->row++;
	return DB_ROW;
}

static int valid_cell(struct pg_stmt *ps, int i)
{
	return ps->res && ps->row >= 0 && ps->row < ps->nrows && i >= 0 && i < ps->ncols;
}

const char *pg_col_text(struct pg_stmt *ps, int i)
{
	if (!valid_cell(ps, i) || PQgetisnull(ps->res, ps->row, i))
		return NULL;
	return PQgetvalue(ps->res, ps->row, i);
}

int pg_col_null(struct pg_stmt *ps, int i) { return !valid_cell(ps, i) || PQgetisnull(ps->res, ps->row, i); }

const void *pg_col_blob(struct pg_stmt *ps, int i, int *n)
{
	*n = 0;
	const char *t = pg_col_text(ps, i);
	if (!t)
		return NULL;
	if (PQftype(ps->res, i) != 17 /* bytea */) {
		*n = PQgetlength(ps->res, ps->row, i);
		return t;
	}
	if (ps->decrow != ps->row) {
		if (ps->dec)
			for (int k = 0; k < ps->ncols; k++) {
				PQfreemem(ps->dec[k]);
				ps->dec[k] = NULL;
			}
		ps->decrow = ps->row;
	}
	if (!ps->dec) {
		ps->dec = calloc((size_t)ps->ncols, sizeof *ps->dec);
		ps->declen = calloc((size_t)ps->ncols, sizeof *ps->declen);
		if (!ps->dec || !ps->declen)
			return NULL;
	}
	if (!ps->dec[i])
		ps->dec[i] = PQunescapeBytea((const unsigned char *)t, &ps->declen[i]);
	*n = ps->dec[i] ? (int)ps->declen[i] : 0;
	return ps->dec[i];
}
