/* stats.c - the database figures behind the /metrics gauges; see stats.h. */
#include "stats.h"

static int64_t scalar(struct db *db, const char *sql, int nbind, int64_t v)
{
	struct db_stmt *st = db_prep(db, sql);
	int64_t out = -1;
	if (!st)
		return out;
	if (nbind)
		db_bind_int64(st, 1, v);
	if (db_step(st) == DB_ROW && !db_col_null(st, 0))
		out = db_col_int64(st, 0);
	db_reset(st);
	return out;
}

void store_stats_read(struct db *db, int64_t now, struct store_stats *s)
{
	s->current_activated_at = s->keys_published = s->grace_open = -1;
	s->db_up = 0;
	if (!db)
		return;
	s->current_activated_at = scalar(db, "SELECT activated_at FROM signing_keys WHERE state = 'current'", 0, 0);
	s->keys_published = scalar(db, "SELECT count(*) FROM signing_keys WHERE state != 'retired'", 0, 0);
	s->grace_open =
		scalar(db, "SELECT count(*) FROM credentials WHERE revoked_at IS NULL AND expires_at > ?", 1, now);
	s->db_up = s->keys_published >= 0;
}
