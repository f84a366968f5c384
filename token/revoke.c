/* revoke.c - revocations and RFC 7009; see revoke.h. */
#include "revoke.h"

#include "../clients/agents.h"
#include "../common/timeutil.h"
#include "introspect.h"
#include "live.h"
#include "mint.h"

#include <string.h>

static int audit_revoked(struct db *db, const struct revocation *r, const char *event, const char *agent,
			 const char *owner, const char *run, const char *jti, const char *detail, const char *ws)
{
	struct audit_keys k = {.actor = r->actor, .agent_id = agent, .owner_id = owner, .ws = ws, .run_id = run,
			       .jti = jti, .client_addr = r->client_addr, .request_id = r->request_id};
	char d[AUDIT_DETAIL_MAX];
	snprintf(d, sizeof d, "{\"agent_id\":\"%s\"%s%s}", agent ? agent : "", detail ? "," : "", detail ? detail : "");
	return audit_write(db, event, &k, d);
}

/* the owner of agent, or "" when it does not exist */
static int agent_owner(struct db *db, const char *agent, char owner[ID_MAX])
{
	sqlite3_stmt *st = db_prep(db, "SELECT owner_id FROM agents WHERE id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, agent);
	owner[0] = '\0';
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		db_col_copy(st, 0, owner, ID_MAX);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int revoke_jti(struct db *db, struct revocation *r)
{
	char agent[ID_MAX] = "", owner[ID_MAX] = "", run[80] = "", ws[ID_MAX] = "";
	int64_t exp = r->exp;
	int64_t issued = jti_time(r->jti);
	if (!r->jti || strlen(r->jti) >= 40) {
		oerr_set(&r->err, 400, "invalid_request", "not a token id");
		return 1;
	}
	sqlite3_stmt *st;
	if (r->exp && r->owner_id) {
		/* a verified token told us everything */
		snprintf(agent, sizeof agent, "%s", r->agent_id ? r->agent_id : "");
		snprintf(owner, sizeof owner, "%s", r->owner_id);
		snprintf(run, sizeof run, "%s", r->token_run ? r->token_run : "");
		snprintf(ws, sizeof ws, "%s", r->token_ws ? r->token_ws : "");
		goto known;
	}
	/* who held it, and until when: the audit row that issued it (found by time) */
	st = db_prep(db,
		"SELECT actor, owner_id, run_id, time / 1000 + json_extract(detail, '$.expires_in'), ws"
		" FROM audit_events WHERE event = 'token.issued' AND jti = ?1"
		" AND time BETWEEN ?2 - 5000 AND ?2 + 5000");
	if (!st)
		return -1;
	db_bind_text(st, 1, r->jti);
	sqlite3_bind_int64(st, 2, issued > 0 ? issued : 0);
	int found = issued > 0 && sqlite3_step(st) == SQLITE_ROW;
	if (found) {
		db_col_copy(st, 0, agent, sizeof agent);
		db_col_copy(st, 1, owner, sizeof owner);
		db_col_copy(st, 2, run, sizeof run);
		db_col_copy(st, 4, ws, sizeof ws);
		if (!exp)
			exp = sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	if (!exp) /* unknown to us: keep it revoked as long as any token could live */
		exp = (issued > 0 ? issued / 1000 : now_ms() / 1000) + TOKEN_TTL_MAX;
	if (r->agent_id && !agent[0])
		snprintf(agent, sizeof agent, "%s", r->agent_id);
known:
	if (r->owner_scope && strcmp(owner, r->owner_scope) != 0) {
		oerr_set(&r->err, 404, "not_found", "no such token");
		return 1;
	}
	st = db_prep(db, "INSERT OR IGNORE INTO revoked_tokens(jti, agent_id, exp, revoked_at) VALUES (?,?,?,?)");
	if (!st)
		return -1;
	db_bind_text(st, 1, r->jti);
	db_bind_text(st, 2, agent[0] ? agent : NULL);
	sqlite3_bind_int64(st, 3, exp);
	sqlite3_bind_int64(st, 4, now_ms());
	if (db_step_done(st) < 0)
		return -1;
	r->count = sqlite3_changes(db->h) > 0;
	if (change_note(db, CHANGE_JTI, r->jti, agent, exp) < 0)
		return -1;
	char d[96];
	snprintf(d, sizeof d, "\"kind\":\"token\",\"exp\":%lld", (long long)exp);
	return audit_revoked(db, r, "token.revoked", agent, owner, run, r->jti, d, ws);
}

static int revoke_run_of(struct db *db, struct revocation *r, const char *agent, const char *owner)
{
	sqlite3_stmt *st = db_prep(db, "INSERT OR IGNORE INTO revoked_runs(agent_id, run_id, revoked_at) VALUES (?,?,?)");
	if (!st)
		return -1;
	db_bind_text(st, 1, agent);
	db_bind_text(st, 2, r->run_id);
	sqlite3_bind_int64(st, 3, now_ms());
	if (db_step_done(st) < 0 || change_note(db, CHANGE_RUN, agent, r->run_id, 0) < 0)
		return -1;
	r->count++;
	return audit_revoked(db, r, "run.revoked", agent, owner, r->run_id, NULL, "\"kind\":\"run\"", NULL);
}

static int revoke_run(struct db *db, struct revocation *r)
{
	char owner[ID_MAX];
	if (r->agent_id) {
		int f = agent_owner(db, r->agent_id, owner);
		if (f < 0)
			return -1;
		if (!f || (r->owner_scope && strcmp(owner, r->owner_scope) != 0)) {
			oerr_set(&r->err, 404, "not_found", "no agent %.64s", r->agent_id);
			return 1;
		}
		return revoke_run_of(db, r, r->agent_id, owner);
	}
	/* every agent that used the run (agent-chosen run ids may collide across agents) */
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db->h,
			       "SELECT DISTINCT a.id, a.owner_id FROM audit_events e JOIN agents a ON a.id = e.actor"
			       " WHERE e.run_id = ?1 AND e.event = 'token.issued'"
			       " AND (?2 IS NULL OR a.owner_id = ?2)", -1, &st, NULL) != SQLITE_OK)
		return -1;
	db_bind_text(st, 1, r->run_id);
	db_bind_text(st, 2, r->owner_scope);
	int rc = 0, s;
	while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW) {
		char agent[ID_MAX];
		db_col_copy(st, 0, agent, sizeof agent);
		db_col_copy(st, 1, owner, sizeof owner);
		rc = revoke_run_of(db, r, agent, owner);
	}
	sqlite3_finalize(st);
	if (rc == 0 && r->count == 0 && r->owner_scope) {
		oerr_set(&r->err, 404, "not_found", "none of your agents used run %.64s", r->run_id);
		return 1;
	}
	return rc;
}

