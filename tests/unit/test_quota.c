/* test_quota.c - per-agent token quotas (authz/quota.c): fixed windows aligned to the UTC
 * minute and the UTC day, their edges to the millisecond, Retry-After at those edges, units
 * given back only within their window, 0 as unlimited, and windows seeded from the token
 * ledger (store/ledger.c) the first time an agent is seen in them. Times are explicit. */
#include "../../authz/quota.h"
#include "../../store/ledger.h"
#include "fixture.h"
#include "test.h"

#include <stdio.h>

#define MIN_MS 60000LL
#define DAY_MS 86400000LL
/* a UTC midnight: 2026-12-02T00:00:00Z */
#define T0 (20789LL * DAY_MS)

struct qworld {
	struct fx f;
	char owner[ID_MAX];
};

static int qworld_open(struct qworld *q)
{
	if (fx_open(&q->f) < 0)
		return -1;
	fx_owner(&q->f, q->f.org, "q@example.com", q->owner);
	quota_enable();
	return 0;
}

/* A new agent (its own id: the counts are process-wide, by agent). */
static void new_agent(struct qworld *q, int64_t per_minute, int64_t per_day, char id[ID_MAX])
{
	fx_agent(&q->f, q->owner, "tickets:read", NULL, 0, per_minute, per_day, id, NULL);
}

/* reserve, expecting it to be granted */
#define GRANT(q, agent, pm, pd, now)                                                                           \
	do {                                                                                                   \
		struct oerr e_;                                                                                \
		memset(&e_, 0, sizeof e_);                                                                     \
		int rc_ = quota_reserve((q)->f.db, agent, pm, pd, now, &e_);                                   \
		if (rc_ != 0) {                                                                                \
			test_failures++;                                                                       \
			fprintf(stderr, "    %s:%d: at %lld: want granted, got %d (%s)\n", __FILE__, __LINE__, \
				(long long)(now), rc_, e_.desc);                                               \
		}                                                                                              \
	} while (0)

/* reserve, expecting 429 for the limit `which` ("minute" or "day") with Retry-After `after` */
static void refuse_at(int line, struct qworld *q, const char *agent, int64_t pm, int64_t pd, int64_t now,
		      const char *which, long after)
{
	struct oerr e;
	char desc[200];
	memset(&e, 0, sizeof e);
	int rc = quota_reserve(q->f.db, agent, pm, pd, now, &e);
	int day = strcmp(which, "day") == 0;
	snprintf(desc, sizeof desc, "the agent's quota of %lld tokens per %s is used up", (long long)(day ? pd : pm),
		 which);
	if (rc != 1 || e.status != 429 || !e.code || strcmp(e.code, "rate_limited") != 0 || !e.reason ||
	    strcmp(e.reason, day ? "quota_day" : "quota_minute") != 0 || e.retry_after != after ||
	    strcmp(e.desc, desc) != 0) {
		test_failures++;
		fprintf(stderr,
			"    %s:%d: at %lld: want 429 quota_%s Retry-After %ld, got rc %d %d %s %s Retry-After %ld '%s'\n",
			__FILE__, line, (long long)now, which, after, rc, e.status, e.code ? e.code : "-",
			e.reason ? e.reason : "-", e.retry_after, e.desc);
	}
}
#define REFUSE(q, agent, pm, pd, now, which, after) refuse_at(__LINE__, q, agent, pm, pd, now, which, after)

TEST(quota_zero_is_unlimited)
{
	struct qworld q;
	char a[ID_MAX], b[ID_MAX], c[ID_MAX];
	if (qworld_open(&q) < 0)
		return;
	new_agent(&q, 0, 0, a);
	new_agent(&q, 0, 2, b);
	new_agent(&q, 2, 0, c);
	int64_t t = T0 + 7 * MIN_MS;
	for (int i = 0; i < 1000; i++)
		GRANT(&q, a, 0, 0, t);
	/* no limit on the minute, the day's applies */
	GRANT(&q, b, 0, 2, t);
	GRANT(&q, b, 0, 2, t + 1);
	REFUSE(&q, b, 0, 2, t + 2, "day", 86400 - 7 * 60);
	/* no limit on the day, the minute's applies */
	GRANT(&q, c, 2, 0, t);
	GRANT(&q, c, 2, 0, t);
	REFUSE(&q, c, 2, 0, t, "minute", 60);
	GRANT(&q, c, 2, 0, t + MIN_MS);
	/* and set to 0 later, unlimited again */
	for (int i = 0; i < 10; i++)
		GRANT(&q, c, 0, 0, t + MIN_MS);
	fx_close(&q.f);
}

