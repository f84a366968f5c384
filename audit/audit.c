/* audit.c - writing and querying the audit trail; see audit.h. */
#include "audit.h"
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
	struct db_stmt *st =
		db_prep(db, "INSERT INTO audit_events(time, event, actor, owner_id, run_id, ws, jti, client_addr,"
			    " outcome, detail, request_id, agent_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
	if (!st)
		return -1;
	db_bind_int64(st, 1, ev->time ? ev->time : now_ms());
	db_bind_text(st, 2, ev->event);
	db_bind_text(st, 3, ev->actor[0] ? ev->actor : "anonymous");
	bind_opt(st, 4, ev->owner_id);
	bind_opt(st, 5, ev->run_id);
	bind_opt(st, 6, ev->ws);
	bind_opt(st, 7, ev->jti);
	bind_opt(st, 8, ev->client_addr);
	db_bind_text(st, 9, ev->outcome ? ev->outcome : "ok");
	bind_opt(st, 10, ev->detail);
	bind_opt(st, 11, ev->request_id);
	bind_opt(st, 12, ev->agent_id[0] ? ev->agent_id : strncmp(ev->actor, "agt_", 4) == 0 ? ev->actor : NULL);
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

int audit_prune_job(struct db *db, void *arg)
{
	struct audit_prune *p = arg;
	/* rowids grow with time: the oldest rows are the lowest ids */
	struct db_stmt *st = db_prep(db, "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events"
					 " WHERE time < ?1 ORDER BY time LIMIT ?2)");
	if (!st)
		return -1;
	db_bind_int64(st, 1, p->before_ms);
	db_bind_int(st, 2, AUDIT_PRUNE_CHUNK);
	if (db_step_done(st) < 0)
		return -1;
	p->deleted = db_changes(db);
	return 0;
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
		 " request_id, agent_id FROM audit_events WHERE time >= ?5 AND time < ?6%s%s%s%s"
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
		char t[32];
		buf_reset(&b);
		buf_printf(&b, "{\"time\":\"%s\"", rfc3339(db_col_int64(st, 0), t));
		col_json(&b, "event", st, 1);
		col_json(&b, "actor", st, 2);
		col_json(&b, "agent_id", st, 11);
		col_json(&b, "owner_id", st, 3);
		col_json(&b, "run_id", st, 4);
		col_json(&b, "ws", st, 5);
		col_json(&b, "jti", st, 6);
		col_json(&b, "client_addr", st, 7);
		col_json(&b, "outcome", st, 8);
		buf_puts(&b, ",\"detail\":");
		const char *d = db_col_text(st, 9);
		buf_puts(&b, d && *d ? d : "{}");
		col_json(&b, "request_id", st, 10);
		buf_puts(&b, "}");
		if (!b.failed)
			emit(arg, b.p, b.len);
		n++;
	}
	db_finalize(st);
	buf_free(&b);
	return rc == DB_DONE ? n : -1;
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
