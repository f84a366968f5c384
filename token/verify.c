/* verify.c - JWS parsing and verification (RFC 7515, RFC 9068 §4), and the cache of
 * verified tokens; see verify.h. */
#include "verify.h"

#include "../common/buf.h"
#include "../common/codec.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_MAX 512

static const char *str_claim(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int int_claim(json_t *o, const char *k, int64_t *out)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_integer(v))
		return -1;
	*out = json_integer_value(v);
	return 0;
}

static int copy(char *dst, size_t cap, const char *s)
{
	if (!s || strlen(s) >= cap)
		return -1;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static void json_kv(struct buf *b, const char *k, const char *v)
{
	buf_printf(b, ",\"%s\":", k);
	buf_json_cstr(b, v);
}

static EVP_MD *sha256;
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static pthread_key_t hash_key;
static void hash_ctx_free(void *p);
static void sha_fetch(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	pthread_key_create(&hash_key, hash_ctx_free);
}

static void hash_ctx_free(void *p) { EVP_MD_CTX_free(p); }

int tok_hash(const char *token, size_t n, unsigned char out[32])
{
	pthread_once(&sha_once, sha_fetch);
	EVP_MD_CTX *ctx = pthread_getspecific(hash_key);
	if (!ctx) {
		if (!(ctx = EVP_MD_CTX_new()))
			return -1;
		pthread_setspecific(hash_key, ctx);
	}
	unsigned int len = 0;
	if (EVP_DigestInit_ex(ctx, sha256, NULL) != 1 || EVP_DigestUpdate(ctx, token, n) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, &len) != 1)
		return -1;
	return 0;
}

/* A compact JWS split and decoded: the header checked (RFC 9068 §4: typ at+jwt; RFC 8725:
 * no "none", no critical parameters) and the signature verified with a published key. */
struct jws {
	json_t *hdr;
	unsigned char *payload; /* decoded, owned */
	size_t payload_len;
	const char *kid;
};

static int jws_open(struct keyring *kr, const char *token, size_t n, struct jws *j, const char **why)
{
	unsigned char hbuf[HEADER_MAX], sig[SIG_MAX];
	memset(j, 0, sizeof *j);
	*why = "malformed";
	if (n == 0 || n > TOKEN_MAX_LEN)
		return -1;
	const char *d1 = memchr(token, '.', n);
	const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - token)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - token)))
		return -1;
	size_t hl = (size_t)(d1 - token), pl_len = (size_t)(d2 - d1 - 1), sl = n - (size_t)(d2 + 1 - token);
	ssize_t hn = b64url_decode(token, hl, hbuf, sizeof hbuf);
	j->payload = malloc(pl_len ? pl_len : 1);
	ssize_t pn = j->payload ? b64url_decode(d1 + 1, pl_len, j->payload, pl_len) : -1;
	ssize_t sn = b64url_decode(d2 + 1, sl, sig, sizeof sig);
	if (hn <= 0 || pn <= 0 || sn <= 0)
		return -1;
	j->payload_len = (size_t)pn;
	j->hdr = json_loadb((const char *)hbuf, (size_t)hn, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j->hdr))
		return -1;
	const char *alg = str_claim(j->hdr, "alg"), *typ = str_claim(j->hdr, "typ");
	enum key_alg a;
	j->kid = str_claim(j->hdr, "kid");
	if (!alg || !j->kid || !typ || strcmp(typ, "at+jwt") != 0 || key_alg_parse(alg, &a) < 0 ||
	    json_object_get(j->hdr, "crit") || strlen(j->kid) >= KID_MAX) {
		*why = "bad_header";
		return -1;
	}
	if (!keyring_verify(kr, j->kid, a, token, (size_t)(d2 - token), sig, (size_t)sn)) {
		*why = "bad_signature";
		return -1;
	}
	return 0;
}

static void jws_close(struct jws *j)
{
	json_decref(j->hdr);
	free(j->payload);
}

