/* authorize.c - the authorization endpoint that discovery names, for a server with no browser flows.
 *
 * Warrant issues tokens only at the token endpoint (client_credentials, CIBA, token exchange). Common clients
 * still require an authorization_endpoint in the metadata, so one exists and answers every
 * request with an RFC 6749 §4.1.2.1 error instead of a 404. It never redirects: no client has
 * a registered redirection URI, and §4.1.2.1 forbids redirecting to one that was not
 * verified, so the error goes back to the user agent as JSON. */
#include "http.h"

#include "../common/form.h"

#include <string.h>

/* How many non-empty response_type parameters the request carries, at most 2: in the query
 * of a GET, or in the form body of a POST (RFC 6749 §3.1); an empty one counts as absent
 * (§3.2). -1 when a POST body is not a well-formed form. */
static int response_types_given(struct http_req *r)
{
	if (strcmp(r->method, "POST") != 0) {
		int n = 0;
		for (int i = 0; i < r->nquery; i++)
			if (strcmp(r->query[i].name, "response_type") == 0 && r->query[i].value[0])
				n++;
		return n > 2 ? 2 : n;
	}
	struct form f;
	memset(&f, 0, sizeof f);
	int n = -1;
	if (req_is_form(r) && form_parse(r->body, r->body_len, &f) == FORM_OK) {
		slice v;
		n = form_get1(&f, "response_type", &v);
		if (n < 0)
			n = 2;
	}
	form_free(&f);
	return n;
}

enum hres h_authorize(struct http_req *r)
{
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0 && strcmp(r->method, "POST") != 0) {
		resp_error_simple(r, 405, "invalid_request", "method not allowed");
		r->resp.allow = "GET, POST";
		return H_DONE;
	}
	/* RFC 6749 §4.1.2.1: a missing, repeated or malformed parameter is invalid_request; any
	 * response type at all is unsupported_response_type, since none is served here */
	int n = response_types_given(r);
	if (n < 0)
		resp_error_simple(r, 400, "invalid_request",
				  "the body is not a well-formed application/x-www-form-urlencoded form");
	else if (n == 0)
		resp_error_simple(r, 400, "invalid_request", "response_type is required");
	else if (n > 1)
		resp_error_simple(r, 400, "invalid_request", "response_type is given more than once");
	else
		resp_error_simple(r, 400, "unsupported_response_type",
				  "this server has no browser flows; clients get tokens at the token endpoint "
				  "(client_credentials, CIBA or token exchange)");
	return H_DONE;
}
