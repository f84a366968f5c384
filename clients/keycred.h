/* keycred.h - public-key credentials of agents (private_key_jwt, RFC 7523 §2.2): storing a
 * public JWK as a credential, with rotation by a grace window as secrets have.
 *
 * A key credential stores the canonical public JWK (jose_key_public_json), its kid (the JWK's
 * own, else the RFC 7638 thumbprint) and its thumbprint (jkt), and an empty verifier, so the
 * secret checks never see it. A JWK with private members is refused and never stored. */
#ifndef WARRANT_KEYCRED_H
#define WARRANT_KEYCRED_H
#include "../common/jose.h"
#include "agents.h"

struct key_credential_add {
	/* in */
	const char *agent_id;
	const char *jwk; /* JSON text of one public JWK */
	size_t jwk_len;
	int64_t grace;           /* seconds until the agent's other live keys expire; -1: they stay */
	const char *owner_scope; /* /v1: only the caller's agents (404 otherwise) */
	const char *actor, *client_addr, *request_id;
	/* out */
	char cred_id[ID_MAX];
	char kid[JOSE_KID_MAX + 1];
	char jkt[JOSE_JKT_LEN + 1];
	struct oerr err;
};
/* Writer job: parses the JWK (400 invalid_request when it is not an accepted public key),
 * refuses a kid the agent already has on a live key (409 conflict), stores the credential,
 * starts the other keys' grace when asked, notes the change and audits. 0, 1 refused, -1. */
int key_credential_add_job(struct db *db, void *arg);

/* Parses n bytes of JWK JSON into *k (the caller clears it); 0, or 1 with a 400 in *e. */
int key_credential_parse(const char *jwk, size_t n, struct jose_key *k, struct oerr *e);
/* Writes a key credential for agent_id into the current transaction (nothing audited).
 * 0, 1 when the agent has a live key of the same kid (409 in *e), -1 on a database error. */
int key_credential_insert(struct db *db, const char *agent_id, const struct jose_key *k, char cred_id[ID_MAX],
			  struct oerr *e);
#endif
