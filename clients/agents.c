/* agents.c - agent records, creation and credentials; see agents.h. */
#include "agents.h"

#include "../audit/audit.h"
#include "../audit/events.h"
#include "../common/blobmap.h"
#include "../common/buf.h"
#include "../common/timeutil.h"
#include "../store/changes.h"
#include "assertion.h"
#include "keycred.h"
#include "secret.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_AGENT[] = "SELECT a.id, a.org_id, a.owner_id, a.name, a.verbs, a.status, o.status,"
				" a.tokens_before, a.per_minute, a.per_day, a.created_at, a.dpop"
				" FROM agents a JOIN owners o ON o.id = a.owner_id WHERE a.id = ?";

static void agent_from_row(struct db_stmt *st, struct agent *a)
{
	memset(a, 0, sizeof *a);
	db_col_copy(st, 0, a->id, sizeof a->id);
	db_col_copy(st, 1, a->org_id, sizeof a->org_id);
	db_col_copy(st, 2, a->owner_id, sizeof a->owner_id);
	db_col_copy(st, 3, a->name, sizeof a->name);
	db_col_copy(st, 4, a->verbs, sizeof a->verbs);
	db_col_copy(st, 5, a->status, sizeof a->status);
	db_col_copy(st, 6, a->owner_status, sizeof a->owner_status);
	a->tokens_before = db_col_int64(st, 7);
	a->per_minute = db_col_int64(st, 8);
	a->per_day = db_col_int64(st, 9);
	a->created_at = db_col_int64(st, 10);
	const char *dp = db_col_text(st, 11);
	a->dpop_required = dp && strcmp(dp, "required") == 0;
}

int agent_load(struct db *db, const char *id, struct agent *a)
{
	struct db_stmt *st = db_prep(db, SQL_AGENT);
	if (!st)
		return -1;
	db_bind_text(st, 1, id);
	int rc = db_step(st);
	if (rc == DB_ROW)
		agent_from_row(st, a);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

int agent_load_owned(struct db *db, const char *id, const char *owner_scope, struct agent *a, struct oerr *e)
{
	int f = agent_load(db, id, a);
	if (f < 0)
		return -1;
	if (!f || (owner_scope && strcmp(a->owner_id, owner_scope) != 0)) {
		memset(a, 0, sizeof *a);
		oerr_set(e, 404, "not_found", "no agent %.64s", id ? id : "");
		return 0;
	}
	return 1;
}

int credential_create(struct db *db, const char *agent_id, char cred_id[ID_MAX], char secret[SECRET_LEN + 1])
{
	unsigned char v[VERIFIER_LEN];
	if (id_new("cred_", cred_id) < 0 || secret_new(secret) < 0 || secret_verifier(secret, SECRET_LEN, v) < 0)
		return -1;
	struct db_stmt *st =
		db_prep(db, "INSERT INTO credentials(id, agent_id, verifier, created_at) VALUES (?, ?, ?, ?)");
	if (!st)
		return -1;
	db_bind_text(st, 1, cred_id);
	db_bind_text(st, 2, agent_id);
	db_bind_blob(st, 3, v, sizeof v);
	db_bind_int64(st, 4, now_ms());
	OPENSSL_cleanse(v, sizeof v);
	return db_step_done(st);
}

static void audit_agent(struct db *db, const char *event, const char *actor, const struct agent *a,
			const char *client_addr, const char *request_id, const char *detail, int *rc)
{
	struct audit_keys k = {.actor = actor,
			       .agent_id = a->id,
			       .owner_id = a->owner_id,
			       .client_addr = client_addr,
			       .request_id = request_id};
	if (*rc == 0 && audit_write(db, event, &k, detail) < 0)
		*rc = -1;
}

/* 1-NAME_MAX_LEN-1 bytes without control characters (they would reach terminals and logs) */
static int agent_name_ok(const char *name, struct oerr *e)
{
	if (!name || !*name || strlen(name) >= NAME_MAX_LEN) {
		oerr_set(e, 400, "invalid_request", "name must be 1-%d bytes", NAME_MAX_LEN - 1);
		return 0;
	}
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		/* C0 and DEL; C1 (U+0080-U+009F, UTF-8 C2 80-9F); the bidirectional marks and
		 * overrides U+200E-U+200F, U+202A-U+202E and U+2066-U+2069 (E2 80 8E-8F, E2 80
		 * AA-AE, E2 81 A6-A9), which make a name display as another */
		int c1 = p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
		int bidi = p[0] == 0xe2 &&
			   ((p[1] == 0x80 && (p[2] == 0x8e || p[2] == 0x8f || (p[2] >= 0xaa && p[2] <= 0xae))) ||
			    (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9));
		if (*p < 0x20 || *p == 0x7f || c1 || bidi) {
			oerr_set(e, 400, "invalid_request",
				 "name must not contain control or bidirectional characters");
			return 0;
		}
	}
	return 1;
}

