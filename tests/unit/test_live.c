/* test_live.c - the live-state check (token/live.c) on a real database: time (no leeway on
 * exp, nbf within the leeway), revoked jtis, runs and credentials, the agent's lifecycle
 * and kill time, the owner; changes written through the writer jobs on a second connection
 * (the command line) are seen after live_poll() and not before, and state written before
 * live_init() is loaded by it.
 *
 * live_check() reads agents and owners it has not seen through warrant_reader(), which keeps
 * one connection per thread for the thread's life and cannot be told to drop it: each check
 * runs on a short-lived thread, so that connection is closed when the thread ends and no
 * test leaves one open on a removed file. */
#include "../../authz/decision.h"
#include "../../authz/effective.h"
#include "../../common/timeutil.h"
#include "../../store/changes.h"
#include "../../token/live.h"
#include "../../token/mint.h"
#include "fixture.h"
#include "test.h"

#include <pthread.h>
#include <stdlib.h>

#define R "tickets:read"
#define N "tickets:note"

struct live_call {
	struct warrant *w;
	const struct tok *t;
	const char *why;
	int rc;
};

static void *live_call_run(void *arg)
{
	struct live_call *c = arg;
	c->rc = live_check(c->w, c->t, &c->why);
	return NULL;
}

/* live_check on a thread of its own: 1 active, 0 inactive (*why set), -1 error. */
static int check(struct warrant *w, const struct tok *t, const char **why)
{
	struct live_call c = {.w = w, .t = t, .why = NULL, .rc = -2};
	pthread_t th;
	if (pthread_create(&th, NULL, live_call_run, &c) != 0)
		return -2;
	pthread_join(th, NULL);
	*why = c.why;
	return c.rc;
}

/* active, or inactive for exactly `want` */
#define CHECK_ACTIVE(w, t)                                                                                \
	do {                                                                                              \
		const char *why_ = NULL;                                                                  \
		int rc_ = check(w, t, &why_);                                                             \
		if (rc_ != 1) {                                                                           \
			test_failures++;                                                                  \
			fprintf(stderr, "    %s:%d: want active, got %d (%s)\n", __FILE__, __LINE__, rc_, \
				why_ ? why_ : "-");                                                       \
		}                                                                                         \
	} while (0)
#define CHECK_INACTIVE(w, t, want)                                                                                     \
	do {                                                                                                           \
		const char *why_ = NULL;                                                                               \
		int rc_ = check(w, t, &why_);                                                                          \
		if (rc_ != 0 || !why_ || strcmp(why_, want) != 0) {                                                    \
			test_failures++;                                                                               \
			fprintf(stderr, "    %s:%d: want inactive (%s), got %d (%s)\n", __FILE__, __LINE__, want, rc_, \
				why_ ? why_ : "-");                                                                    \
		}                                                                                                      \
	} while (0)

/* One agent of one owner, a member of one workspace; the "server" follows the change log
 * on f.db, the command line writes on cli. */
struct live_world {
	struct fx f;
	struct db *cli;
	struct warrant w;
	char owner[ID_MAX], ws[ID_MAX], agent[ID_MAX], cred[ID_MAX];
};

static int world_open(struct live_world *lw, int init)
{
	memset(lw, 0, sizeof *lw);
	if (fx_open(&lw->f) < 0)
		return -1;
	lw->cli = fx_connect(&lw->f);
	fx_owner(&lw->f, lw->f.org, "u@example.com", lw->owner);
	fx_workspace(&lw->f, lw->f.org, "w", 0, NULL, lw->ws);
	fx_member(lw->f.db, MEMBER_ADD, lw->ws, lw->owner, R " " N);
	fx_agent(&lw->f, lw->owner, R " " N, NULL, 0, 0, 0, lw->agent, lw->cred);
	lw->w.leeway = LEEWAY_DEFAULT;
	snprintf(lw->w.db_path, sizeof lw->w.db_path, "%s", lw->f.path);
	if (!lw->cli) {
		fx_close(&lw->f);
		return -1;
	}
	if (init && live_init(lw->f.db) < 0) {
		CHECK(!"live_init");
		db_close(lw->cli);
		fx_close(&lw->f);
		return -1;
	}
	return 0;
}

