/* check.c - GET /check (also HEAD): forward authentication for gateways (nginx
 * auth_request, Caddy forward_auth, Traefik ForwardAuth, Envoy ext_authz). The gateway
 * passes the agent's Authorization header through and authenticates itself in
 * X-Warrant-Resource-Authorization; the decision is token/evaluate.c's. */
#include "conn.h"

#include "../common/timeutil.h"
#include "../common/verbs.h"
#include "../token/dpop.h"
#include "../token/evaluate.h"
#include "metrics.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHECK_AUTH_HEADER "X-Warrant-Resource-Authorization"
#define CHECK_ACTION_HEADER "X-Warrant-Action"
#define CHECK_RESOURCE_HEADER "X-Warrant-Resource"

struct check_state {
	struct client_cred cred;
	struct form empty;
	struct rs_caller rc;
	struct oerr err;
	int refused;
	struct evaluation ev;
	struct audit_event audit;
	char action[EVAL_FIELD_MAX + 1];
	char rtype[EVAL_FIELD_MAX + 1], rid[EVAL_FIELD_MAX + 1];
	struct dpop_proof proof; /* an accepted proof: its jti is claimed before the answer */
};

static void check_free(void *p)
{
	struct check_state *s = p;
	evaluation_free(&s->ev);
	audit_event_clear(&s->audit);
	client_cred_wipe(&s->cred);
	form_free(&s->empty);
	free(s);
}

static const char *header(const struct http_req *r, const char *name, size_t *n)
{
	const struct conn *c = r->glue;
	const char *v = NULL;
	size_t len = 0;
	if (MHD_lookup_connection_value_n(c->mc, MHD_HEADER_KIND, name, strlen(name), &v, &len) != MHD_YES)
		return NULL;
	if (n)
		*n = len;
	return v;
}

/* RFC 6750 §3: the challenge, with an error code when a token was given (§3.1). */
static void challenge(struct http_req *r, int status, const char *error, const char *desc, const char *scope)
{
	char v[EVAL_FIELD_MAX + 128];
	if (!error) {
		r->resp.status = status;
		r->resp.no_store = 1;
		resp_header(r, "WWW-Authenticate", "Bearer realm=\"warrant\"");
		return;
	}
	resp_error_simple(r, status, error, desc);
	if (scope)
		snprintf(v, sizeof v, "Bearer realm=\"warrant\", error=\"%s\", scope=\"%s\"", error, scope);
	else
		snprintf(v, sizeof v, "Bearer realm=\"warrant\", error=\"%s\"", error);
	resp_header(r, "WWW-Authenticate", v);
}

static void check_finish(struct http_req *r, int rc)
{
	struct check_state *s = r->state;
	const struct evaluation *e = &s->ev;
	if (rc != 0) {
		resp_error_simple(r, 503, "temporarily_unavailable", "audit trail unavailable; retry");
		return;
	}
	if (s->refused) {
		/* the gateway's credentials are not the agent's: no Basic challenge goes through it */
		s->err.basic_challenge = 0;
		resp_error(r, &s->err);
		return;
	}
	metrics_count("warrant_checks_total", "decision", e->decision ? "true" : "false");
	if (e->decision) {
		const struct tok *t = e->tok;
		r->resp.status = 200;
		r->resp.no_store = 1;
		resp_header(r, "X-Warrant-Agent", t->sub);
		resp_header(r, "X-Warrant-Owner", t->owner_id);
		resp_header(r, "X-Warrant-Run", t->run_id);
		resp_header(r, "X-Warrant-Workspace", t->ws);
		resp_header(r, "X-Warrant-Scope", e->scope);
		/* the agent making the request: an exchanged token's current actor (RFC 8693
		 * §4.1), acting for X-Warrant-Agent, else the agent itself. Always sent, so a
		 * gateway that copies it replaces whatever a client put there. */
		resp_header(r, "X-Warrant-Actor", e->act_sub[0] ? e->act_sub : t->sub);
		return;
	}
	if (strcmp(e->reason, EVAL_NO_TOKEN) == 0) {
		challenge(r, 401, NULL, NULL, NULL);
	} else if (strcmp(e->reason, EVAL_DPOP_PROOF) == 0) {
		/* RFC 9449 §7.1 */
		resp_error_simple(r, 401, "invalid_dpop_proof", "the DPoP proof is not acceptable");
		resp_header(r, "WWW-Authenticate",
			    "DPoP realm=\"warrant\", error=\"invalid_dpop_proof\", "
			    "algs=\"ES256 RS256 PS256 EdDSA\"");
	} else if (strcmp(e->reason, EVAL_SCOPE) == 0)
		challenge(r, 403, "insufficient_scope", "the token does not hold the action", s->action);
	else
		challenge(r, 401, "invalid_token", "the token is not active for this resource server", NULL);
}

static enum MHD_Result count_dpop(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	(void)value;
	if (strcasecmp(key, DPOP_HEADER) == 0)
		(*(int *)cls)++;
	return MHD_YES;
}

/* The URL the gateway was asked for, from its X-Forwarded-Proto, -Host and -Uri, without
 * the query (RFC 9449 §4.3: htu has none). 0, or -1 when the gateway did not say. */
