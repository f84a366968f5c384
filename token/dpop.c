/* dpop.c - DPoP proofs at the token endpoint (RFC 9449); see dpop.h. */
#include "dpop.h"

#include "../common/codec.h"
#include "../common/rand.h"
#include "../store/replay.h"
#include "../store/sealed.h"
#include "../store/writer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *str_member(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) ? json_string_value(v) : NULL;
}

/* ---- keys already seen ----
 * An agent signs many proofs with one key (a run's, a process's): building the key from
 * its JWK (decoding, checking the point or modulus, the thumbprint) costs more than
 * verifying a signature with it, so accepted keys are kept, by the SHA-256 of their JWK's
 * canonical JSON, in a small direct-mapped table. Only keys jose_key_from_json() accepted
 * go in, so a JWK with a private member (a different JSON text) never matches one. */
struct key_slot {
	unsigned char id[32]; /* SHA-256 of the JWK's JSON, sorted and compact */
	struct jose_key key;  /* holds a reference of its own to key.pkey */
};

static struct key_slot key_cache[DPOP_KEY_CACHE];
static pthread_mutex_t key_mu = PTHREAD_MUTEX_INITIALIZER;

/* The JWK's cache id, or -1 when it cannot be serialized (then the cache is not used). */
static int key_id(const json_t *jwk, unsigned char id[32])
{
	char *s = json_dumps(jwk, JSON_SORT_KEYS | JSON_COMPACT);
	if (!s)
		return -1;
	size_t n = strlen(s);
	int rc = EVP_Digest(s, n, id, NULL, EVP_sha256(), NULL) == 1 ? 0 : -1;
	OPENSSL_cleanse(s, n); /* a refused JWK may hold private members */
	free(s);
	return rc;
}

/* A copy of the cached key for id into *k (its own reference), 1; or 0. */
static int key_cached(const unsigned char id[32], struct jose_key *k)
{
	struct key_slot *s = &key_cache[id[0] % DPOP_KEY_CACHE];
	int hit = 0;
	pthread_mutex_lock(&key_mu);
	if (s->key.pkey && CRYPTO_memcmp(s->id, id, 32) == 0 && EVP_PKEY_up_ref(s->key.pkey) == 1) {
		*k = s->key;
		hit = 1;
	}
	pthread_mutex_unlock(&key_mu);
	return hit;
}

static void key_keep(const unsigned char id[32], const struct jose_key *k)
{
	if (EVP_PKEY_up_ref(k->pkey) != 1)
		return;
	struct key_slot *s = &key_cache[id[0] % DPOP_KEY_CACHE];
	pthread_mutex_lock(&key_mu);
	EVP_PKEY *old = s->key.pkey;
	memcpy(s->id, id, 32);
	s->key = *k;
	pthread_mutex_unlock(&key_mu);
	EVP_PKEY_free(old);
}

/* The proof's key: from the cache, or built from the JWK (private members refused). */
static int proof_key(const json_t *jwk, struct jose_key *k, const char **why)
{
	unsigned char id[32];
	int cacheable = key_id(jwk, id) == 0;
	if (cacheable && key_cached(id, k))
		return 0;
	if (jose_key_from_json(jwk, k, why) < 0)
		return -1;
	if (cacheable)
		key_keep(id, k);
	return 0;
}

/* RFC 9449 §4.3 checks 4-8: the header's typ and key, and the signature. 0 or -1. */
static int check_header(const struct jose_jws *j, struct jose_key *k, const char **why)
{
	/* exactly "dpop+jwt": a token of another type signed by the same key is not a proof */
	if (!j->typ || strcmp(j->typ, "dpop+jwt") != 0) {
		*why = "bad_typ";
		return -1;
	}
	json_t *jwk = json_object_get(j->header, "jwk");
	if (!json_is_object(jwk)) {
		*why = "missing_jwk";
		return -1;
	}
	/* a public key only: any private member is refused before the key is read */
	if (proof_key(jwk, k, why) < 0)
		return -1;
	int v = jose_jws_verify(j, k); /* 0 too when alg does not fit the key's type */
	if (v != 1) {
		*why = v < 0 ? "internal" : "bad_signature";
		return -1;
	}
	return 0;
}

/* Constant-time comparison of a presented nonce with one of ours. */
static int nonce_is(const char *got, const char *ours)
{
	return strlen(got) == DPOP_NONCE_LEN && CRYPTO_memcmp(got, ours, DPOP_NONCE_LEN) == 0;
}

/* RFC 9449 §8: the nonce of this window, the one before it, or (servers' clocks differ a
 * little) the one after it. */
static int nonce_ok(const char *got, const unsigned char *key, int64_t now_s)
{
	int ok = 0;
	for (int shift = -1; shift <= 1; shift++) {
		char n[DPOP_NONCE_LEN + 1];
		dpop_nonce(key, now_s, shift, n);
		ok |= nonce_is(got, n);
	}
	return ok;
}

