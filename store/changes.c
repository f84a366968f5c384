/* changes.c - the change log (state_changes); see changes.h. */
#include "changes.h"

#include "../common/timeutil.h"

#include <stdatomic.h>

static int (*_Atomic follower)(struct db *db);
static int64_t (*_Atomic follower_seen)(void);

int change_note(struct db *db, const char *kind, const char *a, const char *b, int64_t n)
{
	DB_ASSERT_TX(db);
	/* PostgreSQL: numbered from the counter row, in the writer lock, so a follower asking
	 * for seq > N never skips a change that commits later with a smaller number */
	struct db_stmt *st =
		db_prep(db, db_sql(db, "INSERT INTO state_changes(at, kind, a, b, n) VALUES (?,?,?,?,?)",
				   "WITH c AS (UPDATE change_counter SET v = v + 1 RETURNING v)"
				   " INSERT INTO state_changes(seq, at, kind, a, b, n)"
				   " SELECT v, CAST(?1 AS BIGINT), ?2, ?3, ?4, CAST(?5 AS BIGINT) FROM c"));
	if (!st)
		return -1;
	db_bind_int64(st, 1, now_ms());
	db_bind_text(st, 2, kind);
	db_bind_text(st, 3, a);
	db_bind_text(st, 4, b);
	db_bind_int64(st, 5, n);
	db->tx_head = -1; /* the head moves */
	db->tx_noted = 1;
	return db_step_done(st);
}

int64_t changes_head(struct db *db)
{
	struct db_stmt *st = db_prep(
		db, db_sql(db, "SELECT coalesce(max(seq), 0) FROM state_changes", "SELECT v FROM change_counter"));
	if (!st)
		return -1;
	int64_t head = db_step(st) == DB_ROW ? db_col_int64(st, 0) : -1;
	db_reset(st);
	return head;
}

int64_t changes_head_in_tx(struct db *db)
{
	DB_ASSERT_TX(db);
	if (db->tx_head < 0)
		db->tx_head = changes_head(db);
	return db->tx_head;
}

void changes_set_follower(int (*catch_up)(struct db *db), int64_t (*seen)(void))
{
	atomic_store(&follower_seen, seen);
	atomic_store(&follower, catch_up);
}

int64_t changes_seen(void)
{
	int64_t (*s)(void) = atomic_load(&follower_seen);
	return s ? s() : 0;
}

int changes_catch_up(struct db *db, int64_t seen)
{
	int (*f)(struct db *) = atomic_load(&follower);
	if (!f)
		return 0;
	int n = f(db);
	if (n < 0)
		return -1;
	/* applied now, or by another thread (the poll, a listener) since the caller looked */
	return n > 0 || changes_seen() != seen;
}
