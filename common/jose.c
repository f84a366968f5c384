/* jose.c - public JWKs, JWK Sets and compact JWSs of keys Warrant does not own; see jose.h. */
#include "jose.h"

#include "codec.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define KEY_BAD -1        /* malformed or refused: a key set holding it fails */
#define KEY_SKIP -2       /* well formed, but not a signature key Warrant accepts: a key set skips it */
#define RSA_E_MAX_BYTES 4 /* e below 2^32 */

const char *jose_alg_name(enum jose_alg a)
{
	switch (a) {
	case JOSE_ES256: return "ES256";
	case JOSE_RS256: return "RS256";
	case JOSE_PS256: return "PS256";
	case JOSE_EDDSA: return "EdDSA";
	case JOSE_ALG_NONE: break;
	}
	return "none";
}

enum jose_alg jose_alg_parse(const char *s)
{
	if (!s)
		return JOSE_ALG_NONE;
	for (enum jose_alg a = JOSE_ES256; a <= JOSE_EDDSA; a++)
		if (strcmp(s, jose_alg_name(a)) == 0)
			return a;
	/* RFC 9864 §2.2: "Ed25519", the fully specified name that replaces "EdDSA" for these
	 * keys (what current JOSE libraries such as jose and oauth4webapi sign with) */
	if (strcmp(s, "Ed25519") == 0)
		return JOSE_EDDSA;
	return JOSE_ALG_NONE;
}

int jose_alg_fits(const struct jose_key *k, enum jose_alg a)
{
	if (!k || !k->pkey || a == JOSE_ALG_NONE || (k->alg != JOSE_ALG_NONE && k->alg != a))
		return 0;
	switch (k->kty) {
	case JOSE_KTY_EC: return a == JOSE_ES256;
	case JOSE_KTY_RSA: return a == JOSE_RS256 || a == JOSE_PS256;
	case JOSE_KTY_OKP: return a == JOSE_EDDSA;
	case JOSE_KTY_NONE: break;
	}
	return 0;
}

/* ---- JSON ---- */

/* 1 when the objects and arrays of a JSON text nest at most JOSE_JSON_DEPTH_MAX deep; looked
 * at before jansson, whose own limit (JSON_PARSER_MAX_DEPTH, 2048 in Debian's 2.14) is far
 * beyond anything a key or a token needs. Strings are skipped; malformed text is jansson's. */
static int depth_ok(const char *s, size_t n)
{
	int depth = 0, in_str = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > JOSE_JSON_DEPTH_MAX)
				return 0;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return 1;
}

/* n bytes of JSON text as an object (new reference), duplicate members refused; NULL and
 * *why otherwise. */
static json_t *load_object(const char *s, size_t n, const char **why)
{
	if (!depth_ok(s, n)) {
		*why = "too_deep";
		return NULL;
	}
	json_t *o = json_loadb(s, n, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		*why = "malformed";
		return NULL;
	}
	return o;
}

static const char *str_member(const json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* RFC 7518 §6.2.2, §6.3.2 (the members of "oth" among them), §6.4.1 ("k"). */
static const char *const PRIVATE_MEMBERS[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

static int has_private(const json_t *jwk)
{
	for (size_t i = 0; i < sizeof PRIVATE_MEMBERS / sizeof *PRIVATE_MEMBERS; i++)
		if (json_object_get(jwk, PRIVATE_MEMBERS[i]))
			return 1;
	const char *kty = str_member(jwk, "kty");
	return kty && strcmp(kty, "oct") == 0;
}

/* Overwrites, in place, every string under v: jansson frees without wiping. */
static void wipe_strings(json_t *v)
{
	if (json_is_string(v)) {
		OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
	} else if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++)
			wipe_strings(json_array_get(v, i));
	} else if (json_is_object(v)) {
		const char *name;
		json_t *m;
		json_object_foreach(v, name, m) wipe_strings(m);
	}
}

/* The private members of a refused JWK, wiped in the parsed copy this module owns. */
static void wipe_private(json_t *jwk)
{
	for (size_t i = 0; i < sizeof PRIVATE_MEMBERS / sizeof *PRIVATE_MEMBERS; i++)
		wipe_strings(json_object_get(jwk, PRIVATE_MEMBERS[i]));
}