static int forwarded_url(const struct http_req *r, char *out, size_t cap)
{
	const char *proto = header(r, "X-Forwarded-Proto", NULL), *host = header(r, "X-Forwarded-Host", NULL);
	const char *uri = header(r, "X-Forwarded-Uri", NULL);
	if (!proto || !host || !uri || uri[0] != '/')
		return -1;
	size_t path = strcspn(uri, "?#");
	int n = snprintf(out, cap, "%s://%s%.*s", proto, host, (int)path, uri);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* The agent's token from Authorization: "Bearer <token>" (RFC 6750 §2.1), or "DPoP <token>"
 * with exactly one DPoP proof for the request the gateway received (RFC 9449 §7.1: its
 * method and URL come in X-Forwarded-Method, -Proto, -Host and -Uri). */
static void read_token(struct http_req *r, struct check_state *s)
{
	struct evaluation *e = &s->ev;
	const char *a = r->authorization;
	size_t n = r->authorization_len;
	int dpop = 0;
	e->dpop_jkt = ""; /* the key binding is checked here */
	if (a && n > 7 && strncasecmp(a, "Bearer ", 7) == 0) {
		e->token = a + 7;
		e->token_len = n - 7;
	} else if (a && n > 5 && strncasecmp(a, "DPoP ", 5) == 0) {
		e->token = a + 5;
		e->token_len = n - 5;
		dpop = 1;
	}
	while (e->token && e->token_len && *e->token == ' ') {
		e->token++;
		e->token_len--;
	}
	if (!dpop)
		return;
	const struct conn *c = r->glue;
	int count = 0;
	MHD_get_connection_values(c->mc, MHD_HEADER_KIND, count_dpop, &count);
	size_t pn = 0;
	const char *proof = count == 1 ? header(r, DPOP_HEADER, &pn) : NULL;
	const char *htm = header(r, "X-Forwarded-Method", NULL);
	char htu[2048];
	const char *why = NULL;
	evaluation_dpop(e, proof, pn, htm, forwarded_url(r, htu, sizeof htu) == 0 ? htu : NULL, now_ms() / 1000,
			&s->proof, &why);
}

/* Writer job: claims an accepted DPoP proof's jti (single use on every node, RFC 9449
 * §11.1), refusing a replay, then writes the decision's row. */
static int check_job(struct db *db, void *arg)
{
	struct check_state *s = arg;
	if (s->ev.decision && s->ev.dpop && s->proof.jti[0]) {
		int c = dpop_claim(db, &s->proof);
		if (c < 0)
			return -1;
		if (c == 0) {
			s->ev.decision = 0;
			s->ev.reason = EVAL_DPOP_PROOF;
			evaluation_event(&s->rc, &s->ev, 0, &s->audit);
		}
	}
	return audit_insert(db, &s->audit);
}

/* X-Warrant-Action and X-Warrant-Resource (type/id). 0, or -1 with a 400 set. */
static int read_action(struct http_req *r, struct check_state *s)
{
	size_t n = 0;
	const char *v = header(r, CHECK_ACTION_HEADER, &n);
	if (v && n) {
		if (n > VERB_MAX_LEN || !verb_valid((slice){v, n})) {
			resp_error_simple(r, 400, "invalid_request",
					  CHECK_ACTION_HEADER " must be a verb, resource:action");
			return -1;
		}
		memcpy(s->action, v, n);
		s->action[n] = '\0';
		s->ev.action = s->action;
	}
	v = header(r, CHECK_RESOURCE_HEADER, &n);
	if (v && n) {
		const char *slash = memchr(v, '/', n);
		if (!slash || slash == v || n > EVAL_FIELD_MAX || memchr(v, '\0', n)) {
			resp_error_simple(r, 400, "invalid_request", CHECK_RESOURCE_HEADER " must be type/id");
			return -1;
		}
		snprintf(s->rtype, sizeof s->rtype, "%.*s", (int)(slash - v), v);
		snprintf(s->rid, sizeof s->rid, "%.*s", (int)(n - (size_t)(slash - v) - 1), slash + 1);
		s->ev.resource_type = s->rtype;
		s->ev.resource_id = s->rid;
	}
	return 0;
}

enum hres h_check(struct http_req *r)
{
	struct check_state *s = calloc(1, sizeof *s);
	if (!s) {
		resp_error_simple(r, 500, "server_error", "out of memory");
		return H_DONE;
	}
	r->state = s;
	r->state_free = check_free;
	form_parse("", 0, &s->empty);
	size_t n = 0;
	const char *gw = header(r, CHECK_AUTH_HEADER, &n);
	struct oerr e;
	memset(&e, 0, sizeof e);
	if (client_cred_parse(gw, gw ? n : 0, &s->empty, &s->cred, &e) != 0) {
		e.basic_challenge = 0;
		resp_error(r, &e);
		return H_DONE;
	}
	s->rc.client_addr = r->client_addr;
	s->rc.request_id = r->request_id;
	s->rc.via = "check";
	if (rs_caller_authenticate(r->w, &s->cred, &s->rc, &s->err, &s->audit) != 0) {
		s->refused = 1;
		return http_defer_single(r, audit_job, &s->audit, check_finish);
	}
	snprintf(r->agent_id, sizeof r->agent_id, "%s", s->rc.who.rs_id);
	if (read_action(r, s) < 0)
		return H_DONE;
	read_token(r, s);
	if (token_evaluate(r->w, &s->rc, &s->ev, &s->audit) < 0) {
		resp_error_simple(r, 503, "temporarily_unavailable", "storage unavailable");
		return H_DONE;
	}
	if (s->ev.dpop && s->ev.decision)
		return http_defer(r, check_job, s, check_finish);
	return http_defer_single(r, audit_job, &s->audit, check_finish);
}
