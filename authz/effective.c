/* effective.c - effective verbs of an agent in a workspace; see effective.h. */
#include "effective.h"

#include "../common/blobmap.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static struct blobmap cache;

void effective_cache_enable(void)
{
	if (!cache.b)
		blobmap_init_budget(&cache, 4096, EFFECTIVE_CACHE_ENTRIES, EFFECTIVE_CACHE_BYTES);
}

void effective_cache_clear(void) { blobmap_clear(&cache); }

size_t effective_cache_bytes(void) { return blobmap_bytes(&cache); }

/* A cached answer, packed: n, then the effective and the approval verbs, each ending in NUL.
 * Most sets are a few verbs, so a record costs tens of bytes, not two VERBSET_MAX arrays. */
struct eff_rec {
	int n;
	char sets[2 * VERBSET_MAX];
};

static size_t eff_pack(struct eff_rec *r, const char *eff, const char *approval)
{
	size_t a = strlen(eff) + 1, b = strlen(approval) + 1;
	memmove(r->sets, eff, a);
	memmove(r->sets + a, approval, b);
	return offsetof(struct eff_rec, sets) + a + b;
}

struct default_rec {
	int r;
	char ws[ID_MAX];
};

static int compute(struct db *db, const struct agent *a, const char *ws, char out[VERBSET_MAX],
		   char approval[VERBSET_MAX], int *exists);
static int compute_default(struct db *db, const struct agent *a, char ws_out[ID_MAX]);

int effective_verbs_fresh(struct db *db, const struct agent *a, const char *ws, char out[VERBSET_MAX],
			  char approval[VERBSET_MAX])
{
	return compute(db, a, ws, out, approval, NULL);
}

int effective_verbs(struct db *db, const struct agent *a, const char *ws, char out[VERBSET_MAX],
		    char approval[VERBSET_MAX])
{
	char key[2 * ID_MAX + 2];
	char eff[VERBSET_MAX], appr[VERBSET_MAX];
	struct eff_rec r;
	if (!cache.b || strlen(ws) >= ID_MAX)
		return compute(db, a, ws, out, approval, NULL);
	snprintf(key, sizeof key, "%s %s", a->id, ws);
	long gen = blobmap_generation(&cache);
	if (blobmap_get(&cache, key, &r, sizeof r)) {
		size_t el = strlen(r.sets) + 1;
		if (out)
			memcpy(out, r.sets, el);
		if (approval)
			memcpy(approval, r.sets + el, strlen(r.sets + el) + 1);
		return r.n;
	}
	int exists = 0;
	int n = compute(db, a, ws, eff, appr, &exists);
	if (n < 0)
		return -1;
	/* a workspace that does not exist is never cached: clients choose those ids freely */
	if (exists) {
		r.n = n;
		blobmap_put(&cache, key, &r, eff_pack(&r, eff, appr), gen);
	}
	if (out)
		memcpy(out, eff, strlen(eff) + 1);
	if (approval)
		memcpy(approval, appr, strlen(appr) + 1);
	return n;
}

int effective_default_workspace(struct db *db, const struct agent *a, char ws_out[ID_MAX])
{
	struct default_rec r;
	if (!cache.b)
		return compute_default(db, a, ws_out);
	long gen = blobmap_generation(&cache);
	if (!blobmap_get(&cache, a->id, &r, sizeof r)) {
		r.r = compute_default(db, a, r.ws);
		if (r.r < 0)
			return -1;
		blobmap_put(&cache, a->id, &r, sizeof r, gen);
	}
	if (r.r == 1)
		memcpy(ws_out, r.ws, ID_MAX);
	return r.r;
}

/* *exists (may be NULL) says whether ws is a workspace at all */
static int compute(struct db *db, const struct agent *a, const char *ws, char out[VERBSET_MAX],
		   char approval[VERBSET_MAX], int *exists)
{
	char tmp[VERBSET_MAX], scratch[VERBSET_MAX];
	if (!out)
		out = scratch;
	out[0] = '\0';
	if (approval)
		approval[0] = '\0';
	if (exists)
		*exists = 0;
	struct db_stmt *st = db_prep(
		db, "SELECT w.org_id, w.org_visible, w.org_verbs, w.approval_verbs,"
		    " (SELECT verbs FROM memberships m WHERE m.workspace_id = w.id AND m.owner_id = ?2),"
		    " EXISTS (SELECT 1 FROM agent_workspaces aw WHERE aw.agent_id = ?3),"
		    " EXISTS (SELECT 1 FROM agent_workspaces aw WHERE aw.agent_id = ?3 AND aw.workspace_id = w.id)"
		    " FROM workspaces w WHERE w.id = ?1");
	if (!st)
		return -1;
	db_bind_text(st, 1, ws);
	db_bind_text(st, 2, a->owner_id);
	db_bind_text(st, 3, a->id);
	int rc = db_step(st);
	if (rc != DB_ROW) {
		db_reset(st);
		return rc == DB_DONE ? 0 : -1;
	}
	if (exists)
		*exists = 1;
	int limited = db_col_int(st, 5), in_limit = db_col_int(st, 6);
	if (limited && !in_limit) {
		db_reset(st);
		return 0; /* outside the agent's workspace limit */
	}
	const char *w_org = db_col_text(st, 0);
	int visible = db_col_int(st, 1) && w_org && strcmp(w_org, a->org_id) == 0;
	const char *owner_verbs = db_col_text(st, 4); /* NULL: not a member */
	const char *org_verbs = visible ? db_col_text(st, 2) : "";
	if (approval)
		db_col_copy(st, 3, approval, VERBSET_MAX);
	int n = verbset_union(owner_verbs ? owner_verbs : "", org_verbs ? org_verbs : "", tmp);
	db_reset(st);
	if (n < 0)
		return -1;
	return verbset_intersect(a->verbs, tmp, out);
}

static int compute_default(struct db *db, const struct agent *a, char ws_out[ID_MAX])
{
	enum { MAX_CANDIDATES = 1024 };
	char(*cand)[ID_MAX] = NULL;
	int nc = 0, found = 0, rc = -1;
	struct db_stmt *st =
		db_prep(db, "SELECT workspace_id FROM memberships WHERE owner_id = ?1"
			    " UNION SELECT id FROM workspaces WHERE org_visible = 1 AND org_id = ?2 LIMIT 1024");
	if (!st)
		return -1;
	/* copy the candidates first: effective_verbs() uses the same connection */
	static _Thread_local char buf[MAX_CANDIDATES][ID_MAX];
	cand = buf;
	db_bind_text(st, 1, a->owner_id);
	db_bind_text(st, 2, a->org_id);
	while (db_step(st) == DB_ROW && nc < MAX_CANDIDATES)
		db_col_copy(st, 0, cand[nc++], ID_MAX);
	db_reset(st);
	for (int i = 0; i < nc; i++) {
		int n = compute(db, a, cand[i], NULL, NULL, NULL);
		if (n < 0)
			return -1;
		if (n == 0)
			continue;
		if (++found == 1)
			memcpy(ws_out, cand[i], ID_MAX);
	}
	rc = found > 1 ? 2 : found;
	return rc;
}

int effective_default_workspace_fresh(struct db *db, const struct agent *a, char ws_out[ID_MAX])
{
	return compute_default(db, a, ws_out);
}
