/* chain.c - hash-chained audit rows: canonical JSON, links, the head of a chain; see chain.h. */
#include "chain.h"

#include "../common/rand.h"
#include "../common/timeutil.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A chain's head as this connection knows it. */
struct head {
	int known;
	int64_t seq;
	unsigned char hash[32];
};

struct chain_state {
	char id[CHAIN_ID_MAX];
	int own; /* nobody else appends: the head stays known between transactions */
	struct head cur, at_begin, at_save;
	struct buf canon;  /* canonical JSON of the row being linked */
	struct buf detail; /* its detail in canonical form */
};

/* A server's chain, and the one connection that appends to it (its writer's). */
static pthread_mutex_t serve_mu = PTHREAD_MUTEX_INITIALIZER;
static char serve_chain[CHAIN_ID_MAX];
static struct db *serve_db;

static EVP_MD *sha256_md;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static pthread_key_t ctx_key;
static void ctx_free(void *p) { EVP_MD_CTX_free(p); }

static void md_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	pthread_key_create(&ctx_key, ctx_free);
}

void chain_hash(const unsigned char prev[32], const char *canon, size_t n, unsigned char out[32])
{
	pthread_once(&md_once, md_fetch);
	/* one digest context per thread, reused: the writer hashes every row */
	EVP_MD_CTX *ctx = pthread_getspecific(ctx_key);
	if (!ctx && (ctx = EVP_MD_CTX_new()) != NULL)
		pthread_setspecific(ctx_key, ctx);
	unsigned int len = 32;
	if (!ctx || EVP_DigestInit_ex(ctx, sha256_md, NULL) != 1 || EVP_DigestUpdate(ctx, prev, 32) != 1 ||
	    EVP_DigestUpdate(ctx, canon, n) != 1 || EVP_DigestFinal_ex(ctx, out, &len) != 1)
		memset(out, 0, 32); /* out of memory: a hash no verifier accepts, never a crash */
}

void chain_hex(const unsigned char h[32], char out[CHAIN_HASH_HEX])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[64] = 0;
}

static int hexval(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

int chain_unhex(const char *hex, unsigned char h[32])
{
	if (!hex || strlen(hex) != 64)
		return -1;
	for (int i = 0; i < 32; i++) {
		int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);
		if (a < 0 || b < 0)
			return -1;
		h[i] = (unsigned char)(a << 4 | b);
	}
	return 0;
}

/* ,"key": and the value; key is a literal (no printf per member: the writer runs this for
 * every row). */
#define MEMBER(b, key, v) member((b), ",\"" key "\":", sizeof(",\"" key "\":") - 1, (v))
static void member(struct buf *b, const char *prefix, size_t plen, const char *v)
{
	buf_put(b, prefix, plen);
	if (v && *v)
		buf_json_str(b, v, strlen(v));
	else
		buf_put(b, "null", 4);
}

int chain_canonical(const struct chain_row *r, struct buf *b)
{
	char num[64];
	buf_put(b, "{\"chain\":", 9);
	buf_json_str(b, r->chain, strlen(r->chain));
	int n = snprintf(num, sizeof num, ",\"seq\":%lld,\"time_ms\":%lld", (long long)r->seq, (long long)r->time_ms);
	buf_put(b, num, (size_t)n);
	MEMBER(b, "event", r->event);
	MEMBER(b, "actor", r->actor);
	MEMBER(b, "agent_id", r->agent_id);
	MEMBER(b, "owner_id", r->owner_id);
	MEMBER(b, "run_id", r->run_id);
	MEMBER(b, "ws", r->ws);
	MEMBER(b, "jti", r->jti);
	MEMBER(b, "client_addr", r->client_addr);
	MEMBER(b, "outcome", r->outcome);
	MEMBER(b, "request_id", r->request_id);
	buf_put(b, ",\"detail\":", 10);
	buf_puts(b, r->detail && *r->detail ? r->detail : "{}");
	return buf_put(b, "}", 1);
}

/* Appends the UTF-8 of code point cp to b. */
static void put_utf8(struct buf *b, unsigned cp)
{
	unsigned char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_put(b, u, n);
}

static int hex4(const char *s, const char *end, unsigned *v)
{
	if (end - s < 4)
		return -1;
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		int d = c >= 'A' && c <= 'F' ? c - 'A' + 10 : hexval(c);
		if (d < 0)
			return -1;
		*v = *v << 4 | (unsigned)d;
	}
	return 0;
}

/* Decodes the JSON string whose body starts at *p (after the quote) into raw; *p ends after
 * the closing quote. RFC 8259 §7; a lone surrogate becomes U+FFFD. 0 or -1. */
