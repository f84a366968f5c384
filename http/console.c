/* console.c - the owners' console at /console: its pages and assets (embedded at build
 * time), its security headers, sessions in cookies and CSRF checks, then the API
 * (console_api.c) and OpenID Connect sign-in (console_oidc.c).
 *
 * Every answer carries Content-Security-Policy: default-src 'self'; frame-ancestors
 * 'none' (no inline script or style, no third-party asset, never framed), X-Frame-Options
 * DENY, Referrer-Policy no-referrer and nosniff. Every state change needs the session's
 * CSRF token in the X-CSRF-Token header (compared in constant time) and, when the browser
 * sends an Origin, this server's origin. */
#include "console.h"

#include "../authz/oidc_login.h"
#include "../common/timeutil.h"
#include "console_assets.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONSOLE_CSP "default-src 'self'; frame-ancestors 'none'"
#define CONSOLE_SHELL "console.html"

static void secure_headers(struct http_req *r)
{
	resp_header(r, "Content-Security-Policy", CONSOLE_CSP);
	resp_header(r, "X-Frame-Options", "DENY");
	resp_header(r, "Referrer-Policy", "no-referrer");
	resp_header(r, "Cross-Origin-Opener-Policy", "same-origin");
}

void console_error(struct http_req *r, int status, const char *code, const char *desc)
{
	resp_error_simple(r, status, code, desc);
	r->resp.basic_challenge = 0; /* a browser would open its own password dialog */
}

int console_tls(const struct http_req *r) { return strncmp(r->w->issuer, "https://", 8) == 0; }

int console_cookie(const struct http_req *r, const char *name, char *out, size_t cap)
{
	const char *h = req_header(r, "Cookie");
	size_t nl = strlen(name);
	for (const char *p = h; p && *p;) {
		while (*p == ' ' || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			size_t vl = len - nl - 1;
			if (vl >= cap)
				return -1;
			memcpy(out, p + nl + 1, vl);
			out[vl] = '\0';
			return 0;
		}
		p += len;
	}
	return -1;
}

void console_session_cookie(struct http_req *r, const char *token)
{
	char v[256];
	int tls = console_tls(r);
	/* RFC 6265bis §4.1.3.2: a __Host- cookie is Secure, has Path=/ and no Domain */
	snprintf(v, sizeof v, "%s=%s; %s; HttpOnly; SameSite=Strict%s", tls ? CONSOLE_COOKIE_TLS : CONSOLE_COOKIE,
		 token ? token : "", tls ? "Path=/; Secure" : "Path=/console", token ? "" : "; Max-Age=0");
	resp_header(r, "Set-Cookie", v);
	OPENSSL_cleanse(v, sizeof v);
}

int console_session_start(struct http_req *r, const char *owner_id, const char *method, int json)
{
	struct session_new n;
	memset(&n, 0, sizeof n);
	n.owner_id = owner_id;
	n.method = method;
	n.client_addr = r->client_addr;
	n.request_id = r->request_id;
	if (warrant_write(r->w, session_create_job, &n) != 0) {
		console_error(r, 503, "temporarily_unavailable", "could not start a session; retry");
		return -1;
	}
	if (json) {
		char t[32];
		struct buf b;
		buf_init(&b, 4096);
		buf_printf(&b, "{\"owner_id\":\"%s\",\"method\":\"%s\",\"csrf\":\"%s\",\"expires_at\":\"%s\"}",
			   owner_id, method, n.csrf, rfc3339(now_ms() + (int64_t)SESSION_ABSOLUTE_S * 1000, t));
		resp_json(r, 200, &b);
	}
	r->resp.no_store = 1;
	console_session_cookie(r, n.token);
	OPENSSL_cleanse(&n, sizeof n);
	return 0;
}

static const struct console_asset *asset(const char *name)
{
	for (int i = 0; i < console_nassets; i++)
		if (strcmp(console_assets[i].name, name) == 0)
			return &console_assets[i];
	return NULL;
}

static void serve_asset(struct http_req *r, const struct console_asset *a, int shell)
{
	const char *inm = req_header(r, "If-None-Match");
	struct buf b;
	buf_init(&b, a->len + 1);
	if (!shell && inm && strcmp(inm, a->etag) == 0) {
		resp_json(r, 304, &b);
		r->resp.ctype = NULL;
	} else {
		buf_put(&b, a->data, a->len);
		resp_json(r, 200, &b);
		r->resp.ctype = a->ctype;
	}
	/* the page itself never from a cache (who is signed in changes); assets revalidated */
	if (shell) {
		r->resp.no_store = 1;
	} else {
		r->resp.cache = "no-cache";
		resp_header(r, "ETag", a->etag);
	}
}

