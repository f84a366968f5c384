/* prune.h - forgetting what no server needs any more: revocations of tokens that have
 * expired (plus leeway), and change-log rows every server applied long ago (an hour
 * before that cutoff). */
#ifndef WARRANT_TOKEN_PRUNE_H
#define WARRANT_TOKEN_PRUNE_H
#include "../store/db.h"

#include <stdint.h>

/* 1 when a revocation expired before cutoff_s (seconds) or a change row is older than an
 * hour before it; 0 when nothing is; -1 on a database error. Reads only. */
int stale_rows_due(struct db *db, int64_t cutoff_s);
/* Writer job (arg: an int64_t cutoff in seconds): deletes those rows. 0 or -1. */
int stale_rows_prune_job(struct db *db, void *arg);
#endif
