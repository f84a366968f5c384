/* exchange.c - RFC 8693 token exchange between agents; see exchange.h. */
#include "exchange.h"

#include "../audit/events.h"
#include "../common/buf.h"
#include "../common/timeutil.h"
#include "../store/ledger.h"
#include "introspect.h"
#include "issue.h"
#include "live.h"

#include <stdlib.h>
#include <string.h>

/* RFC 8693 §2.2.2: every refusal of the exchange is invalid_request, with a reason */
#define REFUSE(reason_, ...)                                            \
	do {                                                            \
		oerr_set(&t->err, 400, "invalid_request", __VA_ARGS__); \
		t->err.reason = reason_;                                \
		return 1;                                               \
	} while (0)

/* RFC 8693 §2.1: the parameters of this grant, before the subject token is looked at. */
static int parse_types(struct token_issue *t, slice *subject)
{
	slice v;
	if (form_get1(t->form, "actor_token", &v) != 0 || form_get1(t->form, "actor_token_type", &v) != 0)
		REFUSE("actor_token", "actor_token is not accepted: the authenticated client is the actor");
	int n = form_get1(t->form, "requested_token_type", &v);
	if (n == 1 && !slice_eq(v, TOKEN_TYPE_ACCESS))
		REFUSE("requested_token_type", "requested_token_type must be " TOKEN_TYPE_ACCESS);
	if (form_get1(t->form, "subject_token_type", &v) != 1 || !slice_eq(v, TOKEN_TYPE_ACCESS))
		REFUSE("subject_token_type", "subject_token_type must be " TOKEN_TYPE_ACCESS);
	if (form_get1(t->form, "workspace", &v) != 0 || form_get1(t->form, "run_id", &v) != 0)
		REFUSE("workspace_or_run", "the workspace and the run come from the subject token");
	if (form_get1(t->form, "subject_token", subject) != 1)
		REFUSE("missing_subject_token", "subject_token is required");
	return 0;
}

/* act of the new token: the actor outermost, the subject's act nested inside it. */
static int build_act(struct token_issue *t, const struct tok *s)
{
	struct buf b;
	buf_init(&b, sizeof t->x.act_json);
	buf_puts(&b, "{\"sub\":");
	buf_json_cstr(&b, t->agent.id);
	buf_puts(&b, ",\"owner_id\":");
	buf_json_cstr(&b, t->agent.owner_id);
	for (int i = 0; i < s->depth; i++) {
		buf_puts(&b, ",\"act\":{\"sub\":");
		buf_json_cstr(&b, s->act_sub[i]);
		buf_puts(&b, ",\"owner_id\":");
		buf_json_cstr(&b, s->act_owner[i]);
	}
	for (int i = 0; i <= s->depth; i++)
		buf_puts(&b, "}");
	int ok = !b.failed && b.len < sizeof t->x.act_json;
	if (ok)
		memcpy(t->x.act_json, b.p, b.len + 1);
	buf_free(&b);
	return ok ? 0 : -1;
}

/* The chain of the new token: the subject's chain, then the subject itself. */
static int build_chain(struct warrant *w, struct token_issue *t, const struct tok *s)
{
	size_t n = 0;
	char *out = t->x.chain;
	if (s->depth) {
		int rc;
		const struct tok_chain *c = exchange_chain(w, s, &rc);
		if (!c)
			return -1; /* live_check resolved it a moment ago */
		for (int i = 0; i < c->n; i++)
			n += (size_t)snprintf(out + n, sizeof t->x.chain - n, "%s/%s ", c->node[i].jti,
					      c->node[i].cred_id);
	}
	n += (size_t)snprintf(out + n, sizeof t->x.chain - n, "%s/%s", s->jti, s->cred_id);
	return n < sizeof t->x.chain ? 0 : -1;
}

/* May the client exchange s? Every delegation from s's principal to the client, each
 * allowing the new depth. */
static int check_delegations(struct warrant *w, struct token_issue *t, const struct tok *s)
{
	const char *clients[DELEGATION_DEPTH_MAX + 1];
	int64_t issued[DELEGATION_DEPTH_MAX + 1];
	int d = t->x.depth, rc;
	const struct tok_chain *c = s->depth ? exchange_chain(w, s, &rc) : NULL;
	if (s->depth && !c)
		return -1;
	clients[0] = s->sub;
	for (int k = 1; k < d; k++) {
		clients[k] = s->act_sub[s->depth - k];
		issued[k] = k < s->depth ? c->node[k].issued_ms : s->issued_ms;
	}
	clients[d] = t->agent.id;
	issued[d] = INT64_MAX; /* the new one: now */
	const char *why = NULL;
	/* the client's own delegation first: its absence is the plainer refusal */
	int ok = live_delegations_hold(w, clients + d - 1, issued + d - 1, 2, d, &why);
	if (ok > 0)
		ok = live_delegations_hold(w, clients, issued, d + 1, d, &why);
	if (ok < 0)
		return -1;
	if (ok == 0 && strcmp(why, "delegation_depth") == 0)
		REFUSE("depth_exceeded", "a delegation in the chain does not allow %d levels of act", d);
	if (ok == 0 && strcmp(clients[d - 1], t->agent.id) == 0)
		REFUSE("no_delegation", "the subject token is already %s's own", t->agent.id);
	if (ok == 0)
		REFUSE("no_delegation", "%s has not delegated to %s", clients[d - 1], t->agent.id);
	return 0;
}

