/* authzen.c - OpenID AuthZEN Authorization API 1.0: POST /access/v1/evaluation (§6),
 * POST /access/v1/evaluations (§7) and GET /.well-known/authzen-configuration (§9). The
 * decision itself is token/evaluate.c's. */
#include "http.h"

#include "../common/jscan.h"
#include "../token/evaluate.h"
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

enum semantic { EXECUTE_ALL = 0, DENY_ON_FIRST_DENY, PERMIT_ON_FIRST_PERMIT };

struct authzen_state {
	struct client_cred cred;
	struct form empty;
	struct rs_caller rc;
	struct oerr err;
	int refused;       /* the caller was refused: answer err once its row is committed */
	int single;        /* answer {"decision":...} rather than {"evaluations":[...]} */
	struct jscan body; /* the request, kept while evaluations point into its strings */
	size_t n;          /* evaluations made */
	size_t cap;        /* evaluations allocated (ev, events) */
	struct evaluation *ev;
	struct audit_event *events;
	struct audit_event refusal; /* the caller's refusal */
	struct audit_batch batch;
};

static void authzen_free(void *p)
{
	struct authzen_state *s = p;
	for (size_t i = 0; s->ev && i < s->n; i++)
		evaluation_free(&s->ev[i]);
	for (size_t i = 0; s->events && i < s->cap; i++)
		audit_event_clear(&s->events[i]);
	audit_event_clear(&s->refusal);
	free(s->ev);
	free(s->events);
	jscan_free(&s->body);
	client_cred_wipe(&s->cred);
	form_free(&s->empty);
	free(s);
}

/* A member string of an entity object (at index o): NULL when absent; -1 when not a string,
 * too long or holding NUL. */
static int member_str(const struct jscan *j, int o, const char *name, const char **out)
{
	*out = NULL;
	int v = jscan_get(j, o, name);
	if (v < 0)
		return 0;
	if (jscan_type(j, v) != JS_STRING)
		return -1;
	size_t n = j->v[v].n;
	const char *s = j->v[v].s;
	if (n == 0 || n > EVAL_FIELD_MAX || strlen(s) != n)
		return -1;
	*out = s;
	return 0;
}

/* §6.1: subject {type,id}, action {name}, resource {type,id} are required; context is
 * optional, its access_token the agent's token. The defaults at index d (a batch's top
 * level, or -1) stand in for what item does not carry (§7.1.1). 0, or -1 with a description
 * in e. */
static int parse_one(const struct jscan *j, int item, int d, struct evaluation *ev, struct oerr *e)
{
	int sub = jscan_get(j, item, "subject"), act = jscan_get(j, item, "action");
	int res = jscan_get(j, item, "resource"), ctx = jscan_get(j, item, "context");
	if (d >= 0) {
		sub = sub >= 0 ? sub : jscan_get(j, d, "subject");
		act = act >= 0 ? act : jscan_get(j, d, "action");
		res = res >= 0 ? res : jscan_get(j, d, "resource");
		ctx = ctx >= 0 ? ctx : jscan_get(j, d, "context");
	}
	memset(ev, 0, sizeof *ev);
	if (jscan_type(j, sub) != JS_OBJECT || member_str(j, sub, "type", &ev->subject_type) < 0 ||
	    member_str(j, sub, "id", &ev->subject_id) < 0 || !ev->subject_type || !ev->subject_id) {
		oerr_set(e, 400, "invalid_request", "subject must be an object with a type and an id");
		return -1;
	}
	if (jscan_type(j, act) != JS_OBJECT || member_str(j, act, "name", &ev->action) < 0 || !ev->action) {
		oerr_set(e, 400, "invalid_request", "action must be an object with a name");
		return -1;
	}
	if (jscan_type(j, res) != JS_OBJECT || member_str(j, res, "type", &ev->resource_type) < 0 ||
	    member_str(j, res, "id", &ev->resource_id) < 0 || !ev->resource_type || !ev->resource_id) {
		oerr_set(e, 400, "invalid_request", "resource must be an object with a type and an id");
		return -1;
	}
	if (ctx >= 0 && jscan_type(j, ctx) != JS_OBJECT) {
		oerr_set(e, 400, "invalid_request", "context must be an object");
		return -1;
	}
	int at = ctx >= 0 ? jscan_get(j, ctx, "access_token") : -1;
	if (at >= 0 && (jscan_type(j, at) != JS_STRING || j->v[at].n > TOKEN_MAX_LEN)) {
		oerr_set(e, 400, "invalid_request", "context.access_token must be a token string");
		return -1;
	}
	/* the token is read where the body's reader decoded it: no copy */
	ev->token = at >= 0 ? j->v[at].s : NULL;
	ev->token_len = at >= 0 ? j->v[at].n : 0;
	return 0;
}

