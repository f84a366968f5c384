/* ciba_pace.h - the polling pace of CIBA requests (OpenID CIBA Core §7.3, §11), and the
 * cap on an agent's pending requests.
 *
 * The pace of each pending request is kept in memory, in a table of at most
 * CIBA_PACE_BYTES; an entry goes once its request can no longer be pending (a request
 * lives CIBA_EXPIRES_IN seconds), swept once a minute. Should the table still be full,
 * a poll is answered at the plain interval without being recorded: the pace protects
 * the server's time, not a secret. */
#ifndef WARRANT_CIBA_PACE_H
#define WARRANT_CIBA_PACE_H
#include "../store/db.h"

#include <stdint.h>

#define CIBA_PENDING_MAX 20        /* pending requests per agent; more: 400 invalid_request */
#define CIBA_PACE_BYTES (4u << 20) /* the pace table */
#define CIBA_SLOW_DOWN_STEP 5      /* seconds added to the interval by each slow_down (§11) */

/* Records a poll of auth_req_id (a pending request) at now (ms). Returns 1 when it came
 * sooner than the request's interval (slow_down: the interval grew by CIBA_SLOW_DOWN_STEP),
 * 0 otherwise; *interval is the interval now asked for, in seconds. On SQLite (one server
 * per file; db may be NULL) it never fails; on PostgreSQL the pace is kept in the request's row so that
 * polls at every node count, and -1 is a database error. */
int ciba_pace_poll(struct db *db, const char *auth_req_id, int64_t now_ms, int64_t *interval);
#endif
