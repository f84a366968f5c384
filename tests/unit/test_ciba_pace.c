/* test_ciba_pace.c - the CIBA polling pace (CIBA Core §11): slow_down, the growing interval,
 * the sweep of requests that can no longer be pending, and the table's bound. */
#include "../../token/ciba.h"
#include "../../token/ciba_pace.h"
#include "test.h"

TEST(ciba_pace_slow_down_sweep_and_bound)
{
	int64_t t0 = 1800000000000LL, iv = 0;
	/* first poll: on pace at the plain interval */
	CHECK(ciba_pace_poll(NULL, "areq_a", t0, &iv) == 0 && iv == CIBA_INTERVAL);
	/* again at once: slow_down, the interval grows by 5 s */
	CHECK(ciba_pace_poll(NULL, "areq_a", t0 + 500, &iv) == 1 && iv == CIBA_INTERVAL + CIBA_SLOW_DOWN_STEP);
	/* polling inside the new interval is still too fast */
	CHECK(ciba_pace_poll(NULL, "areq_a", t0 + 5000, &iv) == 1 && iv == CIBA_INTERVAL + 2 * CIBA_SLOW_DOWN_STEP);
	/* after the interval: on pace, the interval kept */
	CHECK(ciba_pace_poll(NULL, "areq_a", t0 + 20000, &iv) == 0 && iv == CIBA_INTERVAL + 2 * CIBA_SLOW_DOWN_STEP);
	/* another request has its own pace */
	CHECK(ciba_pace_poll(NULL, "areq_b", t0 + 20100, &iv) == 0 && iv == CIBA_INTERVAL);

	/* once no request of the table can be pending any more, the sweep drops it: a poll of
	 * the same id much later starts afresh (its interval is the plain one again) */
	int64_t later = t0 + 20000 + (int64_t)CIBA_EXPIRES_IN * 1000 + 61000;
	CHECK(ciba_pace_poll(NULL, "areq_c", later, &iv) == 0);
	CHECK(ciba_pace_poll(NULL, "areq_a", later + 100, &iv) == 0 && iv == CIBA_INTERVAL);

	/* bounded: a flood of distinct ids fills the table, then new ids go unrecorded (a
	 * second quick poll is not slow_down) while those recorded keep their pace */
	int64_t t1 = later + 120000;
	char id[40];
	int unrecorded = 0;
	for (int i = 0; i < 200000 && !unrecorded; i++) {
		snprintf(id, sizeof id, "areq_flood_%d", i);
		CHECK(ciba_pace_poll(NULL, id, t1, &iv) == 0);
		unrecorded = ciba_pace_poll(NULL, id, t1 + 1, &iv) == 0;
	}
	CHECK(unrecorded);
	CHECK(ciba_pace_poll(NULL, "areq_flood_0", t1 + 2, &iv) == 1);
	/* and a sweep after the requests' lifetime empties it again */
	int64_t t2 = t1 + (int64_t)CIBA_EXPIRES_IN * 1000 + 61000;
	CHECK(ciba_pace_poll(NULL, "areq_fresh", t2, &iv) == 0);
	CHECK(ciba_pace_poll(NULL, "areq_fresh", t2 + 1, &iv) == 1);
}
