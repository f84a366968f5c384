/* live.h - the live state that decides whether a verified token is active *now*:
 * revoked jtis, revoked runs, revoked credentials, agents' lifecycle and kill times,
 * owners' status.
 *
 * Every change of that state is written, in the same transaction, as a row of
 * state_changes (store/changes.h). A server keeps the state in memory and applies those
 * rows in order: its own writer right after each commit (before anyone is told the
 * change is done), and a poll every HOUSEKEEPING_INTERVAL_MS (sched/housekeeping.h) for other processes (the command
 * line). Agents and owners are loaded on first use; nothing else reads the disk. */
#ifndef WARRANT_LIVE_H
#define WARRANT_LIVE_H
#include "../core/warrant.h"
#include "../store/changes.h"
#include "verify.h"

/* Loads the current state (server start). 0 or -1. */
int live_init(struct db *db);
/* Applies changes committed since the last call; returns how many, or -1. Serialised. */
int live_poll(struct db *db);
/* 1 active, 0 inactive (*why set), -1 database error. Checks time (no leeway on exp),
 * the jti, the run, the credential, the agent (status, kill time) and the owner; for an
 * exchanged token (RFC 8693), the same of every token above it and every delegation of its
 * chain (a plain token pays one comparison for that). */
int live_check(struct warrant *w, const struct tok *t, const char **why);
/* The delegations of a chain: clients[0] (the principal) delegated to clients[1], which
 * delegated to clients[2], and so on to clients[n-1]; each must exist, allow depth act
 * levels, and be older than issued_ms[k], when clients[k] got its token by it. 1 they all
 * hold, 0 not (*why "no_delegation" or "delegation_depth"), -1 database error. From the
 * server's cache, which the change log keeps exact. */
int live_delegations_hold(struct warrant *w, const char *const *clients, const int64_t *issued_ms, int n, int depth,
			  const char **why);
/* Forgets revocations of tokens that have expired; returns how many. */
size_t live_prune(int64_t now_s, int leeway);
/* The last change applied: token issuance records it to detect changes that commit
 * while a token is being minted from the caches. */
int64_t live_last_seq(void);
/* 1 when uri is the audience of a registered resource server. */
int live_audience_known(const char *uri);
/* Applies pending changes now if the change log is ahead of us (one cheap query when it
 * is not). Returns how many were applied, 0 when up to date, -1 on error. Used before
 * refusing a client whose credentials another process may have just changed. */
int live_catch_up(struct db *db);
/* 1 in a server (after live_init): live state and caches are in memory. */
int live_ready(void);
/* Turns on the caches of clients/ and authz/ that this module keeps exact. */
void live_enable_caches(void);
/* How many changes the server has applied; for metrics and tests. */
long live_applied(void);
void live_free(void);
#endif
