/* ciba.h - human approval for high-risk verbs: OpenID CIBA in poll mode.
 *
 * A workspace marks verbs approval-required; plain client_credentials never issues them.
 * The agent asks at /bc-authorize, its owner approves or denies, and the agent polls
 * /token with the CIBA grant; once approved it gets one short token (at most 60 s) that
 * names the approver. Every step is audited with the agent and the approving owner. */
#ifndef WARRANT_CIBA_H
#define WARRANT_CIBA_H
#include "../audit/audit.h"
#include "../clients/auth.h"
#include "../common/form.h"
#include "../core/warrant.h"
#include "issue.h"

#define CIBA_GRANT "urn:openid:params:grant-type:ciba"
#define CIBA_EXPIRES_IN 300   /* seconds a request waits for its owner */
#define CIBA_INTERVAL 2       /* seconds between polls */
#define CIBA_TOKEN_TTL_MAX 60 /* seconds an approved token lives at most */
#define BINDING_MESSAGE_MAX 256

/* POST /bc-authorize: validates and creates the request (a writer job follows). */
struct bc_request {
	struct client_cred cred;
	const struct form *form;
	const char *client_addr, *request_id;
	/* out */
	struct agent agent;
	char id[ID_MAX];
	char ws[ID_MAX];
	char scope[VERBSET_MAX];
	char run_id[RUN_ID_MAX + 1];
	char binding[BINDING_MESSAGE_MAX + 1];
	int ok;
	struct oerr err;
	struct audit_event audit;
};
/* Authenticates the agent and decides (authz/decision.h) without writing. 0 (ok set, or
 * err set), -1 internal error. b->audit holds the event to commit either way. */
int bc_authorize_prepare(struct warrant *w, struct bc_request *b);
/* Wipes the credentials and frees the event. */
void bc_request_free(struct bc_request *b);
/* Writer job: stores an accepted request and audits approval.requested (or the refusal). */
int bc_authorize_job(struct db *db, void *arg);

/* The CIBA grant at /token, after the client authenticated: finds the approval. Returns 0
 * when it is approved (t->ws, t->scope, t->run_id, t->approval_id and t->approved_by set;
 * the access decision then checks them, and token_issue_job() redeems the approval in the
 * same transaction as the audit row), 1 with t->err (authorization_pending, slow_down,
 * access_denied, expired_token, invalid_grant), -1. */
int ciba_lookup(struct db *db, struct token_issue *t, slice auth_req_id);
/* Inside token_issue_job: marks the approval redeemed; 1 when someone redeemed it first. */
int ciba_redeem(struct db *db, const char *approval_id, const char *agent_id, const char *jti);

/* Owners' side. */
struct approval_decision {
	const char *id, *owner_id; /* the owner must be the agent's owner (404 otherwise) */
	int approve;
	const char *client_addr, *request_id;
	char agent_id[ID_MAX];
	struct oerr err;
};
int approval_decide_job(struct db *db, void *arg);
/* Pending requests (of owner_id when not NULL) as JSON objects. Returns count or -1. */
long approval_list(struct db *db, const char *owner_id, void (*emit)(void *arg, const char *json, size_t n), void *arg);

struct approval_verbs {
	const char *workspace_id, *verbs;
	char canon[VERBSET_MAX];
	struct oerr err;
};
/* Writer job: sets a workspace's approval-required verbs. */
int workspace_approval_job(struct db *db, void *arg);
#endif
