/* test_parsers.c - the parsers that read attacker input: urlencoded forms (form.c), HTTP
 * Basic credentials (basic.c, RFC 6749 §2.3.1 and RFC 7617), RFC 8707 resource URIs (uri.c),
 * verbs and canonical verb sets (verbs.c), jti values and JWT claims (mint.c) and run ids. */
#include "../../common/basic.h"
#include "../../common/buf.h"
#include "../../common/form.h"
#include "../../common/uri.h"
#include "../../common/verbs.h"
#include "../../token/issue.h"
#include "../../token/mint.h"
#include "test.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- helpers ---- */

static enum form_err parse_str(const char *body, struct form *f) { return form_parse(body, strlen(body), f); }

/* 1 when slice s holds exactly the C string want */
static int slice_is(slice s, const char *want) { return s.n == strlen(want) && memcmp(s.p, want, s.n) == 0; }

/* "Basic " + base64(raw) into out (standard base64 with padding, as HTTP Basic uses) */
static size_t basic_hdr(const char *raw, size_t n, char *out)
{
	memcpy(out, "Basic ", 6);
	int len = EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)raw, (int)n);
	return 6 + (size_t)len;
}

static int basic_of(const char *raw, int form_decoded, char id[BASIC_MAX_ID], char secret[BASIC_MAX_SECRET])
{
	char hdr[BASIC_MAX_ENCODED + 64];
	size_t n = basic_hdr(raw, strlen(raw), hdr);
	return basic_parse(hdr, n, form_decoded, id, secret);
}

static int uri_ok(const char *s) { return uri_absolute_no_fragment(slice_of(s)); }
static int verb_ok(const char *s) { return verb_valid(slice_of(s)); }
static int run_ok(const char *s) { return run_id_valid(slice_of(s)); }

/* ---- pct_decode ---- */

TEST(parsers_pct_decode_basics)
{
	char out[64];
	CHECK(pct_decode("a%41b", 5, out, 1) == 3);
	CHECK(memcmp(out, "aAb", 3) == 0);
	/* both hex cases */
	CHECK(pct_decode("%4a%4A", 6, out, 1) == 2);
	CHECK(memcmp(out, "JJ", 2) == 0);
	/* '+' is a space only in form mode; %2B is always a plus */
	CHECK(pct_decode("a+b%2Bc", 7, out, 1) == 5);
	CHECK(memcmp(out, "a b+c", 5) == 0);
	CHECK(pct_decode("a+b", 3, out, 0) == 3);
	CHECK(memcmp(out, "a+b", 3) == 0);
	/* UTF-8 (bytes >= 0x80) passes, raw or escaped */
	CHECK(pct_decode("%C3%A9", 6, out, 1) == 2);
	CHECK((unsigned char)out[0] == 0xc3 && (unsigned char)out[1] == 0xa9);
	CHECK(pct_decode("", 0, out, 1) == 0);
}

TEST(parsers_pct_decode_bad_escapes)
{
	char out[64];
	CHECK(pct_decode("%", 1, out, 1) == -1);
	CHECK(pct_decode("%4", 2, out, 1) == -1);
	CHECK(pct_decode("ab%4", 4, out, 1) == -1);
	CHECK(pct_decode("%zz", 3, out, 1) == -1);
	CHECK(pct_decode("%4g", 3, out, 1) == -1);
	CHECK(pct_decode("%g4", 3, out, 1) == -1);
	CHECK(pct_decode("%%41", 4, out, 1) == -1);
	CHECK(pct_decode("%+1", 3, out, 1) == -1);
	/* the escape must lie inside n even when more bytes follow in memory */
	CHECK(pct_decode("a%41", 3, out, 1) == -1);
}

TEST(parsers_pct_decode_control_bytes)
{
	char out[64];
	/* escaped */
	CHECK(pct_decode("%00", 3, out, 1) == -2);
	CHECK(pct_decode("a%0Ab", 5, out, 1) == -2);
	CHECK(pct_decode("%0d", 3, out, 1) == -2);
	CHECK(pct_decode("%1F", 3, out, 1) == -2);
	CHECK(pct_decode("%7f", 3, out, 1) == -2);
	CHECK(pct_decode("%09", 3, out, 0) == -2);
	/* raw */
	CHECK(pct_decode("a\0b", 3, out, 1) == -2);
	CHECK(pct_decode("a\tb", 3, out, 1) == -2);
	CHECK(pct_decode("a\nb", 3, out, 0) == -2);
	CHECK(pct_decode("\x7f", 1, out, 1) == -2);
	/* the edges that are allowed */
	CHECK(pct_decode("%20%7E", 6, out, 1) == 2);
	CHECK(memcmp(out, " ~", 2) == 0);
}

/* ---- form_parse ---- */

