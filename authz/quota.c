/* quota.c - fixed-window token quotas; see quota.h. */
#include "quota.h"

#include "../common/strmap.h"
#include "../store/ledger.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* strmap_val: n1 = minute window << 32 | count, n2 = day window << 32 | count */
static struct strmap counts;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int enabled;

void quota_enable(void)
{
	if (!enabled && strmap_init(&counts, 1024) == 0)
		enabled = 1;
}

/* The 429 of a used-up window; returns 1. */
static int used_up(struct oerr *e, int over_day, int64_t per_minute, int64_t per_day, int64_t now)
{
	int64_t secs = over_day ? (now / 86400000 + 1) * 86400 - now / 1000 : (now / 60000 + 1) * 60 - now / 1000;
	oerr_set(e, 429, "rate_limited", "the agent's quota of %lld tokens per %s is used up",
		 (long long)(over_day ? per_day : per_minute), over_day ? "day" : "minute");
	e->retry_after = secs > 0 ? secs : 1;
	e->reason = over_day ? "quota_day" : "quota_minute";
	return 1;
}

int quota_reserve(struct db *db, const char *agent, int64_t per_minute, int64_t per_day, int64_t now, struct oerr *e)
{
	if (!per_minute && !per_day)
		return 0;
	int64_t minute = now / 60000, day = now / 86400000;
	struct strmap_val v;
	memset(&v, 0, sizeof v);
	pthread_mutex_lock(&mu);
	int have = enabled && strmap_get(&counts, agent, &v);
	int64_t mw = v.n1 >> 32, mc = v.n1 & 0xffffffff, dw = v.n2 >> 32, dc = v.n2 & 0xffffffff;
	if (!have || mw != minute || dw != day) {
		/* a new window (or a restart): what the ledger says was issued in it */
		int64_t m = mw == minute && have ? mc : ledger_count_issued(db, agent, minute * 60000, now + 1);
		int64_t d = dw == day && have ? dc : ledger_count_issued(db, agent, day * 86400000, now + 1);
		if (m < 0 || d < 0) {
			pthread_mutex_unlock(&mu);
			oerr_set(e, 503, "temporarily_unavailable", "storage unavailable");
			return -1;
		}
		mw = minute, mc = m, dw = day, dc = d;
	}
	int over_min = per_minute && mc >= per_minute, over_day = per_day && dc >= per_day;
	if (over_min || over_day) {
		pthread_mutex_unlock(&mu);
		return used_up(e, over_day, per_minute, per_day, now);
	}
	v.n1 = mw << 32 | (mc + 1);
	v.n2 = dw << 32 | (dc + 1);
	if (enabled)
		strmap_put(&counts, agent, &v);
	pthread_mutex_unlock(&mu);
	return 0;
}

void quota_release(const char *agent, int64_t now)
{
	struct strmap_val v;
	pthread_mutex_lock(&mu);
	if (enabled && strmap_get(&counts, agent, &v)) {
		if ((v.n1 >> 32) == now / 60000 && (v.n1 & 0xffffffff) > 0)
			v.n1--;
		if ((v.n2 >> 32) == now / 86400000 && (v.n2 & 0xffffffff) > 0)
			v.n2--;
		strmap_put(&counts, agent, &v);
	}
	pthread_mutex_unlock(&mu);
}

/* What the database counted in the window (the ledger's count when the window has no row
 * yet: the first token of the window, or limits just set); -1 on error. */
static int64_t window_count(struct db *db, const char *agent, const char *win, int64_t start, int64_t from_ms,
			    int64_t now, int *have)
{
	struct db_stmt *st = db_prep(db, "SELECT n FROM quota_usage WHERE agent_id = ? AND win = ? AND start = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, agent);
	db_bind_text(st, 2, win);
	db_bind_int64(st, 3, start);
	int rc = db_step(st);
	int64_t n = rc == DB_ROW ? db_col_int64(st, 0) : -1;
	db_reset(st);
	*have = rc == DB_ROW;
	if (rc == DB_ROW)
		return n;
	return rc == DB_DONE ? ledger_count_issued(db, agent, from_ms, now + 1) : -1;
}

static int window_add(struct db *db, const char *agent, const char *win, int64_t start, int64_t n)
{
	struct db_stmt *st = db_prep(db, "INSERT INTO quota_usage(agent_id, win, start, n) VALUES (?,?,?,?)"
					 " ON CONFLICT (agent_id, win, start) DO UPDATE SET n = excluded.n");
	if (!st)
		return -1;
	db_bind_text(st, 1, agent);
	db_bind_text(st, 2, win);
	db_bind_int64(st, 3, start);
	db_bind_int64(st, 4, n);
	return db_step_done(st);
}

int quota_count_shared(struct db *db, const char *agent, int64_t per_minute, int64_t per_day, int64_t now,
		       struct oerr *e)
{
	DB_ASSERT_TX(db);
	if (db->engine == DB_SQLITE || (!per_minute && !per_day))
		return 0; /* one server per file: quota_reserve's count is exact */
	int64_t minute = now / 60000, day = now / 86400000;
	int hm, hd;
	int64_t m = window_count(db, agent, "m", minute, minute * 60000, now, &hm);
	int64_t d = m < 0 ? -1 : window_count(db, agent, "d", day, day * 86400000, now, &hd);
	if (m < 0 || d < 0)
		return -1;
	int over_min = per_minute && m >= per_minute, over_day = per_day && d >= per_day;
	if (over_min || over_day)
		return used_up(e, over_day, per_minute, per_day, now);
	if (window_add(db, agent, "m", minute, m + 1) < 0 || window_add(db, agent, "d", day, d + 1) < 0)
		return -1;
	return 0;
}

int quota_prune_due(struct db *db, int64_t now)
{
	struct db_stmt *st = db_prep(
		db, "SELECT 1 FROM quota_usage WHERE (win = 'm' AND start < ?) OR (win = 'd' AND start < ?) LIMIT 1");
	if (!st)
		return -1;
	db_bind_int64(st, 1, now / 60000 - 2);
	db_bind_int64(st, 2, now / 86400000 - 1);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

int quota_prune_job(struct db *db, void *arg)
{
	int64_t now = *(int64_t *)arg;
	struct db_stmt *st =
		db_prep(db, "DELETE FROM quota_usage WHERE (win = 'm' AND start < ?) OR (win = 'd' AND start < ?)");
	if (!st)
		return -1;
	db_bind_int64(st, 1, now / 60000 - 2);
	db_bind_int64(st, 2, now / 86400000 - 1);
	return db_step_done(st);
}
