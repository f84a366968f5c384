/* routes.c - handlers for /token, discovery, /jwks and health. Each parses, calls one
 * domain function and writes the answer. */
#include "http.h"

#include "../core/readiness.h"
#include "../token/issue.h"
#include "conn.h"
#include "metrics.h"

#include <openssl/crypto.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- POST /token (RFC 6749 §4.4) ---- */

struct token_state {
	struct token_issue t;
	struct form f;
};

static void token_state_free(void *p)
{
	struct token_state *s = p;
	token_issue_free(&s->t);
	form_free(&s->f);
	free(s);
}

static void token_finish(struct http_req *r, int rc)
{
	struct token_state *s = r->state;
	struct token_issue *t = &s->t;
	if (rc != 0 || t->err.code)
		token_issue_unreserve(t); /* nothing handed out: it does not count */
	snprintf(r->agent_id, sizeof r->agent_id, "%s", t->agent.id);
	if (rc != 0)
		metrics_count("warrant_tokens_refused_total", "reason", "audit_unavailable");
	else if (t->err.code && t->err.status == 429)
		metrics_count("warrant_rate_limited_total", NULL, NULL);
	else if (t->err.code && t->err.reason &&
		 (!strcmp(t->err.reason, "pending") || !strcmp(t->err.reason, "slow_down")))
		metrics_count("warrant_ciba_polls_total", "result", t->err.reason);
	else if (t->err.code)
		metrics_count("warrant_tokens_refused_total", "reason", t->err.reason ? t->err.reason : t->err.code);
	else
		metrics_count("warrant_tokens_issued_total", NULL, NULL);
	if (rc != 0) {
		/* the audit row did not commit: hand nothing out */
		resp_error_simple(r, 503, "temporarily_unavailable", "audit trail unavailable; retry");
		return;
	}
	if (t->err.code) {
		resp_error(r, &t->err);
		memcpy(r->resp.dpop_nonce, t->dpop_nonce, sizeof t->dpop_nonce); /* RFC 9449 §8 */
		return;
	}
	struct buf b;
	buf_init(&b, 32 * 1024);
	buf_puts(&b, "{\"access_token\":\"");
	buf_put(&b, t->jwt.p, t->jwt.len);
	/* RFC 9449 §5: a DPoP-bound token says so */
	buf_printf(&b, "\",\"token_type\":\"%s\",\"expires_in\":%d,\"scope\":", t->dpop_bound ? "DPoP" : "Bearer",
		   t->expires_in);
	buf_json_cstr(&b, t->scope);
	buf_puts(&b, ",\"run_id\":");
	buf_json_cstr(&b, t->run_id);
	if (t->exchange) /* RFC 8693 §2.2.1 */
		buf_puts(&b, ",\"issued_token_type\":\"" TOKEN_TYPE_ACCESS "\"");
	buf_puts(&b, "}");
	resp_json(r, 200, &b);
	r->resp.no_store = 1;
	memcpy(r->resp.dpop_nonce, t->dpop_nonce, sizeof t->dpop_nonce);
}

/* Counts the request's DPoP headers and keeps the first (RFC 9449 §4.3: exactly one). */
static enum MHD_Result dpop_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
				   const char *value, size_t value_size)
{
	(void)kind;
	struct token_issue *t = cls;
	if (key_size == sizeof DPOP_HEADER - 1 && strncasecmp(key, DPOP_HEADER, key_size) == 0) {
		if (t->dpop_count++ == 0) {
			t->dpop = value;
			t->dpop_len = value_size;
		}
	}
	return MHD_YES;
}

enum hres h_token(struct http_req *r)
{
	struct token_state *s = calloc(1, sizeof *s);
	if (!s) {
		resp_error_simple(r, 500, "server_error", "out of memory");
		return H_DONE;
	}
	r->state = s;
	r->state_free = token_state_free;
	struct token_issue *t = &s->t;
	t->client_addr = r->client_addr;
	t->request_id = r->request_id;
	struct conn *c = r->glue;
	if (c && c->mc)
		MHD_get_connection_values_n(c->mc, MHD_HEADER_KIND, dpop_header, t);
	struct oerr e;
	memset(&e, 0, sizeof e);
	if (!req_is_form(r)) {
		oerr_set(&e, 400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded");
		e.reason = "bad_content_type";
		token_issue_refuse(t, &e);
	} else {
		enum form_err fe = form_parse(r->body, r->body_len, &s->f);
		if (fe != FORM_OK) {
			oerr_set(&e, 400, "invalid_request", "malformed body: %s", form_err_text(fe));
			e.reason = "malformed_body";
			token_issue_refuse(t, &e);
		} else if (client_cred_parse(r->authorization, r->authorization_len, &s->f, &t->cred, &e) != 0) {
			token_issue_refuse(t, &e);
		} else {
			t->form = &s->f;
			token_issue(r->w, t);
		}
	}
	/* redeeming an approval writes two rows: that job needs its own savepoint (a DPoP
	 * proof's jti needs none: token_issue_job claims it first, and a claim left by a job
	 * that fails later only spends a proof the client would not send again) */
	if (t->approval_id[0])
		return http_defer(r, token_issue_job, t, token_finish);
	return http_defer_single(r, token_issue_job, t, token_finish);
}

/* ---- JWKS (RFC 7517 §5) ---- */

enum hres h_jwks(struct http_req *r)
{
	size_t n;
	char *j = keyring_jwks(r->w->keys, &n);
	if (!j) {
		resp_error_simple(r, 503, "temporarily_unavailable", "no keys loaded");
		return H_DONE;
	}
	r->resp.status = 200;
	r->resp.body = j;
	r->resp.len = n;
	r->resp.ctype = "application/json";
	/* downstream caches may hold the set this long: a next key is published at least
	 * this long before it signs (docs/operations.md) */
	snprintf(r->cache_buf, sizeof r->cache_buf, "public, max-age=%d", r->w->jwks_max_age);
	r->resp.cache = r->cache_buf;
	return H_DONE;
}

/* ---- metrics ---- */

static int loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 || strncmp(addr, "::ffff:127.", 11) == 0;
}

static const char *metrics_token;

void metrics_set_token(const char *t) { metrics_token = t && *t ? t : NULL; }

enum hres h_metrics(struct http_req *r)
{
	if (metrics_token) {
		size_t tl = strlen(metrics_token);
		int ok = r->authorization && r->authorization_len == tl + 7 &&
			 strncmp(r->authorization, "Bearer ", 7) == 0 &&
			 CRYPTO_memcmp(r->authorization + 7, metrics_token, tl) == 0;
		if (!ok) {
			resp_error_simple(r, 401, "invalid_token", "metrics need the configured bearer token");
			r->resp.bearer_challenge = 1;
			return H_DONE;
		}
	} else if (!loopback(r->client_addr)) {
		resp_error_simple(r, 403, "access_denied", "metrics are served to loopback clients only");
		return H_DONE;
	}
	struct buf b;
	buf_init(&b, 4 << 20);
	metrics_render(r->w, &b);
	resp_json(r, 200, &b);
	r->resp.ctype = "text/plain; version=0.0.4";
	r->resp.no_store = 1;
	return H_DONE;
}

/* ---- health ---- */

enum hres h_healthz(struct http_req *r)
{
	resp_json_str(r, 200, "{\"status\":\"ok\"}");
	return H_DONE;
}

enum hres h_readyz(struct http_req *r)
{
	const char *why;
	if (readiness(r->w, &why))
		resp_json_str(r, 200, "{\"status\":\"ready\"}");
	else
		resp_error_simple(r, 503, "temporarily_unavailable", why);
	return H_DONE;
}
