/* live.c - in-memory live state, kept exact by applying state_changes; see live.h. */
#include "live.h"

#include "../authz/delegation.h"
#include "../authz/effective.h"
#include "../authz/runs.h"
#include "../clients/agents.h"
#include "../common/strmap.h"
#include "../common/timeutil.h"
#include "exchange.h"
#include "introspect.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

enum { ST_ACTIVE = 0, ST_SUSPENDED = 1, ST_RETIRED = 2, ST_DEACTIVATED = 3 };

static struct strmap jtis, creds, agents, owners, audiences;
static struct strmap edges; /* "A B" -> the delegation A -> B (flag: max_depth, 0 none; n1: created ms) */
static int ready;
static pthread_mutex_t poll_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int64_t last_seq;
static atomic_long generation; /* bumped before any agent/owner entry is dropped */
static atomic_long applied;

static void apply(const char *kind, const char *a, const char *b, int64_t n)
{
	struct strmap_val v;
	memset(&v, 0, sizeof v);
	if (strcmp(kind, CHANGE_ACCESS) == 0 || strcmp(kind, CHANGE_ACCESS_ADDED) == 0) {
		effective_cache_clear(); /* a may be NULL: a workspace-wide change */
		return;
	}
	if (!a)
		return;
	if (strcmp(kind, CHANGE_JTI) == 0) {
		v.n1 = n;
		strmap_put(&jtis, a, &v);
	} else if (strcmp(kind, CHANGE_RUN) == 0 && b) {
		run_cache_add(a, b); /* new tokens for the run are refused for ever */
	} else if (strcmp(kind, CHANGE_CRED) == 0) {
		v.n1 = now_ms() / 1000 + TOKEN_TTL_MAX + 3600;
		strmap_put(&creds, a, &v);
		if (b)
			agent_cache_forget(b);
	} else if (strcmp(kind, CHANGE_AGENT) == 0 || strcmp(kind, CHANGE_OWNER) == 0) {
		pthread_mutex_lock(&load_mu);
		atomic_fetch_add(&generation, 1);
		strmap_del(kind[0] == 'a' ? &agents : &owners, a);
		pthread_mutex_unlock(&load_mu);
		if (kind[0] == 'a')
			agent_cache_forget(a);
		else
			agent_cache_clear(); /* the owner's status lives in every agent record */
		effective_cache_clear();     /* grants and workspace limits */
	} else if (strcmp(kind, CHANGE_DELEGATION) == 0 && b) {
		char key[2 * ID_MAX + 2];
		snprintf(key, sizeof key, "%s %s", a, b);
		pthread_mutex_lock(&load_mu);
		atomic_fetch_add(&generation, 1);
		strmap_del(&edges, key); /* read again on next use */
		pthread_mutex_unlock(&load_mu);
	} else if (strcmp(kind, CHANGE_RESOURCE) == 0) {
		strmap_put(&audiences, a, &v);
	} else if (strcmp(kind, CHANGE_RESOURCE_STATE) == 0) {
		resource_cache_forget(a); /* rotated, disabled or enabled: read it again */
		if (b && n)
			strmap_put(&audiences, b, &v);
		else if (b)
			strmap_del(&audiences, b); /* no active resource server has it any more */
	}
}

int live_poll(struct db *db)
{
	if (!ready)
		return 0;
	pthread_mutex_lock(&poll_mu);
	struct db_stmt *st = db_prep(db, "SELECT seq, kind, a, b, n FROM state_changes WHERE seq > ? ORDER BY seq");
	int k = -1;
	if (st) {
		k = 0;
		db_bind_int64(st, 1, last_seq);
		int rc;
		while ((rc = db_step(st)) == DB_ROW) {
			apply(db_col_text(st, 1), db_col_text(st, 2), db_col_text(st, 3), db_col_int64(st, 4));
			last_seq = db_col_int64(st, 0);
			k++;
		}
		db_reset(st);
		if (rc != DB_DONE)
			k = -1;
	}
	atomic_fetch_add(&applied, k > 0 ? k : 0);
	pthread_mutex_unlock(&poll_mu);
	return k;
}

