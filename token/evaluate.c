/* evaluate.c - access decisions for resource servers (AuthZEN, /check); see evaluate.h. */
#include "evaluate.h"

#include "../audit/events.h"
#include "../common/buf.h"
#include "../common/codec.h"
#include "../common/jscan.h"
#include "dpop.h"
#include "introspect.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int rs_caller_authenticate(struct warrant *w, struct client_cred *cred, struct rs_caller *rc, struct oerr *err,
			   struct audit_event *ev)
{
	struct db *db = warrant_reader(w);
	memset(&rc->who, 0, sizeof rc->who);
	struct audit_keys k = {.actor = "", .client_addr = rc->client_addr, .request_id = rc->request_id};
	audit_event_clear(ev);
	if (!db) {
		oerr_set(err, 503, "temporarily_unavailable", "storage unavailable");
		audit_event_init(ev, EV_ACTION_DENIED, "error", &k);
		audit_detail_set(ev, "{\"reason\":\"storage\"}");
		return -1;
	}
	/* the same policy as RFC 7662 §2.1 at /introspect: the resource server authenticates */
	int r = client_authenticate(db, cred, CLIENT_RESOURCE, &rc->who, err);
	if (r == 0)
		return 0;
	k.actor = err->status == 403 ? cred->id : "";
	audit_event_init(ev, EV_ACTION_DENIED, r < 0 ? "error" : "refused", &k);
	struct buf d;
	buf_init(&d, AUDIT_DETAIL_LIMIT);
	buf_puts(&d, "{\"via\":");
	buf_json_cstr(&d, rc->via);
	buf_puts(&d, ",\"reason\":");
	buf_json_cstr(&d, err->reason ? err->reason : err->code);
	buf_puts(&d, "}");
	audit_detail_take(ev, &d);
	if (r > 0 && !rc->who.rs_id[0]) /* no registered resource server: a row a minute */
		audit_event_summarize(ev, err->reason, err->code);
	return r;
}

/* What the decision needs of an active token beyond struct tok: its scope, the acting
 * agent of an exchanged token (RFC 8693 §4.1: the current actor is the outermost `act`) and
 * its owner, and the DPoP key binding. Read from the token's RFC 7662 answer, rendered once
 * at verification, so they are exactly what /introspect tells. 0, or -1 when it is not
 * the JSON it must be. */
static int parse_claims(const struct tok *t, struct evaluation *e)
{
	struct jscan j;
	if (jscan_parse(t->active_json, t->active_len, &j) < 0)
		return -1;
	int scope = jscan_get(&j, 0, "scope"), act = jscan_get(&j, 0, "act"), cnf = jscan_get(&j, 0, "cnf");
	int as = jscan_get(&j, act, "sub"), ao = jscan_get(&j, act, "owner_id"), jkt = jscan_get(&j, cnf, "jkt");
	snprintf(e->scope, sizeof e->scope, "%s", jscan_type(&j, scope) == JS_STRING ? j.v[scope].s : "");
	snprintf(e->act_sub, sizeof e->act_sub, "%s", jscan_type(&j, as) == JS_STRING ? j.v[as].s : "");
	snprintf(e->act_owner, sizeof e->act_owner, "%s", jscan_type(&j, ao) == JS_STRING ? j.v[ao].s : "");
	snprintf(e->jkt, sizeof e->jkt, "%s", jscan_type(&j, jkt) == JS_STRING ? j.v[jkt].s : "");
	jscan_free(&j);
	return 0;
}

/* Those claims, kept per token (by the SHA-256 of its string, like the verified-token
 * cache: what a token says never changes) in a set-associative table allocated on first
 * use, so a token evaluated again is not parsed again. A scope longer than a slot holds is
 * parsed every time. */
#define CLAIMS_WAYS 4
struct claims_slot {
	unsigned char hash[32];
	int used;
	char scope[EVAL_CLAIMS_SCOPE_MAX];
	char act_sub[ID_MAX], act_owner[ID_MAX], jkt[96];
};
static struct claims_slot *claims_table;
static unsigned claims_next[EVAL_CLAIMS_CACHE / CLAIMS_WAYS]; /* each set's next victim */
static pthread_mutex_t claims_mu = PTHREAD_MUTEX_INITIALIZER;

static void claims_copy(struct evaluation *e, const struct claims_slot *c)
{
	snprintf(e->scope, sizeof e->scope, "%s", c->scope);
	memcpy(e->act_sub, c->act_sub, sizeof c->act_sub);
	memcpy(e->act_owner, c->act_owner, sizeof c->act_owner);
	memcpy(e->jkt, c->jkt, sizeof c->jkt);
}