/* aud: a string or an array of 1..AUD_MAX strings, copied into t->blob from *p on. */
static int copy_aud(struct tok *t, json_t *aud, char **p)
{
	const char *auds[AUD_MAX];
	int na = 0;
	if (json_is_string(aud)) {
		auds[na++] = json_string_value(aud);
	} else if (json_is_array(aud) && json_array_size(aud) >= 1 && json_array_size(aud) <= AUD_MAX) {
		for (size_t i = 0; i < json_array_size(aud); i++) {
			json_t *v = json_array_get(aud, i);
			if (!json_is_string(v))
				return -1;
			auds[na++] = json_string_value(v);
		}
	} else {
		return -1;
	}
	for (int i = 0; i < na; i++) {
		size_t l = strlen(auds[i]);
		memcpy(*p, auds[i], l + 1);
		t->aud[i] = *p;
		*p += l + 1;
	}
	t->naud = na;
	return 0;
}

/* RFC 8693 §4.1: the act claim of an exchanged token, nested once per hop, the current
 * actor outermost. Each level is {"sub","owner_id"[,"act"]}; the actors' ids are copied
 * into t->blob from *p on (the scope too). Absent: depth 0. At most DELEGATION_DEPTH_MAX
 * levels. */
static int copy_act(struct tok *t, json_t *pl, const char *client_id, char **p)
{
	t->depth = 0;
	const char *scope = str_claim(pl, "scope"); /* checked by copy_claims */
	memcpy(*p, scope, strlen(scope) + 1);
	t->scope = *p;
	*p += strlen(scope) + 1;
	json_t *act = json_object_get(pl, "act");
	for (; act; act = json_object_get(act, "act")) {
		const char *sub = str_claim(act, "sub"), *owner = str_claim(act, "owner_id");
		if (!json_is_object(act) || t->depth == DELEGATION_DEPTH_MAX || !sub || !owner ||
		    strlen(sub) >= sizeof t->sub || strlen(owner) >= sizeof t->owner_id)
			return -1;
		const char *v[2] = {sub, owner};
		for (int i = 0; i < 2; i++) {
			size_t l = strlen(v[i]);
			memcpy(*p, v[i], l + 1);
			(i ? t->act_owner : t->act_sub)[t->depth] = *p;
			*p += l + 1;
		}
		t->depth++;
	}
	/* the client is the current actor */
	return t->depth && strcmp(t->act_sub[0], client_id) != 0 ? -1 : 0;
}

/* The claims every token of ours carries, into t. */
static int copy_claims(struct tok *t, json_t *pl)
{
	if (copy(t->sub, sizeof t->sub, str_claim(pl, "sub")) < 0 ||
	    copy(t->owner_id, sizeof t->owner_id, str_claim(pl, "owner_id")) < 0 ||
	    copy(t->org_id, sizeof t->org_id, str_claim(pl, "org_id")) < 0 ||
	    copy(t->ws, sizeof t->ws, str_claim(pl, "ws")) < 0 ||
	    copy(t->run_id, sizeof t->run_id, str_claim(pl, "run_id")) < 0 ||
	    copy(t->jti, sizeof t->jti, str_claim(pl, "jti")) < 0 || !str_claim(pl, "scope") ||
	    !str_claim(pl, "client_id") || int_claim(pl, "exp", &t->exp) < 0 || int_claim(pl, "iat", &t->iat) < 0 ||
	    int_claim(pl, "nbf", &t->nbf) < 0)
		return -1;
	const char *cred = str_claim(pl, "cred_id");
	if (cred && copy(t->cred_id, sizeof t->cred_id, cred) < 0)
		return -1;
	int64_t ms = jti_time(t->jti);
	t->issued_ms = ms > 0 ? ms : t->iat * 1000;
	return 0;
}

