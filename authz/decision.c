/* decision.c - the one access decision; see decision.h. */
#include "decision.h"

#include "effective.h"
#include "runs.h"

#include <string.h>

#define REFUSE(status, code, why, ...)                        \
	do {                                                  \
		oerr_set(&d->err, status, code, __VA_ARGS__); \
		d->err.reason = why;                          \
		return 1;                                     \
	} while (0)

int workspace_id_valid(slice s) { return s.n > 3 && s.n < ID_MAX && memcmp(s.p, "ws_", 3) == 0; }

static int internal(struct access_decision *d)
{
	oerr_set(&d->err, 500, "server_error", "internal error");
	d->err.reason = "internal";
	return -1;
}

/* Lifecycle and the run kill switch: what no scope can make up for. */
static int check_principal(struct db *db, const struct access_request *q, struct access_decision *d)
{
	const struct agent *a = q->agent;
	if (strcmp(a->status, "active") != 0)
		REFUSE(400, "unauthorized_client", "agent_inactive", "agent is %s", a->status);
	if (strcmp(a->owner_status, "active") != 0)
		REFUSE(400, "unauthorized_client", "owner_inactive", "the agent's owner is deactivated");
	if (q->run_id && q->run_id[0]) {
		int r = run_revoked(db, a->id, q->run_id, q->fresh);
		if (r < 0)
			return internal(d);
		if (r)
			REFUSE(400, "invalid_request", "run_revoked", "run %s is revoked", q->run_id);
	}
	return 0;
}

/* The named workspace, or the only one where the agent has effective verbs. */
static int choose_workspace(struct db *db, const struct access_request *q, struct access_decision *d)
{
	if (q->workspace.n) {
		if (!workspace_id_valid(q->workspace))
			REFUSE(400, "invalid_request", "bad_workspace", "workspace must be a ws_ id");
		memcpy(d->ws, q->workspace.p, q->workspace.n);
		d->ws[q->workspace.n] = '\0';
		return 0;
	}
	int r = q->fresh ? effective_default_workspace_fresh(db, q->agent, d->ws)
			 : effective_default_workspace(db, q->agent, d->ws);
	if (r < 0)
		return internal(d);
	if (r != 1)
		d->ws[0] = '\0'; /* none chosen */
	if (r == 0)
		REFUSE(400, "invalid_request", "no_workspace", "the agent has no effective verbs in any workspace");
	if (r == 2)
		REFUSE(400, "invalid_request", "ambiguous_workspace",
		       "the agent has access to several workspaces: name one with workspace");
	return 0;
}

/* The requested verbs against the effective ones (eff) and the approval-required ones. */
static int choose_scope(const struct access_request *q, const char *eff, const char *approval,
			struct access_decision *d)
{
	char req[VERBSET_MAX] = "", missing[VERBSET_MAX], tmp[VERBSET_MAX];
	slice bad;
	if (q->scope.n && verbset_parse(q->scope, req, &bad) < 0)
		REFUSE(400, "invalid_scope", "bad_scope", "malformed scope '%.*s'", (int)(bad.n > 64 ? 64 : bad.n),
		       bad.p);
	switch (q->purpose) {
	case ACCESS_CIBA_REDEEM:
		if (verbset_minus(req, eff, missing) > 0)
			REFUSE(400, "invalid_grant", "approval_no_longer_allowed",
			       "the approved verbs are no longer allowed: %.120s", missing);
		memcpy(d->scope, req, sizeof d->scope);
		return 0;
	case ACCESS_CIBA_REQUEST:
		if (!q->scope.n)
			REFUSE(400, "invalid_scope", "missing_scope", "scope is required");
		if (verbset_minus(req, eff, missing) > 0)
			REFUSE(400, "invalid_scope", "scope_not_allowed", "not allowed: %.150s", missing);
		memcpy(d->scope, req, sizeof d->scope);
		return 0;
	case ACCESS_ISSUE: break;
	}
	if (q->bound) {
		/* token exchange: what is asked ∩ what the subject holds ∩ what the actor may do */
		verbset_intersect(q->scope.n ? req : eff, eff, tmp);
		verbset_intersect(tmp, q->bound, missing);
		if (verbset_minus(missing, approval, d->scope) == 0)
			REFUSE(400, "invalid_request", "nothing_left",
			       "none of the requested verbs is allowed to both the subject and the actor");
		return 0;
	}
	if (!q->scope.n) {
		/* all effective verbs, less those that need a human's approval */
		if (verbset_minus(eff, approval, d->scope) == 0)
			REFUSE(400, "invalid_scope", "approval_required",
			       "every effective verb here requires approval (use /bc-authorize)");
		return 0;
	}
	if (verbset_minus(req, eff, missing) > 0)
		REFUSE(400, "invalid_scope", "scope_not_allowed", "not allowed: %.150s", missing);
	if (verbset_intersect(req, approval, missing) > 0)
		REFUSE(400, "invalid_scope", "approval_required", "approval required for: %.120s (use /bc-authorize)",
		       missing);
	memcpy(d->scope, req, sizeof d->scope);
	return 0;
}

int access_decide(struct db *db, const struct access_request *q, struct access_decision *d)
{
	char eff[VERBSET_MAX], approval[VERBSET_MAX];
	memset(d, 0, sizeof *d);
	int rc = check_principal(db, q, d);
	if (rc == 0)
		rc = choose_workspace(db, q, d);
	if (rc != 0)
		return rc;
	int n = q->fresh ? effective_verbs_fresh(db, q->agent, d->ws, eff, approval)
			 : effective_verbs(db, q->agent, d->ws, eff, approval);
	if (n < 0)
		return internal(d);
	if (n == 0 && q->purpose == ACCESS_ISSUE)
		REFUSE(400, "invalid_scope", "no_effective_verbs",
		       "the agent has no effective verbs in this workspace");
	return choose_scope(q, eff, approval, d);
}
