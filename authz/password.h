/* password.h - owners' passwords: argon2id (RFC 9106), encoded with its parameters.
 *
 * Parameters: t=3 passes, m=64 MiB, p=4 lanes, 16-byte salt, 32-byte tag: RFC 9106 §4's
 * second recommended option, for machines where 2 GiB per hash is too much. */
#ifndef WARRANT_PASSWORD_H
#define WARRANT_PASSWORD_H
#include <stddef.h>

#define PASSWORD_T_COST 3
#define PASSWORD_M_COST_KIB (64 * 1024)
#define PASSWORD_PARALLELISM 4
#define PASSWORD_HASH_MAX 160
#define PASSWORD_MIN_LEN 12
#define PASSWORD_MAX_LEN 1024

/* 0 and the encoded hash in out, or -1. */
int password_hash(const char *pw, size_t n, char out[PASSWORD_HASH_MAX]);
/* 1 when pw matches encoded, 0 otherwise (including a malformed encoding). */
int password_verify(const char *encoded, const char *pw, size_t n);
/* Spends the time of one verification on nothing: for unknown accounts. */
void password_burn(const char *pw, size_t n);
#endif
