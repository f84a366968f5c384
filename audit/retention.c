/* retention.c - finds audit rows past the retention window; see retention.h. */
#include "retention.h"

int audit_prune_due(struct db *db, int64_t before_ms)
{
	sqlite3_stmt *st = db_prep(db, "SELECT 1 FROM audit_events WHERE time < ? LIMIT 1");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, before_ms);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}
