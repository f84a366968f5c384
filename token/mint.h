/* mint.h - access tokens as RFC 9068 JWTs, and their jti values.
 *
 * A jti is 144 bits in base64url (24 characters): 48 bits of issue time in milliseconds,
 * then 96 random bits (SPEC: ids carry at least 96). Carrying the exact issue time lets
 * "every token of agent A issued so far" be decided precisely from the token alone. */
#ifndef WARRANT_MINT_H
#define WARRANT_MINT_H
#include "../common/buf.h"
#include "../keys/keys.h"

#include <stdint.h>

#define JTI_MAX 25
#define TIMED_ID_BYTES 18 /* jtis and server-minted run ids: 48 bits of time, 96 random */
#define AUD_MAX 8
#define ISSUER_URI_MAX 600 /* an issuer (ISSUER_MAX) and a path under it */

struct claims {
	const char *iss, *sub, *owner_id, *org_id, *ws, *run_id, *scope, *jti;
	const char *cred_id;                   /* the credential that authenticated the mint */
	const char *approved_by, *approval_id; /* optional (CIBA), NULL when absent */
	const char *cnf_jkt;                   /* DPoP-bound (RFC 9449 §6): the proof key's thumbprint */
	const char *client_id;                 /* token exchange: the actor; NULL: sub */
	const char *act_json;                  /* token exchange (RFC 8693 §4.1): the act object, or NULL */
	const char *aud[AUD_MAX];
	int naud;
	int64_t iat, exp; /* seconds */
	/* the token's Token Status List bit (token/statuslist.h); list 0: none */
	int64_t status_list, status_idx;
};

int jti_new(int64_t ms, char out[JTI_MAX]);
/* A server-minted run id: "run_" + base32 of 48 bits of time in ms and 96 random bits.
 * Time first keeps the audit trail's run index appending instead of scattering. */
int run_id_new(int64_t ms, char out[64]);
/* Issue time in ms embedded in a jti, or -1 when it is not one of ours. */
int64_t jti_time(const char *jti);

/* Appends the payload JSON of c to out (RFC 9068 §2.2; client_id = sub unless set). */
int claims_json(const struct claims *c, struct buf *out);
/* Signs c with the current key into out: header {"alg","kid","typ":"at+jwt"}. 0 or -1. */
int token_mint(struct keyring *kr, const struct claims *c, struct buf *out);
#endif
