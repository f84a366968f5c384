/* keys.c - key generation, keyring, ES256/RS256 JWS signatures (RFC 7515, RFC 7518 §3). */
#include "keys.h"

#include "../common/codec.h"
#include "../common/jose.h"
#include "../common/kek.h"
#include "../common/timeutil.h"

#include <assert.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct key {
	char kid[KID_MAX];
	enum key_alg alg;
	enum key_state state;
	EVP_PKEY *pkey;
	EVP_MD_CTX *sign_tmpl; /* DigestSignInit done once; copied per signature */
	EVP_MD_CTX *verify_tmpl;
};

struct keyring {
	pthread_rwlock_t lock;
	struct key *keys[KEYRING_MAX];
	int n;
	int current; /* index into keys, -1 when none */
	char *jwks;
	size_t jwks_len;
	uint64_t generation;
};

static EVP_MD *sha256_md; /* fetched once: no name look-up per signature */
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static void md_fetch(void) { sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); }

const char *key_alg_name(enum key_alg a) { return a == ALG_RS256 ? "RS256" : "ES256"; }

int key_alg_parse(const char *s, enum key_alg *a)
{
	if (strcmp(s, "ES256") == 0)
		*a = ALG_ES256;
	else if (strcmp(s, "RS256") == 0)
		*a = ALG_RS256;
	else
		return -1;
	return 0;
}

const char *key_state_name(enum key_state s)
{
	switch (s) {
	case KEY_NEXT: return "next";
	case KEY_CURRENT: return "current";
	case KEY_RETIRING: return "retiring";
	case KEY_RETIRED: return "retired";
	}
	return "?";
}

static int state_parse(const char *s, enum key_state *st)
{
	if (!strcmp(s, "next"))
		*st = KEY_NEXT;
	else if (!strcmp(s, "current"))
		*st = KEY_CURRENT;
	else if (!strcmp(s, "retiring"))
		*st = KEY_RETIRING;
	else if (!strcmp(s, "retired"))
		*st = KEY_RETIRED;
	else
		return -1;
	return 0;
}

/* The purpose a private key is sealed for: its row, so a sealed key moved to another does
 * not open. */
static void key_purpose(const char *kid, char out[KID_MAX + 16])
{
	snprintf(out, KID_MAX + 16, KEK_PURPOSE_KEY "%s", kid);
}

static int bn_b64(EVP_PKEY *pk, const char *param, int pad, char *out, size_t cap)
{
	BIGNUM *bn = NULL;
	unsigned char raw[1024];
	if (!EVP_PKEY_get_bn_param(pk, param, &bn))
		return -1;
	int len = pad ? pad : BN_num_bytes(bn);
	if (len > (int)sizeof raw || (size_t)B64URL_LEN(len) + 1 > cap || BN_bn2binpad(bn, raw, len) < 0) {
		BN_free(bn);
		return -1;
	}
	BN_free(bn);
	b64url_encode(raw, (size_t)len, out);
	return 0;
}

