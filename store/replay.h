/* replay.h - single-use identifiers: the `jti` of a client assertion (RFC 7523 §3) or of a
 * DPoP proof (RFC 9449 §11.1), accepted once. The table is in the database, so every
 * server sharing it (a PostgreSQL cluster) refuses a second use at any node; each claim is
 * one statement, atomic on its own or inside the caller's transaction. */
#ifndef WARRANT_REPLAY_H
#define WARRANT_REPLAY_H
#include "db.h"

#include <stdint.h>

#define REPLAY_ID_MAX 256 /* longer identifiers are refused (-1) */

/* Claims id for kind ("assertion", "dpop"...) until exp_s (seconds; the identifier is
 * remembered until then). 1 the first use (recorded), 0 seen before, -1 error or an id
 * over REPLAY_ID_MAX. */
int replay_claim(struct db *db, const char *kind, const char *id, int64_t exp_s);
/* 1 when identifiers expired before now_s are kept, 0 none, -1 error. */
int replay_prune_due(struct db *db, int64_t now_s);
/* Writer job: forgets identifiers expired before *(int64_t *)arg (seconds). */
int replay_prune_job(struct db *db, void *arg);
#endif
