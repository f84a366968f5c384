/* test_replay.c - single-use identifiers (store/replay.c): the first claim wins, on any
 * connection to the database (another process, another node), kinds are apart, expired
 * identifiers are forgotten, and an oversized one is refused. */
#include "../../store/replay.h"
#include "fixture.h"
#include "test.h"

#include <string.h>

TEST(replay_first_claim_wins_on_every_connection)
{
	struct fx f;
	if (fx_open(&f) < 0)
		return;
	struct db *other = fx_connect(&f);
	if (!other) {
		fx_close(&f);
		return;
	}
	CHECK(replay_claim(f.db, "assertion", "jti-1", 2000000000) == 1);
	CHECK(replay_claim(f.db, "assertion", "jti-1", 2000000000) == 0);
	CHECK(replay_claim(other, "assertion", "jti-1", 2000000000) == 0); /* another node */
	CHECK(replay_claim(other, "dpop", "jti-1", 2000000000) == 1);      /* kinds are apart */
	CHECK(replay_claim(other, "assertion", "jti-2", 100) == 1);
	/* forgotten once expired: the one that expired at 100 s, not the others */
	CHECK(replay_prune_due(f.db, 1000) == 1);
	int64_t now = 1000;
	CHECK(db_tx(f.db, replay_prune_job, &now) == 0);
	CHECK(replay_prune_due(f.db, 1000) == 0);
	CHECK(replay_claim(f.db, "assertion", "jti-2", 2000000000) == 1);
	CHECK(replay_claim(f.db, "assertion", "jti-1", 2000000000) == 0);
	char big[REPLAY_ID_MAX + 2];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CHECK(replay_claim(f.db, "assertion", big, 2000000000) == -1);
	CHECK(replay_claim(f.db, "assertion", "", 2000000000) == -1);
	db_close(other);
	fx_close(&f);
}
