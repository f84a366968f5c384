/* auth.h - client authentication: the one entry point for every endpoint where an agent
 * or a resource server authenticates (/token, /revoke, /bc-authorize, /introspect).
 *
 * Credentials come from exactly one method per request: HTTP Basic (form-urlencoded id and
 * secret, RFC 6749 §2.3.1), client_id/client_secret in the body, or a signed JWT in
 * client_assertion (RFC 7521 §4.2, RFC 7523 §2.2). A bare client_id in the body beside Basic
 * or an assertion only identifies the client and must name the same one (RFC 6749 §3.2.1).
 * client_authenticate() then applies one policy, whatever the endpoint. */
#ifndef WARRANT_CLIENT_AUTH_H
#define WARRANT_CLIENT_AUTH_H
#include "../common/basic.h"
#include "../common/form.h"
#include "../common/jose.h"
#include "../common/oerr.h"
#include "agents.h"
#include "assertion.h"
#include "resource.h"

enum auth_method { AUTH_NONE = 0, AUTH_BASIC, AUTH_POST, AUTH_ASSERTION };

/* The kinds of credential; each request's method implies one. An assertion is checked with
 * an agent's key (private_key_jwt) when its iss is an agent id; other issuers are told
 * apart in verify_once() (auth.c). */
enum cred_kind { CRED_NONE = 0, CRED_SECRET, CRED_ASSERTION };

struct client_cred {
	enum auth_method method;
	char id[BASIC_MAX_ID]; /* "" for an assertion without client_id */
	char secret[BASIC_MAX_SECRET];
	slice assertion; /* AUTH_ASSERTION: the JWS, pointing into the caller's form */
	/* set by the endpoint before client_authenticate(): */
	const char *issuer;       /* this server's issuer identifier, an assertion's audience */
	int leeway;               /* seconds of clock skew allowed for in assertion times */
	struct assertion_jti jti; /* the assertion's jti; jti.defer: the writer job claims it */
	int federated;            /* the assertion was an external JWT (clients/federation.c) */
};

/* Reads the credentials from the Authorization header (hdr may be NULL) and the form.
 * Returns 0 with *c filled, or 1 with *e set: 400 invalid_request for two methods, a
 * duplicated parameter, an assertion without its type or of another type; 401
 * invalid_client when no usable credentials were sent. c->assertion points into f. */
int client_cred_parse(const char *hdr, size_t hdr_len, const struct form *f, struct client_cred *c, struct oerr *e);
/* Wipes the secret. */
void client_cred_wipe(struct client_cred *c);
/* The credential kind a parsed request carries. */
enum cred_kind client_cred_kind(const struct client_cred *c);
/* The RFC 8414 name of the method ("client_secret_basic", ..., "private_key_jwt"; "none"). */
const char *client_auth_method_name(const struct client_cred *c);

enum client_kind { CLIENT_AGENT = 1, CLIENT_RESOURCE };

struct client_identity {
	struct agent agent;                /* CLIENT_AGENT: the agent; agent.cred_id is the credential */
	char rs_id[ID_MAX];                /* CLIENT_RESOURCE */
	char rs_audience[RS_AUDIENCE_MAX]; /* "": the resource server sees every token */
};

/* Authenticates the caller as the kind the endpoint serves. One policy everywhere:
 *  - no credentials: 401 invalid_client with a Basic challenge (RFC 6749 §5.2);
 *  - before refusing, catch up with changes other processes made (a secret rotated from
 *    the command line a moment ago works at once) and look again;
 *  - a refusal never says whether the id or the secret was wrong; a caller that used
 *    Basic gets the challenge; e->reason says why, for the audit trail;
 *  - an agent's valid credentials at a resource-server endpoint: 403 access_denied;
 *    resource servers authenticate with secrets only (an assertion: 401);
 *  - an assertion's jti is claimed once: c->jti remembers it, so the same request may
 *    authenticate again (after catching up) without being taken for a replay; with
 *    c->jti.defer the endpoint's writer job claims it (client_cred_claim);
 *  - who->agent names the agent when the id was an existing agent's, else is zeroed.
 * Returns 0, 1 refused (e set), -1 on a database error (e is a 500). */
int client_authenticate(struct db *db, struct client_cred *c, enum client_kind want, struct client_identity *who,
			struct oerr *e);

/* In an endpoint's writer job, before it acts on the request: claims the jti of an accepted
 * assertion whose claim was deferred (RFC 7523 §3: single use, on every node). 0 claimed or
 * nothing to claim; 1 a replay, with 401 invalid_client (reason "replay") in *e; -1 on a
 * database error. */
int client_cred_claim(struct db *db, struct client_cred *c, struct oerr *e);
#endif
