/* issue.c - /token: the client_credentials and CIBA grants as one pipeline; see issue.h. */
#include "issue.h"

#include "../audit/events.h"
#include "../authz/decision.h"
#include "../authz/quota.h"
#include "../clients/credentials.h"
#include "../common/timeutil.h"
#include "../store/ledger.h"
#include "ciba.h"
#include "live.h"
#include "statuslist.h"

#include <string.h>

int run_id_valid(slice s)
{
	if (s.n == 0 || s.n > RUN_ID_MAX)
		return 0;
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

#define REFUSE(status, code, reason_, ...)                    \
	do {                                                  \
		oerr_set(&t->err, status, code, __VA_ARGS__); \
		t->err.reason = reason_;                      \
		return 1;                                     \
	} while (0)

static int internal(struct token_issue *t)
{
	oerr_set(&t->err, 500, "server_error", "internal error");
	t->err.reason = "internal";
	return -1;
}

/* ---- recording ---- */

/* The audiences as a JSON array, into a caller's array of AUD_JSON_MAX bytes (the writer
 * builds it for every token: no allocation). Audiences are URIs, ASCII in practice; a
 * control byte is escaped as \u00XX and anything else passes as it is. 0, or -1. */
#define AUD_JSON_MAX (AUD_MAX * (6 * URI_MAX + 3) + 3)

static int aud_json(const struct token_issue *t, char out[AUD_JSON_MAX])
{
	size_t n = 0;
	out[n++] = '[';
	for (int i = 0; i < t->naud; i++) {
		if (n + 2 >= AUD_JSON_MAX)
			return -1;
		if (i)
			out[n++] = ',';
		out[n++] = '"';
		for (const unsigned char *p = (const unsigned char *)t->aud[i]; *p; p++) {
			if (n + 7 >= AUD_JSON_MAX)
				return -1; /* cannot happen within AUD_MAX audiences of URI_MAX bytes */
			if (*p == '"' || *p == '\\') {
				out[n++] = '\\';
				out[n++] = (char)*p;
			} else if (*p < 0x20 || *p == 0x7f) {
				n += (size_t)snprintf(out + n, 7, "\\u%04x", *p);
			} else {
				out[n++] = (char)*p;
			}
		}
		out[n++] = '"';
	}
	if (n + 2 >= AUD_JSON_MAX)
		return -1;
	out[n++] = ']';
	out[n] = '\0';
	return 0;
}

/* The audit event of the outcome so far: token.issued, token.refused or quota.exceeded. */
static void record(struct token_issue *t, const char *event, const char *outcome)
{
	struct audit_keys k = {.actor = t->agent.id,
			       .owner_id = t->agent.owner_id,
			       .run_id = t->run_id,
			       .ws = t->ws,
			       .client_addr = t->client_addr,
			       .request_id = t->request_id};
	int issued = strcmp(outcome, "ok") == 0;
	if (issued)
		k.jti = t->jti;
	if (issued && t->exchange)
		event = EV_TOKEN_EXCHANGED; /* keyed to the actor and its owner */
	audit_event_clear(&t->audit);
	audit_event_init(&t->audit, event, outcome, &k);
	struct buf d;
	buf_init(&d, AUDIT_DETAIL_LIMIT);
	buf_puts(&d, "{");
	if (issued) {
		buf_puts(&d, "\"scope\":");
		buf_json_cstr(&d, t->scope);
		char aud[AUD_JSON_MAX];
		buf_puts(&d, ",\"aud\":");
		if (aud_json(t, aud) == 0)
			buf_puts(&d, aud);
		else
			d.failed = 1;
		buf_printf(&d, ",\"expires_in\":%d", t->expires_in);
		if (t->agent.cred_id[0]) {
			buf_puts(&d, ",\"credential_id\":");
			buf_json_cstr(&d, t->agent.cred_id);
		}
		if (t->dpop_bound)
			buf_printf(&d, ",\"cnf_jkt\":\"%s\"", t->proof.jkt);
		if (t->approval_id[0])
			buf_printf(&d, ",\"approval_id\":\"%s\",\"approved_by\":\"%s\"", t->approval_id,
				   t->approved_by);
		if (t->exchange && t->x.subject)
			buf_printf(&d,
				   ",\"subject_jti\":\"%s\",\"subject_agent\":\"%s\",\"subject_owner\":\"%s\","
				   "\"principal\":\"%s\",\"principal_owner\":\"%s\",\"depth\":%d",
				   t->x.subject->jti, t->x.delegator, t->x.delegator_owner, t->x.subject->sub,
				   t->x.subject->owner_id, t->x.depth);
	} else {
		buf_puts(&d, "\"reason\":");
		buf_json_cstr(&d, t->err.reason ? t->err.reason : t->err.code);
		buf_puts(&d, ",\"error\":");
		buf_json_cstr(&d, t->err.code);
	}
	buf_printf(&d, ",\"auth_method\":\"%s\"}", client_auth_method_name(&t->cred));
	audit_detail_take(&t->audit, &d);
	if (!issued && !t->agent.id[0]) /* no known agent: counted in a row a minute */
		audit_event_summarize(&t->audit, t->err.reason, t->err.code);
	if (t->exchange)
		exchange_audit(t); /* the rows for the other owners, or none when refused */
}

static void refuse_now(struct token_issue *t)
{
	buf_free(&t->jwt);
	t->jti[0] = '\0';
	record(t, EV_TOKEN_REFUSED, "refused");
}

/* ---- the steps ---- */

/* RFC 6749 §3.2: no parameter but resource (RFC 8707) may repeat; the grant type. */
static int parse_grant(struct token_issue *t)
{
	const struct form_param *dup = form_duplicate(t->form, "resource");
	slice gt;
	if (dup)
		REFUSE(400, "invalid_request", "duplicate_parameter", "parameter %.*s given more than once",
		       (int)dup->name.n, dup->name.p);
	if (form_get1(t->form, "grant_type", &gt) == 0)
		REFUSE(400, "invalid_request", "missing_grant_type", "grant_type is required");
	t->ciba = slice_eq(gt, CIBA_GRANT);
	t->exchange = slice_eq(gt, TOKEN_EXCHANGE_GRANT);
	if (!slice_eq(gt, "client_credentials") && !t->ciba && !t->exchange)
		REFUSE(400, "unsupported_grant_type", "unsupported_grant_type",
		       "grant_type must be client_credentials, " CIBA_GRANT " or " TOKEN_EXCHANGE_GRANT);
	return 0;
}

/* The grant's own parameters, once the client is known (so a refusal names it). */
static int parse_params(struct db *db, struct token_issue *t)
{
	slice run, id;
	if (t->ciba) {
		if (form_get1(t->form, "auth_req_id", &id) == 0)
			REFUSE(400, "invalid_request", "missing_auth_req_id", "auth_req_id is required");
		return ciba_lookup(db, t, id);
	}
	if (t->exchange)
		return exchange_parse(t->w, db, t);
	if (form_get1(t->form, "run_id", &run) == 1) {
		if (!run_id_valid(run))
			REFUSE(400, "invalid_request", "bad_run_id",
			       "run_id must be 1-64 characters of A-Z a-z 0-9 . _ : -");
		memcpy(t->run_id, run.p, run.n);
		t->run_id[run.n] = '\0';
	}
	return 0;
}

static int audience_known(struct warrant *w, struct db *db, const char *uri)
{
	if (strcmp(uri, w->audience) == 0)
		return 1;
	return live_ready() ? live_audience_known(uri) : resource_audience_known(db, uri);
}

/* RFC 8707 §2: each resource an absolute URI without fragment, and an audience we serve;
 * none means the default audience. */
static int choose_audiences(struct warrant *w, struct db *db, struct token_issue *t)
{
	slice res[AUD_MAX];
	int nres = form_getall(t->form, "resource", res, AUD_MAX);
	if (nres > AUD_MAX)
		REFUSE(400, "invalid_target", "too_many_resources", "at most %d resource values", AUD_MAX);
	t->naud = 0;
	for (int i = 0; i < nres; i++) {
		if (!uri_absolute_no_fragment(res[i]))
			REFUSE(400, "invalid_target", "bad_resource",
			       "resource must be an absolute URI without a fragment");
		char *a = t->aud[t->naud];
		memcpy(a, res[i].p, res[i].n);
		a[res[i].n] = '\0';
		int seen = 0;
		for (int k = 0; k < t->naud; k++)
			seen |= strcmp(t->aud[k], a) == 0;
		if (seen)
			continue;
		int64_t seen_now = changes_seen();
		int known = audience_known(w, db, a);
		if (known == 0 && changes_catch_up(db, seen_now) > 0)
			known = audience_known(w, db, a); /* registered a moment ago elsewhere? */
		if (known < 0)
			return internal(t);
		if (!known)
			REFUSE(400, "invalid_target", "unknown_resource", "resource is not an allowed audience");
		t->naud++;
	}
	if (t->naud == 0)
		snprintf(t->aud[t->naud++], sizeof t->aud[0], "%s", w->audience);
	return 0;
}

/* The access decision for this grant (fresh: from the records, inside the writer). */
static int decide(struct db *db, struct token_issue *t, int fresh)
{
	struct access_request q = {.agent = &t->agent, .run_id = t->run_id, .fresh = fresh};
	struct access_decision d;
	if (t->ciba) {
		q.purpose = ACCESS_CIBA_REDEEM;
		q.workspace = slice_of(t->ws);
		q.scope = slice_of(t->scope);
	} else if (t->exchange) {
		/* RFC 8693: requested ∩ the subject's scope ∩ the actor's effective verbs there */
		q.purpose = ACCESS_ISSUE;
		q.workspace = slice_of(t->ws);
		q.bound = t->x.bound;
		form_get1(t->form, "scope", &q.scope);
	} else {
		q.purpose = ACCESS_ISSUE;
		form_get1(t->form, "workspace", &q.workspace);
		form_get1(t->form, "scope", &q.scope);
	}
	int rc = access_decide(db, &q, &d);
	memcpy(t->ws, d.ws, sizeof t->ws); /* a refusal names the workspace too, once chosen */
	if (rc != 0) {
		t->err = d.err;
		if (rc > 0 && t->exchange && t->err.status == 400)
			t->err.code = "invalid_request"; /* RFC 8693 §2.2.2 */
		return rc;
	}
	memcpy(t->scope, d.scope, sizeof t->scope);
	return 0;
}

static int mint(struct warrant *w, struct token_issue *t, int64_t now)
{
	struct claims c = {
		.iss = w->issuer,
		.sub = t->agent.id,
		.owner_id = t->agent.owner_id,
		.org_id = t->agent.org_id,
		.ws = t->ws,
		.run_id = t->run_id,
		.scope = t->scope,
		.jti = t->jti,
		.cred_id = t->agent.cred_id,
		.naud = t->naud,
		.iat = now / 1000,
		.exp = now / 1000 + t->expires_in,
		.approved_by = t->ciba ? t->approved_by : NULL,
		.approval_id = t->ciba ? t->approval_id : NULL,
		.cnf_jkt = t->dpop_bound ? t->proof.jkt : NULL,
		.status_list = t->status_list,
		.status_idx = t->status_idx,
	};
	if (t->exchange) {
		/* RFC 8693 §4.1: the subject's authority, the actor in act */
		c.sub = t->x.subject->sub;
		c.owner_id = t->x.subject->owner_id;
		c.org_id = t->x.subject->org_id;
		c.client_id = t->agent.id;
		c.act_json = t->x.act_json;
	}
	for (int i = 0; i < t->naud; i++)
		c.aud[i] = t->aud[i];
	buf_free(&t->jwt);
	buf_init(&t->jwt, 16 * 1024);
	return token_mint(w->keys, &c, &t->jwt) < 0 ? internal(t) : 0;
}

/* Quota, ids and the signed token, once access is decided. */
static int quota_and_mint(struct warrant *w, struct db *db, struct token_issue *t)
{
	int64_t now = now_ms();
	int q = quota_reserve(db, t->agent.id, t->agent.per_minute, t->agent.per_day, now, &t->err);
	if (q != 0)
		return q < 0 ? internal(t) : 2;
	if (t->agent.per_minute || t->agent.per_day)
		t->quota_ms = now; /* a unit was reserved */
	if ((!t->run_id[0] && run_id_new(now, t->run_id) < 0) || jti_new(now, t->jti) < 0 ||
	    statuslist_alloc(w, &t->status_list, &t->status_idx) < 0)
		return internal(t);
	t->issued_ms = now;
	t->expires_in = t->ciba && w->token_ttl > CIBA_TOKEN_TTL_MAX ? CIBA_TOKEN_TTL_MAX : w->token_ttl;
	if (t->exchange && t->x.exp_s - now / 1000 < t->expires_in)
		t->expires_in = (int)(t->x.exp_s - now / 1000); /* never after the subject's exp */
	return mint(w, t, now);
}

/* RFC 9449 §4.3: the DPoP proof, checked once per request before the pipeline runs (a
 * pure check: its jti is claimed when the outcome commits). Its refusal waits in
 * t->dpop_err until the client is known, so the audit row names the agent. */
static void dpop_precheck(struct warrant *w, struct token_issue *t)
{
	const unsigned char *key = dpop_nonce_key();
	int64_t now_s = now_ms() / 1000;
	if (key)
		dpop_nonce(key, now_s, 0, t->dpop_nonce);
	if (t->dpop_count == 0)
		return;
	if (t->dpop_count > 1) {
		oerr_set(&t->dpop_err, 400, "invalid_dpop_proof", "exactly one DPoP header is allowed");
		t->dpop_err.reason = "dpop_headers";
		return;
	}
	char htu[ISSUER_MAX + 8];
	snprintf(htu, sizeof htu, "%s/token", w->issuer);
	struct dpop_expect x = {.htm = "POST", .htu = htu, .now_s = now_s, .nonce_key = key};
	const char *why = NULL;
	enum dpop_result r = dpop_check(t->dpop, t->dpop_len, &x, &t->proof, &why);
	if (r == DPOP_OK) {
		t->dpop_bound = 1;
	} else if (r == DPOP_USE_NONCE) {
		/* RFC 9449 §8: the client retries with the nonce in the DPoP-Nonce header */
		oerr_set(&t->dpop_err, 400, "use_dpop_nonce", "the DPoP proof must carry the server's nonce");
		t->dpop_err.reason = why;
	} else {
		oerr_set(&t->dpop_err, 400, "invalid_dpop_proof", "the DPoP proof is not acceptable");
		t->dpop_err.reason = why;
	}
}

/* The proof's verdict for the authenticated agent: its refusal, or none when the agent
 * must use DPoP. */
static int dpop_apply(struct token_issue *t)
{
	if (t->dpop_err.code) {
		t->err = t->dpop_err;
		return 1;
	}
	if (!t->dpop_bound && t->agent.dpop_required)
		REFUSE(400, "invalid_dpop_proof", "dpop_required", "this client must send a DPoP proof");
	return 0;
}

/* parse, authenticate, decide, quota, mint: 0 issued, 1 refused, -1 internal error. */
static int issue(struct warrant *w, struct db *db, struct token_issue *t)
{
	struct client_identity who;
	if (!db) {
		oerr_set(&t->err, 503, "temporarily_unavailable", "storage unavailable");
		t->err.reason = "storage";
		return 1;
	}
	int rc = parse_grant(t);
	if (rc == 0) {
		t->cred.issuer = w->issuer; /* an assertion's audience (RFC 10070) */
		t->cred.leeway = w->leeway;
		t->cred.jti.defer = 1; /* claimed in token_issue_job(), with the token's own rows */
		rc = client_authenticate(db, &t->cred, CLIENT_AGENT, &who, &t->err);
		t->agent = who.agent;
	}
	if (rc == 0)
		rc = dpop_apply(t);
	if (rc == 0)
		rc = parse_params(db, t);
	if (rc == 0)
		rc = choose_audiences(w, db, t);
	if (rc == 0)
		rc = decide(db, t, 0);
	if (rc == 0)
		rc = quota_and_mint(w, db, t);
	return rc;
}

/* Forgets what a refused attempt found, keeping the request. */
static void forget_attempt(struct token_issue *t)
{
	memset(&t->err, 0, sizeof t->err);
	memset(&t->agent, 0, sizeof t->agent);
	t->ws[0] = t->scope[0] = t->run_id[0] = t->approval_id[0] = t->approved_by[0] = '\0';
	t->naud = 0;
}

int token_issue(struct warrant *w, struct token_issue *t)
{
	struct db *db = warrant_reader(w);
	t->w = w;
	buf_init(&t->jwt, 16 * 1024);
	memset(&t->audit, 0, sizeof t->audit);
	dpop_precheck(w, t);
	/* every read of one issuance sees one snapshot, and we note how far the change log had
	 * got in it: token_issue_job() decides again if access changed since */
	int tx = 0, rc;
	if (live_ready()) {
		/* the caches reflect every change up to this one. Read it before anything else. */
		t->seen_seq = live_last_seq();
		rc = issue(w, db, t);
		/* a refusal on state another process has changed meanwhile (an agent resumed, a
		 * limit raised): catch up and answer from the current state (SPEC, introspection).
		 * Client authentication caught up already before its own refusals. */
		if (rc > 0 && db && t->agent.id[0] && t->err.status != 401 && changes_catch_up(db, t->seen_seq) > 0) {
			forget_attempt(t);
			t->seen_seq = live_last_seq();
			rc = issue(w, db, t);
		}
	} else {
		tx = db && db_begin_read(db) == 0;
		t->seen_seq = tx ? changes_head(db) : -1;
		rc = issue(w, tx ? db : NULL, t);
	}
	if (tx)
		db_exec(db, "COMMIT");
	if (rc == 0)
		record(t, EV_TOKEN_ISSUED, "ok");
	else if (rc == 2)
		record(t, EV_QUOTA_EXCEEDED, "refused");
	else
		refuse_now(t);
	if (rc < 0)
		t->audit.outcome = "error";
	return rc == 2 ? 1 : rc;
}

/* ---- the writer job ---- */

/* A change committed after the snapshot the token came from, and that concerns it? */
static int changed_since(struct db *db, const struct token_issue *t)
{
	int64_t head = changes_head_in_tx(db); /* one read per batch, not one per token */
	if (head < 0)
		return -1;
	if (t->seen_seq >= head)
		return 0;
	struct db_stmt *st =
		db_prep(db, "SELECT 1 FROM state_changes WHERE seq > ?1 AND ("
			    " (kind IN ('access', 'access+') AND (a = ?2 OR a IS NULL))"
			    " OR (kind = 'owner' AND a = ?2)"
			    " OR (kind IN ('agent', 'run') AND a = ?3) OR (kind = 'cred' AND b = ?3)) LIMIT 1");
	if (!st)
		return -1;
	db_bind_int64(st, 1, t->seen_seq);
	db_bind_text(st, 2, t->agent.owner_id);
	db_bind_text(st, 3, t->agent.id);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

/* Decides again from the records as they are now (the writer sees every commit): the agent,
 * its owner, the credential that authenticated, and the access decision. 0 keep the token
 * (minted anew when its workspace or scope changed), 1 refused (t->err), -1 error. */
static int decide_again(struct db *db, struct token_issue *t)
{
	char ws[ID_MAX], scope[VERBSET_MAX], cred[ID_MAX];
	memcpy(ws, t->ws, sizeof ws);
	memcpy(scope, t->scope, sizeof scope);
	memcpy(cred, t->agent.cred_id, sizeof cred);
	int64_t per_minute = t->agent.per_minute, per_day = t->agent.per_day;
	int f = agent_load(db, t->agent.id, &t->agent);
	if (f < 0)
		return internal(t);
	memcpy(t->agent.cred_id, cred, sizeof cred);
	if (f && (per_minute != t->agent.per_minute || per_day != t->agent.per_day)) {
		/* the limits changed: reserve again under the new ones */
		token_issue_unreserve(t);
		int q = quota_reserve(db, t->agent.id, t->agent.per_minute, t->agent.per_day, t->issued_ms, &t->err);
		if (q != 0)
			return q < 0 ? internal(t) : 2;
		if (t->agent.per_minute || t->agent.per_day)
			t->quota_ms = t->issued_ms;
	}
	int live = f ? credential_live(db, t->agent.id, cred, now_ms()) : 0;
	if (live < 0)
		return internal(t);
	if (!live)
		REFUSE(401, "invalid_client", "credential_revoked", "client authentication failed");
	if (!t->ciba && !t->exchange) {
		/* what the client asked for, decided anew (an exchange's workspace is the subject's) */
		t->ws[0] = '\0';
		t->scope[0] = '\0';
	}
	int rc = decide(db, t, 1);
	if (rc != 0)
		return rc;
	if (strcmp(ws, t->ws) == 0 && strcmp(scope, t->scope) == 0)
		return 0;
	return mint(t->w, t, t->issued_ms);
}

int token_issue_job(struct db *db, void *arg)
{
	struct token_issue *t = arg;
	if (t->err.code)
		return audit_insert(db, &t->audit);
	int claimed = client_cred_claim(db, &t->cred, &t->err); /* an assertion's jti, once (RFC 7523 §3) */
	if (claimed < 0)
		return -1;
	if (claimed > 0) {
		refuse_now(t);
		return audit_insert(db, &t->audit);
	}
	int changed = t->seen_seq >= 0 ? changed_since(db, t) : 0;
	if (changed < 0)
		return -1;
	if (changed) {
		int rc = decide_again(db, t);
		if (rc < 0)
			return -1;
		if (rc > 0) {
			t->err.basic_challenge = t->err.status == 401 && t->cred.method == AUTH_BASIC;
			buf_free(&t->jwt);
			if (rc == 2)
				record(t, EV_QUOTA_EXCEEDED, "refused");
			else
				refuse_now(t);
			return audit_insert(db, &t->audit);
		}
		record(t, EV_TOKEN_ISSUED, "ok");
	}
	int q = quota_count_shared(db, t->agent.id, t->agent.per_minute, t->agent.per_day, t->issued_ms, &t->err);
	if (q < 0)
		return -1;
	if (q > 0) {
		buf_free(&t->jwt);
		record(t, EV_QUOTA_EXCEEDED, "refused");
		return audit_insert(db, &t->audit);
	}
	if (t->dpop_bound) {
		/* RFC 9449 §11.1: a proof is good once, at whichever server it reaches first. The
		 * first write of this job: should a later one fail, the claim stays (no savepoint)
		 * and only spends that proof */
		int c = dpop_claim(db, &t->proof);
		if (c < 0)
			return -1;
		if (c == 0) {
			oerr_set(&t->err, 400, "invalid_dpop_proof", "that DPoP proof was used before");
			t->err.reason = "dpop_replay";
			refuse_now(t);
			return audit_insert(db, &t->audit);
		}
	}
	if (t->approval_id[0] && ciba_redeem(db, t->approval_id, t->agent.id, t->jti) != 0) {
		/* single use: a second redemption loses */
		oerr_set(&t->err, 400, "invalid_grant", "that approval was already redeemed");
		t->err.reason = "already_redeemed";
		refuse_now(t);
		return audit_insert(db, &t->audit);
	}
	char aud[AUD_JSON_MAX];
	if (aud_json(t, aud) < 0)
		return -1;
	struct ledger_entry e = {
		.jti = t->jti,
		.agent_id = t->agent.id,
		.owner_id = t->agent.owner_id,
		.cred_id = t->agent.cred_id,
		.run_id = t->run_id,
		.ws = t->ws,
		.scope = t->scope,
		.aud_json = aud,
		.iat_ms = t->issued_ms,
		.exp_s = t->issued_ms / 1000 + t->expires_in,
		.parent_jti = t->exchange ? t->x.subject->jti : NULL,
		.status_list = t->status_list,
		.status_idx = t->status_idx,
	};
	int rc = ledger_insert(db, &e);
	if (rc == 0 && (audit_insert(db, &t->audit) < 0 || (t->exchange && exchange_record(db, t) < 0))) {
		/* no savepoint in this job: take the ledger row back rather than leave half a record */
		ledger_forget(db, t->jti, t->issued_ms);
		rc = -1;
	}
	return rc;
}

void token_issue_refuse(struct token_issue *t, const struct oerr *e)
{
	t->seen_seq = -1;
	buf_init(&t->jwt, 16);
	memset(&t->audit, 0, sizeof t->audit);
	t->err = *e;
	refuse_now(t);
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
	audit_event_clear(&t->audit);
	exchange_free(&t->x);
}
