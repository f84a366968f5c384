/* fuzz_jwt.c - JWT parsing and verification at introspection (token/verify.c), against a
 * real keyring. Input starting with '{' is a claims payload that the harness signs first,
 * so the claim parser behind the signature check is reached too; anything else is taken
 * as a token and must never crash, and never verify. */
#include "../../clients/secret.h"
#include "../../keys/keys.h"
#include "../../token/verify.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct keyring *kr;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char path[] = "/tmp/warrant-fuzz-XXXXXX", err[256];
	int fd = mkstemp(path);
	if (fd < 0)
		abort();
	close(fd);
	unlink(path);
	struct db *db = db_open(path, DB_CREATE, err, sizeof err);
	char kid[KID_MAX];
	if (!db || key_create(db, ALG_ES256, KEY_CURRENT, kid) < 0 || key_create(db, ALG_RS256, KEY_NEXT, kid) < 0)
		abort();
	kr = keyring_new();
	if (keyring_load(kr, db) < 0)
		abort();
	db_close(db);
	unlink(path);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why;
	if (size && data[0] == '{') {
		struct buf jws;
		buf_init(&jws, 64 * 1024);
		if (keyring_jws(kr, "at+jwt", (const char *)data, size, &jws) == 0) {
			struct tok *t = tok_verify(kr, "http://127.0.0.1:8080", jws.p, jws.len, &why);
			if (t && (!t->active_json || t->naud < 1 || t->naud > AUD_MAX))
				abort();
			tok_release(t);
		}
		buf_free(&jws);
		return 0;
	}
	struct tok *t = tok_verify(kr, "http://127.0.0.1:8080", (const char *)data, size, &why);
	if (t)
		abort(); /* nothing the fuzzer makes can carry a valid signature of our fresh keys */
	return 0;
}
