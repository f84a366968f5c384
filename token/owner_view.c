/* owner_view.c - read-only views of an owner's agents; see owner_view.h. */
#include "owner_view.h"

#include "../audit/events.h"
#include "../common/timeutil.h"

#include <stdio.h>
#include <string.h>

static void time_or_null(struct buf *b, const char *name, struct db_stmt *st, int col)
{
	char t[32];
	buf_printf(b, ",\"%s\":", name);
	if (db_col_null(st, col))
		buf_puts(b, "null");
	else
		buf_printf(b, "\"%s\"", rfc3339(db_col_int64(st, col), t));
}

static void text_or_null(struct buf *b, const char *name, struct db_stmt *st, int col)
{
	buf_printf(b, ",\"%s\":", name);
	if (db_col_null(st, col))
		buf_puts(b, "null");
	else
		buf_json_cstr(b, db_col_text(st, col));
}

int agent_credentials_json(struct db *db, const char *agent_id, struct buf *out)
{
	struct db_stmt *st = db_prep(db, "SELECT id, kind, created_at, expires_at, revoked_at, kid, jkt, subject"
					 " FROM credentials WHERE agent_id = ? ORDER BY created_at DESC, id LIMIT ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, agent_id);
	db_bind_int(st, 2, OWNER_VIEW_CREDS_MAX);
	int64_t now = now_ms();
	int k = 0, rc;
	buf_puts(out, "[");
	while ((rc = db_step(st)) == DB_ROW) {
		int live = db_col_null(st, 4) && (db_col_null(st, 3) || db_col_int64(st, 3) > now);
		buf_puts(out, k++ ? ",{\"id\":" : "{\"id\":");
		buf_json_cstr(out, db_col_text(st, 0));
		buf_puts(out, ",\"kind\":");
		buf_json_cstr(out, db_col_text(st, 1));
		time_or_null(out, "created_at", st, 2);
		time_or_null(out, "expires_at", st, 3);
		time_or_null(out, "revoked_at", st, 4);
		buf_printf(out, ",\"live\":%s", live ? "true" : "false");
		text_or_null(out, "kid", st, 5);
		text_or_null(out, "jkt", st, 6);
		text_or_null(out, "subject", st, 7);
		buf_puts(out, "}");
	}
	db_reset(st);
	buf_puts(out, "]");
	return rc == DB_DONE ? 0 : -1;
}

int agent_last_token(struct db *db, const char *agent_id, int64_t *ms)
{
	struct db_stmt *st = db_prep(
		db,
		"SELECT max(time) FROM audit_events WHERE agent_id = ?1 AND actor = ?1 AND event IN ('" EV_TOKEN_ISSUED
		"', '" EV_TOKEN_EXCHANGED "') AND outcome = 'ok'");
	if (!st)
		return -1;
	db_bind_text(st, 1, agent_id);
	int rc = db_step(st);
	*ms = rc == DB_ROW && !db_col_null(st, 0) ? db_col_int64(st, 0) : 0;
	db_reset(st);
	return rc == DB_ROW ? 0 : -1;
}

int agent_live_runs_json(struct db *db, const struct agent *a, struct buf *out)
{
	struct db_stmt *st = db_prep(
		db,
		"SELECT t.run_id, count(*), min(t.iat), max(t.exp) FROM tokens t"
		" WHERE t.agent_id = ?1 AND t.exp > ?2 AND t.iat > ?3"
		" AND NOT EXISTS (SELECT 1 FROM revoked_runs r WHERE r.agent_id = t.agent_id AND r.run_id = t.run_id)"
		" AND NOT EXISTS (SELECT 1 FROM revoked_tokens v WHERE v.jti = t.jti)"
		" AND (t.cred_id IS NULL OR EXISTS (SELECT 1 FROM credentials c WHERE c.id = t.cred_id"
		"   AND c.revoked_at IS NULL))"
		" GROUP BY t.run_id ORDER BY max(t.iat) DESC LIMIT ?4");
	if (!st)
		return -1;
	db_bind_text(st, 1, a->id);
	db_bind_int64(st, 2, now_ms() / 1000);
	db_bind_int64(st, 3, a->tokens_before);
	db_bind_int(st, 4, OWNER_VIEW_RUNS_MAX);
	int k = 0, rc;
	char t1[32], t2[32];
	buf_puts(out, "[");
	while ((rc = db_step(st)) == DB_ROW) {
		buf_puts(out, k++ ? ",{\"run_id\":" : "{\"run_id\":");
		buf_json_cstr(out, db_col_text(st, 0));
		buf_printf(out, ",\"tokens\":%lld,\"first_issued_at\":\"%s\",\"expires_at\":\"%s\"}",
			   (long long)db_col_int64(st, 1), rfc3339(db_col_int64(st, 2), t1),
			   rfc3339(db_col_int64(st, 3) * 1000, t2));
	}
	db_reset(st);
	buf_puts(out, "]");
	return rc == DB_DONE ? 0 : -1;
}

int owner_daily_activity_json(struct db *db, const char *owner_id, int64_t since_ms, struct buf *out)
{
	/* integer division on both engines: the UTC day's number */
	struct db_stmt *st =
		db_prep(db, "SELECT agent_id, time / 86400000 AS d, event, count(*) FROM audit_events"
			    " WHERE owner_id = ?1 AND time >= ?2 AND agent_id IS NOT NULL"
			    " AND event IN ('" EV_TOKEN_ISSUED "', '" EV_TOKEN_EXCHANGED "', '" EV_ACTION_ALLOWED
			    "', '" EV_ACTION_DENIED "') AND (event NOT IN ('" EV_TOKEN_ISSUED "', '" EV_TOKEN_EXCHANGED
			    "') OR (outcome = 'ok' AND actor = agent_id))"
			    " GROUP BY agent_id, time / 86400000, event ORDER BY 2, 1, 3");
	if (!st)
		return -1;
	db_bind_text(st, 1, owner_id);
	db_bind_int64(st, 2, since_ms);
	int k = 0, rc;
	buf_puts(out, "[");
	while ((rc = db_step(st)) == DB_ROW) {
		char t[32];
		rfc3339(db_col_int64(st, 1) * 86400000, t);
		t[10] = '\0';
		buf_puts(out, k++ ? ",{\"agent_id\":" : "{\"agent_id\":");
		buf_json_cstr(out, db_col_text(st, 0));
		buf_printf(out, ",\"day\":\"%s\",\"event\":", t);
		buf_json_cstr(out, db_col_text(st, 2));
		buf_printf(out, ",\"n\":%lld}", (long long)db_col_int64(st, 3));
	}
	db_reset(st);
	buf_puts(out, "]");
	return rc == DB_DONE ? 0 : -1;
}