static void world_close(struct live_world *lw)
{
	live_free();
	effective_cache_clear();
	db_close(lw->cli);
	fx_close(&lw->f);
}

/* A token of agent, as tok_verify() would leave it: issued now, living 300 s. */
static void tok_fill(struct tok *t, const struct live_world *lw, const char *run)
{
	int64_t now = now_ms();
	memset(t, 0, sizeof *t);
	if (jti_new(now, t->jti) < 0)
		CHECK(!"jti_new");
	snprintf(t->sub, sizeof t->sub, "%s", lw->agent);
	snprintf(t->owner_id, sizeof t->owner_id, "%s", lw->owner);
	snprintf(t->org_id, sizeof t->org_id, "%s", lw->f.org);
	snprintf(t->ws, sizeof t->ws, "%s", lw->ws);
	snprintf(t->run_id, sizeof t->run_id, "%s", run);
	snprintf(t->cred_id, sizeof t->cred_id, "%s", lw->cred);
	t->iat = t->nbf = now / 1000;
	t->exp = now / 1000 + 300;
	t->issued_ms = now;
}

static int64_t tokens_before(struct live_world *lw)
{
	struct agent a;
	return fx_load(lw->f.db, lw->agent, &a) == 1 ? a.tokens_before : -1;
}

TEST(live_time_without_leeway_on_exp)
{
	struct live_world lw;
	struct tok t;
	if (world_open(&lw, 1) < 0)
		return;
	tok_fill(&t, &lw, "run_1");
	CHECK_ACTIVE(&lw.w, &t);
	int64_t now = now_ms() / 1000;
	t.exp = now; /* RFC 7662: exp == now is over */
	CHECK_INACTIVE(&lw.w, &t, "expired");
	t.exp = now - 1;
	CHECK_INACTIVE(&lw.w, &t, "expired");
	t.exp = now + 30;
	CHECK_ACTIVE(&lw.w, &t);
	/* exp gets no leeway even when the leeway is large */
	lw.w.leeway = 3600;
	t.exp = now;
	CHECK_INACTIVE(&lw.w, &t, "expired");
	t.exp = now + 30;
	/* nbf may run ahead of us by the leeway, not one second more */
	lw.w.leeway = LEEWAY_DEFAULT;
	t.nbf = now + LEEWAY_DEFAULT;
	CHECK_ACTIVE(&lw.w, &t);
	t.nbf = now + LEEWAY_DEFAULT + 2; /* a second of margin for the clock ticking meanwhile */
	CHECK_INACTIVE(&lw.w, &t, "not_yet_valid");
	lw.w.leeway = 0;
	t.nbf = now + 2;
	CHECK_INACTIVE(&lw.w, &t, "not_yet_valid");
	t.nbf = now;
	CHECK_ACTIVE(&lw.w, &t);
	world_close(&lw);
}

TEST(live_revoked_jti_after_poll)
{
	struct live_world lw;
	struct tok t, other;
	if (world_open(&lw, 1) < 0)
		return;
	tok_fill(&t, &lw, "run_1");
	tok_fill(&other, &lw, "run_1");
	snprintf(other.jti, sizeof other.jti, "%s", "jti_other_token");
	CHECK_ACTIVE(&lw.w, &t);
	fx_revoke_jti(lw.cli, t.jti, lw.agent, lw.owner, t.exp);
	CHECK_ACTIVE(&lw.w, &t); /* not seen before the poll */
	CHECK(live_poll(lw.f.db) >= 1);
	CHECK_INACTIVE(&lw.w, &t, "revoked");
	CHECK_ACTIVE(&lw.w, &other);
	CHECK(live_poll(lw.f.db) == 0);
	world_close(&lw);
}