/* The base64url string member name of o decoded into out (exactly cap bytes or fewer):
 * its length, or -1 when absent, not a string or malformed. */
static ssize_t member_b64(const json_t *o, const char *name, unsigned char *out, size_t cap)
{
	json_t *v = json_object_get(o, name);
	if (!json_is_string(v))
		return -1;
	return b64url_decode(json_string_value(v), json_string_length(v), out, cap);
}

/* ---- building keys ---- */

/* A public key of type type from the parameters in bld (freed); NULL on failure. */
static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *p = bld ? OSSL_PARAM_BLD_to_param(bld) : NULL;
	EVP_PKEY_CTX *c = p ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
	EVP_PKEY *pk = NULL;
	if (!c || EVP_PKEY_fromdata_init(c) != 1 || EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, p) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(c);
	OSSL_PARAM_free(p);
	OSSL_PARAM_BLD_free(bld);
	return pk;
}

/* RFC 7518 §6.2.1: x and y are the full 32 bytes of P-256 coordinates. The point is decoded
 * by OpenSSL, which refuses coordinates not below p and points not on the curve; the public
 * key check repeats that and refuses the point at infinity. */
static int ec_load(const json_t *jwk, struct jose_key *k, const char **why)
{
	unsigned char pt[65];
	const char *crv = str_member(jwk, "crv");
	if (!crv || strcmp(crv, "P-256") != 0) {
		*why = "unsupported_curve";
		return crv ? KEY_SKIP : KEY_BAD;
	}
	*why = "bad_key";
	pt[0] = 0x04; /* SEC 1 §2.3.3 uncompressed */
	if (member_b64(jwk, "x", pt + 1, 32) != 32 || member_b64(jwk, "y", pt + 33, 32) != 32)
		return KEY_BAD;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt)) {
		OSSL_PARAM_BLD_free(bld);
		return KEY_BAD;
	}
	k->pkey = from_params("EC", bld);
	EVP_PKEY_CTX *c = k->pkey ? EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL) : NULL;
	int ok = c && EVP_PKEY_public_check(c) == 1;
	EVP_PKEY_CTX_free(c);
	if (!ok)
		return KEY_BAD;
	k->kty = JOSE_KTY_EC;
	return 0;
}

/* RFC 7518 §6.3.1: n and e big-endian unsigned. n of JOSE_RSA_MIN_BITS..JOSE_RSA_MAX_BITS and
 * odd; e odd, at least 3 and below 2^32. A zero byte before n's top byte is tolerated (some
 * libraries emit one); the thumbprint is computed over the minimal form (RFC 7518 §6.3.1.1; RFC 8555 §8.1). */
static int rsa_load(const json_t *jwk, struct jose_key *k, const char **why)
{
	unsigned char nb[JOSE_RSA_MAX_BITS / 8 + 1], eb[RSA_E_MAX_BYTES];
	json_t *nv = json_object_get(jwk, "n");
	*why = "bad_key";
	if (json_is_string(nv) && json_string_length(nv) > B64URL_LEN(sizeof nb)) {
		*why = "key_size"; /* too long to be a key Warrant accepts: not decoded */
		return KEY_SKIP;
	}
	ssize_t nl = member_b64(jwk, "n", nb, sizeof nb), el = member_b64(jwk, "e", eb, sizeof eb);
	if (nl <= 0 || el <= 0)
		return KEY_BAD;
	BIGNUM *n = BN_bin2bn(nb, (int)nl, NULL), *e = BN_bin2bn(eb, (int)el, NULL);
	int rc = KEY_BAD;
	if (!n || !e)
		goto done;
	if (BN_num_bits(n) < JOSE_RSA_MIN_BITS || BN_num_bits(n) > JOSE_RSA_MAX_BITS) {
		*why = "key_size";
		rc = KEY_SKIP;
		goto done;
	}
	if (!BN_is_odd(n) || !BN_is_odd(e) || BN_is_one(e))
		goto done;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)) {
		OSSL_PARAM_BLD_free(bld);
		goto done;
	}
	if (!(k->pkey = from_params("RSA", bld)))
		goto done;
	k->kty = JOSE_KTY_RSA;
	rc = 0;
done:
	BN_free(n);
	BN_free(e);
	return rc;
}

