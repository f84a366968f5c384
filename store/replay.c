/* replay.c - single-use identifiers; see replay.h. */
#include "replay.h"

#include <string.h>

int replay_claim(struct db *db, const char *kind, const char *id, int64_t exp_s)
{
	if (!id || !*id || strlen(id) > REPLAY_ID_MAX)
		return -1;
	struct db_stmt *st = db_prep(db, "INSERT INTO used_ids(kind, id, exp) VALUES (?,?,?) ON CONFLICT DO NOTHING");
	if (!st)
		return -1;
	db_bind_text(st, 1, kind);
	db_bind_text(st, 2, id);
	db_bind_int64(st, 3, exp_s);
	if (db_step_done(st) < 0)
		return -1;
	return db_changes(db) == 1;
}

int replay_prune_due(struct db *db, int64_t now_s)
{
	struct db_stmt *st = db_prep(db, "SELECT 1 FROM used_ids WHERE exp < ? LIMIT 1");
	if (!st)
		return -1;
	db_bind_int64(st, 1, now_s);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

int replay_prune_job(struct db *db, void *arg)
{
	struct db_stmt *st = db_prep(db, "DELETE FROM used_ids WHERE exp < ?");
	if (!st)
		return -1;
	db_bind_int64(st, 1, *(int64_t *)arg);
	return db_step_done(st);
}
