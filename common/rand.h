/* rand.h - identifiers and secrets from OpenSSL's CSPRNG.
 * Each returns 0, or -1 when the generator fails (callers must refuse to go on). */
#ifndef WARRANT_RAND_H
#define WARRANT_RAND_H
#include <stddef.h>

#define ID_MAX 64     /* room for any id this server mints, with NUL */
#define SECRET_LEN 47 /* "wsk_" + 43 base64url chars for 256 bits */

int rand_bytes(void *out, size_t n);
/* prefix + 128 random bits in lowercase base32 (26 chars), e.g. "agt_3kq9..." */
int id_new(const char *prefix, char out[ID_MAX]);
/* "wsk_" + 256 random bits in base64url; out must hold SECRET_LEN + 1 bytes. */
int secret_new(char out[SECRET_LEN + 1]);
#endif
