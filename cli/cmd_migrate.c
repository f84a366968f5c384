/* cmd_migrate.c - `warrant migrate --to postgresql://...`: copies a SQLite database, every
 * row of every table, into an empty PostgreSQL database in one transaction, sealing the
 * private keys and the pepper under the key-encryption key on the way, then checks the
 * copy (per table: row count and a SHA-256 over every row in primary-key order) before it
 * commits. A mismatch rolls the copy back. */
#include "cli.h"

#include "../common/kek.h"
#include "../keys/keys.h"
#include "../store/sealed.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every table of the schema, parents before children (foreign keys are checked per row).
 * A source table not listed here stops the migration: a table added to store/schema.c
 * must be added here too, never skipped in silence. */
static const char *const tables[] = {
	"settings",
	"orgs",
	"owners",
	"workspaces",
	"memberships",
	"agents",
	"agent_workspaces",
	"credentials",
	"resource_servers",
	"signing_keys",
	"revoked_tokens",
	"revoked_runs",
	"state_changes",
	"approvals",
	"audit_events",
	"tokens",
	"quota_usage",
	"used_ids",
	"trusts",
	"console_sessions",
	"console_logins",
	"delegations",
	"exchanges",
	"statuslists",
	"audit_chains",
	"audit_checkpoints",
	"audit_webhook_cursor",
};
#define NTABLES (sizeof tables / sizeof tables[0])
#define MIGRATE_MAX_COLS 32 /* PG_MAX_PARAMS: one parameter per column */
#define MIGRATE_SQL_MAX 4096
#define MIGRATE_FETCH "FETCH 10000 FROM migrate_rows" /* rows of the target read at a time */

struct column {
	char name[64];
	int pk;    /* position in the primary key, 0 when not in it */
	int bytea; /* the PostgreSQL column is BYTEA */
	int text;  /* the PostgreSQL column is TEXT */
};

struct table {
	const char *name;
	struct column col[MIGRATE_MAX_COLS];
	int ncol;
	int kid_col, secret_col;      /* signing_keys: kid and private_der; settings: key and value */
	char insert[MIGRATE_SQL_MAX]; /* kept for the whole run: db_prep caches by address */
	int64_t rows, copied;
	unsigned char src_digest[32], dst_digest[32];
	int64_t dst_rows;
};

struct migrate {
	struct db *src, *dst;
	int src_sealed; /* the source's secrets are already sealed (under the same KEK) */
	int copying;    /* rows were written in the target's transaction */
	struct table t[NTABLES];
	char err[512];
};

static int known(const char *name)
{
	for (size_t i = 0; i < NTABLES; i++)
		if (strcmp(tables[i], name) == 0)
			return 1;
	return 0;
}

/* The source holds exactly the listed tables. */
static int check_source_tables(struct migrate *m)
{
	struct db_stmt *st = db_prep_new(m->src, "SELECT name FROM sqlite_master WHERE type = 'table'"
						 " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name");
	if (!st)
		goto dberr;
	int n = 0, rc;
	while ((rc = db_step(st)) == DB_ROW) {
		const char *name = db_col_text(st, 0);
		if (!known(name)) {
			snprintf(m->err, sizeof m->err,
				 "the source has a table this migrate does not know: %s (a newer warrant?)", name);
			db_finalize(st);
			return -1;
		}
		n++;
	}
	db_finalize(st);
	if (rc != DB_DONE)
		goto dberr;
	if (n != (int)NTABLES) {
		snprintf(m->err, sizeof m->err, "the source lacks tables of this warrant's schema (%d of %d)", n,
			 (int)NTABLES);
		return -1;
	}
	return 0;
dberr:
	snprintf(m->err, sizeof m->err, "cannot list the source's tables: %s", db_errmsg(m->src));
	return -1;
}

/* The columns of t in the source (names, primary key) and their types in the target, which
 * must have the same columns. */
