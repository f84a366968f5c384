/* federation.h - federated workload identity (SPEC "Federated workload identity",
 * docs/federation.md): trusts (external token issuers), federated credentials (an agent
 * bound to a trust's subject), and the check of an external JWT sent as a client
 * assertion (RFC 7521 §4.2, RFC 7523 §2.2 and §3).
 *
 * Trust and credential changes are writer jobs: they run inside the caller's transaction,
 * write their audit rows there, and fill an oerr on refusal (1); -1 is a database error. */
#ifndef WARRANT_FEDERATION_H
#define WARRANT_FEDERATION_H
#include "../common/jose.h"
#include "../common/oerr.h"
#include "agents.h"
#include "keyset.h"

#define TRUST_LIFETIME_DEFAULT 3600 /* s: an external token's exp - iat at most, by default */
#define TRUST_LIFETIME_MAX 86400    /* s: the most --max-lifetime may be */
#define TRUST_NAME_MAX 64           /* bytes of a trust's name */
#define FEDERATED_SUBJECT_MAX 512   /* bytes of a bound subject */
#define FEDERATED_SKEW_S 60         /* s: iat and nbf may be this far in the future (clock skew) */
#define FEDERATED_CANDIDATES_MAX 8  /* live federated credentials of one agent for one issuer looked at */

/* The server's own issuer: the audience of trusts added without --audience. The caller
 * keeps the string for the life of the process (NULL or "": such trusts refuse every
 * assertion, reason no_audience). */
void federation_set_issuer(const char *issuer);

struct trust_new {
	/* in */
	const char *name, *issuer, *jwks_uri, *jwks_file, *audience; /* audience NULL: the server's issuer */
	int discovery;
	int64_t max_lifetime; /* s; 0: TRUST_LIFETIME_DEFAULT */
	const char *actor;
	/* out */
	char id[ID_MAX];
	struct oerr err;
};
/* Writer job: validates (name, issuer and URLs per keyset_url_allowed, exactly one key
 * source, the file readable as a key set) and adds a trust; 409 conflict for a name in use. */
int trust_add_job(struct db *db, void *arg);

struct trust_removal {
	const char *name, *actor;
	char id[ID_MAX];
	int credentials; /* out: federated credentials ended */
	struct oerr err;
};
/* Writer job: removes the trust named name and revokes every credential bound to it now
 * (their tokens become inactive on every node within a second). 404 when there is none. */
int trust_remove_job(struct db *db, void *arg);

/* Calls emit with one JSON object per trust, oldest first. The count, or -1. */
long trust_list(struct db *db, void (*emit)(void *arg, const char *json, size_t n), void *arg);

struct federated_new {
	const char *agent_id, *trust_name, *subject, *actor;
	char cred_id[ID_MAX], trust_id[ID_MAX];
	struct agent agent;
	struct oerr err;
};
/* Writer job: a federated credential (kind 'federated', empty verifier) binding agent_id to
 * subject of the trust named trust_name. 404 for an unknown agent or trust, 409 for a
 * retired agent or the same subject already bound to it by that trust. */
int federated_credential_job(struct db *db, void *arg);

/* Checks an external JWT (parsed, signature not yet verified) sent as client_assertion
 * with client_id (required; NULL or "" refuses). Accepted only when: iss is the issuer of a
 * trust that binds client_id by a live federated credential; the signature verifies with a
 * key of that trust's set (the one named by kid when given); aud contains the trust's
 * audience; exp is in the future, iat present and exp - iat at most the trust's max
 * lifetime; nbf and iat not beyond FEDERATED_SKEW_S ahead; sub equals the bound subject; a
 * jti, when present, not seen before for that trust (replay_claim "federated" until exp).
 * Returns 0 with *out the agent and out->cred_id the credential; 1 with 401 invalid_client
 * and e->reason (out names the agent when client_id is one, else zeroed); -1 on a
 * database error (e is a 500). Never waits for the network (keyset.h). */
int federated_verify(struct db *db, const struct jose_jws *jws, const char *client_id, struct agent *out,
		     struct oerr *e);
#endif
