/* test_codec.c - base64url, base64 and base32 codecs. */
#include "../../common/codec.h"
#include "test.h"

TEST(b64url_roundtrip)
{
	unsigned char in[40], out[40];
	char enc[64];
	for (size_t n = 0; n < sizeof in; n++) {
		for (size_t i = 0; i < n; i++)
			in[i] = (unsigned char)(i * 37 + n);
		size_t el = b64url_encode(in, n, enc);
		CHECK(el == B64URL_LEN(n));
		CHECK(b64url_decode(enc, el, out, sizeof out) == (ssize_t)n);
		CHECK(memcmp(in, out, n) == 0);
	}
}

TEST(b64_rejects_malformed)
{
	unsigned char out[16];
	CHECK(b64_decode("YWI=", 4, out, sizeof out) == 2);
	CHECK(b64_decode("YWI", 3, out, sizeof out) == -1);  /* unpadded */
	CHECK(b64_decode("YW=I", 4, out, sizeof out) == -1); /* padding inside */
	CHECK(b64_decode("YWJ=", 4, out, sizeof out) == -1); /* non-canonical bits */
	CHECK(b64url_decode("a", 1, out, sizeof out) == -1);
	CHECK(b64url_decode("ab+c", 4, out, sizeof out) == -1);
}