static int columns(struct migrate *m, struct table *t)
{
	char sql[160];
	snprintf(sql, sizeof sql, "PRAGMA table_info(\"%s\")", t->name);
	struct db_stmt *st = db_prep_new(m->src, sql);
	if (!st)
		goto dberr;
	t->kid_col = t->secret_col = -1;
	while (db_step(st) == DB_ROW) {
		if (t->ncol == MIGRATE_MAX_COLS) {
			db_finalize(st);
			snprintf(m->err, sizeof m->err, "table %s has too many columns", t->name);
			return -1;
		}
		struct column *c = &t->col[t->ncol];
		db_col_copy(st, 1, c->name, sizeof c->name);
		c->pk = db_col_int(st, 5);
		if ((!strcmp(t->name, "signing_keys") && !strcmp(c->name, "kid")) ||
		    (!strcmp(t->name, "settings") && !strcmp(c->name, "key")))
			t->kid_col = t->ncol;
		if ((!strcmp(t->name, "signing_keys") && !strcmp(c->name, "private_der")) ||
		    (!strcmp(t->name, "settings") && !strcmp(c->name, "value")))
			t->secret_col = t->ncol;
		t->ncol++;
	}
	db_finalize(st);
	st = db_prep_new(m->dst, "SELECT column_name, data_type FROM information_schema.columns"
				 " WHERE table_schema = current_schema() AND table_name = ?");
	if (!st)
		goto dberr;
	db_bind_text(st, 1, t->name);
	int n = 0, rc;
	while ((rc = db_step(st)) == DB_ROW) {
		const char *name = db_col_text(st, 0), *type = db_col_text(st, 1);
		int found = 0;
		for (int i = 0; i < t->ncol && !found; i++)
			if (strcmp(t->col[i].name, name) == 0) {
				t->col[i].bytea = strcmp(type, "bytea") == 0;
				t->col[i].text = strcmp(type, "text") == 0;
				found = 1;
			}
		if (!found) {
			snprintf(m->err, sizeof m->err, "column %s.%s of the target is not in the source", t->name,
				 name);
			db_finalize(st);
			return -1;
		}
		n++;
	}
	db_finalize(st);
	if (rc != DB_DONE)
		goto dberr;
	if (n != t->ncol || t->ncol == 0) {
		snprintf(m->err, sizeof m->err, "table %s: the source has %d columns, the target %d", t->name, t->ncol,
			 n);
		return -1;
	}
	return 0;
dberr:
	snprintf(m->err, sizeof m->err, "cannot read the columns of %s: %s", t->name, db_errmsg(m->dst));
	return -1;
}

/* "SELECT a, b FROM t ORDER BY pk" for the source or (pg: text keys in byte order, as
 * SQLite's BINARY collation) the target. */
static int select_sql(const struct table *t, int pg, char *out, size_t cap)
{
	size_t n = (size_t)snprintf(out, cap, "SELECT ");
	for (int i = 0; i < t->ncol && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s\"%s\"", i ? ", " : "", t->col[i].name);
	if (n < cap)
		n += (size_t)snprintf(out + n, cap - n, " FROM \"%s\" ORDER BY ", t->name);
	int k = 0;
	for (int pos = 1; pos <= t->ncol; pos++)
		for (int i = 0; i < t->ncol && n < cap; i++)
			if (t->col[i].pk == pos)
				n += (size_t)snprintf(out + n, cap - n, "%s\"%s\"%s", k++ ? ", " : "", t->col[i].name,
						      pg && t->col[i].text ? " COLLATE \"C\"" : "");
	if (!k && n < cap) /* no declared key: every column */
		for (int i = 0; i < t->ncol && n < cap; i++)
			n += (size_t)snprintf(out + n, cap - n, "%s\"%s\"%s", i ? ", " : "", t->col[i].name,
					      pg && t->col[i].text ? " COLLATE \"C\"" : "");
	return n < cap ? 0 : -1;
}