int live_init(struct db *db)
{
	if (strmap_init(&jtis, 4096) < 0 || run_cache_enable() < 0 || strmap_init(&creds, 64) < 0 ||
	    strmap_init(&audiences, 64) < 0 || strmap_init(&agents, 1024) < 0 || strmap_init(&owners, 256) < 0 ||
	    strmap_init(&edges, 64) < 0)
		return -1;
	int64_t now = now_ms();
	int rc = -1;
	/* one read transaction: the sets and last_seq describe the same instant */
	if (db_begin_read(db) < 0)
		return -1;
	int64_t head = changes_head(db);
	if (head < 0)
		goto done;
	last_seq = head;
	struct db_stmt *st = db_prep(db, "SELECT jti, agent_id, exp FROM revoked_tokens WHERE exp >= ?");
	if (!st)
		goto done;
	db_bind_int64(st, 1, now / 1000 - 3600);
	while (db_step(st) == DB_ROW)
		apply(CHANGE_JTI, db_col_text(st, 0), NULL, db_col_int64(st, 2));
	db_reset(st);
	st = db_prep(db, "SELECT agent_id, run_id FROM revoked_runs WHERE revoked_at >= ?");
	if (!st)
		goto done;
	db_bind_int64(st, 1, 0); /* all of them: new tokens stay refused */
	while (db_step(st) == DB_ROW)
		apply(CHANGE_RUN, db_col_text(st, 0), db_col_text(st, 1), 0);
	db_reset(st);
	st = db_prep(db, "SELECT id FROM credentials WHERE revoked_at >= ?");
	if (!st)
		goto done;
	db_bind_int64(st, 1, now - (int64_t)(TOKEN_TTL_MAX + 3600) * 1000);
	while (db_step(st) == DB_ROW)
		apply(CHANGE_CRED, db_col_text(st, 0), NULL, 0);
	db_reset(st);
	st = db_prep(db, "SELECT audience FROM resource_servers WHERE audience IS NOT NULL AND status = 'active'"
			 " AND CAST(? AS TEXT) IS NOT NULL");
	if (!st)
		goto done;
	db_bind_int(st, 1, 1);
	while (db_step(st) == DB_ROW)
		apply(CHANGE_RESOURCE, db_col_text(st, 0), NULL, 0);
	db_reset(st);
	rc = 0;
	ready = 1;
	changes_set_follower(live_catch_up, live_last_seq);
done:
	db_exec(db, "COMMIT");
	return rc;
}

static int status_code(const char *s)
{
	if (!s)
		return ST_RETIRED;
	if (strcmp(s, "active") == 0)
		return ST_ACTIVE;
	if (strcmp(s, "suspended") == 0)
		return ST_SUSPENDED;
	if (strcmp(s, "deactivated") == 0)
		return ST_DEACTIVATED;
	return ST_RETIRED;
}

