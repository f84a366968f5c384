/* secret.h - verifiers of client secrets: HMAC-SHA256 under a server-side pepper.
 *
 * Secrets are 256-bit random strings, so a fast keyed hash is enough to make the stored
 * value useless to a thief; a slow hash would only hand attackers a CPU lever. The pepper
 * is created by `warrant init` and loaded once per process; it is sealed under the
 * key-encryption key when the process holds one (store/sealed.h). */
#ifndef WARRANT_SECRET_H
#define WARRANT_SECRET_H
#include "../store/db.h"

#include <stddef.h>

#define VERIFIER_LEN 32
#define PEPPER_LEN 32

/* Creates the pepper in db (init only). 0 or -1. */
int secret_pepper_create(struct db *db);
/* Loads the pepper from db into this process. 0 or -1. */
int secret_init(struct db *db);
/* HMAC-SHA256(pepper, secret) into out. 0 or -1 (not initialised). Thread-safe. */
int secret_verifier(const char *secret, size_t n, unsigned char out[VERIFIER_LEN]);
/* Constant-time equality of two verifiers: 1 equal, 0 not. */
int verifier_equal(const unsigned char *a, const unsigned char *b);
#endif
