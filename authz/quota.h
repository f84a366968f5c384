/* quota.h - per-agent token quotas: tokens per UTC minute and per UTC day.
 *
 * Windows are fixed and aligned to the UTC minute and day. Only issued tokens count: a
 * request reserves a unit before minting and gives it back if the token is not handed
 * out. Counting is in memory, exact under concurrency within one server process, and
 * seeded from the token ledger the first time an agent is seen in a window, so a restart
 * does not reset the day. Servers sharing a PostgreSQL database also count each token in
 * the database as it is recorded (quota_count_shared): the memory count, never above the
 * cluster's, refuses early; the database's decides. */
#ifndef WARRANT_QUOTA_H
#define WARRANT_QUOTA_H
#include "../common/oerr.h"
#include "../store/db.h"

#include <stdint.h>

/* Reserves one token for agent under the limits (0 = unlimited). Returns 0 reserved, 1
 * over a limit (e: 429 rate_limited with retry_after), -1 error. db seeds a window. */
int quota_reserve(struct db *db, const char *agent, int64_t per_minute, int64_t per_day, int64_t now_ms,
		  struct oerr *e);
/* Gives back a reservation made at now_ms (the token was not handed out). */
void quota_release(const char *agent, int64_t now_ms);
void quota_enable(void);
/* In the issuing transaction (the writer, holding the cluster-wide writer lock): counts the
 * token in the database's windows, so the limits hold for the cluster when several servers
 * share a PostgreSQL database. 0 counted (or nothing to count: no limits, or SQLite, where
 * one server issues from a file and quota_reserve is exact), 1 over a limit (e: 429), -1
 * error. */
int quota_count_shared(struct db *db, const char *agent, int64_t per_minute, int64_t per_day, int64_t now,
		       struct oerr *e);
/* 1 when windows ended long enough ago to forget are kept, 0 none, -1 error. */
int quota_prune_due(struct db *db, int64_t now);
/* Writer job: forgets windows that have ended (arg: int64_t now in ms). */
int quota_prune_job(struct db *db, void *arg);
#endif
