/* revoke.c - revocations and RFC 7009; see revoke.h. */
#include "revoke.h"

#include "../audit/events.h"
#include "../clients/agents.h"
#include "../common/timeutil.h"
#include "../store/ledger.h"
#include "introspect.h"
#include "live.h"
#include "mint.h"

#include <string.h>

static int audit_revoked(struct db *db, const struct revocation *r, const char *event, const char *agent,
			 const char *owner, const char *run, const char *jti, const char *detail, const char *ws)
{
	struct audit_event ev;
	struct audit_keys k = {.actor = r->actor,
			       .agent_id = agent,
			       .owner_id = owner,
			       .ws = ws,
			       .run_id = run,
			       .jti = jti,
			       .client_addr = r->client_addr,
			       .request_id = r->request_id};
	audit_event_init(&ev, event, "ok", &k);
	audit_detailf(&ev, "{\"agent_id\":\"%s\"%s%s}", agent ? agent : "", detail ? "," : "", detail ? detail : "");
	int rc = audit_insert(db, &ev);
	audit_event_clear(&ev);
	return rc;
}

/* Who held the token and until when: the verified token when the caller has it, else the
 * ledger; a jti the ledger does not know stays revoked as long as any token could live. */
static int token_facts(struct db *db, const struct revocation *r, struct ledger_row *f)
{
	memset(f, 0, sizeof *f);
	if (r->exp && r->owner_id) {
		snprintf(f->agent_id, sizeof f->agent_id, "%s", r->agent_id ? r->agent_id : "");
		snprintf(f->owner_id, sizeof f->owner_id, "%s", r->owner_id);
		snprintf(f->run_id, sizeof f->run_id, "%s", r->token_run ? r->token_run : "");
		snprintf(f->ws, sizeof f->ws, "%s", r->token_ws ? r->token_ws : "");
		f->exp_s = r->exp;
		return 0;
	}
	int found = ledger_find(db, r->jti, jti_time(r->jti), f);
	if (found < 0)
		return -1;
	if (r->exp)
		f->exp_s = r->exp;
	if (!f->exp_s) {
		int64_t issued = jti_time(r->jti);
		f->exp_s = (issued > 0 ? issued / 1000 : now_ms() / 1000) + TOKEN_TTL_MAX;
	}
	if (r->agent_id && !f->agent_id[0])
		snprintf(f->agent_id, sizeof f->agent_id, "%s", r->agent_id);
	return 0;
}

static int revoke_jti(struct db *db, struct revocation *r)
{
	struct ledger_row f;
	if (!r->jti || strlen(r->jti) >= 40) {
		oerr_set(&r->err, 400, "invalid_request", "not a token id");
		return 1;
	}
	if (token_facts(db, r, &f) < 0)
		return -1;
	if (r->owner_scope && strcmp(f.owner_id, r->owner_scope) != 0) {
		oerr_set(&r->err, 404, "not_found", "no such token");
		return 1;
	}
	const char *agent = f.agent_id[0] ? f.agent_id : NULL;
	struct db_stmt *st = db_prep(db, "INSERT INTO revoked_tokens(jti, agent_id, exp, revoked_at) VALUES (?,?,?,?)"
					 " ON CONFLICT DO NOTHING");
	if (!st)
		return -1;
	db_bind_text(st, 1, r->jti);
	db_bind_text(st, 2, agent);
	db_bind_int64(st, 3, f.exp_s);
	db_bind_int64(st, 4, now_ms());
	if (db_step_done(st) < 0)
		return -1;
	r->count = db_changes(db) > 0;
	if (change_note(db, CHANGE_JTI, r->jti, agent, f.exp_s) < 0)
		return -1;
	char d[96];
	if (audit_detail_fits(d, "\"kind\":\"token\",\"exp\":%lld", (long long)f.exp_s) < 0)
		return -1;
	return audit_revoked(db, r, EV_TOKEN_REVOKED, f.agent_id, f.owner_id, f.run_id, r->jti, d, f.ws);
}

static int revoke_run_of(struct db *db, struct revocation *r, const char *agent, const char *owner)
{
	struct db_stmt *st = db_prep(db, "INSERT INTO revoked_runs(agent_id, run_id, revoked_at) VALUES (?,?,?)"
					 " ON CONFLICT DO NOTHING");
	if (!st)
		return -1;
	db_bind_text(st, 1, agent);
	db_bind_text(st, 2, r->run_id);
	db_bind_int64(st, 3, now_ms());
	if (db_step_done(st) < 0 || change_note(db, CHANGE_RUN, agent, r->run_id, 0) < 0)
		return -1;
	r->count++;
	return audit_revoked(db, r, EV_RUN_REVOKED, agent, owner, r->run_id, NULL, "\"kind\":\"run\"", NULL);
}

struct run_walk {
	struct db *db;
	struct revocation *r;
};

static int run_of_agent(void *arg, const char *agent, const char *owner)
{
	struct run_walk *k = arg;
	return revoke_run_of(k->db, k->r, agent, owner);
}

static int revoke_run(struct db *db, struct revocation *r)
{
	struct agent a;
	if (r->agent_id) {
		int f = agent_load_owned(db, r->agent_id, r->owner_scope, &a, &r->err);
		if (f <= 0)
			return f < 0 ? -1 : 1;
		return revoke_run_of(db, r, a.id, a.owner_id);
	}
	/* every agent that used the run (agent-chosen run ids may collide across agents) */
	struct run_walk k = {db, r};
	int rc = audit_agents_of_run(db, r->run_id, r->owner_scope, run_of_agent, &k);
	if (rc == 0 && r->count == 0 && r->owner_scope) {
		oerr_set(&r->err, 404, "not_found", "none of your agents used run %.64s", r->run_id);
		return 1;
	}
	return rc;
}

