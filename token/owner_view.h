/* owner_view.h - read-only views of an owner's agents for the owners' console: their
 * credentials, their last token, their live runs, and what they did per day.
 *
 * Each appends JSON to a buf (marked failed when it does not fit) and reads through the
 * caller's connection; none writes. The caller has checked that the agent is the owner's. */
#ifndef WARRANT_OWNER_VIEW_H
#define WARRANT_OWNER_VIEW_H
#include "../clients/agents.h"
#include "../common/buf.h"

#define OWNER_VIEW_RUNS_MAX 50   /* live runs listed per agent, newest first */
#define OWNER_VIEW_CREDS_MAX 100 /* credentials listed per agent, newest first */

/* [{"id","kind","created_at","expires_at","revoked_at","live","kid","jkt","subject"}]: the
 * agent's credentials (no verifier, no key material but the thumbprint). 0, or -1. */
int agent_credentials_json(struct db *db, const char *agent_id, struct buf *out);
/* The time (ms) of the agent's last token.issued row, 0 when none. 0, or -1. */
int agent_last_token(struct db *db, const char *agent_id, int64_t *ms);
/* [{"run_id","tokens","first_issued_at","expires_at"}]: runs of a that hold at least one
 * token active now by the ledger (not expired, not revoked, run not killed, issued after
 * the agent's last kill switch). 0, or -1. */
int agent_live_runs_json(struct db *db, const struct agent *a, struct buf *out);
/* [{"agent_id","day":"YYYY-MM-DD","event","n"}]: the owner's agents' token.issued,
 * action.allowed and action.denied rows per UTC day since since_ms, counted by event name
 * from the audit trail. 0, or -1. */
int owner_daily_activity_json(struct db *db, const char *owner_id, int64_t since_ms, struct buf *out);
#endif
