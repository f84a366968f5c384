/* test_maps.c - the in-memory maps and the verified-token cache keep to their byte budgets. */
#include "../../common/blobmap.h"
#include "../../common/strmap.h"
#include "../../token/verify.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

TEST(blobmap_stays_within_its_byte_budget)
{
	struct blobmap m;
	const size_t budget = 256 * 1024;
	CHECK(blobmap_init_budget(&m, 16, 1000000, budget) == 0);
	char key[64], val[200], out[200];
	memset(val, 'v', sizeof val);
	size_t peak = 0;
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof key, "agt_%d ws_%d", i, i * 7);
		blobmap_put(&m, key, val, sizeof val, blobmap_generation(&m));
		if (blobmap_bytes(&m) > peak)
			peak = blobmap_bytes(&m);
		/* the record just stored can be read back: old ones made room */
		CHECK(blobmap_get(&m, key, out, sizeof out) == 1);
	}
	CHECK(peak <= budget);
	CHECK(blobmap_count(&m) > 100);   /* it did keep records */
	CHECK(blobmap_count(&m) < 20000); /* and dropped some */
	blobmap_clear(&m);
	CHECK(blobmap_count(&m) == 0);
	CHECK(blobmap_bytes(&m) < budget / 8); /* only the bucket array is left */
	blobmap_free(&m);
}

TEST(blobmap_entry_bound_still_holds)
{
	struct blobmap m;
	CHECK(blobmap_init(&m, 16, 10) == 0);
	char key[32];
	int v = 1;
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "k%d", i);
		blobmap_put(&m, key, &v, sizeof v, blobmap_generation(&m));
	}
	CHECK(blobmap_count(&m) <= 10);
	/* a stale generation is still refused */
	long g = blobmap_generation(&m);
	blobmap_del(&m, "k99");
	blobmap_put(&m, "late", &v, sizeof v, g);
	CHECK(blobmap_get(&m, "late", &v, sizeof v) == 0);
	blobmap_free(&m);
}

TEST(strmap_with_a_budget_refuses_new_keys_past_it)
{
	struct strmap m;
	const size_t budget = 64 * 1024;
	CHECK(strmap_init_budget(&m, 16, budget) == 0);
	struct strmap_val v;
	memset(&v, 0, sizeof v);
	char key[80];
	int refused = 0;
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof key, "acct:someone-%d@example.com", i);
		if (strmap_put(&m, key, &v) < 0)
			refused++;
		CHECK(strmap_bytes(&m) <= budget);
	}
	CHECK(refused > 0);
	/* replacing a key that is there still works when full */
	CHECK(strmap_put(&m, "acct:someone-0@example.com", &v) == 0);
	size_t n = strmap_count(&m);
	CHECK(strmap_del(&m, "acct:someone-0@example.com") == 1);
	CHECK(strmap_count(&m) == n - 1);
	strmap_free(&m);
}

static int drop_every(const struct strmap_val *v, void *arg) { return 1; }

TEST(strmap_exact_never_refuses_and_counts_back_down)
{
	struct strmap m;
	CHECK(strmap_init(&m, 16) == 0);
	size_t empty = strmap_bytes(&m);
	struct strmap_val v;
	memset(&v, 0, sizeof v);
	char key[40];
	for (int i = 0; i < 50000; i++) {
		snprintf(key, sizeof key, "jti-%d", i);
		CHECK(strmap_put(&m, key, &v) == 0);
	}
	CHECK(strmap_count(&m) == 50000);
	CHECK(strmap_prune(&m, drop_every, NULL) == 50000);
	/* only the (grown) bucket array is left */
	CHECK(strmap_bytes(&m) - empty <= 65536 * sizeof(void *));
	strmap_free(&m);
}

TEST(verified_token_cache_stays_within_its_byte_budget)
{
	CHECK(tcache_init(64) == 0);
	tcache_clear();
	struct tok *t[8];
	for (int i = 0; i < 8; i++) {
		t[i] = calloc(1, sizeof *t[i]);
		atomic_init(&t[i]->refs, 1);
		memset(t[i]->hash, 0, sizeof t[i]->hash);
		t[i]->hash[0] = (unsigned char)i; /* distinct sets */
		t[i]->exp = 2000000000;
		t[i]->cost = TCACHE_BYTES / 3; /* as if each were that large */
		tcache_insert(t[i]);
	}
	int cached = 0;
	for (int i = 0; i < 8; i++) {
		struct tok *got = tcache_lookup(t[i]->hash);
		cached += got != NULL;
		tok_release(got);
	}
	CHECK(cached == 3);
	tcache_clear();
	/* emptied: room again */
	tcache_insert(t[7]);
	struct tok *got = tcache_lookup(t[7]->hash);
	CHECK(got == t[7]);
	tok_release(got);
	tcache_clear();
	for (int i = 0; i < 8; i++)
		tok_release(t[i]);
}