TEST(parsers_form_basic_pairs)
{
	struct form f;
	slice v;
	CHECK(parse_str("grant_type=client_credentials&scope=tickets%3Aread+tickets%3Anote&x=a%3Db", &f) == FORM_OK);
	CHECK(f.n == 3);
	CHECK(form_get1(&f, "grant_type", &v) == 1 && slice_is(v, "client_credentials"));
	CHECK(form_get1(&f, "scope", &v) == 1 && slice_is(v, "tickets:read tickets:note"));
	CHECK(form_get1(&f, "x", &v) == 1 && slice_is(v, "a=b"));
	CHECK(form_get1(&f, "missing", &v) == 0);
	/* names are compared exactly */
	CHECK(form_get1(&f, "Scope", &v) == 0);
	CHECK(form_get1(&f, "scop", &v) == 0);
	form_free(&f);
	CHECK(f.n == 0 && f.arena == NULL);

	/* '=' inside a value stays; names are decoded too; empty pairs are skipped */
	CHECK(parse_str("&&a=b=c&&gr%61nt+type=x&", &f) == FORM_OK);
	CHECK(f.n == 2);
	CHECK(form_get1(&f, "a", &v) == 1 && slice_is(v, "b=c"));
	CHECK(form_get1(&f, "grant type", &v) == 1 && slice_is(v, "x"));
	form_free(&f);

	CHECK(form_parse("", 0, &f) == FORM_OK);
	CHECK(f.n == 0);
	CHECK(form_get1(&f, "a", &v) == 0);
	form_free(&f);
}

TEST(parsers_form_empty_value_is_absent)
{
	struct form f;
	slice v;
	/* RFC 6749 §3.2: a parameter sent without a value is treated as omitted */
	CHECK(parse_str("scope=&workspace&run_id=r1", &f) == FORM_OK);
	CHECK(f.n == 3);
	CHECK(form_get1(&f, "scope", &v) == 0);
	CHECK(form_get1(&f, "workspace", &v) == 0);
	CHECK(form_get1(&f, "run_id", &v) == 1 && slice_is(v, "r1"));
	form_free(&f);
	/* an empty twin does not make a duplicate, before or after */
	CHECK(parse_str("scope=&scope=a%3Ab&run_id=x&run_id=", &f) == FORM_OK);
	CHECK(form_get1(&f, "scope", &v) == 1 && slice_is(v, "a:b"));
	CHECK(form_get1(&f, "run_id", &v) == 1 && slice_is(v, "x"));
	form_free(&f);
}

TEST(parsers_form_duplicates)
{
	struct form f;
	slice v;
	CHECK(parse_str("grant_type=a&scope=x&grant_type=a", &f) == FORM_OK);
	CHECK(form_get1(&f, "grant_type", &v) == -1); /* even with equal values */
	CHECK(form_get1(&f, "scope", &v) == 1);
	form_free(&f);
	/* a duplicate spelled with an escape in its name is still a duplicate */
	CHECK(parse_str("run_id=a&run%5Fid=b", &f) == FORM_OK);
	CHECK(form_get1(&f, "run_id", &v) == -1);
	form_free(&f);
}

TEST(parsers_form_getall)
{
	struct form f;
	slice v[4];
	CHECK(parse_str("resource=https%3A%2F%2Fa&x=1&resource=&resource=urn%3Ab&resource=c", &f) == FORM_OK);
	CHECK(form_getall(&f, "resource", v, 4) == 3);
	CHECK(slice_is(v[0], "https://a"));
	CHECK(slice_is(v[1], "urn:b"));
	CHECK(slice_is(v[2], "c"));
	/* more than max: the count is the truth, only max are stored */
	v[1] = (slice){"untouched", 9};
	CHECK(form_getall(&f, "resource", v, 1) == 3);
	CHECK(slice_is(v[0], "https://a"));
	CHECK(slice_is(v[1], "untouched"));
	CHECK(form_getall(&f, "nothing", v, 4) == 0);
	form_free(&f);
}

TEST(parsers_form_max_params)
{
	char body[1024];
	struct form f;
	size_t o = 0;
	for (int i = 0; i < FORM_MAX_PARAMS; i++)
		o += (size_t)snprintf(body + o, sizeof body - o, "%sp%d=%d", i ? "&" : "", i, i);
	CHECK(form_parse(body, o, &f) == FORM_OK);
	CHECK(f.n == FORM_MAX_PARAMS);
	slice v;
	CHECK(form_get1(&f, "p31", &v) == 1 && slice_is(v, "31"));
	form_free(&f);
	o += (size_t)snprintf(body + o, sizeof body - o, "&extra=1");
	CHECK(form_parse(body, o, &f) == FORM_TOO_MANY);
	form_free(&f);
	/* empty pairs are not parameters and do not count */
	char body2[1100];
	size_t o2 = (size_t)snprintf(body2, sizeof body2, "&&&&&&&&&&");
	memcpy(body2 + o2, body, o - strlen("&extra=1"));
	o2 += o - strlen("&extra=1");
	CHECK(form_parse(body2, o2, &f) == FORM_OK);
	CHECK(f.n == FORM_MAX_PARAMS);
	form_free(&f);
}

