/* mint.c - building and signing access tokens (RFC 9068); see mint.h. */
#include "mint.h"

#include "../common/codec.h"
#include "../common/rand.h"

#include <stdio.h>
#include <string.h>

/* 48 bits of time in ms, big-endian, then ID_RANDOM_BYTES random bytes, into raw */
static int timed_raw(int64_t ms, unsigned char raw[TIMED_ID_BYTES])
{
	for (int i = 0; i < 6; i++)
		raw[i] = (unsigned char)(ms >> (8 * (5 - i)));
	return rand_bytes(raw + 6, TIMED_ID_BYTES - 6);
}

int jti_new(int64_t ms, char out[JTI_MAX])
{
	unsigned char raw[TIMED_ID_BYTES];
	if (timed_raw(ms, raw) < 0)
		return -1;
	b64url_encode(raw, sizeof raw, out);
	return 0;
}

int run_id_new(int64_t ms, char out[64])
{
	unsigned char raw[TIMED_ID_BYTES];
	if (timed_raw(ms, raw) < 0)
		return -1;
	memcpy(out, "run_", 4);
	b32_encode(raw, sizeof raw, out + 4);
	return 0;
}

int64_t jti_time(const char *jti)
{
	unsigned char raw[TIMED_ID_BYTES];
	size_t n = strlen(jti);
	/* 24 characters now; 22 (48 + 80 bits) for tokens minted before, still live for a while */
	if ((n != B64URL_LEN(TIMED_ID_BYTES) && n != B64URL_LEN(16)) ||
	    b64url_decode(jti, n, raw, sizeof raw) != (n == B64URL_LEN(16) ? 16 : TIMED_ID_BYTES))
		return -1;
	int64_t ms = 0;
	for (int i = 0; i < 6; i++)
		ms = ms << 8 | raw[i];
	return ms;
}

static void str_claim(struct buf *b, const char *k, const char *v)
{
	buf_printf(b, ",\"%s\":", k);
	buf_json_cstr(b, v);
}

int claims_json(const struct claims *c, struct buf *b)
{
	buf_puts(b, "{\"iss\":");
	buf_json_cstr(b, c->iss);
	str_claim(b, "sub", c->sub);
	buf_puts(b, ",\"aud\":");
	if (c->naud == 1) {
		buf_json_cstr(b, c->aud[0]);
	} else {
		buf_puts(b, "[");
		for (int i = 0; i < c->naud; i++) {
			buf_puts(b, i ? "," : "");
			buf_json_cstr(b, c->aud[i]);
		}
		buf_puts(b, "]");
	}
	buf_printf(b, ",\"exp\":%lld,\"iat\":%lld,\"nbf\":%lld", (long long)c->exp, (long long)c->iat,
		   (long long)c->iat);
	str_claim(b, "jti", c->jti);
	str_claim(b, "client_id", c->client_id ? c->client_id : c->sub);
	str_claim(b, "scope", c->scope);
	str_claim(b, "owner_id", c->owner_id);
	str_claim(b, "org_id", c->org_id);
	str_claim(b, "ws", c->ws);
	str_claim(b, "run_id", c->run_id);
	if (c->cred_id)
		str_claim(b, "cred_id", c->cred_id);
	if (c->approved_by)
		str_claim(b, "approved_by", c->approved_by);
	if (c->approval_id)
		str_claim(b, "approval_id", c->approval_id);
	if (c->act_json) { /* RFC 8693 §4.1: built by token/exchange.c from verified claims */
		buf_puts(b, ",\"act\":");
		buf_puts(b, c->act_json);
	}
	if (c->cnf_jkt) { /* RFC 9449 §6.1 */
		buf_puts(b, ",\"cnf\":{\"jkt\":");
		buf_json_cstr(b, c->cnf_jkt);
		buf_puts(b, "}");
	}
	if (c->status_list > 0) { /* draft-ietf-oauth-status-list §6.1: the Referenced Token's status claim */
		char uri[ISSUER_URI_MAX];
		snprintf(uri, sizeof uri, "%s/statuslists/%lld", c->iss, (long long)c->status_list);
		buf_printf(b, ",\"status\":{\"status_list\":{\"idx\":%lld,\"uri\":", (long long)c->status_idx);
		buf_json_cstr(b, uri);
		buf_puts(b, "}}");
	}
	return buf_puts(b, "}");
}

int token_mint(struct keyring *kr, const struct claims *c, struct buf *out)
{
	struct buf p;
	buf_init(&p, 16 * 1024);
	int rc = -1;
	if (claims_json(c, &p) == 0)
		rc = keyring_jws(kr, "at+jwt", p.p, p.len, out);
	buf_free(&p);
	return rc;
}
