/* fuzz_jws.c - compact JWS parsing and verification (common/jose.c) against the fixed keys
 * of tests/unit/jose_vectors.h, and against the key a DPoP-shaped header carries. Nothing
 * but a token python3-jwt signed (one of the vectors) may verify with the fixed keys. */
#include "../../common/jose.h"
#include "../unit/jose_vectors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NVEC(a) (sizeof(a) / sizeof *(a))

static struct jose_key keys[NVEC(jwk_vectors)];
static size_t nkeys;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	for (size_t i = 0; i < NVEC(jwk_vectors); i++) {
		const char *why;
		if (jwk_vectors[i].ok &&
		    jose_key_parse(jwk_vectors[i].json, strlen(jwk_vectors[i].json), &keys[nkeys], &why) == 0)
			nkeys++;
	}
	if (nkeys < 4)
		abort();
	return 0;
}

/* 1 when s is one of the vectors (python3-jwt signed them, some with a key other than the
 * vector's own: "es256_other_key" verifies with the key it was made with) */
static int signed_vector(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < NVEC(jws_vectors); i++)
		if (jws_vectors[i].ok && strlen(jws_vectors[i].jws) == n && memcmp(jws_vectors[i].jws, s, n) == 0)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jose_jws j;
	const char *why;
	if (jose_jws_parse((const char *)data, size, &j, &why) != 0) {
		if (!why || j.header || j.claims || j.input)
			abort();
		return 0;
	}
	if (j.alg == JOSE_ALG_NONE || !json_is_object(j.header) || !json_is_object(j.claims) || j.sig_len == 0 ||
	    j.sig_len > JOSE_SIG_MAX || j.input_len >= size)
		abort();
	for (size_t i = 0; i < nkeys; i++) {
		int rc = jose_jws_verify(&j, &keys[i]);
		if (rc < 0 || (rc == 1 && !signed_vector(data, size)))
			abort();
	}
	struct jose_key hk; /* RFC 9449 §4.2: the proof's own key */
	if (jose_key_from_json(json_object_get(j.header, "jwk"), &hk, &why) == 0) {
		if (jose_jws_verify(&j, &hk) < 0)
			abort();
		jose_key_clear(&hk);
	}
	jose_jws_clear(&j);
	return 0;
}
