/* console.h - what the files of the owners' console (/console) share: the request's
 * context, cookies, and the handlers of its API and of OpenID Connect sign-in. */
#ifndef WARRANT_HTTP_CONSOLE_H
#define WARRANT_HTTP_CONSOLE_H
#include "../authz/session.h"
#include "http.h"

#include <jansson.h>

#define CONSOLE_MAX_SEGMENTS 8
#define CONSOLE_COOKIE "warrant_console"            /* plain http (loopback) */
#define CONSOLE_COOKIE_TLS "__Host-warrant_console" /* https: Secure, Path=/ */
#define CONSOLE_OIDC_COOKIE "warrant_oidc"          /* the browser's sign-in in progress */
#define CONSOLE_CSRF_HEADER "X-CSRF-Token"
#define CONSOLE_POLL_HEADER "X-Console-Poll" /* a page's polling: not a use of the session */

struct console_ctx {
	struct http_req *r;
	struct console_session s; /* when signed in */
	char token[SESSION_TOKEN_LEN + 1];
	const char *seg[CONSOLE_MAX_SEGMENTS]; /* the path after /console/api/ */
	int nseg;
	char path[512];
	json_t *body;
};

/* The API under /console/api/ for a signed-in owner whose CSRF token was checked (for state
 * changes): sets c->r's response. */
void console_api(struct console_ctx *c);
/* GET /console/api/agents and friends need no more than this; sign-in is apart: */
void console_signin(struct http_req *r);
/* OpenID Connect: GET /console/oidc/start and /console/oidc/callback. */
void console_oidc_start(struct http_req *r);
void console_oidc_callback(struct http_req *r);

/* 1 when the server is reached over https (the issuer says so): cookies are Secure. */
int console_tls(const struct http_req *r);
/* Copies the value of cookie name into out (cap bytes): 0, or -1 when absent or too long. */
int console_cookie(const struct http_req *r, const char *name, char *out, size_t cap);
/* Sets (token non-NULL) or clears the session cookie on r's response. */
void console_session_cookie(struct http_req *r, const char *token);
/* Starts a session for an owner who just signed in and sets its cookie on r's response
 * (with json, a JSON body first: the owner, the method, the CSRF token); 0, or -1 (an
 * error answer set). */
int console_session_start(struct http_req *r, const char *owner_id, const char *method, int json);
/* A JSON error {"error","error_description"} with status; no-store. */
void console_error(struct http_req *r, int status, const char *code, const char *desc);
#endif
