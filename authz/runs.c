/* runs.c - revoked runs; see runs.h. */
#include "runs.h"

#include "../common/strmap.h"

#include <stdatomic.h>
#include <stdio.h>

static struct strmap runs;
static atomic_int enabled;

/* agent ids hold no space: "agent run" is unambiguous */
static void run_key(char out[160], const char *agent, const char *run) { snprintf(out, 160, "%s %s", agent, run); }

int run_cache_enable(void)
{
	if (atomic_load(&enabled))
		return 0;
	if (strmap_init(&runs, 256) < 0)
		return -1;
	atomic_store(&enabled, 1);
	return 0;
}

int run_cache_add(const char *agent, const char *run)
{
	if (!atomic_load(&enabled))
		return 0;
	char k[160];
	struct strmap_val v = {0};
	run_key(k, agent, run);
	return strmap_put(&runs, k, &v);
}

int run_cache_has(const char *agent, const char *run)
{
	if (!atomic_load(&enabled))
		return 0;
	char k[160];
	run_key(k, agent, run);
	return strmap_get(&runs, k, NULL);
}

void run_cache_free(void)
{
	if (atomic_exchange(&enabled, 0))
		strmap_free(&runs);
}

int run_revoked(struct db *db, const char *agent, const char *run, int fresh)
{
	if (!fresh && atomic_load(&enabled))
		return run_cache_has(agent, run);
	struct db_stmt *st = db_prep(db, "SELECT 1 FROM revoked_runs WHERE agent_id = ? AND run_id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, agent);
	db_bind_text(st, 2, run);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}