TEST(live_revoked_run_after_poll)
{
	struct live_world lw;
	struct tok t, other;
	if (world_open(&lw, 1) < 0)
		return;
	tok_fill(&t, &lw, "run_doomed");
	tok_fill(&other, &lw, "run_other");
	CHECK_ACTIVE(&lw.w, &t);
	fx_revoke_run(lw.cli, lw.agent, "run_doomed");
	CHECK_ACTIVE(&lw.w, &t);
	CHECK(live_poll(lw.f.db) >= 1);
	CHECK_INACTIVE(&lw.w, &t, "run_revoked");
	CHECK_ACTIVE(&lw.w, &other);
	/* the run is the agent's: another agent's token of the same run id lives */
	char agent2[ID_MAX];
	fx_agent(&lw.f, lw.owner, R, NULL, 0, 0, 0, agent2, NULL);
	snprintf(other.sub, sizeof other.sub, "%s", agent2);
	snprintf(other.run_id, sizeof other.run_id, "%s", "run_doomed");
	other.cred_id[0] = '\0';
	CHECK(live_poll(lw.f.db) >= 0);
	CHECK_ACTIVE(&lw.w, &other);
	world_close(&lw);
}

TEST(live_revoked_credential_after_poll)
{
	struct live_world lw;
	struct tok t, other;
	if (world_open(&lw, 1) < 0)
		return;
	tok_fill(&t, &lw, "run_1");
	tok_fill(&other, &lw, "run_1");
	other.cred_id[0] = '\0'; /* a token that names no credential */
	CHECK_ACTIVE(&lw.w, &t);
	fx_revoke_cred(lw.cli, lw.agent, lw.cred);
	CHECK_ACTIVE(&lw.w, &t);
	CHECK(live_poll(lw.f.db) >= 1);
	CHECK_INACTIVE(&lw.w, &t, "credential_revoked");
	CHECK_ACTIVE(&lw.w, &other);
	snprintf(other.cred_id, sizeof other.cred_id, "%s", "cred_another");
	CHECK_ACTIVE(&lw.w, &other);
	world_close(&lw);
}

TEST(live_agent_lifecycle_after_poll)
{
	struct live_world lw;
	struct tok t;
	if (world_open(&lw, 1) < 0)
		return;
	tok_fill(&t, &lw, "run_1");
	t.issued_ms -= 5;        /* a millisecond the suspension cannot share (see live_tokens_before_after_poll) */
	CHECK_ACTIVE(&lw.w, &t); /* the agent is now in memory */
	fx_lifecycle(lw.cli, lw.agent, LC_SUSPEND);
	CHECK_ACTIVE(&lw.w, &t);
	CHECK(live_poll(lw.f.db) >= 1);
	CHECK_INACTIVE(&lw.w, &t, "agent_suspended");
	/* resumed: what was issued before the suspension stays dead, what comes after lives */
	fx_lifecycle(lw.cli, lw.agent, LC_RESUME);
	CHECK_INACTIVE(&lw.w, &t, "agent_suspended");
	CHECK(live_poll(lw.f.db) >= 1);
	CHECK_INACTIVE(&lw.w, &t, "agent_tokens_revoked");
	int64_t kill = tokens_before(&lw);
	CHECK(kill > t.issued_ms);
	t.issued_ms = kill - 1;
	CHECK_INACTIVE(&lw.w, &t, "agent_tokens_revoked");
	t.issued_ms = kill + 1;
	CHECK_ACTIVE(&lw.w, &t);
	fx_lifecycle(lw.cli, lw.agent, LC_RETIRE);
	CHECK_ACTIVE(&lw.w, &t);
	CHECK(live_poll(lw.f.db) >= 1);
	CHECK_INACTIVE(&lw.w, &t, "agent_retired");
	world_close(&lw);
}

TEST(live_tokens_before_after_poll)
{
	struct live_world lw;
	struct tok t;
	if (world_open(&lw, 1) < 0)
		return;
	tok_fill(&t, &lw, "run_1");
	t.issued_ms -= 5;
	CHECK_ACTIVE(&lw.w, &t);
	fx_revoke_agent(lw.cli, lw.agent); /* revoke --agent: every token issued so far */
	CHECK_ACTIVE(&lw.w, &t);
	CHECK(live_poll(lw.f.db) >= 1);
	CHECK_INACTIVE(&lw.w, &t, "agent_tokens_revoked");
	int64_t kill = tokens_before(&lw);
	CHECK(kill > t.issued_ms);
	t.issued_ms = kill - 1;
	CHECK_INACTIVE(&lw.w, &t, "agent_tokens_revoked");
	t.issued_ms = kill + 1; /* a later millisecond: issued after the revocation */
	CHECK_ACTIVE(&lw.w, &t);
	/* a token issued in the very millisecond of the revocation may have committed just before
	 * it: it is one of the tokens "issued so far" (SPEC "Kill switches"). Milliseconds cannot
	 * order the two, so it is dead (fail closed), and stays dead after `agent resume`. */
	t.issued_ms = kill;
	CHECK_INACTIVE(&lw.w, &t, "agent_tokens_revoked");
	world_close(&lw);
}

