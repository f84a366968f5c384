/* lifecycle.h - an agent's lifecycle: active -> suspended (reversible; every token issued
 * so far stays dead after resume) -> retired (final; the id is never reused, the audit
 * trail stays). Each change is a writer job with its state_changes and audit rows. */
#ifndef WARRANT_LIFECYCLE_H
#define WARRANT_LIFECYCLE_H
#include "agents.h"

enum lifecycle_op { LC_SUSPEND, LC_RESUME, LC_RETIRE };

struct lifecycle {
	/* in */
	const char *agent_id;
	enum lifecycle_op op;
	const char *owner_scope; /* /v1: only this owner's agent (404 otherwise) */
	const char *actor, *client_addr, *request_id, *cause;
	/* out */
	struct agent agent; /* after the change */
	int changed;        /* 0 when it was already in that state */
	struct oerr err;
};
/* 0 done, 1 refused (err), -1 database error. */
int agent_lifecycle_job(struct db *db, void *arg);
const char *lifecycle_event(enum lifecycle_op op);
#endif