static int string_decode(const char **p, const char *end, struct buf *raw)
{
	const char *s = *p;
	while (s < end && *s != '"') {
		if (*s != '\\') {
			buf_put(raw, s++, 1);
			continue;
		}
		if (++s >= end)
			return -1;
		char c = *s++;
		unsigned cp;
		switch (c) {
		case '"':
		case '\\':
		case '/': buf_put(raw, &c, 1); break;
		case 'b': buf_put(raw, "\b", 1); break;
		case 'f': buf_put(raw, "\f", 1); break;
		case 'n': buf_put(raw, "\n", 1); break;
		case 'r': buf_put(raw, "\r", 1); break;
		case 't': buf_put(raw, "\t", 1); break;
		case 'u':
			if (hex4(s, end, &cp) < 0)
				return -1;
			s += 4;
			if (cp >= 0xd800 && cp < 0xdc00) {
				unsigned lo;
				if (end - s >= 6 && s[0] == '\\' && s[1] == 'u' && hex4(s + 2, end, &lo) == 0 &&
				    lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					s += 6;
				} else {
					cp = 0xfffd;
				}
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				cp = 0xfffd;
			}
			put_utf8(raw, cp);
			break;
		default: return -1;
		}
	}
	if (s >= end)
		return -1;
	*p = s + 1;
	return 0;
}

/* 1 when json is canonical as it stands: no whitespace outside strings, no escape, no byte
 * that buf_json_str would write otherwise (control bytes, 0x7f, anything not ASCII: such
 * text takes the slow path, which also replaces ill-formed UTF-8). Details Warrant writes
 * almost always are, and then cost one scan. */
static int canonical_already(const char *json, size_t n)
{
	int in_str = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)json[i];
		if (c == '\\' || c < 0x20 || c >= 0x7f || (!in_str && c == ' '))
			return 0;
		if (c == '"')
			in_str = !in_str;
	}
	return !in_str;
}

int chain_canon_json(const char *json, size_t n, struct buf *out)
{
	if (canonical_already(json, n))
		return buf_put(out, json, n) < 0 ? -1 : 0;
	const char *s = json, *end = json + n;
	struct buf raw;
	buf_init(&raw, n + 1);
	int rc = 0;
	while (s < end && rc == 0) {
		char c = *s;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			s++;
		} else if (c == '"') {
			s++;
			raw.len = 0;
			if (string_decode(&s, end, &raw) < 0 || raw.failed)
				rc = -1;
			else
				buf_json_str(out, raw.p ? raw.p : "", raw.len);
		} else {
			buf_put(out, s++, 1);
		}
	}
	buf_free(&raw);
	return rc < 0 || out->failed ? -1 : 0;
}

static void tx_follow(struct db *db, enum db_tx_event ev)
{
	struct chain_state *cs = db->tx_state;
	switch (ev) {
	case DB_TX_BEGIN:
		/* another process may have appended since: the command line, or on SQLite a second
		 * server on the same file (they share the one server chain; the transaction's lock
		 * orders them). A node's own PostgreSQL chain is its alone. */
		if (!cs->own || strcmp(cs->id, CHAIN_SERVER) == 0)
			cs->cur.known = 0;
		cs->at_begin = cs->cur;
		break;
	case DB_TX_SAVEPOINT: cs->at_save = cs->cur; break;
	case DB_TX_ROLLBACK_TO: cs->cur = cs->at_save; break;
	case DB_TX_ROLLBACK: cs->cur.known = 0; break; /* read again: cheap, and rare */
	case DB_TX_COMMIT: break;
	case DB_TX_CLOSE:
		pthread_mutex_lock(&serve_mu);
		if (serve_db == db)
			serve_db = NULL;
		pthread_mutex_unlock(&serve_mu);
		buf_free(&cs->canon);
		buf_free(&cs->detail);
		free(cs);
		db->tx_state = NULL;
		db->tx_hook = NULL;
		break;
	}
}

int chain_attach(struct db *db, const char *id, int own)
{
	struct chain_state *cs = db->tx_hook == tx_follow ? db->tx_state : calloc(1, sizeof *cs);
	if (!cs)
		return -1;
	if (db->tx_hook != tx_follow) {
		buf_init(&cs->canon, CHAIN_ROW_MAX);
		buf_init(&cs->detail, CHAIN_ROW_MAX);
	}
	snprintf(cs->id, sizeof cs->id, "%s", id);
	cs->own = own;
	cs->cur.known = cs->at_begin.known = cs->at_save.known = 0;
	db->tx_state = cs;
	db->tx_hook = tx_follow;
	return 0;
}

