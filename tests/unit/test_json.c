/* test_json.c - the one JSON string encoder: escapes, and ill-formed UTF-8 as U+FFFD. */
#include "../../common/buf.h"
#include "test.h"

#define FFFD "\xef\xbf\xbd"

static const char *enc(const char *s, size_t n)
{
	static char out[256];
	struct buf b;
	buf_init(&b, 200);
	buf_json_str(&b, s, n);
	snprintf(out, sizeof out, "%s", b.failed ? "(failed)" : b.p);
	buf_free(&b);
	return out;
}
#define ENC(lit) enc(lit, sizeof lit - 1)

TEST(json_str_escapes)
{
	CHECK_STR(ENC("a\"b\\c\n\r\t"), "\"a\\\"b\\\\c\\n\\r\\t\"");
	CHECK_STR(ENC("\x01\x1f\x7f"), "\"\\u0001\\u001f\\u007f\"");
	CHECK_STR(ENC("a\0b"), "\"a\\u0000b\"");
}

TEST(json_str_keeps_well_formed_utf8)
{
	CHECK_STR(ENC("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
	CHECK_STR(ENC("\xe2\x82\xac"), "\"\xe2\x82\xac\"");                 /* U+20AC */
	CHECK_STR(ENC("\xf0\x9f\x94\x91 key"), "\"\xf0\x9f\x94\x91 key\""); /* U+1F511 */
	CHECK_STR(ENC("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\"");         /* U+10FFFF */
	CHECK_STR(ENC("\xef\xbf\xbd"), "\"" FFFD "\"");
}

TEST(json_str_replaces_ill_formed_utf8)
{
	CHECK_STR(ENC("a\xff"
		      "b"),
		  "\"a" FFFD "b\"");
	CHECK_STR(ENC("\x80"), "\"" FFFD "\"");       /* lone continuation */
	CHECK_STR(ENC("x\xe2\x82"), "\"x" FFFD "\""); /* truncated: one U+FFFD */
	CHECK_STR(ENC("\xe2\x82y"), "\"" FFFD "y\"");
	CHECK_STR(ENC("\xc0\xaf"), "\"" FFFD FFFD "\"");                   /* overlong '/' */
	CHECK_STR(ENC("\xe0\x80\xaf"), "\"" FFFD FFFD FFFD "\"");          /* overlong */
	CHECK_STR(ENC("\xed\xa0\x80"), "\"" FFFD FFFD FFFD "\"");          /* a UTF-16 surrogate */
	CHECK_STR(ENC("\xf4\x90\x80\x80"), "\"" FFFD FFFD FFFD FFFD "\""); /* past U+10FFFF */
	CHECK_STR(ENC("\xf5\x80"), "\"" FFFD FFFD "\"");
	CHECK_STR(ENC("ws_\xc3\x28"), "\"ws_" FFFD "(\""); /* the next byte is kept */
	/* a quote right after a bad lead is still escaped */
	CHECK_STR(ENC("\xc3\""), "\"" FFFD "\\\"\"");
}
