/* delegation.h - who may act for whom: the delegations between agents that RFC 8693 token
 * exchange (token/exchange.c) checks at every hop.
 *
 * A delegation (A, B, max_depth) lets agent B exchange a token of A for one of its own
 * whose chain (its number of `act` levels) is at most max_depth long. Only A's owner (over
 * /v1) or an operator (the command line) grants or withdraws one; each change is audited
 * (delegation.added, delegation.removed) and noted in the change log, so every node sees it
 * within a second, and a withdrawn delegation makes the tokens exchanged under it inactive. */
#ifndef WARRANT_DELEGATION_H
#define WARRANT_DELEGATION_H
#include "../clients/agents.h"
#include "../common/oerr.h"
#include "../store/db.h"

#include <jansson.h>
#include <stdint.h>

#define DELEGATION_DEPTH_DEFAULT 1 /* --max-depth when not given */
#define DELEGATION_DEPTH_MAX 5     /* the longest chain of `act` levels (SPEC) */

struct delegation_change {
	/* in */
	const char *agent_id;    /* A, the delegating agent */
	const char *delegate_id; /* B */
	int max_depth;           /* add: 1..DELEGATION_DEPTH_MAX */
	const char *owner_scope; /* /v1: A must be this owner's agent (404 otherwise); NULL: operator */
	const char *actor;       /* who changes it: the owner, or NULL for "system" */
	const char *client_addr, *request_id;
	/* out */
	struct agent agent, delegate;
	int replaced; /* add: an existing delegation got the new max_depth */
	int64_t created_at;
	struct oerr err;
};

/* The body of an add, for /v1 and the console alike: {"agent": "agt_...", "max_depth": n},
 * max_depth optional (DELEGATION_DEPTH_DEFAULT), nothing else. Sets r->delegate_id (it
 * points into body) and r->max_depth (0 when out of 1..DELEGATION_DEPTH_MAX, however large:
 * the add job refuses it); 0, or -1 with r->err set to 400 invalid_request. */
int delegation_body_parse(json_t *body, struct delegation_change *r);

/* Writer jobs. add: creates or updates (A, B, max_depth); 404 for an unknown or foreign A or
 * an unknown B, 400 invalid_request for A = B, a retired agent or a depth out of range.
 * remove: withdraws it; 404 when there is none. 0 done, 1 refused (err), -1 error. */
int delegation_add_job(struct db *db, void *arg);
int delegation_remove_job(struct db *db, void *arg);

/* The delegation A -> B as the database holds it now: 1 found (*max_depth, *created_ms
 * set), 0 none, -1 error. */
int delegation_get(struct db *db, const char *agent, const char *delegate, int *max_depth, int64_t *created_ms);

/* Calls emit with one JSON object {"agent","max_depth","created_at"} per delegate of agent,
 * oldest first. The count, or -1. */
long delegation_list(struct db *db, const char *agent, void (*emit)(void *arg, const char *json, size_t n), void *arg);
/* The other way round: one object {"agent","max_depth","created_at"} per agent that
 * delegates to delegate (the index delegations_delegate), oldest first. The count, or -1. */
long delegation_list_to(struct db *db, const char *delegate, void (*emit)(void *arg, const char *json, size_t n),
			void *arg);
#endif
