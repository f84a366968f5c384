/* routes_v1.c - the owners' self-service API under /v1 (HTTP Basic: email, password).
 *
 * Every call runs on a worker thread (argon2id must not hold up a polling thread) and
 * acts only on the caller's own agents: anyone else's answers 404. */
#include "http.h"

#include "../audit/audit.h"
#include "../authz/delegation.h"
#include "../authz/login.h"
#include "../clients/agent_body.h"
#include "../clients/agents.h"
#include "../clients/credentials.h"
#include "../clients/keycred.h"
#include "../clients/lifecycle.h"
#include "../common/basic.h"
#include "../common/timeutil.h"
#include "../token/ciba.h"
#include "../token/revoke.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define V1_MAX_SEGMENTS 6

struct v1_ctx {
	struct http_req *r;
	struct owner_session me;
	const char *seg[V1_MAX_SEGMENTS];
	int nseg;
	char path[512];
	json_t *body;
};

static void not_found(struct http_req *r) { resp_error_simple(r, 404, "not_found", "no such resource"); }

static void method_not_allowed(struct http_req *r, const char *allow)
{
	resp_error_simple(r, 405, "invalid_request", "method not allowed");
	r->resp.allow = allow;
}

static int want(struct v1_ctx *c, const char *method)
{
	if (strcmp(c->r->method, method) == 0)
		return 1;
	method_not_allowed(c->r, method);
	return 0;
}

/* Parses the JSON body into c->body (an object); 0, or -1 with a 400 set. */
static int json_body(struct v1_ctx *c, int required)
{
	struct http_req *r = c->r;
	if (r->body_len == 0 && !required) {
		c->body = json_object();
		return 0;
	}
	json_error_t je;
	c->body = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(c->body)) {
		resp_error_simple(r, 400, "invalid_request", "the body must be a JSON object");
		return -1;
	}
	return 0;
}

static void write_result(struct http_req *r, int rc, const struct oerr *e)
{
	if (rc > 0)
		resp_error(r, e);
	else
		resp_error_simple(r, 503, "temporarily_unavailable", "could not commit; retry");
}

static void emit_array(void *arg, const char *json, size_t n)
{
	struct buf *b = arg;
	if (b->len > 1)
		buf_puts(b, ",");
	buf_put(b, json, n);
}

static void list_agents(struct v1_ctx *c)
{
	struct buf b;
	buf_init(&b, 16 << 20);
	buf_puts(&b, "{\"agents\":[");
	size_t start = b.len;
	(void)start;
	struct buf items;
	buf_init(&items, 16 << 20);
	buf_puts(&items, "[");
	if (agent_list(warrant_reader(c->r->w), c->me.id, emit_array, &items) < 0) {
		buf_free(&b);
		buf_free(&items);
		resp_error_simple(c->r, 503, "temporarily_unavailable", "storage unavailable");
		return;
	}
	buf_put(&b, items.p + 1, items.len - 1);
	buf_puts(&b, "]}");
	buf_free(&items);
	resp_json(c->r, 200, &b);
}

static void create_agent(struct v1_ctx *c)
{
	struct agent_new n;
	struct oerr e;
	char vb[AGENT_BODY_VERBS_MAX];
	memset(&n, 0, sizeof n);
	memset(&e, 0, sizeof e);
	if (agent_body_parse(c->r->body, c->r->body_len, &c->body, &n, vb, &e) < 0) {
		resp_error(c->r, &e);
		return;
	}
	n.owner_id = c->me.id;
	n.actor = c->me.id;
	n.request_id = c->r->request_id;
	n.client_addr = c->r->client_addr;
	char *jwk = json_object_get(c->body, "jwk") ? json_dumps(json_object_get(c->body, "jwk"), JSON_COMPACT) : NULL;
	n.jwk = jwk;
	n.jwk_len = jwk ? strlen(jwk) : 0;
	if (json_object_get(c->body, "jwk") && !jwk) {
		resp_error_simple(c->r, 500, "server_error", "out of memory");
		return;
	}
	int rc = warrant_write(c->r->w, agent_create_job, &n);
	if (jwk)
		OPENSSL_cleanse(jwk, strlen(jwk)); /* a refused JWK may have held private members */
	free(jwk);
	if (rc) {
		write_result(c->r, rc, &n.err);
		return;
	}
	struct buf b;
	buf_init(&b, 64 * 1024);
	agent_json(warrant_reader(c->r->w), &n.agent, &b);
	if (!b.failed && n.jwk) {
		b.len--; /* the key credential; there is no secret */
		buf_printf(&b, ",\"credential_id\":\"%s\",\"kid\":", n.cred_id);
		buf_json_cstr(&b, n.kid);
		buf_printf(&b, ",\"jkt\":\"%s\"}", n.jkt);
	} else if (!b.failed) {
		b.len--; /* the secret, shown this once */
		buf_printf(&b, ",\"client_secret\":\"%s\",\"credential_id\":\"%s\"}", n.secret, n.cred_id);
	}
	OPENSSL_cleanse(n.secret, sizeof n.secret);
	resp_json(c->r, 201, &b);
	c->r->resp.no_store = 1;
}