static int insert_sql(struct table *t)
{
	size_t cap = sizeof t->insert, n = (size_t)snprintf(t->insert, cap, "INSERT INTO \"%s\" (", t->name);
	for (int i = 0; i < t->ncol && n < cap; i++)
		n += (size_t)snprintf(t->insert + n, cap - n, "%s\"%s\"", i ? ", " : "", t->col[i].name);
	if (n < cap)
		n += (size_t)snprintf(t->insert + n, cap - n, ") VALUES (");
	for (int i = 0; i < t->ncol && n < cap; i++)
		n += (size_t)snprintf(t->insert + n, cap - n, "%s?%d", i ? ", " : "", i + 1);
	if (n < cap)
		n += (size_t)snprintf(t->insert + n, cap - n, ")");
	return n < cap ? 0 : -1;
}

/* The purpose a secret of this row is sealed for, or NULL when the cell is no secret: a
 * signing key's private_der (not a retired one's, which is empty) and the pepper. */
static const char *secret_purpose(const struct table *t, int col, const char *kid, int bytes, char *buf, size_t cap)
{
	if (col != t->secret_col || t->kid_col < 0 || !kid || bytes == 0)
		return NULL;
	if (!strcmp(t->name, "signing_keys")) {
		snprintf(buf, cap, KEK_PURPOSE_KEY "%s", kid);
		return buf;
	}
	return !strcmp(t->name, "settings") && !strcmp(kid, "secret_pepper") ? KEK_PURPOSE_PEPPER : NULL;
}

/* Binds one source cell to the target's column i, sealing a secret of a source in the clear. */
static int bind_cell(struct migrate *m, struct table *t, sqlite3_stmt *q, struct db_stmt *ins, int i, const char *kid)
{
	const struct column *c = &t->col[i];
	int type = sqlite3_column_type(q, i);
	char buf[KID_MAX + 16];
	const char *purpose =
		m->src_sealed ? NULL : secret_purpose(t, i, kid, sqlite3_column_bytes(q, i), buf, sizeof buf);
	if (type == SQLITE_NULL)
		return db_bind_null(ins, i + 1);
	if (purpose) {
		int n = sqlite3_column_bytes(q, i);
		unsigned char *sealed = malloc((size_t)n + KEK_OVERHEAD);
		int rc = sealed && kek_seal(purpose, sqlite3_column_blob(q, i), (size_t)n, sealed) == 0
				 ? db_bind_blob(ins, i + 1, sealed, n + KEK_OVERHEAD)
				 : -1;
		free(sealed);
		return rc;
	}
	if (type == SQLITE_INTEGER && !c->bytea && !c->text)
		return db_bind_int64(ins, i + 1, sqlite3_column_int64(q, i));
	if (type == SQLITE_BLOB || c->bytea) /* bytes as they are (a TEXT column takes them as text) */
		return c->bytea || c->text
			       ? db_bind_blob(ins, i + 1, sqlite3_column_blob(q, i), sqlite3_column_bytes(q, i))
			       : -1;
	const char *s = (const char *)sqlite3_column_text(q, i); /* text, or a number as text */
	if (!s || strlen(s) != (size_t)sqlite3_column_bytes(q, i))
		return -1;
	return db_bind_text(ins, i + 1, s);
}

