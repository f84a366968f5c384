/* ciba.c - OpenID CIBA (poll mode) for approval-required verbs; see ciba.h. */
#include "ciba.h"

#include "../audit/events.h"
#include "../authz/decision.h"
#include "../common/buf.h"
#include "../common/timeutil.h"
#include "ciba_pace.h"
#include "live.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static void audit_fill(struct audit_event *ev, const char *event, const char *outcome, const char *actor,
		       const char *agent, const char *owner, const char *run, const char *ws, const char *client_addr,
		       const char *request_id)
{
	struct audit_keys k = {.actor = actor ? actor : "",
			       .agent_id = agent,
			       .owner_id = owner,
			       .ws = ws,
			       .run_id = run,
			       .client_addr = client_addr,
			       .request_id = request_id};
	audit_event_init(ev, event, outcome, &k);
}

static int printable(slice s)
{
	for (size_t i = 0; i < s.n; i++)
		if ((unsigned char)s.p[i] < 0x20 || s.p[i] == 0x7f)
			return 0;
	return 1;
}

#define BC_REFUSE(st, code, why_, ...)                    \
	do {                                              \
		oerr_set(&b->err, st, code, __VA_ARGS__); \
		b->err.reason = why_;                     \
		return 1;                                 \
	} while (0)

/* The request's own parameters: no duplicates, the binding message, the run id. */
static int bc_parse(struct bc_request *b, slice *msg)
{
	const struct form_param *dup = form_duplicate(b->form, "");
	slice run = {0};
	if (dup)
		BC_REFUSE(400, "invalid_request", "duplicate_parameter", "parameter %.*s given more than once",
			  (int)dup->name.n, dup->name.p);
	form_get1(b->form, "binding_message", msg);
	if (msg->n > BINDING_MESSAGE_MAX || !printable(*msg))
		BC_REFUSE(400, "invalid_binding_message", "bad_binding_message",
			  "binding_message must be at most %d printable characters", BINDING_MESSAGE_MAX);
	if (msg->n)
		memcpy(b->binding, msg->p, msg->n);
	b->binding[msg->n] = '\0';
	if (form_get1(b->form, "run_id", &run) == 1) {
		if (!run_id_valid(run))
			BC_REFUSE(400, "invalid_request", "bad_run_id",
				  "run_id must be 1-64 characters of A-Z a-z 0-9 . _ : -");
		memcpy(b->run_id, run.p, run.n);
		b->run_id[run.n] = '\0';
	}
	return 0;
}

static void bc_record(struct bc_request *b)
{
	audit_event_clear(&b->audit);
	audit_fill(&b->audit, EV_APPROVAL_REQUESTED, b->ok ? "ok" : "refused", b->agent.id, b->agent.id,
		   b->agent.owner_id, b->run_id, b->ws, b->client_addr, b->request_id);
	struct buf d;
	buf_init(&d, AUDIT_DETAIL_LIMIT);
	if (b->ok) {
		buf_printf(&d, "{\"auth_req_id\":\"%s\",\"scope\":", b->id);
		buf_json_cstr(&d, b->scope);
		buf_puts(&d, ",\"binding_message\":");
		buf_json_cstr(&d, b->binding);
	} else {
		buf_puts(&d, "{\"reason\":");
		buf_json_cstr(&d, b->err.reason ? b->err.reason : "");
		buf_puts(&d, ",\"error\":");
		buf_json_cstr(&d, b->err.code);
	}
	buf_printf(&d, ",\"auth_method\":\"%s\"}", client_auth_method_name(&b->cred));
	audit_detail_take(&b->audit, &d);
	if (!b->ok && !b->agent.id[0]) /* no known agent: counted in a row a minute */
		audit_event_summarize(&b->audit, b->err.reason, b->err.code);
}

/* authenticate, parse, decide (authz/decision.h: a scope is required, and approval-required
 * verbs are what this endpoint is for) */
