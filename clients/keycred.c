/* keycred.c - storing agents' public-key credentials; see keycred.h. */
#include "keycred.h"

#include "../audit/audit.h"
#include "../audit/events.h"
#include "../common/buf.h"
#include "../common/timeutil.h"
#include "../store/changes.h"
#include "credentials.h"

#include <string.h>

int key_credential_parse(const char *jwk, size_t n, struct jose_key *k, struct oerr *e)
{
	const char *why = NULL;
	if (!jwk || jose_key_parse(jwk, n, k, &why) < 0) {
		/* why is a short static code about the key sent, never the key itself */
		oerr_set(e, 400, "invalid_request", "not an accepted public JWK (%s)", why ? why : "missing");
		return 1;
	}
	return 0;
}

int key_credential_insert(struct db *db, const char *agent_id, const struct jose_key *k, char cred_id[ID_MAX],
			  struct oerr *e)
{
	int64_t now = now_ms();
	struct db_stmt *st = db_prep(db, "SELECT 1 FROM credentials WHERE agent_id = ? AND kind = 'key' AND kid = ?"
					 " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)");
	if (!st)
		return -1;
	db_bind_text(st, 1, agent_id);
	db_bind_text(st, 2, k->kid);
	db_bind_int64(st, 3, now);
	int rc = db_step(st);
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return -1;
	if (rc == DB_ROW) {
		oerr_set(e, 409, "conflict", "the agent already has a live key with that kid");
		return 1;
	}
	struct buf j;
	buf_init(&j, JOSE_JWK_MAX);
	if (jose_key_public_json(k, &j) < 0 || j.failed || id_new("cred_", cred_id) < 0) {
		buf_free(&j);
		return -1;
	}
	st = db_prep(db, "INSERT INTO credentials(id, agent_id, verifier, created_at, kind, jwk, kid, jkt)"
			 " VALUES (?, ?, ?, ?, 'key', ?, ?, ?)");
	if (!st) {
		buf_free(&j);
		return -1;
	}
	db_bind_text(st, 1, cred_id);
	db_bind_text(st, 2, agent_id);
	db_bind_blob(st, 3, "", 0); /* no verifier: secret checks skip it */
	db_bind_int64(st, 4, now);
	db_bind_text(st, 5, j.p);
	db_bind_text(st, 6, k->kid);
	db_bind_text(st, 7, k->jkt);
	rc = db_step_done(st);
	buf_free(&j);
	return rc < 0 ? -1 : 0;
}

/* With a grace, the agent's other live keys end after it (an earlier end stays). */
static int start_grace(struct db *db, const char *agent_id, const char *keep, int64_t grace, int64_t now)
{
	struct db_stmt *st = db_prep(db, "UPDATE credentials SET expires_at = CAST(?3 AS BIGINT) WHERE agent_id = ?1"
					 " AND id <> ?2 AND kind = 'key' AND revoked_at IS NULL"
					 " AND (expires_at IS NULL OR expires_at > ?3)");
	if (!st)
		return -1;
	db_bind_text(st, 1, agent_id);
	db_bind_text(st, 2, keep);
	db_bind_int64(st, 3, now + grace * 1000);
	return db_step_done(st);
}

int key_credential_add_job(struct db *db, void *arg)
{
	struct key_credential_add *r = arg;
	struct agent a;
	struct jose_key k;
	memset(&k, 0, sizeof k);
	int f = agent_load_owned(db, r->agent_id, r->owner_scope, &a, &r->err);
	if (f <= 0)
		return f < 0 ? -1 : 1;
	if (strcmp(a.status, "retired") == 0) {
		oerr_set(&r->err, 409, "conflict", "agent %.64s is retired", a.id);
		return 1;
	}
	if (r->grace > GRACE_MAX) {
		oerr_set(&r->err, 400, "invalid_request", "grace must be 0 to %d seconds", GRACE_MAX);
		return 1;
	}
	if (key_credential_parse(r->jwk, r->jwk_len, &k, &r->err))
		return 1;
	int rc = key_credential_insert(db, a.id, &k, r->cred_id, &r->err);
	snprintf(r->kid, sizeof r->kid, "%s", k.kid);
	snprintf(r->jkt, sizeof r->jkt, "%s", k.jkt);
	jose_key_clear(&k);
	if (rc)
		return rc;
	int64_t now = now_ms();
	if ((r->grace >= 0 && start_grace(db, a.id, r->cred_id, r->grace, now) < 0) ||
	    change_note(db, CHANGE_AGENT, a.id, "key_added", now) < 0)
		return -1;
	struct buf d;
	buf_init(&d, AUDIT_DETAIL_LIMIT);
	buf_printf(&d, "{\"agent_id\":\"%s\",\"credential_id\":\"%s\",\"kind\":\"key\",\"kid\":", a.id, r->cred_id);
	buf_json_cstr(&d, r->kid);
	buf_printf(&d, ",\"jkt\":\"%s\",\"grace_seconds\":%lld}", r->jkt, (long long)r->grace);
	struct audit_keys ak = {.actor = r->actor ? r->actor : "system",
				.agent_id = a.id,
				.owner_id = a.owner_id,
				.client_addr = r->client_addr,
				.request_id = r->request_id};
	rc = d.failed ? -1 : audit_write(db, EV_CREDENTIAL_CREATED, &ak, d.p);
	buf_free(&d);
	return rc < 0 ? -1 : 0;
}