/* Public JWK members in RFC 7638 order (lexicographic), used for the thumbprint too. */
static int jwk_members(EVP_PKEY *pk, enum key_alg alg, struct buf *b)
{
	char x[800], y[800];
	if (alg == ALG_ES256) {
		if (bn_b64(pk, OSSL_PKEY_PARAM_EC_PUB_X, 32, x, sizeof x) < 0 ||
		    bn_b64(pk, OSSL_PKEY_PARAM_EC_PUB_Y, 32, y, sizeof y) < 0)
			return -1;
		buf_printf(b, "\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"", x, y);
	} else {
		if (bn_b64(pk, OSSL_PKEY_PARAM_RSA_E, 0, x, sizeof x) < 0 ||
		    bn_b64(pk, OSSL_PKEY_PARAM_RSA_N, 0, y, sizeof y) < 0)
			return -1;
		buf_printf(b, "\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"", x, y);
	}
	return b->failed ? -1 : 0;
}

int key_create(struct db *db, enum key_alg alg, enum key_state state, char kid_out[KID_MAX])
{
	EVP_PKEY *pk = alg == ALG_ES256 ? EVP_EC_gen("P-256") : EVP_RSA_gen(3072);
	unsigned char *der = NULL, *sealed = NULL;
	struct buf m, jwk;
	int rc = -1;
	buf_init(&m, 4096);
	buf_init(&jwk, 4096);
	if (!pk || jwk_members(pk, alg, &m) < 0)
		goto done;
	/* RFC 7638 §3: SHA-256 over the required members, no whitespace */
	unsigned char dg[32];
	char canon[4200];
	snprintf(canon, sizeof canon, "{%s}", m.p);
	if (!EVP_Digest(canon, strlen(canon), dg, NULL, EVP_sha256(), NULL))
		goto done;
	b64url_encode(dg, sizeof dg, kid_out);
	buf_printf(&jwk, "{%s,\"kid\":\"%s\",\"use\":\"sig\",\"alg\":\"%s\"}", m.p, kid_out, key_alg_name(alg));
	int dlen = i2d_PrivateKey(pk, &der);
	if (dlen <= 0 || jwk.failed)
		goto done;
	const unsigned char *stored = der;
	int slen = dlen;
	if (kek_loaded()) { /* stored sealed under the key-encryption key (common/kek.h) */
		char purpose[KID_MAX + 16];
		key_purpose(kid_out, purpose);
		if (!(sealed = malloc((size_t)dlen + KEK_OVERHEAD)) || kek_seal(purpose, der, (size_t)dlen, sealed) < 0)
			goto done;
		stored = sealed;
		slen = dlen + KEK_OVERHEAD;
	}
	struct db_stmt *st = db_prep(
		db, "INSERT INTO signing_keys(kid, alg, state, private_der, public_jwk, created_at, activated_at)"
		    " VALUES (?, ?, ?, ?, ?, ?, ?)");
	if (!st)
		goto done;
	int64_t now = now_ms();
	db_bind_text(st, 1, kid_out);
	db_bind_text(st, 2, key_alg_name(alg));
	db_bind_text(st, 3, key_state_name(state));
	db_bind_blob(st, 4, stored, slen);
	db_bind_text(st, 5, jwk.p);
	db_bind_int64(st, 6, now);
	if (state == KEY_CURRENT)
		db_bind_int64(st, 7, now);
	else
		db_bind_null(st, 7);
	rc = db_step_done(st);
done:
	if (der) {
		OPENSSL_cleanse(der, (size_t)i2d_PrivateKey(pk, NULL));
		OPENSSL_free(der);
	}
	free(sealed);
	EVP_PKEY_free(pk);
	buf_free(&m);
	buf_free(&jwk);
	return rc;
}

static void key_free(struct key *k)
{
	if (!k)
		return;
	EVP_MD_CTX_free(k->sign_tmpl);
	EVP_MD_CTX_free(k->verify_tmpl);
	EVP_PKEY_free(k->pkey);
	free(k);
}

/* The private key of a row: opened with the key-encryption key when the process holds
 * one (a key in the clear is refused then: only a key this server sealed signs), read as
 * it is otherwise. NULL on failure; the plain DER is wiped. */
static EVP_PKEY *private_key(const char *kid, const unsigned char *der, int dlen)
{
	if (!der || dlen <= 0)
		return NULL;
	if (!kek_loaded()) {
		const unsigned char *p = der;
		return d2i_AutoPrivateKey(NULL, &p, dlen);
	}
	char purpose[KID_MAX + 16];
	key_purpose(kid, purpose);
	unsigned char *plain = malloc((size_t)dlen);
	int n = plain ? kek_open(purpose, der, (size_t)dlen, plain, (size_t)dlen) : -1;
	EVP_PKEY *pk = NULL;
	if (n > 0) {
		const unsigned char *p = plain;
		pk = d2i_AutoPrivateKey(NULL, &p, n);
		OPENSSL_cleanse(plain, (size_t)n);
	}
	free(plain);
	return pk;
}

static struct key *key_parse(const char *kid, const char *alg, const char *state, const unsigned char *der, int dlen)
{
	struct key *k = calloc(1, sizeof *k);
	if (!k)
		return NULL;
	snprintf(k->kid, sizeof k->kid, "%s", kid);
	if (key_alg_parse(alg, &k->alg) < 0 || state_parse(state, &k->state) < 0)
		goto fail;
	k->pkey = private_key(kid, der, dlen);
	k->sign_tmpl = EVP_MD_CTX_new();
	k->verify_tmpl = EVP_MD_CTX_new();
	if (!k->pkey || !k->sign_tmpl || !k->verify_tmpl)
		goto fail;
	if (EVP_DigestSignInit(k->sign_tmpl, NULL, sha256_md, NULL, k->pkey) != 1 ||
	    EVP_DigestVerifyInit(k->verify_tmpl, NULL, sha256_md, NULL, k->pkey) != 1)
		goto fail;
	return k;
fail:
	key_free(k);
	return NULL;
}

struct keyring *keyring_new(void)
{
	pthread_once(&md_once, md_fetch);
	struct keyring *kr = calloc(1, sizeof *kr);
	if (!kr)
		return NULL;
	pthread_rwlock_init(&kr->lock, NULL);
	kr->current = -1;
	return kr;
}

void keyring_free(struct keyring *kr)
{
	if (!kr)
		return;
	for (int i = 0; i < kr->n; i++)
		key_free(kr->keys[i]);
	free(kr->jwks);
	pthread_rwlock_destroy(&kr->lock);
	free(kr);
}

int keyring_load(struct keyring *kr, struct db *db)
{
	struct key *keys[KEYRING_MAX];
	int n = 0, current = -1;
	struct buf jwks;
	buf_init(&jwks, 1 << 20);
	buf_puts(&jwks, "{\"keys\":[");
	struct db_stmt *st = db_prep(db, "SELECT kid, alg, state, private_der, public_jwk FROM signing_keys"
					 " WHERE state != 'retired' ORDER BY created_at DESC, kid");
	if (!st)
		goto fail;
	int rc;
	while ((rc = db_step(st)) == DB_ROW && n < KEYRING_MAX) {
		struct key *k = key_parse(db_col_text(st, 0), db_col_text(st, 1), db_col_text(st, 2),
					  db_col_blob(st, 3), db_col_bytes(st, 3));
		if (!k) {
			db_reset(st);
			goto fail;
		}
		if (k->state == KEY_CURRENT) {
			assert(current == -1); /* the unique index allows one current key */
			current = n;
		}
		buf_puts(&jwks, n ? "," : "");
		buf_puts(&jwks, db_col_text(st, 4));
		keys[n++] = k;
	}
	db_reset(st);
	buf_puts(&jwks, "]}");
	if (jwks.failed)
		goto fail;

	pthread_rwlock_wrlock(&kr->lock);
	struct key *old[KEYRING_MAX];
	int oldn = kr->n;
	memcpy(old, kr->keys, sizeof old);
	memcpy(kr->keys, keys, sizeof keys);
	kr->n = n;
	kr->current = current;
	free(kr->jwks);
	kr->jwks = buf_steal(&jwks, &kr->jwks_len);
	kr->generation++;
	pthread_rwlock_unlock(&kr->lock);
	for (int i = 0; i < oldn; i++)
		key_free(old[i]);
	return 0;
fail:
	for (int i = 0; i < n; i++)
		key_free(keys[i]);
	buf_free(&jwks);
	return -1;
}

/* Per-thread scratch contexts: EVP_MD_CTX_copy_ex reuses their allocations; freed when
 * the thread ends. */
static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;
static void ctx_free(void *p) { EVP_MD_CTX_free(p); }
static void ctx_key_init(void) { pthread_key_create(&ctx_key, ctx_free); }

static EVP_MD_CTX *scratch(void)
{
	pthread_once(&ctx_once, ctx_key_init);
	EVP_MD_CTX *c = pthread_getspecific(ctx_key);
	if (!c && (c = EVP_MD_CTX_new()))
		pthread_setspecific(ctx_key, c);
	return c;
}

/* RFC 7518 §3.4: ES256 signatures are R || S, 32 bytes each, not DER. */
static int der_to_raw(const unsigned char *der, size_t dlen, unsigned char raw[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
	if (!sig)
		return -1;
	const BIGNUM *r, *s;
	ECDSA_SIG_get0(sig, &r, &s);
	int ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
	ECDSA_SIG_free(sig);
	return ok ? 0 : -1;
}

/* The order n of P-256 (SEC 2 §2.4.2) and n/2 rounded down, big-endian. */
static const unsigned char p256_n[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
					 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
					 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
static const unsigned char p256_half_n[32] = {0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff,
					      0xff, 0xff, 0xff, 0xff, 0xff, 0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b,
					      0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8};

/* 1 when the 32-byte big-endian s is above n/2: the "high" one of the pair (s, n - s). */
static int s_is_high(const unsigned char s[32]) { return memcmp(s, p256_half_n, 32) > 0; }

/* An ECDSA signature (r, s) is as valid as (r, n - s): Warrant mints only the low one, so
 * each token has one string (SPEC "Signing keys"). s is replaced by n - s when high. */
static void s_make_low(unsigned char s[32])
{
	if (!s_is_high(s))
		return;
	int borrow = 0;
	for (int i = 31; i >= 0; i--) {
		int d = p256_n[i] - s[i] - borrow;
		borrow = d < 0;
		s[i] = (unsigned char)(d + (borrow ? 256 : 0));
	}
}

int keyring_current(struct keyring *kr, char kid[KID_MAX], enum key_alg *alg)
{
	pthread_rwlock_rdlock(&kr->lock);
	int ok = kr->current >= 0;
	if (ok) {
		memcpy(kid, kr->keys[kr->current]->kid, KID_MAX);
		*alg = kr->keys[kr->current]->alg;
	}
	pthread_rwlock_unlock(&kr->lock);
	return ok ? 0 : -1;
}

int keyring_jws(struct keyring *kr, const char *typ, const char *payload, size_t n, struct buf *out)
{
	unsigned char sig[SIG_MAX], raw[64];
	size_t slen = sizeof sig;
	char enc[B64URL_LEN(SIG_MAX) + 1];
	char hdr[160];
	EVP_MD_CTX *ctx = scratch();
	int rc = -1;
	size_t start = out->len;
	char *p64 = malloc(B64URL_LEN(n) + 1);
	if (!p64)
		return -1;
	pthread_rwlock_rdlock(&kr->lock);
	if (kr->current < 0 || !ctx)
		goto done;
	struct key *k = kr->keys[kr->current];
	int hl = snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"%s\"}", key_alg_name(k->alg),
			  k->kid, typ);
	if (hl < 0 || (size_t)hl >= sizeof hdr)
		goto done;
	b64url_encode((const unsigned char *)hdr, (size_t)hl, enc);
	buf_puts(out, enc);
	buf_put(out, ".", 1);
	b64url_encode((const unsigned char *)payload, n, p64);
	buf_puts(out, p64);
	if (out->failed)
		goto done;
	if (EVP_MD_CTX_copy_ex(ctx, k->sign_tmpl) != 1 ||
	    EVP_DigestSign(ctx, sig, &slen, (const unsigned char *)out->p + start, out->len - start) != 1)
		goto done;
	if (k->alg == ALG_ES256) {
		if (der_to_raw(sig, slen, raw) < 0)
			goto done;
		s_make_low(raw + 32);
		b64url_encode(raw, 64, enc);
	} else {
		b64url_encode(sig, slen, enc);
	}
	buf_put(out, ".", 1);
	rc = buf_puts(out, enc);
done:
	pthread_rwlock_unlock(&kr->lock);
	free(p64);
	return rc;
}

int keyring_verify(struct keyring *kr, const char *kid, enum key_alg alg, const char *in, size_t n,
		   const unsigned char *sig, size_t siglen)
{
	unsigned char der[80];
	EVP_MD_CTX *ctx = scratch();
	int ok = 0;
	pthread_rwlock_rdlock(&kr->lock);
	for (int i = 0; i < kr->n && ctx; i++) {
		struct key *k = kr->keys[i];
		if (strcmp(k->kid, kid) != 0)
			continue;
		if (k->alg != alg) /* RFC 8725 §3.1: the key decides the algorithm */
			break;
		const unsigned char *s = sig;
		size_t sl = siglen;
		if (alg == ALG_ES256) {
			/* our own tokens only: a high s is the second string of a low-s token */
			if (siglen != 64 || s_is_high(sig + 32))
				break;
			int dl = jose_es256_raw_to_der(sig, der, sizeof der);
			if (dl < 0)
				break;
			s = der;
			sl = (size_t)dl;
		}
		ok = EVP_MD_CTX_copy_ex(ctx, k->verify_tmpl) == 1 &&
		     EVP_DigestVerify(ctx, s, sl, (const unsigned char *)in, n) == 1;
		break;
	}
	pthread_rwlock_unlock(&kr->lock);
	return ok;
}

int keyring_has(struct keyring *kr, const char *kid)
{
	int found = 0;
	pthread_rwlock_rdlock(&kr->lock);
	for (int i = 0; i < kr->n && !found; i++)
		found = strcmp(kr->keys[i]->kid, kid) == 0;
	pthread_rwlock_unlock(&kr->lock);
	return found;
}

char *keyring_jwks(struct keyring *kr, size_t *len)
{
	pthread_rwlock_rdlock(&kr->lock);
	char *copy = NULL;
	if (kr->jwks && (copy = malloc(kr->jwks_len + 1))) {
		memcpy(copy, kr->jwks, kr->jwks_len + 1);
		*len = kr->jwks_len;
	}
	pthread_rwlock_unlock(&kr->lock);
	return copy;
}

uint64_t keyring_generation(struct keyring *kr)
{
	pthread_rwlock_rdlock(&kr->lock);
	uint64_t g = kr->generation;
	pthread_rwlock_unlock(&kr->lock);
	return g;
}