static int revoke_agent(struct db *db, struct revocation *r)
{
	char owner[ID_MAX];
	int f = agent_owner(db, r->agent_id, owner);
	if (f < 0)
		return -1;
	if (!f || (r->owner_scope && strcmp(owner, r->owner_scope) != 0)) {
		oerr_set(&r->err, 404, "not_found", "no agent %.64s", r->agent_id ? r->agent_id : "");
		return 1;
	}
	int64_t now = now_ms();
	sqlite3_stmt *st = db_prep(db, "UPDATE agents SET tokens_before = max(tokens_before, ?2), changed_at = ?2"
				       " WHERE id = ?1");
	if (!st)
		return -1;
	db_bind_text(st, 1, r->agent_id);
	sqlite3_bind_int64(st, 2, now);
	if (db_step_done(st) < 0 || change_note(db, CHANGE_AGENT, r->agent_id, NULL, now) < 0)
		return -1;
	r->count = 1;
	return audit_revoked(db, r, "token.revoked", r->agent_id, owner, NULL, NULL,
			     "\"kind\":\"all_tokens_of_agent\"", NULL);
}

int revoke_job(struct db *db, void *arg)
{
	struct revocation *r = arg;
	r->count = 0;
	switch (r->kind) {
	case REVOKE_JTI: return revoke_jti(db, r);
	case REVOKE_RUN: return revoke_run(db, r);
	case REVOKE_AGENT: return revoke_agent(db, r);
	}
	return -1;
}