TEST(parsers_form_max_name_and_value)
{
	static char body[4 * FORM_MAX_VALUE + 256];
	struct form f;
	slice v;
	size_t o;

	/* a name of exactly FORM_MAX_NAME bytes passes, one more is too long */
	memset(body, 'n', FORM_MAX_NAME);
	memcpy(body + FORM_MAX_NAME, "=v", 2);
	CHECK(form_parse(body, FORM_MAX_NAME + 2, &f) == FORM_OK);
	CHECK(f.n == 1 && f.p[0].name.n == FORM_MAX_NAME);
	form_free(&f);
	memset(body, 'n', FORM_MAX_NAME + 1);
	memcpy(body + FORM_MAX_NAME + 1, "=v", 2);
	CHECK(form_parse(body, FORM_MAX_NAME + 3, &f) == FORM_TOO_LONG);
	form_free(&f);

	/* the limits are on decoded bytes: 64 escaped bytes are 192 raw and pass */
	o = 0;
	for (int i = 0; i < FORM_MAX_NAME; i++)
		o += (size_t)sprintf(body + o, "%%6E");
	o += (size_t)sprintf(body + o, "=v");
	CHECK(form_parse(body, o, &f) == FORM_OK);
	form_free(&f);
	o = 0;
	for (int i = 0; i < FORM_MAX_NAME + 1; i++)
		o += (size_t)sprintf(body + o, "%%6E");
	o += (size_t)sprintf(body + o, "=v");
	CHECK(form_parse(body, o, &f) == FORM_TOO_LONG);
	form_free(&f);

	/* values: FORM_MAX_VALUE bytes pass, one more is too long */
	memcpy(body, "v=", 2);
	memset(body + 2, 'x', FORM_MAX_VALUE);
	CHECK(form_parse(body, 2 + FORM_MAX_VALUE, &f) == FORM_OK);
	CHECK(form_get1(&f, "v", &v) == 1 && v.n == FORM_MAX_VALUE);
	form_free(&f);
	memset(body + 2, 'x', FORM_MAX_VALUE + 1);
	CHECK(form_parse(body, 2 + FORM_MAX_VALUE + 1, &f) == FORM_TOO_LONG);
	form_free(&f);
	/* escaped value of FORM_MAX_VALUE decoded bytes passes; one more fails */
	o = 2;
	for (int i = 0; i < FORM_MAX_VALUE; i++)
		o += (size_t)sprintf(body + o, "%%41");
	CHECK(form_parse(body, o, &f) == FORM_OK);
	CHECK(form_get1(&f, "v", &v) == 1 && v.n == FORM_MAX_VALUE && v.p[0] == 'A');
	form_free(&f);
	o += (size_t)sprintf(body + o, "%%41");
	CHECK(form_parse(body, o, &f) == FORM_TOO_LONG);
	form_free(&f);
	/* '+' decodes to one byte: FORM_MAX_VALUE pluses are exactly the limit */
	memset(body + 2, '+', FORM_MAX_VALUE);
	CHECK(form_parse(body, 2 + FORM_MAX_VALUE, &f) == FORM_OK);
	form_free(&f);
}

TEST(parsers_form_bad_escape_and_bytes)
{
	struct form f;
	CHECK(parse_str("a=%zz", &f) == FORM_BAD_ESCAPE);
	form_free(&f);
	CHECK(parse_str("a=b%", &f) == FORM_BAD_ESCAPE);
	form_free(&f);
	CHECK(parse_str("a=%4&b=c", &f) == FORM_BAD_ESCAPE); /* '&' is not a hex digit */
	form_free(&f);
	CHECK(parse_str("a%=b", &f) == FORM_BAD_ESCAPE);
	form_free(&f);
	CHECK(parse_str("ok=1&a=%00", &f) == FORM_BAD_BYTE);
	form_free(&f);
	CHECK(parse_str("a%00=1", &f) == FORM_BAD_BYTE);
	form_free(&f);
	CHECK(parse_str("a=line%0D%0Abreak", &f) == FORM_BAD_BYTE);
	form_free(&f);
	CHECK(parse_str("a=%7F", &f) == FORM_BAD_BYTE);
	form_free(&f);
	CHECK(form_parse("a=b\0c", 5, &f) == FORM_BAD_BYTE); /* raw NUL inside the body */
	form_free(&f);
	CHECK(parse_str("a=tab\there", &f) == FORM_BAD_BYTE);
	form_free(&f);
	CHECK(parse_str("a\x01=1", &f) == FORM_BAD_BYTE);
	form_free(&f);
	/* every error has its own text */
	CHECK(strcmp(form_err_text(FORM_BAD_ESCAPE), form_err_text(FORM_BAD_BYTE)) != 0);
	CHECK(strcmp(form_err_text(FORM_TOO_MANY), form_err_text(FORM_TOO_LONG)) != 0);
	CHECK(strcmp(form_err_text(FORM_OK), "ok") == 0);
}

