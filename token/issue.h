/* issue.h - the client_credentials grant (RFC 6749 §4.4): from a parsed request to a
 * signed token or an RFC 6749 §5.2 refusal, with the audit event that reports either.
 *
 * The caller must commit t->audit (audit_job) before it answers: nothing is handed out
 * that the audit trail does not hold. */
#ifndef WARRANT_ISSUE_H
#define WARRANT_ISSUE_H
#include "../audit/audit.h"
#include "../clients/agents.h"
#include "../clients/auth.h"
#include "../common/form.h"
#include "../core/warrant.h"
#include "mint.h"

#define RUN_ID_MAX 64

struct token_issue {
	/* in */
	struct client_cred cred;
	const struct form *form;
	const char *client_addr;
	const char *request_id;
	/* out */
	struct buf jwt;            /* the access token; wiped by token_issue_free() */
	char scope[VERBSET_MAX];
	char run_id[RUN_ID_MAX + 1];
	char jti[JTI_MAX];
	int expires_in;
	struct agent agent;
	struct oerr err;
	struct audit_event audit;
	int64_t seen_seq;          /* the change log's end in the snapshot read */
	int64_t quota_ms;          /* when a quota unit was reserved; 0 = none */
	char approval_id[ID_MAX];  /* CIBA: the approval redeemed by this token */
	char approved_by[ID_MAX];
};

/* 1 when s is a valid run id: 1-64 of [A-Za-z0-9._:-]. */
int run_id_valid(slice s);
/* Returns 0 issued, 1 refused (t->err set), -1 internal error (t->err is a 500). In every
 * case t->audit holds the event to commit. */
int token_issue(struct warrant *w, struct token_issue *t);
/* Records a refusal decided before token_issue() could run (wrong content type, malformed
 * body, bad client credentials): copies e and fills t->audit. */
void token_issue_refuse(struct token_issue *t, const struct oerr *e);
/* Gives back the quota unit of a token that was not handed out. */
void token_issue_unreserve(struct token_issue *t);
void token_issue_free(struct token_issue *t);
/* The writer job that records the outcome (t->audit). It withholds an issued token, and
 * records a refusal instead, when access changed after the snapshot the token was
 * computed from: nothing is handed out that a committed change has taken away. */
int token_issue_job(struct db *db, void *arg);
#endif
