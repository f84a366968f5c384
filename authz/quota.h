/* quota.h - per-agent token quotas: tokens per UTC minute and per UTC day.
 *
 * Windows are fixed and aligned to the UTC minute and day. Only issued tokens count: a
 * request reserves a unit before minting and gives it back if the token is not handed
 * out. Counting is in memory, exact under concurrency within one server process, and
 * seeded from the token ledger the first time an agent is seen in a window, so a restart
 * does not reset the day. */
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
#endif
