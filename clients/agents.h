/* agents.h - agents as OAuth clients: records, creation, credentials, secret checks.
 *
 * Creation functions are writer jobs (they run inside the caller's transaction and write
 * their own audit rows there); their struct carries inputs and outputs, including an oerr
 * for refusals. Returned secrets are shown once: callers wipe them after printing. */
#ifndef WARRANT_AGENTS_H
#define WARRANT_AGENTS_H
#include "../common/jose.h"
#include "../common/oerr.h"
#include "../common/rand.h"
#include "../common/verbs.h"
#include "../store/db.h"

#include <stdint.h>

#define NAME_MAX_LEN 128
#define AGENT_WS_MAX 32

struct agent {
	char id[ID_MAX];
	char org_id[ID_MAX];
	char owner_id[ID_MAX];
	char name[NAME_MAX_LEN];
	char verbs[VERBSET_MAX]; /* the grant, canonical */
	char status[16];         /* active | suspended | retired */
	char owner_status[16];   /* active | deactivated */
	int64_t tokens_before;   /* ms: tokens issued earlier are dead */
	int64_t per_minute, per_day;
	int64_t created_at;
	int dpop_required;    /* its token requests must carry a DPoP proof (RFC 9449) */
	char cred_id[ID_MAX]; /* set by client_authenticate: the credential used */
};

/* 1 found, 0 no such agent, -1 database error. */
int agent_load(struct db *db, const char *id, struct agent *a);
/* "Own agents only": loads agent id for a caller limited to owner_scope's agents (NULL: any
 * agent, the operator's command line). 1 found, 0 with 404 not_found in *e for an agent
 * that does not exist or is another owner's (the answer never says which), -1 error. */
int agent_load_owned(struct db *db, const char *id, const char *owner_scope, struct agent *a, struct oerr *e);

struct agent_new {
	/* in */
	const char *owner_id, *name, *verbs;
	const char *workspaces[AGENT_WS_MAX];
	int nws;
	int64_t per_minute, per_day;
	int dpop_required;
	const char *actor; /* who asks: the owner or "system" (command line) */
	const char *client_addr;
	const char *request_id;
	const char *jwk; /* a public JWK's JSON text: the first credential is that key, no secret */
	size_t jwk_len;
	/* out */
	struct agent agent;
	char cred_id[ID_MAX];
	char secret[SECRET_LEN + 1];                       /* "" when created with a key */
	char kid[JOSE_KID_MAX + 1], jkt[JOSE_JKT_LEN + 1]; /* with a key: its kid and RFC 7638 thumbprint */
	struct oerr err;
};
/* Writer job: validates, creates the agent and its first credential, audits both. Returns
 * 0, 1 when refused (err set; nothing written), -1 on a database error. */
int agent_create_job(struct db *db, void *arg);

/* Writes a new credential for agent_id into the current transaction; secret gets the
 * plain secret (shown once). 0 or -1. */
int credential_create(struct db *db, const char *agent_id, char cred_id[ID_MAX], char secret[SECRET_LEN + 1]);

/* Calls emit for each agent (of owner_id when not NULL) as a JSON object. Returns the
 * count or -1. */
long agent_list(struct db *db, const char *owner_id, void (*emit)(void *arg, const char *json, size_t n), void *arg);
/* One agent as a JSON object (no secrets) into out. */
struct buf;
void agent_json(struct db *db, const struct agent *a, struct buf *out);

/* The server keeps what authentication needs (the agent, its owner's status, its live
 * credentials' verifiers) in memory once enabled; token/live.c drops entries when
 * state_changes say they changed. */
void agent_cache_enable(void);
void agent_cache_forget(const char *agent_id);
void agent_cache_clear(void);

/* Checks an agent's secret (RFC 6749 §2.3.1) against its live secret credentials. On
 * success fills *a (including cred_id) and returns 0; otherwise 1 with 401 invalid_client in
 * *e and e->reason set (unknown_client, bad_secret, credential_expired), never saying whether
 * the id or the secret was wrong. The cost does not depend on whether the agent exists.
 * Returns -1 on a database error (e is a 500). Endpoints call client_authenticate()
 * (auth.h), which applies the policy around it. */
int agent_secret_verify(struct db *db, const char *client_id, const char *secret, struct agent *a, struct oerr *e);

struct agent_limit {
	const char *agent_id;
	int64_t per_minute, per_day; /* -1 = unchanged; 0 = unlimited */
	const char *owner_scope;
	struct agent agent; /* after */
	struct oerr err;
};
/* Writer job: sets an agent's quotas (seen by servers within a second). 0, 1, -1. */
int agent_limit_job(struct db *db, void *arg);

struct agent_dpop {
	const char *agent_id;
	int required; /* 1 required, 0 optional */
	const char *owner_scope;
	const char *actor; /* NULL: "system" */
	const char *client_addr, *request_id;
	struct agent agent; /* after */
	struct oerr err;
};
/* Writer job: makes DPoP required or optional for an agent's token requests; audited
 * (agent.dpop_set) and noted in the change log, so every server sees it within a second.
 * Setting what is already set writes nothing. 0, 1 refused (404), -1 error. */
int agent_dpop_job(struct db *db, void *arg);

#endif
