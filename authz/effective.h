/* effective.h - the one place that decides what an agent may do (signed-agent inheritance).
 *
 * effective(agent, W) = grant ∩ (O ∪ V), where O is the owner's verbs in W when the owner
 * is a member of W (W may be in another org: trust follows the owner) and V is W's
 * org-wide verbs when W is org_visible and in the agent's own org; empty when W lies
 * outside the agent's workspace limit. Always computed from the records, never stored. */
#ifndef WARRANT_EFFECTIVE_H
#define WARRANT_EFFECTIVE_H
#include "../clients/agents.h"
#include "../common/verbs.h"

/* Fills out with the effective verbs of a in ws and approval with ws's approval-required
 * verbs (either may be NULL). Returns the number of effective verbs (0 when ws does not
 * exist or gives nothing), -1 on a database error. Ignores the agent's status: callers
 * check lifecycle separately. */
int effective_verbs(struct db *db, const struct agent *a, const char *ws, char out[VERBSET_MAX],
		    char approval[VERBSET_MAX]);

/* The same, always computed from the records (inside a writer transaction). */
int effective_verbs_fresh(struct db *db, const struct agent *a, const char *ws, char out[VERBSET_MAX],
			  char approval[VERBSET_MAX]);

/* The server keeps computed answers in memory once enabled; token/live.c clears them when
 * state_changes say memberships, workspaces or agents changed. Answers for workspaces
 * that do not exist are not kept. The cache holds at most EFFECTIVE_CACHE_ENTRIES answers
 * in EFFECTIVE_CACHE_BYTES (records, keys, nodes and buckets); past either, older answers
 * near the new one make room. */
#define EFFECTIVE_CACHE_ENTRIES 200000
#define EFFECTIVE_CACHE_BYTES (16u << 20)
void effective_cache_enable(void);
void effective_cache_clear(void);
size_t effective_cache_bytes(void);

/* The one workspace in which a has effective verbs. Returns 1 (ws_out set), 0 when there
 * is none, 2 when there are several, -1 on a database error. */
int effective_default_workspace(struct db *db, const struct agent *a, char ws_out[ID_MAX]);
/* The same, always computed from the records (inside a writer transaction). */
int effective_default_workspace_fresh(struct db *db, const struct agent *a, char ws_out[ID_MAX]);
#endif