/* ---- basic_parse ---- */

TEST(parsers_basic_form_decoded)
{
	char id[BASIC_MAX_ID], secret[BASIC_MAX_SECRET];
	CHECK(basic_of("agt_abc:wsk_s3cret-_", 1, id, secret) == 0);
	CHECK_STR(id, "agt_abc");
	CHECK_STR(secret, "wsk_s3cret-_");
	/* RFC 6749 §2.3.1: a colon in the secret arrives as %3A, a space as '+', a '+' as %2B */
	CHECK(basic_of("agt_abc:a%3Ab+c%2Bd%25", 1, id, secret) == 0);
	CHECK_STR(id, "agt_abc");
	CHECK_STR(secret, "a:b c+d%");
	/* the first colon splits: an encoded colon in the id stays in the id */
	CHECK(basic_of("my%3Aclient:x", 1, id, secret) == 0);
	CHECK_STR(id, "my:client");
	CHECK_STR(secret, "x");
	/* a raw colon in the secret is part of the secret */
	CHECK(basic_of("id:a:b", 1, id, secret) == 0);
	CHECK_STR(secret, "a:b");
	/* scheme name is case-insensitive (RFC 7235 §2.1); spaces around the token are ok */
	char hdr[256];
	size_t n = basic_hdr("id:pw", 5, hdr);
	memcpy(hdr, "bASIC ", 6);
	CHECK(basic_parse(hdr, n, 1, id, secret) == 0);
	CHECK_STR(id, "id");
	char spaced[256];
	int sn = snprintf(spaced, sizeof spaced, "Basic   %s  ", hdr + 6);
	CHECK(basic_parse(spaced, (size_t)sn, 1, id, secret) == 0);
	CHECK_STR(secret, "pw");
}

TEST(parsers_basic_not_basic)
{
	char id[BASIC_MAX_ID], secret[BASIC_MAX_SECRET];
	CHECK(basic_parse("Bearer abc.def.ghi", 18, 1, id, secret) == 1);
	CHECK(basic_parse("Digest username=x", 17, 1, id, secret) == 1);
	CHECK(basic_parse("Basicx aWQ6cHc=", 15, 1, id, secret) == 1);
	CHECK(basic_parse("", 0, 1, id, secret) == 1);
	CHECK(id[0] == '\0' && secret[0] == '\0');
}

TEST(parsers_basic_malformed)
{
	char id[BASIC_MAX_ID], secret[BASIC_MAX_SECRET];
	CHECK(basic_parse("Basic ", 6, 1, id, secret) == -1);
	CHECK(basic_parse("Basic    ", 9, 1, id, secret) == -1);
	CHECK(basic_parse("Basic !!!!", 10, 1, id, secret) == -1);
	CHECK(basic_parse("Basic aWQ6cHc", 13, 1, id, secret) == -1);  /* unpadded */
	CHECK(basic_parse("Basic aWQ6c=Hc", 14, 1, id, secret) == -1); /* padding inside */
	CHECK(basic_parse("Basic aWQ6_HB=", 14, 1, id, secret) == -1); /* base64url alphabet */
	CHECK(basic_of("no-colon-here", 1, id, secret) == -1);
	CHECK(basic_of(":secret", 1, id, secret) == -1); /* empty id */
	CHECK(basic_of(":secret", 0, id, secret) == -1);
	CHECK(basic_of("id:bad%zz", 1, id, secret) == -1); /* bad escape */
	CHECK(basic_of("id%:x", 1, id, secret) == -1);
	CHECK(basic_of("id:a%00b", 1, id, secret) == -1); /* escaped NUL */
	CHECK(basic_of("id:a%0Ab", 1, id, secret) == -1);
	CHECK(basic_of("i\x01"
		       "d:x",
		       1, id, secret) == -1);                          /* raw control */
	CHECK(basic_parse("Basic aWQ6YQBi", 14, 1, id, secret) == -1); /* "id:a\0b" raw NUL */
	CHECK(basic_parse("Basic aWQ6YQBi", 14, 0, id, secret) == -1);
	/* after a failure nothing half-parsed is left behind */
	CHECK(id[0] == '\0' && secret[0] == '\0');

	/* over-long id or secret */
	char raw[BASIC_MAX_SECRET + 8];
	memset(raw, 'i', BASIC_MAX_ID);
	raw[BASIC_MAX_ID] = ':';
	raw[BASIC_MAX_ID + 1] = 's';
	raw[BASIC_MAX_ID + 2] = '\0';
	CHECK(basic_of(raw, 1, id, secret) == -1);
	memset(raw, 's', sizeof raw);
	memcpy(raw, "id:", 3);
	raw[3 + BASIC_MAX_SECRET] = '\0';
	CHECK(basic_of(raw, 1, id, secret) == -1);
	/* the longest that fit */
	raw[3 + BASIC_MAX_SECRET - 1] = '\0';
	CHECK(basic_of(raw, 1, id, secret) == 0);
	CHECK(strlen(secret) == BASIC_MAX_SECRET - 1);
}

