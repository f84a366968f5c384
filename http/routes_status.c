/* routes_status.c - GET /statuslists/K: a Token Status List (draft-ietf-oauth-status-list),
 * served from memory (token/statuslist.h), with an ETag and a freshness lifetime of the
 * list's ttl. Answers while the database is away: nothing here reads it but the look for
 * a list claimed a moment ago elsewhere. */
#include "http.h"

#include "../token/statuslist.h"
#include "conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUSLIST_PREFIX "/statuslists/"
#define LIST_DIGITS_MAX 18 /* K fits an int64 */

/* K of the path: decimal, no sign, no leading zero; -1 when anything else */
static int64_t list_number(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > LIST_DIGITS_MAX || s[0] == '0')
		return -1;
	int64_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		k = k * 10 + (s[i] - '0');
	}
	return k;
}

/* RFC 9110 §13.1.2: If-None-Match is "*" or a list of entity tags; weak comparison */
static int etag_matches(const char *inm, const char *etag)
{
	if (!inm)
		return 0;
	size_t n = strlen(etag);
	for (const char *p = inm; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
			return 1;
		while (*p && *p != ',')
			p++;
	}
	return 0;
}

enum hres h_statuslist(struct http_req *r)
{
	int64_t k = list_number(r->path + strlen(STATUSLIST_PREFIX));
	struct statuslist_doc d;
	int rc = k > 0 ? statuslist_get(k, &d) : 0;
	if (rc < 0) {
		resp_error_simple(r, 500, "server_error", "out of memory");
		return H_DONE;
	}
	if (rc == 0) {
		/* claimed a moment ago by another node: not loaded here yet, soon */
		if (k > 0 && statuslist_pending(r->w, k) == 1)
			resp_error_simple(r, 503, "temporarily_unavailable", "this status list is being loaded");
		else
			resp_error_simple(r, 404, "not_found", "no such status list");
		return H_DONE;
	}
	struct conn *c = r->glue;
	const char *inm = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	snprintf(r->resp.etag, sizeof r->resp.etag, "%s", d.etag);
	snprintf(r->cache_buf, sizeof r->cache_buf, "public, max-age=%d", d.ttl);
	r->resp.cache = r->cache_buf;
	if (etag_matches(inm, d.etag)) {
		free(d.jwt);
		r->resp.status = 304; /* RFC 9110 §15.4.5: no body, the same validators */
		return H_DONE;
	}
	r->resp.status = 200;
	r->resp.body = d.jwt;
	r->resp.len = d.len;
	r->resp.ctype = "application/statuslist+jwt"; /* draft §5.1 */
	return H_DONE;
}
