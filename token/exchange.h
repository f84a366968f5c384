/* exchange.h - RFC 8693 token exchange between agents: the grant's own parameters, the
 * subject token and the delegations it needs, the act claim of the new token, and the
 * record of its chain, so that every node can check the whole chain while it is used.
 *
 * The actor is the authenticated client (any credential kind, clients/auth.c); the subject
 * token is an access token of this server that is active now (token/live.h). The scope is
 * decided by the one access decision (authz/decision.h) with the subject's scope as bound.
 * The new token carries the subject's sub, owner_id, org_id, ws and run_id, client_id =
 * the actor, and act = {"sub": actor, "owner_id": its owner, "act": the subject's act}. */
#ifndef WARRANT_EXCHANGE_H
#define WARRANT_EXCHANGE_H
#include "../audit/audit.h"
#include "../authz/delegation.h"
#include "../core/warrant.h"
#include "verify.h"

#define TOKEN_EXCHANGE_GRANT "urn:ietf:params:oauth:grant-type:token-exchange"
#define TOKEN_TYPE_ACCESS "urn:ietf:params:oauth:token-type:access_token"
/* an act claim of DELEGATION_DEPTH_MAX levels of two ids, with its punctuation */
#define EXCHANGE_ACT_MAX (DELEGATION_DEPTH_MAX * (2 * ID_MAX + 40) + 1)
/* the chain column: DELEGATION_DEPTH_MAX "jti/cred_id" pairs */
#define EXCHANGE_CHAIN_MAX (DELEGATION_DEPTH_MAX * (40 + 64 + 2) + 1)

struct exchange {
	struct tok *subject;     /* the verified subject token (referenced; exchange_free) */
	int depth;               /* the new token's act levels */
	int64_t exp_s;           /* the subject's exp: the new token's is not later */
	char bound[VERBSET_MAX]; /* the subject's scope: the decision's bound */
	char act_json[EXCHANGE_ACT_MAX];
	char chain[EXCHANGE_CHAIN_MAX];
	char delegator[ID_MAX], delegator_owner[ID_MAX]; /* the subject's client (who delegates) */
	struct audit_event more[2];                      /* token.exchanged keyed to the other owners concerned */
	int nmore;
};

struct token_issue;

/* The grant's parameters, the subject token and the delegation, once the client is known:
 * fills t->ws and t->run_id and t->x. 0, 1 refused (t->err: 400 invalid_request with the
 * reason, RFC 8693 §2.2.2), -1 internal error. */
int exchange_parse(struct warrant *w, struct db *db, struct token_issue *t);
/* The token.exchanged rows for the subject's and the principal's owners, when they are not
 * the actor's (t->audit is the actor's row). */
void exchange_audit(struct token_issue *t);
/* Inside the issuing transaction: the chain row of the new token and the extra audit rows.
 * 0 or -1. */
int exchange_record(struct db *db, struct token_issue *t);
void exchange_free(struct exchange *x);

/* The chain above t (t->depth > 0), resolved from the database once and kept with the tok.
 * Returns it, or NULL with *rc 0 (unknown: never active) or -1 (database error). */
const struct tok_chain *exchange_chain(struct warrant *w, const struct tok *t, int *rc);
/* The tok of an exchanged token rebuilt from its ledger row (for what has the row, not the
 * token: the status lists): row's jti, client (sub), its owner, credential, run, times; the
 * principal and actors come from the ledger rows of the tokens above it. A new tok (refs 1,
 * chain resolved) or NULL with *rc 0 (its chain or a row of it is missing: never active)
 * or -1 (database error). */
struct tok *exchange_tok_rebuild(struct db *db, const struct tok *row, int *rc);
#endif