TEST(quota_minute_window_edges)
{
	struct qworld q;
	char a[ID_MAX];
	if (qworld_open(&q) < 0)
		return;
	new_agent(&q, 2, 0, a);
	int64_t m = T0 + 5 * MIN_MS; /* a UTC minute starts */
	/* the last millisecond of the minute before belongs to that minute */
	GRANT(&q, a, 2, 0, m - 1);
	GRANT(&q, a, 2, 0, m - 1);
	REFUSE(&q, a, 2, 0, m - 1, "minute", 1);
	/* the next minute starts afresh at its first millisecond */
	GRANT(&q, a, 2, 0, m);
	GRANT(&q, a, 2, 0, m);
	/* Retry-After: whole seconds up to the next minute, rounded up */
	REFUSE(&q, a, 2, 0, m, "minute", 60);
	REFUSE(&q, a, 2, 0, m + 1, "minute", 60);
	REFUSE(&q, a, 2, 0, m + 999, "minute", 60);
	REFUSE(&q, a, 2, 0, m + 1000, "minute", 59);
	REFUSE(&q, a, 2, 0, m + 58999, "minute", 2);
	REFUSE(&q, a, 2, 0, m + 59000, "minute", 1);
	REFUSE(&q, a, 2, 0, m + MIN_MS - 1, "minute", 1);
	GRANT(&q, a, 2, 0, m + MIN_MS);
	fx_close(&q.f);
}

TEST(quota_day_window_edges)
{
	struct qworld q;
	char a[ID_MAX], b[ID_MAX];
	if (qworld_open(&q) < 0)
		return;
	new_agent(&q, 0, 3, a);
	/* the last millisecond before UTC midnight belongs to the day before */
	GRANT(&q, a, 0, 3, T0 - 3);
	GRANT(&q, a, 0, 3, T0 - 2);
	GRANT(&q, a, 0, 3, T0 - 1);
	REFUSE(&q, a, 0, 3, T0 - 1, "day", 1);
	/* midnight: a new day */
	GRANT(&q, a, 0, 3, T0);
	GRANT(&q, a, 0, 3, T0 + 3600000);
	GRANT(&q, a, 0, 3, T0 + 7200000);
	REFUSE(&q, a, 0, 3, T0 + 7200000, "day", 86400 - 7200);
	REFUSE(&q, a, 0, 3, T0 + 7200001, "day", 86400 - 7200);
	REFUSE(&q, a, 0, 3, T0 + DAY_MS - 1001, "day", 2);
	REFUSE(&q, a, 0, 3, T0 + DAY_MS - 1000, "day", 1);
	REFUSE(&q, a, 0, 3, T0 + DAY_MS - 1, "day", 1);
	GRANT(&q, a, 0, 3, T0 + DAY_MS);

	/* a day's count spans its minutes; over both limits, the day's is reported */
	new_agent(&q, 2, 3, b);
	int64_t t = T0 + 10 * MIN_MS;
	GRANT(&q, b, 2, 3, t);
	GRANT(&q, b, 2, 3, t + 1);
	REFUSE(&q, b, 2, 3, t + 2, "minute", 60);
	GRANT(&q, b, 2, 3, t + MIN_MS);
	REFUSE(&q, b, 2, 3, t + MIN_MS, "day", 86400 - 11 * 60);
	REFUSE(&q, b, 2, 3, t + 2 * MIN_MS, "day", 86400 - 12 * 60);
	fx_close(&q.f);
}

TEST(quota_release_within_its_window)
{
	struct qworld q;
	char a[ID_MAX], b[ID_MAX], c[ID_MAX];
	if (qworld_open(&q) < 0)
		return;
	int64_t m = T0 + 20 * MIN_MS;
	/* the same minute: the unit comes back */
	new_agent(&q, 1, 0, a);
	GRANT(&q, a, 1, 0, m + 1000);
	REFUSE(&q, a, 1, 0, m + 1001, "minute", 59);
	quota_release(a, m + 1002);
	GRANT(&q, a, 1, 0, m + 1003);
	REFUSE(&q, a, 1, 0, m + 1004, "minute", 59);
	/* given back in another minute: the minute's unit stays used */
	quota_release(a, m + MIN_MS + 5);
	REFUSE(&q, a, 1, 0, m + 1005, "minute", 59);
	/* ...or in the minute before */
	quota_release(a, m - 1);
	REFUSE(&q, a, 1, 0, m + 1006, "minute", 59);

	/* a day's unit comes back in another minute of the same day, not on another day */
	new_agent(&q, 0, 1, b);
	GRANT(&q, b, 0, 1, m);
	quota_release(b, T0 + DAY_MS + 5);
	quota_release(b, T0 - 5);
	REFUSE(&q, b, 0, 1, m + 1, "day", 86400 - 20 * 60);
	quota_release(b, m + MIN_MS);
	GRANT(&q, b, 0, 1, m + 2);
	REFUSE(&q, b, 0, 1, m + 3, "day", 86400 - 20 * 60);

	/* never below zero: more releases than reservations give nothing extra */
	new_agent(&q, 2, 0, c);
	GRANT(&q, c, 2, 0, m);
	quota_release(c, m);
	quota_release(c, m);
	quota_release(c, m);
	GRANT(&q, c, 2, 0, m);
	GRANT(&q, c, 2, 0, m);
	REFUSE(&q, c, 2, 0, m, "minute", 60);
	quota_release(c, m);
	quota_release(c, m);
	quota_release(c, m);
	/* a count taken below zero would wrap into the minute before with 2^32 - 1 tokens: a clock
	 * stepped back a minute finds a window of its own */
	GRANT(&q, c, 2, 0, m - MIN_MS);
	/* an agent never seen: nothing happens */
	quota_release("agt_neverseen", m);
	fx_close(&q.f);
}

