/* assertion.c - private_key_jwt client assertions: claim rules, keys, replay; see assertion.h. */
#include "assertion.h"

#include "../common/blobmap.h"
#include "../common/timeutil.h"
#include "../store/replay.h"
#include "../store/writer.h"

#include <math.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NUMERIC_DATE_MAX 253402300799LL /* 9999-12-31T23:59:59Z: larger times are refused */
#define PARSED_KEY_SLOTS 4096           /* parsed public keys kept, by credential id */

/* RFC 7519 §2 NumericDate: a JSON number of seconds. 1 present and read, 0 absent, -1 bad. */
static int numeric_date(const json_t *claims, const char *name, int64_t *out)
{
	const json_t *v = json_object_get(claims, name);
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0 || i > NUMERIC_DATE_MAX)
			return -1;
		*out = (int64_t)i;
		return 1;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (!isfinite(d) || d < 0 || d > (double)NUMERIC_DATE_MAX)
			return -1;
		*out = (int64_t)d;
		return 1;
	}
	return -1;
}

#define REFUSE(r)           \
	do {                \
		*why = (r); \
		return -1;  \
	} while (0)

int assertion_check_claims(const struct jose_jws *j, const char *issuer, int64_t now_s, int leeway,
			   struct assertion_claims *out, const char **why)
{
	memset(out, 0, sizeof *out);
	const json_t *c = j->claims;
	const json_t *iss = json_object_get(c, "iss"), *sub = json_object_get(c, "sub");
	const json_t *aud = json_object_get(c, "aud"), *jti = json_object_get(c, "jti");
	/* RFC 7523 §3 (A), (B): iss and sub are the client's id */
	if (!json_is_string(iss) || json_string_length(iss) == 0 || json_string_length(iss) >= ID_MAX ||
	    strlen(json_string_value(iss)) != json_string_length(iss))
		REFUSE("bad_iss");
	if (!json_is_string(sub) || strcmp(json_string_value(sub), json_string_value(iss)) != 0 ||
	    json_string_length(sub) != json_string_length(iss))
		REFUSE("sub_mismatch");
	/* RFC 10070: the audience is the issuer identifier alone, as a string */
	if (json_is_array(aud))
		REFUSE("aud_array");
	if (!json_is_string(aud))
		REFUSE("no_aud");
	if (!issuer || !*issuer || json_string_length(aud) != strlen(issuer) ||
	    strcmp(json_string_value(aud), issuer) != 0)
		REFUSE("aud_mismatch");
	/* RFC 7523 §3 (D), (E): exp, nbf; iat bounds the lifetime */
	int64_t exp = 0, iat = 0, nbf = 0;
	int has_exp = numeric_date(c, "exp", &exp), has_iat = numeric_date(c, "iat", &iat),
	    has_nbf = numeric_date(c, "nbf", &nbf);
	if (has_exp == 0)
		REFUSE("no_exp");
	if (has_exp < 0 || has_iat < 0 || has_nbf < 0)
		REFUSE("bad_time");
	if (exp + leeway <= now_s)
		REFUSE("expired");
	if (has_iat && iat > now_s + leeway)
		REFUSE("iat_future");
	if (has_nbf && nbf > now_s + leeway)
		REFUSE("nbf_future");
	if (exp - (has_iat ? iat : now_s) > ASSERTION_LIFETIME_MAX)
		REFUSE("exp_too_far");
	/* RFC 7523 §3 (F): a jti, used once */
	if (!json_is_string(jti) || json_string_length(jti) == 0)
		REFUSE("no_jti");
	if (json_string_length(jti) > ASSERTION_JTI_MAX || strlen(json_string_value(jti)) != json_string_length(jti))
		REFUSE("bad_jti");
	memcpy(out->iss, json_string_value(iss), json_string_length(iss) + 1);
	memcpy(out->jti, json_string_value(jti), json_string_length(jti) + 1);
	out->exp = exp;
	return 0;
}

/* ---- the agent's live keys, cached ---- */

struct key_auth {
	struct agent a;
	int n;
	struct {
		char cred_id[ID_MAX];
		char kid[JOSE_KID_MAX + 1];
		int64_t expires_at; /* ms; 0 = none */
	} k[ASSERTION_KEYS_MAX];
};

static struct blobmap key_lists;