static int copy_table(struct migrate *m, struct table *t)
{
	char sql[MIGRATE_SQL_MAX];
	sqlite3_stmt *q = NULL;
	if (select_sql(t, 0, sql, sizeof sql) < 0 || insert_sql(t) < 0) {
		snprintf(m->err, sizeof m->err, "table %s: statement too long", t->name);
		return -1;
	}
	struct db_stmt *ins = db_prep(m->dst, t->insert);
	if (!ins || sqlite3_prepare_v2(m->src->h, sql, -1, &q, NULL) != SQLITE_OK) {
		snprintf(m->err, sizeof m->err, "cannot copy %s: %s", t->name,
			 ins ? sqlite3_errmsg(m->src->h) : db_errmsg(m->dst));
		sqlite3_finalize(q);
		return -1;
	}
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *kid = t->kid_col >= 0 ? (const char *)sqlite3_column_text(q, t->kid_col) : NULL;
		for (int i = 0; i < t->ncol; i++)
			if (bind_cell(m, t, q, ins, i, kid) < 0) {
				snprintf(m->err, sizeof m->err, "cannot copy a value of %s.%s", t->name,
					 t->col[i].name);
				sqlite3_finalize(q);
				return -1;
			}
		if (db_step_done(ins) < 0) {
			snprintf(m->err, sizeof m->err, "cannot copy a row of %s: %s", t->name, db_errmsg(m->dst));
			sqlite3_finalize(q);
			return -1;
		}
		t->copied++;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		snprintf(m->err, sizeof m->err, "cannot read %s: %s", t->name, sqlite3_errmsg(m->src->h));
		return -1;
	}
	return 0;
}

static void hash_cell(EVP_MD_CTX *md, const void *v, int n, int null)
{
	unsigned char hdr[9] = {null ? 0 : 1};
	uint64_t len = null ? 0 : (uint64_t)n;
	for (int k = 0; k < 8; k++)
		hdr[1 + k] = (unsigned char)(len >> (56 - 8 * k));
	EVP_DigestUpdate(md, hdr, sizeof hdr);
	if (!null && n > 0)
		EVP_DigestUpdate(md, v, (size_t)n);
}

/* Hashes one secret cell by its plain value: opened when sealed (which the target's must
 * be), as it is when in the clear. 0, or -1 when it does not open or is not sealed. */
static int hash_secret(EVP_MD_CTX *md, const char *purpose, const void *v, int n, int must_seal)
{
	if (!kek_is_sealed(v, (size_t)n)) {
		if (must_seal)
			return -1;
		hash_cell(md, v, n, 0);
		return 0;
	}
	unsigned char *plain = malloc((size_t)n);
	int pn = plain ? kek_open(purpose, v, (size_t)n, plain, (size_t)n) : -1;
	if (pn >= 0) {
		hash_cell(md, plain, pn, 0);
		OPENSSL_cleanse(plain, (size_t)pn);
	}
	free(plain);
	return pn < 0 ? -1 : 0;
}

/* Hashes the rows of st into md, counting in *rows those that take part (the KEK check row
 * does not: a source in the clear has none). The rows read, or -1. */
static int64_t hash_rows(struct migrate *m, struct table *t, struct db *db, struct db_stmt *st, EVP_MD_CTX *md,
			 int target, int64_t *rows)
{
	int64_t seen = 0;
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		seen++;
		const char *kid = t->kid_col >= 0 ? db_col_text(st, t->kid_col) : NULL;
		if (!strcmp(t->name, "settings") && kid && !strcmp(kid, KEK_CHECK_SETTING))
			continue;
		for (int i = 0; i < t->ncol; i++) {
			int null = db_col_null(st, i);
			const void *v = null ? NULL : db_col_blob(st, i);
			int n = null ? 0 : db_col_bytes(st, i);
			char buf[KID_MAX + 16];
			const char *purpose = null ? NULL : secret_purpose(t, i, kid, n, buf, sizeof buf);
			if (!purpose) {
				hash_cell(md, v, n, null);
			} else if (hash_secret(md, purpose, v, n, target) < 0) {
				snprintf(m->err, sizeof m->err, "a secret in %s (%s) is %s", t->name, kid,
					 target ? "not sealed under the key file" : "sealed under another key");
				return -1;
			}
		}
		(*rows)++;
	}
	if (rc != DB_DONE) {
		snprintf(m->err, sizeof m->err, "cannot read %s: %s", t->name, db_errmsg(db));
		return -1;
	}
	return seen;
}

/* Row count and SHA-256 of every row of t in db, in primary-key order, secrets by their
 * plain value. PostgreSQL hands a statement's rows over all at once: the target is read
 * through a cursor, MIGRATE_FETCH rows at a time, so memory stays flat. */