int exchange_parse(struct warrant *w, struct db *db, struct token_issue *t)
{
	(void)db;
	slice st;
	int rc = parse_types(t, &st);
	if (rc)
		return rc;
	const char *why = NULL;
	struct tok *s = tok_lookup(w, st.p, st.n, &why);
	if (!s)
		REFUSE("subject_token_invalid", "subject_token is not an access token of this server");
	tok_release(t->x.subject); /* a second attempt after a catch-up */
	t->x.subject = s;
	snprintf(t->ws, sizeof t->ws, "%s", s->ws);
	if (strlen(s->run_id) >= sizeof t->run_id)
		REFUSE("subject_token_invalid", "subject_token is not an access token of this server");
	memcpy(t->run_id, s->run_id, strlen(s->run_id) + 1);
	rc = live_check(w, s, &why);
	if (rc < 0)
		return -1;
	if (rc == 0)
		REFUSE("subject_inactive", "subject_token is not active");
	t->x.depth = s->depth + 1;
	if (t->x.depth > DELEGATION_DEPTH_MAX)
		REFUSE("depth_exceeded", "a chain has at most %d levels of act", DELEGATION_DEPTH_MAX);
	snprintf(t->x.delegator, sizeof t->x.delegator, "%s", s->depth ? s->act_sub[0] : s->sub);
	snprintf(t->x.delegator_owner, sizeof t->x.delegator_owner, "%s", s->depth ? s->act_owner[0] : s->owner_id);
	if ((rc = check_delegations(w, t, s)) != 0)
		return rc;
	slice bad;
	if (verbset_parse(slice_of(s->scope), t->x.bound, &bad) < 0 || build_act(t, s) < 0 || build_chain(w, t, s) < 0)
		return -1;
	t->x.exp_s = s->exp;
	return 0;
}

/* One more token.exchanged row, keyed to owner (about agent), unless the rows have it. */
static void more_row(struct token_issue *t, const char *agent, const char *owner, const char *keyed_for)
{
	if (strcmp(owner, t->agent.owner_id) == 0)
		return;
	for (int i = 0; i < t->x.nmore; i++)
		if (strcmp(t->x.more[i].owner_id, owner) == 0)
			return;
	struct audit_event *ev = &t->x.more[t->x.nmore++];
	struct audit_keys k = {.actor = t->agent.id,
			       .agent_id = agent,
			       .owner_id = owner,
			       .run_id = t->run_id,
			       .ws = t->ws,
			       .jti = t->jti,
			       .client_addr = t->client_addr,
			       .request_id = t->request_id};
	audit_event_clear(ev);
	audit_event_init(ev, EV_TOKEN_EXCHANGED, "ok", &k);
	/* the same detail, and whose view of it this row is */
	size_t n = t->audit.detail ? strlen(t->audit.detail) : 0;
	if (n < 2) {
		ev->detail_failed = 1;
		return;
	}
	audit_detailf(ev, "%.*s,\"keyed_for\":\"%s\"}", (int)(n - 1), t->audit.detail, keyed_for);
}

void exchange_audit(struct token_issue *t)
{
	const struct tok *s = t->x.subject;
	for (int i = 0; i < t->x.nmore; i++)
		audit_event_clear(&t->x.more[i]);
	t->x.nmore = 0;
	if (!s)
		return;
	more_row(t, t->x.delegator, t->x.delegator_owner, "subject_owner");
	more_row(t, s->sub, s->owner_id, "principal_owner");
}

int exchange_record(struct db *db, struct token_issue *t)
{
	int64_t now_s = t->issued_ms / 1000;
	/* the chain rows of tokens long expired go as new ones come (their exp is indexed) */
	struct db_stmt *st = db_prep(db, "DELETE FROM exchanges WHERE exp < ?");
	if (!st)
		return -1;
	db_bind_int64(st, 1, now_s - 3600);
	if (db_step_done(st) < 0)
		return -1;
	st = db_prep(db, "INSERT INTO exchanges(jti, chain, exp) VALUES (?, ?, ?)");
	if (!st)
		return -1;
	db_bind_text(st, 1, t->jti);
	db_bind_text(st, 2, t->x.chain);
	db_bind_int64(st, 3, now_s + t->expires_in);
	if (db_step_done(st) < 0)
		return -1;
	for (int i = 0; i < t->x.nmore; i++)
		if (audit_insert(db, &t->x.more[i]) < 0)
			return -1;
	return 0;
}