/* The first credential: a new secret, or the key the request brought. 0, 1, -1. */
static int first_credential(struct db *db, struct agent_new *n, const struct jose_key *k)
{
	if (!k->pkey)
		return credential_create(db, n->agent.id, n->cred_id, n->secret) < 0 ? -1 : 0;
	snprintf(n->kid, sizeof n->kid, "%s", k->kid);
	snprintf(n->jkt, sizeof n->jkt, "%s", k->jkt);
	return key_credential_insert(db, n->agent.id, k, n->cred_id, &n->err);
}

static int agent_create(struct db *db, struct agent_new *n, const struct jose_key *k);

int agent_create_job(struct db *db, void *arg)
{
	struct agent_new *n = arg;
	struct jose_key k;
	memset(&k, 0, sizeof k);
	memset(&n->agent, 0, sizeof n->agent);
	if (n->jwk && key_credential_parse(n->jwk, n->jwk_len, &k, &n->err))
		return 1;
	int rc = agent_create(db, n, &k);
	jose_key_clear(&k);
	return rc;
}

static int agent_create(struct db *db, struct agent_new *n, const struct jose_key *k)
{
	struct agent *a = &n->agent;
	slice bad;
	if (!agent_name_ok(n->name, &n->err))
		return 1;
	if (verbset_parse(slice_of(n->verbs ? n->verbs : ""), a->verbs, &bad) < 0) {
		oerr_set(&n->err, 400, "invalid_request", "invalid verb '%.*s' (want resource:action)",
			 (int)(bad.n > 64 ? 64 : bad.n), bad.p);
		return 1;
	}
	struct db_stmt *st = db_prep(db, "SELECT org_id, status FROM owners WHERE id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, n->owner_id);
	if (db_step(st) != DB_ROW) {
		db_reset(st);
		oerr_set(&n->err, 404, "not_found", "no owner %.64s", n->owner_id);
		return 1;
	}
	db_col_copy(st, 0, a->org_id, sizeof a->org_id);
	db_col_copy(st, 1, a->owner_status, sizeof a->owner_status);
	db_reset(st);
	if (strcmp(a->owner_status, "active") != 0) {
		oerr_set(&n->err, 400, "invalid_request", "owner %.64s is deactivated", n->owner_id);
		return 1;
	}
	if (id_new("agt_", a->id) < 0)
		return -1;
	snprintf(a->owner_id, sizeof a->owner_id, "%s", n->owner_id);
	snprintf(a->name, sizeof a->name, "%s", n->name);
	snprintf(a->status, sizeof a->status, "active");
	a->per_minute = n->per_minute;
	a->per_day = n->per_day;
	a->dpop_required = n->dpop_required;
	a->created_at = now_ms();
	st = db_prep(db, "INSERT INTO agents(id, org_id, owner_id, name, verbs, per_minute, per_day,"
			 " created_at, changed_at, dpop) VALUES (?,?,?,?,?,?,?,?,?,?)");
	if (!st)
		return -1;
	db_bind_text(st, 1, a->id);
	db_bind_text(st, 2, a->org_id);
	db_bind_text(st, 3, a->owner_id);
	db_bind_text(st, 4, a->name);
	db_bind_text(st, 5, a->verbs);
	db_bind_int64(st, 6, a->per_minute);
	db_bind_int64(st, 7, a->per_day);
	db_bind_int64(st, 8, a->created_at);
	db_bind_int64(st, 9, a->created_at);
	db_bind_text(st, 10, a->dpop_required ? "required" : "optional");
	if (db_step_done(st) < 0)
		return -1;
	for (int i = 0; i < n->nws; i++) {
		st = db_prep(db, "INSERT INTO agent_workspaces(agent_id, workspace_id)"
				 " SELECT ?1, id FROM workspaces WHERE id = ?2 ON CONFLICT DO NOTHING");
		if (!st)
			return -1;
		db_bind_text(st, 1, a->id);
		db_bind_text(st, 2, n->workspaces[i]);
		if (db_step_done(st) < 0)
			return -1;
		if (db_changes(db) == 0 && db_in_tx(db)) {
			/* distinguish "already listed" from "no such workspace" */
			struct db_stmt *q = db_prep(db, "SELECT 1 FROM workspaces WHERE id = ?");
			if (!q)
				return -1;
			db_bind_text(q, 1, n->workspaces[i]);
			int found = db_step(q) == DB_ROW;
			db_reset(q);
			if (!found) {
				oerr_set(&n->err, 404, "not_found", "no workspace %.64s", n->workspaces[i]);
				return 1;
			}
		}
	}
	int rc = first_credential(db, n, k);
	if (rc)
		return rc;
	struct buf d;
	buf_init(&d, AUDIT_DETAIL_LIMIT);
	buf_puts(&d, "{\"agent_id\":");
	buf_json_cstr(&d, a->id);
	buf_puts(&d, ",\"name\":");
	buf_json_cstr(&d, a->name);
	buf_puts(&d, ",\"verbs\":");
	buf_json_cstr(&d, a->verbs);
	if (a->dpop_required)
		buf_puts(&d, ",\"dpop\":\"required\"");
	buf_puts(&d, "}");
	if (d.failed)
		rc = -1; /* never a cut or empty detail */
	audit_agent(db, EV_AGENT_CREATED, n->actor ? n->actor : "system", a, n->client_addr, n->request_id, d.p, &rc);
	char cd[160];
	if (audit_detail_fits(cd, "{\"agent_id\":\"%s\",\"credential_id\":\"%s\"%s}", a->id, n->cred_id,
			      k->pkey ? ",\"kind\":\"key\"" : "") < 0)
		return -1;
	audit_agent(db, EV_CREDENTIAL_CREATED, n->actor ? n->actor : "system", a, n->client_addr, n->request_id, cd,
		    &rc);
	buf_free(&d);
	return rc;
}

void agent_json(struct db *db, const struct agent *a, struct buf *b)
{
	char t[32];
	buf_puts(b, "{\"id\":");
	buf_json_cstr(b, a->id);
	buf_puts(b, ",\"client_id\":");
	buf_json_cstr(b, a->id);
	buf_puts(b, ",\"name\":");
	buf_json_cstr(b, a->name);
	buf_puts(b, ",\"owner_id\":");
	buf_json_cstr(b, a->owner_id);
	buf_puts(b, ",\"org_id\":");
	buf_json_cstr(b, a->org_id);
	buf_puts(b, ",\"status\":");
	buf_json_cstr(b, a->status);
	buf_puts(b, ",\"verbs\":[");
	slice all = slice_of(a->verbs);
	size_t i = 0;
	int k = 0;
	while (i < all.n) {
		size_t s = i;
		while (i < all.n && all.p[i] != ' ')
			i++;
		buf_puts(b, k++ ? "," : "");
		buf_json_str(b, all.p + s, i - s);
		i++;
	}
	buf_puts(b, "],\"workspaces\":[");
	struct db_stmt *st = db_prep(db, "SELECT workspace_id FROM agent_workspaces WHERE agent_id = ?"
					 " ORDER BY workspace_id");
	k = 0;
	if (st) {
		db_bind_text(st, 1, a->id);
		while (db_step(st) == DB_ROW) {
			buf_puts(b, k++ ? "," : "");
			buf_json_cstr(b, db_col_text(st, 0));
		}
		db_reset(st);
	}
	buf_printf(b, "],\"per_minute\":%lld,\"per_day\":%lld,\"dpop\":\"%s\",\"created_at\":\"%s\"}",
		   (long long)a->per_minute, (long long)a->per_day, a->dpop_required ? "required" : "optional",
		   rfc3339(a->created_at, t));
}

long agent_list(struct db *db, const char *owner_id, void (*emit)(void *arg, const char *json, size_t n), void *arg)
{
	static const char sql[] = "SELECT a.id, a.org_id, a.owner_id, a.name, a.verbs, a.status, o.status,"
				  " a.tokens_before, a.per_minute, a.per_day, a.created_at, a.dpop"
				  " FROM agents a JOIN owners o ON o.id = a.owner_id"
				  " WHERE CAST(?1 AS TEXT) IS NULL OR a.owner_id = ?1 ORDER BY a.created_at, a.id";
	/* a second connection-level statement: agent_json() uses another one meanwhile */
	struct db_stmt *st = NULL;
	if (!(st = db_prep_new(db, sql)))
		return -1;
	db_bind_text(st, 1, owner_id);
	long n = 0;
	struct buf b;
	buf_init(&b, 64 * 1024);
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		struct agent a;
		agent_from_row(st, &a);
		buf_reset(&b);
		agent_json(db, &a, &b);
		if (!b.failed)
			emit(arg, b.p, b.len);
		n++;
	}
	db_finalize(st);
	buf_free(&b);
	return rc == DB_DONE ? n : -1;
}

