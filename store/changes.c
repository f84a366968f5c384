/* changes.c - the change log (state_changes); see changes.h. */
#include "changes.h"

#include "../common/timeutil.h"

#include <stdatomic.h>

static int (*_Atomic follower)(struct db *db);

int change_note(struct db *db, const char *kind, const char *a, const char *b, int64_t n)
{
	DB_ASSERT_TX(db);
	sqlite3_stmt *st = db_prep(db, "INSERT INTO state_changes(at, kind, a, b, n) VALUES (?,?,?,?,?)");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, now_ms());
	db_bind_text(st, 2, kind);
	db_bind_text(st, 3, a);
	db_bind_text(st, 4, b);
	sqlite3_bind_int64(st, 5, n);
	return db_step_done(st);
}

int64_t changes_head(struct db *db)
{
	sqlite3_stmt *st = db_prep(db, "SELECT coalesce(max(seq), 0) FROM state_changes");
	if (!st)
		return -1;
	int64_t head = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_reset(st);
	return head;
}

void changes_set_follower(int (*catch_up)(struct db *db)) { atomic_store(&follower, catch_up); }

int changes_catch_up(struct db *db)
{
	int (*f)(struct db *) = atomic_load(&follower);
	return f ? f(db) : 0;
}
