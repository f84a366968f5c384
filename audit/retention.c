/* retention.c - finds audit rows past the retention window; see retention.h. */
#include "retention.h"

int audit_prune_due(struct db *db, int64_t before_ms)
{
	struct db_stmt *st = db_prep(db, "SELECT 1 FROM audit_events WHERE time < ? LIMIT 1");
	if (!st)
		return -1;
	db_bind_int64(st, 1, before_ms);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}
