/* test_ledger.c - the token ledger (store/ledger.c): rows found by jti, live tokens of an
 * agent in a workspace with their scope (NULL when unknown), issuance counts in a window, a
 * row taken back, and pruning: only rows past the cutoff whose tokens have expired, oldest
 * first, a chunk at a time. */
#include "../../store/ledger.h"
#include "fixture.h"
#include "test.h"

#include <stdio.h>
#include <string.h>

struct lrow {
	char jti[32], agent[ID_MAX];
	int64_t iat_ms, exp_s;
	const char *scope;
};

static int add_job(struct db *db, void *arg)
{
	const struct lrow *r = arg;
	struct ledger_entry e = {
		.jti = r->jti,
		.agent_id = r->agent,
		.owner_id = "usr_o",
		.cred_id = "cred_c",
		.run_id = "run-1",
		.ws = "ws_w",
		.scope = r->scope,
		.aud_json = "[\"https://api.example.com\"]",
		.iat_ms = r->iat_ms,
		.exp_s = r->exp_s,
	};
	return ledger_insert(db, &e);
}

static void add(struct db *db, const char *agent, int i, int64_t iat_ms, int64_t exp_s, const char *scope)
{
	struct lrow r = {.iat_ms = iat_ms, .exp_s = exp_s, .scope = scope};
	snprintf(r.jti, sizeof r.jti, "jti-%s-%d", agent, i);
	snprintf(r.agent, sizeof r.agent, "%s", agent);
	CHECK(db_tx(db, add_job, &r) == 0);
}

struct seen {
	int n, unknown;
	char last_scope[64];
};

static int count_live(void *arg, const char *jti, const char *scope, int64_t exp)
{
	struct seen *s = arg;
	(void)jti;
	(void)exp;
	s->n++;
	if (!scope)
		s->unknown++;
	else
		snprintf(s->last_scope, sizeof s->last_scope, "%s", scope);
	return 0;
}

static int count_rows(struct db *db)
{
	struct db_stmt *st = db_prep(db, "SELECT count(*) FROM tokens");
	int n = st && db_step(st) == DB_ROW ? db_col_int(st, 0) : -1;
	if (st)
		db_reset(st);
	return n;
}

TEST(ledger_find_live_count_forget)
{
	struct fx f;
	if (fx_open(&f) < 0)
		return;
	int64_t now_s = 2000000000, now = now_s * 1000;
	add(f.db, "agt_a", 1, now - 10000, now_s + 290, "tickets:read");
	add(f.db, "agt_a", 2, now - 5000, now_s - 1, "tickets:read"); /* expired */
	add(f.db, "agt_a", 3, now - 1000, now_s + 299, NULL);         /* scope unknown */
	add(f.db, "agt_b", 1, now - 1000, now_s + 299, "tickets:note");
	struct ledger_row r;
	CHECK(ledger_find(f.db, "jti-agt_a-1", now - 10000, &r) == 1);
	CHECK(strcmp(r.agent_id, "agt_a") == 0 && strcmp(r.owner_id, "usr_o") == 0 && strcmp(r.run_id, "run-1") == 0);
	CHECK(r.iat_ms == now - 10000 && r.exp_s == now_s + 290);
	CHECK(ledger_find(f.db, "jti-nobody", now - 10000, &r) == 0 && ledger_find(f.db, "jti-agt_a-1", now, &r) == 0);
	struct seen s = {0};
	CHECK(ledger_each_live(f.db, "agt_a", "ws_w", now_s, count_live, &s) == 0);
	CHECK(s.n == 2 && s.unknown == 1 && strcmp(s.last_scope, "tickets:read") == 0);
	memset(&s, 0, sizeof s);
	CHECK(ledger_each_live(f.db, "agt_a", "ws_other", now_s, count_live, &s) == 0 && s.n == 0);
	CHECK(ledger_count_issued(f.db, "agt_a", now - 6000, now) == 2);
	CHECK(ledger_count_issued(f.db, "agt_a", now - 6000, now - 1000) == 1); /* [from, to) */
	CHECK(ledger_count_issued(f.db, "agt_b", 0, now + 1) == 1);
	CHECK(db_begin(f.db) == 0 && ledger_forget(f.db, "jti-agt_b-1", now - 1000) == 0 && db_commit(f.db) == 0);
	CHECK(ledger_count_issued(f.db, "agt_b", 0, now + 1) == 0);
	fx_close(&f);
}

TEST(ledger_prune_takes_only_old_expired_rows_a_chunk_at_a_time)
{
	struct fx f;
	if (fx_open(&f) < 0)
		return;
	int64_t now_s = 2000000000, now = now_s * 1000, old = now - LEDGER_KEEP_MS - 3600 * 1000;
	/* LEDGER_PRUNE_CHUNK + 10 old expired rows, then one old row whose token is still alive
	 * (a clock that jumped), then recent rows */
	CHECK(db_begin(f.db) == 0);
	for (int i = 0; i < LEDGER_PRUNE_CHUNK + 10; i++) {
		struct lrow r = {.iat_ms = old + i, .exp_s = (old + i) / 1000 + 300, .scope = "a:b"};
		snprintf(r.jti, sizeof r.jti, "old-%d", i);
		snprintf(r.agent, sizeof r.agent, "agt_a");
		CHECK(add_job(f.db, &r) == 0);
	}
	CHECK(db_commit(f.db) == 0);
	add(f.db, "agt_a", 1, old, now_s + 100, "a:b");
	add(f.db, "agt_a", 2, now - 1000, now_s + 299, "a:b");
	CHECK(ledger_prune_due(f.db, now - LEDGER_KEEP_MS) == 1);
	struct ledger_prune p = {.before_ms = now - LEDGER_KEEP_MS};
	CHECK(db_tx(f.db, ledger_prune_job, &p) == 0 && p.deleted == LEDGER_PRUNE_CHUNK);
	CHECK(db_tx(f.db, ledger_prune_job, &p) == 0 && p.deleted == 10);
	CHECK(count_rows(f.db) == 2);
	struct ledger_row r;
	CHECK(ledger_find(f.db, "jti-agt_a-1", old, &r) == 1); /* old but alive: kept */
	CHECK(ledger_find(f.db, "jti-agt_a-2", now - 1000, &r) == 1);
	fx_close(&f);
}
