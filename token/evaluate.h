/* evaluate.h - access decisions for resource servers (OpenID AuthZEN Authorization API 1.0,
 * and forward authentication at /check): may this agent's token do this action here?
 *
 * One rule, the same wherever it is asked: the token is active for the calling resource
 * server exactly as /introspect would say (token_active_for), its `sub` or `act.sub` is
 * the subject (when one is named), and its scope holds the action (when one is named).
 * Every evaluation yields one audit event, action.allowed or action.denied, keyed to the
 * acting agent and its owner; a denial's reason names the rule, never token contents. */
#ifndef WARRANT_EVALUATE_H
#define WARRANT_EVALUATE_H
#include "../audit/audit.h"
#include "../clients/auth.h"
#include "../common/verbs.h"
#include "../core/warrant.h"
#include "verify.h"

#define EVAL_BATCH_MAX 64         /* evaluations in one /access/v1/evaluations request; more is 400 */
#define EVAL_FIELD_MAX 256        /* bytes of a subject id or type, action name, resource type or id */
#define EVAL_CLAIMS_CACHE 8192    /* tokens whose scope and actor are kept parsed (about 4 MB) */
#define EVAL_CLAIMS_SCOPE_MAX 256 /* bytes of a scope kept there; longer ones are parsed each time */

/* The reasons a decision is false (SPEC "Access decisions"), as sent and audited. */
#define EVAL_NO_TOKEN "token_missing"
#define EVAL_INACTIVE "token_inactive"
#define EVAL_AUDIENCE "audience"
#define EVAL_SUBJECT "subject_mismatch"
#define EVAL_SCOPE "action_not_in_scope"
#define EVAL_DPOP "dpop_required"    /* a DPoP-bound token presented as a bearer token */
#define EVAL_DPOP_PROOF "dpop_proof" /* the DPoP scheme without a good proof for the token's key */

/* The calling resource server, authenticated once per request. */
struct rs_caller {
	struct client_identity who;
	const char *client_addr, *request_id;
	const char *via; /* "evaluation" or "check": the endpoint, put in the trail */
};

/* Authenticates the caller as a resource server exactly as /introspect does
 * (client_authenticate, CLIENT_RESOURCE: bad credentials 401 invalid_client, an agent's 403).
 * Returns 0, 1 refused (*err set), -1 on a database error (*err a 503). On a refusal or an
 * error ev holds the action.denied event to commit (summarized when nobody is known). */
int rs_caller_authenticate(struct warrant *w, struct client_cred *cred, struct rs_caller *rc, struct oerr *err,
			   struct audit_event *ev);

struct evaluation {
	/* in: NUL-terminated strings owned by the caller; NULL when not given */
	const char *subject_type, *subject_id; /* subject_id NULL: any subject (/check) */
	const char *action;                    /* NULL: no action asked (/check without a verb) */
	const char *resource_type, *resource_id;
	const char *token; /* the agent's access token, token_len bytes; NULL: none */
	size_t token_len;
	/* key binding (RFC 9449 §7.1), only where the request itself is seen (/check): dpop_jkt
	 * NULL leaves it to the resource server (AuthZEN); else dpop says the DPoP scheme was used
	 * and dpop_jkt is the thumbprint of its proof's key ("" when the proof was not good). */
	int dpop;
	const char *dpop_jkt;
	/* out */
	int decision;
	const char *reason; /* static; NULL when allowed */
	struct tok *tok;    /* referenced when the token verified (evaluation_free releases it) */
	char scope[VERBSET_MAX];
	char jkt[96];                            /* the token's cnf.jkt, "" when it is a bearer token */
	char act_sub[ID_MAX], act_owner[ID_MAX]; /* an exchanged token's actor and its owner, else "" */
};

/* Decides e for caller rc and fills ev with its action.allowed/action.denied event (or,
 * with no action, a token.introspected one: a /check that asks only "is this token
 * active"). Returns 0 decided, -1 on a database error (ev then an "error" row). */
int token_evaluate(struct warrant *w, const struct rs_caller *rc, struct evaluation *e, struct audit_event *ev);
void evaluation_free(struct evaluation *e);
/* (Re)builds ev from e as decided: after a later refusal (a replayed DPoP proof) too. */
void evaluation_event(const struct rs_caller *rc, const struct evaluation *e, int error, struct audit_event *ev);

struct dpop_proof;
/* RFC 9449 §4.3 at a resource server: checks a DPoP proof of n bytes for a request of method
 * htm to URL htu (no query) carrying e->token: signature, typ, iat window, htm, htu (through
 * token/dpop.c's dpop_check) and ath, the hash of the token (§4.2). Sets e->dpop and
 * e->dpop_jkt (out->jkt, or "" when the proof is not good; *why says why). The jti is not
 * claimed here: the caller's writer job claims it (dpop_claim) before the answer. */
void evaluation_dpop(struct evaluation *e, const char *proof, size_t n, const char *htm, const char *htu, int64_t now_s,
		     struct dpop_proof *out, const char **why);

/* A writer job inserting the n events of an array (struct audit_batch): one commit for a
 * whole /access/v1/evaluations request. */
struct audit_batch {
	struct audit_event *ev;
	size_t n;
};
int audit_batch_job(struct db *db, void *batch);
#endif
