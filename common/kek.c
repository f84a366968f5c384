/* kek.c - the key-encryption key and AES-256-GCM sealing under it; see kek.h. */
#include "kek.h"

#include "rand.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* the longest file accepted: 64 hex digits and a newline; one more byte to see a longer one */
#define KEK_FILE_MAX (2 * KEK_LEN + 1)

static unsigned char kek[KEK_LEN];
static int have;

static void wipe_at_exit(void) { kek_forget(); }

void kek_set(const unsigned char key[KEK_LEN])
{
	static int registered;
	memcpy(kek, key, KEK_LEN);
	have = 1;
	if (!registered && atexit(wipe_at_exit) == 0)
		registered = 1;
}

int kek_loaded(void) { return have; }

void kek_forget(void)
{
	OPENSSL_cleanse(kek, sizeof kek);
	have = 0;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The key from a file's bytes: 32 raw, or 64 hex digits with at most one newline after. */
static int parse_key(const unsigned char *b, size_t n, unsigned char key[KEK_LEN])
{
	if (n == KEK_LEN) {
		memcpy(key, b, KEK_LEN);
		return 0;
	}
	if (n == 2 * KEK_LEN + 1 && b[n - 1] == '\n')
		n--;
	if (n != 2 * KEK_LEN)
		return -1;
	for (size_t i = 0; i < KEK_LEN; i++) {
		int hi = hexval(b[2 * i]), lo = hexval(b[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		key[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* Makes a new key file at path: 0600, never over an existing file. 0, or -1 with errno. */
static int create_file(const char *path)
{
	unsigned char key[KEK_LEN];
	if (rand_bytes(key, sizeof key) < 0) {
		errno = EIO;
		return -1;
	}
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		OPENSSL_cleanse(key, sizeof key);
		return -1;
	}
	ssize_t w = write(fd, key, sizeof key);
	int saved = errno;
	OPENSSL_cleanse(key, sizeof key);
	if (w != (ssize_t)sizeof key || fsync(fd) < 0) {
		saved = w < 0 ? saved : EIO;
		close(fd);
		unlink(path);
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}

int kek_load(const char *path, int create, int *created, char *err, size_t errlen)
{
	if (created)
		*created = 0;
	if (create) {
		struct stat sb;
		if (lstat(path, &sb) < 0 && errno == ENOENT) {
			if (create_file(path) == 0) {
				if (created)
					*created = 1;
			} else if (errno != EEXIST) {
				snprintf(err, errlen, "cannot create the key file %s: %s", path, strerror(errno));
				return -1;
			}
		}
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot read the key file %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat sb;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		snprintf(err, errlen, "the key file %s is not a regular file", path);
		return -1;
	}
	if (sb.st_mode & 077) {
		close(fd);
		snprintf(err, errlen, "the key file %s is open to group or others (mode %04o): chmod 600 %s", path,
			 (unsigned)(sb.st_mode & 07777), path);
		return -1;
	}
	unsigned char b[KEK_FILE_MAX + 1], key[KEK_LEN];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof b && (r = read(fd, b + n, sizeof b - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			OPENSSL_cleanse(b, sizeof b);
			snprintf(err, errlen, "cannot read the key file %s: %s", path, strerror(errno));
			return -1;
		}
		n += (size_t)r;
	}
	close(fd);
	int rc = parse_key(b, n, key);
	OPENSSL_cleanse(b, sizeof b);
	if (rc < 0) {
		snprintf(err, errlen, "the key file %s must hold %d random bytes (or their %d hex digits)", path,
			 KEK_LEN, 2 * KEK_LEN);
		return -1;
	}
	kek_set(key);
	OPENSSL_cleanse(key, sizeof key);
	return 0;
}

int kek_is_sealed(const void *v, size_t n)
{
	return v && n >= KEK_OVERHEAD && memcmp(v, KEK_MAGIC, KEK_MAGIC_LEN) == 0;
}

int kek_seal(const char *purpose, const void *in, size_t n, unsigned char *out)
{
	if (!have || n > (size_t)INT32_MAX - KEK_OVERHEAD)
		return -1;
	unsigned char *nonce = out + KEK_MAGIC_LEN, *ct = nonce + KEK_NONCE_LEN, *tag = ct + n;
	memcpy(out, KEK_MAGIC, KEK_MAGIC_LEN);
	if (rand_bytes(nonce, KEK_NONCE_LEN) < 0)
		return -1;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len = 0, ok = c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, kek, nonce) == 1 &&
			  EVP_EncryptUpdate(c, NULL, &len, (const unsigned char *)purpose, (int)strlen(purpose)) == 1 &&
			  EVP_EncryptUpdate(c, ct, &len, in, (int)n) == 1 && (size_t)len == n &&
			  EVP_EncryptFinal_ex(c, ct + len, &len) == 1 && len == 0 &&
			  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, KEK_TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok)
		OPENSSL_cleanse(out, n + KEK_OVERHEAD);
	return ok ? 0 : -1;
}

int kek_open(const char *purpose, const void *in, size_t n, unsigned char *out, size_t cap)
{
	if (!have || !kek_is_sealed(in, n) || n - KEK_OVERHEAD > cap || n > (size_t)INT32_MAX)
		return -1;
	const unsigned char *nonce = (const unsigned char *)in + KEK_MAGIC_LEN, *ct = nonce + KEK_NONCE_LEN;
	size_t ctlen = n - KEK_OVERHEAD;
	unsigned char tag[KEK_TAG_LEN];
	memcpy(tag, ct + ctlen, KEK_TAG_LEN);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len = 0, ok = c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, kek, nonce) == 1 &&
			  EVP_DecryptUpdate(c, NULL, &len, (const unsigned char *)purpose, (int)strlen(purpose)) == 1 &&
			  EVP_DecryptUpdate(c, out, &len, ct, (int)ctlen) == 1 && (size_t)len == ctlen &&
			  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, KEK_TAG_LEN, tag) == 1 &&
			  EVP_DecryptFinal_ex(c, out + len, &len) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		OPENSSL_cleanse(out, ctlen);
		return -1;
	}
	return (int)ctlen;
}