/* The y of each Ed25519 point of order dividing 8, little-endian, sign bit clear: 0 (order
 * 4), 1 (the identity), p - 1 (order 2) and the two y of the order-8 points. A public key
 * among them makes [S]B = R + [k]A hold for signatures made without any private key. */
static const unsigned char ED25519_SMALL_Y[5][32] = {
	{0},
	{1},
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
	 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
	{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
	 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
};

/* 1 when the encoded point x is not a usable public key: y not below p = 2^255 - 19 (RFC 8032
 * §5.1.3: non-canonical), or a point of small order. */
static int ed25519_weak(const unsigned char x[32])
{
	unsigned char y[32];
	memcpy(y, x, 32);
	y[31] &= 0x7f;
	int high = y[31] == 0x7f && y[0] >= 0xed;
	for (int i = 1; i < 31; i++)
		high &= y[i] == 0xff;
	for (size_t i = 0; i < sizeof ED25519_SMALL_Y / sizeof *ED25519_SMALL_Y; i++)
		if (memcmp(y, ED25519_SMALL_Y[i], 32) == 0)
			return 1;
	return high;
}

/* RFC 8037 §2: OKP with crv Ed25519, x the 32-byte public key. */
static int okp_load(const json_t *jwk, struct jose_key *k, const char **why)
{
	unsigned char x[32];
	const char *crv = str_member(jwk, "crv");
	if (!crv || strcmp(crv, "Ed25519") != 0) {
		*why = "unsupported_curve"; /* X25519 and X448 are for key agreement, Ed448 not offered */
		return crv ? KEY_SKIP : KEY_BAD;
	}
	*why = "bad_key";
	if (member_b64(jwk, "x", x, sizeof x) != (ssize_t)sizeof x)
		return KEY_BAD;
	if (ed25519_weak(x)) {
		*why = "weak_key";
		return KEY_BAD;
	}
	if (!(k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, sizeof x)))
		return KEY_BAD;
	k->kty = JOSE_KTY_OKP;
	return 0;
}

/* ---- canonical form and thumbprint ---- */

static int bn_member(struct buf *b, const char *name, EVP_PKEY *pk, const char *param, int pad)
{
	BIGNUM *bn = NULL;
	unsigned char raw[JOSE_RSA_MAX_BITS / 8];
	char enc[B64URL_LEN(sizeof raw) + 1];
	if (!EVP_PKEY_get_bn_param(pk, param, &bn))
		return -1;
	int len = pad ? pad : BN_num_bytes(bn);
	int ok = len > 0 && len <= (int)sizeof raw && BN_bn2binpad(bn, raw, len) == len;
	BN_free(bn);
	if (!ok)
		return -1;
	b64url_encode(raw, (size_t)len, enc);
	return buf_printf(b, "\"%s\":\"%s\"", name, enc);
}

/* RFC 7638 §3.2: the required members of k in lexicographic order, no whitespace, without
 * the enclosing braces. */