#define AUTH_CREDS_MAX 4

struct agent_auth {
	struct agent a;
	int ncred;
	struct {
		char id[ID_MAX];
		unsigned char v[VERIFIER_LEN];
		int64_t expires_at; /* ms; 0 = none */
	} cred[AUTH_CREDS_MAX];
};

static struct blobmap auth_cache;

void agent_cache_enable(void)
{
	if (!auth_cache.b)
		blobmap_init(&auth_cache, 4096, 100000);
	assertion_cache_enable();
}

void agent_cache_forget(const char *agent_id)
{
	blobmap_del(&auth_cache, agent_id);
	assertion_cache_forget(agent_id); /* the agent's keys: a revoked one stops at once */
}
void agent_cache_clear(void)
{
	blobmap_clear(&auth_cache);
	assertion_cache_clear();
}

/* 1 loaded, 0 no such agent, -1 error */
static int auth_load(struct db *db, const char *id, struct agent_auth *r)
{
	memset(r, 0, sizeof *r);
	int f = agent_load(db, id, &r->a);
	if (f <= 0)
		return f;
	struct db_stmt *st =
		db_prep(db, "SELECT id, verifier, coalesce(expires_at, 0) FROM credentials"
			    " WHERE agent_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
			    " ORDER BY created_at DESC");
	if (!st)
		return -1;
	db_bind_text(st, 1, id);
	db_bind_int64(st, 2, now_ms());
	while (db_step(st) == DB_ROW && r->ncred < AUTH_CREDS_MAX) {
		if (db_col_bytes(st, 1) != VERIFIER_LEN)
			continue;
		db_col_copy(st, 0, r->cred[r->ncred].id, ID_MAX);
		memcpy(r->cred[r->ncred].v, db_col_blob(st, 1), VERIFIER_LEN);
		r->cred[r->ncred].expires_at = db_col_int64(st, 2);
		r->ncred++;
	}
	db_reset(st);
	return 1;
}

