/* auth.c - client authentication: the method, the credential kind and the one policy;
 * see auth.h. */
#include "auth.h"

#include "../common/jose.h"
#include "../store/changes.h"
#include "assertion.h"
#include "federation.h"

#include <openssl/crypto.h>
#include <string.h>

void client_cred_wipe(struct client_cred *c) { OPENSSL_cleanse(c->secret, sizeof c->secret); }

static int copy_param(slice v, char *out, size_t cap)
{
	if (v.n >= cap)
		return -1;
	memcpy(out, v.p, v.n);
	out[v.n] = '\0';
	return 0;
}

/* RFC 7521 §4.2: client_assertion_type and client_assertion, alone (no Basic, no secret). */
static int assertion_parse(int has_hdr, int has_id, slice id, int has_secret, const struct form *f,
			   struct client_cred *c, struct oerr *e)
{
	slice type = {0};
	int has_type = form_get1(f, "client_assertion_type", &type);
	int has_assertion = form_get1(f, "client_assertion", &c->assertion);
	if (has_type < 0 || has_assertion < 0) {
		oerr_set(e, 400, "invalid_request", "parameter %s given more than once",
			 has_type < 0 ? "client_assertion_type" : "client_assertion");
		return 1;
	}
	if (!has_type && !has_assertion)
		return 0;
	e->reason = "bad_assertion_request";
	if (has_hdr || has_secret) {
		oerr_set(e, 400, "invalid_request", "use one client authentication method, not two");
		return 1;
	}
	if (!has_type || !has_assertion || !c->assertion.n) {
		oerr_set(e, 400, "invalid_request", "client_assertion and client_assertion_type go together");
		return 1;
	}
	if (!slice_eq(type, ASSERTION_TYPE)) {
		oerr_set(e, 400, "invalid_request", "unsupported client_assertion_type");
		return 1;
	}
	if (has_id && copy_param(id, c->id, sizeof c->id) < 0) {
		oerr_set(e, 401, "invalid_client", "client authentication failed");
		e->reason = "overlong_credentials";
		return 1;
	}
	e->reason = NULL;
	c->method = AUTH_ASSERTION;
	return 0;
}

int client_cred_parse(const char *hdr, size_t hdr_len, const struct form *f, struct client_cred *c, struct oerr *e)
{
	memset(c, 0, sizeof *c);
	memset(e, 0, sizeof *e);
	slice id = {0}, secret = {0};
	int has_id = form_get1(f, "client_id", &id);
	int has_secret = form_get1(f, "client_secret", &secret);
	if (has_id < 0 || has_secret < 0) {
		oerr_set(e, 400, "invalid_request", "parameter %s given more than once",
			 has_id < 0 ? "client_id" : "client_secret");
		return 1;
	}
	if (assertion_parse(hdr != NULL, has_id, id, has_secret, f, c, e) != 0 || c->method == AUTH_ASSERTION) {
		if (e->status)
			memset(c, 0, sizeof *c);
		return e->status ? 1 : 0;
	}
	int basic = hdr ? basic_parse(hdr, hdr_len, 1, c->id, c->secret) : 1;
	if (basic == 0) {
		c->method = AUTH_BASIC;
		if (has_secret) {
			oerr_set(e, 400, "invalid_request", "use one client authentication method, not two");
			goto fail;
		}
		if (has_id && !slice_eq(id, c->id)) {
			oerr_set(e, 400, "invalid_request", "client_id does not match the authenticated client");
			goto fail;
		}
		return 0;
	}
	if (basic < 0) {
		oerr_set(e, 401, "invalid_client", "malformed Basic credentials");
		e->basic_challenge = 1;
		e->reason = "malformed_basic";
		return 1;
	}
	if (!has_id || !has_secret) {
		oerr_set(e, 401, "invalid_client", "client authentication required");
		e->basic_challenge = hdr == NULL; /* RFC 6749 §5.2: invite Basic when none was tried */
		e->reason = has_id ? "no_secret" : "no_credentials";
		return 1;
	}
	if (copy_param(id, c->id, sizeof c->id) < 0 || copy_param(secret, c->secret, sizeof c->secret) < 0) {
		oerr_set(e, 401, "invalid_client", "client authentication failed");
		e->reason = "overlong_credentials";
		goto fail;
	}
	c->method = AUTH_POST;
	return 0;
fail:
	client_cred_wipe(c);
	return 1;
}

enum cred_kind client_cred_kind(const struct client_cred *c)
{
	switch (c->method) {
	case AUTH_BASIC:
	case AUTH_POST: return CRED_SECRET;
	case AUTH_ASSERTION: return CRED_ASSERTION;
	case AUTH_NONE: break;
	}
	return CRED_NONE;
}

const char *client_auth_method_name(const struct client_cred *c)
{
	switch (c->method) {
	case AUTH_BASIC: return "client_secret_basic";
	case AUTH_POST: return "client_secret_post";
	case AUTH_ASSERTION: return c->federated ? "client_assertion" : "private_key_jwt";
	case AUTH_NONE: break;
	}
	return "none";
}