static int canon_members(const struct jose_key *k, struct buf *b)
{
	switch (k->kty) {
	case JOSE_KTY_EC:
		buf_puts(b, "\"crv\":\"P-256\",\"kty\":\"EC\",");
		bn_member(b, "x", k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32);
		buf_puts(b, ",");
		return bn_member(b, "y", k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32) < 0 || b->failed ? -1 : 0;
	case JOSE_KTY_RSA:
		bn_member(b, "e", k->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
		buf_puts(b, ",\"kty\":\"RSA\",");
		return bn_member(b, "n", k->pkey, OSSL_PKEY_PARAM_RSA_N, 0) < 0 || b->failed ? -1 : 0;
	case JOSE_KTY_OKP: {
		unsigned char x[32];
		char enc[B64URL_LEN(32) + 1];
		size_t xl = sizeof x;
		if (EVP_PKEY_get_raw_public_key(k->pkey, x, &xl) != 1 || xl != sizeof x)
			return -1;
		b64url_encode(x, xl, enc);
		return buf_printf(b, "\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"", enc) < 0 ? -1 : 0;
	}
	case JOSE_KTY_NONE: break;
	}
	return -1;
}

/* RFC 7638 §3: base64url(SHA-256(canonical JSON)) into k->jkt. */
static int thumbprint(struct jose_key *k)
{
	struct buf b;
	unsigned char dg[32];
	buf_init(&b, 2048);
	buf_puts(&b, "{");
	int ok = canon_members(k, &b) == 0 && buf_puts(&b, "}") == 0 &&
		 EVP_Digest(b.p, b.len, dg, NULL, EVP_sha256(), NULL) == 1;
	buf_free(&b);
	if (ok)
		b64url_encode(dg, sizeof dg, k->jkt);
	return ok ? 0 : -1;
}

int jose_key_public_json(const struct jose_key *k, struct buf *out)
{
	if (!k || !k->pkey) {
		out->failed = 1;
		return -1;
	}
	buf_puts(out, "{");
	if (canon_members(k, out) < 0) {
		out->failed = 1;
		return -1;
	}
	buf_puts(out, ",\"kid\":");
	buf_json_cstr(out, k->kid);
	if (k->alg != JOSE_ALG_NONE)
		buf_printf(out, ",\"alg\":\"%s\"", jose_alg_name(k->alg));
	buf_puts(out, "}");
	return out->failed ? -1 : 0;
}

/* ---- JWK ---- */

/* RFC 7517 §4.2, §4.3: "use" sig, or "key_ops" naming "verify", or neither. KEY_SKIP for a
 * key meant for something else, KEY_BAD for members of the wrong type. */
static int usage_ok(const json_t *jwk, const char **why)
{
	json_t *use = json_object_get(jwk, "use"), *ops = json_object_get(jwk, "key_ops");
	*why = "bad_key";
	if ((use && !json_is_string(use)) || (ops && !json_is_array(ops)))
		return KEY_BAD;
	*why = "not_signature_key";
	if (use && strcmp(json_string_value(use), "sig") != 0)
		return KEY_SKIP;
	if (ops) {
		for (size_t i = 0; i < json_array_size(ops); i++) {
			const char *op = json_string_value(json_array_get(ops, i));
			if (op && strcmp(op, "verify") == 0)
				return 0;
		}
		return KEY_SKIP;
	}
	return 0;
}

/* A "kid": 1..JOSE_KID_MAX bytes without control characters (it reaches audit rows). */
static int kid_ok(const char *kid, size_t n)
{
	if (n == 0 || n > JOSE_KID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)kid[i] < 0x20 || kid[i] == 0x7f)
			return 0;
	return 1;
}

/* The checks of "kid" and "alg", after the key itself. */
static int key_meta(const json_t *jwk, struct jose_key *k, const char **why)
{
	json_t *kid = json_object_get(jwk, "kid"), *alg = json_object_get(jwk, "alg");
	*why = "bad_key";
	if ((kid && !json_is_string(kid)) || (alg && !json_is_string(alg)))
		return KEY_BAD;
	if (alg) {
		k->alg = jose_alg_parse(json_string_value(alg));
		if (k->alg == JOSE_ALG_NONE) {
			*why = "unsupported_alg";
			return KEY_SKIP;
		}
		if (!jose_alg_fits(k, k->alg)) {
			*why = "alg_mismatch";
			return KEY_BAD;
		}
	}
	if (thumbprint(k) < 0)
		return KEY_BAD;
	if (!kid) {
		memcpy(k->kid, k->jkt, sizeof k->jkt);
	} else if (kid_ok(json_string_value(kid), json_string_length(kid))) {
		memcpy(k->kid, json_string_value(kid), json_string_length(kid) + 1);
	} else {
		*why = "bad_kid";
		return KEY_BAD;
	}
	k->bits = EVP_PKEY_get_bits(k->pkey);
	return 0;
}

/* One JWK into *k: 0, KEY_BAD or KEY_SKIP with *why; *k zeroed unless 0. */
static int key_load(const json_t *jwk, struct jose_key *k, const char **why)
{
	memset(k, 0, sizeof *k);
	*why = "malformed";
	if (!json_is_object(jwk))
		return KEY_BAD;
	if (has_private(jwk)) {
		*why = "private_key";
		return KEY_BAD;
	}
	const char *kty = str_member(jwk, "kty");
	int rc = usage_ok(jwk, why);
	if (rc == 0) {
		if (!kty) {
			*why = "bad_key";
			rc = KEY_BAD;
		} else if (strcmp(kty, "EC") == 0) {
			rc = ec_load(jwk, k, why);
		} else if (strcmp(kty, "RSA") == 0) {
			rc = rsa_load(jwk, k, why);
		} else if (strcmp(kty, "OKP") == 0) {
			rc = okp_load(jwk, k, why);
		} else {
			*why = "unsupported_key";
			rc = KEY_SKIP;
		}
	}
	if (rc == 0)
		rc = key_meta(jwk, k, why);
	if (rc != 0) {
		jose_key_clear(k);
		ERR_clear_error(); /* what OpenSSL said of a bad key is not for the next caller */
	}
	return rc;
}

int jose_key_from_json(const json_t *jwk, struct jose_key *k, const char **why)
{
	return key_load(jwk, k, why) == 0 ? 0 : -1;
}

int jose_key_parse(const char *json, size_t n, struct jose_key *k, const char **why)
{
	memset(k, 0, sizeof *k);
	if (!json || n > JOSE_JWK_MAX) {
		*why = "too_large";
		return -1;
	}
	json_t *o = load_object(json, n, why);
	if (!o)
		return -1;
	int rc = key_load(o, k, why);
	if (rc != 0 && has_private(o))
		wipe_private(o);
	json_decref(o);
	return rc == 0 ? 0 : -1;
}

void jose_key_clear(struct jose_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	memset(k, 0, sizeof *k);
}

/* ---- JWK Set ---- */

int jose_keyset_parse(const char *json, size_t n, struct jose_keyset *ks, const char **why)
{
	memset(ks, 0, sizeof *ks);
	if (!json || n > JOSE_JWKS_MAX) {
		*why = "too_large";
		return -1;
	}
	json_t *o = load_object(json, n, why);
	if (!o)
		return -1;
	json_t *keys = json_object_get(o, "keys"); /* RFC 7517 §5.1 */
	size_t nk = json_array_size(keys);
	*why = "malformed";
	if (!json_is_array(keys) || nk > JOSE_KEYSET_MAX) {
		if (nk > JOSE_KEYSET_MAX)
			*why = "too_many_keys";
		goto fail;
	}
	if (!(ks->keys = calloc(nk ? nk : 1, sizeof *ks->keys)))
		goto fail;
	for (size_t i = 0; i < nk; i++) {
		json_t *jwk = json_array_get(keys, i);
		int rc = key_load(jwk, &ks->keys[ks->n], why);
		if (rc == 0)
			ks->n++;
		else if (rc == KEY_BAD)
			goto fail;
	}
	json_decref(o);
	*why = NULL;
	return 0;
fail:
	for (size_t i = 0; i < nk; i++)
		if (has_private(json_array_get(keys, i)))
			wipe_private(json_array_get(keys, i));
	json_decref(o);
	jose_keyset_clear(ks);
	return -1;
}

const struct jose_key *jose_keyset_find(const struct jose_keyset *ks, const char *kid)
{
	for (int i = 0; kid && ks && i < ks->n; i++)
		if (strcmp(ks->keys[i].kid, kid) == 0)
			return &ks->keys[i];
	return NULL;
}

void jose_keyset_clear(struct jose_keyset *ks)
{
	if (!ks)
		return;
	for (int i = 0; i < ks->n; i++)
		jose_key_clear(&ks->keys[i]);
	free(ks->keys);
	memset(ks, 0, sizeof *ks);
}

/* ---- JWS ---- */

/* RFC 7515 §4.1: alg accepted, no crit, kid and typ strings. */
static int header_ok(struct jose_jws *j, const char **why)
{
	json_t *kid = json_object_get(j->header, "kid"), *typ = json_object_get(j->header, "typ");
	j->alg = jose_alg_parse(str_member(j->header, "alg"));
	if (j->alg == JOSE_ALG_NONE) {
		*why = "bad_alg"; /* RFC 8725 §3.1, §3.2: none, HMACs and the unknown */
		return -1;
	}
	if (json_object_get(j->header, "crit")) {
		*why = "crit";
		return -1;
	}
	*why = "bad_header";
	if ((kid && (!json_is_string(kid) || !kid_ok(json_string_value(kid), json_string_length(kid)))) ||
	    (typ && !json_is_string(typ)))
		return -1;
	j->kid = kid ? json_string_value(kid) : NULL;
	j->typ = typ ? json_string_value(typ) : NULL;
	return 0;
}

/* One base64url part decoded into tmp (cap bytes) and loaded as a JSON object. */
static json_t *part_object(const char *s, size_t n, unsigned char *tmp, size_t cap, const char **why)
{
	*why = "malformed";
	ssize_t dn = n ? b64url_decode(s, n, tmp, cap) : -1;
	if (dn <= 0)
		return NULL;
	return load_object((const char *)tmp, (size_t)dn, why);
}

int jose_jws_parse(const char *s, size_t n, struct jose_jws *j, const char **why)
{
	memset(j, 0, sizeof *j);
	*why = "malformed";
	if (!s || n == 0 || n > JOSE_JWS_MAX) {
		*why = n ? "too_large" : "malformed";
		return -1;
	}
	/* RFC 7515 §7.1: exactly three parts; padding is not in the alphabet b64url_decode takes */
	const char *d1 = memchr(s, '.', n);
	const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - s)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - s)))
		return -1;
	size_t hl = (size_t)(d1 - s), pl = (size_t)(d2 - d1 - 1), sl = n - (size_t)(d2 + 1 - s);
	unsigned char *tmp = malloc(n);
	if (!tmp)
		return -1;
	j->header = part_object(s, hl, tmp, n, why);
	if (j->header && header_ok(j, why) == 0)
		j->claims = part_object(d1 + 1, pl, tmp, n, why);
	free(tmp);
	if (!j->claims)
		goto fail;
	*why = "malformed";
	ssize_t sn = sl ? b64url_decode(d2 + 1, sl, j->sig, sizeof j->sig) : -1;
	if (sn <= 0 || !(j->input = malloc(hl + pl + 2)))
		goto fail;
	j->sig_len = (size_t)sn;
	j->input_len = hl + 1 + pl;
	memcpy(j->input, s, j->input_len);
	j->input[j->input_len] = '\0';
	*why = NULL;
	return 0;
