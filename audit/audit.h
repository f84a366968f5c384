/* audit.h - security events: one row each, dual-keyed by actor and accountable owner.
 *
 * An event is self-contained (fixed buffers) so it can wait in a request's state until the
 * writer commits it. Secrets and token strings must never be put in any field. */
#ifndef WARRANT_AUDIT_H
#define WARRANT_AUDIT_H
#include "../common/rand.h"
#include "../store/db.h"

#include <stdint.h>

#define AUDIT_DETAIL_MAX 1024

struct audit_event {
	int64_t time;              /* ms; 0 = now */
	const char *event;         /* static: "token.issued", ... */
	const char *outcome;       /* static: "ok", "refused", "error", "active", ... */
	char actor[ID_MAX];        /* agent, owner, resource server or "system" */
	char agent_id[ID_MAX];     /* the agent concerned; defaults to actor when it is one */
	char owner_id[ID_MAX];     /* the accountable human; "" when unknown */
	char run_id[72];
	char ws[ID_MAX];
	char jti[40];
	char client_addr[64];
	char request_id[40];
	char detail[AUDIT_DETAIL_MAX]; /* a JSON object, or "" */
};

/* Who and what an event is about; NULL members are left empty (actor: "system"). */
struct audit_keys {
	const char *actor, *agent_id, *owner_id, *ws, *run_id, *jti, *client_addr, *request_id;
};
/* Sets ev to a fresh event (time now) with these keys; an empty actor becomes "anonymous". */
void audit_event_init(struct audit_event *ev, const char *event, const char *outcome, const struct audit_keys *k);
/* Inserts an "ok" event with keys k and detail (a JSON object or NULL). 0 or -1. */
int audit_write(struct db *db, const char *event, const struct audit_keys *k, const char *detail);

/* Inserts ev; runs inside the caller's transaction (a writer job or db_tx). 0 or -1. */
int audit_insert(struct db *db, const struct audit_event *ev);
/* A writer job that inserts the event passed as arg. */
int audit_job(struct db *db, void *ev);

#define AUDIT_PRUNE_CHUNK 5000

struct audit_prune {
	int64_t before_ms;
	int deleted;
};
/* Writer job: deletes at most AUDIT_PRUNE_CHUNK rows older than before_ms (oldest first),
 * so a large backlog never holds the write lock for long. */
int audit_prune_job(struct db *db, void *arg);

struct audit_query {
	const char *owner_id, *agent_id, *run_id, *ws;
	int64_t since, until; /* ms; 0 = open */
	long limit;           /* 0 = no limit */
};
/* Calls emit once per matching event as a JSON object (time order); returns rows or -1. */
long audit_export(struct db *db, const struct audit_query *q,
		  void (*emit)(void *arg, const char *json, size_t n), void *arg);
#endif