/* parsed keys by credential id: direct-mapped, a collision replaces the older entry */
static struct {
	char cred_id[ID_MAX];
	struct jose_key k;
} parsed[PARSED_KEY_SLOTS];
static pthread_mutex_t parsed_mu = PTHREAD_MUTEX_INITIALIZER;
static int parsed_on;

void assertion_cache_enable(void)
{
	if (!key_lists.b)
		blobmap_init(&key_lists, 4096, 100000);
	parsed_on = 1;
}
void assertion_cache_forget(const char *agent_id) { blobmap_del(&key_lists, agent_id); }
void assertion_cache_clear(void) { blobmap_clear(&key_lists); }

/* 1 loaded, 0 no such agent, -1 error */
static int key_auth_load(struct db *db, const char *id, struct key_auth *r)
{
	memset(r, 0, sizeof *r);
	int f = agent_load(db, id, &r->a);
	if (f <= 0)
		return f;
	struct db_stmt *st =
		db_prep(db, "SELECT id, kid, coalesce(expires_at, 0) FROM credentials WHERE agent_id = ?"
			    " AND kind = 'key' AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
			    " ORDER BY created_at DESC");
	if (!st)
		return -1;
	db_bind_text(st, 1, id);
	db_bind_int64(st, 2, now_ms());
	int rc;
	while ((rc = db_step(st)) == DB_ROW && r->n < ASSERTION_KEYS_MAX) {
		db_col_copy(st, 0, r->k[r->n].cred_id, ID_MAX);
		db_col_copy(st, 1, r->k[r->n].kid, sizeof r->k[r->n].kid);
		r->k[r->n].expires_at = db_col_int64(st, 2);
		r->n++;
	}
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE ? 1 : -1;
}

