/* verify.h - checking an access token's form and signature, and a cache of verified
 * tokens so each distinct token is parsed and verified once.
 *
 * Verification here is only "we signed this, and it is well formed". Whether the token
 * is active now (expiry, revocations, lifecycle) is token/live.c's question, asked every
 * time, never cached. */
#ifndef WARRANT_VERIFY_H
#define WARRANT_VERIFY_H
#include "../authz/delegation.h"
#include "../keys/keys.h"
#include "mint.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* bytes of a compact JWS we will look at: above the largest token Warrant mints (a full
 * scope of VERBS_MAX verbs of VERB_MAX_LEN and AUD_MAX audiences of URI_MAX come to ~12.5 KB) */
#define TOKEN_MAX_LEN 16384
#define TCACHE_DEFAULT_ENTRIES 16384
#define TCACHE_BYTES (32u << 20) /* what the cached toks may hold together */

/* The tokens above an exchanged token in its chain, root first (token/exchange.c resolves
 * it once per tok): each one's jti, the credential that minted it and its issue time. */
struct tok_chain {
	int n;
	struct {
		char jti[40], cred_id[64];
		int64_t issued_ms;
	} node[DELEGATION_DEPTH_MAX];
};

struct tok {
	atomic_int refs;
	unsigned char hash[32]; /* SHA-256 of the token string */
	char kid[KID_MAX];
	char sub[64], owner_id[64], org_id[64], ws[64], run_id[72], jti[40], cred_id[64];
	int64_t exp, iat, nbf; /* seconds */
	int64_t issued_ms;     /* from the jti; iat*1000 otherwise */
	int naud;
	const char *aud[AUD_MAX]; /* point into blob */
	/* RFC 8693 §4.1: an exchanged token's actors, outermost (the client) first, and their
	 * owners (in blob); depth 0 for a plain token */
	int depth;
	const char *scope; /* as in the token (in blob) */
	const char *act_sub[DELEGATION_DEPTH_MAX], *act_owner[DELEGATION_DEPTH_MAX];
	_Atomic(struct tok_chain *) chain; /* resolved on first use; freed with the tok */
	char *active_json;                 /* the RFC 7662 active answer, rendered once (in blob) */
	size_t active_len;
	size_t cost; /* bytes of this allocation, for the cache's budget */
	char blob[];
};

/* Parses and verifies token (header typ "at+jwt", a published kid with its own alg, a
 * valid signature, iss equal to issuer, every claim present and typed). Returns a new
 * tok (refs = 1) or NULL with *why set to a short static reason. */
struct tok *tok_verify(struct keyring *kr, const char *issuer, const char *token, size_t n, const char **why);
void tok_release(struct tok *t);

/* SHA-256 of a token (the cache key). 0 or -1. */
int tok_hash(const char *token, size_t n, unsigned char out[32]);

/* The cache: bounded, set-associative, thread-safe, holding at most TCACHE_BYTES (a tok
 * that does not fit is simply not cached). lookup returns a referenced tok (release it)
 * or NULL; insert takes its own reference. */
int tcache_init(size_t entries);
struct tok *tcache_lookup(const unsigned char hash[32]);
void tcache_insert(struct tok *t);
void tcache_clear(void);
void tcache_stats(long *hits, long *misses, size_t *entries);
#endif
