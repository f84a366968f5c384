/* delegation.c - delegations between agents; see delegation.h. */
#include "delegation.h"

#include "../audit/audit.h"
#include "../audit/events.h"
#include "../common/buf.h"
#include "../common/timeutil.h"
#include "../store/changes.h"

#include <string.h>

/* A and B loaded and checked; 0, or 1 with r->err set, or -1. */
static int load_pair(struct db *db, struct delegation_change *r)
{
	int f = agent_load_owned(db, r->agent_id, r->owner_scope, &r->agent, &r->err);
	if (f <= 0)
		return f < 0 ? -1 : 1;
	if (!r->delegate_id || agent_load(db, r->delegate_id, &r->delegate) != 1) {
		oerr_set(&r->err, 404, "not_found", "no agent %.64s", r->delegate_id ? r->delegate_id : "");
		return 1;
	}
	if (strcmp(r->agent.id, r->delegate.id) == 0) {
		oerr_set(&r->err, 400, "invalid_request", "an agent cannot delegate to itself");
		return 1;
	}
	return 0;
}

static int audit_change(struct db *db, struct delegation_change *r, const char *event)
{
	struct audit_keys k = {.actor = r->actor,
			       .agent_id = r->agent.id,
			       .owner_id = r->agent.owner_id,
			       .client_addr = r->client_addr,
			       .request_id = r->request_id};
	char d[400];
	if (audit_detail_fits(d,
			      "{\"agent_id\":\"%s\",\"delegate_id\":\"%s\",\"delegate_owner_id\":\"%s\","
			      "\"max_depth\":%d%s}",
			      r->agent.id, r->delegate.id, r->delegate.owner_id, r->max_depth,
			      r->replaced ? ",\"replaced\":true" : "") < 0)
		return -1;
	return audit_write(db, event, &k, d);
}

int delegation_body_parse(json_t *body, struct delegation_change *r)
{
	json_t *ag = json_object_get(body, "agent"), *md = json_object_get(body, "max_depth");
	if (!json_is_string(ag) || (md && !json_is_integer(md)) || json_object_size(body) != 1u + !!md) {
		oerr_set(&r->err, 400, "invalid_request", "want {\"agent\": \"agt_...\", \"max_depth\": 1 to %d}",
			 DELEGATION_DEPTH_MAX);
		return -1;
	}
	r->delegate_id = json_string_value(ag);
	r->max_depth = DELEGATION_DEPTH_DEFAULT;
	if (md) {
		json_int_t v = json_integer_value(md);
		/* compared before the cast: -4294967295 must not wrap to 1 */
		r->max_depth = v < 1 || v > DELEGATION_DEPTH_MAX ? 0 : (int)v;
	}
	return 0;
}

int delegation_add_job(struct db *db, void *arg)
{
	struct delegation_change *r = arg;
	int rc = load_pair(db, r);
	if (rc)
		return rc;
	if (r->max_depth < 1 || r->max_depth > DELEGATION_DEPTH_MAX) {
		oerr_set(&r->err, 400, "invalid_request", "max_depth must be 1 to %d", DELEGATION_DEPTH_MAX);
		return 1;
	}
	if (!strcmp(r->agent.status, "retired") || !strcmp(r->delegate.status, "retired")) {
		oerr_set(&r->err, 400, "invalid_request", "a retired agent takes part in no delegation");
		return 1;
	}
	int old_depth;
	int64_t old_ms;
	int had = delegation_get(db, r->agent.id, r->delegate.id, &old_depth, &old_ms);
	if (had < 0)
		return -1;
	r->replaced = had;
	r->created_at = had ? old_ms : now_ms();
	/* a changed max_depth keeps created_at: tokens exchanged under it stay covered (or, when
	 * it shrank below their depth, die) */
	struct db_stmt *st = db_prep(db, "INSERT INTO delegations(agent_id, delegate_id, max_depth, created_at,"
					 " created_by) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (agent_id, delegate_id)"
					 " DO UPDATE SET max_depth = excluded.max_depth");
	if (!st)
		return -1;
	db_bind_text(st, 1, r->agent.id);
	db_bind_text(st, 2, r->delegate.id);
	db_bind_int(st, 3, r->max_depth);
	db_bind_int64(st, 4, r->created_at);
	db_bind_text(st, 5, r->actor ? r->actor : "system");
	if (db_step_done(st) < 0 || change_note(db, CHANGE_DELEGATION, r->agent.id, r->delegate.id, 0) < 0)
		return -1;
	return audit_change(db, r, EV_DELEGATION_ADDED);
}