/* Loads an agent or owner entry; stores it only if no change was applied meanwhile. */
static int load_entry(struct db *db, int is_agent, const char *id, struct strmap_val *v)
{
	long g0 = atomic_load(&generation);
	struct db_stmt *st = db_prep(db, is_agent ? "SELECT status, tokens_before, owner_id FROM agents WHERE id = ?"
						  : "SELECT status FROM owners WHERE id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, id);
	memset(v, 0, sizeof *v);
	int rc = db_step(st);
	if (rc == DB_ROW) {
		v->flag = status_code(db_col_text(st, 0));
		if (is_agent) {
			v->n1 = db_col_int64(st, 1);
			db_col_copy(st, 2, v->s, sizeof v->s);
		}
	} else if (rc == DB_DONE) {
		v->flag = ST_RETIRED; /* unknown: never active */
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return -1;
	pthread_mutex_lock(&load_mu);
	if (atomic_load(&generation) == g0)
		strmap_put(is_agent ? &agents : &owners, id, v);
	pthread_mutex_unlock(&load_mu);
	return 0;
}

/* The client agent of one token of a chain (the agent itself for a plain token): the run
 * kill switch, its status and kill time against the token's issue time, its owner. */
static int agent_live(struct warrant *w, const char *agent, const char *owner, const char *run, int64_t issued_ms,
		      const char **why)
{
	struct strmap_val v;
	if (run_cache_has(agent, run)) {
		*why = "run_revoked";
		return 0;
	}
	if (!strmap_get(&agents, agent, &v)) {
		struct db *db = warrant_reader(w);
		if (!db || load_entry(db, 1, agent, &v) < 0)
			return -1;
	}
	if (v.flag != ST_ACTIVE) {
		*why = v.flag == ST_SUSPENDED ? "agent_suspended" : "agent_retired";
		return 0;
	}
	if (issued_ms <= v.n1) { /* the kill's own millisecond too: a token that committed just before it */
		*why = "agent_tokens_revoked";
		return 0;
	}
	if (strcmp(v.s, owner) != 0) {
		*why = "owner_mismatch";
		return 0;
	}
	if (!strmap_get(&owners, owner, &v)) {
		struct db *db = warrant_reader(w);
		if (!db || load_entry(db, 0, owner, &v) < 0)
			return -1;
	}
	if (v.flag != ST_ACTIVE) {
		*why = "owner_deactivated";
		return 0;
	}
	return 1;
}

/* The delegation a -> b from the cache, else the database (kept unless a change to it was
 * applied meanwhile). 1 found, 0 none, -1 error. */
static int edge_get(struct warrant *w, const char *a, const char *b, int *max_depth, int64_t *created_ms)
{
	char key[2 * ID_MAX + 2];
	struct strmap_val v;
	snprintf(key, sizeof key, "%s %s", a, b);
	if (!strmap_get(&edges, key, &v)) {
		struct db *db = warrant_reader(w);
		long g0 = atomic_load(&generation);
		memset(&v, 0, sizeof v);
		int depth = 0;
		int f = db ? delegation_get(db, a, b, &depth, &v.n1) : -1;
		if (f < 0)
			return -1;
		v.flag = f ? depth : 0;
		pthread_mutex_lock(&load_mu);
		if (atomic_load(&generation) == g0)
			strmap_put(&edges, key, &v);
		pthread_mutex_unlock(&load_mu);
	}
	*max_depth = v.flag;
	*created_ms = v.n1;
	return v.flag > 0;
}

int live_delegations_hold(struct warrant *w, const char *const *clients, const int64_t *issued_ms, int n, int depth,
			  const char **why)
{
	for (int k = 1; k < n; k++) {
		int max_depth;
		int64_t created;
		int f = edge_get(w, clients[k - 1], clients[k], &max_depth, &created);
		if (f < 0)
			return -1;
		/* a token exchanged before the delegation (re)appeared is not covered by it */
		if (!f || issued_ms[k] < created) {
			*why = "no_delegation";
			return 0;
		}
		if (depth > max_depth) {
			*why = "delegation_depth";
			return 0;
		}
	}
	return 1;
}

/* An exchanged token is active only while every token above it is (SPEC "Delegation"):
 * each one's jti and credential, each client's kill switches, and every delegation of the
 * chain. At most DELEGATION_DEPTH_MAX levels, all from memory once the chain is known. */
static int chain_live(struct warrant *w, const struct tok *t, const char **why)
{
	int rc;
	const struct tok_chain *c = exchange_chain(w, t, &rc);
	if (!c || c->n != t->depth) {
		*why = "chain_unknown";
		return c ? 0 : rc;
	}
	const char *clients[DELEGATION_DEPTH_MAX + 1], *owner_of[DELEGATION_DEPTH_MAX + 1];
	int64_t issued[DELEGATION_DEPTH_MAX + 1];
	int d = t->depth;
	clients[0] = t->sub;
	owner_of[0] = t->owner_id;
	for (int k = 1; k <= d; k++) {
		clients[k] = t->act_sub[d - k];
		owner_of[k] = t->act_owner[d - k];
	}
	for (int k = 0; k < d; k++) {
		issued[k] = c->node[k].issued_ms;
		if (strmap_get(&jtis, c->node[k].jti, NULL)) {
			*why = "upstream_revoked";
			return 0;
		}
		if (c->node[k].cred_id[0] && strmap_get(&creds, c->node[k].cred_id, NULL)) {
			*why = "upstream_credential_revoked";
			return 0;
		}
	}
	issued[d] = t->issued_ms;
	for (int k = 0; k <= d; k++)
		if ((rc = agent_live(w, clients[k], owner_of[k], t->run_id, issued[k], why)) != 1)
			return rc;
	return live_delegations_hold(w, clients, issued, d + 1, d, why);
}

int live_check(struct warrant *w, const struct tok *t, const char **why)
{
	int64_t now = now_ms() / 1000;
	/* RFC 7662: no leeway on exp; nbf may run ahead of us by the leeway */
	if (now >= t->exp) {
		*why = "expired";
		return 0;
	}
	if (t->nbf > now + w->leeway) {
		*why = "not_yet_valid";
		return 0;
	}
	if (strmap_get(&jtis, t->jti, NULL)) {
		*why = "revoked";
		return 0;
	}
	if (t->cred_id[0] && strmap_get(&creds, t->cred_id, NULL)) {
		*why = "credential_revoked";
		return 0;
	}
	int rc = agent_live(w, t->sub, t->owner_id, t->run_id, t->issued_ms, why);
	if (rc != 1 || t->depth == 0) /* a plain token: nothing more */
		return rc;
	return chain_live(w, t, why);
}

static int expired(const struct strmap_val *v, void *arg) { return v->n1 < *(int64_t *)arg; }

size_t live_prune(int64_t now_s, int leeway)
{
	int64_t cutoff = now_s - leeway;
	return strmap_prune(&jtis, expired, &cutoff) + strmap_prune(&creds, expired, &cutoff);
}

long live_applied(void) { return atomic_load(&applied); }

int64_t live_last_seq(void) { return atomic_load(&last_seq); }

int live_ready(void) { return ready; }

int live_catch_up(struct db *db)
{
	if (!ready)
		return 0;
	int64_t head = changes_head(db);
	if (head < 0)
		return -1;
	return head > atomic_load(&last_seq) ? live_poll(db) : 0;
}

int live_audience_known(const char *uri) { return strmap_get(&audiences, uri, NULL); }

void live_enable_caches(void)
{
	resource_cache_enable();
	agent_cache_enable();
	effective_cache_enable();
}

void live_free(void)
{
	if (!ready)
		return;
	ready = 0;
	changes_set_follower(NULL, NULL);
	strmap_free(&jtis);
	run_cache_free();
	strmap_free(&creds);
	strmap_free(&agents);
	strmap_free(&owners);
	strmap_free(&audiences);
	strmap_free(&edges);
}
