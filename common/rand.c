/* rand.c - ids and secrets; see rand.h. */
#include "rand.h"

#include "codec.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

int rand_bytes(void *out, size_t n) { return RAND_bytes(out, (int)n) == 1 ? 0 : -1; }

int id_new(const char *prefix, char out[ID_MAX])
{
	unsigned char r[16];
	size_t pl = strlen(prefix);
	if (pl + 27 > ID_MAX || rand_bytes(r, sizeof r) < 0)
		return -1;
	memcpy(out, prefix, pl);
	b32_encode(r, sizeof r, out + pl);
	return 0;
}

int secret_new(char out[SECRET_LEN + 1])
{
	unsigned char r[32];
	if (rand_bytes(r, sizeof r) < 0)
		return -1;
	memcpy(out, "wsk_", 4);
	b64url_encode(r, sizeof r, out + 4);
	OPENSSL_cleanse(r, sizeof r);
	return 0;
}
