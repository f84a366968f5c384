/* intake.c - request intake: the route table, a request's first look (framing, route,
 * announced size), body collection, dispatch to its handler, and the log line and
 * metrics when it completes. */
#include "conn.h"

#include "../common/log.h"
#include "../common/rand.h"
#include "../common/timeutil.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static const struct route routes[] = {
	{"/token", "POST", h_token, 0},
	{"/introspect", "POST", h_introspect, 0},
	{"/revoke", "POST", h_revoke, 0},
	{"/bc-authorize", "POST", h_bc_authorize, 0},
	{"/access/v1/evaluation", "POST", h_access_evaluation, 0},
	{"/access/v1/evaluations", "POST", h_access_evaluations, 0},
	{"/.well-known/authzen-configuration", "GET", h_authzen_configuration, 0},
	{"/check", "GET", h_check, 0},
	{"/authorize", NULL, h_authorize, 0},
	{"/.well-known/oauth-authorization-server", "GET", h_discovery, 0},
	{"/.well-known/openid-configuration", "GET", h_discovery, 0},
	{"/jwks", "GET", h_jwks, 0},
	{"/statuslists/", "GET", h_statuslist, 1},
	{"/healthz", "GET", h_healthz, 0},
	{"/readyz", "GET", h_readyz, 0},
	{"/metrics", "GET", h_metrics, 0},
	{"/audit/checkpoints", "GET", h_audit_checkpoints, 0},
	{"/v1/", NULL, h_v1, 1},
	{"/console", NULL, h_console, 1},
};

static const struct route *find_route(const char *url, const char *method, const char **allow)
{
	*allow = NULL;
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		if (routes[i].prefix ? strncmp(routes[i].path, url, strlen(routes[i].path)) != 0
				     : strcmp(routes[i].path, url) != 0)
			continue;
		if (!routes[i].method)
			return &routes[i];
		if (strcmp(routes[i].method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0))
			return &routes[i];
		*allow = routes[i].method;
	}
	return NULL;
}

const char *req_query(const struct http_req *r, const char *name)
{
	for (int i = 0; i < r->nquery; i++)
		if (strcmp(r->query[i].name, name) == 0)
			return r->query[i].value;
	return NULL;
}

const char *req_header(const struct http_req *r, const char *name)
{
	const struct conn *c = r->glue;
	return MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, name);
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct http_req *r = cls;
	if (r->nquery < (int)(sizeof r->query / sizeof r->query[0])) {
		r->query[r->nquery].name = key;
		r->query[r->nquery].value = value ? value : "";
		r->nquery++;
	}
	return MHD_YES;
}

static void request_id(char out[40])
{
	static _Thread_local unsigned long long ctr;
	static _Thread_local char prefix[17];
	if (!prefix[0]) {
		unsigned char r[8];
		rand_bytes(r, sizeof r);
		for (int i = 0; i < 8; i++)
			snprintf(prefix + 2 * i, 3, "%02x", r[i]);
	}
	snprintf(out, 40, "%s%08llx", prefix, ++ctr);
}

static void client_addr(struct MHD_Connection *mc, char out[64])
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	out[0] = '\0';
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, 64);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, 64);
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct conn *conn_new(struct MHD_Connection *mc, const char *url, const char *method)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	atomic_fetch_add(&srv_inflight, 1);
	c->start_ns = mono_ns();
	c->mc = mc;
	c->req.w = srv_w;
	c->req.glue = c;
	c->req.method = method;
	c->req.path = url;
	request_id(c->req.request_id);
	client_addr(mc, c->req.client_addr);
	buf_init(&c->body, srv_opts->max_body);
	return c;
}

/* The header section is complete: refuse what cannot be framed or routed, before any
 * handler (and so any authentication) sees the request. */
static enum MHD_Result first_look(struct conn *c, const char *url, const char *method, const char *version)
{
	if (framing_check_headers(c->mc, method, version, &c->framing) < 0) {
		/* RFC 9112 §6.3, §5: answered, and the connection closed (nothing after it is read) */
		resp_error_simple(&c->req, c->framing.status, "invalid_request", c->framing.why);
		c->req.resp.close = 1;
		return respond_queue(c);
	}
	const char *allow;
	c->route = find_route(url, method, &allow);
	if (!c->route) {
		if (allow) {
			resp_error_simple(&c->req, 405, "invalid_request", "method not allowed");
			c->req.resp.allow = allow;
		} else {
			resp_error_simple(&c->req, 404, "not_found", "no such endpoint");
		}
		return respond_queue(c);
	}
	const char *cl = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, "Content-Length");
	int64_t n;
	if (cl && (parse_i64(cl, 0, INT64_MAX, &n) < 0 || (uint64_t)n > srv_opts->max_body)) {
		resp_error_simple(&c->req, 413, "invalid_request", "request body too large");
		return respond_queue(c);
	}
	return MHD_YES;
}

