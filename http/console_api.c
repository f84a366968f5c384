/* console_api.c - the owners' console's JSON API under /console/api/: the same domain
 * calls as /v1 (routes_v1.c), for the signed-in owner's own agents only (another owner's
 * agent is 404, as a made-up one), plus the read-only views the pages show
 * (token/owner_view.h). Password sign-in goes through owner_login(), /v1's argon2id path
 * with its throttles and audit rows. */
#include "console.h"

#include "../audit/audit.h"
#include "../authz/delegation.h"
#include "../authz/login.h"
#include "../clients/agent_body.h"
#include "../clients/agents.h"
#include "../clients/credentials.h"
#include "../clients/keycred.h"
#include "../clients/lifecycle.h"
#include "../common/timeutil.h"
#include "../token/ciba.h"
#include "../token/owner_view.h"
#include "../token/revoke.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define CONSOLE_EVENTS_DEFAULT 500   /* events listed on the Activity page */
#define CONSOLE_EVENTS_MAX 100000    /* events in one export */
#define CONSOLE_ACTIVITY_DAYS_MAX 92 /* days the chart may cover */

static void done(struct console_ctx *c, int rc, const struct oerr *e)
{
	if (rc > 0)
		resp_error(c->r, e);
	else
		console_error(c->r, 503, "temporarily_unavailable", "could not commit; retry");
	c->r->resp.basic_challenge = 0;
}

/* c->body from the request's JSON body (an empty one is {}): 0, or -1 with a 400 set. */
static int json_body(struct console_ctx *c)
{
	struct http_req *r = c->r;
	json_error_t je;
	c->body = r->body_len ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je) : json_object();
	if (json_is_object(c->body))
		return 0;
	console_error(r, 400, "invalid_request", "the body must be a JSON object");
	return -1;
}

/* An optional integer member within [min, max] into *v: 0, or -1 with a 400 set. */
static int int_member(struct console_ctx *c, const char *name, int64_t min, int64_t max, int64_t *v)
{
	json_t *j = json_object_get(c->body, name);
	if (!j)
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) < min || json_integer_value(j) > max) {
		console_error(c->r, 400, "invalid_request",
			      "grace_seconds must be a whole number of seconds, 0 or more");
		return -1;
	}
	*v = json_integer_value(j);
	return 0;
}

void console_signin(struct http_req *r)
{
	json_error_t je;
	json_t *b = r->body_len ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je) : NULL;
	const char *email = json_string_value(json_object_get(b, "email"));
	const char *pw = json_string_value(json_object_get(b, "password"));
	const char *ct = r->content_type;
	/* a cross-site form cannot send application/json without a preflight, which gets no CORS */
	if (!ct || strncmp(ct, "application/json", 16) != 0 || !email || !pw) {
		console_error(r, 400, "invalid_request",
			      "want {\"email\": ..., \"password\": ...} as application/json");
	} else {
		struct owner_session me;
		struct oerr e;
		memset(&e, 0, sizeof e);
		int rc = owner_login(r->w, email, pw, r->client_addr, r->request_id, &me, &e);
		if (rc == 0)
			console_session_start(r, me.id, "password", 1);
		else if (rc > 0)
			resp_error(r, &e);
		else
			console_error(r, 503, "temporarily_unavailable", "storage unavailable");
		r->resp.basic_challenge = 0;
	}
	if (pw)
		OPENSSL_cleanse((char *)pw, strlen(pw));
	json_decref(b);
}

static void show_session(struct console_ctx *c)
{
	const struct console_session *s = &c->s;
	char t1[32], t2[32], t3[32];
	struct buf b;
	buf_init(&b, 4096);
	buf_printf(&b, "{\"owner_id\":\"%s\",\"org_id\":\"%s\",\"email\":", s->owner_id, s->org_id);
	buf_json_cstr(&b, s->email);
	buf_puts(&b, ",\"name\":");
	buf_json_cstr(&b, s->name);
	buf_printf(
		&b,
		",\"method\":\"%s\",\"csrf\":\"%s\",\"signed_in_at\":\"%s\",\"expires_at\":\"%s\",\"idle_seconds\":%d,"
		"\"last_seen\":\"%s\"}",
		s->method, s->csrf, rfc3339(s->created_at, t1), rfc3339(s->expires_at, t2), SESSION_IDLE_S,
		rfc3339(s->last_seen, t3));
	resp_json(c->r, 200, &b);
}

