/* password.c - argon2id hashing of owners' passwords; see password.h. */
#include "password.h"

#include "../common/rand.h"

#include <argon2.h>
#include <pthread.h>
#include <string.h>

int password_hash(const char *pw, size_t n, char out[PASSWORD_HASH_MAX])
{
	unsigned char salt[16];
	if (n > PASSWORD_MAX_LEN || rand_bytes(salt, sizeof salt) < 0)
		return -1;
	int rc = argon2id_hash_encoded(PASSWORD_T_COST, PASSWORD_M_COST_KIB, PASSWORD_PARALLELISM, pw, n, salt,
				       sizeof salt, 32, out, PASSWORD_HASH_MAX);
	return rc == ARGON2_OK ? 0 : -1;
}

int password_verify(const char *encoded, const char *pw, size_t n)
{
	if (n > PASSWORD_MAX_LEN || !encoded || strncmp(encoded, "$argon2id$", 10) != 0)
		return 0;
	return argon2id_verify(encoded, pw, n) == ARGON2_OK;
}

static char burn_hash[PASSWORD_HASH_MAX];
static pthread_once_t burn_once = PTHREAD_ONCE_INIT;
static void burn_init(void) { password_hash("warrant-dummy-password", 22, burn_hash); }

void password_burn(const char *pw, size_t n)
{
	pthread_once(&burn_once, burn_init);
	(void)password_verify(burn_hash, pw, n);
}
