/* fuzz_assertion.c - the claim rules of a private_key_jwt client assertion
 * (clients/assertion.c assertion_check_claims) over whatever jose_jws_parse accepts: no
 * crash, no leak, and an accepted assertion always satisfies every rule of SPEC (aud the
 * issuer exactly, sub = iss, exp bounded by iat or now, a jti within its limit). */
#include "../../clients/assertion.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ISSUER "https://as.example"
#define NOW 1700000000
#define LEEWAY 60

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jose_jws j;
	const char *why = NULL;
	if (jose_jws_parse((const char *)data, size, &j, &why) != 0)
		return 0;
	struct assertion_claims c;
	int rc = assertion_check_claims(&j, ISSUER, NOW, LEEWAY, &c, &why);
	if (rc != 0) {
		if (!why || c.iss[0] || c.jti[0])
			abort();
	} else {
		const json_t *aud = json_object_get(j.claims, "aud"), *sub = json_object_get(j.claims, "sub");
		const json_t *iat = json_object_get(j.claims, "iat");
		if (!json_is_string(aud) || strcmp(json_string_value(aud), ISSUER) != 0 || !json_is_string(sub) ||
		    strcmp(json_string_value(sub), c.iss) != 0 || !c.iss[0] || !c.jti[0] ||
		    strlen(c.jti) > ASSERTION_JTI_MAX || c.exp + LEEWAY <= NOW)
			abort();
		int64_t base = json_is_number(iat) ? (int64_t)json_number_value(iat) : NOW;
		if (c.exp - base > ASSERTION_LIFETIME_MAX || base > NOW + LEEWAY)
			abort();
	}
	jose_jws_clear(&j);
	return 0;
}
