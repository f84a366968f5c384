/* secret.c - keyed verifiers for agent and resource-server secrets; see secret.h. */
#include "secret.h"

#include "../common/kek.h"
#include "../common/rand.h"
#include "../store/sealed.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>

static EVP_MAC_CTX *tmpl; /* HMAC keyed with the pepper; duplicated per use */
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;

int secret_pepper_create(struct db *db)
{
	unsigned char p[PEPPER_LEN];
	if (rand_bytes(p, sizeof p) < 0)
		return -1;
	int rc = sealed_setting_put(db, "secret_pepper", KEK_PURPOSE_PEPPER, p, sizeof p);
	OPENSSL_cleanse(p, sizeof p);
	return rc;
}

int secret_init(struct db *db)
{
	unsigned char p[PEPPER_LEN];
	int rc = -1;
	pthread_mutex_lock(&init_mu);
	if (tmpl) {
		rc = 0;
		goto done;
	}
	if (sealed_setting_get(db, "secret_pepper", KEK_PURPOSE_PEPPER, p, sizeof p) != PEPPER_LEN)
		goto done;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	EVP_MAC_free(mac);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (!ctx || EVP_MAC_init(ctx, p, sizeof p, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		goto done;
	}
	tmpl = ctx;
	rc = 0;
done:
	OPENSSL_cleanse(p, sizeof p);
	pthread_mutex_unlock(&init_mu);
	return rc;
}

/* Each thread keeps its own copy of the keyed template and re-initialises it with the
 * same key (a NULL key means "the key you have"), so a check allocates nothing. */
static pthread_key_t ctx_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static void ctx_free(void *p) { EVP_MAC_CTX_free(p); }
static void key_init(void) { pthread_key_create(&ctx_key, ctx_free); }

int secret_verifier(const char *secret, size_t n, unsigned char out[VERIFIER_LEN])
{
	if (!tmpl)
		return -1;
	pthread_once(&key_once, key_init);
	EVP_MAC_CTX *c = pthread_getspecific(ctx_key);
	if (!c) {
		if (!(c = EVP_MAC_CTX_dup(tmpl)))
			return -1;
		pthread_setspecific(ctx_key, c);
	}
	size_t len = 0;
	int ok = EVP_MAC_init(c, NULL, 0, NULL) == 1 && EVP_MAC_update(c, (const unsigned char *)secret, n) == 1 &&
		 EVP_MAC_final(c, out, &len, VERIFIER_LEN) == 1 && len == VERIFIER_LEN;
	return ok ? 0 : -1;
}

int verifier_equal(const unsigned char *a, const unsigned char *b) { return CRYPTO_memcmp(a, b, VERIFIER_LEN) == 0; }
