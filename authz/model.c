/* model.c - orgs, owners, workspaces, memberships; see model.h. */
#include "model.h"

#include "../audit/audit.h"
#include "../audit/events.h"
#include "../clients/lifecycle.h"
#include "../common/buf.h"
#include "../common/timeutil.h"
#include "../core/warrant.h"
#include "../store/changes.h"
#include "../store/ledger.h"
#include "effective.h"

#include <stdlib.h>
#include <string.h>

static int name_ok(const char *s, struct oerr *e, const char *what)
{
	if (!s || !*s || strlen(s) > 128) {
		oerr_set(e, 400, "invalid_request", "%s must be 1-128 bytes", what);
		return 0;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			oerr_set(e, 400, "invalid_request", "%s must not contain control characters", what);
			return 0;
		}
	return 1;
}

static int exists(struct db *db, const char *sql, const char *id)
{
	struct db_stmt *st = db_prep(db, sql);
	if (!st)
		return -1;
	db_bind_text(st, 1, id);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

static int audit_simple(struct db *db, const char *event, const char *actor, const char *owner, const char *ws,
			const char *client_addr, const char *detail)
{
	struct audit_keys k = {.actor = actor, .owner_id = owner, .ws = ws, .client_addr = client_addr};
	return audit_write(db, event, &k, detail);
}

int org_resolve(struct db *db, const char *s, char id[ID_MAX])
{
	struct db_stmt *st = db_prep(db, "SELECT id FROM orgs WHERE id = ?1 OR name = ?1");
	if (!st)
		return -1;
	db_bind_text(st, 1, s);
	int rc = db_step(st);
	if (rc == DB_ROW)
		db_col_copy(st, 0, id, ID_MAX);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

int org_create_job(struct db *db, void *arg)
{
	struct org_new *o = arg;
	if (!name_ok(o->name, &o->err, "org name"))
		return 1;
	char other[ID_MAX];
	int r = org_resolve(db, o->name, other);
	if (r < 0)
		return -1;
	if (r) {
		oerr_set(&o->err, 409, "conflict", "org %.64s exists", o->name);
		return 1;
	}
	if (id_new("org_", o->id) < 0)
		return -1;
	struct db_stmt *st = db_prep(db, "INSERT INTO orgs(id, name, created_at) VALUES (?,?,?)");
	if (!st)
		return -1;
	db_bind_text(st, 1, o->id);
	db_bind_text(st, 2, o->name);
	db_bind_int64(st, 3, now_ms());
	return db_step_done(st);
}

static int email_ok(const char *e)
{
	size_t n = e ? strlen(e) : 0;
	const char *at = e ? strchr(e, '@') : NULL;
	if (n < 3 || n > EMAIL_MAX || !at || at == e || !at[1] || strchr(at + 1, '@'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)e[i] <= 0x20 || e[i] == 0x7f || e[i] == ':')
			return 0;
	return 1;
}

int owner_create_job(struct db *db, void *arg)
{
	struct owner_new *o = arg;
	if (!email_ok(o->email)) {
		oerr_set(&o->err, 400, "invalid_request",
			 "email must look like name@example.com, without spaces or ':'");
		return 1;
	}
	if (o->name && *o->name && !name_ok(o->name, &o->err, "name"))
		return 1;
	int r = exists(db, "SELECT 1 FROM orgs WHERE id = ?", o->org_id);
	if (r < 0)
		return -1;
	if (!r) {
		oerr_set(&o->err, 404, "not_found", "no org %.64s", o->org_id);
		return 1;
	}
	if ((r = exists(db, "SELECT 1 FROM owners WHERE lower(email) = lower(?)", o->email)) != 0) {
		if (r < 0)
			return -1;
		oerr_set(&o->err, 409, "conflict", "an owner with that email exists");
		return 1;
	}
	if (id_new("usr_", o->id) < 0)
		return -1;
	int64_t now = now_ms();
	struct db_stmt *st = db_prep(db, "INSERT INTO owners(id, org_id, email, name, password_hash,"
					 " created_at, changed_at) VALUES (?,?,?,?,?,?,?)");
	if (!st)
		return -1;
	db_bind_text(st, 1, o->id);
	db_bind_text(st, 2, o->org_id);
	db_bind_text(st, 3, o->email);
	db_bind_text(st, 4, o->name ? o->name : "");
	db_bind_text(st, 5, o->password_hash);
	db_bind_int64(st, 6, now);
	db_bind_int64(st, 7, now);
	if (db_step_done(st) < 0)
		return -1;
	char d[128];
	if (audit_detail_fits(d, "{\"org_id\":\"%s\",\"password\":%s}", o->org_id,
			      o->password_hash ? "true" : "false") < 0)
		return -1;
	return audit_simple(db, EV_OWNER_CREATED, "system", o->id, NULL, NULL, d);
}

int workspace_create_job(struct db *db, void *arg)
{
	struct workspace_new *w = arg;
	slice bad;
	if (!name_ok(w->name, &w->err, "workspace name"))
		return 1;
	if (verbset_parse(slice_of(w->org_verbs ? w->org_verbs : ""), w->verbs, &bad) < 0) {
		oerr_set(&w->err, 400, "invalid_request", "invalid verb '%.*s' (want resource:action)",
			 (int)(bad.n > 64 ? 64 : bad.n), bad.p);
		return 1;
	}
	if (!w->org_visible && w->verbs[0]) {
		oerr_set(&w->err, 400, "invalid_request", "org-wide verbs need --org-visible");
		return 1;
	}
	int r = exists(db, "SELECT 1 FROM orgs WHERE id = ?", w->org_id);
	if (r < 0)
		return -1;
	if (!r) {
		oerr_set(&w->err, 404, "not_found", "no org %.64s", w->org_id);
		return 1;
	}
	if (id_new("ws_", w->id) < 0)
		return -1;
	struct db_stmt *st = db_prep(db, "INSERT INTO workspaces(id, org_id, name, org_visible, org_verbs,"
					 " created_at) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING");
	if (!st)
		return -1;
	db_bind_text(st, 1, w->id);
	db_bind_text(st, 2, w->org_id);
	db_bind_text(st, 3, w->name);
	db_bind_int(st, 4, w->org_visible);
	db_bind_text(st, 5, w->verbs);
	db_bind_int64(st, 6, now_ms());
	if (db_step_done(st) < 0)
		return -1;
	if (db_changes(db) == 0) {
		oerr_set(&w->err, 409, "conflict", "a workspace named %.64s exists in that org", w->name);
		return 1;
	}
	return w->org_visible ? change_note(db, CHANGE_ACCESS_ADDED, NULL, w->id, now_ms()) : 0;
}

/* One token of the cascade: revoked when the change took away any verb of its scope, or
 * when its scope is unknown (fail closed). */
struct cascade_walk {
	struct db *db;
	const struct agent *a;
	const char *eff;
	int64_t now;
	int revoked;
};

static int cascade_token(void *arg, const char *jti, const char *scope, int64_t exp)
{
	struct cascade_walk *k = arg;
	char missing[VERBSET_MAX];
	if (scope && verbset_minus(scope, k->eff, missing) == 0)
		return 0; /* still entirely allowed: it stays */
	struct db_stmt *st = db_prep(k->db, "INSERT INTO revoked_tokens(jti, agent_id, exp, revoked_at)"
					    " VALUES (?,?,?,?) ON CONFLICT DO NOTHING");
	if (!st)
		return -1;
	db_bind_text(st, 1, jti);
	db_bind_text(st, 2, k->a->id);
	db_bind_int64(st, 3, exp);
	db_bind_int64(st, 4, k->now);
	if (db_step_done(st) < 0)
		return -1;
	if (db_changes(k->db) == 0)
		return 0; /* revoked already */
	k->revoked++;
	return change_note(k->db, CHANGE_JTI, jti, k->a->id, exp);
}

/* Revokes the live tokens of agent a in ws whose scope the change took away (the token
 * ledger knows every token issued), and writes one audit row for the agent naming the
 * change. Returns tokens revoked, or -1. */
static int cascade_agent(struct db *db, const struct member_change *m, const struct agent *a, const char *event,
			 const char *eff)
{
	struct cascade_walk k = {.db = db, .a = a, .eff = eff, .now = now_ms()};
	if (ledger_each_live(db, a->id, m->workspace_id, k.now / 1000, cascade_token, &k) != 0)
		return -1;
	struct audit_event ev;
	struct audit_keys keys = {.actor = m->actor,
				  .agent_id = a->id,
				  .owner_id = a->owner_id,
				  .ws = m->workspace_id,
				  .client_addr = m->client_addr};
	audit_event_init(&ev, event, "ok", &keys);
	audit_detailf(&ev, "{\"cause\":\"%s\",\"agent_id\":\"%s\",\"effective_after\":\"%s\",\"tokens_revoked\":%d}",
		      event, a->id, eff, k.revoked);
	int rc = audit_insert(db, &ev);
	audit_event_clear(&ev);
	return rc < 0 ? -1 : k.revoked;
}

/* What each of the owner's agents may do in the workspace before the change. */
struct before {
	struct agent a;
	char eff[VERBSET_MAX];
};

static int agents_before(struct db *db, const struct member_change *m, struct before **out, int *nout)
{
	struct before *bef = NULL;
	int nbef = 0, cap = 0, failed = 0;
	struct db_stmt *q = NULL;
	if (!(q = db_prep_new(db, "SELECT id FROM agents WHERE owner_id = ? AND status != 'retired'")))
		return -1;
	db_bind_text(q, 1, m->owner_id);
	while (!failed && db_step(q) == DB_ROW) {
		if (nbef == cap) {
			cap = cap ? cap * 2 : 16;
			struct before *nb = realloc(bef, (size_t)cap * sizeof *bef);
			if (!nb) {
				failed = 1;
				break;
			}
			bef = nb;
		}
		char id[ID_MAX];
		db_col_copy(q, 0, id, sizeof id);
		if (agent_load(db, id, &bef[nbef].a) <= 0 ||
		    effective_verbs_fresh(db, &bef[nbef].a, m->workspace_id, bef[nbef].eff, NULL) < 0)
			failed = 1;
		else
			nbef++;
	}
	db_finalize(q);
	if (failed) {
		free(bef);
		return -1;
	}
	*out = bef;
	*nout = nbef;
	return 0;
}

/* Checks the change against the records: 0 (before set to the owner's verbs there, had to
 * whether they were a member), 1 refused, -1 error. */
static int member_check(struct db *db, struct member_change *m, char before[VERBSET_MAX], int *had)
{
	slice bad;
	if (m->op != MEMBER_REMOVE && verbset_parse(slice_of(m->verbs ? m->verbs : ""), m->canon, &bad) < 0) {
		oerr_set(&m->err, 400, "invalid_request", "invalid verb '%.*s' (want resource:action)",
			 (int)(bad.n > 64 ? 64 : bad.n), bad.p);
		return 1;
	}
	int r = exists(db, "SELECT 1 FROM workspaces WHERE id = ?", m->workspace_id);
	if (r == 0)
		oerr_set(&m->err, 404, "not_found", "no workspace %.64s", m->workspace_id);
	if (r > 0) {
		r = exists(db, "SELECT 1 FROM owners WHERE id = ?", m->owner_id);
		if (r == 0)
			oerr_set(&m->err, 404, "not_found", "no owner %.64s", m->owner_id);
	}
	if (r <= 0)
		return r < 0 ? -1 : 1;
	struct db_stmt *st = db_prep(db, "SELECT verbs FROM memberships WHERE workspace_id = ? AND owner_id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, m->workspace_id);
	db_bind_text(st, 2, m->owner_id);
	*had = db_step(st) == DB_ROW;
	if (*had)
		db_col_copy(st, 0, before, VERBSET_MAX);
	db_reset(st);
	if (m->op == MEMBER_ADD && *had) {
		oerr_set(&m->err, 409, "conflict", "already a member; use member set");
		return 1;
	}
	if (m->op != MEMBER_ADD && !*had) {
		oerr_set(&m->err, 404, "not_found", "not a member of that workspace");
		return 1;
	}
	return 0;
}

/* Writes the membership row and its audit row. Returns the event name, or NULL on error. */
static const char *member_write(struct db *db, const struct member_change *m, const char *before, int64_t now)
{
	static const char *const sql[] = {
		[MEMBER_ADD] =
			"INSERT INTO memberships(workspace_id, owner_id, verbs, created_at, changed_at) VALUES (?,?,?,?,?)",
		[MEMBER_SET] =
			"UPDATE memberships SET verbs = ?3, changed_at = ?5 WHERE workspace_id = ?1 AND owner_id = ?2",
		[MEMBER_REMOVE] = "DELETE FROM memberships WHERE workspace_id = ?1 AND owner_id = ?2",
	};
	static const char *const events[] = {
		[MEMBER_ADD] = EV_MEMBER_ADDED, [MEMBER_SET] = EV_MEMBER_CHANGED, [MEMBER_REMOVE] = EV_MEMBER_REMOVED};
	struct db_stmt *st = db_prep(db, sql[m->op]);
	if (!st)
		return NULL;
	/* binding past a statement's last parameter fails harmlessly */
	db_bind_text(st, 1, m->workspace_id);
	db_bind_text(st, 2, m->owner_id);
	db_bind_text(st, 3, m->canon);
	db_bind_int64(st, 4, now);
	db_bind_int64(st, 5, now);
	if (db_step_done(st) < 0)
		return NULL;
	struct buf d;
	buf_init(&d, AUDIT_DETAIL_LIMIT);
	buf_puts(&d, "{\"owner\":");
	buf_json_cstr(&d, m->owner_id);
	buf_puts(&d, ",\"verbs_before\":");
	buf_json_cstr(&d, before);
	buf_puts(&d, ",\"verbs_after\":");
	buf_json_cstr(&d, m->canon);
	buf_puts(&d, "}");
	int rc = d.failed
			 ? -1
			 : audit_simple(db, events[m->op], m->actor, m->owner_id, m->workspace_id, m->client_addr, d.p);
	buf_free(&d);
	return rc < 0 ? NULL : events[m->op];
}

int member_change_job(struct db *db, void *arg)
{
	struct member_change *m = arg;
	char before[VERBSET_MAX] = "";
	int had = 0;
	m->canon[0] = '\0';
	m->agents_affected = 0;
	int rc = member_check(db, m, before, &had);
	if (rc != 0)
		return rc;
	int64_t now = now_ms();
	if (m->op == MEMBER_ADD) { /* an addition only grows access */
		if (!member_write(db, m, before, now))
			return -1;
		return change_note(db, CHANGE_ACCESS_ADDED, m->owner_id, m->workspace_id, now) < 0 ? -1 : 0;
	}
	struct before *bef = NULL;
	int nbef = 0;
	if (agents_before(db, m, &bef, &nbef) < 0)
		return -1;
	const char *event = member_write(db, m, before, now);
	if (!event || change_note(db, CHANGE_ACCESS, m->owner_id, m->workspace_id, now) < 0) {
		free(bef);
		return -1;
	}
	/* the cascade, in this same transaction: each agent whose access narrowed */
	for (int i = 0; rc == 0 && i < nbef; i++) {
		char after[VERBSET_MAX];
		if (effective_verbs_fresh(db, &bef[i].a, m->workspace_id, after, NULL) < 0) {
			rc = -1;
			break;
		}
		if (strcmp(after, bef[i].eff) == 0)
			continue;
		if (cascade_agent(db, m, &bef[i].a, event, after) < 0)
			rc = -1;
		else
			m->agents_affected++;
	}
	free(bef);
	return rc;
}

int owner_deactivate_job(struct db *db, void *arg)
{
	struct owner_deactivation *d = arg;
	struct db_stmt *st = db_prep(db, "SELECT status FROM owners WHERE id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, d->owner_id);
	char status[16] = "";
	int rc = db_step(st);
	if (rc == DB_ROW)
		db_col_copy(st, 0, status, sizeof status);
	db_reset(st);
	if (rc != DB_ROW) {
		if (rc != DB_DONE)
			return -1;
		oerr_set(&d->err, 404, "not_found", "no owner %.64s", d->owner_id);
		return 1;
	}
	d->agents_suspended = 0;
	if (strcmp(status, "deactivated") == 0)
		return 0;
	int64_t now = now_ms();
	st = db_prep(db, "UPDATE owners SET status = 'deactivated', changed_at = ? WHERE id = ?");
	if (!st)
		return -1;
	db_bind_int64(st, 1, now);
	db_bind_text(st, 2, d->owner_id);
	if (db_step_done(st) < 0 || change_note(db, CHANGE_OWNER, d->owner_id, NULL, now) < 0)
		return -1;
	if (audit_simple(db, EV_OWNER_DEACTIVATED, d->actor, d->owner_id, NULL, d->client_addr, NULL) < 0)
		return -1;
	/* every active agent of theirs is suspended with them */
	struct db_stmt *q = NULL;
	if (!(q = db_prep_new(db, "SELECT id FROM agents WHERE owner_id = ? AND status = 'active'")))
		return -1;
	db_bind_text(q, 1, d->owner_id);
	rc = 0;
	while (rc == 0 && db_step(q) == DB_ROW) {
		struct lifecycle l = {.agent_id = db_col_text(q, 0),
				      .op = LC_SUSPEND,
				      .actor = d->actor,
				      .client_addr = d->client_addr,
				      .cause = EV_OWNER_DEACTIVATED};
		char id[ID_MAX];
		snprintf(id, sizeof id, "%s", l.agent_id);
		l.agent_id = id;
		rc = agent_lifecycle_job(db, &l);
		if (rc == 0 && l.changed)
			d->agents_suspended++;
	}
	db_finalize(q);
	return rc == 0 ? 0 : -1;
}