TEST(parsers_basic_plain_rfc7617)
{
	char id[BASIC_MAX_ID], secret[BASIC_MAX_SECRET];
	/* owners at /v1: taken as UTF-8, no form decoding */
	CHECK(basic_of("ann@example.com:p%3Aa+ss", 0, id, secret) == 0);
	CHECK_STR(id, "ann@example.com");
	CHECK_STR(secret, "p%3Aa+ss");
	CHECK(basic_of("ann@example.com:pa:ss word", 0, id, secret) == 0);
	CHECK_STR(secret, "pa:ss word");
	CHECK(basic_of("ann@example.com:p\xc3\xa4ss", 0, id, secret) == 0);
	CHECK_STR(secret, "p\xc3\xa4ss");
	CHECK(basic_of("ann@example.com:bad%zz", 0, id, secret) == 0); /* not an escape here */
	CHECK_STR(secret, "bad%zz");
	CHECK(basic_of("ann@example.com:a\tb", 0, id, secret) == -1);
	CHECK(basic_of("ann@example.com:a\x7f", 0, id, secret) == -1);
	CHECK(basic_of("nocolon", 0, id, secret) == -1);
}

/* ---- uri_absolute_no_fragment ---- */

TEST(parsers_uri_absolute)
{
	CHECK(uri_ok("https://api.example.com"));
	CHECK(uri_ok("https://api.example.com/v1/tickets?x=1"));
	CHECK(uri_ok("http://127.0.0.1:8080/"));
	CHECK(uri_ok("urn:example:tickets"));
	CHECK(uri_ok("h+t.p-s1://x"));
	CHECK(uri_ok("https://example.com/%20x"));

	CHECK(!uri_ok(""));
	CHECK(!uri_ok("/relative/path"));
	CHECK(!uri_ok("api.example.com"));
	CHECK(!uri_ok("//api.example.com"));
	CHECK(!uri_ok("://x"));
	CHECK(!uri_ok("1http://x")); /* scheme starts with a letter */
	CHECK(!uri_ok("ht_tp://x")); /* '_' is not a scheme character */
	CHECK(!uri_ok("https:"));    /* nothing after the scheme */
	CHECK(!uri_ok("https"));
	CHECK(!uri_ok("https://a/#frag")); /* RFC 8707 §2: no fragment */
	CHECK(!uri_ok("https://a/b#"));
	CHECK(!uri_ok("https://a b/"));
	CHECK(!uri_ok("https://a/\tb"));
	CHECK(!uri_ok("https://a/<b>"));
	CHECK(!uri_ok("https://a/\"b\""));
	CHECK(!uri_ok("https://a/{b}"));
	CHECK(!uri_ok("https://a/\\b"));
	CHECK(!uri_ok("https://\xc3\xa4.example/"));
	CHECK(!uri_ok("https://a/\x7f"));
	/* a NUL inside the slice is not a terminator */
	CHECK(!uri_absolute_no_fragment((slice){"https://a\0b", 11}));
	/* a slice shorter than the string sees only its own bytes */
	CHECK(uri_absolute_no_fragment((slice){"https://a#frag", 9}));

	/* length limit URI_MAX */
	static char u[URI_MAX + 2];
	memcpy(u, "https://", 8);
	memset(u + 8, 'a', URI_MAX - 8);
	u[URI_MAX] = '\0';
	CHECK(uri_ok(u));
	u[URI_MAX] = 'a';
	u[URI_MAX + 1] = '\0';
	CHECK(!uri_ok(u));
}

/* ---- verbs ---- */

TEST(parsers_verb_valid)
{
	CHECK(verb_ok("tickets:read"));
	CHECK(verb_ok("a:b"));
	CHECK(verb_ok("Res_1.x-y:Act_2.z-w"));
	CHECK(!verb_ok(""));
	CHECK(!verb_ok("tickets"));
	CHECK(!verb_ok(":read"));
	CHECK(!verb_ok("tickets:"));
	CHECK(!verb_ok(":"));
	CHECK(!verb_ok("a:b:c"));
	CHECK(!verb_ok("tick ets:read"));
	CHECK(!verb_ok("tickets:read!"));
	CHECK(!verb_ok("tickets:r/ead"));
	CHECK(!verb_ok("tickets:r\xc3\xa9"
		       "ad"));
	CHECK(!verb_valid((slice){"a:b\0c", 5}));
	/* length */
	char v[VERB_MAX_LEN + 2];
	memset(v, 'r', sizeof v);
	v[1] = ':';
	v[VERB_MAX_LEN] = '\0';
	CHECK(verb_ok(v));
	v[VERB_MAX_LEN] = 'r';
	v[VERB_MAX_LEN + 1] = '\0';
	CHECK(!verb_ok(v));
}