static int bc_decide(struct db *db, struct bc_request *b)
{
	struct client_identity who;
	slice msg = {0};
	int rc = client_authenticate(db, &b->cred, CLIENT_AGENT, &who, &b->err);
	b->agent = who.agent;
	if (rc == 0)
		rc = bc_parse(b, &msg);
	if (rc != 0)
		return rc;
	struct access_request q = {.purpose = ACCESS_CIBA_REQUEST, .agent = &b->agent, .run_id = b->run_id};
	struct access_decision d;
	form_get1(b->form, "scope", &q.scope);
	form_get1(b->form, "workspace", &q.workspace);
	rc = access_decide(db, &q, &d);
	memcpy(b->ws, d.ws, sizeof b->ws);
	if (rc != 0) {
		b->err = d.err;
		return rc;
	}
	memcpy(b->scope, d.scope, sizeof b->scope);
	if ((!b->run_id[0] && run_id_new(now_ms(), b->run_id) < 0) || id_new("areq_", b->id) < 0)
		return -1;
	return 0;
}

int bc_authorize_prepare(struct warrant *w, struct bc_request *b)
{
	struct db *db = warrant_reader(w);
	b->ok = 0;
	memset(&b->audit, 0, sizeof b->audit);
	int rc = 1;
	if (!db) {
		oerr_set(&b->err, 503, "temporarily_unavailable", "storage unavailable");
		b->err.reason = "storage";
	} else {
		int64_t seen = changes_seen();
		b->cred.issuer = w->issuer; /* an assertion's audience (RFC 10070) */
		b->cred.leeway = w->leeway;
		rc = bc_decide(db, b);
		if (rc > 0 && b->agent.id[0] && b->err.status != 401 && changes_catch_up(db, seen) > 0) {
			/* refused on state another process has changed meanwhile: look again */
			memset(&b->err, 0, sizeof b->err);
			b->run_id[0] = b->ws[0] = b->scope[0] = '\0';
			rc = bc_decide(db, b);
		}
	}
	b->ok = rc == 0;
	bc_record(b);
	return rc < 0 ? -1 : 0;
}

void bc_request_free(struct bc_request *b)
{
	client_cred_wipe(&b->cred);
	audit_event_clear(&b->audit);
}

/* SPEC: at most CIBA_PENDING_MAX pending requests per agent. Counted in the writer's
 * transaction, so concurrent requests cannot pass it together. 0, or -1 on a database error;
 * over the cap b is turned into a refusal (400 invalid_request, audited as such). */
static int bc_pending_cap(struct db *db, struct bc_request *b)
{
	struct db_stmt *st = db_prep(db, "SELECT count(*) FROM approvals WHERE owner_id = ?1 AND status = 'pending'"
					 " AND agent_id = ?2 AND expires_at > ?3");
	if (!st)
		return -1;
	db_bind_text(st, 1, b->agent.owner_id);
	db_bind_text(st, 2, b->agent.id);
	db_bind_int64(st, 3, now_ms());
	int64_t n = db_step(st) == DB_ROW ? db_col_int64(st, 0) : -1;
	db_reset(st);
	if (n < 0)
		return -1;
	if (n < CIBA_PENDING_MAX)
		return 0;
	b->ok = 0;
	oerr_set(&b->err, 400, "invalid_request", "the agent has %d pending requests already; wait for a decision",
		 CIBA_PENDING_MAX);
	b->err.reason = "too_many_pending";
	bc_record(b);
	return 0;
}

int bc_authorize_job(struct db *db, void *arg)
{
	struct bc_request *b = arg;
	if (b->ok && bc_pending_cap(db, b) < 0)
		return -1;
	if (b->ok) {
		int64_t now = now_ms();
		struct db_stmt *st =
			db_prep(db, "INSERT INTO approvals(id, agent_id, owner_id, run_id, ws, scope,"
				    " binding_message, created_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?)");
		if (!st)
			return -1;
		db_bind_text(st, 1, b->id);
		db_bind_text(st, 2, b->agent.id);
		db_bind_text(st, 3, b->agent.owner_id);
		db_bind_text(st, 4, b->run_id);
		db_bind_text(st, 5, b->ws);
		db_bind_text(st, 6, b->scope);
		db_bind_text(st, 7, b->binding);
		db_bind_int64(st, 8, now);
		db_bind_int64(st, 9, now + CIBA_EXPIRES_IN * 1000);
		if (db_step_done(st) < 0)
			return -1;
	}
	return audit_insert(db, &b->audit);
}