/* The caller's agent id, or 404 set and NULL. */
static const char *my_agent(struct v1_ctx *c, struct agent *a)
{
	struct oerr e = {0};
	struct db *db = warrant_reader(c->r->w);
	int f = db ? agent_load_owned(db, c->seg[2], c->me.id, a, &e) : -1;
	if (f < 0)
		resp_error_simple(c->r, 503, "temporarily_unavailable", "storage unavailable");
	else if (f == 0)
		resp_error(c->r, &e); /* 404: another owner's agent is as unknown as a made-up one */
	return f > 0 ? a->id : NULL;
}

static void show_agent(struct v1_ctx *c, const struct agent *a)
{
	struct buf b;
	buf_init(&b, 64 * 1024);
	agent_json(warrant_reader(c->r->w), a, &b);
	resp_json(c->r, 200, &b);
}

static void rotate(struct v1_ctx *c, const struct agent *a)
{
	if (json_body(c, 0) < 0)
		return;
	struct credential_rotation r;
	memset(&r, 0, sizeof r);
	json_t *g = json_object_get(c->body, "grace_seconds");
	if (g && (!json_is_integer(g) || json_integer_value(g) < 0 || json_integer_value(g) > GRACE_MAX)) {
		resp_error_simple(c->r, 400, "invalid_request", "grace_seconds must be 0 to 86400");
		return;
	}
	r.grace = g ? json_integer_value(g) : GRACE_DEFAULT;
	r.agent_id = a->id;
	r.owner_scope = c->me.id;
	r.actor = c->me.id;
	r.client_addr = c->r->client_addr;
	r.request_id = c->r->request_id;
	int rc = warrant_write(c->r->w, credential_rotate_job, &r);
	if (rc) {
		write_result(c->r, rc, &r.err);
		return;
	}
	struct buf b;
	char t[32];
	buf_init(&b, 4096);
	buf_printf(&b,
		   "{\"id\":\"%s\",\"client_id\":\"%s\",\"client_secret\":\"%s\",\"credential_id\":\"%s\","
		   "\"old_expires_at\":",
		   a->id, a->id, r.secret, r.cred_id);
	if (r.old_expires_at)
		buf_printf(&b, "\"%s\"}", rfc3339(r.old_expires_at, t));
	else
		buf_puts(&b, "null}");
	OPENSSL_cleanse(r.secret, sizeof r.secret);
	resp_json(c->r, 200, &b);
	c->r->resp.no_store = 1;
}

/* POST /v1/agents/{id}/keys {"jwk":{...},"grace_seconds":900}: a public-key credential */
static void add_key(struct v1_ctx *c, const struct agent *a)
{
	if (json_body(c, 1) < 0)
		return;
	struct key_credential_add r;
	memset(&r, 0, sizeof r);
	json_t *g = json_object_get(c->body, "grace_seconds"), *jwk = json_object_get(c->body, "jwk");
	const char *key;
	json_t *val;
	json_object_foreach(c->body, key, val)
	{
		if (strcmp(key, "jwk") != 0 && strcmp(key, "grace_seconds") != 0) {
			resp_error_simple(c->r, 400, "invalid_request", "want {\"jwk\": {...}, \"grace_seconds\": n}");
			return;
		}
	}
	if (!json_is_object(jwk) ||
	    (g && (!json_is_integer(g) || json_integer_value(g) < 0 || json_integer_value(g) > GRACE_MAX))) {
		resp_error_simple(c->r, 400, "invalid_request", "want {\"jwk\": {...}, \"grace_seconds\": 0 to 86400}");
		return;
	}
	char *text = json_dumps(jwk, JSON_COMPACT);
	if (!text) {
		resp_error_simple(c->r, 500, "server_error", "out of memory");
		return;
	}
	r.agent_id = a->id;
	r.jwk = text;
	r.jwk_len = strlen(text);
	r.grace = g ? json_integer_value(g) : -1;
	r.owner_scope = c->me.id;
	r.actor = c->me.id;
	r.client_addr = c->r->client_addr;
	r.request_id = c->r->request_id;
	int rc = warrant_write(c->r->w, key_credential_add_job, &r);
	OPENSSL_cleanse(text, strlen(text)); /* a refused JWK may have held private members */
	free(text);
	if (rc) {
		write_result(c->r, rc, &r.err);
		return;
	}
	struct buf b;
	buf_init(&b, 1024);
	buf_printf(&b, "{\"credential_id\":\"%s\",\"agent_id\":\"%s\",\"kid\":", r.cred_id, a->id);
	buf_json_cstr(&b, r.kid);
	buf_printf(&b, ",\"jkt\":\"%s\"}", r.jkt);
	resp_json(c->r, 201, &b);
}

