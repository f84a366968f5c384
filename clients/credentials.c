/* credentials.c - credential rotation, revocation and expiry; see credentials.h. */
#include "credentials.h"

#include "../audit/audit.h"
#include "../audit/events.h"
#include "../common/timeutil.h"
#include "../store/changes.h"

#include <string.h>

static int audit_cred(struct db *db, const char *event, const char *actor, const char *agent, const char *owner,
		      const char *client_addr, const char *request_id, const char *detail)
{
	struct audit_keys k = {.actor = actor,
			       .agent_id = agent,
			       .owner_id = owner,
			       .client_addr = client_addr,
			       .request_id = request_id};
	return audit_write(db, event, &k, detail);
}

static int load_scoped(struct db *db, const char *agent_id, const char *owner_scope, struct agent *a, struct oerr *e)
{
	int f = agent_load_owned(db, agent_id, owner_scope, a, e);
	if (f <= 0)
		return f < 0 ? -1 : 1;
	if (strcmp(a->status, "retired") == 0) {
		oerr_set(e, 409, "conflict", "agent %.64s is retired", agent_id);
		return 1;
	}
	return 0;
}

int credential_rotate_job(struct db *db, void *arg)
{
	struct credential_rotation *r = arg;
	struct agent a;
	int rc = load_scoped(db, r->agent_id, r->owner_scope, &a, &r->err);
	if (rc)
		return rc;
	if (r->grace < 0 || r->grace > GRACE_MAX) {
		oerr_set(&r->err, 400, "invalid_request", "grace must be 0 to %d seconds", GRACE_MAX);
		return 1;
	}
	int64_t now = now_ms(), until = now + r->grace * 1000;
	/* the newest live secret gets the grace; any older one ends now (keys and federated
	 * credentials are not secrets: they stay) */
	struct db_stmt *st =
		db_prep(db, "SELECT id FROM credentials WHERE agent_id = ? AND kind = 'secret' AND revoked_at IS NULL"
			    " AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at DESC LIMIT 1");
	if (!st)
		return -1;
	db_bind_text(st, 1, a.id);
	db_bind_int64(st, 2, now);
	r->old_cred_id[0] = '\0';
	if (db_step(st) == DB_ROW)
		db_col_copy(st, 0, r->old_cred_id, sizeof r->old_cred_id);
	db_reset(st);
	st = db_prep(db, "UPDATE credentials SET expires_at = CASE WHEN id = ?2 THEN"
			 " CASE WHEN expires_at < ?3 THEN expires_at ELSE ?3 END"
			 " ELSE ?4 END WHERE agent_id = ?1 AND kind = 'secret' AND revoked_at IS NULL"
			 " AND (expires_at IS NULL OR expires_at > ?4)");
	if (!st)
		return -1;
	db_bind_text(st, 1, a.id);
	db_bind_text(st, 2, r->old_cred_id);
	db_bind_int64(st, 3, until);
	db_bind_int64(st, 4, now);
	if (db_step_done(st) < 0)
		return -1;
	r->old_expires_at = r->old_cred_id[0] ? until : 0;
	if (credential_create(db, a.id, r->cred_id, r->secret) < 0 ||
	    change_note(db, CHANGE_AGENT, a.id, "credential_rotated", now) < 0)
		return -1;
	char d[300], t[32];
	if (audit_detail_fits(d,
			      "{\"agent_id\":\"%s\",\"credential_id\":\"%s\",\"old_credential_id\":\"%s\","
			      "\"old_expires_at\":\"%s\",\"grace_seconds\":%lld}",
			      a.id, r->cred_id, r->old_cred_id, r->old_cred_id[0] ? rfc3339(until, t) : "",
			      (long long)r->grace) < 0)
		return -1;
	return audit_cred(db, EV_CREDENTIAL_ROTATED, r->actor, a.id, a.owner_id, r->client_addr, r->request_id, d);
}

int credential_revoke_job(struct db *db, void *arg)
{
	struct credential_revocation *r = arg;
	struct agent a;
	int rc = load_scoped(db, r->agent_id, r->owner_scope, &a, &r->err);
	if (rc)
		return rc;
	int64_t now = now_ms();
	struct db_stmt *st = db_prep(db, "UPDATE credentials SET revoked_at = ?3 WHERE id = ?2 AND agent_id = ?1"
					 " AND revoked_at IS NULL");
	if (!st)
		return -1;
	db_bind_text(st, 1, a.id);
	db_bind_text(st, 2, r->cred_id);
	db_bind_int64(st, 3, now);
	if (db_step_done(st) < 0)
		return -1;
	if (db_changes(db) == 0) {
		st = db_prep(db, "SELECT 1 FROM credentials WHERE id = ? AND agent_id = ?");
		if (!st)
			return -1;
		db_bind_text(st, 1, r->cred_id);
		db_bind_text(st, 2, a.id);
		int exists = db_step(st) == DB_ROW;
		db_reset(st);
		if (!exists) {
			oerr_set(&r->err, 404, "not_found", "no credential %.64s for that agent", r->cred_id);
			return 1;
		}
		return 0; /* already revoked */
	}
	if (change_note(db, CHANGE_CRED, r->cred_id, a.id, now) < 0)
		return -1;
	char d[200];
	if (audit_detail_fits(d, "{\"agent_id\":\"%s\",\"credential_id\":\"%s\"}", a.id, r->cred_id) < 0)
		return -1;
	return audit_cred(db, EV_CREDENTIAL_REVOKED, r->actor, a.id, a.owner_id, r->client_addr, r->request_id, d);
}

int credential_expiry_job(struct db *db, void *arg)
{
	(void)arg;
	int64_t now = now_ms();
	struct db_stmt *q = NULL;
	if (!(q = db_prep_new(db, "SELECT c.id, c.agent_id, a.owner_id, c.expires_at FROM credentials c"
				  " JOIN agents a ON a.id = c.agent_id WHERE c.expiry_audited = 0"
				  " AND c.revoked_at IS NULL AND c.expires_at <= ?")))
		return -1;
	db_bind_int64(q, 1, now);
	int rc = 0;
	while (rc == 0 && db_step(q) == DB_ROW) {
		char d[200], t[32];
		if (audit_detail_fits(d, "{\"agent_id\":\"%s\",\"credential_id\":\"%s\",\"expired_at\":\"%s\"}",
				      db_col_text(q, 1), db_col_text(q, 0), rfc3339(db_col_int64(q, 3), t)) < 0) {
			rc = -1;
			break;
		}
		rc = audit_cred(db, EV_CREDENTIAL_EXPIRED, "system", db_col_text(q, 1), db_col_text(q, 2), NULL, NULL,
				d);
	}
	db_finalize(q);
	if (rc == 0) {
		struct db_stmt *st = db_prep(db, "UPDATE credentials SET expiry_audited = 1 WHERE expiry_audited = 0"
						 " AND revoked_at IS NULL AND expires_at <= ?");
		if (!st)
			return -1;
		db_bind_int64(st, 1, now);
		rc = db_step_done(st);
	}
	return rc;
}

int credential_live(struct db *db, const char *agent_id, const char *cred_id, int64_t now)
{
	struct db_stmt *st = db_prep(db, "SELECT 1 FROM credentials WHERE id = ?1 AND agent_id = ?2"
					 " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?3)");
	if (!st)
		return -1;
	db_bind_text(st, 1, cred_id);
	db_bind_text(st, 2, agent_id);
	db_bind_int64(st, 3, now);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}