static int revoke_agent(struct db *db, struct revocation *r)
{
	struct agent a;
	int f = agent_load_owned(db, r->agent_id, r->owner_scope, &a, &r->err);
	if (f <= 0)
		return f < 0 ? -1 : 1;
	const char *owner = a.owner_id;
	int64_t now = now_ms();
	struct db_stmt *st = db_prep(db, "UPDATE agents SET tokens_before ="
					 " CASE WHEN tokens_before > ?2 THEN tokens_before ELSE ?2 END, changed_at = ?2"
					 " WHERE id = ?1");
	if (!st)
		return -1;
	db_bind_text(st, 1, r->agent_id);
	db_bind_int64(st, 2, now);
	if (db_step_done(st) < 0 || change_note(db, CHANGE_AGENT, r->agent_id, NULL, now) < 0)
		return -1;
	r->count = 1;
	return audit_revoked(db, r, EV_TOKEN_REVOKED, r->agent_id, owner, NULL, NULL,
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

/* The event written when nothing is revoked: a refusal or an ignored token (RFC 7009 §2.2). */
static void revoke_record(struct token_revocation *r, const struct agent *a, const char *outcome, const char *reason,
			  const char *jti)
{
	struct audit_keys k = {.actor = a ? a->id : "",
			       .owner_id = a ? a->owner_id : NULL,
			       .jti = jti,
			       .client_addr = r->client_addr,
			       .request_id = r->request_id};
	audit_event_clear(&r->audit);
	audit_event_init(&r->audit, EV_TOKEN_REVOKED, outcome, &k);
	audit_detailf(&r->audit, "{\"reason\":\"%s\"}", reason);
}

/* The caller's own live token: what the revocation job needs to know about it. */
static void revoke_plan(struct token_revocation *r, const struct agent *a, const struct tok *t)
{
	snprintf(r->jti, sizeof r->jti, "%s", t->jti);
	snprintf(r->agent_id, sizeof r->agent_id, "%s", a->id);
	snprintf(r->owner_id, sizeof r->owner_id, "%s", a->owner_id); /* the token's holder's */
	snprintf(r->run_id, sizeof r->run_id, "%s", t->run_id);
	snprintf(r->ws, sizeof r->ws, "%s", t->ws);
	r->revoke = 1;
	r->rev = (struct revocation){
		.kind = REVOKE_JTI,
		.jti = r->jti,
		.agent_id = r->agent_id,
		.exp = t->exp,
		.owner_id = r->owner_id,
		.token_run = r->run_id,
		.token_ws = r->ws,
		.actor = r->agent_id,
		.client_addr = r->client_addr,
		.request_id = r->request_id,
	};
}

int token_revoke_prepare(struct warrant *w, struct token_revocation *r)
{
	struct db *db = warrant_reader(w);
	struct client_identity who;
	memset(&r->audit, 0, sizeof r->audit);
	if (!db) {
		oerr_set(&r->err, 503, "temporarily_unavailable", "storage unavailable");
		r->refused = 1;
		revoke_record(r, NULL, "error", "storage", NULL);
		return -1;
	}
	r->cred.issuer = w->issuer; /* an assertion's audience (RFC 10070) */
	r->cred.leeway = w->leeway;
	int rc = client_authenticate(db, &r->cred, CLIENT_AGENT, &who, &r->err);
	const struct agent *a = &who.agent;
	if (rc != 0) {
		r->refused = 1;
		revoke_record(r, a->id[0] ? a : NULL, rc < 0 ? "error" : "refused",
			      r->err.reason ? r->err.reason : "auth", NULL);
		if (rc > 0 && !a->id[0]) /* no known agent: counted in a row a minute */
			audit_event_summarize(&r->audit, r->err.reason, r->err.code);
		return rc < 0 ? -1 : 0;
	}
	slice token, hint;
	int has = form_get1(r->form, "token", &token);
	if (has < 0 || form_get1(r->form, "token_type_hint", &hint) < 0 || has == 0) {
		oerr_set(&r->err, 400, "invalid_request",
			 has == 0 ? "token is required" : "parameter given more than once");
		r->refused = 1;
		revoke_record(r, a, "refused", "invalid_request", NULL);
		return 0;
	}
	const char *why;
	struct tok *t = tok_lookup(w, token.p, token.n, &why);
	/* RFC 7009 §2.2: unknown, invalid or someone else's token: 200 all the same */
	if (!t)
		revoke_record(r, a, "ignored", why, NULL);
	else if (strcmp(t->depth ? t->act_sub[0] : t->sub, a->id) != 0) /* an exchanged token is its actor's */
		revoke_record(r, a, "ignored", "not_the_callers_token", t->jti);
	else if (now_ms() / 1000 >= t->exp)
		revoke_record(r, a, "ignored", "expired", t->jti);
	else
		revoke_plan(r, a, t);
	tok_release(t);
	return 0;
}

void token_revocation_free(struct token_revocation *r)
{
	client_cred_wipe(&r->cred);
	audit_event_clear(&r->audit);
}

int token_revoke_job(struct db *db, void *arg)
{
	struct token_revocation *r = arg;
	if (r->revoke)
		return revoke_job(db, &r->rev);
	return audit_insert(db, &r->audit);
}