int agent_secret_verify(struct db *db, const char *client_id, const char *secret, struct agent *a, struct oerr *e)
{
	unsigned char v[VERIFIER_LEN];
	struct agent_auth *r = malloc(sizeof *r);
	int rc = -1;
	e->basic_challenge = 0;
	/* computed first, whatever the id: the cost says nothing about the agent existing */
	if (!r || secret_verifier(secret, strlen(secret), v) < 0) {
		free(r);
		oerr_set(e, 500, "server_error", "internal error");
		return -1;
	}
	int found = 0;
	if (strncmp(client_id, "agt_", 4) == 0 && strlen(client_id) < ID_MAX) {
		long gen = blobmap_generation(&auth_cache);
		if (blobmap_get(&auth_cache, client_id, r, sizeof *r)) {
			found = 1;
		} else {
			found = auth_load(db, client_id, r);
			if (found > 0)
				blobmap_put(&auth_cache, client_id, r, sizeof *r, gen);
		}
	}
	if (found < 0) {
		oerr_set(e, 500, "server_error", "internal error");
		goto done;
	}
	if (found == 0) {
		e->reason = "unknown_client";
		goto refuse;
	}
	*a = r->a;
	int matched = 0, expired = 0;
	int64_t now = now_ms();
	for (int i = 0; i < r->ncred; i++) {
		if (!verifier_equal(r->cred[i].v, v))
			continue;
		if (r->cred[i].expires_at && r->cred[i].expires_at <= now) {
			expired = 1;
			continue;
		}
		memcpy(a->cred_id, r->cred[i].id, ID_MAX);
		matched = 1;
	}
	if (matched) {
		rc = 0;
		goto done;
	}
	e->reason = expired ? "credential_expired" : "bad_secret";
refuse:
	/* RFC 6749 §5.2: never say which of id or secret was wrong */
	oerr_set(e, 401, "invalid_client", "client authentication failed");
	rc = 1;
done:
	OPENSSL_cleanse(v, sizeof v);
	OPENSSL_cleanse(r, sizeof *r);
	free(r);
	return rc;
}