/* The pages: one shell (console.html) that app.js fills for the path it is at. */
static int is_page(const char *p)
{
	return strcmp(p, "/console/") == 0 || strcmp(p, "/console/signin") == 0 ||
	       strcmp(p, "/console/approvals") == 0 || strcmp(p, "/console/activity") == 0 ||
	       (strncmp(p, "/console/agents/", 16) == 0 && p[16] && !strchr(p + 16, '/'));
}

/* When the browser says where a state change comes from, it must be this server: the
 * issuer's origin (scheme://host[:port]). */
static int same_origin(const struct http_req *r)
{
	const char *o = req_header(r, "Origin");
	if (!o)
		return 1;
	const char *iss = r->w->issuer, *slash = strchr(iss + (console_tls(r) ? 8 : 7), '/');
	size_t n = slash ? (size_t)(slash - iss) : strlen(iss);
	return strlen(o) == n && strncmp(o, iss, n) == 0;
}

static int split_path(struct console_ctx *c, const char *rest)
{
	if (strlen(rest) >= sizeof c->path)
		return -1;
	snprintf(c->path, sizeof c->path, "%s", rest);
	for (char *save = NULL, *t = strtok_r(c->path, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (c->nseg == CONSOLE_MAX_SEGMENTS)
			return -1;
		c->seg[c->nseg++] = t;
	}
	return 0;
}

/* A signed-in owner's API call: the session, its CSRF token on a state change, a touch. */
static void api_call(struct console_ctx *c)
{
	struct http_req *r = c->r;
	int change = strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0;
	struct db *db = warrant_reader(r->w);
	int64_t now = now_ms();
	int ok =
		console_cookie(r, console_tls(r) ? CONSOLE_COOKIE_TLS : CONSOLE_COOKIE, c->token, sizeof c->token) == 0;
	int rc = ok && db ? session_check(db, c->token, now, &c->s) : 0;
	if (rc < 0) {
		console_error(r, 503, "temporarily_unavailable", "storage unavailable");
		return;
	}
	if (rc == 0) {
		console_error(r, 401, "unauthenticated", "sign in first");
		if (ok)
			console_session_cookie(r, NULL);
		return;
	}
	if (change) {
		const char *csrf = req_header(r, CONSOLE_CSRF_HEADER);
		if (!same_origin(r) || !session_csrf_ok(&c->s, csrf, csrf ? strlen(csrf) : 0)) {
			console_error(r, 403, "csrf", "missing or wrong CSRF token");
			return;
		}
	}
	if (!req_header(r, CONSOLE_POLL_HEADER) && session_needs_touch(&c->s, now)) {
		struct session_op o = {.now = now};
		memcpy(o.id, c->s.id, sizeof o.id);
		warrant_write(r->w, session_touch_job, &o); /* a lost touch only shortens the session */
	}
	console_api(c);
}

static void console_work(struct http_req *r)
{
	struct console_ctx c;
	memset(&c, 0, sizeof c);
	c.r = r;
	const char *p = r->path;
	if (strcmp(p, "/console/oidc/start") == 0)
		console_oidc_start(r);
	else if (strcmp(p, "/console/oidc/callback") == 0)
		console_oidc_callback(r);
	else if (strcmp(p, "/console/api/signin") == 0) {
		if (strcmp(r->method, "POST") != 0)
			console_error(r, 405, "invalid_request", "method not allowed");
		else if (!same_origin(r))
			console_error(r, 403, "csrf", "cross-origin sign-in refused");
		else
			console_signin(r);
	} else if (strcmp(p, "/console/api/config") == 0) {
		resp_json_str(r, 200, oidc_login_enabled() ? "{\"oidc\":true}" : "{\"oidc\":false}");
	} else if (split_path(&c, p + strlen("/console/api/")) < 0) {
		console_error(r, 404, "not_found", "no such resource");
	} else {
		api_call(&c);
	}
	r->resp.no_store = 1;
	json_decref(c.body);
	OPENSSL_cleanse(c.token, sizeof c.token);
	secure_headers(r);
}

enum hres h_console(struct http_req *r)
{
	const char *p = r->path;
	int get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
	if (strncmp(p, "/console/api/", 13) == 0 || strncmp(p, "/console/oidc/", 14) == 0)
		return http_offload(r, console_work);
	const struct console_asset *a = NULL;
	if (strcmp(p, "/console") == 0 && get) {
		resp_json_str(r, 302, "{}");
		resp_header(r, "Location", "/console/");
	} else if (!get && (is_page(p) || strncmp(p, "/console/assets/", 16) == 0)) {
		console_error(r, 405, "invalid_request", "method not allowed");
		r->resp.allow = "GET";
	} else if (is_page(p) && (a = asset(CONSOLE_SHELL))) {
		serve_asset(r, a, 1);
	} else if (strncmp(p, "/console/assets/", 16) == 0 && (a = asset(p + 16)) && strcmp(a->name, CONSOLE_SHELL)) {
		serve_asset(r, a, 0);
	} else {
		console_error(r, 404, "not_found", "no such page");
	}
	secure_headers(r);
	return H_DONE;
}