static unsigned slot_of(const char *cred_id)
{
	unsigned h = 2166136261u; /* FNV-1a; ids are random, the slot needs no secrecy */
	for (const unsigned char *p = (const unsigned char *)cred_id; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % PARSED_KEY_SLOTS;
}

/* The parsed key of a key credential into *k (the caller clears it): 1, 0 when it has none
 * any more, -1 on a database error. Parsed once per process, then shared by reference. */
static int key_get(struct db *db, const char *cred_id, struct jose_key *k)
{
	unsigned s = slot_of(cred_id);
	pthread_mutex_lock(&parsed_mu);
	if (parsed_on && parsed[s].k.pkey && strcmp(parsed[s].cred_id, cred_id) == 0 &&
	    EVP_PKEY_up_ref(parsed[s].k.pkey) == 1) {
		*k = parsed[s].k;
		pthread_mutex_unlock(&parsed_mu);
		return 1;
	}
	pthread_mutex_unlock(&parsed_mu);
	struct db_stmt *st = db_prep(db, "SELECT jwk FROM credentials WHERE id = ? AND kind = 'key'");
	if (!st)
		return -1;
	db_bind_text(st, 1, cred_id);
	int rc = db_step(st), ok = 0;
	const char *why = NULL;
	if (rc == DB_ROW && db_col_text(st, 0))
		ok = jose_key_parse(db_col_text(st, 0), strlen(db_col_text(st, 0)), k, &why) == 0;
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return -1;
	if (!ok)
		return 0;
	pthread_mutex_lock(&parsed_mu);
	if (parsed_on && EVP_PKEY_up_ref(k->pkey) == 1) {
		jose_key_clear(&parsed[s].k); /* holders of the old one keep their own reference */
		parsed[s].k = *k;
		snprintf(parsed[s].cred_id, sizeof parsed[s].cred_id, "%s", cred_id);
	}
	pthread_mutex_unlock(&parsed_mu);
	return 1;
}

/* The agent's record and live keys: 1, 0 no such agent, -1 error. */
static int key_auth_get(struct db *db, const char *agent_id, struct key_auth *r)
{
	if (strncmp(agent_id, "agt_", 4) != 0)
		return 0;
	long gen = blobmap_generation(&key_lists);
	if (blobmap_get(&key_lists, agent_id, r, sizeof *r))
		return 1;
	int f = key_auth_load(db, agent_id, r);
	if (f > 0)
		blobmap_put(&key_lists, agent_id, r, sizeof *r, gen);
	return f;
}

static struct writer *claim_writer;

void assertion_use_writer(struct writer *w) { claim_writer = w; }

struct claim {
	const char *id;
	int64_t exp;
	int rc;
};

static int claim_job(struct db *db, void *arg)
{
	struct claim *c = arg;
	c->rc = replay_claim(db, "assertion", c->id, c->exp);
	return c->rc < 0 ? -1 : 0;
}

/* RFC 7523 §3 (F): 1 the first use of id, 0 a replay, -1 error. */
static int claim(struct db *db, const char *id, int64_t exp)
{
	struct claim c = {.id = id, .exp = exp, .rc = -1};
	if (!claim_writer)
		return replay_claim(db, "assertion", id, exp);
	return writer_call(claim_writer, claim_job, &c) < 0 ? -1 : c.rc;
}

int assertion_jti_claim(struct db *db, struct assertion_jti *jti)
{
	if (!jti->id[0] || jti->done)
		return 1;
	int c = replay_claim(db, "assertion", jti->id, jti->exp);
	if (c > 0)
		jti->done = 1;
	return c;
}

static int refuse(struct oerr *e, const char *reason)
{
	oerr_set(e, 401, "invalid_client", "client authentication failed");
	e->reason = reason;
	return 1;
}

/* Tries the candidate keys; 1 verified (cred index in *which), 0 none, -1 error. */
static int try_keys(struct db *db, const struct jose_jws *j, const struct key_auth *r, int *which, const char **reason)
{
	int64_t now = now_ms();
	int tried = 0;
	*reason = j->kid ? "unknown_kid" : "no_key";
	for (int i = 0; i < r->n; i++) {
		if (j->kid && strcmp(j->kid, r->k[i].kid) != 0)
			continue;
		if (r->k[i].expires_at && r->k[i].expires_at <= now) {
			*reason = "credential_expired";
			continue;
		}
		struct jose_key k;
		memset(&k, 0, sizeof k);
		int g = key_get(db, r->k[i].cred_id, &k);
		if (g < 0)
			return -1;
		if (g == 0)
			continue;
		if (!jose_alg_fits(&k, j->alg)) {
			jose_key_clear(&k);
			if (!tried)
				*reason = "alg_mismatch";
			continue;
		}
		int v = jose_jws_verify(j, &k);
		jose_key_clear(&k);
		if (v < 0)
			return -1;
		tried = 1;
		*reason = "bad_signature";
		if (v == 1) {
			*which = i;
			return 1;
		}
	}
	return 0;
}

int assertion_verify(struct db *db, const struct jose_jws *j, const char *client_id, const char *issuer, int leeway,
		     struct assertion_jti *jti, struct agent *a, struct oerr *e)
{
	struct assertion_claims cl;
	const char *why = NULL;
	memset(a, 0, sizeof *a);
	struct key_auth *r = malloc(sizeof *r);
	if (!r) {
		oerr_set(e, 500, "server_error", "internal error");
		return -1;
	}
	/* the agent iss names, looked up first so that a refusal's audit row names it */
	const json_t *iss = json_object_get(j->claims, "iss");
	int rc = json_is_string(iss) && json_string_length(iss) < ID_MAX ? key_auth_get(db, json_string_value(iss), r)
									 : 0;
	int which = -1;
	if (rc > 0)
		*a = r->a;
	else if (rc == 0)
		why = "unknown_client";
	if (rc > 0 && assertion_check_claims(j, issuer, now_ms() / 1000, leeway, &cl, &why) < 0)
		rc = 0;
	/* RFC 7521 §4.2: a client_id sent beside the assertion names the same client */
	if (rc > 0 && client_id && *client_id && strcmp(client_id, cl.iss) != 0)
		rc = 0, why = "client_id_mismatch";
	if (rc > 0)
		rc = try_keys(db, j, r, &which, &why);
	if (rc > 0) {
		snprintf(jti->id, sizeof jti->id, "%s:%s", cl.iss, cl.jti);
		jti->exp = cl.exp;
	}
	if (rc > 0 && !jti->done && !(jti->defer && claim_writer)) {
		/* RFC 7523 §3 (F): the jti once per agent until exp, on every node */
		int c = claim(db, jti->id, jti->exp);
		if (c > 0)
			jti->done = 1;
		else if (c == 0)
			rc = 0, why = "replay";
		else
			rc = -1;
	}
	if (rc > 0)
		memcpy(a->cred_id, r->k[which].cred_id, ID_MAX);
	free(r);
	if (rc < 0) {
		oerr_set(e, 500, "server_error", "internal error");
		return -1;
	}
	return rc > 0 ? 0 : refuse(e, why);
}
