/* auth.h - where a request's client credentials come from (RFC 6749 §2.3.1).
 *
 * Exactly one method per request: HTTP Basic (form-urlencoded id and secret) or
 * client_id/client_secret in the body. A bare client_id in the body beside Basic only
 * identifies the client and must name the same one (RFC 6749 §3.2.1). */
#ifndef WARRANT_CLIENT_AUTH_H
#define WARRANT_CLIENT_AUTH_H
#include "../common/basic.h"
#include "../common/form.h"
#include "../common/oerr.h"

enum auth_method { AUTH_NONE = 0, AUTH_BASIC, AUTH_POST };

struct client_cred {
	enum auth_method method;
	char id[BASIC_MAX_ID];
	char secret[BASIC_MAX_SECRET];
};

/* Reads the credentials from the Authorization header (hdr may be NULL) and the form.
 * Returns 0 with *c filled, or 1 with *e set: 400 invalid_request for two methods or a
 * duplicated parameter, 401 invalid_client when no usable credentials were sent. */
int client_cred_parse(const char *hdr, size_t hdr_len, const struct form *f,
		      struct client_cred *c, struct oerr *e);
/* Wipes the secret. */
void client_cred_wipe(struct client_cred *c);
#endif
