/* verify.c - recomputing audit chains and checking checkpoints; see verify.h. */
#include "verify.h"
#include "chain.h"
#include "checkpoint.h"

#include "../common/jose.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* rows of one chain held back while an earlier seq has not come yet (an export is in time
 * order, and a row's time is taken before the writer gives it its seq) */
#define VERIFY_REORDER_MAX 4096

struct vcp {
	char chain[CHAIN_ID_MAX];
	int64_t seq;
	unsigned char hash[32];
};

struct pending {
	int64_t seq;
	char *canon; /* canonical JSON, owned */
	size_t len;
	unsigned char stored[32];
	int stored_ok;
};

struct vchain {
	char id[CHAIN_ID_MAX];
	int started;
	int64_t next; /* the seq expected */
	unsigned char prev[32];
	struct pending *pend;
	int npend, cappend;
};

struct ver {
	struct db *db;
	struct verify_report *r;
	struct vcp *cps;
	long ncp;
	struct vchain *ch;
	int nch, capch;
	int chained_seen;
};

static int problem(struct ver *v, const char *chain, int64_t seq, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int problem(struct ver *v, const char *chain, int64_t seq, const char *kind, const char *fmt, ...)
{
	if (v->r->bad)
		return 1;
	v->r->bad = 1;
	snprintf(v->r->chain, sizeof v->r->chain, "%s", chain ? chain : "");
	v->r->seq = seq;
	snprintf(v->r->kind, sizeof v->r->kind, "%s", kind);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->r->what, sizeof v->r->what, fmt, ap);
	va_end(ap);
	return 1;
}