TEST(parsers_verbset_parse_canonical)
{
	char out[VERBSET_MAX];
	slice bad = {0};
	CHECK(verbset_parse(slice_of("tickets:read"), out, &bad) == 1);
	CHECK_STR(out, "tickets:read");
	/* sorted bytewise, duplicates removed, runs of spaces and edges ignored */
	CHECK(verbset_parse(slice_of("  tickets:note   b:a tickets:read  b:a A:z tickets:note "), out, &bad) == 4);
	CHECK_STR(out, "A:z b:a tickets:note tickets:read");
	/* prefixes: the shorter sorts first; ':' (0x3a) sorts before letters */
	CHECK(verbset_parse(slice_of("a:bc ab:c a:b"), out, &bad) == 3);
	CHECK_STR(out, "a:b a:bc ab:c");
	/* the same set in any order is the same string */
	char out2[VERBSET_MAX];
	CHECK(verbset_parse(slice_of("ab:c a:b a:bc a:b"), out2, &bad) == 3);
	CHECK_STR(out, out2);
	/* empty and all-space input is the empty set */
	CHECK(verbset_parse(slice_of(""), out, &bad) == 0);
	CHECK_STR(out, "");
	CHECK(verbset_parse(slice_of("    "), out, &bad) == 0);
	CHECK_STR(out, "");
	/* only the slice's bytes are read */
	CHECK(verbset_parse((slice){"x:y z:w", 3}, out, &bad) == 1);
	CHECK_STR(out, "x:y");
}

TEST(parsers_verbset_parse_errors)
{
	char out[VERBSET_MAX];
	slice bad = {0};
	CHECK(verbset_parse(slice_of("a:b nocolon c:d"), out, &bad) == -1);
	CHECK(slice_is(bad, "nocolon"));
	CHECK(verbset_parse(slice_of("a:b c:d: "), out, &bad) == -1);
	CHECK(slice_is(bad, "c:d:"));
	/* only spaces separate verbs (RFC 6749 §3.3); a tab is part of a bad verb */
	CHECK(verbset_parse(slice_of("a:b\tc:d"), out, &bad) == -1);
	CHECK(slice_is(bad, "a:b\tc:d"));

	/* VERBS_MAX distinct verbs pass; one more is refused with the whole input */
	static char in[VERBS_MAX * 16 + 32];
	size_t o = 0;
	for (int i = 0; i < VERBS_MAX; i++)
		o += (size_t)sprintf(in + o, "%sr%02d:act", i ? " " : "", i);
	CHECK(verbset_parse((slice){in, o}, out, &bad) == VERBS_MAX);
	CHECK(strlen(out) == o); /* already sorted and unique */
	o += (size_t)sprintf(in + o, " r99:act");
	bad = (slice){0};
	CHECK(verbset_parse((slice){in, o}, out, &bad) == -1);
	CHECK(bad.p == in && bad.n == o);
	o += (size_t)sprintf(in + o, " r98:act r97:act");
	CHECK(verbset_parse((slice){in, o}, out, &bad) == -1);

	/* the largest set fits VERBSET_MAX: VERBS_MAX verbs of VERB_MAX_LEN bytes */
	static char big[VERBSET_MAX + 64];
	o = 0;
	for (int i = 0; i < VERBS_MAX; i++) {
		if (i)
			big[o++] = ' ';
		int k = sprintf(big + o, "r%02d:", i);
		memset(big + o + k, 'a', VERB_MAX_LEN - (size_t)k);
		o += VERB_MAX_LEN;
	}
	CHECK(verbset_parse((slice){big, o}, out, &bad) == VERBS_MAX);
	CHECK(strlen(out) == o);
}