static void lifecycle(struct v1_ctx *c, const struct agent *a, enum lifecycle_op op)
{
	struct lifecycle l;
	memset(&l, 0, sizeof l);
	l.agent_id = a->id;
	l.op = op;
	l.owner_scope = c->me.id;
	l.actor = c->me.id;
	l.client_addr = c->r->client_addr;
	l.request_id = c->r->request_id;
	int rc = warrant_write(c->r->w, agent_lifecycle_job, &l);
	if (rc) {
		write_result(c->r, rc, &l.err);
		return;
	}
	show_agent(c, &l.agent);
}

/* POST /v1/agents/{id}/dpop {"dpop":"required"|"optional"}: as `warrant agent set --dpop` */
static void set_dpop(struct v1_ctx *c, const struct agent *a)
{
	if (json_body(c, 1) < 0)
		return;
	const char *v = json_string_value(json_object_get(c->body, "dpop"));
	if (!v || (strcmp(v, "required") != 0 && strcmp(v, "optional") != 0) || json_object_size(c->body) != 1) {
		resp_error_simple(c->r, 400, "invalid_request",
				  "the body must be {\"dpop\":\"required\"|\"optional\"}");
		return;
	}
	struct agent_dpop d;
	memset(&d, 0, sizeof d);
	d.agent_id = a->id;
	d.required = strcmp(v, "required") == 0;
	d.owner_scope = c->me.id;
	d.actor = c->me.id;
	d.client_addr = c->r->client_addr;
	d.request_id = c->r->request_id;
	int rc = warrant_write(c->r->w, agent_dpop_job, &d);
	if (rc) {
		write_result(c->r, rc, &d.err);
		return;
	}
	show_agent(c, &d.agent);
}

static void revoke_credential(struct v1_ctx *c, const struct agent *a)
{
	struct credential_revocation r;
	memset(&r, 0, sizeof r);
	r.agent_id = a->id;
	r.cred_id = c->seg[4];
	r.owner_scope = c->me.id;
	r.actor = c->me.id;
	r.client_addr = c->r->client_addr;
	r.request_id = c->r->request_id;
	int rc = warrant_write(c->r->w, credential_revoke_job, &r);
	if (rc) {
		write_result(c->r, rc, &r.err);
		return;
	}
	struct buf b;
	buf_init(&b, 1024);
	buf_puts(&b, "{\"id\":");
	buf_json_cstr(&b, r.cred_id);
	buf_printf(&b, ",\"agent_id\":\"%s\",\"revoked\":true}", a->id);
	resp_json(c->r, 200, &b);
}

static void revoke_run(struct v1_ctx *c)
{
	struct revocation r;
	memset(&r, 0, sizeof r);
	r.kind = REVOKE_RUN;
	r.run_id = c->seg[2];
	r.owner_scope = c->me.id;
	r.actor = c->me.id;
	r.client_addr = c->r->client_addr;
	r.request_id = c->r->request_id;
	int rc = warrant_write(c->r->w, revoke_job, &r);
	if (rc) {
		write_result(c->r, rc, &r.err);
		return;
	}
	struct buf b;
	buf_init(&b, 1024);
	buf_puts(&b, "{\"run_id\":");
	buf_json_cstr(&b, r.run_id);
	buf_printf(&b, ",\"agents\":%d}", r.count);
	resp_json(c->r, 200, &b);
}