/* §7.1.2: options.evaluations_semantic. 0, or -1 (e set). */
static int parse_semantic(const struct jscan *j, enum semantic *sem, struct oerr *e)
{
	*sem = EXECUTE_ALL;
	int opt = jscan_get(j, 0, "options");
	if (opt < 0)
		return 0;
	int v = jscan_type(j, opt) == JS_OBJECT ? jscan_get(j, opt, "evaluations_semantic") : -1;
	if (jscan_type(j, opt) == JS_OBJECT && v < 0)
		return 0;
	const char *s = jscan_type(j, v) == JS_STRING ? j->v[v].s : NULL;
	if (s && strcmp(s, "execute_all") == 0)
		*sem = EXECUTE_ALL;
	else if (s && strcmp(s, "deny_on_first_deny") == 0)
		*sem = DENY_ON_FIRST_DENY;
	else if (s && strcmp(s, "permit_on_first_permit") == 0)
		*sem = PERMIT_ON_FIRST_PERMIT;
	else {
		oerr_set(
			e, 400, "invalid_request",
			"options.evaluations_semantic must be execute_all, deny_on_first_deny or permit_on_first_permit");
		return -1;
	}
	return 0;
}

static void authzen_finish(struct http_req *r, int rc)
{
	struct authzen_state *s = r->state;
	if (rc != 0) {
		resp_error_simple(r, 503, "temporarily_unavailable", "audit trail unavailable; retry");
		return;
	}
	if (s->refused) {
		resp_error(r, &s->err);
		return;
	}
	struct buf b;
	buf_init(&b, 64 * 1024);
	if (!s->single)
		buf_puts(&b, "{\"evaluations\":[");
	for (size_t i = 0; i < s->n; i++) {
		const struct evaluation *e = &s->ev[i];
		metrics_count("warrant_evaluations_total", "decision", e->decision ? "true" : "false");
		buf_puts(&b, i ? ",{" : "{");
		buf_puts(&b, e->decision ? "\"decision\":true" : "\"decision\":false");
		if (e->reason) {
			buf_puts(&b, ",\"context\":{\"reason\":");
			buf_json_cstr(&b, e->reason);
			buf_puts(&b, "}");
		}
		buf_puts(&b, "}");
	}
	if (!s->single)
		buf_puts(&b, "]}");
	resp_json(r, 200, &b);
	r->resp.no_store = 1;
}

/* Reads the caller's credentials and the JSON body, and authenticates the caller. Returns
 * 0 to evaluate, 1 when an answer is set (H_DONE), 2 when a refusal row must be committed. */
static int authzen_begin(struct http_req *r, struct authzen_state *s)
{
	struct oerr e;
	memset(&e, 0, sizeof e);
	form_parse("", 0, &s->empty);
	/* the resource server's credentials: HTTP Basic (client_secret_basic), as at /introspect */
	if (client_cred_parse(r->authorization, r->authorization_len, &s->empty, &s->cred, &e) != 0) {
		resp_error(r, &e);
		return 1;
	}
	s->rc.client_addr = r->client_addr;
	s->rc.request_id = r->request_id;
	s->rc.via = "evaluation";
	if (rs_caller_authenticate(r->w, &s->cred, &s->rc, &s->err, &s->refusal) != 0) {
		s->refused = 1;
		return 2;
	}
	snprintf(r->agent_id, sizeof r->agent_id, "%s", s->rc.who.rs_id);
	/* RFC 8259, read in one pass (common/jscan.c: what jansson would accept, no tree built) */
	if (jscan_parse(r->body, r->body_len, &s->body) < 0) {
		resp_error_simple(r, 400, "invalid_request", "the body must be a JSON object");
		return 1;
	}
	return 0;
}

/* Room for n evaluations and their events. 0, or -1 with a 500 set. */
static int reserve(struct http_req *r, struct authzen_state *s, size_t n)
{
	s->events = calloc(n, sizeof *s->events);
	s->ev = calloc(n, sizeof *s->ev);
	if (!s->events || !s->ev) {
		resp_error_simple(r, 500, "server_error", "out of memory");
		return -1;
	}
	s->cap = n;
	return 0;
}

/* Evaluates the n parsed evaluations in order, stopping where the semantic says. */
static int run(struct http_req *r, struct authzen_state *s, size_t n, enum semantic sem)
{
	for (size_t i = 0; i < n; i++) {
		int rc = token_evaluate(r->w, &s->rc, &s->ev[i], &s->events[i]);
		s->n = i + 1;
		if (rc < 0) {
			resp_error_simple(r, 503, "temporarily_unavailable", "storage unavailable");
			return -1;
		}
		if ((sem == DENY_ON_FIRST_DENY && !s->ev[i].decision) ||
		    (sem == PERMIT_ON_FIRST_PERMIT && s->ev[i].decision))
			break;
	}
	return 0;
}

