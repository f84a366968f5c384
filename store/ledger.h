/* ledger.h - the token ledger: what every issued token is (its jti, agent, owner,
 * credential, run, workspace, scope, audiences, times and, for an exchanged token, its
 * parent), one row each, written in the same transaction as the token's audit row.
 *
 * Whatever must find tokens reads it: membership cascades (which live tokens does a change
 * make wrong), revocation by jti, quota windows. Nothing reads the audit trail's details for
 * that. Rows are kept LEDGER_KEEP_MS after issuance (quota days need one). A row's id is
 * its issue time (ledger.c), so a jti is found by a short range and pruning takes a range
 * from the start: besides the table, one index, (agent_id, iat). Each is a B-tree insert per
 * token for the writer (measured with `make bench-writer`, docs/performance.md). */
#ifndef WARRANT_LEDGER_H
#define WARRANT_LEDGER_H
#include "../common/rand.h"
#include "db.h"

#include <stdint.h>

#define LEDGER_KEEP_MS (2 * 86400 * 1000LL)

struct ledger_entry {
	const char *jti, *agent_id, *owner_id, *cred_id, *run_id, *ws;
	const char *scope;      /* canonical verb set; NULL: unknown (cascades revoke it) */
	const char *aud_json;   /* a JSON array of strings */
	const char *parent_jti; /* NULL unless exchanged */
	int64_t iat_ms, exp_s;
	int64_t status_list, status_idx; /* its Token Status List bit (token/statuslist.h); list 0: none */
};
/* Records a token inside the caller's transaction. 0 or -1. */
int ledger_insert(struct db *db, const struct ledger_entry *e);

/* Removes the row of jti issued at iat_ms (a record taken back inside the same
 * transaction). 0 or -1. */
int ledger_forget(struct db *db, const char *jti, int64_t iat_ms);

/* A token found by its jti; strings are copies. */
struct ledger_row {
	char jti[64], agent_id[ID_MAX], owner_id[ID_MAX], run_id[80], ws[ID_MAX];
	int64_t iat_ms, exp_s;
};
/* The row of jti, whose issue time iat_ms the jti itself carries (token/mint.h jti_time; -1:
 * not one of ours, so not found). 1 found, 0 not, -1 error. */
int ledger_find(struct db *db, const char *jti, int64_t iat_ms, struct ledger_row *out);

/* Calls fn for each token of agent in ws that is alive at now_s (exp > now_s), with its
 * scope (NULL when unknown). fn returns 0 to go on, non-zero to stop with that value.
 * Returns 0, fn's value, or -1. The rows are read before fn is called (fn may write). */
int ledger_each_live(struct db *db, const char *agent, const char *ws, int64_t now_s,
		     int (*fn)(void *arg, const char *jti, const char *scope, int64_t exp_s), void *arg);

/* Tokens of agent issued in [from_ms, to_ms), or -1. */
int64_t ledger_count_issued(struct db *db, const char *agent, int64_t from_ms, int64_t to_ms);

/* Writer job: forgets rows issued before before_ms whose tokens expired before it too, at most
 * LEDGER_PRUNE_CHUNK a call, oldest first; deleted says how many. */
#define LEDGER_PRUNE_CHUNK 5000
struct ledger_prune {
	int64_t before_ms;
	int deleted;
};
int ledger_prune_job(struct db *db, void *arg);
/* 1 when some row was issued before before_ms, 0 when not, -1 on error. Reads only. */
int ledger_prune_due(struct db *db, int64_t before_ms);
#endif
