/* test_kek.c - sealing under the key-encryption key: round trip, purpose binding, tampering,
 * another key, and the key file's forms and permissions. */
#include "../../common/kek.h"
#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const unsigned char key_a[KEK_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const unsigned char key_b[KEK_LEN] = {9, 8, 7, 6, 5, 4, 3, 2, 1};

TEST(kek_seal_open_binds_purpose_and_key)
{
	const char plain[] = "private key bytes";
	unsigned char s1[sizeof plain + KEK_OVERHEAD], s2[sizeof plain + KEK_OVERHEAD], out[64];
	kek_forget();
	CHECK(kek_seal("p", plain, sizeof plain, s1) == -1); /* no key: nothing sealed */
	kek_set(key_a);
	CHECK(kek_seal("signing-key:a", plain, sizeof plain, s1) == 0);
	CHECK(kek_seal("signing-key:a", plain, sizeof plain, s2) == 0);
	CHECK(kek_is_sealed(s1, sizeof s1));
	CHECK(memcmp(s1, s2, sizeof s1) != 0); /* a fresh nonce each time */
	CHECK(kek_open("signing-key:a", s1, sizeof s1, out, sizeof out) == (int)sizeof plain);
	CHECK(memcmp(out, plain, sizeof plain) == 0);
	CHECK(kek_open("signing-key:b", s1, sizeof s1, out, sizeof out) == -1);
	s1[sizeof s1 - 1] ^= 1;
	CHECK(kek_open("signing-key:a", s1, sizeof s1, out, sizeof out) == -1);
	s1[sizeof s1 - 1] ^= 1;
	CHECK(kek_open("signing-key:a", s1, sizeof s1, out, 4) == -1); /* too small a buffer */
	kek_set(key_b);
	CHECK(kek_open("signing-key:a", s1, sizeof s1, out, sizeof out) == -1);
	CHECK(!kek_is_sealed("\x30\x82", 2));
	kek_forget();
	CHECK(!kek_loaded());
}

static void write_file(const char *path, const void *b, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, b, n) == (ssize_t)n);
	close(fd);
	chmod(path, mode);
}

TEST(kek_load_accepts_raw_and_hex_and_refuses_open_files)
{
	char dir[] = "/tmp/warrant-kek-XXXXXX", path[256], made[256], err[256];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/k", dir);
	snprintf(made, sizeof made, "%s/made", dir);
	unsigned char sealed[8 + KEK_OVERHEAD], out[8];
	char hex[2 * KEK_LEN + 2];
	for (int i = 0; i < KEK_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02X", key_a[i]);
	hex[2 * KEK_LEN] = '\n';
	kek_set(key_a);
	CHECK(kek_seal("x", "12345678", 8, sealed) == 0);
	kek_forget();
	write_file(path, hex, sizeof hex - 1, 0600);
	CHECK(kek_load(path, 0, NULL, err, sizeof err) == 0);
	CHECK(kek_open("x", sealed, sizeof sealed, out, sizeof out) == 8); /* the same key as raw bytes */
	write_file(path, key_a, KEK_LEN, 0640);
	CHECK(kek_load(path, 0, NULL, err, sizeof err) == -1 && strstr(err, "group or others"));
	write_file(path, key_a, KEK_LEN - 1, 0600);
	CHECK(kek_load(path, 0, NULL, err, sizeof err) == -1 && strstr(err, "must hold"));
	char odd[2 * KEK_LEN];
	memcpy(odd, hex, sizeof odd - 1);
	odd[sizeof odd - 1] = '\n'; /* 63 digits and a newline */
	write_file(path, odd, sizeof odd, 0600);
	CHECK(kek_load(path, 0, NULL, err, sizeof err) == -1);
	int created = 0;
	struct stat sb;
	CHECK(kek_load(made, 1, &created, err, sizeof err) == 0 && created == 1);
	CHECK(stat(made, &sb) == 0 && (sb.st_mode & 0777) == 0600 && sb.st_size == KEK_LEN);
	CHECK(kek_load(made, 1, &created, err, sizeof err) == 0 && created == 0); /* kept, not replaced */
	kek_forget();
	unlink(path);
	unlink(made);
	rmdir(dir);
}