static void audit_query(struct v1_ctx *c)
{
	struct http_req *r = c->r;
	struct audit_query q;
	memset(&q, 0, sizeof q);
	q.owner_id = c->me.id;
	q.agent_id = req_query(r, "agent");
	q.run_id = req_query(r, "run");
	q.ws = req_query(r, "workspace");
	const char *since = req_query(r, "since"), *until = req_query(r, "until"), *limit = req_query(r, "limit");
	int64_t lim = 1000;
	if ((since && parse_time_arg(since, &q.since) < 0) || (until && parse_time_arg(until, &q.until) < 0) ||
	    (limit && parse_i64(limit, 1, 100000, &lim) < 0)) {
		resp_error_simple(r, 400, "invalid_request",
				  "since/until take 7d, 12h, 30m, 45s or ISO 8601 UTC; limit 1 to 100000");
		return;
	}
	q.limit = (long)lim;
	struct buf items;
	buf_init(&items, 64 << 20);
	buf_puts(&items, "[");
	if (audit_export(warrant_reader(r->w), &q, emit_array, &items) < 0) {
		buf_free(&items);
		resp_error_simple(r, 503, "temporarily_unavailable", "storage unavailable");
		return;
	}
	struct buf b;
	buf_init(&b, 64 << 20);
	buf_puts(&b, "{\"events\":");
	buf_put(&b, items.p, items.len);
	buf_puts(&b, "]}");
	buf_free(&items);
	resp_json(r, 200, &b);
}

static void list_approvals(struct v1_ctx *c)
{
	struct buf items;
	buf_init(&items, 16 << 20);
	buf_puts(&items, "[");
	if (approval_list(warrant_reader(c->r->w), c->me.id, emit_array, &items) < 0) {
		buf_free(&items);
		resp_error_simple(c->r, 503, "temporarily_unavailable", "storage unavailable");
		return;
	}
	struct buf b;
	buf_init(&b, 16 << 20);
	buf_puts(&b, "{\"approvals\":");
	buf_put(&b, items.p, items.len);
	buf_puts(&b, "]}");
	buf_free(&items);
	resp_json(c->r, 200, &b);
}

static void decide(struct v1_ctx *c, int approve)
{
	struct approval_decision d;
	memset(&d, 0, sizeof d);
	d.id = c->seg[2];
	d.owner_id = c->me.id;
	d.approve = approve;
	d.client_addr = c->r->client_addr;
	d.request_id = c->r->request_id;
	int rc = warrant_write(c->r->w, approval_decide_job, &d);
	if (rc) {
		write_result(c->r, rc, &d.err);
		return;
	}
	struct buf b;
	buf_init(&b, 1024);
	buf_puts(&b, "{\"auth_req_id\":");
	buf_json_cstr(&b, d.id);
	buf_printf(&b, ",\"agent_id\":\"%s\",\"status\":\"%s\"}", d.agent_id, approve ? "approved" : "denied");
	resp_json(c->r, 200, &b);
}

/* /v1/agents/{id}/delegates: GET lists, POST {"agent","max_depth"} grants, DELETE
 * .../delegates/{agt} withdraws (RFC 8693 token exchange; SPEC "Delegation") */
static void delegates(struct v1_ctx *c, const struct agent *a, const char *other)
{
	const char *m = c->r->method;
	if (!other && strcmp(m, "GET") == 0) {
		struct buf b;
		buf_init(&b, 1 << 20);
		buf_puts(&b, "[");
		if (delegation_list(warrant_reader(c->r->w), a->id, emit_array, &b) < 0) {
			buf_free(&b);
			resp_error_simple(c->r, 503, "temporarily_unavailable", "storage unavailable");
			return;
		}
		buf_puts(&b, "]");
		resp_json(c->r, 200, &b);
		return;
	}
	if (other ? strcmp(m, "DELETE") != 0 : strcmp(m, "POST") != 0) {
		method_not_allowed(c->r, other ? "DELETE" : "GET, POST");
		return;
	}
	struct delegation_change d;
	memset(&d, 0, sizeof d);
	d.agent_id = a->id;
	d.delegate_id = other;
	d.max_depth = DELEGATION_DEPTH_DEFAULT;
	if (!other) {
		if (json_body(c, 1) < 0)
			return;
		if (delegation_body_parse(c->body, &d) < 0) {
			resp_error(c->r, &d.err);
			return;
		}
	}
	d.owner_scope = c->me.id;
	d.actor = c->me.id;
	d.client_addr = c->r->client_addr;
	d.request_id = c->r->request_id;
	int rc = warrant_write(c->r->w, other ? delegation_remove_job : delegation_add_job, &d);
	if (rc) {
		write_result(c->r, rc, &d.err);
		return;
	}
	struct buf b;
	buf_init(&b, 1024);
	char t[32];
	buf_printf(&b, "{\"agent_id\":\"%s\",\"delegate_id\":\"%s\",\"max_depth\":%d", a->id, d.delegate.id,
		   d.max_depth);
	if (!other)
		buf_printf(&b, ",\"created_at\":\"%s\"", rfc3339(d.created_at, t));
	buf_puts(&b, other ? ",\"removed\":true}" : "}");
	resp_json(c->r, other || d.replaced ? 200 : 201, &b);
}

