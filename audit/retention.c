/* retention.c - pruning audit rows past the retention window, chains as prefixes; see
 * retention.h. */
#include "retention.h"
#include "audit.h"
#include "chain.h"

#include <stdlib.h>
#include <string.h>

/* the newest checkpoint a prefix may end at was signed this long before the window */
#define RETENTION_CHECKPOINT_MARGIN_MS 1000

int audit_prune_due(struct db *db, int64_t before_ms)
{
	struct db_stmt *st =
		db_prep(db, "SELECT 1 WHERE EXISTS (SELECT 1 FROM audit_events WHERE chain IS NULL AND time < ?1)"
			    " OR EXISTS (SELECT 1 FROM audit_checkpoints c WHERE c.iat * 1000 < ?2 AND EXISTS"
			    " (SELECT 1 FROM audit_events e WHERE e.chain = c.chain AND e.seq <= c.seq))");
	if (!st)
		return -1;
	db_bind_int64(st, 1, before_ms);
	db_bind_int64(st, 2, before_ms - RETENTION_CHECKPOINT_MARGIN_MS);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

struct cut {
	char chain[CHAIN_ID_MAX];
	int64_t seq;
};

/* Each chain's newest checkpoint signed before the window: where its prefix ends. */
static int cuts_read(struct db *db, int64_t before_ms, struct cut **out, int *n)
{
	struct db_stmt *st = db_prep_new(db, "SELECT chain, max(seq) FROM audit_checkpoints WHERE iat * 1000 < ?1"
					     " GROUP BY chain");
	if (!st)
		return -1;
	db_bind_int64(st, 1, before_ms - RETENTION_CHECKPOINT_MARGIN_MS);
	int cap = 0, rc;
	*out = NULL;
	*n = 0;
	while ((rc = db_step(st)) == DB_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			struct cut *c = realloc(*out, sizeof *c * (size_t)cap);
			if (!c) {
				rc = DB_ERROR;
				break;
			}
			*out = c;
		}
		db_col_copy(st, 0, (*out)[*n].chain, CHAIN_ID_MAX);
		(*out)[*n].seq = db_col_int64(st, 1);
		(*n)++;
	}
	db_finalize(st);
	return rc == DB_DONE ? 0 : -1;
}

static int64_t one_value(struct db_stmt *st)
{
	int64_t v = db_step(st) == DB_ROW && !db_col_null(st, 0) ? db_col_int64(st, 0) : 0;
	db_reset(st);
	return v;
}

/* Where this pass ends the prefix of c: a checkpoint, so the chain stays verifiable between
 * two passes; the newest one that leaves about left rows to delete, else the first one. */
static int64_t pass_end(struct db *db, const struct cut *c, int left)
{
	struct db_stmt *st = db_prep(db, "SELECT min(seq) FROM audit_events WHERE chain = ?1");
	if (!st)
		return -1;
	db_bind_text(st, 1, c->chain);
	int64_t first = one_value(st);
	if (first == 0 || first > c->seq)
		return 0;
	st = db_prep(db, "SELECT max(seq) FROM audit_checkpoints WHERE chain = ?1 AND seq <= ?2 AND seq >= ?3");
	if (!st)
		return -1;
	db_bind_text(st, 1, c->chain);
	db_bind_int64(st, 2, first + left - 1 < c->seq ? first + left - 1 : c->seq);
	db_bind_int64(st, 3, first);
	int64_t end = one_value(st);
	if (end)
		return end;
	st = db_prep(db, "SELECT min(seq) FROM audit_checkpoints WHERE chain = ?1 AND seq >= ?2 AND seq <= ?3");
	if (!st)
		return -1;
	db_bind_text(st, 1, c->chain);
	db_bind_int64(st, 2, first);
	db_bind_int64(st, 3, c->seq);
	return one_value(st);
}

/* Deletes the prefix of one chain up to a checkpoint (about left rows), and the
 * checkpoints before that one. */
static int prune_prefix(struct db *db, const struct cut *c, int left, int *deleted)
{
	int64_t end = pass_end(db, c, left);
	if (end <= 0)
		return (int)end;
	struct db_stmt *st = db_prep(db, "DELETE FROM audit_events WHERE chain = ?1 AND seq <= ?2");
	if (!st)
		return -1;
	db_bind_text(st, 1, c->chain);
	db_bind_int64(st, 2, end);
	if (db_step_done(st) < 0)
		return -1;
	*deleted += (int)db_changes(db);
	st = db_prep(db, "DELETE FROM audit_checkpoints WHERE chain = ?1 AND seq < ?2");
	if (!st)
		return -1;
	db_bind_text(st, 1, c->chain);
	db_bind_int64(st, 2, end);
	return db_step_done(st);
}

int audit_prune_job(struct db *db, void *arg)
{
	struct audit_prune *p = arg;
	p->deleted = 0;
	/* rows from before chaining: by time alone */
	struct db_stmt *st = db_prep(db, "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events"
					 " WHERE chain IS NULL AND time < ?1 ORDER BY time LIMIT ?2)");
	if (!st)
		return -1;
	db_bind_int64(st, 1, p->before_ms);
	db_bind_int(st, 2, AUDIT_PRUNE_CHUNK);
	if (db_step_done(st) < 0)
		return -1;
	p->deleted = (int)db_changes(db);
	struct cut *cuts;
	int n;
	if (cuts_read(db, p->before_ms, &cuts, &n) < 0)
		return -1;
	int rc = 0;
	for (int i = 0; i < n && rc == 0 && p->deleted < AUDIT_PRUNE_CHUNK; i++)
		rc = prune_prefix(db, &cuts[i], AUDIT_PRUNE_CHUNK - p->deleted, &p->deleted);
	free(cuts);
	return rc;
}
