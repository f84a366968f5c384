/* decision.h - the one access decision: may this agent have these verbs, here, now?
 *
 * Every way to a token asks it: plain issuance (client_credentials), a request for a
 * human's approval (/bc-authorize), the redemption of an approved request, and, with an
 * extra bound, token exchange. It checks, in order: the agent's and its owner's status,
 * the run kill switch, the workspace (named or the agent's only one), the effective verbs
 * there (signed-agent inheritance, authz/effective.h), the requested scope against them,
 * and approval-required verbs. Errors are RFC 6749 §5.2 shaped, each with a reason for the
 * audit trail. */
#ifndef WARRANT_DECISION_H
#define WARRANT_DECISION_H
#include "../clients/agents.h"
#include "../common/slice.h"
#include "../common/verbs.h"

enum access_purpose {
	ACCESS_ISSUE,        /* client_credentials: never an approval-required verb */
	ACCESS_CIBA_REQUEST, /* /bc-authorize: a scope is required; approval-required verbs allowed */
	ACCESS_CIBA_REDEEM,  /* an approved request: the approved verbs must still be allowed */
};

struct access_request {
	enum access_purpose purpose;
	const struct agent *agent;
	slice workspace;    /* requested; empty: the one workspace where the agent has verbs */
	slice scope;        /* requested verbs; empty (ISSUE): every effective verb needing no approval */
	const char *run_id; /* checked against the run kill switch when set */
	const char *bound;  /* an extra bound on the verbs (a canonical set), or NULL */
	int fresh;          /* decide from the records, not the server's caches (the writer) */
};

struct access_decision {
	char ws[ID_MAX];         /* set once chosen, also when a later check refuses */
	char scope[VERBSET_MAX]; /* canonical */
	struct oerr err;         /* when refused: status, error code, description and reason */
};

/* 0 allowed (d->ws and d->scope set), 1 refused (d->err set), -1 on a database error (d->err
 * is a 500). */
int access_decide(struct db *db, const struct access_request *q, struct access_decision *d);

/* Workspace ids as a client may send them: "ws_" and 1 or more bytes, shorter than ID_MAX. */
int workspace_id_valid(slice s);
#endif
