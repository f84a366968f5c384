/* oidc_login.h - owners' sign-in to the console through the company's OpenID Connect
 * provider (`serve --owner-oidc-issuer URL --owner-oidc-client-id ID
 * --owner-oidc-client-secret-file F`): the authorization code flow (OpenID Connect Core
 * 1.0 §3.1) with PKCE S256 (RFC 7636), `state` and `nonce`.
 *
 * A sign-in in progress is a row (console_logins) keyed by the SHA-256 of a random value
 * held in the browser's sign-in cookie, so the callback may reach any node, and a `state`
 * that arrives without that browser's cookie is refused (login CSRF). The row is taken (read
 * and deleted) once. The ID token is verified against the provider's JWKS: signature, iss,
 * aud (and azp), exp, iat, nonce; email_verified must be true, and the owner is the one of
 * that email (case-insensitive), active. Every refusal is audited as owner.login_failed with
 * its reason; nothing of a token or code is written anywhere.
 *
 * The provider's discovery document and key set are fetched with libcurl on the worker
 * thread of the request that needs them (OIDC_FETCH_TIMEOUT_MS each, https:// or loopback
 * http://, no redirects, OIDC_BODY_MAX bytes), and cached: discovery for
 * OIDC_DISCOVERY_TTL_S (after a failure, not fetched again for OIDC_RETRY_MIN_MS), keys until a token names a kid they
 * lack (fetched again at most once every OIDC_JWKS_REFETCH_MIN_MS). */
#ifndef WARRANT_OIDC_LOGIN_H
#define WARRANT_OIDC_LOGIN_H
#include "../common/oerr.h"
#include "../core/warrant.h"
#include "login.h"

#define OIDC_FETCH_TIMEOUT_MS 5000
#define OIDC_BODY_MAX (1 << 20)
#define OIDC_DISCOVERY_TTL_S 3600
#define OIDC_JWKS_REFETCH_MIN_MS 30000
#define OIDC_RETRY_MIN_MS 10000 /* after a failed discovery, sign-ins are refused this long */
#define OIDC_LOGIN_TTL_S 600    /* seconds a sign-in may take at the provider */
#define OIDC_LEEWAY_S 60        /* clock skew allowed for the ID token's exp and iat */
#define OIDC_URL_MAX 4096
#define OIDC_COOKIE_LEN 43  /* base64url of 256 random bits */
#define OIDC_PARAM_MAX 2048 /* bytes of a code or state from the callback */

/* Sets the provider (from `serve`); reads the client secret from secret_file (one line).
 * 0, or -1 with a one-line message in err. */
int oidc_login_configure(const char *issuer, const char *client_id, const char *secret_file, char *err, size_t errlen);
/* 1 when a provider is configured. */
int oidc_login_enabled(void);

struct oidc_start {
	const char *redirect_uri;         /* this server's callback URL */
	char cookie[OIDC_COOKIE_LEN + 1]; /* the browser's sign-in cookie value */
	char url[OIDC_URL_MAX];           /* where to send the browser */
	struct oerr err;
};
/* Starts a sign-in: fetches discovery if not cached, stores the sign-in row. 0, or 1 with
 * err (503 when the provider cannot be reached), -1 on a database error. */
int oidc_login_start(struct warrant *w, struct oidc_start *s);

struct oidc_finish {
	const char *cookie, *state, *code, *error; /* from the browser; error: the provider's */
	const char *redirect_uri, *client_addr, *request_id;
	struct owner_session me; /* out */
	const char *reason;      /* out, when refused: static */
	struct oerr err;
};
/* Finishes a sign-in at the callback. 0 signed in (me set), 1 refused (audited; err and
 * reason set), -1 internal error. */
int oidc_login_finish(struct warrant *w, struct oidc_finish *f);
#endif