static void sign_out(struct console_ctx *c)
{
	struct session_op o = {.owner_id = c->s.owner_id,
			       .method = c->s.method,
			       .client_addr = c->r->client_addr,
			       .request_id = c->r->request_id};
	memcpy(o.id, c->s.id, sizeof o.id);
	if (warrant_write(c->r->w, session_end_job, &o) != 0) {
		console_error(c->r, 503, "temporarily_unavailable", "could not sign out; retry");
		return;
	}
	resp_json_str(c->r, 200, "{\"signed_out\":true}");
	console_session_cookie(c->r, NULL);
}

static void emit_array(void *arg, const char *json, size_t n)
{
	struct buf *b = arg;
	if (b->len > 0 && b->p[b->len - 1] != '[')
		buf_puts(b, ",");
	buf_put(b, json, n);
}

/* One agent with what the pages show beside /v1's fields: credentials and last token
 * (and, for the Agent page when full is set, live runs and delegations both ways), appended
 * to out. */
static void agent_full(struct db *db, const struct agent *a, int full, struct buf *out)
{
	char t[32];
	int64_t last = 0;
	agent_json(db, a, out);
	if (out->failed || out->len == 0)
		return;
	out->len--; /* reopen the object */
	buf_puts(out, ",\"credentials\":");
	if (agent_credentials_json(db, a->id, out) < 0)
		out->failed = 1;
	if (agent_last_token(db, a->id, &last) < 0)
		out->failed = 1;
	buf_puts(out, ",\"last_token_at\":");
	buf_puts(out, last ? "\"" : "null");
	if (last)
		buf_printf(out, "%s\"", rfc3339(last, t));
	if (full) {
		buf_puts(out, ",\"runs\":");
		if (agent_live_runs_json(db, a, out) < 0)
			out->failed = 1;
		/* the agents this one may delegate to, and (read-only) those that delegate to it */
		buf_puts(out, ",\"delegates\":[");
		if (delegation_list(db, a->id, emit_array, out) < 0)
			out->failed = 1;
		buf_puts(out, "],\"delegated_by\":[");
		if (delegation_list_to(db, a->id, emit_array, out) < 0)
			out->failed = 1;
		buf_puts(out, "]");
	}
	buf_puts(out, "}");
}

struct list_walk {
	struct db *db;
	struct buf *out;
	int n;
};

static void emit_agent(void *arg, const char *json, size_t n)
{
	struct list_walk *k = arg;
	json_error_t je;
	json_t *o = json_loadb(json, n, 0, &je);
	struct agent a;
	const char *id = json_string_value(json_object_get(o, "id"));
	if (id && agent_load(k->db, id, &a) == 1) {
		buf_puts(k->out, k->n++ ? "," : "");
		agent_full(k->db, &a, 0, k->out);
	}
	json_decref(o);
}

static void list_agents(struct console_ctx *c)
{
	struct buf b;
	buf_init(&b, 16 << 20);
	struct list_walk k = {warrant_reader(c->r->w), &b, 0};
	buf_puts(&b, "{\"agents\":[");
	if (!k.db || agent_list(k.db, c->s.owner_id, emit_agent, &k) < 0) {
		buf_free(&b);
		console_error(c->r, 503, "temporarily_unavailable", "storage unavailable");
		return;
	}
	buf_puts(&b, "]}");
	resp_json(c->r, 200, &b);
}