/* RFC 7662 §2.2: the active answer, rendered once. */
static void render_active(const struct tok *t, json_t *pl, struct buf *body)
{
	json_t *aud = json_object_get(pl, "aud");
	buf_puts(body, "{\"active\":true");
	json_kv(body, "scope", str_claim(pl, "scope"));
	json_kv(body, "client_id", str_claim(pl, "client_id"));
	json_kv(body, "sub", t->sub);
	buf_puts(body, ",\"aud\":");
	if (json_is_string(aud)) {
		buf_json_cstr(body, t->aud[0]);
	} else {
		buf_puts(body, "[");
		for (int i = 0; i < t->naud; i++) {
			buf_puts(body, i ? "," : "");
			buf_json_cstr(body, t->aud[i]);
		}
		buf_puts(body, "]");
	}
	json_kv(body, "iss", str_claim(pl, "iss"));
	buf_printf(body, ",\"exp\":%lld,\"iat\":%lld,\"nbf\":%lld", (long long)t->exp, (long long)t->iat,
		   (long long)t->nbf);
	json_kv(body, "jti", t->jti);
	/* RFC 9449 §6.2: a DPoP-bound token's cnf and token_type */
	json_t *cnf = json_object_get(pl, "cnf");
	const char *jkt = json_is_object(cnf) ? str_claim(cnf, "jkt") : NULL;
	buf_printf(body, ",\"token_type\":\"%s\"", jkt ? "DPoP" : "Bearer");
	if (jkt) {
		buf_puts(body, ",\"cnf\":{\"jkt\":");
		buf_json_cstr(body, jkt);
		buf_puts(body, "}");
	}
	json_kv(body, "owner_id", t->owner_id);
	json_kv(body, "org_id", t->org_id);
	json_kv(body, "ws", t->ws);
	json_kv(body, "run_id", t->run_id);
	json_t *act = json_object_get(pl, "act");
	char *act_text = act ? json_dumps(act, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (act_text) { /* RFC 8693 §4.1, nested as in the token */
		buf_puts(body, ",\"act\":");
		buf_puts(body, act_text);
		free(act_text);
	} else if (act) {
		body->failed = 1;
	}
	const char *ab = str_claim(pl, "approved_by"), *ai = str_claim(pl, "approval_id");
	if (ab)
		json_kv(body, "approved_by", ab);
	if (ai)
		json_kv(body, "approval_id", ai);
	buf_puts(body, "}");
}

/* Puts the answer after the audiences and shrinks t to what is used: cached tokens should
 * cost about a kilobyte each. Returns the (possibly moved) tok, or NULL (t freed). */
static struct tok *tok_finish(struct tok *t, char *p, size_t cap, const struct buf *body)
{
	if (body->failed || (size_t)(p - t->blob) + body->len + 1 > cap) {
		free(t);
		return NULL;
	}
	memcpy(p, body->p, body->len + 1);
	t->active_len = body->len;
	size_t used = (size_t)(p - t->blob) + body->len + 1;
	size_t offs[AUD_MAX], act_offs[2][DELEGATION_DEPTH_MAX], scope_off = (size_t)(t->scope - t->blob);
	for (int i = 0; i < t->naud; i++)
		offs[i] = (size_t)(t->aud[i] - t->blob);
	for (int i = 0; i < t->depth; i++) {
		act_offs[0][i] = (size_t)(t->act_sub[i] - t->blob);
		act_offs[1][i] = (size_t)(t->act_owner[i] - t->blob);
	}
	size_t json_off = (size_t)(p - t->blob);
	struct tok *small = realloc(t, sizeof *t + used);
	if (small)
		t = small;
	t->cost = small ? sizeof *t + used : sizeof *t + cap;
	if (t->depth)
		t->cost += sizeof(struct tok_chain); /* resolved on first use, held as long */
	for (int i = 0; i < t->naud; i++)
		t->aud[i] = t->blob + offs[i];
	t->scope = t->blob + scope_off;
	for (int i = 0; i < t->depth; i++) {
		t->act_sub[i] = t->blob + act_offs[0][i];
		t->act_owner[i] = t->blob + act_offs[1][i];
	}
	t->active_json = t->blob + json_off;
	return t;
}

struct tok *tok_verify(struct keyring *kr, const char *issuer, const char *token, size_t n, const char **why)
{
	json_t *pl = NULL;
	struct tok *t = NULL;
	struct jws j;
	struct buf body;
	buf_init(&body, 16 * 1024);
	if (jws_open(kr, token, n, &j, why) < 0)
		goto done;
	*why = "malformed";
	pl = json_loadb((const char *)j.payload, j.payload_len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(pl))
		goto done;
	const char *iss = str_claim(pl, "iss");
	if (!iss || strcmp(iss, issuer) != 0) {
		*why = "wrong_issuer";
		goto done;
	}
	*why = "bad_claims";
	size_t cap = (j.payload_len + 64) * 2 + 1024;
	t = calloc(1, sizeof *t + cap);
	if (!t)
		goto done;
	atomic_init(&t->refs, 1);
	memcpy(t->kid, j.kid, strlen(j.kid) + 1);
	char *p = t->blob;
	if (copy_claims(t, pl) < 0 || copy_aud(t, json_object_get(pl, "aud"), &p) < 0 ||
	    copy_act(t, pl, str_claim(pl, "client_id"), &p) < 0) {
		free(t);
		t = NULL;
		goto done;
	}
	render_active(t, pl, &body);
	t = tok_finish(t, p, cap, &body);
	if (t && tok_hash(token, n, t->hash) < 0) {
		free(t);
		t = NULL;
	}
	if (t)
		*why = NULL;
done:
	json_decref(pl);
	jws_close(&j);
	buf_free(&body);
	return t;
}

void tok_release(struct tok *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1) {
		free(atomic_load(&t->chain));
		free(t);
	}
}