void exchange_free(struct exchange *x)
{
	tok_release(x->subject);
	x->subject = NULL;
	for (int i = 0; i < x->nmore; i++)
		audit_event_clear(&x->more[i]);
	x->nmore = 0;
}

/* "jti/cred jti/cred ..." into c; 0, or -1 when it is not one. */
static int parse_chain(const char *s, struct tok_chain *c)
{
	memset(c, 0, sizeof *c);
	while (*s) {
		const char *sp = strchr(s, ' '), *end = sp ? sp : s + strlen(s);
		const char *sl = memchr(s, '/', (size_t)(end - s));
		if (!sl || c->n == DELEGATION_DEPTH_MAX || (size_t)(sl - s) >= sizeof c->node[0].jti ||
		    (size_t)(end - sl - 1) >= sizeof c->node[0].cred_id)
			return -1;
		memcpy(c->node[c->n].jti, s, (size_t)(sl - s));
		memcpy(c->node[c->n].cred_id, sl + 1, (size_t)(end - sl - 1));
		c->node[c->n].issued_ms = jti_time(c->node[c->n].jti);
		if (c->node[c->n].issued_ms < 0)
			return -1;
		c->n++;
		s = sp ? sp + 1 : end;
	}
	return 0;
}

/* The chain of the exchanged token jti from its exchanges row into *c: 1, 0 none (or not
 * well formed: never active), -1 on a database error. */
static int chain_read(struct db *db, const char *jti, struct tok_chain *c)
{
	struct db_stmt *st = db ? db_prep(db, "SELECT chain FROM exchanges WHERE jti = ?") : NULL;
	if (!st)
		return -1;
	db_bind_text(st, 1, jti);
	int s = db_step(st), found = 0;
	if (s == DB_ROW)
		found = db_col_text(st, 0) && parse_chain(db_col_text(st, 0), c) == 0;
	db_reset(st);
	return s == DB_ROW || s == DB_DONE ? found : -1;
}

const struct tok_chain *exchange_chain(struct warrant *w, const struct tok *t, int *rc)
{
	struct tok *mt = (struct tok *)t; /* the chain is a cache beside the immutable claims */
	struct tok_chain *c = atomic_load(&mt->chain);
	*rc = 0;
	if (c)
		return c;
	if (!(c = malloc(sizeof *c))) {
		*rc = -1;
		return NULL;
	}
	int f = chain_read(warrant_reader(w), t->jti, c);
	if (f <= 0) {
		free(c);
		*rc = f;
		return NULL;
	}
	struct tok_chain *none = NULL;
	if (!atomic_compare_exchange_strong(&mt->chain, &none, c)) {
		free(c); /* another thread was first */
		c = none;
	}
	return c;
}

/* s (shorter than ID_MAX) copied to *p, which moves past it; returns the copy. */
static const char *blob_copy(char **p, const char *s)
{
	char *at = *p;
	snprintf(at, ID_MAX, "%s", s);
	*p += ID_MAX;
	return at;
}

struct tok *exchange_tok_rebuild(struct db *db, const struct tok *row, int *rc)
{
	struct tok_chain *c = malloc(sizeof *c);
	/* strings of the principal's owner and the actors, owners and agents */
	struct tok *t = calloc(1, sizeof *t + 2 * (DELEGATION_DEPTH_MAX + 1) * ID_MAX);
	*rc = c && t ? chain_read(db, row->jti, c) : -1;
	if (*rc <= 0 || c->n < 1)
		goto fail;
	memcpy(t, row, sizeof *t);
	atomic_init(&t->refs, 1);
	atomic_init(&t->chain, NULL);
	t->depth = c->n;
	char *p = t->blob;
	for (int k = 0; k < c->n; k++) {
		struct ledger_row r;
		if ((*rc = ledger_find(db, c->node[k].jti, c->node[k].issued_ms, &r)) <= 0)
			goto fail;
		if (k == 0) { /* the root: a plain token of the principal */
			snprintf(t->sub, sizeof t->sub, "%s", r.agent_id);
			snprintf(t->owner_id, sizeof t->owner_id, "%s", r.owner_id);
			continue;
		}
		/* clients[k] of live_check's chain is act_sub[depth - k] */
		t->act_sub[c->n - k] = blob_copy(&p, r.agent_id);
		t->act_owner[c->n - k] = blob_copy(&p, r.owner_id);
	}
	/* the ledger keys an exchanged token to its client, the outermost actor */
	t->act_sub[0] = blob_copy(&p, row->sub);
	t->act_owner[0] = blob_copy(&p, row->owner_id);
	atomic_store(&t->chain, c);
	return t;
fail:
	free(c);
	free(t);
	return NULL;
}
