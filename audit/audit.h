/* audit.h - security events: one row each, dual-keyed by actor and accountable owner.
 *
 * An event is self-contained (fixed buffers for its keys, its own copy of the detail) so it
 * can wait in a request's state until the writer commits it. Secrets and token strings must
 * never be put in any field. A detail is never truncated: one that could not be built makes
 * the insert fail, so the request that reports it fails with it. */
#ifndef WARRANT_AUDIT_H
#define WARRANT_AUDIT_H
#include "../common/rand.h"
#include "../store/db.h"

#include <stdint.h>
#include <stdio.h>

struct audit_event {
	int64_t time;          /* ms; 0 = now */
	const char *event;     /* static: "token.issued", ... */
	const char *outcome;   /* static: "ok", "refused", "error", "active", ... */
	char actor[ID_MAX];    /* agent, owner, resource server or "system" */
	char agent_id[ID_MAX]; /* the agent concerned; defaults to actor when it is one */
	char owner_id[ID_MAX]; /* the accountable human; "" when unknown */
	char run_id[72];
	char ws[ID_MAX];
	char jti[40];
	char client_addr[64];
	char request_id[40];
	char *detail;      /* a JSON object owned by the event, or NULL (audit_event_clear) */
	int detail_failed; /* building the detail failed: audit_insert refuses the event */
	/* set by audit_event_summarize: counted per minute (audit/summary.h), not a row */
	int summarize;
	const char *summary_reason, *summary_error; /* static strings */
};

/* Who and what an event is about; NULL members are left empty (actor: "system"). */
struct audit_keys {
	const char *actor, *agent_id, *owner_id, *ws, *run_id, *jti, *client_addr, *request_id;
};
/* Sets ev to a fresh event (time now) with these keys; an empty actor becomes "anonymous".
 * ev must not hold a detail (zeroed, or cleared with audit_event_clear). */
void audit_event_init(struct audit_event *ev, const char *event, const char *outcome, const struct audit_keys *k);
/* Replaces the event's detail with a copy of json (a JSON object; NULL: none). 0, or -1 on
 * allocation failure (then the event is marked failed and will not be inserted). */
int audit_detail_set(struct audit_event *ev, const char *json);
/* The same with printf formatting, of any length. */
int audit_detailf(struct audit_event *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes the JSON built in b as the detail (b is emptied and freed); a failed b marks the
 * event failed. 0 or -1. Details are built with AUDIT_DETAIL_LIMIT as the buffer's cap: far
 * above anything the request limits let through, so reaching it is a failure, never a cut. */
#define AUDIT_DETAIL_LIMIT (1 << 20)
struct buf;
int audit_detail_take(struct audit_event *ev, struct buf *b);
/* SPEC "Audit": a refusal of a client nobody knows, or a request a throttle refused, is
 * summarized per minute and client address rather than written as a row of its own, so an
 * unauthenticated flood cannot fill the disk. The producer calls this on such an event,
 * once it knows that no agent, owner or resource server it recognised is involved; reason
 * and error are static strings (err.reason, err.code; NULL reason: the error). The one
 * rule is applied here: only a refusal (outcome "refused") whose actor is "anonymous" is
 * marked, so a known caller's refusal is always its own row; audit_insert then counts the
 * event (audit_summary_add) instead of inserting it. Returns 1 when marked, else 0. */
int audit_event_summarize(struct audit_event *ev, const char *reason, const char *error);
/* Formats a small detail made of server values (ids, times) into the char array buf: 0, or
 * -1 when it would not fit; the caller then fails the write rather than store a cut one. */
#define audit_detail_fits(buf, ...) (snprintf((buf), sizeof(buf), __VA_ARGS__) < (int)sizeof(buf) ? 0 : -1)
/* Frees the detail; the event's keys stay. */
void audit_event_clear(struct audit_event *ev);
/* Inserts an "ok" event with keys k and detail (a JSON object or NULL). 0 or -1. */
int audit_write(struct db *db, const char *event, const struct audit_keys *k, const char *detail);

/* Inserts ev; runs inside the caller's transaction (a writer job or db_tx). 0, or -1 on a
 * database error or when the event's detail could not be built. An event marked by
 * audit_event_summarize that is still a refusal is counted in the minute's summary
 * instead (no row now, never a failure). */
int audit_insert(struct db *db, const struct audit_event *ev);
/* A writer job that inserts the event passed as arg. */
int audit_job(struct db *db, void *ev);

#define AUDIT_PRUNE_CHUNK 5000
/* `serve --audit-retention` when not given: a year and a month, so a yearly review (PCI DSS
 * 10.5.1 asks for twelve months of history) always finds the whole year; 0 keeps all. */
#define AUDIT_RETENTION_DEFAULT_DAYS 400

struct audit_prune {
	int64_t before_ms;
	int deleted;
};
/* Writer job: deletes at most AUDIT_PRUNE_CHUNK rows older than before_ms, so a large
 * backlog never holds the write lock for long; chained rows only as whole prefixes of their
 * chain up to a checkpoint (audit/retention.h). */
int audit_prune_job(struct db *db, void *arg);

/* Calls fn for each agent (and its owner) that was issued a token of run, limited to
 * owner_scope's agents when not NULL: the token.issued and token.exchanged rows' own
 * columns, through the trail's run index (kept as long as the trail, longer than the ledger). Returns 0, fn's
 * non-zero value, or -1. fn may write on db. */
int audit_agents_of_run(struct db *db, const char *run, const char *owner_scope,
			int (*fn)(void *arg, const char *agent, const char *owner), void *arg);

struct audit_query {
	const char *owner_id, *agent_id, *run_id, *ws;
	int64_t since, until; /* ms; 0 = open */
	long limit;           /* 0 = no limit */
};
/* The columns every export selects, in this order, for audit_row_json. */
#define AUDIT_ROW_COLUMNS                                                                                    \
	"time, event, actor, owner_id, run_id, ws, jti, client_addr, outcome, detail, request_id, agent_id," \
	" chain, seq, hash"
struct buf;
/* Appends the export object of the current row of st (selected as AUDIT_ROW_COLUMNS): the
 * SPEC's members, time_ms (the exact time the hash covers), chain, seq and hash. */
void audit_row_json(struct buf *b, struct db_stmt *st);
/* Calls emit once per matching event as a JSON object (time order); returns rows or -1. */
long audit_export(struct db *db, const struct audit_query *q, void (*emit)(void *arg, const char *json, size_t n),
		  void *arg);
/* `warrant audit --follow` and the webhook's peers: rows committed after row id *after, in
 * commit order (ids grow in commit order on both engines: rows are written under the
 * writer lock), at most limit; *after moves to the last one emitted. Rows or -1. */
long audit_follow(struct db *db, int64_t *after, long limit, void (*emit)(void *arg, const char *json, size_t n),
		  void *arg);
/* Where to follow from: the id before the first row at or after since_ms (INT64_MAX: the
 * last row's id), 0 when none; -1 on a database error. */
int64_t audit_last_id(struct db *db, int64_t since_ms);
#endif