static void create_agent(struct console_ctx *c)
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
	if (json_object_get(c->body, "jwk")) {
		console_error(c->r, 400, "invalid_request", "add a public key on the agent's page");
		return;
	}
	n.owner_id = c->s.owner_id;
	n.actor = c->s.owner_id;
	n.request_id = c->r->request_id;
	n.client_addr = c->r->client_addr;
	int rc = warrant_write(c->r->w, agent_create_job, &n);
	if (rc) {
		done(c, rc, &n.err);
		return;
	}
	struct buf b;
	buf_init(&b, 64 * 1024);
	agent_json(warrant_reader(c->r->w), &n.agent, &b);
	if (!b.failed) {
		b.len--; /* the secret, shown this once */
		buf_printf(&b, ",\"client_secret\":\"%s\",\"credential_id\":\"%s\"}", n.secret, n.cred_id);
	}
	OPENSSL_cleanse(n.secret, sizeof n.secret);
	resp_json(c->r, 201, &b);
}

static void show_agent(struct console_ctx *c, const struct agent *a)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	agent_full(warrant_reader(c->r->w), a, 1, &b);
	resp_json(c->r, 200, &b);
}

static void rotate(struct console_ctx *c, const struct agent *a)
{
	struct credential_rotation r;
	memset(&r, 0, sizeof r);
	r.grace = GRACE_DEFAULT;
	if (json_body(c) < 0 || int_member(c, "grace_seconds", 0, INT32_MAX, &r.grace) < 0)
		return;
	r.agent_id = a->id;
	r.owner_scope = c->s.owner_id;
	r.actor = c->s.owner_id;
	r.client_addr = c->r->client_addr;
	r.request_id = c->r->request_id;
	int rc = warrant_write(c->r->w, credential_rotate_job, &r);
	if (rc) {
		done(c, rc, &r.err);
		return;
	}
	struct buf b;
	char t[32];
	buf_init(&b, 4096);
	buf_printf(&b,
		   "{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"credential_id\":\"%s\",\"old_expires_at\":", a->id,
		   r.secret, r.cred_id);
	if (r.old_expires_at)
		buf_printf(&b, "\"%s\"}", rfc3339(r.old_expires_at, t));
	else
		buf_puts(&b, "null}");
	OPENSSL_cleanse(r.secret, sizeof r.secret);
	resp_json(c->r, 200, &b); /* no-store, as every answer here: the secret is shown once */
}

static void add_key(struct console_ctx *c, const struct agent *a)
{
	struct key_credential_add r;
	memset(&r, 0, sizeof r);
	r.grace = -1;
	if (json_body(c) < 0 || int_member(c, "grace_seconds", 0, INT32_MAX, &r.grace) < 0)
		return;
	json_t *jwk = json_object_get(c->body, "jwk");
	char *text = json_is_object(jwk) ? json_dumps(jwk, JSON_COMPACT) : NULL;
	if (!text) {
		console_error(c->r, 400, "invalid_request", "want {\"jwk\": {...}, \"grace_seconds\": n}");
		return;
	}
	r.agent_id = a->id;
	r.jwk = text;
	r.jwk_len = strlen(text);
	r.owner_scope = c->s.owner_id;
	r.actor = c->s.owner_id;
	r.client_addr = c->r->client_addr;
	r.request_id = c->r->request_id;
	int rc = warrant_write(c->r->w, key_credential_add_job, &r);
	OPENSSL_cleanse(text, strlen(text)); /* a refused JWK may have held private members */
	free(text);
	if (rc) {
		done(c, rc, &r.err);
		return;
	}
	struct buf b;
	buf_init(&b, 1024);
	buf_printf(&b, "{\"credential_id\":\"%s\",\"agent_id\":\"%s\",\"kid\":", r.cred_id, a->id);
	buf_json_cstr(&b, r.kid);
	buf_printf(&b, ",\"jkt\":\"%s\"}", r.jkt);
	resp_json(c->r, 201, &b);
}

static void lifecycle(struct console_ctx *c, const struct agent *a, enum lifecycle_op op)
{
	struct lifecycle l;
	memset(&l, 0, sizeof l);
	l.agent_id = a->id;
	l.op = op;
	l.owner_scope = c->s.owner_id;
	l.actor = c->s.owner_id;
	l.client_addr = c->r->client_addr;
	l.request_id = c->r->request_id;
	int rc = warrant_write(c->r->w, agent_lifecycle_job, &l);
	if (rc) {
		done(c, rc, &l.err);
		return;
	}
	show_agent(c, &l.agent);
}

