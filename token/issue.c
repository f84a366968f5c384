/* issue.c - the client_credentials grant; see issue.h. */
#include "issue.h"

#include "../authz/effective.h"
#include "../authz/quota.h"
#include "../common/timeutil.h"
#include "../common/uri.h"
#include "ciba.h"
#include "live.h"

#include <string.h>

int run_id_valid(slice s)
{
	if (s.n == 0 || s.n > RUN_ID_MAX)
		return 0;
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

static int run_revoked(struct db *db, const char *agent_id, const char *run_id)
{
	sqlite3_stmt *st = db_prep(db, "SELECT 1 FROM revoked_runs WHERE agent_id = ? AND run_id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, agent_id);
	db_bind_text(st, 2, run_id);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static void audit_detail(struct token_issue *t, const char *reason, const char *const *aud, int naud)
{
	struct buf d;
	buf_init(&d, AUDIT_DETAIL_MAX - 1);
	buf_puts(&d, "{");
	if (reason) {
		buf_puts(&d, "\"reason\":");
		buf_json_cstr(&d, reason);
		buf_puts(&d, ",\"error\":");
		buf_json_cstr(&d, t->err.code);
	} else {
		buf_puts(&d, "\"scope\":");
		buf_json_cstr(&d, t->scope);
		buf_puts(&d, ",\"aud\":[");
		for (int i = 0; i < naud; i++) {
			buf_puts(&d, i ? "," : "");
			buf_json_cstr(&d, aud[i]);
		}
		buf_printf(&d, "],\"expires_in\":%d", t->expires_in);
		if (t->agent.cred_id[0]) {
			buf_puts(&d, ",\"credential_id\":");
			buf_json_cstr(&d, t->agent.cred_id);
		}
		if (t->approval_id[0])
			buf_printf(&d, ",\"approval_id\":\"%s\",\"approved_by\":\"%s\"", t->approval_id, t->approved_by);
	}
	buf_printf(&d, ",\"auth_method\":\"%s\"}",
		   t->cred.method == AUTH_BASIC ? "client_secret_basic"
		   : t->cred.method == AUTH_POST ? "client_secret_post" : "none");
	snprintf(t->audit.detail, sizeof t->audit.detail, "%s", d.failed ? "{}" : d.p);
	buf_free(&d);
}

/* Fills the audit event's keys from what is known so far. */
static void audit_keys(struct token_issue *t, const char *ws)
{
	struct audit_event *ev = &t->audit;
	ev->time = now_ms();
	snprintf(ev->actor, sizeof ev->actor, "%s",
		 t->agent.id[0] ? t->agent.id : "anonymous");
	snprintf(ev->owner_id, sizeof ev->owner_id, "%s", t->agent.owner_id);
	snprintf(ev->run_id, sizeof ev->run_id, "%s", t->run_id);
	snprintf(ev->ws, sizeof ev->ws, "%s", ws ? ws : "");
	snprintf(ev->client_addr, sizeof ev->client_addr, "%s", t->client_addr ? t->client_addr : "");
	snprintf(ev->request_id, sizeof ev->request_id, "%s", t->request_id ? t->request_id : "");
}

#define REFUSE(status, code, reason_, ...)                                \
	do {                                                              \
		oerr_set(&t->err, status, code, __VA_ARGS__);             \
		t->err.reason = reason_;                                  \
		goto refused;                                             \
	} while (0)

static int issue(struct warrant *w, struct db *db, struct token_issue *t)
{
	const struct form *f = t->form;
	char ws[ID_MAX] = "", eff[VERBSET_MAX], approval[VERBSET_MAX], tmp[VERBSET_MAX];
	const char *aud[AUD_MAX];
	char audbuf[AUD_MAX][URI_MAX + 1];
	int naud = 0;
	slice gt, scope = {0}, wsp = {0}, run = {0}, res[AUD_MAX];

	buf_init(&t->jwt, 16 * 1024);
	memset(&t->audit, 0, sizeof t->audit);
	t->audit.event = "token.refused";
	t->audit.outcome = "refused";
	if (!db) {
		oerr_set(&t->err, 503, "temporarily_unavailable", "storage unavailable");
		t->err.reason = "storage";
		goto refused;
	}

	/* RFC 6749 §3.2: parameters other than resource (RFC 8707) must not repeat */
	const struct form_param *dup = form_duplicate(f, "resource");
	if (dup)
		REFUSE(400, "invalid_request", "duplicate_parameter", "parameter %.*s given more than once",
		       (int)dup->name.n, dup->name.p);
	if (form_get1(f, "grant_type", &gt) == 0)
		REFUSE(400, "invalid_request", "missing_grant_type", "grant_type is required");
	int ciba = slice_eq(gt, CIBA_GRANT);
	if (!slice_eq(gt, "client_credentials") && !ciba)
		REFUSE(400, "unsupported_grant_type", "unsupported_grant_type",
		       "grant_type must be client_credentials or " CIBA_GRANT);
	if (t->cred.method == AUTH_NONE)
		REFUSE(401, "invalid_client", "no_credentials", "client authentication required");

	int rc = client_authenticate(db, t->cred.id, t->cred.secret, &t->agent, &t->err);
	if (rc > 0 && live_ready() && live_catch_up(db) > 0) {
		/* another process may have just rotated this secret: look again, up to date */
		t->seen_seq = live_last_seq();
		memset(&t->err, 0, sizeof t->err);
		rc = client_authenticate(db, t->cred.id, t->cred.secret, &t->agent, &t->err);
	}
	if (rc != 0) {
		if (rc > 0) {
			t->err.basic_challenge = t->cred.method == AUTH_BASIC;
			/* an unknown id is not an actor: name nobody rather than echo input */
			if (strcmp(t->err.reason, "unknown_client") == 0)
				memset(&t->agent, 0, sizeof t->agent);
		}
		goto refused;
	}
	if (strcmp(t->agent.status, "active") != 0)
		REFUSE(400, "unauthorized_client", "agent_inactive", "agent is %s", t->agent.status);
	if (strcmp(t->agent.owner_status, "active") != 0)
		REFUSE(400, "unauthorized_client", "owner_inactive", "the agent's owner is deactivated");

	if (ciba) {
		slice id;
		if (form_get1(f, "auth_req_id", &id) == 0)
			REFUSE(400, "invalid_request", "missing_auth_req_id", "auth_req_id is required");
		int r = ciba_lookup(w, db, t, id, ws);
		if (r < 0)
			goto internal;
		if (r > 0)
			goto refused;
	} else {
		form_get1(f, "scope", &scope);
		form_get1(f, "workspace", &wsp);
	}
	if (!ciba && form_get1(f, "run_id", &run) == 1) {
		if (!run_id_valid(run))
			REFUSE(400, "invalid_request", "bad_run_id",
			       "run_id must be 1-64 characters of A-Z a-z 0-9 . _ : -");
		memcpy(t->run_id, run.p, run.n);
		t->run_id[run.n] = '\0';
		int r = live_ready() ? live_run_revoked(t->agent.id, t->run_id) : run_revoked(db, t->agent.id, t->run_id);
		if (r < 0)
			goto internal;
		if (r)
			REFUSE(400, "invalid_request", "run_revoked", "run %s is revoked", t->run_id);
	}

	/* RFC 8707 §2: each resource an absolute URI without fragment, and one we serve */
	int nres = form_getall(f, "resource", res, AUD_MAX);
	if (nres > AUD_MAX)
		REFUSE(400, "invalid_target", "too_many_resources", "at most %d resource values", AUD_MAX);
	for (int i = 0; i < nres; i++) {
		if (!uri_absolute_no_fragment(res[i]))
			REFUSE(400, "invalid_target", "bad_resource",
			       "resource must be an absolute URI without a fragment");
		memcpy(audbuf[naud], res[i].p, res[i].n);
		audbuf[naud][res[i].n] = '\0';
		int seen = 0;
		for (int k = 0; k < naud; k++)
			seen |= strcmp(aud[k], audbuf[naud]) == 0;
		if (seen)
			continue;
		int known = strcmp(audbuf[naud], w->audience) == 0 ? 1
			    : live_ready() ? live_audience_known(audbuf[naud])
			    : resource_audience_known(db, audbuf[naud]);
		if (known < 0)
			goto internal;
		if (!known)
			REFUSE(400, "invalid_target", "unknown_resource", "resource is not an allowed audience");
		aud[naud] = audbuf[naud];
		naud++;
	}
	if (naud == 0)
		aud[naud++] = w->audience;

	if (ciba) {
		/* the approved verbs must still be the agent's to have */
		int n = effective_verbs(db, &t->agent, ws, eff, NULL);
		char missing[VERBSET_MAX];
		if (n < 0)
			goto internal;
		if (verbset_minus(t->scope, eff, missing) > 0)
			REFUSE(400, "invalid_grant", "approval_no_longer_allowed",
			       "the approved verbs are no longer allowed: %.120s", missing);
		goto mint;
	}
	if (wsp.n) {
		if (wsp.n >= ID_MAX || wsp.n < 4 || memcmp(wsp.p, "ws_", 3) != 0)
			REFUSE(400, "invalid_request", "bad_workspace", "workspace must be a ws_ id");
		memcpy(ws, wsp.p, wsp.n);
		ws[wsp.n] = '\0';
	} else {
		int r = effective_default_workspace(db, &t->agent, ws);
		if (r < 0)
			goto internal;
		if (r == 0)
			REFUSE(400, "invalid_request", "no_workspace",
			       "the agent has no effective verbs in any workspace");
		if (r == 2)
			REFUSE(400, "invalid_request", "ambiguous_workspace",
			       "the agent has access to several workspaces: name one with workspace");
	}
	int n = effective_verbs(db, &t->agent, ws, eff, approval);
	if (n < 0)
		goto internal;
	if (n == 0)
		REFUSE(400, "invalid_scope", "no_effective_verbs", "the agent has no effective verbs in this workspace");

	if (scope.n) {
		slice bad;
		if (verbset_parse(scope, tmp, &bad) < 0)
			REFUSE(400, "invalid_scope", "bad_scope", "malformed scope '%.*s'",
			       (int)(bad.n > 64 ? 64 : bad.n), bad.p);
		char missing[VERBSET_MAX];
		if (verbset_minus(tmp, eff, missing) > 0)
			REFUSE(400, "invalid_scope", "scope_not_allowed", "not allowed: %.150s", missing);
		if (verbset_intersect(tmp, approval, missing) > 0)
			REFUSE(400, "invalid_scope", "approval_required",
			       "approval required for: %.120s (use /bc-authorize)", missing);
		memcpy(t->scope, tmp, sizeof t->scope);
	} else {
		/* all effective verbs, less those that need a human's approval */
		if (verbset_minus(eff, approval, t->scope) == 0)
			REFUSE(400, "invalid_scope", "approval_required",
			       "every effective verb here requires approval (use /bc-authorize)");
	}

mint:;
	int64_t now = now_ms();
	int q = quota_reserve(db, t->agent.id, t->agent.per_minute, t->agent.per_day, now, &t->err);
	if (q != 0) {
		if (q < 0)
			goto internal;
		audit_keys(t, ws);
		t->audit.event = "quota.exceeded";
		audit_detail(t, t->err.reason, NULL, 0);
		return 1;
	}
	t->quota_ms = now;
	if (!t->run_id[0] && run_id_new(now, t->run_id) < 0)
		goto internal;
	if (jti_new(now, t->jti) < 0)
		goto internal;
	t->expires_in = ciba && w->token_ttl > CIBA_TOKEN_TTL_MAX ? CIBA_TOKEN_TTL_MAX : w->token_ttl;
	struct claims c = {
		.iss = w->issuer, .sub = t->agent.id, .owner_id = t->agent.owner_id,
		.org_id = t->agent.org_id, .ws = ws, .run_id = t->run_id, .scope = t->scope,
		.jti = t->jti, .cred_id = t->agent.cred_id, .naud = naud, .iat = now / 1000,
		.exp = now / 1000 + t->expires_in,
		.approved_by = ciba ? t->approved_by : NULL, .approval_id = ciba ? t->approval_id : NULL,
	};
	memcpy(c.aud, aud, sizeof c.aud);
	if (token_mint(w->keys, &c, &t->jwt) < 0)
		goto internal;
	audit_keys(t, ws);
	t->audit.event = "token.issued";
	t->audit.outcome = "ok";
	snprintf(t->audit.jti, sizeof t->audit.jti, "%s", t->jti);
	audit_detail(t, NULL, aud, naud);
	return 0;

internal:
	oerr_set(&t->err, 500, "server_error", "internal error");
	t->err.reason = "internal";
	audit_keys(t, ws);
	audit_detail(t, "internal", NULL, 0);
	t->audit.outcome = "error";
	return -1;
refused:
	audit_keys(t, ws);
	audit_detail(t, t->err.reason ? t->err.reason : t->err.code, NULL, 0);
	return 1;
}

int token_issue(struct warrant *w, struct token_issue *t)
{
	struct db *db = warrant_reader(w);
	/* every read of one issuance sees one snapshot, and we note how far the change log
	 * had got in it: token_issue_job() refuses the token if access changed since */
	if (live_ready()) {
		/* the caches reflect every change up to this one; later ones are caught by
		 * token_issue_job(). Read it before anything else. */
		t->seen_seq = live_last_seq();
		return issue(w, db, t);
	}
	int tx = db && db_exec(db, "BEGIN") == 0;
	t->seen_seq = -1;
	if (tx) {
		sqlite3_stmt *st = db_prep(db, "SELECT coalesce(max(seq), 0) FROM state_changes");
		if (st && sqlite3_step(st) == SQLITE_ROW)
			t->seen_seq = sqlite3_column_int64(st, 0);
		if (st)
			sqlite3_reset(st);
	}
	int rc = issue(w, tx ? db : NULL, t);
	if (tx)
		db_exec(db, "COMMIT");
	return rc;
}

int token_issue_job(struct db *db, void *arg)
{
	struct token_issue *t = arg;
	if (!t->err.code && t->seen_seq >= 0) {
		/* a membership change that committed while this token was
		 * being minted wins; the token is withheld and the client asked to retry */
		sqlite3_stmt *st = db_prep(db,
			"SELECT 1 FROM state_changes WHERE seq > ?1 AND ("
			" (kind = 'access' AND (a = ?2 OR a IS NULL)) OR (kind = 'owner' AND a = ?2)"
			" OR (kind IN ('agent', 'run') AND a = ?3) OR (kind = 'cred' AND b = ?3)) LIMIT 1");
		if (!st)
			return -1;
		sqlite3_bind_int64(st, 1, t->seen_seq);
		db_bind_text(st, 2, t->agent.owner_id);
		db_bind_text(st, 3, t->agent.id);
		int changed = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_reset(st);
		if (changed) {
			oerr_set(&t->err, 503, "temporarily_unavailable", "the agent's access changed while the token was issued; retry");
			t->err.retry_after = 1;
			t->err.reason = "access_changed";
			buf_free(&t->jwt);
			t->audit.event = "token.refused";
			t->audit.outcome = "refused";
			t->audit.jti[0] = '\0';
			audit_detail(t, "access_changed", NULL, 0);
		}
	}
	if (!t->err.code && t->approval_id[0] && ciba_redeem(db, t->approval_id, t->agent.id, t->jti) != 0) {
		/* RFC-style single use: a second redemption loses */
		oerr_set(&t->err, 400, "invalid_grant", "that approval was already redeemed");
		t->err.reason = "already_redeemed";
		buf_free(&t->jwt);
		t->audit.event = "token.refused";
		t->audit.outcome = "refused";
		t->audit.jti[0] = '\0';
		audit_detail(t, "already_redeemed", NULL, 0);
	}
	return audit_insert(db, &t->audit);
}

void token_issue_refuse(struct token_issue *t, const struct oerr *e)
{
	t->seen_seq = -1;
	buf_init(&t->jwt, 16);
	memset(&t->audit, 0, sizeof t->audit);
	t->err = *e;
	t->audit.event = "token.refused";
	t->audit.outcome = "refused";
	audit_keys(t, NULL);
	audit_detail(t, e->reason ? e->reason : e->code, NULL, 0);
}

void token_issue_unreserve(struct token_issue *t)
{
	if (t->quota_ms) {
		quota_release(t->agent.id, t->quota_ms);
		t->quota_ms = 0;
	}
}

void token_issue_free(struct token_issue *t)
{
	buf_free(&t->jwt);
	client_cred_wipe(&t->cred);
}
