/* prune.c - deletes expired revocations and old change-log rows; see prune.h. */
#include "prune.h"

/* change rows are kept an hour past the cutoff: a server that was briefly behind still
 * finds every row it has not applied */
#define PRUNE_CHANGE_MARGIN_S 3600

int stale_rows_due(struct db *db, int64_t cutoff_s)
{
	struct db_stmt *st = db_prep(db, "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE exp < ?1)"
					 " OR EXISTS (SELECT 1 FROM state_changes WHERE at < ?2)");
	if (!st)
		return -1;
	db_bind_int64(st, 1, cutoff_s);
	db_bind_int64(st, 2, (cutoff_s - PRUNE_CHANGE_MARGIN_S) * 1000);
	int rc = db_step(st);
	int due = rc == DB_ROW ? db_col_int(st, 0) != 0 : -1;
	db_reset(st);
	return due;
}

/* a writer job, since a write on a reader connection would make the writer wait for its lock */
int stale_rows_prune_job(struct db *db, void *arg)
{
	int64_t cutoff_s = *(int64_t *)arg;
	struct db_stmt *st = db_prep(db, "DELETE FROM revoked_tokens WHERE exp < ?");
	if (!st)
		return -1;
	db_bind_int64(st, 1, cutoff_s);
	if (db_step_done(st) < 0)
		return -1;
	st = db_prep(db, "DELETE FROM state_changes WHERE at < ?");
	if (!st)
		return -1;
	db_bind_int64(st, 1, (cutoff_s - PRUNE_CHANGE_MARGIN_S) * 1000);
	return db_step_done(st);
}