void chain_node_id(enum db_engine engine, char out[CHAIN_ID_MAX])
{
	char id[ID_MAX];
	if (engine == DB_PG && id_new("node_", id) == 0)
		snprintf(out, CHAIN_ID_MAX, "%s", id);
	else
		snprintf(out, CHAIN_ID_MAX, "%s", CHAIN_SERVER);
}

int chain_head_read(struct db *db, const char *chain, int64_t *seq, unsigned char hash[32])
{
	static const char *const sql[] = {
		"SELECT seq, hash FROM audit_events WHERE chain = ?1 ORDER BY seq DESC LIMIT 1",
		"SELECT seq, hash FROM audit_checkpoints WHERE chain = ?1 ORDER BY seq DESC LIMIT 1",
	};
	*seq = 0;
	memset(hash, 0, 32);
	for (int i = 0; i < 2; i++) {
		struct db_stmt *st = db_prep(db, sql[i]);
		if (!st)
			return -1;
		db_bind_text(st, 1, chain);
		int rc = db_step(st);
		if (rc == DB_ROW) {
			*seq = db_col_int64(st, 0);
			rc = chain_unhex(db_col_text(st, 1), hash) < 0 ? DB_ERROR : DB_ROW;
		}
		db_reset(st);
		if (rc == DB_ERROR)
			return -1;
		if (rc == DB_ROW)
			return 0;
	}
	return 0;
}

/* Empties b for the next row, keeping its memory (audit rows hold no secrets). */
static void buf_empty(struct buf *b)
{
	if (b->failed) {
		buf_free(b);
		buf_init(b, CHAIN_ROW_MAX);
	}
	b->len = 0;
	if (b->p)
		b->p[0] = 0;
}

/* Reads the head when this transaction does not know it yet; a chain's first row names
 * it in audit_chains (the chains a verifier and the webhook walk). */
static int head_known(struct db *db, struct chain_state *cs)
{
	if (cs->cur.known)
		return 0;
	if (chain_head_read(db, cs->id, &cs->cur.seq, cs->cur.hash) < 0)
		return -1;
	if (cs->cur.seq == 0) {
		struct db_stmt *st =
			db_prep(db, "INSERT INTO audit_chains(chain, created) VALUES (?1, ?2) ON CONFLICT DO NOTHING");
		if (!st)
			return -1;
		db_bind_text(st, 1, cs->id);
		db_bind_int64(st, 2, now_ms());
		if (db_step_done(st) < 0)
			return -1;
	}
	cs->cur.known = 1;
	return 0;
}

void chain_serve(const char *id)
{
	pthread_mutex_lock(&serve_mu);
	snprintf(serve_chain, sizeof serve_chain, "%s", id);
	serve_db = NULL;
	pthread_mutex_unlock(&serve_mu);
}

/* The chain a connection's first row goes to: the server's for the first connection of a
 * server process that writes a row, the command line's for any other. */
static int attach_default(struct db *db)
{
	pthread_mutex_lock(&serve_mu);
	int own = serve_chain[0] && !serve_db;
	if (own)
		serve_db = db;
	int rc = chain_attach(db, own ? serve_chain : CHAIN_CLI, own);
	if (rc < 0 && own)
		serve_db = NULL;
	pthread_mutex_unlock(&serve_mu);
	return rc;
}

int chain_link(struct db *db, struct chain_row *r, char hash_hex[CHAIN_HASH_HEX])
{
	DB_ASSERT_TX(db);
	if (db->tx_hook != tx_follow && attach_default(db) < 0)
		return -1;
	struct chain_state *cs = db->tx_state;
	if (head_known(db, cs) < 0)
		return -1;
	r->chain = cs->id;
	r->seq = cs->cur.seq + 1;
	if (r->detail && *r->detail) {
		/* stored as hashed: a detail that cannot be rewritten (never one Warrant builds)
		 * is kept and hashed as it is */
		struct buf *d = &cs->detail;
		buf_empty(d);
		if (chain_canon_json(r->detail, strlen(r->detail), d) == 0)
			r->detail = d->p;
	}
	struct buf *b = &cs->canon;
	buf_empty(b);
	if (chain_canonical(r, b) < 0)
		return -1;
	unsigned char h[32];
	chain_hash(cs->cur.hash, b->p, b->len, h);
	chain_hex(h, hash_hex);
	cs->cur.seq = r->seq;
	memcpy(cs->cur.hash, h, 32);
	return 0;
}
