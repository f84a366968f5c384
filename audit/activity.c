/* activity.c - per-agent summaries of the audit trail; see activity.h. */
#include "activity.h"

#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The agent's entry, added (in order) when new; NULL out of memory. */
static struct activity_agent *agent_of(struct activity *a, const char *id)
{
	size_t lo = 0, hi = a->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(a->agents[mid].agent_id, id);
		if (c == 0)
			return &a->agents[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	struct activity_agent *p = realloc(a->agents, (a->n + 1) * sizeof *p);
	if (!p)
		return NULL;
	a->agents = p;
	memmove(&p[lo + 1], &p[lo], (a->n - lo) * sizeof *p);
	memset(&p[lo], 0, sizeof *p);
	snprintf(p[lo].agent_id, sizeof p[lo].agent_id, "%s", id);
	a->n++;
	return &p[lo];
}

static struct activity_verb *verb_of(struct activity_agent *g, const char *verb)
{
	if (g->nverbs >= ACTIVITY_VERBS_MAX)
		verb = "other";
	for (size_t i = 0; i < g->nverbs; i++)
		if (strcmp(g->verbs[i].verb, verb) == 0)
			return &g->verbs[i];
	struct activity_verb *p = realloc(g->verbs, (g->nverbs + 1) * sizeof *p);
	if (!p)
		return NULL;
	g->verbs = p;
	size_t at = 0;
	while (at < g->nverbs && strcmp(p[at].verb, verb) < 0)
		at++;
	memmove(&p[at + 1], &p[at], (g->nverbs - at) * sizeof *p);
	memset(&p[at], 0, sizeof *p);
	snprintf(p[at].verb, sizeof p[at].verb, "%s", verb);
	g->nverbs++;
	return &p[at];
}

/* Runs sql (bound: ?1 since, ?2 owner or NULL, ?3 agent or NULL) and gives each row to fn. */
static int each_row(struct db *db, const char *sql, const struct activity_query *q,
		    int (*fn)(struct activity *a, struct db_stmt *st), struct activity *a)
{
	struct db_stmt *st = db_prep_new(db, sql);
	if (!st)
		return -1;
	db_bind_int64(st, 1, q->since);
	if (q->owner_id)
		db_bind_text(st, 2, q->owner_id);
	else
		db_bind_null(st, 2);
	if (q->agent_id)
		db_bind_text(st, 3, q->agent_id);
	else
		db_bind_null(st, 3);
	int rc;
	while ((rc = db_step(st)) == DB_ROW)
		if (fn(a, st) < 0) {
			rc = -1;
			break;
		}
	db_finalize(st);
	return rc == DB_DONE ? 0 : -1;
}

/* agent_id, owner_id, event, n, runs */
static int row_counts(struct activity *a, struct db_stmt *st)
{
	const char *id = db_col_text(st, 0), *owner = db_col_text(st, 1), *ev = db_col_text(st, 2);
	struct activity_agent *g = agent_of(a, id ? id : "");
	if (!g)
		return -1;
	if (owner && !g->owner_id[0])
		snprintf(g->owner_id, sizeof g->owner_id, "%s", owner);
	long n = (long)db_col_int64(st, 3);
	if (strcmp(ev, EV_TOKEN_ISSUED) == 0 || strcmp(ev, EV_TOKEN_EXCHANGED) == 0)
		g->tokens += n;
	else if (strcmp(ev, EV_APPROVAL_REQUESTED) == 0)
		g->approvals_requested += n;
	else if (strcmp(ev, EV_APPROVAL_APPROVED) == 0)
		g->approvals_approved += n;
	else if (strcmp(ev, EV_APPROVAL_DENIED) == 0)
		g->approvals_denied += n;
	return 0;
}

/* agent_id, owner_id, event, verb, n */
static int row_actions(struct activity *a, struct db_stmt *st)
{
	const char *id = db_col_text(st, 0), *owner = db_col_text(st, 1), *ev = db_col_text(st, 2);
	const char *verb = db_col_text(st, 3);
	struct activity_agent *g = agent_of(a, id ? id : "");
	if (!g)
		return -1;
	if (owner && !g->owner_id[0])
		snprintf(g->owner_id, sizeof g->owner_id, "%s", owner);
	struct activity_verb *v = verb_of(g, verb && *verb ? verb : "(none)");
	if (!v)
		return -1;
	long n = (long)db_col_int64(st, 4);
	if (strcmp(ev, EV_ACTION_ALLOWED) == 0) {
		v->allowed += n;
		g->allowed += n;
	} else {
		v->denied += n;
		g->denied += n;
	}
	return 0;
}

/* agent_id, runs */
static int row_runs(struct activity *a, struct db_stmt *st)
{
	struct activity_agent *g = agent_of(a, db_col_text(st, 0) ? db_col_text(st, 0) : "");
	if (!g)
		return -1;
	g->runs = (long)db_col_int64(st, 1);
	return 0;
}

#define FILTER                                                                                 \
	" time >= ?1 AND agent_id IS NOT NULL AND (CAST(?2 AS TEXT) IS NULL OR owner_id = ?2)" \
	" AND (CAST(?3 AS TEXT) IS NULL OR agent_id = ?3)"

int activity_read(struct db *db, const struct activity_query *q, struct activity *out)
{
	memset(out, 0, sizeof *out);
	const char *counts = "SELECT agent_id, MAX(owner_id), event, COUNT(*) FROM audit_events WHERE" FILTER
			     " AND event IN ('" EV_TOKEN_ISSUED "','" EV_TOKEN_EXCHANGED "','" EV_APPROVAL_REQUESTED
			     "','" EV_APPROVAL_APPROVED "','" EV_APPROVAL_DENIED "') AND outcome = 'ok'"
			     /* an exchanged token is its actor's; the copies keyed to other owners are not */
			     " AND (event <> '" EV_TOKEN_EXCHANGED "' OR actor = agent_id) GROUP BY agent_id, event";
	/* the verb is the detail's "action" (token/evaluate.c writes it) */
	const char *actions =
		db_sql(db,
		       "SELECT agent_id, MAX(owner_id), event, json_extract(detail, '$.action') AS verb, COUNT(*)"
		       " FROM audit_events WHERE" FILTER " AND event IN ('" EV_ACTION_ALLOWED "','" EV_ACTION_DENIED
		       "') AND json_valid(detail) GROUP BY agent_id, event, verb",
		       "SELECT agent_id, MAX(owner_id), event, CAST(detail AS jsonb) ->> 'action' AS verb, COUNT(*)"
		       " FROM audit_events WHERE" FILTER " AND event IN ('" EV_ACTION_ALLOWED "','" EV_ACTION_DENIED
		       "') GROUP BY agent_id, event, verb");
	const char *runs =
		"SELECT agent_id, COUNT(DISTINCT run_id) FROM audit_events WHERE" FILTER
		" AND run_id IS NOT NULL AND run_id <> '' AND ((event IN ('" EV_TOKEN_ISSUED "','" EV_TOKEN_EXCHANGED
		"') AND outcome = 'ok' AND actor = agent_id) OR event IN ('" EV_ACTION_ALLOWED "','" EV_ACTION_DENIED
		"')) GROUP BY agent_id";
	if (each_row(db, counts, q, row_counts, out) < 0 || each_row(db, actions, q, row_actions, out) < 0 ||
	    each_row(db, runs, q, row_runs, out) < 0) {
		activity_free(out);
		return -1;
	}
	return 0;
}

void activity_free(struct activity *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->agents[i].verbs);
	free(a->agents);
	memset(a, 0, sizeof *a);
}

void activity_agent_json(const struct activity_agent *g, struct buf *b)
{
	buf_puts(b, "{\"id\":");
	buf_json_cstr(b, g->agent_id);
	buf_puts(b, ",\"owner_id\":");
	buf_json_cstr(b, g->owner_id);
	buf_printf(b, ",\"tokens\":%ld,\"runs\":%ld,\"allowed\":%ld,\"denied\":%ld", g->tokens, g->runs, g->allowed,
		   g->denied);
	buf_puts(b, ",\"actions\":{");
	for (size_t i = 0; i < g->nverbs; i++) {
		if (i)
			buf_puts(b, ",");
		buf_json_cstr(b, g->verbs[i].verb);
		buf_printf(b, ":{\"allowed\":%ld,\"denied\":%ld}", g->verbs[i].allowed, g->verbs[i].denied);
	}
	buf_printf(b, "},\"approvals\":{\"requested\":%ld,\"approved\":%ld,\"denied\":%ld}}", g->approvals_requested,
		   g->approvals_approved, g->approvals_denied);
}