static int digest(struct migrate *m, struct db *db, struct table *t, int target, unsigned char out[32], int64_t *rows)
{
	char sql[MIGRATE_SQL_MAX], decl[MIGRATE_SQL_MAX + 64];
	*rows = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = select_sql(t, target, sql, sizeof sql) == 0 && md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1
			 ? 0
			 : -1;
	if (rc == 0 && !target) {
		struct db_stmt *st = db_prep_new(db, sql);
		rc = st && hash_rows(m, t, db, st, md, target, rows) >= 0 ? 0 : -1;
		db_finalize(st);
	} else if (rc == 0) {
		snprintf(decl, sizeof decl, "DECLARE migrate_rows NO SCROLL CURSOR FOR %s", sql);
		rc = db_exec(db, decl);
		for (int64_t n = 1; rc == 0 && n > 0;) {
			struct db_stmt *st = db_prep_new(db, MIGRATE_FETCH);
			n = st ? hash_rows(m, t, db, st, md, target, rows) : -1;
			db_finalize(st);
			rc = n < 0 ? -1 : 0;
		}
		if (db_exec(db, "CLOSE migrate_rows") < 0)
			rc = -1;
	}
	unsigned int len = 0;
	if (rc == 0 && (EVP_DigestFinal_ex(md, out, &len) != 1 || len != 32))
		rc = -1;
	if (rc < 0 && !*m->err)
		snprintf(m->err, sizeof m->err, "cannot read %s: %s", t->name, db_errmsg(db));
	EVP_MD_CTX_free(md);
	return rc;
}

/* The target holds no warrant row yet (a schema alone, made by an earlier failed run or by
 * db_open, is empty). */
static int check_empty(struct migrate *m)
{
	for (size_t i = 0; i < NTABLES; i++) {
		char sql[128];
		snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", tables[i]);
		struct db_stmt *st = db_prep_new(m->dst, sql);
		int64_t n = st && db_step(st) == DB_ROW ? db_col_int64(st, 0) : -1;
		db_finalize(st);
		if (n != 0) {
			if (n < 0)
				snprintf(m->err, sizeof m->err, "cannot read the target: %s", db_errmsg(m->dst));
			else
				snprintf(m->err, sizeof m->err,
					 "the target database is not empty (%s has %lld rows): migrate copies into an"
					 " empty database",
					 tables[i], (long long)n);
			return -1;
		}
	}
	return 0;
}

/* The PostgreSQL counters past the copied rows: the change log's counter (SQLite may have
 * numbered changes since deleted) and audit_events' identity. */
static int set_counters(struct migrate *m)
{
	int64_t head = 0;
	struct db_stmt *st =
		db_prep_new(m->src, "SELECT max(coalesce((SELECT max(seq) FROM state_changes), 0),"
				    " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'state_changes'),"
				    " 0))");
	if (st && db_step(st) == DB_ROW)
		head = db_col_int64(st, 0);
	else
		head = -1;
	db_finalize(st);
	if (head < 0) {
		snprintf(m->err, sizeof m->err, "cannot read the source's change log: %s", db_errmsg(m->src));
		return -1;
	}
	st = db_prep_new(m->dst, "UPDATE change_counter SET v = CAST(? AS BIGINT)");
	int rc = st ? db_bind_int64(st, 1, head) | db_step_done(st) : -1;
	db_finalize(st);
	if (rc == 0)
		rc = db_exec(m->dst, "SELECT setval(pg_get_serial_sequence('audit_events', 'id'),"
				     " (SELECT coalesce(max(id), 0) + 1 FROM audit_events), false)");
	if (rc < 0)
		snprintf(m->err, sizeof m->err, "cannot set the counters: %s", db_errmsg(m->dst));
	return rc;
}

