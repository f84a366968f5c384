/* issue.h - /token: from a parsed request to a signed token or an RFC 6749 §5.2 refusal,
 * with the audit event and the ledger row that record it. One pipeline for every grant
 * (client_credentials, RFC 6749 §4.4; the CIBA grant; token exchange, RFC 8693): parse,
 * authenticate, decide (authz/decision.h), quota, mint, record.
 *
 * The caller must commit the outcome (token_issue_job) before it answers: nothing is
 * handed out that the audit trail and the ledger do not hold. */
#ifndef WARRANT_ISSUE_H
#define WARRANT_ISSUE_H
#include "../audit/audit.h"
#include "../clients/agents.h"
#include "../clients/auth.h"
#include "../common/form.h"
#include "../common/uri.h"
#include "../core/warrant.h"
#include "dpop.h"
#include "exchange.h"
#include "mint.h"

#define RUN_ID_MAX 64

struct token_issue {
	/* in */
	struct client_cred cred;
	const struct form *form;
	const char *client_addr;
	const char *request_id;
	const char *dpop; /* the DPoP header's value (RFC 9449 §4.1), or NULL */
	size_t dpop_len;
	int dpop_count; /* DPoP headers in the request: more than one is refused */
	/* out */
	struct warrant *w;
	int ciba;     /* the CIBA grant */
	int exchange; /* the token-exchange grant (RFC 8693) */
	struct exchange x;
	struct buf jwt; /* the access token; wiped by token_issue_free() */
	char ws[ID_MAX];
	char scope[VERBSET_MAX];
	char aud[AUD_MAX][URI_MAX + 1];
	int naud;
	char run_id[RUN_ID_MAX + 1];
	char jti[JTI_MAX];
	int expires_in;
	struct agent agent;
	struct oerr err;
	struct audit_event audit;
	int64_t seen_seq;         /* the change log's end in the snapshot read */
	int64_t quota_ms;         /* when a quota unit was reserved; 0 = none */
	int64_t issued_ms;        /* iat of the minted token */
	char approval_id[ID_MAX]; /* CIBA: the approval redeemed by this token */
	char approved_by[ID_MAX];
	int dpop_bound;                      /* a good proof came: the token is DPoP-bound */
	struct dpop_proof proof;             /* its key thumbprint, jti and iat */
	struct oerr dpop_err;                /* a proof's refusal, applied once the client is known */
	char dpop_nonce[DPOP_NONCE_LEN + 1]; /* with serve --dpop-nonce: sent as DPoP-Nonce */
	/* the token's Token Status List bit (token/statuslist.h); list 0: none */
	int64_t status_list, status_idx;
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
/* The writer job that records the outcome: the ledger row and the audit row of an issued
 * token, or the refusal. When access changed after the snapshot the token was computed
 * from (a change another process made), it decides again from the records as they are
 * now: the token is handed out only if that decision allows it (minted anew if its scope or
 * workspace changed), else the request is refused with that decision's error. No request
 * fails because a change was not seen yet; nothing is handed out that a change took away. */
int token_issue_job(struct db *db, void *arg);
#endif
