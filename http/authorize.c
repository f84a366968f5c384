/* authorize.c - the authorization endpoint that discovery names, for a server with no browser flows.
 *
 * Warrant issues tokens only at the token endpoint (client_credentials, CIBA). Common clients
 * still require an authorization_endpoint in the metadata, so one exists and answers every
 * request with an RFC 6749 §4.1.2.1 error instead of a 404. It never redirects: no client has
 * a registered redirection URI, and §4.1.2.1 forbids redirecting to one that was not
 * verified, so the error goes back to the user agent as JSON. */
#include "http.h"

#include "../common/form.h"

#include <string.h>

/* RFC 6749 §3.1: GET is required, POST (a form body) allowed. Returns the response_type the
 * request carries: 1 and *out set, 0 when absent or empty (§3.2), -1 when given twice or the
 * body is not a well-formed form. */
static int response_type_of(struct http_req *r, struct form *f, slice *out)
{
	if (strcmp(r->method, "POST") != 0) {
		int n = 0;
		for (int i = 0; i < r->nquery; i++) {
			if (strcmp(r->query[i].name, "response_type") != 0 || !r->query[i].value[0])
				continue;
			*out = slice_of(r->query[i].value);
			n++;
		}
		return n > 1 ? -1 : n;
	}
	if (!req_is_form(r) || form_parse(r->body, r->body_len, f) != FORM_OK)
		return -1;
	return form_get1(f, "response_type", out);
}

enum hres h_authorize(struct http_req *r)
{
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0 && strcmp(r->method, "POST") != 0) {
		resp_error_simple(r, 405, "invalid_request", "method not allowed");
		r->resp.allow = "GET, POST";
		return H_DONE;
	}
	struct form f;
	memset(&f, 0, sizeof f);
	slice rt = {0};
	int has = response_type_of(r, &f, &rt);
	form_free(&f);
	/* RFC 6749 §4.1.2.1: a missing or repeated parameter is invalid_request; any response
	 * type at all is unsupported_response_type, since none is served here */
	if (has < 0)
		resp_error_simple(r, 400, "invalid_request", "malformed or repeated parameters");
	else if (has == 0)
		resp_error_simple(r, 400, "invalid_request", "response_type is required");
	else
		resp_error_simple(r, 400, "unsupported_response_type",
				  "this server has no browser flows; clients get tokens at the token endpoint "
				  "(client_credentials or CIBA)");
	return H_DONE;
}