/* ---- cache ---- */

/* 4-way set associative: a token competes only with the three others of its set, and
 * the one closest to expiry leaves first */
#define TCACHE_WAYS 4
#define TCACHE_STRIPES 64

static struct tok **slots;
static size_t nsets;
static pthread_mutex_t stripes[TCACHE_STRIPES];
static atomic_long hits, misses;
static atomic_size_t held; /* sum of the cached toks' cost */

int tcache_init(size_t entries)
{
	if (slots)
		return 0;
	if (!entries)
		entries = TCACHE_DEFAULT_ENTRIES;
	nsets = (entries + TCACHE_WAYS - 1) / TCACHE_WAYS;
	slots = calloc(nsets * TCACHE_WAYS, sizeof *slots);
	if (!slots)
		return -1;
	for (int i = 0; i < TCACHE_STRIPES; i++)
		pthread_mutex_init(&stripes[i], NULL);
	return 0;
}

static size_t set_of(const unsigned char h[32])
{
	uint64_t v;
	memcpy(&v, h, sizeof v);
	return (size_t)(v % nsets);
}

struct tok *tcache_lookup(const unsigned char hash[32])
{
	if (!slots)
		return NULL;
	size_t s = set_of(hash);
	pthread_mutex_t *mu = &stripes[s % TCACHE_STRIPES];
	struct tok *t = NULL;
	pthread_mutex_lock(mu);
	for (int w = 0; w < TCACHE_WAYS; w++) {
		struct tok *c = slots[s * TCACHE_WAYS + (size_t)w];
		if (c && memcmp(c->hash, hash, 32) == 0) {
			t = c;
			atomic_fetch_add(&t->refs, 1);
			break;
		}
	}
	pthread_mutex_unlock(mu);
	atomic_fetch_add(t ? &hits : &misses, 1);
	return t;
}

void tcache_insert(struct tok *t)
{
	if (!slots)
		return;
	size_t s = set_of(t->hash);
	pthread_mutex_t *mu = &stripes[s % TCACHE_STRIPES];
	atomic_fetch_add(&t->refs, 1);
	pthread_mutex_lock(mu);
	struct tok **set = &slots[s * TCACHE_WAYS];
	int victim = 0;
	for (int w = 0; w < TCACHE_WAYS; w++) {
		if (!set[w] || memcmp(set[w]->hash, t->hash, 32) == 0) {
			victim = w;
			break;
		}
		if (set[w]->exp < set[victim]->exp)
			victim = w;
	}
	struct tok *old = set[victim];
	size_t freed = old ? old->cost : 0;
	if (atomic_load(&held) + t->cost > TCACHE_BYTES + freed) {
		pthread_mutex_unlock(mu); /* over the budget: served, not kept */
		tok_release(t);
		return;
	}
	atomic_fetch_add(&held, t->cost);
	atomic_fetch_sub(&held, freed);
	set[victim] = t;
	pthread_mutex_unlock(mu);
	tok_release(old);
}

void tcache_clear(void)
{
	for (size_t i = 0; slots && i < nsets * TCACHE_WAYS; i++) {
		pthread_mutex_t *mu = &stripes[(i / TCACHE_WAYS) % TCACHE_STRIPES];
		pthread_mutex_lock(mu);
		struct tok *old = slots[i];
		slots[i] = NULL;
		if (old)
			atomic_fetch_sub(&held, old->cost);
		pthread_mutex_unlock(mu);
		tok_release(old);
	}
}

void tcache_stats(long *h, long *m, size_t *entries)
{
	*h = atomic_load(&hits);
	*m = atomic_load(&misses);
	*entries = nsets * TCACHE_WAYS;
}