TEST(parsers_verbset_algebra)
{
	char out[VERBSET_MAX];
	const char *a = "a:b c:d e:f", *b = "c:d e:f g:h";
	CHECK(verbset_intersect(a, b, out) == 2);
	CHECK_STR(out, "c:d e:f");
	CHECK(verbset_union(a, b, out) == 4);
	CHECK_STR(out, "a:b c:d e:f g:h");
	CHECK(verbset_minus(a, b, out) == 1);
	CHECK_STR(out, "a:b");
	CHECK(verbset_minus(b, a, out) == 1);
	CHECK_STR(out, "g:h");
	/* empty sets */
	CHECK(verbset_intersect(a, "", out) == 0);
	CHECK_STR(out, "");
	CHECK(verbset_intersect("", "", out) == 0);
	CHECK(verbset_union("", b, out) == 3);
	CHECK_STR(out, b);
	CHECK(verbset_union(a, "", out) == 3);
	CHECK_STR(out, a);
	CHECK(verbset_minus(a, "", out) == 3);
	CHECK_STR(out, a);
	CHECK(verbset_minus("", a, out) == 0);
	CHECK_STR(out, "");
	CHECK(verbset_minus(a, a, out) == 0);
	CHECK_STR(out, "");
	/* prefix-related verbs are different verbs */
	CHECK(verbset_intersect("a:b a:bc", "a:bc ab:c", out) == 1);
	CHECK_STR(out, "a:bc");
	CHECK(verbset_minus("a:b a:bc", "a:bc", out) == 1);
	CHECK_STR(out, "a:b");
	/* disjoint */
	CHECK(verbset_intersect("a:a", "b:b", out) == 0);
	CHECK(verbset_union("b:b", "a:a", out) == 2);
	CHECK_STR(out, "a:a b:b");

	/* a union over VERBS_MAX is refused */
	static char x[VERBSET_MAX], y[VERBSET_MAX];
	size_t ox = 0, oy = 0;
	for (int i = 0; i < 40; i++) {
		ox += (size_t)sprintf(x + ox, "%sa%02d:x", i ? " " : "", i);
		oy += (size_t)sprintf(y + oy, "%sb%02d:x", i ? " " : "", i);
	}
	CHECK(verbset_union(x, y, out) == -1);
	CHECK(verbset_intersect(x, y, out) == 0);
	CHECK(verbset_minus(x, y, out) == 40);
	CHECK_STR(out, x);
	/* VERBS_MAX exactly is fine */
	static char z[VERBSET_MAX];
	size_t oz = 0;
	for (int i = 0; i < VERBS_MAX - 40; i++)
		oz += (size_t)sprintf(z + oz, "%sb%02d:x", i ? " " : "", i);
	CHECK(verbset_union(x, z, out) == VERBS_MAX);
}

TEST(parsers_verbset_has)
{
	const char *s = "a:b a:bc tickets:read";
	CHECK(verbset_has(s, slice_of("a:b")));
	CHECK(verbset_has(s, slice_of("a:bc")));
	CHECK(verbset_has(s, slice_of("tickets:read")));
	CHECK(!verbset_has(s, slice_of("a:")));
	CHECK(!verbset_has(s, slice_of("a:bcd")));
	CHECK(!verbset_has(s, slice_of("tickets:rea")));
	CHECK(!verbset_has(s, slice_of("")));
	CHECK(!verbset_has("", slice_of("a:b")));
	/* the slice need not be NUL-terminated */
	CHECK(verbset_has(s, (slice){"a:bX", 3}));
	CHECK(verbset_has(s, (slice){"a:bcX", 4}));
}

/* ---- jti ---- */

TEST(parsers_jti_roundtrip)
{
	char a[JTI_MAX], b[JTI_MAX];
	int64_t times[] = {0, 1, 1767225600123LL, (1LL << 48) - 1};
	for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
		CHECK(jti_new(times[i], a) == 0);
		CHECK(strlen(a) == 24);
		CHECK(jti_time(a) == times[i]);
		for (const char *p = a; *p; p++)
			CHECK((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			      *p == '-' || *p == '_');
	}
	/* 96 random bits: two jtis of the same millisecond differ */
	CHECK(jti_new(1767225600123LL, a) == 0);
	CHECK(jti_new(1767225600123LL, b) == 0);
	CHECK(strcmp(a, b) != 0);
	CHECK(memcmp(a, b, 8) == 0); /* the first 48 bits (8 chars) are the time */
	/* not ours */
	CHECK(jti_time("") == -1);
	CHECK(jti_time("short") == -1);
	CHECK(jti_time("AAAAAAAAAAAAAAAAAAAAAAA") == -1);   /* 23 chars */
	CHECK(jti_time("AAAAAAAAAAAAAAAAAAAAAAAAA") == -1); /* 25 chars */
	/* the 22-character jtis (48 + 80 bits) of tokens minted before still give their time */
	CHECK(jti_time("AaIJUlCaOPbQPd_zrd_TCQ") == 1795452719258LL);
	CHECK(jti_time("AAAAAAAAAAAAAAAAAAAA+A") == -1); /* base64, not base64url */
	CHECK(jti_time("AAAAAAAAAAAAAAAAAAAA==") == -1);
}

/* ---- claims_json ---- */

static json_t *claims_parse(const struct claims *c)
{
	struct buf b;
	buf_init(&b, 16 * 1024);
	CHECK(claims_json(c, &b) == 0);
	CHECK(!b.failed);
	json_error_t err;
	json_t *j = b.failed ? NULL : json_loadb(b.p, b.len, 0, &err);
	if (!j)
		fprintf(stderr, "    claims_json output is not JSON: %s\n", b.p ? b.p : "(null)");
	buf_free(&b);
	return j;
}

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

