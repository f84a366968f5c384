/* routes_tokens.c - POST /introspect (RFC 7662) and POST /revoke (RFC 7009). */
#include "http.h"

#include "../token/ciba.h"
#include "../token/introspect.h"
#include "../token/revoke.h"
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

struct introspect_state {
	struct introspection q;
	struct form f;
};

static void introspect_free(void *p)
{
	struct introspect_state *s = p;
	introspection_free(&s->q);
	form_free(&s->f);
	free(s);
}

static void introspect_finish(struct http_req *r, int rc)
{
	struct introspect_state *s = r->state;
	if (rc != 0) {
		resp_error_simple(r, 503, "temporarily_unavailable", "audit trail unavailable; retry");
		return;
	}
	if (s->q.err.code) {
		resp_error(r, &s->q.err);
		return;
	}
	metrics_count("warrant_introspections_total", "result", s->q.active ? "active" : "inactive");
	/* RFC 7662 §2.2: an inactive token carries nothing else */
	resp_json_str(r, 200, s->q.active ? s->q.tok->active_json : "{\"active\":false}");
	r->resp.no_store = 1;
}

/* Parses the form and the caller's Basic credentials; 0 ok, or an error response is set. */
static int parse_common(struct http_req *r, struct form *f, struct client_cred *c)
{
	struct oerr e;
	memset(&e, 0, sizeof e);
	if (!req_is_form(r)) {
		resp_error_simple(r, 400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded");
		return -1;
	}
	enum form_err fe = form_parse(r->body, r->body_len, f);
	if (fe != FORM_OK) {
		oerr_set(&e, 400, "invalid_request", "malformed body: %s", form_err_text(fe));
		resp_error(r, &e);
		return -1;
	}
	if (client_cred_parse(r->authorization, r->authorization_len, f, c, &e) != 0) {
		resp_error(r, &e);
		return -1;
	}
	return 0;
}

enum hres h_introspect(struct http_req *r)
{
	struct introspect_state *s = calloc(1, sizeof *s);
	if (!s) {
		resp_error_simple(r, 500, "server_error", "out of memory");
		return H_DONE;
	}
	r->state = s;
	r->state_free = introspect_free;
	if (parse_common(r, &s->f, &s->q.cred) < 0)
		return H_DONE;
	s->q.form = &s->f;
	s->q.client_addr = r->client_addr;
	s->q.request_id = r->request_id;
	token_introspect(r->w, &s->q);
	return http_defer_single(r, audit_job, &s->q.audit, introspect_finish);
}

struct revoke_state {
	struct token_revocation t;
	struct form f;
};

static void revoke_free(void *p)
{
	struct revoke_state *s = p;
	token_revocation_free(&s->t);
	form_free(&s->f);
	free(s);
}

static void revoke_finish(struct http_req *r, int rc)
{
	struct revoke_state *s = r->state;
	if (rc < 0) {
		resp_error_simple(r, 503, "temporarily_unavailable", "revocation not recorded; retry");
		return;
	}
	snprintf(r->agent_id, sizeof r->agent_id, "%s", s->t.agent_id);
	if (s->t.refused) {
		resp_error(r, &s->t.err);
		return;
	}
	if (s->t.revoke)
		metrics_count("warrant_revocations_total", NULL, NULL);
	/* RFC 7009 §2.2: 200 with an empty body, whatever the token was */
	r->resp.status = 200;
	r->resp.no_store = 1;
}

enum hres h_revoke(struct http_req *r)
{
	struct revoke_state *s = calloc(1, sizeof *s);
	if (!s) {
		resp_error_simple(r, 500, "server_error", "out of memory");
		return H_DONE;
	}
	r->state = s;
	r->state_free = revoke_free;
	if (parse_common(r, &s->f, &s->t.cred) < 0)
		return H_DONE;
	s->t.form = &s->f;
	s->t.client_addr = r->client_addr;
	s->t.request_id = r->request_id;
	token_revoke_prepare(r->w, &s->t);
	return http_defer(r, token_revoke_job, &s->t, revoke_finish);
}

/* ---- POST /bc-authorize (OpenID CIBA, poll mode) ---- */

struct bc_state {
	struct bc_request b;
	struct form f;
};

static void bc_free(void *p)
{
	struct bc_state *s = p;
	bc_request_free(&s->b);
	form_free(&s->f);
	free(s);
}

static void bc_finish(struct http_req *r, int rc)
{
	struct bc_state *s = r->state;
	snprintf(r->agent_id, sizeof r->agent_id, "%s", s->b.agent.id);
	if (rc != 0) {
		resp_error_simple(r, 503, "temporarily_unavailable", "request not recorded; retry");
		return;
	}
	if (!s->b.ok) {
		resp_error(r, &s->b.err);
		return;
	}
	struct buf b;
	buf_init(&b, 1024);
	buf_printf(&b, "{\"auth_req_id\":\"%s\",\"expires_in\":%d,\"interval\":%d}", s->b.id, CIBA_EXPIRES_IN,
		   CIBA_INTERVAL);
	resp_json(r, 200, &b);
	r->resp.no_store = 1;
}

enum hres h_bc_authorize(struct http_req *r)
{
	struct bc_state *s = calloc(1, sizeof *s);
	if (!s) {
		resp_error_simple(r, 500, "server_error", "out of memory");
		return H_DONE;
	}
	r->state = s;
	r->state_free = bc_free;
	if (parse_common(r, &s->f, &s->b.cred) < 0)
		return H_DONE;
	s->b.form = &s->f;
	s->b.client_addr = r->client_addr;
	s->b.request_id = r->request_id;
	if (bc_authorize_prepare(r->w, &s->b) < 0) {
		resp_error_simple(r, 500, "server_error", "internal error");
		return H_DONE;
	}
	return http_defer(r, bc_authorize_job, &s->b, bc_finish);
}