static void route(struct v1_ctx *c)
{
	const char **s = c->seg;
	int n = c->nseg;
	struct agent a;
	if (n >= 2 && strcmp(s[1], "agents") == 0) {
		if (n == 2) {
			if (strcmp(c->r->method, "GET") == 0)
				list_agents(c);
			else if (strcmp(c->r->method, "POST") == 0)
				create_agent(c);
			else
				method_not_allowed(c->r, "GET, POST");
			return;
		}
		if (!my_agent(c, &a))
			return;
		if (n == 3) {
			if (want(c, "GET"))
				show_agent(c, &a);
			return;
		}
		if (n == 4 && strcmp(s[3], "rotate") == 0) {
			if (want(c, "POST"))
				rotate(c, &a);
			return;
		}
		if (n == 4 && strcmp(s[3], "keys") == 0) {
			if (want(c, "POST"))
				add_key(c, &a);
			return;
		}
		if (n == 4 && (!strcmp(s[3], "suspend") || !strcmp(s[3], "resume") || !strcmp(s[3], "retire"))) {
			if (want(c, "POST"))
				lifecycle(c, &a, s[3][0] == 's' ? LC_SUSPEND : s[3][2] == 's' ? LC_RESUME : LC_RETIRE);
			return;
		}
		if ((n == 4 || n == 5) && strcmp(s[3], "delegates") == 0) {
			delegates(c, &a, n == 5 ? s[4] : NULL);
			return;
		}
		if (n == 4 && strcmp(s[3], "dpop") == 0) {
			if (want(c, "POST"))
				set_dpop(c, &a);
			return;
		}
		if (n == 6 && strcmp(s[3], "credentials") == 0 && strcmp(s[5], "revoke") == 0) {
			if (want(c, "POST"))
				revoke_credential(c, &a);
			return;
		}
	} else if (n == 4 && strcmp(s[1], "runs") == 0 && strcmp(s[3], "revoke") == 0) {
		if (want(c, "POST"))
			revoke_run(c);
		return;
	} else if (n == 2 && strcmp(s[1], "approvals") == 0) {
		if (want(c, "GET"))
			list_approvals(c);
		return;
	} else if (n == 4 && strcmp(s[1], "approvals") == 0 && (!strcmp(s[3], "approve") || !strcmp(s[3], "deny"))) {
		if (want(c, "POST"))
			decide(c, s[3][0] == 'a');
		return;
	} else if (n == 2 && strcmp(s[1], "audit") == 0) {
		if (want(c, "GET"))
			audit_query(c);
		return;
	}
	not_found(c->r);
}

static void v1_work(struct http_req *r)
{
	struct v1_ctx c;
	memset(&c, 0, sizeof c);
	c.r = r;
	char email[BASIC_MAX_ID], pw[BASIC_MAX_SECRET];
	int rc = r->authorization ? basic_parse(r->authorization, r->authorization_len, 0, email, pw) : 1;
	if (rc != 0) {
		resp_error_simple(r, 401, "invalid_client", "authenticate with HTTP Basic: email and password");
		r->resp.basic_challenge = 1;
		return;
	}
	struct oerr e;
	memset(&e, 0, sizeof e);
	rc = owner_login(r->w, email, pw, r->client_addr, r->request_id, &c.me, &e);
	OPENSSL_cleanse(pw, sizeof pw);
	if (rc != 0) {
		resp_error(r, &e);
		return;
	}
	/* split /v1/a/b/... into segments (ids and run ids hold no '/') */
	if (strlen(r->path) >= sizeof c.path) {
		not_found(r);
		return;
	}
	memcpy(c.path, r->path + 1, strlen(r->path));
	for (char *save = NULL, *t = strtok_r(c.path, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (c.nseg == V1_MAX_SEGMENTS) {
			not_found(r);
			return;
		}
		c.seg[c.nseg++] = t;
	}
	route(&c);
	json_decref(c.body);
}

enum hres h_v1(struct http_req *r) { return http_offload(r, v1_work); }
