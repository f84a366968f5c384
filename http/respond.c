/* respond.c - response building: JSON bodies, RFC 6749 error bodies, and handing a
 * response with its headers to libmicrohttpd. */
#include "conn.h"

#include "../store/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void resp_clear(struct http_resp *p)
{
	free(p->body);
	free(p->headers);
	memset(p, 0, sizeof *p);
}

void resp_json(struct http_req *r, int status, struct buf *b)
{
	resp_clear(&r->resp);
	if (b->failed) {
		buf_free(b);
		resp_error_simple(r, 500, "server_error", "response too large");
		return;
	}
	r->resp.status = status;
	r->resp.body = buf_steal(b, &r->resp.len);
	r->resp.ctype = "application/json";
}

void resp_json_str(struct http_req *r, int status, const char *json)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	buf_puts(&b, json);
	resp_json(r, status, &b);
}

void resp_error(struct http_req *r, const struct oerr *e)
{
	/* a request that failed because the database could not be reached is worth retrying */
	struct oerr away;
	if (e->status == 500 && db_unavailable()) {
		memset(&away, 0, sizeof away);
		oerr_set(&away, 503, "temporarily_unavailable", "storage unavailable");
		e = &away;
	}
	/* RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E; descriptions may
	 * quote client input, so anything else becomes '?' */
	char desc[sizeof e->desc];
	size_t i = 0;
	for (; e->desc[i] && i < sizeof desc - 1; i++) {
		unsigned char ch = (unsigned char)e->desc[i];
		desc[i] = ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\' ? '?' : (char)ch;
	}
	desc[i] = '\0';
	struct buf b;
	buf_init(&b, 4096);
	buf_puts(&b, "{\"error\":");
	buf_json_cstr(&b, e->code);
	buf_puts(&b, ",\"error_description\":");
	buf_json_cstr(&b, desc);
	buf_puts(&b, "}");
	resp_json(r, e->status, &b);
	r->resp.no_store = 1;
	r->resp.basic_challenge = e->basic_challenge;
	r->resp.retry_after = e->retry_after;
	if (e->status == 503 && r->resp.retry_after <= 0)
		r->resp.retry_after = RESP_RETRY_AFTER_S;
}

void resp_error_simple(struct http_req *r, int status, const char *code, const char *desc)
{
	struct oerr e;
	memset(&e, 0, sizeof e);
	oerr_set(&e, status, code, "%s", desc);
	resp_error(r, &e);
}

void resp_free(struct http_resp *p) { resp_clear(p); }

int resp_header(struct http_req *r, const char *name, const char *value)
{
	size_t have = r->resp.headers ? strlen(r->resp.headers) : 0, add = strlen(name) + strlen(value) + 3;
	if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
		return -1;
	char *h = realloc(r->resp.headers, have + add + 1);
	if (!h)
		return -1;
	snprintf(h + have, add + 1, "%s: %s\n", name, value);
	r->resp.headers = h;
	return 0;
}

int req_is_form(const struct http_req *r)
{
	static const char ct[] = "application/x-www-form-urlencoded";
	if (!r->content_type || strncasecmp(r->content_type, ct, sizeof ct - 1) != 0)
		return 0;
	char next = r->content_type[sizeof ct - 1];
	return next == '\0' || next == ';' || next == ' ';
}

static void add_headers(struct MHD_Response *mr, struct http_resp *p, const char *request_id)
{
	if (p->ctype)
		MHD_add_response_header(mr, "Content-Type", p->ctype);
	if (p->no_store) {
		MHD_add_response_header(mr, "Cache-Control", "no-store");
		MHD_add_response_header(mr, "Pragma", "no-cache");
	} else if (p->cache) {
		MHD_add_response_header(mr, "Cache-Control", p->cache);
	}
	if (p->basic_challenge)
		MHD_add_response_header(mr, "WWW-Authenticate", "Basic realm=\"warrant\"");
	if (p->bearer_challenge)
		MHD_add_response_header(mr, "WWW-Authenticate", "Bearer realm=\"warrant\"");
	if (p->retry_after > 0) {
		char ra[24];
		snprintf(ra, sizeof ra, "%ld", p->retry_after);
		MHD_add_response_header(mr, "Retry-After", ra);
	}
	if (p->allow)
		MHD_add_response_header(mr, "Allow", p->allow);
	if (p->dpop_nonce[0])
		MHD_add_response_header(mr, "DPoP-Nonce", p->dpop_nonce);
	if (p->etag[0])
		MHD_add_response_header(mr, "ETag", p->etag);
	MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
	for (char *line = p->headers, *nl; line && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		char *colon = strchr(line, ':');
		if (!nl || !colon || colon > nl)
			break;
		*colon = *nl = '\0';
		MHD_add_response_header(mr, line, colon + 2);
	}
	if (p->close)
		MHD_add_response_header(mr, "Connection", "close");
	MHD_add_response_header(mr, "X-Request-Id", request_id);
}

enum MHD_Result respond_queue(struct conn *c)
{
	struct http_resp *p = &c->req.resp;
	struct MHD_Response *mr = p->body ? MHD_create_response_from_buffer(p->len, p->body, MHD_RESPMEM_MUST_FREE)
					  : MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!mr)
		return MHD_NO;
	p->body = NULL; /* MHD owns it now */
	/* RFC 9112 §6.1: after a chunked request the connection is not reused, so a front
	 * proxy that read its chunk lines differently cannot pass a second request through */
	if (c->framing.chunked)
		p->close = 1;
	add_headers(mr, p, c->req.request_id);
	enum MHD_Result rc = MHD_queue_response(c->mc, (unsigned)(p->status ? p->status : 500), mr);
	MHD_destroy_response(mr);
	c->responded = 1;
	return rc;
}
