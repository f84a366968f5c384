/* test_session.c - owners' console sessions (authz/session.c) on a real database: stored
 * hashed, ended by idle time, absolute time, sign-out and a deactivated owner; the CSRF
 * token bound to the session. */
#include "../../authz/session.h"
#include "../../common/timeutil.h"
#include "fixture.h"
#include "test.h"

static int start(struct fx *f, const char *owner, struct session_new *n)
{
	memset(n, 0, sizeof *n);
	n->owner_id = owner;
	n->method = "password";
	n->client_addr = "127.0.0.1";
	n->request_id = "r";
	return db_tx(f->db, session_create_job, n);
}

static void set_ms(struct db *db, const char *col, const char *id, int64_t ms)
{
	static const char lsql[] = "UPDATE console_sessions SET last_seen = ? WHERE id = ?";
	static const char esql[] = "UPDATE console_sessions SET expires_at = ? WHERE id = ?";
	struct db_stmt *st = db_prep(db, strcmp(col, "last_seen") == 0 ? lsql : esql);
	CHECK(st != NULL);
	db_bind_int64(st, 1, ms);
	db_bind_text(st, 2, id);
	CHECK(db_step_done(st) == 0);
}

TEST(session_is_stored_hashed_and_its_csrf_token_is_bound_to_it)
{
	struct fx f;
	if (fx_open(&f) < 0)
		return;
	char owner[ID_MAX], other[ID_MAX];
	fx_owner(&f, f.org, "s1@example.com", owner);
	fx_owner(&f, f.org, "s2@example.com", other);
	struct session_new a, b;
	CHECK(start(&f, owner, &a) == 0 && start(&f, other, &b) == 0);
	CHECK(strlen(a.token) == SESSION_TOKEN_LEN && strcmp(a.token, b.token) != 0);
	struct console_session s;
	CHECK(session_check(f.db, a.token, now_ms(), &s) == 1);
	CHECK_STR(s.owner_id, owner);
	CHECK_STR(s.csrf, a.csrf);
	CHECK(strcmp(s.id, a.token) != 0 && strlen(s.id) == SESSION_ID_LEN); /* the row holds a hash */
	CHECK(session_csrf_ok(&s, a.csrf, strlen(a.csrf)) == 1);
	CHECK(session_csrf_ok(&s, b.csrf, strlen(b.csrf)) == 0); /* another session's token */
	CHECK(session_csrf_ok(&s, a.csrf, strlen(a.csrf) - 1) == 0);
	CHECK(session_csrf_ok(&s, NULL, 0) == 0);
	CHECK(session_check(f.db, "", now_ms(), &s) == 0);
	CHECK(session_check(f.db, a.csrf, now_ms(), &s) == 0); /* right length, no such session */
	fx_close(&f);
}

TEST(session_ends_when_idle_at_its_absolute_end_at_sign_out_and_with_its_owner)
{
	struct fx f;
	if (fx_open(&f) < 0)
		return;
	char owner[ID_MAX];
	fx_owner(&f, f.org, "s3@example.com", owner);
	struct session_new a;
	struct console_session s;
	CHECK(start(&f, owner, &a) == 0);
	int64_t now = now_ms(); /* after the session began: it was last seen then */
	CHECK(session_check(f.db, a.token, now, &s) == 1);
	CHECK(session_needs_touch(&s, s.last_seen) == 0 &&
	      session_needs_touch(&s, s.last_seen + SESSION_TOUCH_S * 1000) == 1);
	/* one idle hour */
	set_ms(f.db, "last_seen", s.id, now - (SESSION_IDLE_S - 5) * 1000LL);
	CHECK(session_check(f.db, a.token, now, &s) == 1);
	struct session_op o = {.now = now};
	memcpy(o.id, s.id, sizeof o.id);
	CHECK(db_tx(f.db, session_touch_job, &o) == 0);
	CHECK(session_check(f.db, a.token, now, &s) == 1 && s.last_seen == now);
	CHECK(session_check(f.db, a.token, now + SESSION_IDLE_S * 1000LL, &s) == 0);
	/* twelve hours at most, however busy */
	CHECK(session_check(f.db, a.token, now, &s) == 1);
	set_ms(f.db, "expires_at", s.id, now);
	CHECK(session_check(f.db, a.token, now, &s) == 0);
	/* sign-out */
	CHECK(start(&f, owner, &a) == 0 && session_check(f.db, a.token, now_ms(), &s) == 1);
	memcpy(o.id, s.id, sizeof o.id);
	o.owner_id = owner;
	o.method = "password";
	CHECK(db_tx(f.db, session_end_job, &o) == 0);
	CHECK(session_check(f.db, a.token, now_ms(), &s) == 0);
	/* a deactivated owner */
	CHECK(start(&f, owner, &a) == 0 && session_check(f.db, a.token, now_ms(), &s) == 1);
	fx_deactivate(f.db, owner);
	CHECK(session_check(f.db, a.token, now_ms(), &s) == 0);
	fx_close(&f);
}