/* ---- RFC 7009 ---- */

int token_revoke_prepare(struct warrant *w, struct token_revocation *r)
{
	struct db *db = warrant_reader(w);
	struct agent a;
	struct audit_event *ev = &r->audit;
	memset(ev, 0, sizeof *ev);
	ev->time = now_ms();
	ev->event = "token.revoked";
	snprintf(ev->client_addr, sizeof ev->client_addr, "%s", r->client_addr ? r->client_addr : "");
	snprintf(ev->request_id, sizeof ev->request_id, "%s", r->request_id ? r->request_id : "");
	if (!db) {
		oerr_set(&r->err, 503, "temporarily_unavailable", "storage unavailable");
		r->refused = 1;
		ev->outcome = "error";
		return -1;
	}
	int rc = client_authenticate(db, r->cred.id, r->cred.secret, &a, &r->err);
	if (rc != 0) {
		r->refused = 1;
		r->err.basic_challenge = r->cred.method == AUTH_BASIC;
		ev->outcome = "refused";
		snprintf(ev->detail, sizeof ev->detail, "{\"reason\":\"%s\"}", r->err.reason ? r->err.reason : "auth");
		if (rc > 0 && strcmp(r->err.reason, "unknown_client") != 0) {
			snprintf(ev->actor, sizeof ev->actor, "%s", a.id);
			snprintf(ev->owner_id, sizeof ev->owner_id, "%s", a.owner_id);
		}
		return rc < 0 ? -1 : 0;
	}
	snprintf(ev->actor, sizeof ev->actor, "%s", a.id);
	snprintf(ev->owner_id, sizeof ev->owner_id, "%s", a.owner_id);
	slice token, hint;
	int has = form_get1(r->form, "token", &token);
	if (has < 0 || form_get1(r->form, "token_type_hint", &hint) < 0 || has == 0) {
		oerr_set(&r->err, 400, "invalid_request", has == 0 ? "token is required" : "parameter given more than once");
		r->refused = 1;
		ev->outcome = "refused";
		snprintf(ev->detail, sizeof ev->detail, "{\"reason\":\"invalid_request\"}");
		return 0;
	}
	const char *why;
	struct tok *t = tok_lookup(w, token.p, token.n, &why);
	/* RFC 7009 §2.2: unknown, invalid or someone else's token: 200 all the same */
	ev->outcome = "ignored";
	if (!t) {
		snprintf(ev->detail, sizeof ev->detail, "{\"reason\":\"%s\"}", why);
		return 0;
	}
	snprintf(ev->jti, sizeof ev->jti, "%s", t->jti);
	if (strcmp(t->sub, a.id) != 0) {
		snprintf(ev->detail, sizeof ev->detail, "{\"reason\":\"not_the_callers_token\"}");
		tok_release(t);
		return 0;
	}
	if (now_ms() / 1000 >= t->exp) {
		snprintf(ev->detail, sizeof ev->detail, "{\"reason\":\"expired\"}");
		tok_release(t);
		return 0;
	}
	snprintf(r->jti, sizeof r->jti, "%s", t->jti);
	snprintf(r->agent_id, sizeof r->agent_id, "%s", a.id);
	snprintf(r->owner_id, sizeof r->owner_id, "%s", t->owner_id);
	snprintf(r->run_id, sizeof r->run_id, "%s", t->run_id);
	snprintf(r->ws, sizeof r->ws, "%s", t->ws);
	r->rev.owner_id = r->owner_id;
	r->rev.token_run = r->run_id;
	r->rev.token_ws = r->ws;
	r->revoke = 1;
	r->rev.kind = REVOKE_JTI;
	r->rev.jti = r->jti;
	r->rev.agent_id = r->agent_id;
	r->rev.exp = t->exp;
	r->rev.actor = r->agent_id;
	r->rev.client_addr = r->client_addr;
	r->rev.request_id = r->request_id;
	tok_release(t);
	return 0;
}

int token_revoke_job(struct db *db, void *arg)
{
	struct token_revocation *r = arg;
	if (r->revoke)
		return revoke_job(db, &r->rev);
	return audit_insert(db, &r->audit);
}
