/* resource.c - resource servers: registration and secret checks; see resource.h. */
#include "resource.h"

#include "../audit/audit.h"
#include "../audit/events.h"
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
	if (id_new("rs_", r->id) < 0 || secret_new(r->secret) < 0 || secret_verifier(r->secret, SECRET_LEN, v) < 0)
		return -1;
	struct db_stmt *st = db_prep(db, "INSERT INTO resource_servers(id, name, audience, verifier, created_at)"
					 " VALUES (?,?,?,?,?)");
	if (!st)
		return -1;
	db_bind_text(st, 1, r->id);
	db_bind_text(st, 2, r->name);
	db_bind_text(st, 3, r->audience && *r->audience ? r->audience : NULL);
	db_bind_blob(st, 4, v, sizeof v);
	db_bind_int64(st, 5, now_ms());
	OPENSSL_cleanse(v, sizeof v);
	if (db_step_done(st) < 0)
		return -1;
	return r->audience && *r->audience ? change_note(db, CHANGE_RESOURCE, r->audience, r->id, 0) : 0;
}

int resource_audience_known(struct db *db, const char *uri)
{
	struct db_stmt *st = db_prep(db, "SELECT 1 FROM resource_servers WHERE audience = ? AND status = 'active'");
	if (!st)
		return -1;
	db_bind_text(st, 1, uri);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

/* What authentication reads of a resource server. The server keeps it in memory; the live
 * state (token/live.c) forgets it when the change log says the server changed. */
struct rs_rec {
	unsigned char v[VERIFIER_LEN];
	unsigned char old_v[VERIFIER_LEN];
	int64_t old_expires_at; /* ms; 0: no previous secret works */
	int active;
	char audience[RS_AUDIENCE_MAX];
};
static struct blobmap rs_cache;

void resource_cache_enable(void)
{
	if (!rs_cache.b)
		blobmap_init(&rs_cache, 64, 10000);
}

void resource_cache_forget(const char *id)
{
	if (rs_cache.b)
		blobmap_del(&rs_cache, id);
}

/* 1 loaded, 0 no such resource server, -1 error */
static int rs_load(struct db *db, const char *id, struct rs_rec *rec)
{
	struct db_stmt *st = db_prep(db, "SELECT verifier, coalesce(audience, ''), status = 'active', old_verifier,"
					 " coalesce(old_expires_at, 0) FROM resource_servers WHERE id = ?");
	if (!st)
		return -1;
	memset(rec, 0, sizeof *rec);
	db_bind_text(st, 1, id);
	int rc = db_step(st);
	int found = rc == DB_ROW && db_col_bytes(st, 0) == VERIFIER_LEN;
	if (found) {
		memcpy(rec->v, db_col_blob(st, 0), VERIFIER_LEN);
		db_col_copy(st, 1, rec->audience, sizeof rec->audience);
		rec->active = db_col_int(st, 2);
		if (db_col_bytes(st, 3) == VERIFIER_LEN) {
			memcpy(rec->old_v, db_col_blob(st, 3), VERIFIER_LEN);
			rec->old_expires_at = db_col_int64(st, 4);
		}
	}
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE ? found : -1;
}

int resource_secret_verify(struct db *db, const char *id, const char *secret, char rs_id[ID_MAX],
			   char audience[RS_AUDIENCE_MAX], struct oerr *e)
{
	unsigned char v[VERIFIER_LEN];
	struct rs_rec rec;
	int found = 0;
	rs_id[0] = '\0';
	/* computed first, whatever the id: the cost says nothing about the id existing */
	if (secret_verifier(secret, strlen(secret), v) < 0) {
		oerr_set(e, 500, "server_error", "internal error");
		return -1;
	}
	if (strlen(id) < ID_MAX && strncmp(id, "rs_", 3) == 0) {
		long gen = blobmap_generation(&rs_cache);
		if (blobmap_get(&rs_cache, id, &rec, sizeof rec)) {
			found = 1;
		} else {
			found = rs_load(db, id, &rec);
			if (found > 0)
				blobmap_put(&rs_cache, id, &rec, sizeof rec, gen);
		}
	}
	if (found < 0) {
		OPENSSL_cleanse(v, sizeof v);
		oerr_set(e, 500, "server_error", "internal error");
		return -1;
	}
	/* both compared, in constant time, whichever matches */
	int cur = found && verifier_equal(rec.v, v);
	int old = found && rec.old_expires_at > now_ms() && verifier_equal(rec.old_v, v);
	OPENSSL_cleanse(v, sizeof v);
	if (found)
		snprintf(rs_id, ID_MAX, "%s", id); /* a registered id names a known caller, even refused */
	if ((cur || old) && rec.active) {
		memcpy(audience, rec.audience, RS_AUDIENCE_MAX);
		OPENSSL_cleanse(&rec, sizeof rec);
		return 0;
	}
	OPENSSL_cleanse(&rec, sizeof rec);
	/* RFC 6749 §5.2: the answer never says which of id, secret or status was wrong */
	oerr_set(e, 401, "invalid_client", "client authentication failed");
	e->basic_challenge = 1;
	e->reason = (cur || old) ? "resource_disabled" : "bad_resource_credentials";
	return 1;
}

/* 1 when audience is, now, the audience of an active resource server; 0 not; -1 error. */
static int audience_served(struct db *db, const char *audience)
{
	return audience[0] ? resource_audience_known(db, audience) : 0;
}

/* The resource server's audience into out; 1 found, 0 unknown (err set: 404), -1 error. */
static int rs_find(struct db *db, const char *id, char out[RS_AUDIENCE_MAX], int *active, struct oerr *e)
{
	struct db_stmt *st = db_prep(db, "SELECT coalesce(audience, ''), status = 'active' FROM resource_servers"
					 " WHERE id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, id ? id : "");
	int rc = db_step(st);
	if (rc == DB_ROW) {
		db_col_copy(st, 0, out, RS_AUDIENCE_MAX);
		*active = db_col_int(st, 1);
	}
	db_reset(st);
	if (rc == DB_DONE)
		oerr_set(e, 404, "not_found", "no resource server %.64s", id ? id : "");
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

/* The change for servers that follow the log, and the audit row, of a change to id. */
static int rs_changed(struct db *db, const char *id, const char *audience, const char *event, const char *actor,
		      const char *detail)
{
	int served = audience_served(db, audience);
	if (served < 0 || change_note(db, CHANGE_RESOURCE_STATE, id, audience[0] ? audience : NULL, served) < 0)
		return -1;
	struct audit_keys k = {.actor = actor ? actor : "system"};
	return audit_write(db, event, &k, detail);
}

int resource_rotate_job(struct db *db, void *arg)
{
	struct resource_rotation *r = arg;
	unsigned char v[VERIFIER_LEN];
	int active;
	if (r->grace < 0 || r->grace > RS_GRACE_MAX) {
		oerr_set(&r->err, 400, "invalid_request", "grace must be 0 to %d seconds", RS_GRACE_MAX);
		return 1;
	}
	int f = rs_find(db, r->id, r->audience, &active, &r->err);
	if (f <= 0)
		return f < 0 ? -1 : 1;
	if (secret_new(r->secret) < 0 || secret_verifier(r->secret, SECRET_LEN, v) < 0)
		return -1;
	int64_t now = now_ms();
	r->old_expires_at = r->grace ? now + r->grace * 1000 : 0;
	/* the current secret becomes the previous one for the grace; an older one ends now */
	struct db_stmt *st = db_prep(
		db, "UPDATE resource_servers SET old_verifier = CASE WHEN CAST(?2 AS BIGINT) <> 0 THEN verifier END,"
		    " old_expires_at = CASE WHEN ?2 <> 0 THEN ?2 END, verifier = ?3, changed_at = ?4"
		    " WHERE id = ?1");
	if (!st)
		return -1;
	db_bind_text(st, 1, r->id);
	db_bind_int64(st, 2, r->old_expires_at);
	db_bind_blob(st, 3, v, sizeof v);
	db_bind_int64(st, 4, now);
	OPENSSL_cleanse(v, sizeof v);
	if (db_step_done(st) < 0)
		return -1;
	char d[160], t[32];
	if (audit_detail_fits(d, "{\"resource_server\":\"%s\",\"old_expires_at\":%s%s%s,\"grace_seconds\":%lld}", r->id,
			      r->old_expires_at ? "\"" : "", r->old_expires_at ? rfc3339(r->old_expires_at, t) : "null",
			      r->old_expires_at ? "\"" : "", (long long)r->grace) < 0)
		return -1;
	return rs_changed(db, r->id, r->audience, EV_CREDENTIAL_ROTATED, r->actor, d);
}

int resource_state_job(struct db *db, void *arg)
{
	struct resource_state *r = arg;
	int active;
	int f = rs_find(db, r->id, r->audience, &active, &r->err);
	if (f <= 0)
		return f < 0 ? -1 : 1;
	r->changed = active != (r->enable != 0);
	if (!r->changed)
		return 0;
	struct db_stmt *st = db_prep(db, "UPDATE resource_servers SET status = ?2, changed_at = ?3 WHERE id = ?1");
	if (!st)
		return -1;
	db_bind_text(st, 1, r->id);
	db_bind_text(st, 2, r->enable ? "active" : "disabled");
	db_bind_int64(st, 3, now_ms());
	if (db_step_done(st) < 0)
		return -1;
	char d[160];
	if (audit_detail_fits(d, "{\"resource_server\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"}", r->id,
			      r->enable ? "disabled" : "active", r->enable ? "active" : "disabled") < 0)
		return -1;
	return rs_changed(db, r->id, r->audience, r->enable ? EV_RESOURCE_ENABLED : EV_RESOURCE_DISABLED, r->actor, d);
}