static enum hres commit(struct http_req *r, struct authzen_state *s)
{
	if (s->refused)
		return http_defer_single(r, audit_job, &s->refusal, authzen_finish);
	s->batch.ev = s->events;
	s->batch.n = s->n;
	if (s->n == 1)
		return http_defer_single(r, audit_job, &s->events[0], authzen_finish);
	return http_defer(r, audit_batch_job, &s->batch, authzen_finish);
}

static struct authzen_state *state_new(struct http_req *r)
{
	struct authzen_state *s = calloc(1, sizeof *s);
	if (!s) {
		resp_error_simple(r, 500, "server_error", "out of memory");
		return NULL;
	}
	r->state = s;
	r->state_free = authzen_free;
	return s;
}

/* §6: one evaluation. */
enum hres h_access_evaluation(struct http_req *r)
{
	struct authzen_state *s = state_new(r);
	if (!s)
		return H_DONE;
	int b = authzen_begin(r, s);
	if (b == 1)
		return H_DONE;
	if (b == 2)
		return commit(r, s);
	struct oerr e;
	memset(&e, 0, sizeof e);
	if (reserve(r, s, 1) < 0)
		return H_DONE;
	if (parse_one(&s->body, 0, -1, &s->ev[0], &e) < 0) {
		resp_error(r, &e);
		return H_DONE;
	}
	s->single = 1;
	if (run(r, s, 1, EXECUTE_ALL) < 0)
		return H_DONE;
	return commit(r, s);
}

/* §7: a batch; the top level's subject, action, resource and context are defaults for each
 * item (§7.1.1). Without items it is a single evaluation, answered as one (§7.1). */
enum hres h_access_evaluations(struct http_req *r)
{
	struct authzen_state *s = state_new(r);
	if (!s)
		return H_DONE;
	int b = authzen_begin(r, s);
	if (b == 1)
		return H_DONE;
	if (b == 2)
		return commit(r, s);
	struct oerr e;
	memset(&e, 0, sizeof e);
	enum semantic sem;
	int items = jscan_get(&s->body, 0, "evaluations");
	if (items >= 0 && jscan_type(&s->body, items) != JS_ARRAY) {
		resp_error_simple(r, 400, "invalid_request", "evaluations must be an array");
		return H_DONE;
	}
	size_t n = items >= 0 ? (size_t)s->body.v[items].size : 0;
	if (n > EVAL_BATCH_MAX) {
		oerr_set(&e, 400, "invalid_request", "at most %d evaluations in one request", EVAL_BATCH_MAX);
		resp_error(r, &e);
		return H_DONE;
	}
	if (parse_semantic(&s->body, &sem, &e) < 0) {
		resp_error(r, &e);
		return H_DONE;
	}
	s->single = n == 0;
	if (reserve(r, s, n ? n : 1) < 0)
		return H_DONE;
	for (size_t i = 0, item = n ? (size_t)items + 1 : 0; i < (n ? n : 1); i++, item = s->body.v[item].next) {
		if (jscan_type(&s->body, (int)item) != JS_OBJECT) {
			resp_error_simple(r, 400, "invalid_request", "each evaluation must be an object");
			return H_DONE;
		}
		if (parse_one(&s->body, (int)item, n ? 0 : -1, &s->ev[i], &e) < 0) {
			char d[160];
			snprintf(d, sizeof d, "%.150s", e.desc);
			oerr_set(&e, 400, "invalid_request", "evaluations[%zu]: %s", i, d);
			resp_error(r, &e);
			return H_DONE;
		}
	}
	if (run(r, s, n ? n : 1, sem) < 0)
		return H_DONE;
	return commit(r, s);
}

/* §9: the PDP's metadata, at the well-known path of its identifier (the issuer). */
enum hres h_authzen_configuration(struct http_req *r)
{
	const char *iss = r->w->issuer;
	struct buf b;
	buf_init(&b, 4096);
	buf_puts(&b, "{\"policy_decision_point\":");
	buf_json_cstr(&b, iss);
	buf_printf(&b, ",\"access_evaluation_endpoint\":\"%s/access/v1/evaluation\"", iss);
	buf_printf(&b, ",\"access_evaluations_endpoint\":\"%s/access/v1/evaluations\"", iss);
	buf_puts(&b, "}");
	resp_json(r, 200, &b);
	r->resp.cache = "public, max-age=3600";
	return H_DONE;
}
