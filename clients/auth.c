/* auth.c - choosing and parsing the client authentication method; see auth.h. */
#include "auth.h"

#include <openssl/crypto.h>
#include <string.h>

void client_cred_wipe(struct client_cred *c)
{
	OPENSSL_cleanse(c->secret, sizeof c->secret);
}

static int copy_param(slice v, char *out, size_t cap)
{
	if (v.n >= cap)
		return -1;
	memcpy(out, v.p, v.n);
	out[v.n] = '\0';
	return 0;
}

int client_cred_parse(const char *hdr, size_t hdr_len, const struct form *f,
		      struct client_cred *c, struct oerr *e)
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
