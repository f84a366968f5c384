/* introspect.c - RFC 7662 introspection; see introspect.h. */
#include "introspect.h"

#include "../audit/events.h"
#include "../common/timeutil.h"
#include "live.h"

#include <openssl/crypto.h>
#include <string.h>

struct tok *tok_lookup(struct warrant *w, const char *token, size_t n, const char **why)
{
	unsigned char h[32];
	*why = "malformed";
	if (n == 0 || n > TOKEN_MAX_LEN || tok_hash(token, n, h) < 0)
		return NULL;
	struct tok *t = tcache_lookup(h);
	if (t) {
		/* a cached token stays valid only while its key is published */
		if (!keyring_has(w->keys, t->kid)) {
			tok_release(t);
			*why = "unknown_key";
			return NULL;
		}
		return t;
	}
	t = tok_verify(w->keys, w->issuer, token, n, why);
	if (t)
		tcache_insert(t);
	return t;
}

static void audit_fill(struct introspection *q, const char *rs, const struct tok *t, const char *outcome,
		       const char *reason)
{
	struct audit_event *ev = &q->audit;
	struct audit_keys k = {.actor = rs ? rs : "", .client_addr = q->client_addr, .request_id = q->request_id};
	if (t) {
		k.owner_id = t->owner_id;
		k.agent_id = t->sub;
		k.run_id = t->run_id;
		k.ws = t->ws;
		k.jti = t->jti;
	}
	audit_event_clear(ev);
	audit_event_init(ev, EV_TOKEN_INTROSPECTED, outcome, &k);
	if (t) {
		audit_detailf(ev, "{\"agent_id\":\"%s\"%s%s%s}", t->sub, reason ? ",\"reason\":\"" : "",
			      reason ? reason : "", reason ? "\"" : "");
	} else if (reason) {
		audit_detailf(ev, "{\"reason\":\"%s\"}", reason);
	}
}

/* RFC 7662 §2.2: what "active" means for one resource server; see introspect.h. */
int token_active_for(struct warrant *w, const char *audience, const char *token, size_t n, struct tok **out,
		     const char **why)
{
	*out = NULL;
	struct tok *t = tok_lookup(w, token, n, why);
	if (!t)
		return 0;
	*out = t;
	/* a resource server registered with an audience sees only tokens meant for it */
	if (audience && audience[0]) {
		int mine = 0;
		for (int i = 0; i < t->naud; i++)
			mine |= strcmp(t->aud[i], audience) == 0;
		if (!mine) {
			*why = "other_audience";
			return 0;
		}
	}
	int rc = live_check(w, t, why);
	if (rc < 0) {
		tok_release(t);
		*out = NULL;
	}
	return rc;
}

int token_introspect(struct warrant *w, struct introspection *q)
{
	struct client_identity who;
	const char *rs = who.rs_id, *audience = who.rs_audience;
	struct db *db = warrant_reader(w);
	q->active = 0;
	q->tok = NULL;
	if (!db) {
		oerr_set(&q->err, 503, "temporarily_unavailable", "storage unavailable");
		audit_fill(q, NULL, NULL, "error", "storage");
		return -1;
	}
	/* RFC 7662 §2.1: the protected resource authenticates (client_secret_basic or _post) */
	int rc = client_authenticate(db, &q->cred, CLIENT_RESOURCE, &who, &q->err);
	if (rc != 0) {
		audit_fill(q, q->err.status == 403 ? q->cred.id : NULL, NULL, rc < 0 ? "error" : "refused",
			   q->err.reason);
		if (rc > 0 && !who.rs_id[0]) /* no registered resource server: a row a minute */
			audit_event_summarize(&q->audit, q->err.reason, q->err.code);
		return rc;
	}
	slice token;
	int has = form_get1(q->form, "token", &token);
	slice hint;
	if (has < 0 || form_get1(q->form, "token_type_hint", &hint) < 0) {
		oerr_set(&q->err, 400, "invalid_request", "parameter given more than once");
		audit_fill(q, rs, NULL, "refused", "duplicate_parameter");
		return 1;
	}
	if (has == 0) {
		oerr_set(&q->err, 400, "invalid_request", "token is required");
		audit_fill(q, rs, NULL, "refused", "missing_token");
		return 1;
	}
	const char *why = NULL;
	struct tok *t = NULL;
	rc = token_active_for(w, audience, token.p, token.n, &t, &why);
	if (rc < 0) {
		oerr_set(&q->err, 503, "temporarily_unavailable", "storage unavailable");
		audit_fill(q, rs, NULL, "error", "storage");
		return -1;
	}
	if (rc == 0) {
		audit_fill(q, rs, t, "inactive", why);
		tok_release(t);
		return 0;
	}
	q->active = 1;
	q->tok = t;
	audit_fill(q, rs, t, "active", NULL);
	return 0;
}

void introspection_free(struct introspection *q)
{
	tok_release(q->tok);
	q->tok = NULL;
	client_cred_wipe(&q->cred);
	audit_event_clear(&q->audit);
}