int delegation_remove_job(struct db *db, void *arg)
{
	struct delegation_change *r = arg;
	int rc = load_pair(db, r);
	if (rc)
		return rc;
	int64_t ms;
	int had = delegation_get(db, r->agent.id, r->delegate.id, &r->max_depth, &ms);
	if (had <= 0) {
		if (had == 0)
			oerr_set(&r->err, 404, "not_found", "%s does not delegate to %s", r->agent.id, r->delegate.id);
		return had < 0 ? -1 : 1;
	}
	struct db_stmt *st = db_prep(db, "DELETE FROM delegations WHERE agent_id = ? AND delegate_id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, r->agent.id);
	db_bind_text(st, 2, r->delegate.id);
	/* the change log carries the withdrawal to every node: the tokens exchanged under it
	 * are inactive there within a second (token/live.c) */
	if (db_step_done(st) < 0 || change_note(db, CHANGE_DELEGATION, r->agent.id, r->delegate.id, 0) < 0)
		return -1;
	return audit_change(db, r, EV_DELEGATION_REMOVED);
}

int delegation_get(struct db *db, const char *agent, const char *delegate, int *max_depth, int64_t *created_ms)
{
	struct db_stmt *st =
		db_prep(db, "SELECT max_depth, created_at FROM delegations WHERE agent_id = ? AND delegate_id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, agent);
	db_bind_text(st, 2, delegate);
	int rc = db_step(st);
	if (rc == DB_ROW) {
		*max_depth = (int)db_col_int64(st, 0);
		*created_ms = db_col_int64(st, 1);
	}
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

/* One JSON object per row of a (id, max_depth, created_at) query bound to id. */
static long list_rows(struct db *db, const char *sql, const char *id,
		      void (*emit)(void *arg, const char *json, size_t n), void *arg)
{
	struct db_stmt *st = db_prep_new(db, sql);
	if (!st)
		return -1;
	db_bind_text(st, 1, id);
	long n = 0;
	int rc;
	struct buf b;
	buf_init(&b, 1024);
	while ((rc = db_step(st)) == DB_ROW) {
		char t[32];
		buf_reset(&b);
		buf_puts(&b, "{\"agent\":");
		buf_json_cstr(&b, db_col_text(st, 0));
		buf_printf(&b, ",\"max_depth\":%lld,\"created_at\":\"%s\"}", (long long)db_col_int64(st, 1),
			   rfc3339(db_col_int64(st, 2), t));
		if (!b.failed)
			emit(arg, b.p, b.len);
		n++;
	}
	db_finalize(st);
	buf_free(&b);
	return rc == DB_DONE ? n : -1;
}

long delegation_list(struct db *db, const char *agent, void (*emit)(void *arg, const char *json, size_t n), void *arg)
{
	return list_rows(db,
			 "SELECT delegate_id, max_depth, created_at FROM delegations"
			 " WHERE agent_id = ? ORDER BY created_at, delegate_id",
			 agent, emit, arg);
}

long delegation_list_to(struct db *db, const char *delegate, void (*emit)(void *arg, const char *json, size_t n),
			void *arg)
{
	return list_rows(db,
			 "SELECT agent_id, max_depth, created_at FROM delegations"
			 " WHERE delegate_id = ? ORDER BY created_at, agent_id",
			 delegate, emit, arg);
}
