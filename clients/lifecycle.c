/* lifecycle.c - suspend, resume, retire; see lifecycle.h. */
#include "lifecycle.h"

#include "../audit/audit.h"
#include "../audit/events.h"
#include "../common/timeutil.h"
#include "../store/changes.h"

#include <string.h>

const char *lifecycle_event(enum lifecycle_op op)
{
	return op == LC_SUSPEND ? EV_AGENT_SUSPENDED : op == LC_RESUME ? EV_AGENT_RESUMED : EV_AGENT_RETIRED;
}

int agent_lifecycle_job(struct db *db, void *arg)
{
	struct lifecycle *l = arg;
	struct agent *a = &l->agent;
	int f = agent_load_owned(db, l->agent_id, l->owner_scope, a, &l->err);
	if (f <= 0)
		return f < 0 ? -1 : 1;
	const char *to = l->op == LC_SUSPEND ? "suspended" : l->op == LC_RESUME ? "active" : "retired";
	l->changed = 0;
	if (strcmp(a->status, to) == 0)
		return 0; /* already there: nothing to do, nothing to audit */
	if (strcmp(a->status, "retired") == 0) {
		oerr_set(&l->err, 409, "conflict", "agent %.64s is retired; retirement is final", l->agent_id);
		return 1;
	}
	if (l->op == LC_RESUME && strcmp(a->owner_status, "active") != 0) {
		oerr_set(&l->err, 409, "conflict", "the agent's owner is deactivated");
		return 1;
	}
	int64_t now = now_ms();
	/* suspending or retiring kills every token issued so far, for good */
	struct db_stmt *st = db_prep(db, "UPDATE agents SET status = ?2, changed_at = ?3,"
					 " tokens_before = CASE WHEN ?2 = 'active' THEN tokens_before"
					 " WHEN tokens_before > ?3 THEN tokens_before ELSE ?3 END WHERE id = ?1");
	if (!st)
		return -1;
	db_bind_text(st, 1, a->id);
	db_bind_text(st, 2, to);
	db_bind_int64(st, 3, now);
	if (db_step_done(st) < 0 || change_note(db, CHANGE_AGENT, a->id, to, now) < 0)
		return -1;
	char before[16];
	snprintf(before, sizeof before, "%s", a->status);
	snprintf(a->status, sizeof a->status, "%s", to);
	struct audit_event ev;
	struct audit_keys k = {.actor = l->actor,
			       .agent_id = a->id,
			       .owner_id = a->owner_id,
			       .client_addr = l->client_addr,
			       .request_id = l->request_id};
	audit_event_init(&ev, lifecycle_event(l->op), "ok", &k);
	audit_detailf(&ev, "{\"agent_id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"%s%s%s}", a->id, before, to,
		      l->cause ? ",\"cause\":\"" : "", l->cause ? l->cause : "", l->cause ? "\"" : "");
	int rc = audit_insert(db, &ev);
	audit_event_clear(&ev);
	if (rc < 0)
		return -1;
	l->changed = 1;
	return 0;
}