static int token_claims(const struct tok *t, struct evaluation *e)
{
	size_t set =
		((size_t)t->hash[0] << 16 | (size_t)t->hash[1] << 8 | t->hash[2]) % (EVAL_CLAIMS_CACHE / CLAIMS_WAYS);
	pthread_mutex_lock(&claims_mu);
	if (!claims_table)
		claims_table = calloc(EVAL_CLAIMS_CACHE, sizeof *claims_table);
	struct claims_slot *c = claims_table ? &claims_table[set * CLAIMS_WAYS] : NULL;
	for (int w = 0; c && w < CLAIMS_WAYS; w++) {
		if (c[w].used && memcmp(c[w].hash, t->hash, sizeof c[w].hash) == 0) {
			claims_copy(e, &c[w]);
			pthread_mutex_unlock(&claims_mu);
			return 0;
		}
	}
	pthread_mutex_unlock(&claims_mu);
	if (parse_claims(t, e) < 0)
		return -1;
	if (!c || strlen(e->scope) >= sizeof c->scope)
		return 0;
	pthread_mutex_lock(&claims_mu);
	struct claims_slot *v = &c[claims_next[set]++ % CLAIMS_WAYS];
	memcpy(v->hash, t->hash, sizeof v->hash);
	snprintf(v->scope, sizeof v->scope, "%s", e->scope);
	memcpy(v->act_sub, e->act_sub, sizeof v->act_sub);
	memcpy(v->act_owner, e->act_owner, sizeof v->act_owner);
	memcpy(v->jkt, e->jkt, sizeof v->jkt);
	v->used = 1;
	pthread_mutex_unlock(&claims_mu);
	return 0;
}

/* The decision's rules in order; the first that fails names the reason. Returns 1 allowed,
 * 0 denied (e->reason), -1 on a database error. */
static int decide(struct warrant *w, const struct rs_caller *rc, struct evaluation *e)
{
	const char *why = NULL;
	if (!e->token || e->token_len == 0) {
		e->reason = EVAL_NO_TOKEN;
		return 0;
	}
	int r = token_active_for(w, rc->who.rs_audience, e->token, e->token_len, &e->tok, &why);
	if (r < 0)
		return -1;
	if (r == 0) {
		e->reason = why && strcmp(why, "other_audience") == 0 ? EVAL_AUDIENCE : EVAL_INACTIVE;
		return 0;
	}
	if (token_claims(e->tok, e) < 0)
		return -1;
	/* SPEC: the subject is the token's sub, or the acting agent of an exchanged token */
	if (e->subject_id && strcmp(e->subject_id, e->tok->sub) != 0 &&
	    !(e->act_sub[0] && strcmp(e->subject_id, e->act_sub) == 0)) {
		e->reason = EVAL_SUBJECT;
		return 0;
	}
	/* RFC 9449 §7.1: a DPoP-bound token is no bearer token, and its proof is made with
	 * the key it is bound to */
	if (e->dpop_jkt && !e->dpop && e->jkt[0]) {
		e->reason = EVAL_DPOP;
		return 0;
	}
	if (e->dpop_jkt && e->dpop && (!e->jkt[0] || strcmp(e->dpop_jkt, e->jkt) != 0)) {
		e->reason = EVAL_DPOP_PROOF;
		return 0;
	}
	if (e->action && !verbset_has(e->scope, slice_of(e->action))) {
		e->reason = EVAL_SCOPE;
		return 0;
	}
	return 1;
}

/* The trail's detail: the resource server, the action, the resource, the reason. */
static void eval_detail(const struct rs_caller *rc, const struct evaluation *e, const char *on_behalf_of,
			struct audit_event *ev)
{
	struct buf d;
	buf_init(&d, AUDIT_DETAIL_LIMIT);
	buf_puts(&d, "{\"resource_server\":");
	buf_json_cstr(&d, rc->who.rs_id);
	if (strcmp(rc->via, "evaluation") != 0) { /* an AuthZEN evaluation unless it says */
		buf_puts(&d, ",\"via\":");
		buf_json_cstr(&d, rc->via);
	}
	if (e->action) {
		buf_puts(&d, ",\"action\":");
		buf_json_cstr(&d, e->action);
	}
	if (e->resource_type || e->resource_id) {
		buf_puts(&d, ",\"resource\":{\"type\":");
		buf_json_cstr(&d, e->resource_type ? e->resource_type : "");
		buf_puts(&d, ",\"id\":");
		buf_json_cstr(&d, e->resource_id ? e->resource_id : "");
		buf_puts(&d, "}");
	}
	/* the subject named, when it is not the acting agent the row is keyed to */
	if (e->subject_id && !(e->tok && !e->reason)) {
		buf_puts(&d, ",\"subject\":");
		buf_json_cstr(&d, e->subject_id);
	}
	if (on_behalf_of) {
		buf_puts(&d, ",\"on_behalf_of\":");
		buf_json_cstr(&d, on_behalf_of);
	}
	if (e->reason) {
		buf_puts(&d, ",\"reason\":");
		buf_json_cstr(&d, e->reason);
	}
	buf_puts(&d, "}");
	audit_detail_take(ev, &d);
}