fail:
	jose_jws_clear(j);
	return -1;
}

/* One INTEGER of an Ecdsa-Sig-Value (X9.62): the shortest big-endian form, with a zero byte
 * in front when the top bit is set (DER integers are signed). Returns its length. */
static size_t der_uint256(const unsigned char v[32], unsigned char *out)
{
	size_t i = 0;
	while (i < 31 && v[i] == 0)
		i++;
	size_t n = 32 - i, pad = (v[i] & 0x80) != 0;
	out[0] = 0x02;
	out[1] = (unsigned char)(n + pad);
	out[2] = 0;
	memcpy(out + 2 + pad, v + i, n);
	return 2 + pad + n;
}

int jose_es256_raw_to_der(const unsigned char raw[64], unsigned char *der, size_t cap)
{
	/* RFC 7518 §3.4: r || s, 32 bytes each; DER: SEQUENCE { r, s }, at most 2 + 2 * 35
	 * bytes, so the length always takes the short form */
	unsigned char body[2 * 35];
	size_t a = der_uint256(raw, body);
	size_t b = der_uint256(raw + 32, body + a);
	if (2 + a + b > cap)
		return -1;
	der[0] = 0x30;
	der[1] = (unsigned char)(a + b);
	memcpy(der + 2, body, a + b);
	return (int)(2 + a + b);
}

