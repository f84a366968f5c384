/* test_jose.c - common/jose.c against vectors made by independent code (jose_vectors.h,
 * from gen_jose_vectors.py: python3-cryptography, python3-jwt, python3-jwcrypto). */
#include "../../common/jose.h"
#include "jose_vectors.h"
#include "test.h"

#include <stdlib.h>

#define NVEC(a) (sizeof(a) / sizeof *(a))

static const struct jwk_vector *jwk_named(const char *name)
{
	for (size_t i = 0; i < NVEC(jwk_vectors); i++)
		if (strcmp(jwk_vectors[i].name, name) == 0)
			return &jwk_vectors[i];
	return NULL;
}

static int key_named(const char *name, struct jose_key *k)
{
	const struct jwk_vector *v = jwk_named(name);
	const char *why;
	return v ? jose_key_parse(v->json, strlen(v->json), k, &why) : -1;
}

static int is_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

TEST(jose_jwk_vectors)
{
	for (size_t i = 0; i < NVEC(jwk_vectors); i++) {
		const struct jwk_vector *v = &jwk_vectors[i];
		struct jose_key k;
		const char *why = NULL;
		int rc = jose_key_parse(v->json, strlen(v->json), &k, &why);
		if ((rc == 0) != v->ok)
			fprintf(stderr, "    jwk %s: rc %d why %s\n", v->name, rc, why ? why : "-");
		CHECK((rc == 0) == v->ok);
		if (rc != 0) {
			CHECK_STR(why, v->why);
			CHECK(is_zero(&k, sizeof k));
			continue;
		}
		CHECK_STR(k.jkt, v->jkt);
		CHECK_STR(k.kid, v->kid);
		CHECK(k.pkey != NULL);
		/* the canonical public JWK parses to the same key, kid and thumbprint */
		struct buf b;
		struct jose_key k2;
		buf_init(&b, 8192);
		CHECK(jose_key_public_json(&k, &b) == 0);
		CHECK(jose_key_parse(b.p, b.len, &k2, &why) == 0);
		CHECK_STR(k2.jkt, v->jkt);
		CHECK_STR(k2.kid, v->kid);
		CHECK(k2.alg == k.alg && k2.kty == k.kty && k2.bits == k.bits);
		CHECK(EVP_PKEY_eq(k.pkey, k2.pkey) == 1);
		CHECK(strstr(b.p, "\"d\"") == NULL);
		buf_free(&b);
		jose_key_clear(&k2);
		jose_key_clear(&k);
		CHECK(is_zero(&k, sizeof k));
		jose_key_clear(&k); /* twice is harmless */
	}
}

/* The same answers from an already parsed JWK, the way a DPoP proof's "jwk" arrives. */
TEST(jose_jwk_from_json)
{
	for (size_t i = 0; i < NVEC(jwk_vectors); i++) {
		const struct jwk_vector *v = &jwk_vectors[i];
		json_t *o = json_loads(v->json, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(o) || !strcmp(v->why, "too_large") || !strcmp(v->why, "too_deep")) {
			json_decref(o);
			continue; /* the vectors about the text itself */
		}
		struct jose_key k;
		const char *why = NULL;
		int rc = jose_key_from_json(o, &k, &why);
		CHECK((rc == 0) == v->ok);
		if (rc == 0)
			CHECK_STR(k.jkt, v->jkt);
		else
			CHECK_STR(why, v->why);
		jose_key_clear(&k);
		json_decref(o);
	}
}

