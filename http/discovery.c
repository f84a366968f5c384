/* discovery.c - the RFC 8414 / OIDC Discovery 1.0 metadata document, built once at start. */
#include "http.h"

#include "../token/exchange.h"

/* ---- discovery (RFC 8414, OIDC Discovery 1.0) ---- */

static char *discovery_doc;

#define AGENT_AUTH_METHODS "[\"client_secret_basic\",\"client_secret_post\",\"private_key_jwt\"]"
/* what common/jose.h accepts ("Ed25519": RFC 9864's name for EdDSA with Ed25519) */
#define ASSERTION_ALGS "[\"ES256\",\"RS256\",\"PS256\",\"EdDSA\",\"Ed25519\"]"

/* What the document says beyond the endpoints, and why. Warrant runs no browser flows and
 * issues no ID tokens, yet widespread clients validate the OIDC and RFC 8414 fields as if
 * it did; every field below is either true or the nearest true statement they accept:
 *  - authorization_endpoint: RFC 8414 §2 lets a server without authorization-endpoint grants
 *    omit it, but the MCP TypeScript SDK's metadata schema requires it. It names /authorize,
 *    which answers every request with an RFC 6749 §4.1.2.1 error (http/authorize.c).
 *  - response_types_supported: REQUIRED and, for authlib's RFC 8414 validation, non-empty.
 *    "none" (OAuth 2.0 Multiple Response Type Encoding Practices §4) is the response type
 *    that returns no credential; no "code", so a client that wants a browser flow (the MCP
 *    SDK checks for "code") refuses at once instead of sending a person to a dead end.
 *  - id_token_signing_alg_values_supported: resource-server libraries read it as the
 *    algorithms a token may be signed with (express-oauth2-jwt-bearer rejects every token
 *    when it is empty), so it names the signing algorithm, as the access-token field does.
 *  - request_uri_parameter_supported: false, since OIDC Discovery's default is true. */
int discovery_init(const struct warrant *w)
{
	char kid[KID_MAX];
	enum key_alg alg = ALG_ES256;
	keyring_current(w->keys, kid, &alg);
	const char *algname = key_alg_name(alg);
	struct buf b;
	buf_init(&b, 16 * 1024);
	const char *iss = w->issuer;
	buf_puts(&b, "{\"issuer\":");
	buf_json_cstr(&b, iss);
	buf_printf(&b, ",\"authorization_endpoint\":\"%s/authorize\"", iss);
	buf_printf(&b, ",\"token_endpoint\":\"%s/token\"", iss);
	buf_printf(&b, ",\"jwks_uri\":\"%s/jwks\"", iss);
	buf_printf(&b, ",\"introspection_endpoint\":\"%s/introspect\"", iss);
	buf_printf(&b, ",\"revocation_endpoint\":\"%s/revoke\"", iss);
	/* SPEC POST /introspect: a resource server authenticates either way */
	buf_puts(&b, ",\"introspection_endpoint_auth_methods_supported\":"
		     "[\"client_secret_basic\",\"client_secret_post\"]");
	/* agents authenticate with a secret or a key (private_key_jwt, RFC 7523 §2.2) wherever
	 * they authenticate: token, revocation, backchannel (RFC 8414 §2 names the pairs) */
	buf_puts(&b, ",\"revocation_endpoint_auth_methods_supported\":" AGENT_AUTH_METHODS);
	buf_puts(&b, ",\"revocation_endpoint_auth_signing_alg_values_supported\":" ASSERTION_ALGS);
	buf_puts(&b, ",\"grant_types_supported\":[\"client_credentials\",\"urn:openid:params:grant-type:ciba\","
		     "\"" TOKEN_EXCHANGE_GRANT "\"]");
	buf_printf(&b, ",\"backchannel_authentication_endpoint\":\"%s/bc-authorize\"", iss);
	buf_puts(&b, ",\"backchannel_token_delivery_modes_supported\":[\"poll\"]");
	buf_puts(&b, ",\"backchannel_user_code_parameter_supported\":false");
	buf_puts(&b, ",\"backchannel_authentication_endpoint_auth_methods_supported\":" AGENT_AUTH_METHODS);
	buf_puts(&b, ",\"backchannel_authentication_endpoint_auth_signing_alg_values_supported\":" ASSERTION_ALGS);
	buf_puts(&b, ",\"token_endpoint_auth_methods_supported\":" AGENT_AUTH_METHODS);
	buf_puts(&b, ",\"token_endpoint_auth_signing_alg_values_supported\":" ASSERTION_ALGS);
	buf_puts(&b, ",\"response_types_supported\":[\"none\"]");
	buf_puts(&b, ",\"response_modes_supported\":[]");
	buf_puts(&b, ",\"subject_types_supported\":[\"public\"]");
	buf_printf(&b, ",\"id_token_signing_alg_values_supported\":[\"%s\"]", algname);
	buf_puts(&b, ",\"request_uri_parameter_supported\":false");
	buf_puts(&b, ",\"scopes_supported\":[]");
	buf_puts(&b, ",\"claims_supported\":[\"iss\",\"sub\",\"aud\",\"exp\",\"iat\",\"nbf\",\"jti\","
		     "\"client_id\",\"scope\",\"owner_id\",\"org_id\",\"ws\",\"run_id\",\"cred_id\","
		     "\"approved_by\",\"approval_id\",\"act\",\"cnf\",\"status\"]");
	buf_printf(&b, ",\"access_token_signing_alg_values_supported\":[\"%s\"]", algname);
	/* RFC 9449 §5.1: the algorithms a DPoP proof may use (common/jose.h) */
	buf_puts(&b, ",\"dpop_signing_alg_values_supported\":" ASSERTION_ALGS);
	buf_puts(&b, "}");
	if (b.failed)
		return -1;
	discovery_doc = buf_steal(&b, NULL);
	return 0;
}

enum hres h_discovery(struct http_req *r)
{
	resp_json_str(r, 200, discovery_doc);
	r->resp.cache = "public, max-age=3600";
	return H_DONE;
}