static void revoke_credential(struct console_ctx *c, const struct agent *a, const char *cred)
{
	struct credential_revocation r;
	memset(&r, 0, sizeof r);
	r.agent_id = a->id;
	r.cred_id = cred;
	r.owner_scope = c->s.owner_id;
	r.actor = c->s.owner_id;
	r.client_addr = c->r->client_addr;
	r.request_id = c->r->request_id;
	int rc = warrant_write(c->r->w, credential_revoke_job, &r);
	if (rc) {
		done(c, rc, &r.err);
		return;
	}
	show_agent(c, a);
}

static void kill_run(struct console_ctx *c, const struct agent *a, const char *run)
{
	struct revocation r;
	memset(&r, 0, sizeof r);
	r.kind = REVOKE_RUN;
	r.run_id = run;
	r.agent_id = a->id;
	r.owner_scope = c->s.owner_id;
	r.actor = c->s.owner_id;
	r.client_addr = c->r->client_addr;
	r.request_id = c->r->request_id;
	int rc = warrant_write(c->r->w, revoke_job, &r);
	if (rc) {
		done(c, rc, &r.err);
		return;
	}
	struct buf b;
	buf_init(&b, 1024);
	buf_puts(&b, "{\"run_id\":");
	buf_json_cstr(&b, run);
	buf_printf(&b, ",\"agent_id\":\"%s\",\"revoked\":true}", a->id);
	resp_json(c->r, 200, &b);
}

/* POST agents/{id}/delegates {"agent","max_depth"} grants, DELETE agents/{id}/delegates/{agt}
 * withdraws: /v1's body rule and writer jobs (authz/delegation.h), answered as /v1 does */
static void delegate(struct console_ctx *c, const struct agent *a, const char *other)
{
	struct delegation_change d;
	memset(&d, 0, sizeof d);
	d.agent_id = a->id;
	d.delegate_id = other;
	if (!other) {
		if (json_body(c) < 0)
			return;
		if (delegation_body_parse(c->body, &d) < 0) {
			done(c, 1, &d.err);
			return;
		}
	}
	d.owner_scope = c->s.owner_id;
	d.actor = c->s.owner_id;
	d.client_addr = c->r->client_addr;
	d.request_id = c->r->request_id;
	int rc = warrant_write(c->r->w, other ? delegation_remove_job : delegation_add_job, &d);
	if (rc) {
		done(c, rc, &d.err);
		return;
	}
	struct buf b;
	char t[32];
	buf_init(&b, 1024);
	buf_printf(&b, "{\"agent_id\":\"%s\",\"delegate_id\":\"%s\",\"max_depth\":%d", a->id, d.delegate.id,
		   d.max_depth);
	if (!other)
		buf_printf(&b, ",\"created_at\":\"%s\"", rfc3339(d.created_at, t));
	buf_puts(&b, other ? ",\"removed\":true}" : "}");
	resp_json(c->r, other || d.replaced ? 200 : 201, &b);
}

static void list_approvals(struct console_ctx *c)
{
	struct buf b;
	buf_init(&b, 16 << 20);
	buf_puts(&b, "{\"approvals\":[");
	if (approval_list(warrant_reader(c->r->w), c->s.owner_id, emit_array, &b) < 0) {
		buf_free(&b);
		console_error(c->r, 503, "temporarily_unavailable", "storage unavailable");
		return;
	}
	buf_puts(&b, "]}");
	resp_json(c->r, 200, &b);
}

static void decide(struct console_ctx *c, const char *id, int approve)
{
	struct approval_decision d;
	memset(&d, 0, sizeof d);
	d.id = id;
	d.owner_id = c->s.owner_id;
	d.approve = approve;
	d.client_addr = c->r->client_addr;
	d.request_id = c->r->request_id;
	int rc = warrant_write(c->r->w, approval_decide_job, &d);
	if (rc) {
		done(c, rc, &d.err);
		return;
	}
	struct buf b;
	buf_init(&b, 1024);
	buf_puts(&b, "{\"auth_req_id\":");
	buf_json_cstr(&b, id);
	buf_printf(&b, ",\"agent_id\":\"%s\",\"status\":\"%s\"}", d.agent_id, approve ? "approved" : "denied");
	resp_json(c->r, 200, &b);
}

