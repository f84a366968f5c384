/* audit.c - writing and querying the audit trail; see audit.h. */
#include "audit.h"
#include "chain.h"
#include "summary.h"

#include "../common/buf.h"
#include "../common/timeutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bind_opt(struct db_stmt *st, int i, const char *s) { return db_bind_text(st, i, s && *s ? s : NULL); }

int audit_insert(struct db *db, const struct audit_event *ev)
{
	DB_ASSERT_TX(db);
	if (ev->summarize && ev->outcome && strcmp(ev->outcome, "refused") == 0) {
		audit_summary_add(ev); /* a row a minute at most: audit_summary_flush */
		return 0;
	}
	if (ev->detail_failed)
		return -1;
	const char *agent = ev->agent_id[0] ? ev->agent_id : strncmp(ev->actor, "agt_", 4) == 0 ? ev->actor : NULL;
	struct chain_row r = {
		.time_ms = ev->time ? ev->time : now_ms(),
		.event = ev->event,
		.actor = ev->actor[0] ? ev->actor : "anonymous",
		.agent_id = agent,
		.owner_id = ev->owner_id,
		.run_id = ev->run_id,
		.ws = ev->ws,
		.jti = ev->jti,
		.client_addr = ev->client_addr,
		.outcome = ev->outcome ? ev->outcome : "ok",
		.request_id = ev->request_id,
		.detail = ev->detail,
	};
	char hash[CHAIN_HASH_HEX];
	if (chain_link(db, &r, hash) < 0)
		return -1;
	struct db_stmt *st = db_prep(db, "INSERT INTO audit_events(time, event, actor, owner_id, run_id, ws, jti,"
					 " client_addr, outcome, detail, request_id, agent_id, chain, seq, hash)"
					 " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
	if (!st)
		return -1;
	db_bind_int64(st, 1, r.time_ms);
	db_bind_text(st, 2, r.event);
	db_bind_text(st, 3, r.actor);
	bind_opt(st, 4, r.owner_id);
	bind_opt(st, 5, r.run_id);
	bind_opt(st, 6, r.ws);
	bind_opt(st, 7, r.jti);
	bind_opt(st, 8, r.client_addr);
	db_bind_text(st, 9, r.outcome);
	bind_opt(st, 10, r.detail);
	bind_opt(st, 11, r.request_id);
	bind_opt(st, 12, r.agent_id);
	db_bind_text(st, 13, r.chain);
	db_bind_int64(st, 14, r.seq);
	db_bind_text(st, 15, hash);
	return db_insert_later(st); /* with the batch's other rows, on PostgreSQL */
}

int audit_job(struct db *db, void *ev) { return audit_insert(db, ev); }

#define COPY(field, v) snprintf(ev->field, sizeof ev->field, "%s", (v) ? (v) : "")

void audit_event_init(struct audit_event *ev, const char *event, const char *outcome, const struct audit_keys *k)
{
	memset(ev, 0, sizeof *ev);
	ev->time = now_ms();
	ev->event = event;
	ev->outcome = outcome;
	COPY(actor, !k->actor ? "system" : *k->actor ? k->actor : "anonymous");
	COPY(agent_id, k->agent_id);
	COPY(owner_id, k->owner_id);
	COPY(ws, k->ws);
	COPY(run_id, k->run_id);
	COPY(jti, k->jti);
	COPY(client_addr, k->client_addr);
	COPY(request_id, k->request_id);
}

int audit_detail_set(struct audit_event *ev, const char *json)
{
	free(ev->detail);
	ev->detail = NULL;
	if (!json)
		return 0;
	ev->detail = strdup(json);
	ev->detail_failed = !ev->detail;
	return ev->detail ? 0 : -1;
}

int audit_detailf(struct audit_event *ev, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	free(ev->detail);
	ev->detail = n < 0 ? NULL : s;
	ev->detail_failed = n < 0;
	return n < 0 ? -1 : 0;
}

int audit_detail_take(struct audit_event *ev, struct buf *b)
{
	free(ev->detail);
	ev->detail = b->failed ? NULL : buf_steal(b, NULL);
	ev->detail_failed = !ev->detail;
	buf_free(b);
	return ev->detail ? 0 : -1;
}

int audit_event_summarize(struct audit_event *ev, const char *reason, const char *error)
{
	if (!ev->outcome || strcmp(ev->outcome, "refused") != 0 ||
	    (ev->actor[0] && strcmp(ev->actor, "anonymous") != 0))
		return 0;
	ev->summarize = 1;
	ev->summary_error = error ? error : "";
	ev->summary_reason = reason ? reason : ev->summary_error;
	return 1;
}

void audit_event_clear(struct audit_event *ev)
{
	free(ev->detail);
	ev->detail = NULL;
	ev->detail_failed = 0;
}

int audit_write(struct db *db, const char *event, const struct audit_keys *k, const char *detail)
{
	struct audit_event ev;
	audit_event_init(&ev, event, "ok", k);
	/* the caller's string is only read during the insert: no copy needed */
	ev.detail = (char *)detail;
	return audit_insert(db, &ev);
}

static void col_json(struct buf *b, const char *key, struct db_stmt *st, int i)
{
	buf_printf(b, ",\"%s\":", key);
	if (db_col_null(st, i))
		buf_puts(b, "null");
	else
		buf_json_str(b, db_col_text(st, i), (size_t)db_col_bytes(st, i));
}

long audit_export(struct db *db, const struct audit_query *q, void (*emit)(void *arg, const char *json, size_t n),
		  void *arg)
{
	/* only the filters given appear in the statement, so the planner can pick the
	 * (owner_id, time), (agent_id, time) or run_id index */
	char sql[768];
	snprintf(sql, sizeof sql,
		 "SELECT time, event, actor, owner_id, run_id, ws, jti, client_addr, outcome, detail,"
		 " request_id, agent_id, chain, seq, hash FROM audit_events WHERE time >= ?5 AND time < ?6%s%s%s%s"
		 " ORDER BY time, id LIMIT ?7",
		 q->owner_id ? " AND owner_id = ?1" : "", q->agent_id ? " AND agent_id = ?2" : "",
		 q->run_id ? " AND run_id = ?3" : "", q->ws ? " AND ws = ?4" : "");
	struct db_stmt *st = NULL;
	if (!(st = db_prep_new(db, sql)))
		return -1;
	if (q->owner_id)
		db_bind_text(st, 1, q->owner_id);
	if (q->agent_id)
		db_bind_text(st, 2, q->agent_id);
	if (q->run_id)
		db_bind_text(st, 3, q->run_id);
	if (q->ws)
		db_bind_text(st, 4, q->ws);
	db_bind_int64(st, 5, q->since);
	db_bind_int64(st, 6, q->until ? q->until : INT64_MAX);
	db_bind_int64(st, 7, q->limit > 0 ? q->limit : INT64_MAX);
	long n = 0;
	struct buf b;
	buf_init(&b, 64 * 1024);
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		buf_reset(&b);
		audit_row_json(&b, st);
		if (!b.failed)
			emit(arg, b.p, b.len);
		n++;
	}
	db_finalize(st);
	buf_free(&b);
	return rc == DB_DONE ? n : -1;
}

