/* expiry.c - finds credentials whose grace has ended unrecorded; see expiry.h. */
#include "expiry.h"

int credential_expiry_due(struct db *db, int64_t now)
{
	struct db_stmt *st = db_prep(db, "SELECT 1 FROM credentials WHERE expiry_audited = 0 AND revoked_at IS NULL"
					 " AND expires_at <= ? LIMIT 1");
	if (!st)
		return -1;
	db_bind_int64(st, 1, now);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}