TEST(jose_rfc7638_example)
{
	struct jose_key k;
	CHECK(key_named("rfc7638", &k) == 0);
	CHECK_STR(k.jkt, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	CHECK_STR(k.kid, "2011-04-29");
	CHECK(k.kty == JOSE_KTY_RSA && k.alg == JOSE_RS256 && k.bits == 2048);
	CHECK(jose_alg_fits(&k, JOSE_RS256) && !jose_alg_fits(&k, JOSE_PS256));
	jose_key_clear(&k);
}

TEST(jose_jwk_limits)
{
	struct jose_key k;
	const char *why;
	const struct jwk_vector *v = jwk_named("ec_p256");
	size_t n = strlen(v->json);
	char *big = malloc(JOSE_JWK_MAX + 2);
	memcpy(big, v->json, n);
	memset(big + n, ' ', JOSE_JWK_MAX + 2 - n); /* trailing whitespace is valid JSON */
	CHECK(jose_key_parse(big, JOSE_JWK_MAX, &k, &why) == 0);
	jose_key_clear(&k);
	CHECK(jose_key_parse(big, JOSE_JWK_MAX + 1, &k, &why) == -1);
	CHECK_STR(why, "too_large");
	free(big);
	CHECK(jose_key_parse(v->json, n - 1, &k, &why) == -1); /* cut short */
	CHECK(jose_key_parse(NULL, 0, &k, &why) == -1);
	CHECK(jose_key_from_json(NULL, &k, &why) == -1);
	/* nesting at the limit is fine, one deeper is not */
	char deep[256];
	snprintf(deep, sizeof deep, "{\"kty\":\"EC\",\"z\":%.*s%.*s}", JOSE_JSON_DEPTH_MAX - 1,
		 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", JOSE_JSON_DEPTH_MAX - 1, "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
	CHECK(jose_key_parse(deep, strlen(deep), &k, &why) == -1);
	CHECK_STR(why, "unsupported_curve"); /* got past the depth check to the key */
	snprintf(deep, sizeof deep, "{\"kty\":\"EC\",\"z\":%.*s%.*s}", JOSE_JSON_DEPTH_MAX,
		 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", JOSE_JSON_DEPTH_MAX, "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
	CHECK(jose_key_parse(deep, strlen(deep), &k, &why) == -1);
	CHECK_STR(why, "too_deep");
	/* brackets inside strings, escaped quotes included, are not nesting */
	const char *s = "{\"kty\":\"EC\",\"z\":\"\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}";
	CHECK(jose_key_parse(s, strlen(s), &k, &why) == -1);
	CHECK_STR(why, "unsupported_curve");
}

TEST(jose_alg_names)
{
	for (enum jose_alg a = JOSE_ES256; a <= JOSE_EDDSA; a++)
		CHECK(jose_alg_parse(jose_alg_name(a)) == a);
	const char *refused[] = {"none",  "None",  "NONE",  "HS256",  "HS384",  "HS512", "ES384", "ES512",    "RS384",
				 "RS512", "PS384", "PS512", "ES256K", "EdDSA ", "es256", "",      "RSA-OAEP", "dir"};
	for (size_t i = 0; i < NVEC(refused); i++)
		CHECK(jose_alg_parse(refused[i]) == JOSE_ALG_NONE);
	CHECK(jose_alg_parse(NULL) == JOSE_ALG_NONE);
	CHECK_STR(jose_alg_name(JOSE_ALG_NONE), "none");
	CHECK_STR(jose_alg_name(JOSE_EDDSA), "EdDSA");
	CHECK(jose_alg_parse("Ed25519") == JOSE_EDDSA); /* RFC 9864 */
	CHECK(jose_alg_parse("ed25519") == JOSE_ALG_NONE && jose_alg_parse("Ed448") == JOSE_ALG_NONE);
}

TEST(jose_alg_fits_key_types)
{
	struct jose_key ec, rsa, ed, ps;
	CHECK(key_named("ec_p256", &ec) == 0 && key_named("rsa_2048", &rsa) == 0 && key_named("ed25519", &ed) == 0 &&
	      key_named("rsa_4096_ps256", &ps) == 0);
	CHECK(jose_alg_fits(&ec, JOSE_ES256) && !jose_alg_fits(&ec, JOSE_RS256) && !jose_alg_fits(&ec, JOSE_EDDSA));
	CHECK(jose_alg_fits(&rsa, JOSE_RS256) && jose_alg_fits(&rsa, JOSE_PS256) && !jose_alg_fits(&rsa, JOSE_ES256));
	CHECK(jose_alg_fits(&ed, JOSE_EDDSA) && !jose_alg_fits(&ed, JOSE_ES256) && !jose_alg_fits(&ed, JOSE_PS256));
	CHECK(jose_alg_fits(&ps, JOSE_PS256) && !jose_alg_fits(&ps, JOSE_RS256));
	CHECK(!jose_alg_fits(&ec, JOSE_ALG_NONE) && !jose_alg_fits(NULL, JOSE_ES256));
	CHECK(ec.bits == 256 && ed.bits == 256 && rsa.bits == 2048 && ps.bits == 4096);
	CHECK(ec.kty == JOSE_KTY_EC && rsa.kty == JOSE_KTY_RSA && ed.kty == JOSE_KTY_OKP);
	jose_key_clear(&ec);
	jose_key_clear(&rsa);
	jose_key_clear(&ed);
	jose_key_clear(&ps);
}

TEST(jose_jwks_vectors)
{
	for (size_t i = 0; i < NVEC(jwks_vectors); i++) {
		const struct jwks_vector *v = &jwks_vectors[i];
		struct jose_keyset ks;
		const char *why = NULL;
		int rc = jose_keyset_parse(v->json, strlen(v->json), &ks, &why);
		if ((rc == 0) != v->ok || (rc == 0 && ks.n != v->n))
			fprintf(stderr, "    jwks %s: rc %d n %d why %s\n", v->name, rc, ks.n, why ? why : "-");
		CHECK((rc == 0) == v->ok);
		if (rc == 0) {
			CHECK(ks.n == v->n);
			for (int j = 0; j < ks.n && j < v->n; j++) {
				CHECK_STR(ks.keys[j].kid, v->kids[j]);
				CHECK(jose_keyset_find(&ks, v->kids[j]) != NULL);
			}
		} else {
			CHECK(ks.n == 0 && ks.keys == NULL);
		}
		CHECK(jose_keyset_find(&ks, "no-such-kid") == NULL);
		CHECK(jose_keyset_find(&ks, NULL) == NULL);
		jose_keyset_clear(&ks);
		jose_keyset_clear(&ks);
	}
}

TEST(jose_jwks_find_first)
{
	struct jose_keyset ks;
	const char *why;
	const char *set =
		"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
		"\"kid\":\"a\"},{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
		"\"kid\":\"a\",\"alg\":\"EdDSA\"}]}";
	CHECK(jose_keyset_parse(set, strlen(set), &ks, &why) == 0);
	CHECK(ks.n == 2);
	CHECK(jose_keyset_find(&ks, "a") == &ks.keys[0]);
	/* RFC 8037 §A.3: the thumbprint of the RFC's Ed25519 key */
	CHECK_STR(ks.keys[0].jkt, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
	jose_keyset_clear(&ks);
	CHECK(jose_keyset_parse(set, JOSE_JWKS_MAX + 1, &ks, &why) == -1);
	CHECK_STR(why, "too_large");
}

TEST(jose_jws_vectors)
{
	for (size_t i = 0; i < NVEC(jws_vectors); i++) {
		const struct jws_vector *v = &jws_vectors[i];
		struct jose_jws j;
		const char *why = NULL;
		int rc = jose_jws_parse(v->jws, strlen(v->jws), &j, &why);
		if ((rc == 0) != v->ok || (rc != 0 && strcmp(why, v->why) != 0))
			fprintf(stderr, "    jws %s: rc %d why %s\n", v->name, rc, why ? why : "-");
		CHECK((rc == 0) == v->ok);
		if (rc != 0) {
			CHECK_STR(why, v->why);
			CHECK(is_zero(&j, sizeof j));
			continue;
		}
		CHECK(j.alg != JOSE_ALG_NONE && json_is_object(j.header) && json_is_object(j.claims));
		CHECK(j.input_len == (size_t)(strrchr(v->jws, '.') - v->jws));
		struct jose_key k;
		CHECK(key_named(v->key, &k) == 0);
		int got = jose_jws_verify(&j, &k);
		if (got != v->verify)
			fprintf(stderr, "    jws %s: verify %d, python3-jwt %d\n", v->name, got, v->verify);
		CHECK(got == v->verify);
		jose_key_clear(&k);
		jose_jws_clear(&j);
		jose_jws_clear(&j);
	}
}

/* A signature verifies with its own key alone: every good vector against every key. */
TEST(jose_jws_only_own_key)
{
	for (size_t i = 0; i < NVEC(jws_vectors); i++) {
		const struct jws_vector *v = &jws_vectors[i];
		struct jose_jws j;
		const char *why;
		if (!v->verify || jose_jws_parse(v->jws, strlen(v->jws), &j, &why) != 0)
			continue;
		const struct jwk_vector *own = jwk_named(v->key);
		for (size_t m = 0; m < NVEC(jwk_vectors); m++) {
			struct jose_key k;
			if (!jwk_vectors[m].ok || key_named(jwk_vectors[m].name, &k) != 0)
				continue;
			int same = strcmp(k.jkt, own->jkt) == 0 && jose_alg_fits(&k, j.alg);
			CHECK(jose_jws_verify(&j, &k) == same);
			jose_key_clear(&k);
		}
		jose_jws_clear(&j);
	}
}

/* Each byte of a good token changed: never verifies. */
TEST(jose_jws_every_byte_matters)
{
	const char *names[] = {"ec_p256_es256", "ed25519_eddsa", "rsa_2048_ps256"};
	for (size_t t = 0; t < NVEC(names); t++) {
		const struct jws_vector *v = NULL;
		for (size_t i = 0; i < NVEC(jws_vectors); i++)
			if (strcmp(jws_vectors[i].name, names[t]) == 0)
				v = &jws_vectors[i];
		CHECK(v != NULL);
		if (!v)
			continue;
		struct jose_key k;
		CHECK(key_named(v->key, &k) == 0);
		size_t n = strlen(v->jws);
		char *s = strdup(v->jws);
		int verified = 0;
		for (size_t i = 0; i < n; i++) {
			char c = s[i];
			s[i] = c == 'A' ? 'B' : 'A';
			struct jose_jws j;
			const char *why;
			if (jose_jws_parse(s, n, &j, &why) == 0)
				verified += jose_jws_verify(&j, &k) != 0;
			jose_jws_clear(&j);
			s[i] = c;
		}
		CHECK(verified == 0);
		free(s);
		jose_key_clear(&k);
	}
}

/* RFC 9449 §4.2: a proof carries its key in its header; that key verifies it. */
TEST(jose_dpop_header_key)
{
	const struct jws_vector *v = NULL;
	for (size_t i = 0; i < NVEC(jws_vectors); i++)
		if (strcmp(jws_vectors[i].name, "dpop_proof") == 0)
			v = &jws_vectors[i];
	struct jose_jws j;
	struct jose_key k;
	const char *why;
	CHECK(v && jose_jws_parse(v->jws, strlen(v->jws), &j, &why) == 0);
	CHECK_STR(j.typ, "dpop+jwt");
	CHECK(jose_key_from_json(json_object_get(j.header, "jwk"), &k, &why) == 0);
	CHECK(jose_jws_verify(&j, &k) == 1);
	CHECK_STR(k.jkt, jwk_named("ec_p256")->jkt);
	jose_key_clear(&k);
	jose_jws_clear(&j);
}

TEST(jose_jws_limits)
{
	struct jose_jws j;
	const char *why;
	CHECK(jose_jws_parse("", 0, &j, &why) == -1);
	CHECK(jose_jws_parse(NULL, 5, &j, &why) == -1);
	CHECK(jose_jws_parse("..", 2, &j, &why) == -1);
	/* a NUL inside is not the end of the token */
	const struct jws_vector *v = &jws_vectors[0];
	size_t n = strlen(v->jws);
	char *s = malloc(n + 2);
	memcpy(s, v->jws, n);
	s[n] = '\0';
	s[n + 1] = 'A';
	CHECK(jose_jws_parse(s, n + 2, &j, &why) == -1);
	CHECK(jose_jws_parse(s, n, &j, &why) == 0);
	jose_jws_clear(&j);
	free(s);
	struct jose_key none = {0};
	CHECK(jose_jws_verify(&j, &none) == 0);
	CHECK(jose_jws_verify(NULL, NULL) == 0);
}
