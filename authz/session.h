/* session.h - owners' console sessions: a random token in an HttpOnly cookie, a row per
 * session in the database (console_sessions), so every node sharing the database honours
 * a sign-in and a sign-out at once.
 *
 * The row is keyed by the SHA-256 of the token, so a copy of the database signs nobody in.
 * A session ends SESSION_ABSOLUTE_S after sign-in, or SESSION_IDLE_S after its last use
 * (last use is written at most once every SESSION_TOUCH_S), or at sign-out (the row is
 * deleted), or as soon as its owner is deactivated. The CSRF token of a session is an HMAC
 * of a constant under the session token: it needs no storage, and only a holder of the
 * cookie can know it. */
#ifndef WARRANT_SESSION_H
#define WARRANT_SESSION_H
#include "../common/oerr.h"
#include "../common/rand.h"
#include "../store/db.h"

#include <stdint.h>

#define SESSION_ABSOLUTE_S (12 * 3600) /* seconds from sign-in to the end of any session */
#define SESSION_IDLE_S 3600            /* seconds without use after which a session ends */
#define SESSION_TOUCH_S 60             /* last use is written at most this often */
#define SESSION_TOKEN_LEN 43           /* base64url of 256 random bits */
#define SESSION_CSRF_LEN 43            /* base64url of an HMAC-SHA256 */
#define SESSION_ID_LEN 64              /* hex SHA-256 of the token */
#define SESSION_EMAIL_MAX 256
#define SESSION_NAME_MAX 128

struct console_session {
	char id[SESSION_ID_LEN + 1];
	char owner_id[ID_MAX];
	char org_id[ID_MAX];
	char email[SESSION_EMAIL_MAX];
	char name[SESSION_NAME_MAX];
	char method[16];                           /* password | oidc */
	int64_t created_at, last_seen, expires_at; /* ms */
	char csrf[SESSION_CSRF_LEN + 1];
};

/* Writer job: a new session for owner_id, signed in by method ("password" or "oidc");
 * token gets the cookie's value (shown once, to the browser), csrf its CSRF token. Drops
 * ended sessions of every owner on the way and audits owner.login. 0, or -1. */
struct session_new {
	const char *owner_id, *method, *client_addr, *request_id;
	char token[SESSION_TOKEN_LEN + 1];
	char csrf[SESSION_CSRF_LEN + 1];
};
int session_create_job(struct db *db, void *arg);

/* The session of cookie value token at now (ms): 1 valid (s filled), 0 unknown, ended or
 * its owner not active, -1 on a database error. Reads only. */
int session_check(struct db *db, const char *token, int64_t now, struct console_session *s);
/* 1 when last use should be written now (it was written SESSION_TOUCH_S ago or more). */
int session_needs_touch(const struct console_session *s, int64_t now);

/* Writer jobs on a session id: session_touch_job records a use (now), session_end_job
 * deletes it and audits owner.logout. 0, or -1. */
struct session_op {
	char id[SESSION_ID_LEN + 1];
	const char *owner_id, *method, *client_addr, *request_id;
	int64_t now;
};
int session_touch_job(struct db *db, void *arg);
int session_end_job(struct db *db, void *arg);

/* 1 when given (n bytes, from the request) is s's CSRF token; constant-time. */
int session_csrf_ok(const struct console_session *s, const char *given, size_t n);
/* Derives the CSRF token of a session token. 0, or -1. */
int session_csrf_of(const char *token, char out[SESSION_CSRF_LEN + 1]);
/* hex SHA-256 of s into out (the key of rows made from secrets). 0, or -1. */
int session_hash_hex(const char *s, char out[SESSION_ID_LEN + 1]);
#endif