/* RFC 9449 §4.3 checks 9-12: htm, htu, iat, jti and nonce. */
static enum dpop_result check_claims(json_t *c, const struct dpop_expect *x, struct dpop_proof *out, const char **why)
{
	const char *htm = str_member(c, "htm"), *htu = str_member(c, "htu"), *jti = str_member(c, "jti");
	json_t *iat = json_object_get(c, "iat");
	if (!htm || strcmp(htm, x->htm) != 0) {
		*why = "bad_htm";
		return DPOP_INVALID;
	}
	/* the issuer-derived URL as an exact string: no query, no fragment, no other spelling */
	if (!htu || strcmp(htu, x->htu) != 0) {
		*why = "bad_htu";
		return DPOP_INVALID;
	}
	if (!json_is_integer(iat)) {
		*why = "missing_iat";
		return DPOP_INVALID;
	}
	json_int_t t = json_integer_value(iat);
	if (t < x->now_s - DPOP_IAT_WINDOW_S || t > x->now_s + DPOP_IAT_WINDOW_S) {
		*why = t < x->now_s ? "iat_too_old" : "iat_in_future";
		return DPOP_INVALID;
	}
	if (!jti || !*jti || strlen(jti) > DPOP_JTI_MAX) {
		*why = jti && *jti ? "jti_too_long" : "missing_jti";
		return DPOP_INVALID;
	}
	if (x->nonce_key) {
		const char *nonce = str_member(c, "nonce");
		if (!nonce || !nonce_ok(nonce, x->nonce_key, x->now_s)) {
			*why = nonce ? "stale_nonce" : "missing_nonce";
			return DPOP_USE_NONCE;
		}
	}
	memcpy(out->jti, jti, strlen(jti) + 1);
	out->iat = (int64_t)t;
	return DPOP_OK;
}

enum dpop_result dpop_check(const char *proof, size_t n, const struct dpop_expect *x, struct dpop_proof *out,
			    const char **why)
{
	memset(out, 0, sizeof *out);
	*why = "malformed";
	if (!proof || n == 0)
		return DPOP_INVALID;
	if (n > DPOP_PROOF_MAX) {
		*why = "too_large";
		return DPOP_INVALID;
	}
	struct jose_jws j;
	struct jose_key k;
	memset(&k, 0, sizeof k);
	/* one JWS, alg in the accepted four, JSON bounded in size and depth, no crit */
	if (jose_jws_parse(proof, n, &j, why) < 0)
		return DPOP_INVALID;
	enum dpop_result rc = DPOP_INVALID;
	if (check_header(&j, &k, why) == 0) {
		rc = check_claims(j.claims, x, out, why);
		if (rc == DPOP_OK)
			memcpy(out->jkt, k.jkt, sizeof out->jkt);
	}
	jose_key_clear(&k);
	jose_jws_clear(&j);
	if (rc != DPOP_OK) {
		const char *keep = *why;
		memset(out, 0, sizeof *out);
		*why = keep;
	}
	return rc;
}

int dpop_claim(struct db *db, const struct dpop_proof *p)
{
	char id[JOSE_JKT_LEN + 1 + DPOP_JTI_MAX + 1];
	snprintf(id, sizeof id, "%s:%s", p->jkt, p->jti);
	return replay_claim(db, "dpop", id, p->iat + DPOP_REPLAY_S);
}

void dpop_nonce(const unsigned char key[DPOP_NONCE_KEY_LEN], int64_t now_s, int shift, char out[DPOP_NONCE_LEN + 1])
{
	char msg[48];
	int64_t win = now_s / DPOP_NONCE_WINDOW_S + shift;
	int len = snprintf(msg, sizeof msg, "dpop-nonce:%lld", (long long)win);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	if (!HMAC(EVP_sha256(), key, DPOP_NONCE_KEY_LEN, (const unsigned char *)msg, (size_t)len, mac, &maclen))
		memset(mac, 0, sizeof mac); /* cannot happen: then no proof carries a matching nonce */
	b64url_encode(mac, 16, out);
	OPENSSL_cleanse(mac, sizeof mac);
}

static unsigned char nonce_key[DPOP_NONCE_KEY_LEN];
static int nonce_on;

static int nonce_key_job(struct db *db, void *arg)
{
	unsigned char *key = arg;
	int n = sealed_setting_get(db, DPOP_NONCE_SETTING, "dpop-nonce", key, DPOP_NONCE_KEY_LEN);
	if (n == DPOP_NONCE_KEY_LEN)
		return 0;
	if (rand_bytes(key, DPOP_NONCE_KEY_LEN) < 0)
		return -1;
	return sealed_setting_put(db, DPOP_NONCE_SETTING, "dpop-nonce", key, DPOP_NONCE_KEY_LEN);
}

int dpop_nonce_enable(struct db *db)
{
	if (db_tx(db, nonce_key_job, nonce_key) != 0)
		return -1;
	nonce_on = 1;
	return 0;
}

const unsigned char *dpop_nonce_key(void) { return nonce_on ? nonce_key : NULL; }