int ciba_lookup(struct db *db, struct token_issue *t, slice id)
{
	char *ws = t->ws;
	char key[ID_MAX], status[16] = "", agent[ID_MAX] = "";
	if (id.n >= ID_MAX) {
		oerr_set(&t->err, 400, "invalid_grant", "unknown auth_req_id");
		t->err.reason = "unknown_auth_req_id";
		return 1;
	}
	memcpy(key, id.p, id.n);
	key[id.n] = '\0';
	struct db_stmt *st = db_prep(db, "SELECT agent_id, owner_id, run_id, ws, scope, status, expires_at"
					 " FROM approvals WHERE id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, key);
	int64_t expires = 0, now = now_ms();
	int found = db_step(st) == DB_ROW;
	if (found) {
		db_col_copy(st, 0, agent, sizeof agent);
		db_col_copy(st, 1, t->approved_by, sizeof t->approved_by);
		db_col_copy(st, 2, t->run_id, sizeof t->run_id);
		db_col_copy(st, 3, ws, ID_MAX);
		db_col_copy(st, 4, t->scope, sizeof t->scope);
		db_col_copy(st, 5, status, sizeof status);
		expires = db_col_int64(st, 6);
	}
	db_reset(st);
	/* another agent's request is as unknown as a made-up one */
	if (!found || strcmp(agent, t->agent.id) != 0) {
		t->run_id[0] = '\0';
		ws[0] = '\0';
		oerr_set(&t->err, 400, "invalid_grant", "unknown auth_req_id");
		t->err.reason = "unknown_auth_req_id";
		return 1;
	}
	if (strcmp(status, "redeemed") == 0) {
		oerr_set(&t->err, 400, "invalid_grant", "that approval was already redeemed");
		t->err.reason = "already_redeemed";
		return 1;
	}
	if (strcmp(status, "denied") == 0) {
		oerr_set(&t->err, 400, "access_denied", "the owner denied the request");
		t->err.reason = "denied";
		return 1;
	}
	/* CIBA Core §7.3: expires_in bounds the request itself, approved or not */
	if (now >= expires) {
		oerr_set(&t->err, 400, "expired_token", "the request expired before it was approved");
		t->err.reason = "expired";
		return 1;
	}
	if (strcmp(status, "pending") == 0) {
		int64_t interval;
		int fast = ciba_pace_poll(db, key, now, &interval);
		if (fast < 0) {
			oerr_set(&t->err, 503, "temporarily_unavailable", "storage unavailable");
			t->err.reason = "storage";
		} else if (fast) {
			oerr_set(&t->err, 400, "slow_down", "poll at most every %lld seconds", (long long)interval);
			t->err.reason = "slow_down";
		} else {
			oerr_set(&t->err, 400, "authorization_pending", "the owner has not decided yet");
			t->err.reason = "pending";
		}
		return 1;
	}
	/* the run kill switch and the approved verbs: the access decision (ACCESS_CIBA_REDEEM) */
	snprintf(t->approval_id, sizeof t->approval_id, "%s", key);
	return 0;
}

int ciba_redeem(struct db *db, const char *approval_id, const char *agent_id, const char *jti)
{
	struct db_stmt *st = db_prep(db, "UPDATE approvals SET status = 'redeemed', redeemed_jti = ?3"
					 " WHERE id = ?1 AND agent_id = ?2 AND status = 'approved'");
	if (!st)
		return -1;
	db_bind_text(st, 1, approval_id);
	db_bind_text(st, 2, agent_id);
	db_bind_text(st, 3, jti);
	if (db_step_done(st) < 0)
		return -1;
	return db_changes(db) == 1 ? 0 : 1;
}

int approval_decide_job(struct db *db, void *arg)
{
	struct approval_decision *d = arg;
	struct db_stmt *st = db_prep(db, "SELECT agent_id, owner_id, run_id, ws, scope, status, expires_at"
					 " FROM approvals WHERE id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, d->id);
	char owner[ID_MAX] = "", run[80] = "", ws[ID_MAX] = "", scope[VERBSET_MAX] = "", status[16] = "";
	int64_t expires = 0;
	int found = db_step(st) == DB_ROW;
	if (found) {
		db_col_copy(st, 0, d->agent_id, sizeof d->agent_id);
		db_col_copy(st, 1, owner, sizeof owner);
		db_col_copy(st, 2, run, sizeof run);
		db_col_copy(st, 3, ws, sizeof ws);
		db_col_copy(st, 4, scope, sizeof scope);
		db_col_copy(st, 5, status, sizeof status);
		expires = db_col_int64(st, 6);
	}
	db_reset(st);
	/* only the agent's owner decides; anyone else's request answers 404 */
	if (!found || strcmp(owner, d->owner_id) != 0) {
		oerr_set(&d->err, 404, "not_found", "no pending request %.64s", d->id);
		return 1;
	}
	int64_t now = now_ms();
	if (strcmp(status, "pending") != 0 || now >= expires) {
		oerr_set(&d->err, 409, "conflict", "request %.64s is %s", d->id,
			 strcmp(status, "pending") == 0 ? "expired" : status);
		return 1;
	}
	st = db_prep(db, "UPDATE approvals SET status = ?2, decided_at = ?3 WHERE id = ?1 AND status = 'pending'");
	if (!st)
		return -1;
	db_bind_text(st, 1, d->id);
	db_bind_text(st, 2, d->approve ? "approved" : "denied");
	db_bind_int64(st, 3, now);
	if (db_step_done(st) < 0)
		return -1;
	struct audit_event ev;
	audit_fill(&ev, d->approve ? EV_APPROVAL_APPROVED : EV_APPROVAL_DENIED, "ok", d->owner_id, d->agent_id, owner,
		   run, ws, d->client_addr, d->request_id);
	struct buf b;
	buf_init(&b, AUDIT_DETAIL_LIMIT);
	buf_printf(&b, "{\"auth_req_id\":\"%s\",\"scope\":", d->id);
	buf_json_cstr(&b, scope);
	buf_puts(&b, "}");
	audit_detail_take(&ev, &b);
	int rc = audit_insert(db, &ev);
	audit_event_clear(&ev);
	return rc;
}

long approval_list(struct db *db, const char *owner_id, void (*emit)(void *arg, const char *json, size_t n), void *arg)
{
	struct db_stmt *st = db_prep(db, "SELECT id, agent_id, run_id, ws, scope, binding_message, expires_at, owner_id"
					 " FROM approvals WHERE status = 'pending' AND expires_at > ?2"
					 " AND (CAST(?1 AS TEXT) IS NULL OR owner_id = ?1) ORDER BY created_at");
	if (!st)
		return -1;
	db_bind_text(st, 1, owner_id);
	db_bind_int64(st, 2, now_ms());
	long n = 0;
	struct buf b;
	buf_init(&b, 64 * 1024);
	while (db_step(st) == DB_ROW) {
		char t[32];
		buf_reset(&b);
		buf_puts(&b, "{\"id\":");
		buf_json_cstr(&b, db_col_text(st, 0));
		buf_puts(&b, ",\"auth_req_id\":");
		buf_json_cstr(&b, db_col_text(st, 0));
		buf_puts(&b, ",\"agent_id\":");
		buf_json_cstr(&b, db_col_text(st, 1));
		buf_puts(&b, ",\"owner_id\":");
		buf_json_cstr(&b, db_col_text(st, 7));
		buf_puts(&b, ",\"run_id\":");
		buf_json_cstr(&b, db_col_text(st, 2));
		buf_puts(&b, ",\"ws\":");
		buf_json_cstr(&b, db_col_text(st, 3));
		buf_puts(&b, ",\"scope\":");
		buf_json_cstr(&b, db_col_text(st, 4));
		buf_puts(&b, ",\"binding_message\":");
		buf_json_cstr(&b, db_col_text(st, 5));
		buf_printf(&b, ",\"expires_at\":\"%s\"}", rfc3339(db_col_int64(st, 6), t));
		if (!b.failed)
			emit(arg, b.p, b.len);
		n++;
	}
	db_reset(st);
	buf_free(&b);
	return n;
}

int workspace_approval_job(struct db *db, void *arg)
{
	struct approval_verbs *a = arg;
	slice bad;
	if (verbset_parse(slice_of(a->verbs ? a->verbs : ""), a->canon, &bad) < 0) {
		oerr_set(&a->err, 400, "invalid_request", "invalid verb '%.*s' (want resource:action)",
			 (int)(bad.n > 64 ? 64 : bad.n), bad.p);
		return 1;
	}
	struct db_stmt *st = db_prep(db, "UPDATE workspaces SET approval_verbs = ? WHERE id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, a->canon);
	db_bind_text(st, 2, a->workspace_id);
	if (db_step_done(st) < 0)
		return -1;
	if (db_changes(db) == 0) {
		oerr_set(&a->err, 404, "not_found", "no workspace %.64s", a->workspace_id);
		return 1;
	}
	/* plain client_credentials stops issuing these verbs at once, everywhere */
	return change_note(db, CHANGE_ACCESS, NULL, a->workspace_id, now_ms());
}