/* The owner's own row changed alone (the jobs suspend the agents with it; the check of the
 * owner stands on its own all the same). */
static int owner_row_job(struct db *db, void *arg)
{
	const char *owner = arg;
	struct db_stmt *st = db_prep(db, "UPDATE owners SET status = 'deactivated' WHERE id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, owner);
	if (db_step_done(st) < 0)
		return -1;
	return change_note(db, CHANGE_OWNER, owner, NULL, now_ms());
}

TEST(live_owner_after_poll)
{
	struct live_world lw;
	struct tok t;
	if (world_open(&lw, 1) < 0)
		return;
	tok_fill(&t, &lw, "run_1");
	/* a token naming another owner than the agent's */
	char other[ID_MAX];
	fx_owner(&lw.f, lw.f.org, "v@example.com", other);
	snprintf(t.owner_id, sizeof t.owner_id, "%s", other);
	CHECK_INACTIVE(&lw.w, &t, "owner_mismatch");
	snprintf(t.owner_id, sizeof t.owner_id, "%s", lw.owner);
	CHECK_ACTIVE(&lw.w, &t);
	/* an agent that does not exist is never active */
	struct tok ghost = t;
	snprintf(ghost.sub, sizeof ghost.sub, "%s", "agt_doesnotexist");
	CHECK_INACTIVE(&lw.w, &ghost, "agent_retired");

	/* owner deactivate: the agent is suspended with the owner */
	fx_deactivate(lw.cli, lw.owner);
	CHECK_ACTIVE(&lw.w, &t);
	CHECK(live_poll(lw.f.db) >= 2);
	CHECK_INACTIVE(&lw.w, &t, "agent_suspended");

	/* the owner's status alone */
	struct tok t2;
	char agent2[ID_MAX];
	fx_agent(&lw.f, other, R, NULL, 0, 0, 0, agent2, NULL);
	tok_fill(&t2, &lw, "run_2");
	snprintf(t2.sub, sizeof t2.sub, "%s", agent2);
	snprintf(t2.owner_id, sizeof t2.owner_id, "%s", other);
	t2.cred_id[0] = '\0';
	CHECK_ACTIVE(&lw.w, &t2);
	CHECK(db_tx(lw.cli, owner_row_job, other) == 0);
	CHECK_ACTIVE(&lw.w, &t2);
	CHECK(live_poll(lw.f.db) >= 1);
	CHECK_INACTIVE(&lw.w, &t2, "owner_deactivated");
	world_close(&lw);
}

/* What was revoked before the server started is loaded by live_init, with no poll. */
TEST(live_init_loads_state)
{
	struct live_world lw;
	struct tok t, run, cred;
	if (world_open(&lw, 0) < 0)
		return;
	tok_fill(&t, &lw, "run_1");
	tok_fill(&run, &lw, "run_gone");
	tok_fill(&cred, &lw, "run_1");
	snprintf(t.cred_id, sizeof t.cred_id, "%s", "cred_another");
	snprintf(run.cred_id, sizeof run.cred_id, "%s", "cred_another");
	fx_revoke_jti(lw.cli, t.jti, lw.agent, lw.owner, t.exp);
	fx_revoke_run(lw.cli, lw.agent, "run_gone");
	fx_revoke_cred(lw.cli, lw.agent, lw.cred);
	CHECK(live_init(lw.f.db) == 0);
	CHECK(live_poll(lw.f.db) == 0); /* all of it is already applied */
	CHECK_INACTIVE(&lw.w, &t, "revoked");
	CHECK_INACTIVE(&lw.w, &run, "run_revoked");
	CHECK_INACTIVE(&lw.w, &cred, "credential_revoked");
	struct tok fine;
	tok_fill(&fine, &lw, "run_1");
	fine.cred_id[0] = '\0';
	CHECK_ACTIVE(&lw.w, &fine);
	world_close(&lw);
}

/* The change log also keeps the access decision's caches exact: a membership removed and
 * a run revoked elsewhere reach the cached decision at the poll. */
TEST(live_poll_clears_decision_caches)
{
	struct live_world lw;
	if (world_open(&lw, 1) < 0)
		return;
	effective_cache_clear();
	effective_cache_enable();
	struct agent a;
	if (fx_load(lw.f.db, lw.agent, &a) != 1) {
		world_close(&lw);
		return;
	}
	struct access_request q = {.agent = &a, .workspace = slice_of(lw.ws), .run_id = "run_1"};
	struct access_decision d;
	CHECK(access_decide(lw.f.db, &q, &d) == 0);
	CHECK_STR(d.scope, N " " R);
	fx_member(lw.cli, MEMBER_SET, lw.ws, lw.owner, R);
	fx_revoke_run(lw.cli, lw.agent, "run_2");
	CHECK(access_decide(lw.f.db, &q, &d) == 0);
	CHECK_STR(d.scope, N " " R); /* the cache, until the poll */
	CHECK(live_poll(lw.f.db) >= 2);
	CHECK(access_decide(lw.f.db, &q, &d) == 0);
	CHECK_STR(d.scope, R);
	q.run_id = "run_2";
	CHECK(access_decide(lw.f.db, &q, &d) == 1);
	CHECK_STR(d.err.reason, "run_revoked");
	world_close(&lw);
}

/* Catching up on demand (before refusing a client whose state changed elsewhere) applies
 * the same changes as the poll; pruning forgets only revocations of tokens that are over. */
TEST(live_catch_up_and_prune)
{
	struct live_world lw;
	struct tok old, young;
	if (world_open(&lw, 1) < 0)
		return;
	tok_fill(&old, &lw, "run_1");
	tok_fill(&young, &lw, "run_1");
	int64_t now = now_ms() / 1000;
	old.exp = now - 120;
	CHECK(live_catch_up(lw.f.db) == 0); /* up to date: nothing to do */
	fx_revoke_jti(lw.cli, old.jti, lw.agent, lw.owner, old.exp);
	fx_revoke_jti(lw.cli, young.jti, lw.agent, lw.owner, young.exp);
	fx_revoke_cred(lw.cli, lw.agent, lw.cred);
	CHECK_ACTIVE(&lw.w, &young); /* not seen yet */
	long before = live_applied();
	int64_t seen = changes_seen();
	CHECK(changes_catch_up(lw.f.db, seen) == 1); /* through the follower live_init registered */
	CHECK(live_applied() == before + 3);
	CHECK(changes_catch_up(lw.f.db, seen) == 1); /* moved past what the caller saw */
	CHECK(changes_catch_up(lw.f.db, changes_seen()) == 0);
	CHECK(live_catch_up(lw.f.db) == 0);
	CHECK_INACTIVE(&lw.w, &young, "revoked");
	/* the old token's revocation is forgotten a leeway after its exp; the rest stays */
	CHECK(live_prune(now, 60) == 1);
	CHECK(live_prune(now, 60) == 0);
	CHECK_INACTIVE(&lw.w, &young, "revoked");
	CHECK_INACTIVE(&lw.w, &old, "expired");
	/* the young one's at its own exp plus the leeway, not a second earlier; the credential's
	 * stays for as long as any token it minted may live */
	CHECK(live_prune(young.exp + 60, 60) == 0);
	CHECK(live_prune(young.exp + 61, 60) == 1);
	CHECK_INACTIVE(&lw.w, &young, "credential_revoked"); /* its jti forgotten, its credential not */
	world_close(&lw);
	/* nothing follows the log once the live state is gone */
	CHECK(changes_catch_up(NULL, 0) == 0);
}