static void activity(struct console_ctx *c)
{
	const char *since = req_query(c->r, "since");
	int64_t from = now_ms() - 7LL * 86400000;
	if (since && (parse_time_arg(since, &from) < 0 || from < now_ms() - CONSOLE_ACTIVITY_DAYS_MAX * 86400000LL)) {
		console_error(c->r, 400, "invalid_request",
			      "since takes 7d, 24h or ISO 8601 UTC, at most 92 days back");
		return;
	}
	from -= from % 86400000; /* whole UTC days */
	char t[32];
	struct buf b;
	buf_init(&b, 16 << 20);
	buf_printf(&b, "{\"since\":\"%s\",\"counts\":", rfc3339(from, t));
	if (owner_daily_activity_json(warrant_reader(c->r->w), c->s.owner_id, from, &b) < 0) {
		buf_free(&b);
		console_error(c->r, 503, "temporarily_unavailable", "storage unavailable");
		return;
	}
	buf_puts(&b, "}");
	resp_json(c->r, 200, &b);
}

struct event_walk {
	struct buf *out;
	const char *event; /* exact name, or a prefix ending in '.' */
	long n, max;
	int jsonl;
};

static void emit_event(void *arg, const char *json, size_t n)
{
	struct event_walk *k = arg;
	if (k->n >= k->max)
		return;
	if (k->event && *k->event) {
		json_error_t je;
		json_t *o = json_loadb(json, n, 0, &je);
		const char *ev = json_string_value(json_object_get(o, "event"));
		size_t fl = strlen(k->event);
		int keep = ev && (k->event[fl - 1] == '.' ? strncmp(ev, k->event, fl) == 0 : strcmp(ev, k->event) == 0);
		json_decref(o);
		if (!keep)
			return;
	}
	if (!k->jsonl && k->n)
		buf_puts(k->out, ",");
	buf_put(k->out, json, n);
	if (k->jsonl)
		buf_puts(k->out, "\n");
	k->n++;
}

/* GET events?agent=&run=&event=&since=&until=[&format=jsonl]: the list, or the export */
static void events(struct console_ctx *c)
{
	struct http_req *r = c->r;
	struct audit_query q;
	memset(&q, 0, sizeof q);
	q.owner_id = c->s.owner_id;
	q.agent_id = req_query(r, "agent");
	q.run_id = req_query(r, "run");
	if (q.agent_id && !*q.agent_id)
		q.agent_id = NULL;
	if (q.run_id && !*q.run_id)
		q.run_id = NULL;
	const char *since = req_query(r, "since"), *until = req_query(r, "until"), *fmt = req_query(r, "format");
	q.since = now_ms() - 7LL * 86400000;
	if ((since && *since && parse_time_arg(since, &q.since) < 0) ||
	    (until && *until && parse_time_arg(until, &q.until) < 0)) {
		console_error(r, 400, "invalid_request", "since and until take 7d, 12h, 30m or ISO 8601 UTC");
		return;
	}
	struct buf b;
	buf_init(&b, 256 << 20);
	struct event_walk k = {&b, req_query(r, "event"), 0, CONSOLE_EVENTS_DEFAULT, fmt && !strcmp(fmt, "jsonl")};
	if (k.jsonl)
		k.max = CONSOLE_EVENTS_MAX;
	q.limit = k.event && *k.event ? 0 : k.max;
	if (!k.jsonl)
		buf_puts(&b, "{\"events\":[");
	if (audit_export(warrant_reader(r->w), &q, emit_event, &k) < 0) {
		buf_free(&b);
		console_error(r, 503, "temporarily_unavailable", "storage unavailable");
		return;
	}
	if (!k.jsonl)
		buf_printf(&b, "],\"truncated\":%s}", k.n >= k.max ? "true" : "false");
	resp_json(r, 200, &b);
	if (k.jsonl) {
		r->resp.ctype = "application/x-ndjson";
		resp_header(r, "Content-Disposition", "attachment; filename=\"warrant-activity.jsonl\"");
	}
}

