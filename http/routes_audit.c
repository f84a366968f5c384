/* routes_audit.c - GET /audit/checkpoints: the signed checkpoints of the audit chains, for
 * a resource server (its id and secret in HTTP Basic, as at /introspect) or an owner (email
 * and password, as at /v1). Runs on a worker thread: an owner's password is argon2id. */
#include "http.h"

#include "../audit/checkpoint.h"
#include "../authz/login.h"
#include "../clients/auth.h"
#include "../common/basic.h"
#include "../common/timeutil.h"

#include <openssl/crypto.h>
#include <string.h>

static void emit_item(void *arg, const char *json, size_t n)
{
	struct buf *b = arg;
	if (b->len > 1)
		buf_puts(b, ",");
	buf_put(b, json, n);
}

/* 0 when the caller is a resource server or an owner; else the answer is set. */
static int checkpoints_auth(struct http_req *r)
{
	struct client_cred cred;
	struct form empty;
	struct oerr e;
	memset(&cred, 0, sizeof cred);
	memset(&empty, 0, sizeof empty);
	memset(&e, 0, sizeof e);
	if (!r->authorization) {
		resp_error_simple(r, 401, "invalid_client",
				  "authenticate with HTTP Basic: a resource server or an owner");
		r->resp.basic_challenge = 1;
		return -1;
	}
	int rc = client_cred_parse(r->authorization, r->authorization_len, &empty, &cred, &e);
	if (rc == 0 && strncmp(cred.id, "rs_", 3) == 0) {
		struct client_identity who;
		struct db *db = warrant_reader(r->w);
		rc = db ? client_authenticate(db, &cred, CLIENT_RESOURCE, &who, &e) : -1;
		client_cred_wipe(&cred);
		if (rc != 0) {
			if (rc < 0)
				resp_error_simple(r, 503, "temporarily_unavailable", "storage unavailable");
			else
				resp_error(r, &e);
			return -1;
		}
		snprintf(r->agent_id, sizeof r->agent_id, "%s", who.rs_id);
		return 0;
	}
	client_cred_wipe(&cred);
	char email[BASIC_MAX_ID], pw[BASIC_MAX_SECRET];
	if (basic_parse(r->authorization, r->authorization_len, 0, email, pw) != 0) {
		resp_error_simple(r, 401, "invalid_client",
				  "authenticate with HTTP Basic: a resource server or an owner");
		r->resp.basic_challenge = 1;
		return -1;
	}
	struct owner_session me;
	memset(&e, 0, sizeof e);
	rc = owner_login(r->w, email, pw, r->client_addr, r->request_id, &me, &e);
	OPENSSL_cleanse(pw, sizeof pw);
	if (rc != 0) {
		resp_error(r, &e);
		return -1;
	}
	return 0;
}

static void checkpoints_work(struct http_req *r)
{
	if (checkpoints_auth(r) < 0)
		return;
	const char *since = req_query(r, "since");
	int64_t since_ms = 0;
	if (since && *since && parse_time_arg(since, &since_ms) < 0) {
		resp_error_simple(r, 400, "invalid_request", "since takes an ISO 8601 UTC time or 7d, 12h, 30m, 45s");
		return;
	}
	struct buf items, b;
	buf_init(&items, 16 << 20);
	buf_puts(&items, "[");
	struct db *db = warrant_reader(r->w);
	if (!db || checkpoint_list(db, since_ms / 1000, CHECKPOINT_LIST_MAX, emit_item, &items) < 0) {
		buf_free(&items);
		resp_error_simple(r, 503, "temporarily_unavailable", "storage unavailable");
		return;
	}
	buf_init(&b, 16 << 20);
	buf_puts(&b, "{\"checkpoints\":");
	buf_put(&b, items.p, items.len);
	buf_puts(&b, "]}");
	buf_free(&items);
	resp_json(r, 200, &b);
}

enum hres h_audit_checkpoints(struct http_req *r) { return http_offload(r, checkpoints_work); }
