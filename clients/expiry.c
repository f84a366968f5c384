/* expiry.c - finds credentials whose grace has ended unrecorded; see expiry.h. */
#include "expiry.h"

int credential_expiry_due(struct db *db, int64_t now)
{
	sqlite3_stmt *st = db_prep(db, "SELECT 1 FROM credentials WHERE expiry_audited = 0 AND revoked_at IS NULL"
				       " AND expires_at <= ? LIMIT 1");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}
