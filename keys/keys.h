/* keys.h - signing keys: generation, storage, the in-memory keyring, JWS signatures, JWKS.
 *
 * Private keys live only in the database file and in this process's memory; they are
 * parsed once when the keyring loads, and every signature and verification reuses the
 * parsed key through a per-thread context copied from a template (no algorithm look-up
 * per call). The keyring is safe to use from many threads. */
#ifndef WARRANT_KEYS_H
#define WARRANT_KEYS_H
#include "../common/buf.h"
#include "../store/db.h"

#include <stddef.h>
#include <stdint.h>

#define KID_MAX 48
#define KEYRING_MAX 16
#define SIG_MAX 512 /* raw signature bytes: RS256 with up to 4096-bit keys */

enum key_alg { ALG_ES256 = 1, ALG_RS256 = 2 };
enum key_state { KEY_NEXT = 1, KEY_CURRENT, KEY_RETIRING, KEY_RETIRED };

const char *key_alg_name(enum key_alg a);
int key_alg_parse(const char *s, enum key_alg *a);
const char *key_state_name(enum key_state s);

/* Generates a key pair of alg and stores it with state; kid_out gets its RFC 7638
 * thumbprint. Must run inside the caller's transaction. Returns 0 or -1. */
int key_create(struct db *db, enum key_alg alg, enum key_state state, char kid_out[KID_MAX]);

struct keyring;

struct keyring *keyring_new(void);
void keyring_free(struct keyring *kr);
/* (Re)loads every non-retired key from db and rebuilds the JWKS; atomic for readers.
 * Returns 0, or -1 (the keyring keeps its previous keys). */
int keyring_load(struct keyring *kr, struct db *db);

/* Builds a compact JWS (RFC 7515 §7.1) of payload with the current key: header
 * {"alg","kid","typ"}; appends it to out. Returns 0, or -1 when no key is current or
 * signing fails. The key cannot change between header and signature. */
int keyring_jws(struct keyring *kr, const char *typ, const char *payload, size_t n, struct buf *out);
/* The current key's header values, for building the JWS header before signing. */
int keyring_current(struct keyring *kr, char kid[KID_MAX], enum key_alg *alg);
/* Verifies a base64url-decoded signature over in with key kid (published keys only: next,
 * current or retiring). Returns 1 valid, 0 invalid or unknown kid. */
int keyring_verify(struct keyring *kr, const char *kid, enum key_alg alg, const char *in, size_t n,
		   const unsigned char *sig, size_t siglen);
/* 1 when kid is published (next, current or retiring). */
int keyring_has(struct keyring *kr, const char *kid);
/* A copy of the JWKS document (caller frees), and the keyring's generation counter. */
char *keyring_jwks(struct keyring *kr, size_t *len);
uint64_t keyring_generation(struct keyring *kr);
#endif