void audit_row_json(struct buf *b, struct db_stmt *st)
{
	char t[32];
	buf_printf(b, "{\"time\":\"%s\",\"time_ms\":%lld", rfc3339(db_col_int64(st, 0), t),
		   (long long)db_col_int64(st, 0));
	col_json(b, "event", st, 1);
	col_json(b, "actor", st, 2);
	col_json(b, "agent_id", st, 11);
	col_json(b, "owner_id", st, 3);
	col_json(b, "run_id", st, 4);
	col_json(b, "ws", st, 5);
	col_json(b, "jti", st, 6);
	col_json(b, "client_addr", st, 7);
	col_json(b, "outcome", st, 8);
	buf_puts(b, ",\"detail\":");
	const char *d = db_col_text(st, 9);
	buf_puts(b, d && *d ? d : "{}");
	col_json(b, "request_id", st, 10);
	col_json(b, "chain", st, 12);
	if (db_col_null(st, 13))
		buf_puts(b, ",\"seq\":null");
	else
		buf_printf(b, ",\"seq\":%lld", (long long)db_col_int64(st, 13));
	col_json(b, "hash", st, 14);
	buf_puts(b, "}");
}

int audit_agents_of_run(struct db *db, const char *run, const char *owner_scope,
			int (*fn)(void *arg, const char *agent, const char *owner), void *arg)
{
	/* its own statement: fn writes on this connection while the rows are read */
	struct db_stmt *st = NULL;
	if (!(st = db_prep_new(db, "SELECT DISTINCT e.agent_id, a.owner_id FROM audit_events e"
				   " JOIN agents a ON a.id = e.agent_id WHERE e.run_id = ?1"
				   " AND e.event IN ('token.issued', 'token.exchanged')"
				   " AND (CAST(?2 AS TEXT) IS NULL OR a.owner_id = ?2) ORDER BY e.agent_id")))
		return -1;
	db_bind_text(st, 1, run);
	db_bind_text(st, 2, owner_scope);
	int rc = 0, s;
	while (rc == 0 && (s = db_step(st)) == DB_ROW)
		rc = fn(arg, db_col_text(st, 0), db_col_text(st, 1));
	if (rc == 0 && s != DB_DONE)
		rc = -1;
	db_finalize(st);
	return rc;
}

long audit_follow(struct db *db, int64_t *after, long limit, void (*emit)(void *arg, const char *json, size_t n),
		  void *arg)
{
	struct db_stmt *st = db_prep(db, "SELECT " AUDIT_ROW_COLUMNS ", id FROM audit_events WHERE id > ?1"
					 " ORDER BY id LIMIT ?2");
	if (!st)
		return -1;
	db_bind_int64(st, 1, *after);
	db_bind_int64(st, 2, limit);
	struct buf b;
	buf_init(&b, 64 * 1024);
	long n = 0;
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		b.len = 0;
		audit_row_json(&b, st);
		*after = db_col_int64(st, 15);
		if (b.failed)
			break;
		emit(arg, b.p, b.len);
		n++;
	}
	db_reset(st);
	buf_free(&b);
	return rc == DB_ROW || rc == DB_DONE ? n : -1;
}

int64_t audit_last_id(struct db *db, int64_t since_ms)
{
	/* the primary key's end, or the row before the first at or after since_ms */
	struct db_stmt *st =
		since_ms == INT64_MAX
			? db_prep(db, "SELECT coalesce(max(id), 0) FROM audit_events")
			: db_prep(db, "SELECT coalesce((SELECT id - 1 FROM audit_events WHERE time >= ?1"
				      " ORDER BY time, id LIMIT 1), (SELECT max(id) FROM audit_events), 0)");
	if (!st)
		return -1;
	if (since_ms != INT64_MAX)
		db_bind_int64(st, 1, since_ms);
	int64_t v = db_step(st) == DB_ROW ? db_col_int64(st, 0) : -1;
	db_reset(st);
	return v;
}
