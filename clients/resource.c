/* resource.c - resource servers: registration and secret checks; see resource.h. */
#include "resource.h"

#include "../common/blobmap.h"
#include "../common/timeutil.h"
#include "../store/changes.h"
#include "agents.h"
#include "secret.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

int resource_create_job(struct db *db, void *arg)
{
	struct resource_new *r = arg;
	unsigned char v[VERIFIER_LEN];
	if (!r->name || !*r->name || strlen(r->name) >= NAME_MAX_LEN) {
		oerr_set(&r->err, 400, "invalid_request", "name must be 1-%d bytes", NAME_MAX_LEN - 1);
		return 1;
	}
	if (id_new("rs_", r->id) < 0 || secret_new(r->secret) < 0 ||
	    secret_verifier(r->secret, SECRET_LEN, v) < 0)
		return -1;
	sqlite3_stmt *st = db_prep(db, "INSERT INTO resource_servers(id, name, audience, verifier, created_at)"
				       " VALUES (?,?,?,?,?)");
	if (!st)
		return -1;
	db_bind_text(st, 1, r->id);
	db_bind_text(st, 2, r->name);
	db_bind_text(st, 3, r->audience && *r->audience ? r->audience : NULL);
	sqlite3_bind_blob(st, 4, v, sizeof v, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, now_ms());
	OPENSSL_cleanse(v, sizeof v);
	if (db_step_done(st) < 0)
		return -1;
	return r->audience && *r->audience ? change_note(db, CHANGE_RESOURCE, r->audience, r->id, 0) : 0;
}

int resource_audience_known(struct db *db, const char *uri)
{
	sqlite3_stmt *st = db_prep(db, "SELECT 1 FROM resource_servers WHERE audience = ? AND status = 'active'");
	if (!st)
		return -1;
	db_bind_text(st, 1, uri);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Resource servers never change once registered, so the server keeps what it has read. */
struct rs_rec {
	unsigned char v[VERIFIER_LEN];
	char audience[RS_AUDIENCE_MAX];
};
static struct blobmap rs_cache;

void resource_cache_enable(void)
{
	if (!rs_cache.b)
		blobmap_init(&rs_cache, 64, 10000);
}

int resource_secret_verify(struct db *db, const char *id, const char *secret, char rs_id[ID_MAX],
			   char audience[RS_AUDIENCE_MAX], struct oerr *e)
{
	unsigned char v[VERIFIER_LEN];
	struct rs_rec rec;
	int rc = 1, found = 0;
	if (secret_verifier(secret, strlen(secret), v) < 0) {
		oerr_set(e, 500, "server_error", "internal error");
		return -1;
	}
	if (strlen(id) < ID_MAX && blobmap_get(&rs_cache, id, &rec, sizeof rec)) {
		found = 1;
	} else {
		long gen = blobmap_generation(&rs_cache);
		sqlite3_stmt *st = db_prep(db, "SELECT verifier, coalesce(audience, '') FROM resource_servers"
					       " WHERE id = ? AND status = 'active'");
		if (!st) {
			oerr_set(e, 500, "server_error", "internal error");
			return -1;
		}
		db_bind_text(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == VERIFIER_LEN) {
			memcpy(rec.v, sqlite3_column_blob(st, 0), VERIFIER_LEN);
			db_col_copy(st, 1, rec.audience, sizeof rec.audience);
			found = 1;
			if (strlen(id) < ID_MAX)
				blobmap_put(&rs_cache, id, &rec, sizeof rec, gen);
		}
		sqlite3_reset(st);
	}
	if (found && verifier_equal(rec.v, v)) {
		snprintf(rs_id, ID_MAX, "%s", id);
		memcpy(audience, rec.audience, RS_AUDIENCE_MAX);
		rc = 0;
	}
	OPENSSL_cleanse(v, sizeof v);
	if (rc == 0)
		return 0;
	oerr_set(e, 401, "invalid_client", "client authentication failed");
	e->basic_challenge = 1;
	e->reason = "bad_resource_credentials";
	return 1;
}

