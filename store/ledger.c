/* ledger.c - the token ledger; see ledger.h. */
#include "ledger.h"

#include <stdlib.h>
#include <string.h>

/* A row's id is its issue time in ms shifted left by LEDGER_ID_BITS, plus a number that is
 * free within that millisecond: rows are in time order (pruning takes a range from the
 * start), and a jti, which carries its issue time, is found by a range of at most
 * 2^LEDGER_ID_BITS ids, with no index of its own. */
#define LEDGER_ID_BITS 12
#define LEDGER_ID_MASK ((1 << LEDGER_ID_BITS) - 1)

static void bind_row(struct db_stmt *st, const struct ledger_entry *e);

static unsigned jti_hash(const char *jti)
{
	unsigned h = 2166136261u; /* FNV-1a: where to start looking for a free number */
	for (; *jti; jti++)
		h = (h ^ (unsigned char)*jti) * 16777619u;
	return h;
}

int ledger_insert(struct db *db, const struct ledger_entry *e)
{
	DB_ASSERT_TX(db);
	if (e->iat_ms < 0)
		return -1;
	unsigned k0 = jti_hash(e->jti);
	if (db->engine == DB_PG) {
		/* the key is (id, jti): no number to probe for, so the row can wait to be written
		 * with the batch's others */
		struct db_stmt *st = db_prep(
			db, "INSERT INTO tokens(id, jti, agent_id, owner_id, cred_id, run_id, ws, scope, aud,"
			    " iat, exp, parent_jti, status_list, status_idx) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
		if (!st)
			return -1;
		db_bind_int64(st, 1, e->iat_ms << LEDGER_ID_BITS | (k0 & LEDGER_ID_MASK));
		bind_row(st, e);
		return db_insert_later(st);
	}
	struct db_stmt *st =
		db_prep(db, "INSERT INTO tokens(id, jti, agent_id, owner_id, cred_id, run_id, ws, scope, aud,"
			    " iat, exp, parent_jti, status_list, status_idx) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
			    " ON CONFLICT (id) DO NOTHING");
	if (!st)
		return -1;
	for (unsigned i = 0; i <= LEDGER_ID_MASK; i++) {
		db_bind_int64(st, 1, e->iat_ms << LEDGER_ID_BITS | ((k0 + i) & LEDGER_ID_MASK));
		bind_row(st, e);
		if (db_step_done(st) < 0)
			return -1;
		if (db_changes(db) == 1)
			return 0; /* else the number is taken: try the next */
	}
	return -1; /* 4096 tokens issued in one millisecond */
}

static void bind_row(struct db_stmt *st, const struct ledger_entry *e)
{
	db_bind_text(st, 2, e->jti);
	db_bind_text(st, 3, e->agent_id);
	db_bind_text(st, 4, e->owner_id);
	db_bind_text(st, 5, e->cred_id && *e->cred_id ? e->cred_id : NULL);
	db_bind_text(st, 6, e->run_id);
	db_bind_text(st, 7, e->ws);
	db_bind_text(st, 8, e->scope);
	db_bind_text(st, 9, e->aud_json ? e->aud_json : "[]");
	db_bind_int64(st, 10, e->iat_ms);
	db_bind_int64(st, 11, e->exp_s);
	db_bind_text(st, 12, e->parent_jti);
	if (e->status_list > 0) {
		db_bind_int64(st, 13, e->status_list);
		db_bind_int64(st, 14, e->status_idx);
	} else {
		db_bind_null(st, 13);
		db_bind_null(st, 14);
	}
}

int ledger_forget(struct db *db, const char *jti, int64_t iat_ms)
{
	struct db_stmt *st = db_prep(db, "DELETE FROM tokens WHERE id BETWEEN ?1 AND ?2 AND jti = ?3");
	if (!st)
		return -1;
	db_bind_int64(st, 1, iat_ms << LEDGER_ID_BITS);
	db_bind_int64(st, 2, iat_ms << LEDGER_ID_BITS | LEDGER_ID_MASK);
	db_bind_text(st, 3, jti);
	return db_step_done(st);
}

int ledger_find(struct db *db, const char *jti, int64_t iat_ms, struct ledger_row *out)
{
	memset(out, 0, sizeof *out);
	if (iat_ms < 0)
		return 0; /* not one of ours */
	struct db_stmt *st = db_prep(db, "SELECT jti, agent_id, owner_id, run_id, ws, iat, exp FROM tokens"
					 " WHERE id BETWEEN ?1 AND ?2 AND jti = ?3");
	if (!st)
		return -1;
	db_bind_int64(st, 1, iat_ms << LEDGER_ID_BITS);
	db_bind_int64(st, 2, iat_ms << LEDGER_ID_BITS | LEDGER_ID_MASK);
	db_bind_text(st, 3, jti);
	int rc = db_step(st);
	if (rc == DB_ROW) {
		db_col_copy(st, 0, out->jti, sizeof out->jti);
		db_col_copy(st, 1, out->agent_id, sizeof out->agent_id);
		db_col_copy(st, 2, out->owner_id, sizeof out->owner_id);
		db_col_copy(st, 3, out->run_id, sizeof out->run_id);
		db_col_copy(st, 4, out->ws, sizeof out->ws);
		out->iat_ms = db_col_int64(st, 5);
		out->exp_s = db_col_int64(st, 6);
	}
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

struct live_row {
	char jti[64];
	char *scope; /* NULL: unknown */
	int64_t exp_s;
};

int ledger_each_live(struct db *db, const char *agent, const char *ws, int64_t now_s,
		     int (*fn)(void *arg, const char *jti, const char *scope, int64_t exp_s), void *arg)
{
	/* tokens live at most an hour: the (agent, iat) index bounds the scan */
	struct db_stmt *st = db_prep(db, "SELECT jti, scope, exp FROM tokens WHERE agent_id = ?1 AND iat >= ?2"
					 " AND ws = ?3 AND exp > ?4");
	if (!st)
		return -1;
	db_bind_text(st, 1, agent);
	db_bind_int64(st, 2, (now_s - 2 * 3600) * 1000);
	db_bind_text(st, 3, ws);
	db_bind_int64(st, 4, now_s);
	struct live_row *rows = NULL;
	size_t n = 0, cap = 0;
	int rc = 0, s;
	while ((s = db_step(st)) == DB_ROW) {
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 16;
			struct live_row *nr = realloc(rows, nc * sizeof *nr);
			if (!nr) {
				rc = -1;
				break;
			}
			rows = nr, cap = nc;
		}
		struct live_row *r = &rows[n];
		db_col_copy(st, 0, r->jti, sizeof r->jti);
		const char *sc = db_col_text(st, 1);
		r->scope = sc ? strdup(sc) : NULL;
		r->exp_s = db_col_int64(st, 2);
		if (sc && !r->scope) {
			rc = -1;
			break;
		}
		n++;
	}
	if (rc == 0 && s != DB_DONE)
		rc = -1;
	db_reset(st);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = fn(arg, rows[i].jti, rows[i].scope, rows[i].exp_s);
		free(rows[i].scope);
	}
	free(rows);
	return rc;
}