/* The URL without its password, for messages and output. */
static void redact(const char *url, char *out, size_t cap)
{
	const char *s = strstr(url, "://"), *at = s ? strchr(s + 3, '@') : NULL, *slash = s ? strchr(s + 3, '/') : NULL;
	const char *colon = s ? strchr(s + 3, ':') : NULL;
	if (at && (!slash || at < slash) && colon && colon < at)
		snprintf(out, cap, "%.*s:***%s", (int)(colon - url), url, at);
	else
		snprintf(out, cap, "%s", url);
}

/* Copies, then checks, inside the target's transaction: 0 when every table matches. */
static int copy_and_check(struct migrate *m, int *mismatch)
{
	*mismatch = 0;
	if (check_empty(m) < 0)
		return -1;
	m->copying = 1;
	for (size_t i = 0; i < NTABLES; i++) {
		if (copy_table(m, &m->t[i]) < 0)
			return -1;
		/* a source in the clear: the row that proves the key, with its first secret */
		if (i == 0 && !m->src_sealed && sealed_mark(m->dst) < 0) {
			snprintf(m->err, sizeof m->err, "cannot write the key check: %s", db_errmsg(m->dst));
			return -1;
		}
	}
	if (set_counters(m) < 0)
		return -1;
	for (size_t i = 0; i < NTABLES; i++) {
		struct table *t = &m->t[i];
		if (digest(m, m->src, t, 0, t->src_digest, &t->rows) < 0 ||
		    digest(m, m->dst, t, 1, t->dst_digest, &t->dst_rows) < 0)
			return -1;
		if (t->rows != t->dst_rows || memcmp(t->src_digest, t->dst_digest, 32) != 0)
			(*mismatch)++;
	}
	return 0;
}