static int cp_cmp(const void *a, const void *b)
{
	const struct vcp *x = a, *y = b;
	int c = strcmp(x->chain, y->chain);
	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static const struct vcp *cp_find(struct ver *v, const char *chain, int64_t seq)
{
	struct vcp key = {.seq = seq};
	snprintf(key.chain, sizeof key.chain, "%s", chain);
	return v->ncp ? bsearch(&key, v->cps, (size_t)v->ncp, sizeof key, cp_cmp) : NULL;
}

/* Every signing key's public JWK, retired ones included. */
struct vkeys {
	struct jose_key k[64];
	int n;
};

static int keys_load(struct db *db, struct vkeys *ks)
{
	struct db_stmt *st = db_prep_new(db, "SELECT kid, public_jwk FROM signing_keys ORDER BY created_at");
	if (!st)
		return -1;
	int rc;
	while ((rc = db_step(st)) == DB_ROW && ks->n < (int)(sizeof ks->k / sizeof ks->k[0])) {
		const char *why;
		const char *jwk = db_col_text(st, 1);
		if (jose_key_parse(jwk, strlen(jwk), &ks->k[ks->n], &why) == 0) {
			/* the kid is the database's: the JWK's own may be absent */
			snprintf(ks->k[ks->n].kid, sizeof ks->k[ks->n].kid, "%s", db_col_text(st, 0));
			ks->n++;
		}
	}
	db_finalize(st);
	return rc == DB_ERROR ? -1 : 0;
}

/* Checks one checkpoint's JWS against its row; 0 good, 1 a problem was recorded. */
static int cp_check(struct ver *v, struct vkeys *ks, const struct vcp *c, const char *hash, const char *jws)
{
	struct jose_jws j;
	const char *why = "";
	if (jose_jws_parse(jws, strlen(jws), &j, &why) < 0)
		return problem(v, c->chain, c->seq, "checkpoint", "checkpoint is not a valid JWS (%s)", why);
	int rc = 0;
	const struct jose_key *k = NULL;
	for (int i = 0; j.kid && i < ks->n && !k; i++)
		if (strcmp(ks->k[i].kid, j.kid) == 0)
			k = &ks->k[i];
	json_t *cl = j.claims;
	const char *cchain = json_string_value(json_object_get(cl, "chain"));
	const char *chash = json_string_value(json_object_get(cl, "hash"));
	json_t *cseq = json_object_get(cl, "seq");
	if (!j.typ || strcmp(j.typ, CHECKPOINT_TYP) != 0)
		rc = problem(v, c->chain, c->seq, "checkpoint", "checkpoint JWS has typ %s", j.typ ? j.typ : "(none)");
	else if (!k)
		rc = problem(v, c->chain, c->seq, "checkpoint", "checkpoint signed by unknown key %s",
			     j.kid ? j.kid : "(no kid)");
	else if (jose_jws_verify(&j, k) != 1)
		rc = problem(v, c->chain, c->seq, "checkpoint", "checkpoint signature does not verify (key %s)", j.kid);
	else if (!cchain || strcmp(cchain, c->chain) != 0 || !json_is_integer(cseq) ||
		 json_integer_value(cseq) != c->seq || !chash || strcmp(chash, hash) != 0)
		rc = problem(v, c->chain, c->seq, "checkpoint",
			     "checkpoint claims differ from its stored chain, seq or hash");
	jose_jws_clear(&j);
	return rc;
}

static int checkpoints_load(struct ver *v)
{
	struct vkeys *ks = calloc(1, sizeof *ks);
	struct db_stmt *st = NULL;
	int rc = -1;
	if (!ks || keys_load(v->db, ks) < 0 ||
	    !(st = db_prep_new(v->db, "SELECT chain, seq, hash, jws FROM audit_checkpoints")))
		goto done;
	long cap = 0;
	int s;
	while ((s = db_step(st)) == DB_ROW) {
		if (v->ncp == cap) {
			cap = cap ? 2 * cap : 64;
			struct vcp *n = realloc(v->cps, sizeof *n * (size_t)cap);
			if (!n)
				goto done;
			v->cps = n;
		}
		struct vcp *c = &v->cps[v->ncp];
		db_col_copy(st, 0, c->chain, sizeof c->chain);
		c->seq = db_col_int64(st, 1);
		if (chain_unhex(db_col_text(st, 2), c->hash) < 0) {
			problem(v, c->chain, c->seq, "checkpoint", "checkpoint hash is not 64 hex digits");
			continue;
		}
		cp_check(v, ks, c, db_col_text(st, 2), db_col_text(st, 3));
		v->ncp++;
	}
	if (s != DB_DONE)
		goto done;
	if (v->ncp)
		qsort(v->cps, (size_t)v->ncp, sizeof *v->cps, cp_cmp);
	v->r->checkpoints = v->ncp;
	rc = 0;
done:
	db_finalize(st);
	if (ks)
		for (int i = 0; i < ks->n; i++)
			jose_key_clear(&ks->k[i]);
	free(ks);
	return rc;
}

static struct vchain *chain_of(struct ver *v, const char *id)
{
	for (int i = 0; i < v->nch; i++)
		if (strcmp(v->ch[i].id, id) == 0)
			return &v->ch[i];
	if (v->nch == v->capch) {
		int cap = v->capch ? 2 * v->capch : 16;
		struct vchain *n = realloc(v->ch, sizeof *n * (size_t)cap);
		if (!n)
			return NULL;
		v->ch = n;
		v->capch = cap;
	}
	struct vchain *c = &v->ch[v->nch++];
	memset(c, 0, sizeof *c);
	snprintf(c->id, sizeof c->id, "%s", id);
	return c;
}

/* Links row p, the next of chain c: 0, or 1 when a problem was recorded. */
static int link_row(struct ver *v, struct vchain *c, const struct pending *p)
{
	unsigned char h[32];
	chain_hash(c->prev, p->canon, p->len, h);
	if (!p->stored_ok || memcmp(h, p->stored, 32) != 0)
		return problem(v, c->id, p->seq, "altered", "row does not match its hash (its content was changed)");
	const struct vcp *cp = cp_find(v, c->id, p->seq);
	if (cp && memcmp(cp->hash, h, 32) != 0)
		return problem(v, c->id, p->seq, "altered",
			       "rows were rewritten: the signed checkpoint at this seq holds another hash");
	memcpy(c->prev, h, 32);
	c->next = p->seq + 1;
	v->r->rows++;
	return 0;
}

/* The chain's first row: seq 1, or the row after a checkpoint (retention). */
static int chain_start(struct ver *v, struct vchain *c, int64_t seq)
{
	c->started = 1;
	c->next = seq;
	if (seq == 1)
		return 0;
	const struct vcp *cp = cp_find(v, c->id, seq - 1);
	if (!cp) {
		/* rows gone after the checkpoint retention may have started from, or from seq 1 */
		int64_t from = 1;
		for (long i = 0; i < v->ncp; i++)
			if (strcmp(v->cps[i].chain, c->id) == 0 && v->cps[i].seq < seq && v->cps[i].seq + 1 > from)
				from = v->cps[i].seq + 1;
		return problem(v, c->id, from, "missing",
			       "rows %lld to %lld are missing (the chain's rows begin at seq %lld)", (long long)from,
			       (long long)seq - 1, (long long)seq);
	}
	memcpy(c->prev, cp->hash, 32);
	return 0;
}

/* Links the pending rows that are now next, in seq order. */
static int drain(struct ver *v, struct vchain *c, int force)
{
	for (;;) {
		int best = -1;
		for (int i = 0; i < c->npend; i++)
			if (best < 0 || c->pend[i].seq < c->pend[best].seq)
				best = i;
		if (best < 0)
			return 0;
		struct pending p = c->pend[best];
		/* a chain starts at seq 1 or after a checkpoint; an earlier row may still come */
		if (!c->started && p.seq != 1 && !cp_find(v, c->id, p.seq - 1) && !force)
			return 0;
		if (!c->started && chain_start(v, c, p.seq))
			return 1;
		if (p.seq != c->next && !force)
			return 0;
		c->pend[best] = c->pend[--c->npend];
		int rc = p.seq != c->next ? problem(v, c->id, c->next, "missing",
						    "row %lld is missing (the chain goes on at seq %lld)",
						    (long long)c->next, (long long)p.seq)
					  : link_row(v, c, &p);
		free(p.canon);
		if (rc)
			return rc;
	}
}

/* One chained row, in any order within its chain: 0, or 1 on a problem. */
static int take_row(struct ver *v, const struct chain_row *row, const char *stored_hash)
{
	v->chained_seen = 1;
	struct vchain *c = chain_of(v, row->chain);
	if (!c)
		return problem(v, row->chain, row->seq, "error", "out of memory");
	int dup = c->started && row->seq < c->next;
	for (int i = 0; i < c->npend && !dup; i++)
		dup = c->pend[i].seq == row->seq;
	if (dup || row->seq < 1)
		return problem(v, c->id, row->seq, "inserted", "a second row with this seq was inserted");
	if (c->npend == c->cappend) {
		int cap = c->cappend ? 2 * c->cappend : 8;
		struct pending *n = realloc(c->pend, sizeof *n * (size_t)cap);
		if (!n)
			return problem(v, c->id, row->seq, "error", "out of memory");
		c->pend = n;
		c->cappend = cap;
	}
	struct buf b;
	buf_init(&b, CHAIN_ROW_MAX);
	chain_canonical(row, &b);
	struct pending *p = &c->pend[c->npend];
	p->seq = row->seq;
	p->len = b.len;
	p->canon = buf_steal(&b, NULL);
	if (!p->canon)
		return problem(v, c->id, row->seq, "error", "out of memory");
	p->stored_ok = chain_unhex(stored_hash, p->stored) == 0;
	c->npend++;
	return drain(v, c, c->npend > VERIFY_REORDER_MAX);
}

static int unchained_row(struct ver *v, int64_t where)
{
	if (v->chained_seen)
		return problem(v, NULL, 0, "inserted", "a row without chain and seq was inserted (%s %lld)",
			       v->db ? "row id" : "line", (long long)where);
	v->r->unchained++;
	return 0;
}

/* After the last row: the held-back rows, and checkpoints past the end of their chain. */
static void finish(struct ver *v)
{
	for (int i = 0; i < v->nch && !v->r->bad; i++)
		drain(v, &v->ch[i], 1);
	for (long i = 0; i < v->ncp && !v->r->bad; i++) {
		const struct vcp *cp = &v->cps[i];
		struct vchain *c = NULL;
		for (int k = 0; k < v->nch && !c; k++)
			if (strcmp(v->ch[k].id, cp->chain) == 0)
				c = &v->ch[k];
		if (c && cp->seq >= c->next)
			problem(v, cp->chain, c->next, "missing",
				"rows %lld to %lld were removed (a checkpoint signed seq %lld)", (long long)c->next,
				(long long)cp->seq, (long long)cp->seq);
	}
	v->r->chains = v->nch;
	for (int i = 0; i < v->nch; i++) {
		int64_t signed_to = 0;
		for (long k = 0; k < v->ncp; k++)
			if (strcmp(v->cps[k].chain, v->ch[i].id) == 0 && v->cps[k].seq > signed_to)
				signed_to = v->cps[k].seq;
		if (v->ch[i].next - 1 > signed_to)
			v->r->unsigned_rows += (long)(v->ch[i].next - 1 - signed_to);
	}
}

static const char *col(struct db_stmt *st, int i) { return db_col_null(st, i) ? NULL : db_col_text(st, i); }

static int rows_from_db(struct ver *v)
{
	struct db_stmt *st = db_prep_new(v->db, "SELECT id, chain, seq, hash, time, event, actor, agent_id, owner_id,"
						" run_id, ws, jti, client_addr, outcome, request_id, detail"
						" FROM audit_events ORDER BY id");
	if (!st)
		return -1;
	struct buf d;
	buf_init(&d, CHAIN_ROW_MAX);
	int s;
	while ((s = db_step(st)) == DB_ROW && !v->r->bad) {
		if (db_col_null(st, 1) || db_col_null(st, 2)) {
			unchained_row(v, db_col_int64(st, 0));
			continue;
		}
		char chain[CHAIN_ID_MAX];
		db_col_copy(st, 1, chain, sizeof chain);
		struct chain_row r = {
			.chain = chain,
			.seq = db_col_int64(st, 2),
			.time_ms = db_col_int64(st, 4),
			.event = col(st, 5),
			.actor = col(st, 6),
			.agent_id = col(st, 7),
			.owner_id = col(st, 8),
			.run_id = col(st, 9),
			.ws = col(st, 10),
			.jti = col(st, 11),
			.client_addr = col(st, 12),
			.outcome = col(st, 13),
			.request_id = col(st, 14),
			.detail = col(st, 15),
		};
		char hash[CHAIN_HASH_HEX];
		db_col_copy(st, 3, hash, sizeof hash);
		if (r.detail) {
			buf_free(&d);
			buf_init(&d, CHAIN_ROW_MAX);
			if (chain_canon_json(r.detail, strlen(r.detail), &d) == 0)
				r.detail = d.p;
		}
		take_row(v, &r, hash);
	}
	buf_free(&d);
	db_finalize(st);
	return s == DB_ERROR ? -1 : 0;
}

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* One export line: 0, or 1 when it made a problem. */
static int line_row(struct ver *v, const char *line, size_t n, long lineno)
{
	json_error_t e;
	json_t *o = json_loadb(line, n, JSON_ALLOW_NUL, &e);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return problem(v, NULL, 0, "altered", "line %ld is not a JSON object", lineno);
	}
	int rc;
	json_t *seq = json_object_get(o, "seq");
	if (!jstr(o, "chain") || !json_is_integer(seq)) {
		rc = unchained_row(v, lineno);
		json_decref(o);
		return rc;
	}
	char *detail = json_dumps(json_object_get(o, "detail"), JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	struct buf d;
	buf_init(&d, CHAIN_ROW_MAX);
	struct chain_row r = {
		.chain = jstr(o, "chain"),
		.seq = json_integer_value(seq),
		.time_ms = json_integer_value(json_object_get(o, "time_ms")),
		.event = jstr(o, "event"),
		.actor = jstr(o, "actor"),
		.agent_id = jstr(o, "agent_id"),
		.owner_id = jstr(o, "owner_id"),
		.run_id = jstr(o, "run_id"),
		.ws = jstr(o, "ws"),
		.jti = jstr(o, "jti"),
		.client_addr = jstr(o, "client_addr"),
		.outcome = jstr(o, "outcome"),
		.request_id = jstr(o, "request_id"),
	};
	if (detail && chain_canon_json(detail, strlen(detail), &d) == 0)
		r.detail = d.p;
	const char *hash = jstr(o, "hash");
	rc = take_row(v, &r, hash ? hash : "");
	buf_free(&d);
	free(detail);
	json_decref(o);
	return rc;
}

static int rows_from_file(struct ver *v, FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0;
	while (!v->r->bad && (n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		if (n > VERIFY_LINE_MAX) {
			problem(v, NULL, 0, "altered", "line %ld is longer than %d bytes", lineno, VERIFY_LINE_MAX);
			break;
		}
		line_row(v, line, (size_t)n, lineno);
	}
	free(line);
	return ferror(f) ? -1 : 0;
}

int audit_verify(struct db *db, FILE *file, struct verify_report *r)
{
	memset(r, 0, sizeof *r);
	struct ver v = {.db = file ? NULL : db, .r = r};
	struct ver *vp = &v;
	int rc = -1;
	/* one snapshot: rows and checkpoints as of one moment */
	int tx = db_begin_read(db) == 0;
	vp->db = db;
	if (checkpoints_load(vp) < 0) {
		snprintf(r->what, sizeof r->what, "cannot read checkpoints: %s", db_errmsg(db));
		goto done;
	}
	if (!file ? rows_from_db(vp) < 0 : (vp->db = NULL, rows_from_file(vp, file) < 0)) {
		snprintf(r->what, sizeof r->what, "%s", file ? "cannot read the export" : db_errmsg(db));
		goto done;
	}
	finish(vp);
	rc = 0;
done:
	if (tx)
		db_rollback(db);
	for (int i = 0; i < v.nch; i++) {
		for (int k = 0; k < v.ch[i].npend; k++)
			free(v.ch[i].pend[k].canon);
		free(v.ch[i].pend);
	}
	free(v.ch);
	free(v.cps);
	return rc;
}