/* ---- verification contexts ----
 * Setting a verification up (fetching the algorithm, a context bound to the key) costs
 * about 5 us of an ES256 verification's ~70. An agent signs many assertions or proofs with
 * one key, so each thread keeps the contexts of its last few keys. A slot holds a
 * reference to its key, so a pointer seen again is the same key; a thread's slots are
 * freed when it ends (the thread-local pointer keeps them reachable until then). */
#define VERIFY_SLOTS 8

struct verify_slot {
	EVP_PKEY *pkey;
	enum jose_alg alg;
	EVP_PKEY_CTX *ctx;
};

struct verify_cache {
	struct verify_slot s[VERIFY_SLOTS];
	unsigned next;
};

static _Thread_local struct verify_cache *thread_cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static int cache_key_ok;

static void cache_free(void *p)
{
	struct verify_cache *c = p;
	for (int i = 0; c && i < VERIFY_SLOTS; i++) {
		EVP_PKEY_CTX_free(c->s[i].ctx);
		EVP_PKEY_free(c->s[i].pkey);
	}
	free(c);
}

static void cache_key_make(void) { cache_key_ok = pthread_key_create(&cache_key, cache_free) == 0; }

/* A context ready to verify SHA-256 digests signed by pkey with alg (not EdDSA), or NULL. */
static EVP_PKEY_CTX *verify_ctx_new(EVP_PKEY *pkey, enum jose_alg alg)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (!c || EVP_PKEY_verify_init(c) != 1)
		goto fail;
	if (alg == JOSE_RS256 && EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) != 1)
		goto fail;
	if (alg == JOSE_PS256 && /* RFC 7518 §3.5: MGF1 with SHA-256, salt as long as the hash */
	    (EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) != 1 || EVP_PKEY_CTX_set_rsa_pss_saltlen(c, 32) != 1))
		goto fail;
	if (EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) != 1)
		goto fail;
	return c;
