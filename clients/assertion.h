/* assertion.h - an agent authenticating with a JWT signed by one of its keys
 * (private_key_jwt: RFC 7523 §2.2 and §3, the audience rule of RFC 10070).
 *
 * Two parts: assertion_check_claims() is pure (a parsed JWS, the issuer, the time; no
 * storage) and checks every claim rule; assertion_verify() finds the agent's live keys,
 * verifies the signature and claims the jti once for every node. Refusals carry a short
 * static reason for the audit row only; the client sees 401 invalid_client. */
#ifndef WARRANT_ASSERTION_H
#define WARRANT_ASSERTION_H
#include "../common/jose.h"
#include "../common/oerr.h"
#include "agents.h"

#include <stdint.h>

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define ASSERTION_LIFETIME_MAX 300 /* seconds from iat (or now) to exp */
#define ASSERTION_JTI_MAX 128      /* bytes of a jti */
#define ASSERTION_KEYS_MAX 8       /* live keys of one agent considered (the newest) */

/* The jti an accepted assertion claims: "agent id:jti" until exp. */
#define ASSERTION_CLAIM_MAX (ID_MAX + 1 + ASSERTION_JTI_MAX + 1)
struct assertion_jti {
	char id[ASSERTION_CLAIM_MAX]; /* "" until an assertion was accepted */
	int64_t exp;                  /* seconds */
	int done;                     /* claimed (this request may authenticate again) */
	int defer;                    /* in: the endpoint's writer job claims it (assertion_jti_claim) */
};

struct assertion_claims {
	char iss[ID_MAX];                /* = sub: the agent id */
	char jti[ASSERTION_JTI_MAX + 1]; /* single-use until exp */
	int64_t exp;                     /* seconds */
};

/* Checks the claims of j: iss a string (shorter than ID_MAX) equal to sub; aud a string
 * exactly equal to issuer (an array, the token endpoint or anything else refused); exp
 * present and after now - leeway, at most ASSERTION_LIFETIME_MAX after iat (after now when
 * iat is absent); iat and nbf, when present, numbers not after now + leeway; jti a
 * non-empty string of at most ASSERTION_JTI_MAX bytes. Times in seconds. Returns 0 with *out
 * filled, or -1 with *why a static reason. No storage, no allocation. */
int assertion_check_claims(const struct jose_jws *j, const char *issuer, int64_t now_s, int leeway,
			   struct assertion_claims *out, const char **why);

/* Authenticates an agent by a parsed assertion whose iss names an agent: the claims as
 * above, client_id (NULL or "" when absent) equal to iss, a live key credential of the agent
 * (the one whose kid the header names, else each) whose key fits alg and verifies the
 * signature, then the jti (store/replay.h): noted in *jti, and claimed at once unless this
 * request claimed it already or, in the server, jti->defer leaves it to the endpoint's writer
 * job (assertion_jti_claim: no commit of its own). On success fills *a with a->cred_id the
 * key credential, returns 0. Refused: 1 with 401 invalid_client in *e, e->reason set, and *a
 * the agent when iss named one (else zeroed). -1 on a database error (e is a 500). */
int assertion_verify(struct db *db, const struct jose_jws *j, const char *client_id, const char *issuer, int leeway,
		     struct assertion_jti *jti, struct agent *a, struct oerr *e);
/* Claims a noted, unclaimed jti in the caller's transaction: 1 claimed or nothing to claim,
 * 0 a replay (the first use was elsewhere or earlier), -1 on a database error. */
int assertion_jti_claim(struct db *db, struct assertion_jti *jti);

/* The server caches each agent's live keys (ids and kids) and the parsed public keys;
 * agent_cache_forget()/agent_cache_clear() (agents.h) drop the lists, so a revoked or
 * expired-by-rotation key stops at once. Parsed keys are kept by credential id: a
 * credential's key never changes. */
void assertion_cache_enable(void);
void assertion_cache_forget(const char *agent_id);
void assertion_cache_clear(void);
/* The server's writer: jti claims not deferred run as its jobs, committed with its batches,
 * instead of each as a write of its own on the request's connection (on SQLite that write
 * would wait for the writer's lock); deferred ones are possible only with a writer. Without
 * one, the claim is a statement on the caller's connection. */
struct writer;
void assertion_use_writer(struct writer *w);
#endif