struct ledger_rows {
	const char *agent, *owner;
	const int64_t *iat;
	int n;
};

static int ledger_rows_job(struct db *db, void *arg)
{
	struct ledger_rows *r = arg;
	for (int i = 0; i < r->n; i++) {
		char jti[40];
		snprintf(jti, sizeof jti, "jti_%s_%d", r->agent + 4, i);
		struct ledger_entry e = {.jti = jti,
					 .agent_id = r->agent,
					 .owner_id = r->owner,
					 .run_id = "run_q",
					 .ws = "ws_q",
					 .scope = "tickets:read",
					 .iat_ms = r->iat[i],
					 .exp_s = r->iat[i] / 1000 + 300};
		if (ledger_insert(db, &e) < 0)
			return -1;
	}
	return 0;
}

static void ledger_rows(struct qworld *q, const char *agent, const int64_t *iat, int n)
{
	struct ledger_rows r = {.agent = agent, .owner = q->owner, .iat = iat, .n = n};
	CHECK(db_tx(q->f.db, ledger_rows_job, &r) == 0);
}

/* A restart does not reset the windows: the first reservation of a window counts what the
 * ledger says was issued in it up to now (inclusive), and nothing outside it. */
TEST(quota_seeded_from_the_ledger)
{
	struct qworld q;
	char a[ID_MAX], other[ID_MAX], b[ID_MAX];
	if (qworld_open(&q) < 0)
		return;
	new_agent(&q, 3, 5, a);
	new_agent(&q, 3, 5, other);
	int64_t m = T0 + 30 * MIN_MS, now = m + 30000;
	const int64_t mine[] = {
		m,       /* the minute's first millisecond: this minute */
		now,     /* now itself: this minute */
		m - 1,   /* the minute before, the same day: the day only */
		T0 - 1,  /* the day before: neither */
		now + 1, /* after now: not yet */
	};
	const int64_t others[] = {m, m + 1, m + 2};
	ledger_rows(&q, a, mine, 5);
	ledger_rows(&q, other, others, 3);
	/* minute: 2 issued, day: 3 issued */
	GRANT(&q, a, 3, 5, now);
	REFUSE(&q, a, 3, 5, now, "minute", 30);
	/* the next minute starts from the ledger (nothing there), the day from memory (4) */
	GRANT(&q, a, 3, 5, m + MIN_MS);
	REFUSE(&q, a, 3, 5, m + MIN_MS, "day", 86400 - 31 * 60);
	/* another agent's tokens are its own: 3 in this minute */
	REFUSE(&q, other, 3, 5, m + 3, "minute", 60);

	/* the day's count from the ledger at the first sight of the agent */
	new_agent(&q, 0, 2, b);
	const int64_t day_rows[] = {T0, T0 + DAY_MS / 2};
	ledger_rows(&q, b, day_rows, 2);
	REFUSE(&q, b, 0, 2, T0 + DAY_MS / 2, "day", 43200);
	/* the next day owes nothing to the last */
	GRANT(&q, b, 0, 2, T0 + DAY_MS);
	GRANT(&q, b, 0, 2, T0 + DAY_MS);
	REFUSE(&q, b, 0, 2, T0 + DAY_MS, "day", 86400);
	fx_close(&q.f);
}

/* A runaway agent hits its own ceiling, never another agent's (SPEC "Quotas"). */
TEST(quota_per_agent)
{
	struct qworld q;
	char a[ID_MAX], b[ID_MAX];
	if (qworld_open(&q) < 0)
		return;
	new_agent(&q, 1, 1, a);
	new_agent(&q, 1, 1, b);
	int64_t t = T0 + 40 * MIN_MS;
	GRANT(&q, a, 1, 1, t);
	REFUSE(&q, a, 1, 1, t, "day", 86400 - 40 * 60);
	GRANT(&q, b, 1, 1, t);
	fx_close(&q.f);
}
