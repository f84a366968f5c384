/* activity.h - what agents did (SPEC `warrant activity`): per agent, the tokens it was
 * issued, its actions allowed and denied by verb (the action trail of AuthZEN evaluations
 * and gateway checks), its runs and its approvals, read from the audit trail. */
#ifndef WARRANT_AUDIT_ACTIVITY_H
#define WARRANT_AUDIT_ACTIVITY_H
#include "../common/buf.h"
#include "../store/db.h"

#include <stdint.h>

#define ACTIVITY_VERBS_MAX 256 /* verbs listed per agent; the rest are counted under "other" */

struct activity_verb {
	char verb[72];
	long allowed, denied;
};

struct activity_agent {
	char agent_id[64], owner_id[64];
	long tokens, runs, allowed, denied;
	long approvals_requested, approvals_approved, approvals_denied;
	size_t nverbs;
	struct activity_verb *verbs; /* malloc'd, sorted by verb */
};

struct activity {
	size_t n;
	struct activity_agent *agents; /* malloc'd, sorted by agent id */
};

struct activity_query {
	const char *owner_id, *agent_id; /* NULL: any */
	int64_t since;                   /* ms; 0 = from the start */
};

/* Reads the summary of q from db into *out (activity_free it). 0, or -1 on a database
 * error or out of memory (*out then empty). Works on both engines. */
int activity_read(struct db *db, const struct activity_query *q, struct activity *out);
void activity_free(struct activity *a);
/* One agent as a JSON object ({"id":...}) appended to b. */
void activity_agent_json(const struct activity_agent *a, struct buf *b);
#endif
