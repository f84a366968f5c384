/* ciba_pace.c - the bounded table of CIBA polling paces; see ciba_pace.h. */
#include "ciba_pace.h"

#include "../common/strmap.h"
#include "ciba.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* n1 = last poll (ms), n2 = interval (s) */
static struct strmap polls;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* one poll's read and write together */
static _Atomic int64_t swept_minute;

static void init(void) { strmap_init_budget(&polls, 256, CIBA_PACE_BYTES); }

/* a request polled last before the cut has expired: it cannot be pending any more */
static int gone(const struct strmap_val *v, void *arg) { return v->n1 < *(int64_t *)arg; }

static void sweep(int64_t now)
{
	int64_t cut = now - (int64_t)CIBA_EXPIRES_IN * 1000;
	strmap_prune(&polls, gone, &cut);
}

/* PostgreSQL: the pace in the request's row, read and written by one statement under the
 * row's lock, so polls at every node count. */
static int pace_shared(struct db *db, const char *id, int64_t now, int64_t *interval)
{
	struct db_stmt *st = db_prep(
		db,
		"UPDATE approvals a SET polled_at = CAST(?2 AS BIGINT), poll_interval = CASE WHEN o.polled_at IS NOT"
		" NULL AND ?2 - o.polled_at < o.iv * 1000 THEN o.iv + CAST(?3 AS BIGINT) ELSE o.iv END"
		" FROM (SELECT id, polled_at, coalesce(poll_interval, CAST(?4 AS BIGINT)) AS iv FROM approvals"
		" WHERE id = ?1 FOR UPDATE) o WHERE a.id = o.id RETURNING a.poll_interval,"
		" CASE WHEN o.polled_at IS NOT NULL AND ?2 - o.polled_at < o.iv * 1000 THEN 1 ELSE 0 END");
	if (!st)
		return -1;
	db_bind_text(st, 1, id);
	db_bind_int64(st, 2, now);
	db_bind_int64(st, 3, CIBA_SLOW_DOWN_STEP);
	db_bind_int64(st, 4, CIBA_INTERVAL);
	int rc = db_step(st);
	int fast = 0;
	*interval = CIBA_INTERVAL;
	if (rc == DB_ROW) {
		*interval = db_col_int64(st, 0);
		fast = db_col_int(st, 1);
	}
	db_reset(st);
	return rc == DB_ERROR ? -1 : fast;
}

int ciba_pace_poll(struct db *db, const char *id, int64_t now, int64_t *interval)
{
	if (db && db->engine == DB_PG)
		return pace_shared(db, id, now, interval);
	pthread_once(&once, init);
	int64_t minute = now / 60000, seen_minute = atomic_load(&swept_minute);
	if (seen_minute != minute && atomic_compare_exchange_strong(&swept_minute, &seen_minute, minute))
		sweep(now);
	struct strmap_val v;
	pthread_mutex_lock(&mu);
	int seen = strmap_get(&polls, id, &v);
	if (!seen) {
		memset(&v, 0, sizeof v);
		v.n2 = CIBA_INTERVAL;
	}
	/* CIBA Core §11: polling faster than the interval is slow_down, and the interval grows */
	int fast = seen && now - v.n1 < v.n2 * 1000;
	if (fast)
		v.n2 += CIBA_SLOW_DOWN_STEP;
	v.n1 = now;
	if (strmap_put(&polls, id, &v) < 0) {
		sweep(now);
		strmap_put(&polls, id, &v); /* still full: this poll goes unrecorded */
	}
	pthread_mutex_unlock(&mu);
	*interval = v.n2;
	return fast;
}