fail:
	EVP_PKEY_CTX_free(c);
	return NULL;
}

/* This thread's context for (pkey, alg), owned by the thread's cache; NULL on failure. */
static EVP_PKEY_CTX *verify_ctx(EVP_PKEY *pkey, enum jose_alg alg)
{
	struct verify_cache *c = thread_cache;
	if (!c) {
		pthread_once(&cache_once, cache_key_make);
		if (!cache_key_ok || !(c = calloc(1, sizeof *c)))
			return NULL;
		if (pthread_setspecific(cache_key, c) != 0) {
			free(c);
			return NULL;
		}
		thread_cache = c;
	}
	for (int i = 0; i < VERIFY_SLOTS; i++)
		if (c->s[i].pkey == pkey && c->s[i].alg == alg)
			return c->s[i].ctx;
	EVP_PKEY_CTX *x = verify_ctx_new(pkey, alg);
	if (!x || EVP_PKEY_up_ref(pkey) != 1) {
		EVP_PKEY_CTX_free(x);
		return NULL;
	}
	struct verify_slot *s = &c->s[c->next++ % VERIFY_SLOTS];
	EVP_PKEY_CTX_free(s->ctx);
	EVP_PKEY_free(s->pkey);
	*s = (struct verify_slot){.pkey = pkey, .alg = alg, .ctx = x};
	return x;
}

int jose_jws_verify(const struct jose_jws *j, const struct jose_key *k)
{
	if (!j || !k || !j->input || !jose_alg_fits(k, j->alg))
		return 0;
	unsigned char der[80];
	const unsigned char *sig = j->sig;
	size_t sl = j->sig_len;
	if (j->alg == JOSE_ES256 || j->alg == JOSE_EDDSA) {
		if (sl != 64)
			return 0;
	} else if (sl != (size_t)EVP_PKEY_get_size(k->pkey)) { /* RFC 8017 §8.1.2, §8.2.2: k bytes */
		return 0;
	}
	if (j->alg == JOSE_ES256) {
		int dl = jose_es256_raw_to_der(j->sig, der, sizeof der);
		if (dl < 0)
			return -1;
		sig = der;
		sl = (size_t)dl;
	}
	int rc = -1;
	if (j->alg == JOSE_EDDSA) { /* RFC 8032 §5.1.7: the message itself, not a digest */
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		if (ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1)
			rc = EVP_DigestVerify(ctx, sig, sl, (const unsigned char *)j->input, j->input_len) == 1;
		EVP_MD_CTX_free(ctx);
	} else {
		unsigned char md[SHA256_DIGEST_LENGTH];
		EVP_PKEY_CTX *ctx = verify_ctx(k->pkey, j->alg);
		if (ctx && SHA256((const unsigned char *)j->input, j->input_len, md))
			rc = EVP_PKEY_verify(ctx, sig, sl, md, sizeof md) == 1;
	}
	ERR_clear_error();
	return rc;
}

void jose_jws_clear(struct jose_jws *j)
{
	if (!j)
		return;
	json_decref(j->header);
	json_decref(j->claims);
	free(j->input);
	memset(j, 0, sizeof *j);
}
