/* runs.h - revoked runs: the run kill switch refuses new tokens for (agent, run) for good.
 *
 * A server keeps the set in memory (enabled by token/live.c, which loads it at start and
 * adds to it as state_changes arrive, in order); the command line and fresh decisions read
 * the revoked_runs table. */
#ifndef WARRANT_RUNS_H
#define WARRANT_RUNS_H
#include "../store/db.h"

/* 1 when new tokens for (agent, run) are refused, 0 when not, -1 on a database error.
 * fresh: read the table even when the set is in memory (inside the writer). */
int run_revoked(struct db *db, const char *agent, const char *run, int fresh);

/* The in-memory set. run_cache_has() answers from it alone (0 when it is not enabled). */
int run_cache_enable(void);
int run_cache_add(const char *agent, const char *run);
int run_cache_has(const char *agent, const char *run);
void run_cache_free(void);
#endif