static int assertion_refuse(struct oerr *e, const char *reason)
{
	oerr_set(e, 401, "invalid_client", "client authentication failed");
	e->reason = reason;
	return 1;
}

/* A client assertion (RFC 7521 §4.2): parsed here once, then checked by the path its
 * issuer calls for. Resource servers authenticate with secrets only. */
static int verify_assertion(struct db *db, struct client_cred *c, enum client_kind want, struct client_identity *who,
			    struct oerr *e)
{
	struct jose_jws j;
	const char *why = NULL;
	if (want == CLIENT_RESOURCE)
		return assertion_refuse(e, "assertion_not_accepted");
	if (jose_jws_parse(c->assertion.p, c->assertion.n, &j, &why) < 0) {
		/* the refusal names the agent client_id names, as for a wrong secret */
		if (strncmp(c->id, "agt_", 4) == 0 && agent_load(db, c->id, &who->agent) != 1)
			memset(&who->agent, 0, sizeof who->agent);
		return assertion_refuse(e, why ? why : "malformed");
	}
	const json_t *iss = json_object_get(j.claims, "iss");
	int rc;
	if (json_is_string(iss) && strncmp(json_string_value(iss), "agt_", 4) == 0) {
		/* private_key_jwt: the agent signed it with one of its keys (RFC 7523 §2.2) */
		rc = assertion_verify(db, &j, c->id, c->issuer, c->leeway, &c->jti, &who->agent, e);
	} else {
		/* a workload's token from a trusted issuer (clients/federation.c) */
		c->federated = 1;
		rc = federated_verify(db, &j, c->id, &who->agent, e);
	}
	jose_jws_clear(&j);
	return rc;
}

/* One look at the credentials, as the state this process has seen so far stands. */
static int verify_once(struct db *db, struct client_cred *c, enum client_kind want, struct client_identity *who,
		       struct oerr *e)
{
	memset(who, 0, sizeof *who);
	memset(e, 0, sizeof *e);
	switch (client_cred_kind(c)) {
	case CRED_SECRET:
		if (want == CLIENT_RESOURCE)
			return resource_secret_verify(db, c->id, c->secret, who->rs_id, who->rs_audience, e);
		return agent_secret_verify(db, c->id, c->secret, &who->agent, e);
	case CRED_ASSERTION: return verify_assertion(db, c, want, who, e);
	case CRED_NONE: break;
	}
	oerr_set(e, 401, "invalid_client", "client authentication required");
	e->reason = "no_credentials";
	return 1;
}

/* A resource-server endpoint called with an agent's valid credentials. */
static int agent_at_resource_endpoint(struct db *db, const struct client_cred *c, struct oerr *e)
{
	struct agent a;
	struct oerr ae;
	memset(&ae, 0, sizeof ae);
	if (strncmp(c->id, "agt_", 4) != 0 || client_cred_kind(c) != CRED_SECRET)
		return 0;
	int rc = agent_secret_verify(db, c->id, c->secret, &a, &ae);
	OPENSSL_cleanse(&a, sizeof a);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	oerr_set(e, 403, "access_denied", "agents may not call this endpoint");
	e->reason = "agent_caller";
	e->basic_challenge = 0;
	return 1;
}

int client_authenticate(struct db *db, struct client_cred *c, enum client_kind want, struct client_identity *who,
			struct oerr *e)
{
	if (client_cred_kind(c) == CRED_NONE) {
		memset(who, 0, sizeof *who);
		memset(e, 0, sizeof *e);
		oerr_set(e, 401, "invalid_client", "client authentication required");
		e->reason = "no_credentials";
		e->basic_challenge = 1; /* RFC 6749 §5.2: invite Basic when nothing was tried */
		return 1;
	}
	int64_t seen = changes_seen();
	int rc = verify_once(db, c, want, who, e);
	if (rc > 0 && changes_catch_up(db, seen) > 0)
		rc = verify_once(db, c, want, who, e); /* another process may have just changed it */
	if (rc <= 0)
		return rc;
	if (want == CLIENT_RESOURCE) {
		int r = agent_at_resource_endpoint(db, c, e);
		if (r != 0)
			return r < 0 ? -1 : 1;
	}
	/* an unknown id is not an actor: name nobody rather than echo input */
	if (e->reason && strcmp(e->reason, "unknown_client") == 0)
		memset(&who->agent, 0, sizeof who->agent);
	e->basic_challenge = c->method == AUTH_BASIC;
	return 1;
}

int client_cred_claim(struct db *db, struct client_cred *c, struct oerr *e)
{
	if (c->method != AUTH_ASSERTION)
		return 0;
	int rc = assertion_jti_claim(db, &c->jti);
	if (rc < 0)
		return -1;
	if (rc == 0)
		assertion_refuse(e, "replay");
	return rc == 0;
}
