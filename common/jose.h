/* jose.h - public keys Warrant does not own (JWK, JWK Set) and the compact JWSs they sign:
 * RFC 7515 (JWS), RFC 7517 (JWK), RFC 7518 (algorithms), RFC 7638 (thumbprints), RFC 8037
 * (Ed25519). A pure library: no storage, no HTTP. Every refusal returns a value and a short
 * static `why` fit for an audit row (never the input, never a secret); nothing is printed.
 *
 * Accepted keys: EC P-256 (ES256), RSA of JOSE_RSA_MIN_BITS..JOSE_RSA_MAX_BITS (RS256, PS256),
 * OKP Ed25519 (EdDSA). A JWK with any private member is refused before anything of it is
 * decoded. Accepted algorithms: those four; "none", HMACs and every other name are refused. */
#ifndef WARRANT_JOSE_H
#define WARRANT_JOSE_H
#include "buf.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

/* Limits, enforced while parsing. */
#define JOSE_JWK_MAX 8192      /* bytes of one JWK's JSON text */
#define JOSE_JWKS_MAX 1048576  /* bytes of a JWK Set's JSON text (1 MiB, as a fetched key set) */
#define JOSE_JWS_MAX 16384     /* bytes of a compact JWS */
#define JOSE_KID_MAX 128       /* bytes of a "kid" */
#define JOSE_JKT_LEN 43        /* base64url of a SHA-256: the RFC 7638 thumbprint */
#define JOSE_KEYSET_MAX 64     /* members of one JWK Set's "keys" array */
#define JOSE_JSON_DEPTH_MAX 16 /* nesting of objects and arrays in any JSON this module reads */
#define JOSE_RSA_MIN_BITS 2048 /* RSA modulus sizes accepted */
#define JOSE_RSA_MAX_BITS 4096
#define JOSE_SIG_MAX (JOSE_RSA_MAX_BITS / 8) /* bytes of the longest signature */

enum jose_alg { JOSE_ALG_NONE = 0, JOSE_ES256, JOSE_RS256, JOSE_PS256, JOSE_EDDSA };
enum jose_kty { JOSE_KTY_NONE = 0, JOSE_KTY_EC, JOSE_KTY_RSA, JOSE_KTY_OKP };

/* One public key. Owns pkey; jose_key_clear() frees it. */
struct jose_key {
	EVP_PKEY *pkey;
	enum jose_kty kty;
	char kid[JOSE_KID_MAX + 1]; /* the JWK's "kid", else the thumbprint */
	char jkt[JOSE_JKT_LEN + 1]; /* RFC 7638 SHA-256 thumbprint, base64url */
	enum jose_alg alg;          /* the JWK's "alg", or JOSE_ALG_NONE: any the key type allows */
	int bits;                   /* RSA modulus size; 256 for P-256 and Ed25519 */
};

/* "ES256", "RS256", "PS256", "EdDSA"; "none" for JOSE_ALG_NONE. Static strings. */
const char *jose_alg_name(enum jose_alg a);
/* The algorithm named s (exact, case-sensitive; "Ed25519", RFC 9864's name, is EdDSA), or
 * JOSE_ALG_NONE for NULL, "none" and every name not accepted (HS256, ES384, ...). */
enum jose_alg jose_alg_parse(const char *s);
/* 1 when a may be used with k: ES256 only with P-256, RS256/PS256 only with RSA, EdDSA only
 * with Ed25519, and only a when the JWK names an "alg" of its own; else 0 (also for NONE). */
int jose_alg_fits(const struct jose_key *k, enum jose_alg a);

/* Parses one public JWK from n bytes of JSON text (at most JOSE_JWK_MAX, not NUL-terminated
 * necessarily) into *k. Returns 0, or -1 with *why set and *k zeroed (nothing to clear).
 * Refuses private members (d, p, q, dp, dq, qi, oth, k; their strings are wiped in the
 * parsed copy), kty "oct", unknown kty or curve, "use" other than "sig", "key_ops" without
 * "verify", an "alg" the key cannot use, EC points off the curve or not 32+32 bytes, RSA
 * moduli outside the limits or with an even or unreasonable exponent, Ed25519 keys of small
 * order or not canonically encoded ("weak_key"). */
