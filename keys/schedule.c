/* schedule.c - reads that tell housekeeping when a key must rotate or retire; see schedule.h. */
#include "schedule.h"

static int any_row(struct db *db, const char *sql, int nbind, int64_t v)
{
	struct db_stmt *st = db_prep(db, sql);
	if (!st)
		return -1;
	if (nbind)
		db_bind_int64(st, 1, v);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

int key_retirement_due(struct db *db, int64_t now)
{
	return any_row(db, "SELECT 1 FROM signing_keys WHERE state = 'retiring' AND retire_after <= ? LIMIT 1", 1, now);
}

int key_next_missing(struct db *db)
{
	int has = any_row(db, "SELECT 1 FROM signing_keys WHERE state = 'next' LIMIT 1", 0, 0);
	return has < 0 ? -1 : !has;
}

int key_rotation_due(struct db *db, int64_t now, int interval_s)
{
	if (interval_s <= 0)
		return 0;
	return any_row(db, "SELECT 1 FROM signing_keys WHERE state = 'current' AND activated_at <= ? LIMIT 1", 1,
		       now - (int64_t)interval_s * 1000);
}

int key_current_count(struct db *db)
{
	struct db_stmt *st = db ? db_prep(db, "SELECT count(*) FROM signing_keys WHERE state = 'current'") : NULL;
	if (!st)
		return -1;
	int n = db_step(st) == DB_ROW ? db_col_int(st, 0) : -1;
	db_reset(st);
	return n;
}

int key_set_fingerprint(struct db *db, char *out, size_t cap)
{
	out[0] = '\0';
	struct db_stmt *st =
		db_prep(db, db_sql(db,
				   "SELECT group_concat(kid || ':' || state, ',') FROM"
				   " (SELECT kid, state FROM signing_keys ORDER BY kid)",
				   "SELECT string_agg(kid || ':' || state, ',' ORDER BY kid) FROM signing_keys"));
	if (!st)
		return -1;
	int rc = db_step(st);
	if (rc == DB_ROW)
		db_col_copy(st, 0, out, cap);
	db_reset(st);
	return rc == DB_ROW ? 0 : -1;
}
