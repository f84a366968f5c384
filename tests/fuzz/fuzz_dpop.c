/* fuzz_dpop.c - the DPoP proof check (token/dpop.c, RFC 9449 §4.3) as the token endpoint
 * runs it, at a fixed time and URL, with and without a server nonce. A refusal must say why
 * and leave nothing behind; an acceptance must bind a well-formed thumbprint and jti; a
 * nonce can only make the answer stricter. */
#include "../../token/dpop.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1800000000 /* the corpus' proofs say iat 1800000000 */
#define HTU "https://as.example.com/token"

static const unsigned char nonce_key[DPOP_NONCE_KEY_LEN] = "0123456789abcdef0123456789abcdef";

static int zeroed(const struct dpop_proof *p)
{
	static const struct dpop_proof zero;
	return memcmp(p, &zero, sizeof zero) == 0;
}

static enum dpop_result check(const uint8_t *data, size_t size, const unsigned char *key, struct dpop_proof *p)
{
	struct dpop_expect x = {.htm = "POST", .htu = HTU, .now_s = NOW, .nonce_key = key};
	const char *why = NULL;
	enum dpop_result rc = dpop_check((const char *)data, size, &x, p, &why);
	if (rc == DPOP_OK) {
		if (strlen(p->jkt) != JOSE_JKT_LEN || !p->jti[0] || strlen(p->jti) > DPOP_JTI_MAX ||
		    p->iat < NOW - DPOP_IAT_WINDOW_S || p->iat > NOW + DPOP_IAT_WINDOW_S)
			abort();
	} else if (!why || !zeroed(p) || (rc != DPOP_INVALID && rc != DPOP_USE_NONCE) ||
		   (rc == DPOP_USE_NONCE && !key)) {
		abort();
	}
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dpop_proof plain, with_nonce;
	enum dpop_result a = check(data, size, NULL, &plain);
	enum dpop_result b = check(data, size, nonce_key, &with_nonce);
	/* requiring a nonce never accepts what is refused without one, and asks for one only
	 * of a proof that is otherwise good */
	if ((b == DPOP_OK && a != DPOP_OK) || (b == DPOP_USE_NONCE && a != DPOP_OK))
		abort();
	if (b == DPOP_OK && memcmp(&plain, &with_nonce, sizeof plain) != 0)
		abort();
	return 0;
}