int jose_key_parse(const char *json, size_t n, struct jose_key *k, const char **why);
/* The same for a JWK already parsed, e.g. the "jwk" of a DPoP proof's header (RFC 9449 §4.2).
 * The caller keeps jwk (and wiping it, should it hold private members). */
int jose_key_from_json(const json_t *jwk, struct jose_key *k, const char **why);
/* Frees the key and zeroes *k; safe on a zeroed or cleared key. */
void jose_key_clear(struct jose_key *k);
/* Appends k as a canonical public JWK to out: the RFC 7638 members in their order, then
 * "kid", then "alg" when the JWK named one. Returns 0, or -1 (out marked failed). */
int jose_key_public_json(const struct jose_key *k, struct buf *out);

/* A compact JWS, split, decoded and its header checked; the signature not yet verified. */
struct jose_jws {
	json_t *header, *claims; /* objects, owned */
	enum jose_alg alg;       /* never JOSE_ALG_NONE after a successful parse */
	const char *kid, *typ;   /* in header, or NULL when absent */
	char *input;             /* the signing input, header "." payload, owned, NUL-terminated */
	size_t input_len;
	unsigned char sig[JOSE_SIG_MAX];
	size_t sig_len;
};

/* Parses n bytes (at most JOSE_JWS_MAX) of a compact JWS (RFC 7515 §7.1): three unpadded
 * base64url parts; header and payload JSON objects without duplicate members (and nesting
 * at most JOSE_JSON_DEPTH_MAX); "alg" one of the accepted four; no "crit" (RFC 7515 §4.1.11:
 * Warrant understands no extension); "kid" and "typ" strings when present, kid at most
 * JOSE_KID_MAX bytes. Returns 0, or -1 with *why and *j cleared (nothing to free). */
int jose_jws_parse(const char *s, size_t n, struct jose_jws *j, const char **why);
/* 1 when j's signature verifies with k; 0 when it does not, or j's alg does not fit k
 * (jose_alg_fits); -1 on an internal error (out of memory). ES256 signatures must be the 64
 * bytes r||s (RFC 7518 §3.4), RSA ones exactly the modulus's length, EdDSA ones 64 bytes;
 * PS256 is RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (RFC 7518 §3.5). */
int jose_jws_verify(const struct jose_jws *j, const struct jose_key *k);
/* RFC 7518 §3.4: a 64-byte ES256 signature R||S as the DER ECDSA-Sig-Value OpenSSL
 * verifies, into der (cap bytes). Its length, or -1 (out of memory, cap too small). */
int jose_es256_raw_to_der(const unsigned char raw[64], unsigned char *der, size_t cap);
/* Frees what j owns and zeroes it; safe on a zeroed or cleared one. */
void jose_jws_clear(struct jose_jws *j);

/* The keys of a JWK Set, owned (jose_keyset_clear frees them). */
struct jose_keyset {
	struct jose_key *keys;
	int n;
};
/* Parses a JWK Set (RFC 7517 §5) of n bytes (at most JOSE_JWKS_MAX). Keys Warrant does not
 * accept for signatures (use "enc", other kty, curves or "alg"s, RSA sizes out of range) are
 * skipped; the set fails (-1, *why, *ks empty) on malformed JSON, a "keys" that is not an
 * array of at most JOSE_KEYSET_MAX objects, a malformed key of an accepted type, or any key
 * with private members. A set where every key was skipped is not an error (n == 0). */
int jose_keyset_parse(const char *json, size_t n, struct jose_keyset *ks, const char **why);
/* The first key whose kid equals kid, or NULL (also for a NULL kid). Points into ks. */
const struct jose_key *jose_keyset_find(const struct jose_keyset *ks, const char *kid);
/* Frees every key and zeroes *ks; safe on a zeroed or cleared set. */
void jose_keyset_clear(struct jose_keyset *ks);
#endif
