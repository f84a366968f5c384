/* session.c - owners' console sessions in the database; see session.h. */
#include "session.h"

#include "../audit/audit.h"
#include "../audit/events.h"
#include "../common/codec.h"
#include "../common/timeutil.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#define SESSION_CSRF_LABEL "warrant console csrf"

int session_hash_hex(const char *s, char out[SESSION_ID_LEN + 1])
{
	unsigned char md[32];
	unsigned int n = 0;
	if (!EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL) || n != sizeof md)
		return -1;
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int session_csrf_of(const char *token, char out[SESSION_CSRF_LEN + 1])
{
	unsigned char mac[32];
	unsigned int n = 0;
	if (!HMAC(EVP_sha256(), token, (int)strlen(token), (const unsigned char *)SESSION_CSRF_LABEL,
		  sizeof SESSION_CSRF_LABEL - 1, mac, &n) ||
	    n != sizeof mac)
		return -1;
	b64url_encode(mac, sizeof mac, out);
	OPENSSL_cleanse(mac, sizeof mac);
	return 0;
}

int session_csrf_ok(const struct console_session *s, const char *given, size_t n)
{
	if (!given || n != SESSION_CSRF_LEN || strlen(s->csrf) != SESSION_CSRF_LEN)
		return 0;
	return CRYPTO_memcmp(s->csrf, given, SESSION_CSRF_LEN) == 0;
}

static int audit_session(struct db *db, const char *event, const char *owner, const char *method,
			 const char *client_addr, const char *request_id)
{
	struct audit_keys k = {.actor = owner, .owner_id = owner, .client_addr = client_addr, .request_id = request_id};
	char d[64];
	if (audit_detail_fits(d, "{\"method\":\"%s\",\"via\":\"console\"}", method) < 0)
		return -1;
	return audit_write(db, event, &k, d);
}

int session_create_job(struct db *db, void *arg)
{
	struct session_new *n = arg;
	unsigned char raw[32];
	char id[SESSION_ID_LEN + 1];
	if (rand_bytes(raw, sizeof raw) < 0)
		return -1;
	b64url_encode(raw, sizeof raw, n->token);
	OPENSSL_cleanse(raw, sizeof raw);
	if (session_hash_hex(n->token, id) < 0 || session_csrf_of(n->token, n->csrf) < 0)
		return -1;
	int64_t now = now_ms();
	/* ended sessions go as new ones come: the table holds live sessions and few others */
	struct db_stmt *st = db_prep(db, "DELETE FROM console_sessions WHERE expires_at <= ?1 OR last_seen <= ?2");
	if (!st)
		return -1;
	db_bind_int64(st, 1, now);
	db_bind_int64(st, 2, now - (int64_t)SESSION_IDLE_S * 1000);
	if (db_step_done(st) < 0)
		return -1;
	st = db_prep(db, "INSERT INTO console_sessions(id, owner_id, method, created_at, last_seen, expires_at)"
			 " VALUES (?1, ?2, ?3, ?4, ?4, ?5)");
	if (!st)
		return -1;
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, n->owner_id);
	db_bind_text(st, 3, n->method);
	db_bind_int64(st, 4, now);
	db_bind_int64(st, 5, now + (int64_t)SESSION_ABSOLUTE_S * 1000);
	if (db_step_done(st) < 0)
		return -1;
	return audit_session(db, EV_OWNER_LOGIN, n->owner_id, n->method, n->client_addr, n->request_id);
}

int session_check(struct db *db, const char *token, int64_t now, struct console_session *s)
{
	memset(s, 0, sizeof *s);
	if (!token || strlen(token) != SESSION_TOKEN_LEN)
		return 0;
	if (session_hash_hex(token, s->id) < 0)
		return -1;
	struct db_stmt *st = db_prep(db, "SELECT s.owner_id, s.method, s.created_at, s.last_seen, s.expires_at,"
					 " o.org_id, o.email, o.name, o.status"
					 " FROM console_sessions s JOIN owners o ON o.id = s.owner_id WHERE s.id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, s->id);
	int rc = db_step(st);
	if (rc != DB_ROW) {
		db_reset(st);
		return rc == DB_DONE ? 0 : -1;
	}
	db_col_copy(st, 0, s->owner_id, sizeof s->owner_id);
	db_col_copy(st, 1, s->method, sizeof s->method);
	s->created_at = db_col_int64(st, 2);
	s->last_seen = db_col_int64(st, 3);
	s->expires_at = db_col_int64(st, 4);
	db_col_copy(st, 5, s->org_id, sizeof s->org_id);
	db_col_copy(st, 6, s->email, sizeof s->email);
	db_col_copy(st, 7, s->name, sizeof s->name);
	int active = strcmp(db_col_text(st, 8), "active") == 0;
	db_reset(st);
	if (!active || now >= s->expires_at || now >= s->last_seen + (int64_t)SESSION_IDLE_S * 1000)
		return 0;
	return session_csrf_of(token, s->csrf) < 0 ? -1 : 1;
}

int session_needs_touch(const struct console_session *s, int64_t now)
{
	return now - s->last_seen >= (int64_t)SESSION_TOUCH_S * 1000;
}

int session_touch_job(struct db *db, void *arg)
{
	struct session_op *o = arg;
	struct db_stmt *st = db_prep(db, "UPDATE console_sessions SET last_seen = ?2 WHERE id = ?1 AND last_seen < ?2");
	if (!st)
		return -1;
	db_bind_text(st, 1, o->id);
	db_bind_int64(st, 2, o->now);
	return db_step_done(st);
}

int session_end_job(struct db *db, void *arg)
{
	struct session_op *o = arg;
	struct db_stmt *st = db_prep(db, "DELETE FROM console_sessions WHERE id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, o->id);
	if (db_step_done(st) < 0)
		return -1;
	if (db_changes(db) == 0)
		return 0;
	return audit_session(db, EV_OWNER_LOGOUT, o->owner_id, o->method, o->client_addr, o->request_id);
}
