/* sealed.c - sealed settings and the KEK check row; see sealed.h. */
#include "sealed.h"

#include "../common/kek.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

/* what the check row seals; its purpose is KEK_CHECK_SETTING */
static const char check_plain[] = "warrant key-encryption key";
#define SETTING_SEALED_MAX 4096

int sealed_db(struct db *db)
{
	struct db_stmt *st = db_prep(db, "SELECT count(*) FROM settings WHERE key = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, KEK_CHECK_SETTING);
	int n = db_step(st) == DB_ROW ? db_col_int(st, 0) : -1;
	db_reset(st);
	return n < 0 ? -1 : n > 0;
}

int sealed_check(struct db *db, char *err, size_t errlen)
{
	int sealed = sealed_db(db);
	if (sealed < 0) {
		snprintf(err, errlen, "cannot read the settings: %s", db_errmsg(db));
		return -1;
	}
	if (!sealed) {
		if (kek_loaded()) {
			snprintf(err, errlen,
				 "this database keeps its secrets in the clear (initialised without a key"
				 " file): leave out --key-file and WARRANT_KEY_FILE");
			return -1;
		}
		return 0;
	}
	if (!kek_loaded()) {
		snprintf(err, errlen,
			 "this database's secrets are encrypted: give its key file with --key-file PATH"
			 " or WARRANT_KEY_FILE");
		return -1;
	}
	unsigned char v[sizeof check_plain + KEK_OVERHEAD], plain[sizeof check_plain];
	int n = db_setting_get(db, KEK_CHECK_SETTING, v, sizeof v);
	int m = n < 0 ? -1 : kek_open(KEK_CHECK_SETTING, v, (size_t)n, plain, sizeof plain);
	if (m != (int)sizeof check_plain || memcmp(plain, check_plain, sizeof check_plain) != 0) {
		snprintf(err, errlen,
			 "the key file does not match this database (wrong --key-file or WARRANT_KEY_FILE)");
		return -1;
	}
	return 0;
}

int sealed_mark(struct db *db)
{
	unsigned char v[sizeof check_plain + KEK_OVERHEAD];
	if (kek_seal(KEK_CHECK_SETTING, check_plain, sizeof check_plain, v) < 0)
		return -1;
	return db_setting_put(db, KEK_CHECK_SETTING, v, sizeof v);
}

int sealed_setting_put(struct db *db, const char *key, const char *purpose, const void *val, int len)
{
	if (!kek_loaded())
		return db_setting_put(db, key, val, len);
	unsigned char v[SETTING_SEALED_MAX];
	if (len < 0 || (size_t)len + KEK_OVERHEAD > sizeof v || kek_seal(purpose, val, (size_t)len, v) < 0)
		return -1;
	int rc = db_setting_put(db, key, v, len + KEK_OVERHEAD);
	OPENSSL_cleanse(v, sizeof v);
	return rc;
}

int sealed_setting_get(struct db *db, const char *key, const char *purpose, void *out, int cap)
{
	if (!kek_loaded())
		return db_setting_get(db, key, out, cap); /* in the clear: sealed_check saw no check row */
	unsigned char v[SETTING_SEALED_MAX];
	int n = db_setting_get(db, key, v, sizeof v);
	int m = n < 0 ? -1 : kek_open(purpose, v, (size_t)n, out, cap < 0 ? 0 : (size_t)cap);
	OPENSSL_cleanse(v, sizeof v);
	return m;
}
