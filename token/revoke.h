/* revoke.h - revocation: one token (RFC 7009 and the command line), a run, or every token
 * an agent holds so far. Each is a writer job: the revocation, its state_changes row and
 * its audit row commit together, before anyone is told it is done. */
#ifndef WARRANT_REVOKE_H
#define WARRANT_REVOKE_H
#include "../audit/audit.h"
#include "../clients/auth.h"
#include "../common/form.h"
#include "../core/warrant.h"

enum revoke_kind { REVOKE_JTI, REVOKE_RUN, REVOKE_AGENT };

struct revocation {
	/* in */
	enum revoke_kind kind;
	const char *jti, *run_id, *agent_id;
	const char *owner_scope;                     /* /v1: act only on this owner's agents (404 otherwise) */
	int64_t exp;                                 /* the token's exp (s) when known; 0 = find it */
	const char *owner_id, *token_run, *token_ws; /* known from a verified token: no look-up */
	const char *actor, *client_addr, *request_id;
	/* out */
	int count; /* tokens, runs or agents affected */
	struct oerr err;
};
/* 0 done, 1 refused (err), -1 database error. */
int revoke_job(struct db *db, void *arg);

/* POST /revoke (RFC 7009): the agent authenticates as at /token; its own token is revoked,
 * anything else is acknowledged and left alone. */
struct token_revocation {
	struct client_cred cred;
	const struct form *form;
	const char *client_addr, *request_id;
	int refused; /* the caller was refused: answer err */
	int revoke;  /* a live token of the caller's: revoke it */
	struct revocation rev;
	char jti[40], agent_id[64], owner_id[64], run_id[72], ws[64];
	struct oerr err;
	struct audit_event audit; /* written when nothing is revoked */
};
/* Decides (no writes). Returns 0, or -1 on an internal error (err set). */
int token_revoke_prepare(struct warrant *w, struct token_revocation *r);
/* Wipes the credentials and frees the event. */
void token_revocation_free(struct token_revocation *r);
/* The writer job that carries the decision out: the revocation or the audit row. */
int token_revoke_job(struct db *db, void *arg);
#endif