int64_t ledger_count_issued(struct db *db, const char *agent, int64_t from_ms, int64_t to_ms)
{
	struct db_stmt *st = db_prep(db, "SELECT count(*) FROM tokens WHERE agent_id = ?1 AND iat >= ?2 AND iat < ?3");
	if (!st)
		return -1;
	db_bind_text(st, 1, agent);
	db_bind_int64(st, 2, from_ms);
	db_bind_int64(st, 3, to_ms);
	int64_t n = db_step(st) == DB_ROW ? db_col_int64(st, 0) : -1;
	db_reset(st);
	return n;
}

int ledger_prune_job(struct db *db, void *arg)
{
	struct ledger_prune *p = arg;
	/* ids are times: the oldest rows are a range from the start */
	struct db_stmt *st =
		db_prep(db, "DELETE FROM tokens WHERE exp < ?2 AND id IN (SELECT id FROM tokens WHERE id < ?1"
			    " AND exp < ?2 LIMIT ?3)");
	if (!st)
		return -1;
	db_bind_int64(st, 1, p->before_ms << LEDGER_ID_BITS);
	db_bind_int64(st, 2, p->before_ms / 1000);
	db_bind_int(st, 3, LEDGER_PRUNE_CHUNK);
	if (db_step_done(st) < 0)
		return -1;
	p->deleted = db_changes(db);
	return 0;
}

int ledger_prune_due(struct db *db, int64_t before_ms)
{
	struct db_stmt *st = db_prep(db, "SELECT EXISTS (SELECT 1 FROM tokens WHERE id < ?)");
	if (!st)
		return -1;
	db_bind_int64(st, 1, before_ms << LEDGER_ID_BITS);
	int rc = db_step(st);
	int due = rc == DB_ROW ? db_col_int(st, 0) : rc == DB_DONE ? 0 : -1;
	db_reset(st);
	return due;
}
