/* kek.h - the key-encryption key (KEK): private signing keys and the secret-verifier pepper
 * are stored sealed under it, AES-256-GCM, whenever a process was given one (`--key-file`).
 *
 * The key file holds exactly KEK_LEN bytes: 32 raw bytes, or their 64 hexadecimal digits
 * (either case, one trailing newline allowed). It must be a regular file that neither
 * group nor others may read or write, like ssh's private keys. The key is loaded once per
 * process, before threads start, and read-only afterwards; it is wiped at exit.
 *
 * A sealed value is KEK_MAGIC (4 bytes), a fresh random 12-byte nonce, the ciphertext and
 * the 16-byte GCM tag. Its purpose (e.g. "signing-key:KID", "pepper") is the associated
 * data: a value moved to another row does not open. */
#ifndef WARRANT_KEK_H
#define WARRANT_KEK_H
#include <stddef.h>

#define KEK_LEN 32
#define KEK_MAGIC "kek1"
#define KEK_MAGIC_LEN 4
#define KEK_NONCE_LEN 12
#define KEK_TAG_LEN 16
/* the purposes of the sealed secrets: the pepper, and a signing key (followed by its kid) */
#define KEK_PURPOSE_PEPPER "pepper"
#define KEK_PURPOSE_KEY "signing-key:"
/* a sealed value is this many bytes longer than the plain one */
#define KEK_OVERHEAD (KEK_MAGIC_LEN + KEK_NONCE_LEN + KEK_TAG_LEN)

/* Loads the key file at path into this process. When create is set and nothing is at path,
 * makes it first (0600, O_EXCL, 32 bytes from the CSPRNG) and sets *created. 0, or -1 with
 * a one-line reason in err (which names the file, never its content). */
int kek_load(const char *path, int create, int *created, char *err, size_t errlen);
/* Uses key as the KEK (tests). */
void kek_set(const unsigned char key[KEK_LEN]);
/* 1 when this process holds a KEK. */
int kek_loaded(void);
/* Wipes the KEK from memory; kek_loaded() is 0 afterwards. */
void kek_forget(void);

/* 1 when v looks sealed (starts with KEK_MAGIC and is long enough). */
int kek_is_sealed(const void *v, size_t n);
/* Seals in (n bytes) for purpose into out, which must hold n + KEK_OVERHEAD bytes. 0, or -1
 * when no KEK is loaded or the cipher fails. */
int kek_seal(const char *purpose, const void *in, size_t n, unsigned char *out);
/* Opens a sealed value into out (cap bytes): the plain length, or -1 when no KEK is loaded,
 * the value is not sealed, or it does not authenticate (another key, another purpose, a
 * changed byte). out is wiped on failure. */
int kek_open(const char *purpose, const void *in, size_t n, unsigned char *out, size_t cap);
#endif