int agent_limit_job(struct db *db, void *arg)
{
	struct agent_limit *l = arg;
	int f = agent_load_owned(db, l->agent_id, l->owner_scope, &l->agent, &l->err);
	if (f <= 0)
		return f < 0 ? -1 : 1;
	if (l->per_minute >= 0)
		l->agent.per_minute = l->per_minute;
	if (l->per_day >= 0)
		l->agent.per_day = l->per_day;
	struct db_stmt *st =
		db_prep(db, "UPDATE agents SET per_minute = ?2, per_day = ?3, changed_at = ?4 WHERE id = ?1");
	if (!st)
		return -1;
	int64_t now = now_ms();
	db_bind_text(st, 1, l->agent.id);
	db_bind_int64(st, 2, l->agent.per_minute);
	db_bind_int64(st, 3, l->agent.per_day);
	db_bind_int64(st, 4, now);
	if (db_step_done(st) < 0)
		return -1;
	return change_note(db, CHANGE_AGENT, l->agent.id, "limits", now);
}

int agent_dpop_job(struct db *db, void *arg)
{
	struct agent_dpop *d = arg;
	int f = agent_load_owned(db, d->agent_id, d->owner_scope, &d->agent, &d->err);
	if (f <= 0)
		return f < 0 ? -1 : 1;
	int was = d->agent.dpop_required;
	d->agent.dpop_required = d->required;
	if (was == d->required)
		return 0; /* nothing changes: nothing to note or audit */
	struct db_stmt *st = db_prep(db, "UPDATE agents SET dpop = ?2, changed_at = ?3 WHERE id = ?1");
	if (!st)
		return -1;
	int64_t now = now_ms();
	const char *v = d->required ? "required" : "optional";
	db_bind_text(st, 1, d->agent.id);
	db_bind_text(st, 2, v);
	db_bind_int64(st, 3, now);
	if (db_step_done(st) < 0)
		return -1;
	char detail[160];
	if (audit_detail_fits(detail, "{\"agent_id\":\"%s\",\"dpop\":\"%s\"}", d->agent.id, v) < 0)
		return -1;
	int rc = 0;
	audit_agent(db, EV_AGENT_DPOP_SET, d->actor ? d->actor : "system", &d->agent, d->client_addr, d->request_id,
		    detail, &rc);
	if (rc < 0)
		return -1;
	/* every node drops its cached record within a second (token/live.c) */
	return change_note(db, CHANGE_AGENT, d->agent.id, "dpop", now);
}