static void method_not_allowed(struct http_req *r, const char *allow)
{
	console_error(r, 405, "invalid_request", "method not allowed");
	r->resp.allow = allow;
}

static int want(struct console_ctx *c, const char *method)
{
	if (strcmp(c->r->method, method) == 0)
		return 1;
	method_not_allowed(c->r, method);
	return 0;
}

static void agent_route(struct console_ctx *c)
{
	const char **s = c->seg;
	int n = c->nseg;
	struct agent a;
	struct oerr e = {0};
	struct db *db = warrant_reader(c->r->w);
	int f = db ? agent_load_owned(db, s[1], c->s.owner_id, &a, &e) : -1;
	if (f <= 0) {
		if (f < 0)
			console_error(c->r, 503, "temporarily_unavailable", "storage unavailable");
		else
			resp_error(c->r, &e); /* another owner's agent is as unknown as a made-up one */
		return;
	}
	if (n == 2) {
		if (want(c, "GET"))
			show_agent(c, &a);
	} else if (n == 3 && !strcmp(s[2], "rotate")) {
		if (want(c, "POST"))
			rotate(c, &a);
	} else if (n == 3 && !strcmp(s[2], "keys")) {
		if (want(c, "POST"))
			add_key(c, &a);
	} else if (n == 3 && (!strcmp(s[2], "suspend") || !strcmp(s[2], "resume") || !strcmp(s[2], "retire"))) {
		if (want(c, "POST"))
			lifecycle(c, &a, s[2][0] == 's' ? LC_SUSPEND : s[2][2] == 's' ? LC_RESUME : LC_RETIRE);
	} else if (n == 3 && !strcmp(s[2], "delegates")) {
		if (want(c, "POST"))
			delegate(c, &a, NULL);
	} else if (n == 4 && !strcmp(s[2], "delegates")) {
		if (want(c, "DELETE"))
			delegate(c, &a, s[3]);
	} else if (n == 5 && !strcmp(s[2], "credentials") && !strcmp(s[4], "revoke")) {
		if (want(c, "POST"))
			revoke_credential(c, &a, s[3]);
	} else if (n == 5 && !strcmp(s[2], "runs") && !strcmp(s[4], "revoke")) {
		if (want(c, "POST"))
			kill_run(c, &a, s[3]);
	} else {
		console_error(c->r, 404, "not_found", "no such resource");
	}
}

void console_api(struct console_ctx *c)
{
	const char **s = c->seg;
	int n = c->nseg;
	const char *m = c->r->method;
	if (n == 1 && !strcmp(s[0], "session")) {
		if (want(c, "GET"))
			show_session(c);
	} else if (n == 1 && !strcmp(s[0], "signout")) {
		if (want(c, "POST"))
			sign_out(c);
	} else if (n == 1 && !strcmp(s[0], "agents")) {
		if (!strcmp(m, "GET"))
			list_agents(c);
		else if (!strcmp(m, "POST"))
			create_agent(c);
		else
			method_not_allowed(c->r, "GET, POST");
	} else if (n >= 2 && !strcmp(s[0], "agents")) {
		agent_route(c);
	} else if (n == 1 && !strcmp(s[0], "approvals")) {
		if (want(c, "GET"))
			list_approvals(c);
	} else if (n == 3 && !strcmp(s[0], "approvals") && (!strcmp(s[2], "approve") || !strcmp(s[2], "deny"))) {
		if (want(c, "POST"))
			decide(c, s[1], s[2][0] == 'a');
	} else if (n == 1 && !strcmp(s[0], "activity")) {
		if (want(c, "GET"))
			activity(c);
	} else if (n == 1 && !strcmp(s[0], "events")) {
		if (want(c, "GET"))
			events(c);
	} else {
		console_error(c->r, 404, "not_found", "no such resource");
	}
}