static void hex32(const unsigned char *d, char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void report(struct cli *c, const struct migrate *m, const char *from, const char *to, int mismatch)
{
	int64_t total = 0;
	for (size_t i = 0; i < NTABLES; i++)
		total += m->t[i].rows;
	if (c->json) {
		printf("{\"id\":\"%s\",\"from\":\"%s\",\"ok\":%s,\"rows\":%lld,\"secrets\":\"%s\",\"tables\":[", to,
		       from, mismatch ? "false" : "true", (long long)total,
		       m->src_sealed ? "copied sealed" : "sealed on the way");
		for (size_t i = 0; i < NTABLES; i++) {
			const struct table *t = &m->t[i];
			char a[65], b[65];
			hex32(t->src_digest, a);
			hex32(t->dst_digest, b);
			printf("%s{\"table\":\"%s\",\"rows\":%lld,\"copied\":%lld,\"target_rows\":%lld,\"sha256\":\"%s\","
			       "\"target_sha256\":\"%s\",\"ok\":%s}",
			       i ? "," : "", t->name, (long long)t->rows, (long long)t->copied, (long long)t->dst_rows,
			       a, b, t->rows == t->dst_rows && !strcmp(a, b) ? "true" : "false");
		}
		printf("]}\n");
		return;
	}
	for (size_t i = 0; i < NTABLES; i++) {
		const struct table *t = &m->t[i];
		char a[65];
		hex32(t->src_digest, a);
		int ok = t->rows == t->dst_rows && !memcmp(t->src_digest, t->dst_digest, 32);
		printf("  %-18s %10lld rows  sha256 %.16s  %s\n", t->name, (long long)t->rows, a,
		       ok ? "ok" : "MISMATCH");
	}
	if (!mismatch)
		printf("migrated %s to %s: %zu tables, %lld rows, every table checked; secrets %s\n", from, to, NTABLES,
		       (long long)total, m->src_sealed ? "copied sealed" : "sealed under the key file");
}

/* After the commit: the target opens as a server would open it, the key check, the pepper
 * and every signing key under the key file. */
static int reopen_check(const char *url, char *err, size_t errlen)
{
	struct db *db = db_open(url, DB_EXISTING, err, errlen);
	if (!db)
		return -1;
	unsigned char pepper[64];
	struct keyring *kr = keyring_new();
	char kid[KID_MAX];
	enum key_alg alg;
	int rc = sealed_check(db, err, errlen);
	if (rc == 0 && sealed_setting_get(db, "secret_pepper", KEK_PURPOSE_PEPPER, pepper, sizeof pepper) != 32) {
		snprintf(err, errlen, "the copied pepper does not open");
		rc = -1;
	}
	OPENSSL_cleanse(pepper, sizeof pepper);
	if (rc == 0 && (!kr || keyring_load(kr, db) < 0 || keyring_current(kr, kid, &alg) < 0)) {
		snprintf(err, errlen, "the copied signing keys do not load");
		rc = -1;
	}
	keyring_free(kr);
	db_close(db);
	return rc;
}

static int migrate_run(struct cli *c, struct migrate *m, const char *from, const char *to, const char *shown)
{
	char err[512];
	m->src = db_open(from, DB_EXISTING, err, sizeof err);
	if (!m->src)
		return cli_fail("%s", err);
	int sealed = sealed_db(m->src);
	if (sealed < 0)
		return cli_fail("cannot read %s: %s", from, db_errmsg(m->src));
	m->src_sealed = sealed;
	if (sealed && sealed_check(m->src, err, sizeof err) < 0)
		return cli_fail("%s: %s", from, err);
	if (db_begin_read(m->src) < 0 || check_source_tables(m) < 0)
		return cli_fail("%s", *m->err ? m->err : db_errmsg(m->src));
	m->dst = db_open(to, DB_CREATE, err, sizeof err);
	if (!m->dst)
		return cli_fail("%s", err);
	for (size_t i = 0; i < NTABLES; i++) {
		m->t[i].name = tables[i];
		if (columns(m, &m->t[i]) < 0)
			return cli_fail("%s", m->err);
	}
	if (db_begin(m->dst) < 0)
		return cli_fail("cannot start the copy: %s", db_errmsg(m->dst));
	int mismatch = 0;
	if (copy_and_check(m, &mismatch) < 0) {
		db_rollback(m->dst);
		return cli_fail("%s%s", m->err, m->copying ? "; nothing was copied" : "");
	}
	report(c, m, from, shown, mismatch);
	if (mismatch) {
		db_rollback(m->dst);
		return cli_fail("the copy does not match the source in %d table%s; nothing was copied", mismatch,
				mismatch > 1 ? "s" : "");
	}
	if (db_commit(m->dst) < 0)
		return cli_fail("cannot commit the copy: %s", db_errmsg(m->dst));
	if (reopen_check(to, err, sizeof err) < 0)
		return cli_fail("the copy was committed but does not open: %s", err);
	return 0;
}

int cmd_migrate(struct cli *c)
{
	const char *to = arg_opt(&c->a, "to");
	const char *from = arg_opt(&c->a, "db");
	if (!from)
		from = getenv("WARRANT_DB");
	if (!from || !*from)
		from = "./warrant.db";
	int rc;
	if (!to)
		return cli_usage("usage: warrant migrate --to postgresql://... --key-file PATH [--db FILE]");
	if ((rc = cli_no_extra(c)))
		return rc;
	if (db_engine_of(to) != DB_PG)
		return cli_usage("--to must be a postgresql:// URL");
	if (db_engine_of(from) != DB_SQLITE)
		return cli_usage("migrate copies a SQLite database: --db must be a file");
	char shown[512];
	redact(to, shown, sizeof shown);
	if (cli_load_key(c, to, 1) < 0)
		return 1;
	struct migrate *m = calloc(1, sizeof *m);
	if (!m)
		return cli_fail("out of memory");
	rc = migrate_run(c, m, from, to, shown);
	if (rc && *c->key_created)
		unlink(c->key_created); /* a key file made for a copy that did not happen */
	db_close(m->src);
	db_close(m->dst);
	free(m);
	return rc;
}
