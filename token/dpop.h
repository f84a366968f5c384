/* dpop.h - DPoP proofs at the token endpoint (RFC 9449): the proof check, a pure function of
 * the proof, the expected request and the time; the single-use claim of its jti, shared by
 * every server on the database; and the server's nonces (RFC 9449 §8).
 *
 * A refusal returns a value and a short static `why` fit for an audit row (never the proof,
 * never a key); nothing is printed. */
#ifndef WARRANT_DPOP_H
#define WARRANT_DPOP_H
#include "../common/jose.h"
#include "../store/db.h"

#include <stddef.h>
#include <stdint.h>

#define DPOP_PROOF_MAX 8192     /* bytes of a DPoP header: an RSA-4096 proof is about 2.5 KiB */
#define DPOP_IAT_WINDOW_S 60    /* a proof's iat may be this far from now, either way */
#define DPOP_JTI_MAX 128        /* bytes of a proof's jti */
#define DPOP_REPLAY_S 300       /* a jti is remembered this long after the proof's iat */
#define DPOP_NONCE_WINDOW_S 300 /* a server nonce changes this often (RFC 9449 §8) */
#define DPOP_NONCE_KEY_LEN 32   /* bytes of the nonce key in the settings table */
#define DPOP_NONCE_LEN 22       /* base64url of the 128-bit nonce */
#define DPOP_NONCE_SETTING "dpop_nonce_key"
#define DPOP_KEY_CACHE 256 /* proof keys kept after first use, so a key is decoded once */

/* The DPoP request header's name and the nonce answer's (RFC 9449 §4.1, §8). */
#define DPOP_HEADER "DPoP"
#define DPOP_NONCE_HEADER "DPoP-Nonce"

/* What the proof must say. */
struct dpop_expect {
	const char *htm;                /* the request's method, "POST" */
	const char *htu;                /* the endpoint's URL, compared as an exact string */
	int64_t now_s;                  /* the time the proof is checked at */
	const unsigned char *nonce_key; /* DPOP_NONCE_KEY_LEN bytes when nonces are required, else NULL */
};

/* What an accepted proof binds. */
struct dpop_proof {
	char jkt[JOSE_JKT_LEN + 1]; /* RFC 7638 thumbprint of the proof's key: the token's cnf.jkt */
	char jti[DPOP_JTI_MAX + 1];
	int64_t iat;
};

enum dpop_result {
	DPOP_OK = 0,
	DPOP_INVALID = 1,   /* 400 invalid_dpop_proof (RFC 9449 §5) */
	DPOP_USE_NONCE = 2, /* 400 use_dpop_nonce: a proof fine but for the nonce (RFC 9449 §8) */
};

/* Checks n bytes of a proof (RFC 9449 §4.3): at most DPOP_PROOF_MAX bytes, a compact JWS
 * with "typ" exactly "dpop+jwt", "alg" one of ES256, RS256, PS256, EdDSA (never none or an
 * HMAC), "jwk" a public key (private members refused) that fits alg and verifies the
 * signature; claims "htm" and "htu" equal to x's, "iat" an integer within DPOP_IAT_WINDOW_S
 * of x->now_s, "jti" a string of 1..DPOP_JTI_MAX bytes without NUL; with x->nonce_key, a
 * "nonce" equal to the current, previous or next window's (else DPOP_USE_NONCE). On DPOP_OK
 * fills *out; otherwise *why says what was wrong. Nothing is kept: the jti is not claimed. */
enum dpop_result dpop_check(const char *proof, size_t n, const struct dpop_expect *x, struct dpop_proof *out,
			    const char **why);

/* Claims p's jti (RFC 9449 §11.1) for every server sharing db: "dpop" jkt ":" jti until
 * iat + DPOP_REPLAY_S. 1 first use, 0 a replay, -1 error. */
int dpop_claim(struct db *db, const struct dpop_proof *p);

/* The nonce of the window now_s falls in, moved by shift windows (-1 the previous one),
 * under key: base64url of the first 128 bits of HMAC-SHA-256(key, "dpop-nonce:" window). */
void dpop_nonce(const unsigned char key[DPOP_NONCE_KEY_LEN], int64_t now_s, int shift, char out[DPOP_NONCE_LEN + 1]);

/* `serve --dpop-nonce`: loads the nonce key from the settings table (sealed like other
 * secrets), creating it the first time in one write transaction, so every server sharing
 * the database derives the same nonces. 0, or -1. Call before the server starts. */
int dpop_nonce_enable(struct db *db);
/* The key while nonces are required, else NULL. */
const unsigned char *dpop_nonce_key(void);
#endif
