/* console_oidc.c - the console's OpenID Connect sign-in: /console/oidc/start sends the
 * browser to the provider, /console/oidc/callback takes it back (authz/oidc_login.h does
 * the protocol). The sign-in cookie is SameSite=Lax, Path=/console/oidc: the provider's
 * redirect back is a cross-site navigation, on which a Strict cookie would not come. */
#include "console.h"

#include "../authz/oidc_login.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#define CONSOLE_CALLBACK "/console/oidc/callback"

static void oidc_cookie(struct http_req *r, const char *value)
{
	char v[256];
	snprintf(v, sizeof v, "%s=%s; Path=/console/oidc; HttpOnly; SameSite=Lax; Max-Age=%d%s", CONSOLE_OIDC_COOKIE,
		 value ? value : "", value ? OIDC_LOGIN_TTL_S : 0, console_tls(r) ? "; Secure" : "");
	resp_header(r, "Set-Cookie", v);
}

/* A small page of its own (no script, so the CSP holds): after the provider's cross-site
 * redirect, the browser sends the Strict session cookie only on a navigation that starts
 * here, so the page moves on by itself (meta refresh) or by its link. */
static void page(struct http_req *r, int status, const char *msg, int go_on)
{
	struct buf b;
	buf_init(&b, 4096);
	buf_printf(
		&b,
		"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Warrant console</title>"
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">%s"
		"<link rel=\"stylesheet\" href=\"/console/assets/console.css\"></head><body><main class=\"signin\">"
		"<h1>Warrant</h1><p role=\"status\">%s</p><p><a href=\"/console/%s\">%s</a></p></main></body></html>\n",
		go_on ? "<meta http-equiv=\"refresh\" content=\"0;url=/console/\">" : "", msg, go_on ? "" : "signin",
		go_on ? "Continue to the console" : "Back to sign-in");
	resp_json(r, status, &b);
	r->resp.ctype = "text/html; charset=utf-8";
}

void console_oidc_start(struct http_req *r)
{
	if (strcmp(r->method, "GET") != 0) {
		console_error(r, 405, "invalid_request", "method not allowed");
		return;
	}
	if (!oidc_login_enabled()) {
		console_error(r, 404, "not_found", "OpenID Connect sign-in is not configured");
		return;
	}
	struct oidc_start s;
	char cb[ISSUER_MAX + 32];
	memset(&s, 0, sizeof s);
	snprintf(cb, sizeof cb, "%s%s", r->w->issuer, CONSOLE_CALLBACK);
	s.redirect_uri = cb;
	int rc = oidc_login_start(r->w, &s);
	if (rc != 0) {
		page(r, rc > 0 ? s.err.status : 500, "The sign-in provider cannot be reached now. Try again later.", 0);
		return;
	}
	resp_json_str(r, 302, "{}");
	resp_header(r, "Location", s.url);
	oidc_cookie(r, s.cookie);
	OPENSSL_cleanse(&s, sizeof s);
}

void console_oidc_callback(struct http_req *r)
{
	if (strcmp(r->method, "GET") != 0) {
		console_error(r, 405, "invalid_request", "method not allowed");
		return;
	}
	if (!oidc_login_enabled()) {
		console_error(r, 404, "not_found", "OpenID Connect sign-in is not configured");
		return;
	}
	char cookie[OIDC_COOKIE_LEN + 2] = "";
	char cb[ISSUER_MAX + 32];
	snprintf(cb, sizeof cb, "%s%s", r->w->issuer, CONSOLE_CALLBACK);
	struct oidc_finish f;
	memset(&f, 0, sizeof f);
	f.cookie = console_cookie(r, CONSOLE_OIDC_COOKIE, cookie, sizeof cookie) == 0 ? cookie : NULL;
	f.state = req_query(r, "state");
	f.code = req_query(r, "code");
	f.error = req_query(r, "error");
	f.redirect_uri = cb;
	f.client_addr = r->client_addr;
	f.request_id = r->request_id;
	int rc = oidc_login_finish(r->w, &f);
	OPENSSL_cleanse(cookie, sizeof cookie);
	if (rc < 0) {
		page(r, 500, "Sign-in failed on this server. Try again.", 0);
	} else if (rc > 0) {
		page(r, 403,
		     "Sign-in refused: this account is not an active owner here, or the provider did not vouch "
		     "for its email.",
		     0);
	} else {
		page(r, 200, "Signed in.", 1);
		if (console_session_start(r, f.me.id, "oidc", 0) < 0)
			page(r, 503, "Could not start a session. Try again.", 0);
	}
	oidc_cookie(r, NULL);
}