void evaluation_event(const struct rs_caller *rc, const struct evaluation *e, int error, struct audit_event *ev)
{
	const struct tok *t = e->tok;
	const char *act = e->act_sub[0] ? e->act_sub : NULL;
	/* dual keys: the acting agent (the actor of an exchanged token) and its owner */
	struct audit_keys k = {.actor = rc->who.rs_id, .client_addr = rc->client_addr, .request_id = rc->request_id};
	if (t) {
		k.actor = k.agent_id = act ? act : t->sub;
		k.owner_id = act && e->act_owner[0] ? e->act_owner : t->owner_id;
		k.run_id = t->run_id;
		k.ws = t->ws;
		k.jti = t->jti;
	}
	const char *event = !e->action ? EV_TOKEN_INTROSPECTED : e->decision ? EV_ACTION_ALLOWED : EV_ACTION_DENIED;
	const char *outcome = error         ? "error"
			      : !e->action  ? (e->decision ? "active" : "inactive")
			      : e->decision ? "allowed"
					    : "denied";
	audit_event_clear(ev);
	audit_event_init(ev, event, outcome, &k);
	eval_detail(rc, e, t && act ? t->sub : NULL, ev);
}

int token_evaluate(struct warrant *w, const struct rs_caller *rc, struct evaluation *e, struct audit_event *ev)
{
	e->decision = 0;
	e->reason = NULL;
	e->tok = NULL;
	e->scope[0] = e->jkt[0] = e->act_sub[0] = e->act_owner[0] = '\0';
	int r = decide(w, rc, e);
	e->decision = r == 1;
	evaluation_event(rc, e, r < 0, ev);
	return r < 0 ? -1 : 0;
}

/* RFC 9449 §4.2: ath is base64url(SHA-256(the access token)). 1 when proof's ath is that. */
static int ath_matches(const char *proof, size_t n, const char *token, size_t token_len)
{
	unsigned char h[32];
	unsigned int hn = 0;
	char want[64];
	if (!EVP_Digest(token, token_len, h, &hn, EVP_sha256(), NULL) || hn != sizeof h)
		return 0;
	b64url_encode(h, sizeof h, want);
	struct jose_jws j;
	const char *why;
	if (jose_jws_parse(proof, n, &j, &why) < 0)
		return 0;
	const char *ath = json_string_value(json_object_get(j.claims, "ath"));
	int ok = ath && strcmp(ath, want) == 0;
	jose_jws_clear(&j);
	return ok;
}

void evaluation_dpop(struct evaluation *e, const char *proof, size_t n, const char *htm, const char *htu, int64_t now_s,
		     struct dpop_proof *out, const char **why)
{
	e->dpop = 1;
	e->dpop_jkt = "";
	memset(out, 0, sizeof *out);
	if (!proof || !htm || !htu || !e->token) {
		*why = "dpop_missing";
		return;
	}
	struct dpop_expect x = {.htm = htm, .htu = htu, .now_s = now_s, .nonce_key = NULL};
	if (dpop_check(proof, n, &x, out, why) != DPOP_OK)
		return;
	if (!ath_matches(proof, n, e->token, e->token_len)) {
		*why = "ath";
		memset(out, 0, sizeof *out);
		return;
	}
	e->dpop_jkt = out->jkt;
}

void evaluation_free(struct evaluation *e)
{
	tok_release(e->tok);
	e->tok = NULL;
}

int audit_batch_job(struct db *db, void *batch)
{
	struct audit_batch *b = batch;
	for (size_t i = 0; i < b->n; i++)
		if (audit_insert(db, &b->ev[i]) < 0)
			return -1;
	return 0;
}