TEST(parsers_claims_json_fields)
{
	struct claims c = {
		.iss = "http://127.0.0.1:8080",
		.sub = "agt_abc",
		.owner_id = "usr_1",
		.org_id = "org_1",
		.ws = "ws_1",
		.run_id = "run_1",
		.scope = "tickets:note tickets:read",
		.jti = "AAAAAAAAAAAAAAAAAAAAAA",
		.naud = 1,
		.iat = 1767225600,
		.exp = 1767225900,
	};
	c.aud[0] = "https://api.example.com";
	json_t *j = claims_parse(&c);
	CHECK(j != NULL);
	if (!j)
		return;
	CHECK_STR(jstr(j, "iss"), "http://127.0.0.1:8080");
	CHECK_STR(jstr(j, "sub"), "agt_abc");
	CHECK_STR(jstr(j, "client_id"), "agt_abc"); /* RFC 9068 §2.2: the client is the subject */
	CHECK_STR(jstr(j, "owner_id"), "usr_1");
	CHECK_STR(jstr(j, "org_id"), "org_1");
	CHECK_STR(jstr(j, "ws"), "ws_1");
	CHECK_STR(jstr(j, "run_id"), "run_1");
	CHECK_STR(jstr(j, "scope"), "tickets:note tickets:read");
	CHECK_STR(jstr(j, "jti"), "AAAAAAAAAAAAAAAAAAAAAA");
	/* a single audience is a string (RFC 7519 §4.1.3) */
	CHECK(json_is_string(json_object_get(j, "aud")));
	CHECK_STR(jstr(j, "aud"), "https://api.example.com");
	CHECK(json_is_integer(json_object_get(j, "iat")));
	CHECK(json_integer_value(json_object_get(j, "iat")) == 1767225600);
	CHECK(json_integer_value(json_object_get(j, "nbf")) == 1767225600);
	CHECK(json_integer_value(json_object_get(j, "exp")) == 1767225900);
	/* no CIBA claims unless asked for */
	CHECK(json_object_get(j, "approved_by") == NULL);
	CHECK(json_object_get(j, "approval_id") == NULL);
	json_decref(j);
}

TEST(parsers_claims_json_aud_array_and_escaping)
{
	struct claims c = {
		.iss = "http://x/\"quoted\"\\",
		.sub = "agt_abc",
		.owner_id = "usr_1",
		.org_id = "org_1",
		.ws = "ws_1",
		.run_id = "run:with.odd-chars_",
		.scope = "a:b",
		.jti = "J",
		.naud = 2,
		.iat = 100,
		.exp = 400,
		.approved_by = "usr_2",
		.approval_id = "apr_1",
	};
	c.aud[0] = "https://a.example";
	c.aud[1] = "urn:b";
	json_t *j = claims_parse(&c);
	CHECK(j != NULL);
	if (!j)
		return;
	CHECK_STR(jstr(j, "iss"), "http://x/\"quoted\"\\");
	json_t *aud = json_object_get(j, "aud");
	CHECK(json_is_array(aud) && json_array_size(aud) == 2);
	CHECK_STR(json_string_value(json_array_get(aud, 0)), "https://a.example");
	CHECK_STR(json_string_value(json_array_get(aud, 1)), "urn:b");
	CHECK_STR(jstr(j, "run_id"), "run:with.odd-chars_");
	CHECK_STR(jstr(j, "approved_by"), "usr_2");
	CHECK_STR(jstr(j, "approval_id"), "apr_1");
	CHECK(json_integer_value(json_object_get(j, "exp")) - json_integer_value(json_object_get(j, "iat")) == 300);
	json_decref(j);

	/* three audiences stay an array in order */
	c.naud = 3;
	c.aud[2] = "https://c.example/x";
	c.approved_by = c.approval_id = NULL;
	j = claims_parse(&c);
	CHECK(j != NULL);
	if (!j)
		return;
	aud = json_object_get(j, "aud");
	CHECK(json_is_array(aud) && json_array_size(aud) == 3);
	CHECK_STR(json_string_value(json_array_get(aud, 2)), "https://c.example/x");
	json_decref(j);
}

/* ---- run ids ---- */

TEST(parsers_run_id_valid)
{
	CHECK(run_ok("r"));
	CHECK(run_ok("run_3kq9"));
	CHECK(run_ok("job-42.step:7_A"));
	CHECK(!run_ok(""));
	CHECK(!run_ok("a b"));
	CHECK(!run_ok("a/b"));
	CHECK(!run_ok("a+b"));
	CHECK(!run_ok("a%20b"));
	CHECK(!run_ok("r\xc3\xa9"));
	CHECK(!run_ok("a\nb"));
	CHECK(!run_id_valid((slice){"ab\0c", 4}));
	char r[RUN_ID_MAX + 2];
	memset(r, 'x', sizeof r);
	r[RUN_ID_MAX] = '\0';
	CHECK(RUN_ID_MAX == 64);
	CHECK(run_ok(r));
	r[RUN_ID_MAX] = 'x';
	r[RUN_ID_MAX + 1] = '\0';
	CHECK(!run_ok(r));
}