/* A piece of body: kept up to --max-body; a chunk line that hides bytes is remembered. */
static void collect_body(struct conn *c, const char *upload, size_t n)
{
	if (framing_check_chunk(&c->framing, upload, srv_opts->max_header) < 0)
		c->bad_chunk = 1;
	if (buf_put(&c->body, upload, n) < 0)
		c->too_large = 1;
}

/* The body is in: refuse what must be, then run the handler. */
static enum MHD_Result dispatch(struct conn *c)
{
	struct MHD_Connection *mc = c->mc;
	c->handled = 1;
	sweep_busy(mc, 1);
	if (atomic_load(&srv_draining)) {
		resp_error_simple(&c->req, 503, "temporarily_unavailable", "shutting down");
		c->req.resp.retry_after = 1;
		return respond_queue(c);
	}
	if (c->bad_chunk) {
		/* RFC 9112 §7.1.1 */
		resp_error_simple(&c->req, 400, "invalid_request", "malformed chunk extension");
		c->req.resp.close = 1;
		return respond_queue(c);
	}
	if (c->too_large) {
		resp_error_simple(&c->req, 413, "invalid_request", "request body too large");
		return respond_queue(c);
	}
	if (buf_put(&c->body, "", 0) < 0) { /* NUL-terminated, even when empty */
		resp_error_simple(&c->req, 500, "server_error", "out of memory");
		return respond_queue(c);
	}
	MHD_get_connection_values(mc, MHD_GET_ARGUMENT_KIND, collect_query, &c->req);
	c->req.body = c->body.p;
	c->req.body_len = c->body.len;
	c->req.content_type = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Type");
	const char *az = NULL;
	size_t azl = 0;
	if (MHD_lookup_connection_value_n(mc, MHD_HEADER_KIND, "Authorization", 13, &az, &azl) == MHD_YES) {
		c->req.authorization = az;
		c->req.authorization_len = azl;
	}
	if (c->route->fn(&c->req) == H_ASYNC)
		return MHD_YES;
	return respond_queue(c);
}

enum MHD_Result intake_request(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
			       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)cls;
	struct conn *c = *con_cls;
	if (!c) {
		c = conn_new(mc, url, method);
		if (!c)
			return MHD_NO;
		*con_cls = c;
		return first_look(c, url, method, version);
	}
	if (c->responded)
		return MHD_YES; /* an early answer is queued; the rest of the body is discarded */
	if (*upload_size) {
		collect_body(c, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (c->handled)
		return atomic_load(&c->ready) ? respond_queue(c) : MHD_YES;
	return dispatch(c);
}

/* One JSON line per request; the method is the client's, so only a word of letters goes
 * in (anything else is "?"). */
static void log_request(const struct conn *c, const char *route, int status, int64_t ns,
			enum MHD_RequestTerminationCode toe)
{
	char method[16] = "?";
	const char *m = c->req.method;
	size_t ml = m ? strlen(m) : 0;
	int ok = ml > 0 && ml < sizeof method;
	for (size_t i = 0; ok && i < ml; i++)
		ok = (m[i] >= 'A' && m[i] <= 'Z') || (m[i] >= 'a' && m[i] <= 'z');
	if (ok)
		memcpy(method, m, ml + 1);
	log_event(LOG_INFO, "request",
		  ",\"method\":\"%s\",\"route\":\"%s\",\"status\":%d,\"latency_ms\":%.3f,\"client_addr\":\"%s\","
		  "\"agent_id\":\"%s\",\"request_id\":\"%s\"%s",
		  method, route, status, (double)ns / 1e6, c->req.client_addr, c->req.agent_id, c->req.request_id,
		  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : ",\"aborted\":true");
}

void intake_completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	struct conn *c = *con_cls;
	if (!c)
		return;
	sweep_busy(mc, 0);
	int64_t ns = mono_ns() - c->start_ns;
	const char *route = c->route ? c->route->path : "other";
	int status = c->responded ? c->req.resp.status : 0;
	metrics_observe(route, status, ns);
	if (log_enabled(LOG_INFO))
		log_request(c, route, status, ns, toe);
	if (c->req.state_free)
		c->req.state_free(c->req.state);
	resp_free(&c->req.resp);
	buf_free(&c->body);
	free(c);
	*con_cls = NULL;
	atomic_fetch_sub(&srv_inflight, 1);
}
