/* test_statuslist.c - Token Status List pieces: the draft's encoding example, decoding back
 * with zlib, and index allocation up to a full list. */
#include "../../common/codec.h"
#include "../../token/statuslist.h"
#include "test.h"

#include <stdlib.h>
#include <zlib.h>

/* draft-ietf-oauth-status-list §4.1: statuses 1,0,0,1,1,1,0,1, 1,1,0,0,0,1,0,1 are the bytes
 * 0xB9 0xA3, and with zlib's best compression "eNrbuRgAAhcBXQ" */
TEST(statuslist_encodes_the_draft_example)
{
	const unsigned char bits[2] = {0xB9, 0xA3};
	struct buf b;
	buf_init(&b, 1024);
	CHECK(statuslist_encode(bits, sizeof bits, &b) == 0);
	buf_put(&b, "", 1);
	CHECK_STR(b.p, "eNrbuRgAAhcBXQ");
	buf_free(&b);
}

TEST(statuslist_encoding_decodes_back)
{
	size_t n = STATUSLIST_BITS / 8;
	unsigned char *bits = calloc(1, n), *back = malloc(n), *z = malloc(n + 1024);
	CHECK(bits && back && z);
	if (!bits || !back || !z)
		goto done;
	bits[0] = 0x01;        /* index 0 */
	bits[n - 1] = 0x80;    /* the last index */
	bits[1000] |= 1u << 3; /* index 8003 */
	struct buf b;
	buf_init(&b, 1 << 20);
	CHECK(statuslist_encode(bits, n, &b) == 0);
	CHECK(b.len < 600); /* 128 KiB of sparse bits compress to a few hundred bytes */
	ssize_t zn = b64url_decode(b.p, b.len, z, n + 1024);
	CHECK(zn > 0);
	uLongf out = n;
	CHECK(uncompress(back, &out, z, (uLong)zn) == Z_OK);
	CHECK(out == n && memcmp(bits, back, n) == 0);
	buf_free(&b);
done:
	free(bits);
	free(back);
	free(z);
}

TEST(statuslist_take_hands_out_each_index_once)
{
	struct statuslist_own l = {.k = 7, .size = 16};
	int64_t k, idx;
	for (int64_t i = 0; i < 16; i++) {
		CHECK(statuslist_take(&l, &k, &idx) == 0);
		CHECK(k == 7 && idx == i);
	}
	CHECK(statuslist_take(&l, &k, &idx) == -1); /* full: the caller moves to another list */
	struct statuslist_own none = {.size = 16};
	CHECK(statuslist_take(&none, &k, &idx) == -1);
}
