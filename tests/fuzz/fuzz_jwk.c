/* fuzz_jwk.c - public JWK and JWK Set parsing (common/jose.c). Every input goes to both
 * parsers; a key that parses must render to a canonical JWK that parses to the same key,
 * kid and thumbprint, and a set's keys must all be found by their kid. */
#include "../../common/jose.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void roundtrip(const struct jose_key *k)
{
	struct buf b;
	struct jose_key k2;
	const char *why;
	buf_init(&b, JOSE_JWK_MAX);
	if (jose_key_public_json(k, &b) < 0 || jose_key_parse(b.p, b.len, &k2, &why) < 0)
		abort();
	if (strcmp(k->jkt, k2.jkt) != 0 || strcmp(k->kid, k2.kid) != 0 || k->alg != k2.alg ||
	    EVP_PKEY_eq(k->pkey, k2.pkey) != 1 || strlen(k->jkt) != JOSE_JKT_LEN)
		abort();
	jose_key_clear(&k2);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why;
	struct jose_key k;
	if (jose_key_parse((const char *)data, size, &k, &why) == 0) {
		if (!k.pkey || k.kty == JOSE_KTY_NONE)
			abort();
		roundtrip(&k);
		jose_key_clear(&k);
	} else if (!why || k.pkey) {
		abort();
	}
	struct jose_keyset ks;
	if (jose_keyset_parse((const char *)data, size, &ks, &why) == 0) {
		if (ks.n < 0 || ks.n > JOSE_KEYSET_MAX)
			abort();
		for (int i = 0; i < ks.n; i++) {
			const struct jose_key *f = jose_keyset_find(&ks, ks.keys[i].kid);
			if (!f || strcmp(f->kid, ks.keys[i].kid) != 0)
				abort();
			roundtrip(&ks.keys[i]);
		}
	} else if (!why || ks.n || ks.keys) {
		abort();
	}
	jose_keyset_clear(&ks);
	return 0;
}
