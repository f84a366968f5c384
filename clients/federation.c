/* federation.c - trusts, federated credentials and the check of external JWTs; see federation.h. */
#include "federation.h"

#include "../audit/audit.h"
#include "../audit/events.h"
#include "../common/buf.h"
#include "../common/timeutil.h"
#include "../store/changes.h"
#include "../store/replay.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic(const char *) own_issuer; /* the server's; it outlives every request */

void federation_set_issuer(const char *issuer) { atomic_store(&own_issuer, issuer); }

/* 1..max-1 bytes, none a control character (they would reach terminals and logs) */
static int text_ok(const char *s, size_t max)
{
	if (!s || !*s || strlen(s) >= max)
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

static int name_ok(const char *s)
{
	if (!s || !*s || strlen(s) >= TRUST_NAME_MAX)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_' || *p == '-' || *p == ':'))
			return 0;
	return 1;
}

/* the key source of a trust_new, checked; 0 or 1 with err */
static int source_ok(struct trust_new *t)
{
	char why[128];
	int n = (t->jwks_uri != NULL) + (t->jwks_file != NULL) + (t->discovery != 0);
	if (n != 1) {
		oerr_set(&t->err, 400, "invalid_request", "give exactly one of --jwks-uri, --jwks-file, --discovery");
		return 1;
	}
	if (t->discovery && keyset_url_allowed(t->issuer, why, sizeof why) < 0) {
		oerr_set(&t->err, 400, "invalid_request", "--discovery needs a fetchable issuer: %s", why);
		return 1;
	}
	if (t->jwks_uri && keyset_url_allowed(t->jwks_uri, why, sizeof why) < 0) {
		oerr_set(&t->err, 400, "invalid_request", "--jwks-uri %s", why);
		return 1;
	}
	if (t->jwks_file) {
		if (t->jwks_file[0] != '/' || strlen(t->jwks_file) >= TRUST_PATH_MAX) {
			oerr_set(&t->err, 400, "invalid_request", "--jwks-file must be an absolute path");
			return 1;
		}
		FILE *f = fopen(t->jwks_file, "rb");
		char *text = malloc(KEYSET_BODY_MAX + 1);
		size_t got = f && text ? fread(text, 1, KEYSET_BODY_MAX + 1, f) : 0;
		if (f)
			fclose(f);
		struct jose_keyset ks;
		const char *pwhy = "unreadable";
		int rc = f && text && got <= KEYSET_BODY_MAX ? jose_keyset_parse(text, got, &ks, &pwhy) : -1;
		free(text);
		if (rc < 0) {
			oerr_set(&t->err, 400, "invalid_request", "--jwks-file is not a readable JWK Set (%s)",
				 got > KEYSET_BODY_MAX ? "over 1 MiB" : pwhy);
			return 1;
		}
		jose_keyset_clear(&ks);
	}
	return 0;
}

int trust_add_job(struct db *db, void *arg)
{
	struct trust_new *t = arg;
	if (!name_ok(t->name)) {
		oerr_set(&t->err, 400, "invalid_request", "a trust's name is 1-%d of A-Z a-z 0-9 . _ : -",
			 TRUST_NAME_MAX - 1);
		return 1;
	}
	if (!text_ok(t->issuer, TRUST_URL_MAX) || (t->audience && !text_ok(t->audience, TRUST_URL_MAX))) {
		oerr_set(&t->err, 400, "invalid_request",
			 "--issuer and --audience are 1-%d bytes without control"
			 " characters",
			 TRUST_URL_MAX - 1);
		return 1;
	}
	if (t->max_lifetime == 0)
		t->max_lifetime = TRUST_LIFETIME_DEFAULT;
	if (t->max_lifetime < 1 || t->max_lifetime > TRUST_LIFETIME_MAX) {
		oerr_set(&t->err, 400, "invalid_request", "--max-lifetime must be 1 to %d seconds", TRUST_LIFETIME_MAX);
		return 1;
	}
	if (source_ok(t))
		return 1;
	struct db_stmt *st = db_prep(db, "SELECT 1 FROM trusts WHERE name = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, t->name);
	int rc = db_step(st);
	db_reset(st);
	if (rc != DB_DONE) {
		if (rc == DB_ROW)
			oerr_set(&t->err, 409, "conflict", "a trust named %s exists", t->name);
		return rc == DB_ROW ? 1 : -1;
	}
	if (id_new("tru_", t->id) < 0)
		return -1;
	st = db_prep(db, "INSERT INTO trusts(id, name, issuer, jwks_uri, jwks_file, discovery, audience, max_lifetime,"
			 " created_at) VALUES (?,?,?,?,?,?,?,?,?)");
	if (!st)
		return -1;
	db_bind_text(st, 1, t->id);
	db_bind_text(st, 2, t->name);
	db_bind_text(st, 3, t->issuer);
	db_bind_text(st, 4, t->jwks_uri);
	db_bind_text(st, 5, t->jwks_file);
	db_bind_int64(st, 6, t->discovery ? 1 : 0);
	db_bind_text(st, 7, t->audience);
	db_bind_int64(st, 8, t->max_lifetime);
	db_bind_int64(st, 9, now_ms());
	if (db_step_done(st) < 0)
		return -1;
	struct buf d;
	buf_init(&d, AUDIT_DETAIL_LIMIT);
	buf_puts(&d, "{\"trust_id\":");
	buf_json_cstr(&d, t->id);
	buf_puts(&d, ",\"name\":");
	buf_json_cstr(&d, t->name);
	buf_puts(&d, ",\"issuer\":");
	buf_json_cstr(&d, t->issuer);
	buf_puts(&d, "}");
	struct audit_keys k = {.actor = t->actor ? t->actor : "system"};
	rc = d.failed ? -1 : audit_write(db, EV_TRUST_ADDED, &k, d.p);
	buf_free(&d);
	return rc;
}

/* Revokes the live credentials of trust id now, each noted and audited. 0 or -1. */
static int end_credentials(struct db *db, const char *trust_id, const char *actor, int *count)
{
	int64_t now = now_ms();
	struct db_stmt *q = db_prep_new(db, "SELECT c.id, c.agent_id, a.owner_id FROM credentials c"
					    " JOIN agents a ON a.id = c.agent_id"
					    " WHERE c.trust_id = ? AND c.revoked_at IS NULL");
	if (!q)
		return -1;
	db_bind_text(q, 1, trust_id);
	int rc = 0, step;
	while (rc == 0 && (step = db_step(q)) == DB_ROW) {
		const char *cred = db_col_text(q, 0), *agent = db_col_text(q, 1);
		char d[200];
		struct audit_keys k = {.actor = actor, .agent_id = agent, .owner_id = db_col_text(q, 2)};
		if (change_note(db, CHANGE_CRED, cred, agent, now) < 0 ||
		    audit_detail_fits(d, "{\"agent_id\":\"%s\",\"credential_id\":\"%s\",\"trust_id\":\"%s\"}", agent,
				      cred, trust_id) < 0 ||
		    audit_write(db, EV_CREDENTIAL_REVOKED, &k, d) < 0)
			rc = -1;
		(*count)++;
	}
	if (rc == 0 && step != DB_DONE)
		rc = -1;
	db_finalize(q);
	if (rc < 0)
		return -1;
	struct db_stmt *st =
		db_prep(db, "UPDATE credentials SET revoked_at = ? WHERE trust_id = ? AND revoked_at IS NULL");
	if (!st)
		return -1;
	db_bind_int64(st, 1, now);
	db_bind_text(st, 2, trust_id);
	return db_step_done(st);
}

int trust_remove_job(struct db *db, void *arg)
{
	struct trust_removal *r = arg;
	struct db_stmt *st = db_prep(db, "SELECT id FROM trusts WHERE name = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, r->name);
	r->id[0] = '\0';
	int rc = db_step(st);
	if (rc == DB_ROW)
		db_col_copy(st, 0, r->id, sizeof r->id);
	db_reset(st);
	if (rc != DB_ROW) {
		if (rc == DB_DONE)
			oerr_set(&r->err, 404, "not_found", "no trust named %.64s", r->name ? r->name : "");
		return rc == DB_DONE ? 1 : -1;
	}
	const char *actor = r->actor ? r->actor : "system";
	if (end_credentials(db, r->id, actor, &r->credentials) < 0)
		return -1;
	st = db_prep(db, "DELETE FROM trusts WHERE id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, r->id);
	if (db_step_done(st) < 0)
		return -1;
	char d[200];
	struct audit_keys k = {.actor = actor};
	if (audit_detail_fits(d, "{\"trust_id\":\"%s\",\"credentials_revoked\":%d}", r->id, r->credentials) < 0)
		return -1;
	return audit_write(db, EV_TRUST_REMOVED, &k, d);
}

long trust_list(struct db *db, void (*emit)(void *arg, const char *json, size_t n), void *arg)
{
	struct db_stmt *st = db_prep_new(
		db,
		"SELECT t.id, t.name, t.issuer, t.jwks_uri, t.jwks_file, t.discovery, t.audience, t.max_lifetime,"
		" t.created_at, (SELECT count(*) FROM credentials c WHERE c.trust_id = t.id AND c.revoked_at IS NULL)"
		" FROM trusts t ORDER BY t.created_at, t.id");
	if (!st)
		return -1;
	long n = 0;
	int rc;
	struct buf b;
	buf_init(&b, 16 * 1024);
	while ((rc = db_step(st)) == DB_ROW) {
		char t[32];
		buf_reset(&b);
		buf_puts(&b, "{\"id\":");
		buf_json_cstr(&b, db_col_text(st, 0));
		buf_puts(&b, ",\"name\":");
		buf_json_cstr(&b, db_col_text(st, 1));
		buf_puts(&b, ",\"issuer\":");
		buf_json_cstr(&b, db_col_text(st, 2));
		static const char *const opt[] = {"jwks_uri", "jwks_file"};
		for (int i = 0; i < 2; i++) {
			buf_printf(&b, ",\"%s\":", opt[i]);
			if (db_col_null(st, 3 + i))
				buf_puts(&b, "null");
			else
				buf_json_cstr(&b, db_col_text(st, 3 + i));
		}
		buf_printf(&b, ",\"discovery\":%s,\"audience\":", db_col_int64(st, 5) ? "true" : "false");
		if (db_col_null(st, 6))
			buf_puts(&b, "null");
		else
			buf_json_cstr(&b, db_col_text(st, 6));
		buf_printf(&b, ",\"max_lifetime\":%lld,\"created_at\":\"%s\",\"credentials\":%lld}",
			   (long long)db_col_int64(st, 7), rfc3339(db_col_int64(st, 8), t),
			   (long long)db_col_int64(st, 9));
		if (!b.failed)
			emit(arg, b.p, b.len);
		n++;
	}
	db_finalize(st);
	buf_free(&b);
	return rc == DB_DONE ? n : -1;
}

int federated_credential_job(struct db *db, void *arg)
{
	struct federated_new *f = arg;
	int found = agent_load_owned(db, f->agent_id, NULL, &f->agent, &f->err);
	if (found <= 0)
		return found < 0 ? -1 : 1;
	if (strcmp(f->agent.status, "retired") == 0) {
		oerr_set(&f->err, 409, "conflict", "agent %.64s is retired", f->agent_id);
		return 1;
	}
	if (!text_ok(f->subject, FEDERATED_SUBJECT_MAX)) {
		oerr_set(&f->err, 400, "invalid_request", "--subject is 1-%d bytes without control characters",
			 FEDERATED_SUBJECT_MAX - 1);
		return 1;
	}
	struct db_stmt *st = db_prep(db, "SELECT id FROM trusts WHERE name = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, f->trust_name);
	int rc = db_step(st);
	if (rc == DB_ROW)
		db_col_copy(st, 0, f->trust_id, sizeof f->trust_id);
	db_reset(st);
	if (rc != DB_ROW) {
		if (rc == DB_DONE)
			oerr_set(&f->err, 404, "not_found", "no trust named %.64s", f->trust_name ? f->trust_name : "");
		return rc == DB_DONE ? 1 : -1;
	}
	st = db_prep(db, "SELECT 1 FROM credentials WHERE agent_id = ? AND trust_id = ? AND subject = ?"
			 " AND revoked_at IS NULL");
	if (!st)
		return -1;
	db_bind_text(st, 1, f->agent.id);
	db_bind_text(st, 2, f->trust_id);
	db_bind_text(st, 3, f->subject);
	rc = db_step(st);
	db_reset(st);
	if (rc != DB_DONE) {
		if (rc == DB_ROW)
			oerr_set(&f->err, 409, "conflict", "that subject of that trust is already bound to %.64s",
				 f->agent.id);
		return rc == DB_ROW ? 1 : -1;
	}
	if (id_new("cred_", f->cred_id) < 0)
		return -1;
	/* nothing secret: an empty verifier, which secret checks skip */
	st = db_prep(db, db_sql(db,
				"INSERT INTO credentials(id, agent_id, verifier, created_at, kind, trust_id, subject)"
				" VALUES (?, ?, X'', ?, 'federated', ?, ?)",
				"INSERT INTO credentials(id, agent_id, verifier, created_at, kind, trust_id, subject)"
				" VALUES (?, ?, ''::bytea, ?, 'federated', ?, ?)"));
	if (!st)
		return -1;
	int64_t now = now_ms();
	db_bind_text(st, 1, f->cred_id);
	db_bind_text(st, 2, f->agent.id);
	db_bind_int64(st, 3, now);
	db_bind_text(st, 4, f->trust_id);
	db_bind_text(st, 5, f->subject);
	if (db_step_done(st) < 0 || change_note(db, CHANGE_AGENT, f->agent.id, "credential_federated", now) < 0)
		return -1;
	struct buf d;
	buf_init(&d, AUDIT_DETAIL_LIMIT);
	buf_printf(&d,
		   "{\"agent_id\":\"%s\",\"credential_id\":\"%s\",\"kind\":\"federated\",\"trust_id\":\"%s\","
		   "\"subject\":",
		   f->agent.id, f->cred_id, f->trust_id);
	buf_json_cstr(&d, f->subject);
	buf_puts(&d, "}");
	struct audit_keys k = {
		.actor = f->actor ? f->actor : "system", .agent_id = f->agent.id, .owner_id = f->agent.owner_id};
	rc = d.failed ? -1 : audit_write(db, EV_CREDENTIAL_CREATED, &k, d.p);
	buf_free(&d);
	return rc;
}

/* ---- verification ---- */

struct candidate {
	char cred_id[ID_MAX];
	char subject[FEDERATED_SUBJECT_MAX];
	char audience[TRUST_URL_MAX]; /* "": the server's issuer */
	int64_t max_lifetime;
	struct keyset_source src;
};

static int refuse(struct oerr *e, const char *reason)
{
	oerr_set(e, 401, "invalid_client", "client authentication failed");
	e->reason = reason;
	return 1;
}

/* The live federated credentials of agent_id whose trust has issuer iss. Count or -1. */
static int candidates_load(struct db *db, const char *agent_id, const char *iss, struct candidate *c, int cap)
{
	struct db_stmt *st =
		db_prep(db, "SELECT c.id, c.subject, coalesce(t.audience, ''), t.max_lifetime, t.id, t.issuer,"
			    " coalesce(t.jwks_uri, ''), coalesce(t.jwks_file, ''), t.discovery"
			    " FROM credentials c JOIN trusts t ON t.id = c.trust_id"
			    " WHERE c.agent_id = ? AND c.kind = 'federated' AND t.issuer = ? AND c.revoked_at IS NULL"
			    " AND (c.expires_at IS NULL OR c.expires_at > ?) ORDER BY c.created_at DESC");
	if (!st)
		return -1;
	db_bind_text(st, 1, agent_id);
	db_bind_text(st, 2, iss);
	db_bind_int64(st, 3, now_ms());
	int n = 0, rc;
	while ((rc = db_step(st)) == DB_ROW && n < cap) {
		struct candidate *x = &c[n++];
		memset(x, 0, sizeof *x);
		db_col_copy(st, 0, x->cred_id, sizeof x->cred_id);
		db_col_copy(st, 1, x->subject, sizeof x->subject);
		db_col_copy(st, 2, x->audience, sizeof x->audience);
		x->max_lifetime = db_col_int64(st, 3);
		db_col_copy(st, 4, x->src.trust_id, sizeof x->src.trust_id);
		db_col_copy(st, 5, x->src.issuer, sizeof x->src.issuer);
		db_col_copy(st, 6, x->src.jwks_uri, sizeof x->src.jwks_uri);
		db_col_copy(st, 7, x->src.jwks_file, sizeof x->src.jwks_file);
		x->src.discovery = (int)db_col_int64(st, 8);
	}
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE ? n : -1;
}

/* 1 when some trust has issuer iss, 0 when none, -1 on error */
static int issuer_known(struct db *db, const char *iss)
{
	struct db_stmt *st = db_prep(db, "SELECT 1 FROM trusts WHERE issuer = ? LIMIT 1");
	if (!st)
		return -1;
	db_bind_text(st, 1, iss);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

/* The signature, with a key of the set (the one named by kid, else each). 1, 0, or -1. */
static int signature_ok(const struct jose_jws *jws, const struct keyset_source *src, const char **why)
{
	const struct jose_keyset *ks;
	struct keyset_hold *hold;
	if (!keyset_acquire(src, jws->kid, &ks, &hold, why))
		return 0;
	int ok = 0;
	if (jws->kid) {
		ok = jose_jws_verify(jws, jose_keyset_find(ks, jws->kid));
	} else {
		for (int i = 0; i < ks->n && ok == 0; i++)
			ok = jose_jws_verify(jws, &ks->keys[i]);
	}
	keyset_release(hold);
	if (ok == 0)
		*why = "bad_signature";
	return ok;
}

/* A NumericDate claim (RFC 7519 §2) as whole seconds: 1, 0 absent, -1 not a number. */
static int numeric_date(const json_t *claims, const char *name, int64_t *v)
{
	const json_t *j = json_object_get(claims, name);
	if (!j)
		return 0;
	if (!json_is_number(j))
		return -1;
	double d = json_number_value(j);
	if (!isfinite(d) || d < 0 || d > 1e12)
		return -1;
	*v = (int64_t)d;
	return 1;
}

/* RFC 7519 §4.1.3: aud is a string or an array of strings; one must be want. */
static int audience_ok(const json_t *aud, const char *want)
{
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	if (!json_is_array(aud))
		return 0;
	size_t i;
	const json_t *v;
	json_array_foreach(aud, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
			return 1;
	}
	return 0;
}

/* The time claims and audience of a verified token for trust c: NULL, or why not. */
static const char *claims_refusal(const json_t *claims, const struct candidate *c, int64_t now)
{
	int64_t exp = 0, iat = 0, nbf = 0;
	const char *aud = c->audience[0] ? c->audience : atomic_load(&own_issuer);
	if (!aud || !aud[0])
		return "no_audience";
	if (!audience_ok(json_object_get(claims, "aud"), aud))
		return "wrong_audience";
	if (numeric_date(claims, "exp", &exp) != 1)
		return "no_exp";
	if (exp <= now)
		return "expired";
	if (numeric_date(claims, "iat", &iat) != 1)
		return "no_iat";
	if (iat > now + FEDERATED_SKEW_S)
		return "iat_in_future";
	if (exp - iat > c->max_lifetime)
		return "lifetime_too_long";
	int has_nbf = numeric_date(claims, "nbf", &nbf);
	if (has_nbf < 0 || (has_nbf && nbf > now + FEDERATED_SKEW_S))
		return "not_yet_valid";
	return NULL;
}

/* RFC 7523 §3 item 7: a jti is used once, per trust, until exp. 1 first use, 0 refused
 * (why set), -1 error. */
static int jti_once(struct db *db, const json_t *claims, const struct candidate *c, const char **why)
{
	const json_t *j = json_object_get(claims, "jti");
	if (!j)
		return 1;
	const char *jti = json_string_value(j);
	char id[REPLAY_ID_MAX + 1];
	int64_t exp = 0;
	numeric_date(claims, "exp", &exp);
	if (!jti || !*jti || snprintf(id, sizeof id, "%s:%s", c->src.trust_id, jti) >= (int)sizeof id) {
		*why = "bad_jti";
		return 0;
	}
	int rc = replay_claim(db, "federated", id, exp);
	if (rc == 0)
		*why = "replayed_jti";
	return rc;
}

int federated_verify(struct db *db, const struct jose_jws *jws, const char *client_id, struct agent *out,
		     struct oerr *e)
{
	memset(out, 0, sizeof *out);
	memset(e, 0, sizeof *e);
	const char *iss = json_string_value(json_object_get(jws->claims, "iss"));
	const char *sub = json_string_value(json_object_get(jws->claims, "sub"));
	if (!client_id || !*client_id)
		return refuse(e, "no_client_id"); /* the agent must name itself */
	if (!iss || !*iss || strlen(iss) >= TRUST_URL_MAX)
		return refuse(e, "no_issuer");
	int found =
		strncmp(client_id, "agt_", 4) == 0 && strlen(client_id) < ID_MAX ? agent_load(db, client_id, out) : 0;
	if (found < 0)
		goto fail;
	if (found == 0) {
		memset(out, 0, sizeof *out);
		return refuse(e, "unknown_client");
	}
	struct candidate c[FEDERATED_CANDIDATES_MAX];
	int n = candidates_load(db, out->id, iss, c, FEDERATED_CANDIDATES_MAX);
	if (n < 0)
		goto fail;
	if (n == 0) {
		int known = issuer_known(db, iss);
		if (known < 0)
			goto fail;
		return refuse(e, known ? "no_federated_credential" : "unknown_issuer");
	}
	const char *why = "subject_mismatch";
	int64_t now = now_ms() / 1000;
	for (int i = 0; i < n; i++) {
		/* one signature check per trust: credentials of one trust come together or not */
		int seen = 0;
		for (int k = 0; k < i; k++)
			seen |= strcmp(c[k].src.trust_id, c[i].src.trust_id) == 0;
		if (seen)
			continue;
		const char *swhy = NULL;
		int ok = signature_ok(jws, &c[i].src, &swhy);
		if (ok < 0)
			goto fail;
		if (ok == 0) {
			why = swhy;
			continue;
		}
		const char *cwhy = claims_refusal(jws->claims, &c[i], now);
		if (cwhy) {
			why = cwhy;
			continue;
		}
		for (int k = i; k < n; k++) {
			if (strcmp(c[k].src.trust_id, c[i].src.trust_id) != 0 || !sub || strcmp(sub, c[k].subject) != 0)
				continue;
			int once = jti_once(db, jws->claims, &c[k], &why);
			if (once < 0)
				goto fail;
			if (once == 0)
				return refuse(e, why);
			memcpy(out->cred_id, c[k].cred_id, ID_MAX);
			return 0;
		}
		why = "subject_mismatch";
	}
	return refuse(e, why);
fail:
	memset(out, 0, sizeof *out);
	oerr_set(e, 500, "server_error", "internal error");
	return -1;
}
