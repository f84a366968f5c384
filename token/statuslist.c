/* statuslist.c - Token Status Lists: indices, bits from live state, signed documents held
 * in memory; see statuslist.h. */
#include "statuslist.h"

#include "../common/codec.h"
#include "../common/log.h"
#include "../common/timeutil.h"
#include "../store/changes.h"
#include "exchange.h"
#include "live.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define DOC_MAX (1u << 20) /* bytes of a Status List Token: 2^20 bits compress to at most ~180 KB */

/* ---- allocation: the lists this process hands indices out of ---- */

static pthread_mutex_t alloc_mu = PTHREAD_MUTEX_INITIALIZER;
static struct statuslist_own cur, spare; /* under alloc_mu */
static int running;

int statuslist_take(struct statuslist_own *l, int64_t *k, int64_t *idx)
{
	if (l->k <= 0 || l->next >= l->size)
		return -1;
	*k = l->k;
	*idx = l->next++;
	return 0;
}

/* hold_until a list needs now: every token it may yet hand out expired plus leeway plus ttl */
static int64_t hold_needed(const struct warrant *w, int64_t now_s)
{
	return now_s + TOKEN_TTL_MAX + w->leeway + STATUSLIST_TTL;
}

struct claim {
	int64_t now_ms, hold_until;
	uint32_t size;
	int64_t k; /* out */
};

/* Writer job: a new list, numbered after every list there ever was (the writer lock
 * serializes claims across nodes), announced in the change log so every node serves it. */
static int claim_job(struct db *db, void *arg)
{
	struct claim *c = arg;
	struct db_stmt *st = db_prep(db, "SELECT coalesce(max(id), 0) + 1 FROM statuslists");
	if (!st)
		return -1;
	int rc = db_step(st);
	c->k = rc == DB_ROW ? db_col_int64(st, 0) : -1;
	db_reset(st);
	if (c->k <= 0)
		return -1;
	st = db_prep(db, "INSERT INTO statuslists(id, size, created_at, hold_until) VALUES (?,?,?,?)");
	if (!st)
		return -1;
	db_bind_int64(st, 1, c->k);
	db_bind_int64(st, 2, c->size);
	db_bind_int64(st, 3, c->now_ms);
	db_bind_int64(st, 4, c->hold_until);
	if (db_step_done(st) < 0)
		return -1;
	return change_note(db, CHANGE_STATUSLIST, NULL, NULL, c->k);
}

static int claim(struct warrant *w, struct statuslist_own *out)
{
	int64_t now = now_ms();
	struct claim c = {.now_ms = now,
			  .hold_until = hold_needed(w, now / 1000) + STATUSLIST_HOLD_STEP_S,
			  .size = STATUSLIST_BITS};
	if (warrant_write(w, claim_job, &c) != 0)
		return -1;
	*out = (struct statuslist_own){.k = c.k, .size = c.size, .hold_until = c.hold_until};
	log_event(LOG_INFO, "status list claimed", ",\"list\":%lld", (long long)c.k);
	return 0;
}

int statuslist_alloc(struct warrant *w, int64_t *k, int64_t *idx)
{
	*k = *idx = 0;
	if (!w->writer)
		return 0; /* the command line mints nothing it could list */
	pthread_mutex_lock(&alloc_mu);
	int rc = statuslist_take(&cur, k, idx);
	if (rc < 0 && spare.k) {
		cur = spare; /* claimed a while ago: every node serves it by now */
		memset(&spare, 0, sizeof spare);
		rc = statuslist_take(&cur, k, idx);
	}
	if (rc < 0 && claim(w, &cur) == 0) /* no spare (or at start): wait for a claim */
		rc = statuslist_take(&cur, k, idx);
	/* never hand out an index its list may stop being served before the token's end */
	if (rc == 0 && cur.hold_until < hold_needed(w, now_ms() / 1000))
		rc = -1;
	pthread_mutex_unlock(&alloc_mu);
	return rc;
}

struct hold {
	int64_t k, until;
};

static int hold_job(struct db *db, void *arg)
{
	struct hold *h = arg;
	struct db_stmt *st = db_prep(db, "UPDATE statuslists SET hold_until = ?1 WHERE id = ?2 AND hold_until < ?1");
	if (!st)
		return -1;
	db_bind_int64(st, 1, h->until);
	db_bind_int64(st, 2, h->k);
	return db_step_done(st);
}

/* Keeps hold_until of the lists this process may still hand out of well ahead of need, and
 * a spare list ready once the current one is half full. Writes go through the writer. */
static void keep_own_lists(struct warrant *w)
{
	int64_t now_s = now_ms() / 1000;
	pthread_mutex_lock(&alloc_mu);
	struct statuslist_own c = cur, s = spare;
	pthread_mutex_unlock(&alloc_mu);
	struct statuslist_own *own[2] = {&c, &s};
	for (int i = 0; i < 2; i++) {
		if (!own[i]->k || own[i]->hold_until >= hold_needed(w, now_s) + STATUSLIST_HOLD_MARGIN_S)
			continue;
		struct hold h = {.k = own[i]->k, .until = hold_needed(w, now_s) + STATUSLIST_HOLD_STEP_S};
		if (warrant_write(w, hold_job, &h) != 0)
			continue;
		pthread_mutex_lock(&alloc_mu);
		if (cur.k == h.k)
			cur.hold_until = h.until;
		if (spare.k == h.k)
			spare.hold_until = h.until;
		pthread_mutex_unlock(&alloc_mu);
	}
	if (!c.k || s.k || c.next < c.size / 2)
		return;
	struct statuslist_own n;
	if (claim(w, &n) < 0)
		return;
	pthread_mutex_lock(&alloc_mu);
	if (!spare.k)
		spare = n; /* else a request claimed meanwhile: n stays unused, served until its hold */
	pthread_mutex_unlock(&alloc_mu);
}

/* ---- encoding ---- */

int statuslist_encode(const unsigned char *bits, size_t nbytes, struct buf *out)
{
	/* draft §4.1: DEFLATE in the ZLIB format (RFC 1950), the highest compression */
	uLongf zn = compressBound((uLong)nbytes);
	unsigned char *z = malloc(zn);
	char *b = z ? malloc(B64URL_LEN(zn) + 1) : NULL;
	int rc = -1;
	if (b && compress2(z, &zn, bits, (uLong)nbytes, Z_BEST_COMPRESSION) == Z_OK) {
		size_t n = b64url_encode(z, zn, b);
		rc = buf_put(out, b, n);
	}
	free(z);
	free(b);
	return rc;
}

/* ---- the lists every process serves ---- */

struct slist {
	int64_t k;
	uint32_t size;
	unsigned char *bits; /* size / 8 bytes */
	char *jwt;           /* the signed document */
	size_t len;
	char etag[48];
	int64_t signed_ms;
};

static pthread_mutex_t pub_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pub_cv = PTHREAD_COND_INITIALIZER; /* the first lists are published */
static int published;                                    /* under pub_mu */
static struct slist *pub;                                /* under pub_mu; replaced whole by each rebuild */
static int npub;
static int64_t max_known; /* the highest list number loaded */
static atomic_int wanted; /* a request found a list not loaded yet */

static void slists_free(struct slist *l, int n)
{
	for (int i = 0; i < n; i++) {
		free(l[i].bits);
		free(l[i].jwt);
	}
	free(l);
}

static struct slist *slist_find(struct slist *l, int n, int64_t k)
{
	int lo = 0, hi = n - 1; /* l is in order of k */
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		if (l[mid].k == k)
			return &l[mid];
		if (l[mid].k < k)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* The lists still held (hold_until ahead), in order, without bits yet. -1 on error. */
static int load_lists(struct db *db, int64_t now_s, struct slist **out, int *n)
{
	*out = NULL;
	*n = 0;
	struct db_stmt *st = db_prep(db, "SELECT id, size FROM statuslists WHERE hold_until > ? ORDER BY id");
	if (!st)
		return -1;
	db_bind_int64(st, 1, now_s);
	struct slist *l = calloc(STATUSLIST_MAX_LISTS, sizeof *l);
	int rc = l ? 0 : -1, s = DB_DONE;
	while (rc == 0 && *n < STATUSLIST_MAX_LISTS && (s = db_step(st)) == DB_ROW) {
		int64_t size = db_col_int64(st, 1);
		if (size <= 0 || size > STATUSLIST_BITS || size % 8)
			continue; /* not one we could have made */
		struct slist *e = &l[(*n)++];
		e->k = db_col_int64(st, 0);
		e->size = (uint32_t)size;
	}
	if (rc == 0 && s != DB_DONE && s != DB_ROW)
		rc = -1;
	db_reset(st);
	if (rc < 0) {
		slists_free(l, *n);
		return -1;
	}
	*out = l;
	return 0;
}

/* Bits of every list that has none set: a list costs memory only once a token in it is
 * inactive (a process that restarts often leaves many empty lists held for hours). */
static unsigned char *zeros;

static const unsigned char *bits_of(const struct slist *e) { return e->bits ? e->bits : zeros; }

static int bit_get(const struct slist *e, int64_t i) { return e->bits && (e->bits[i / 8] >> (i % 8) & 1); }

/* The ledger row's token as live_check() sees a verified one (token/verify.h): the claims
 * it reads. A field live_check comes to read must be filled here too. */
static void tok_of_row(struct db_stmt *st, struct tok *t)
{
	memset(t, 0, sizeof *t);
	db_col_copy(st, 0, t->jti, sizeof t->jti);
	db_col_copy(st, 1, t->sub, sizeof t->sub);
	db_col_copy(st, 2, t->owner_id, sizeof t->owner_id);
	db_col_copy(st, 3, t->cred_id, sizeof t->cred_id);
	db_col_copy(st, 4, t->run_id, sizeof t->run_id);
	db_col_copy(st, 5, t->ws, sizeof t->ws);
	t->issued_ms = db_col_int64(st, 6);
	t->iat = t->nbf = t->issued_ms / 1000;
	t->exp = db_col_int64(st, 7);
}

/* live_check of an exchanged token, whose chain (principal, actors, the tokens above it)
 * its ledger row alone does not give. */
static int exchanged_live(struct warrant *w, struct db *db, const struct tok *row, const char **why)
{
	int rc;
	struct tok *x = exchange_tok_rebuild(db, row, &rc);
	if (!x) {
		*why = "chain_unknown";
		return rc;
	}
	int live = live_check(w, x, why);
	tok_release(x);
	return live;
}

/* Sets the bit of every token holding an index in l: 1 when live_check() finds it inactive.
 * A token past its exp is judged as if it were not (its status, not its time), and a 1 it
 * had in old stays (live state forgets a revoked jti once its token is past exp plus
 * leeway, and verifiers may still be looking within that leeway). 0, or -1 on an error. */
static int fill_bits(struct warrant *w, struct db *db, int64_t now_s, struct slist *l, int n, struct slist *old,
		     int nold, long *ntok)
{
	struct db_stmt *st = db_prep(db, "SELECT jti, agent_id, owner_id, cred_id, run_id, ws, iat, exp,"
					 " status_list, status_idx, parent_jti FROM tokens WHERE id >= ?1 AND exp > ?2"
					 " AND status_list IS NOT NULL");
	if (!st)
		return -1;
	int64_t from_s = now_s - TOKEN_TTL_MAX - w->leeway - STATUSLIST_TTL - 60;
	db_bind_int64(st, 1, (from_s * 1000) << 12); /* ledger ids are iat << 12 (store/ledger.c) */
	db_bind_int64(st, 2, now_s - w->leeway - STATUSLIST_TTL);
	int rc = 0, s;
	struct tok t;
	while ((s = db_step(st)) == DB_ROW) {
		struct slist *e = slist_find(l, n, db_col_int64(st, 8));
		int64_t i = db_col_int64(st, 9);
		if (!e || i < 0 || i >= e->size)
			continue;
		tok_of_row(st, &t);
		struct slist *o = t.exp <= now_s ? slist_find(old, nold, e->k) : NULL;
		int inactive = o && i < o->size ? bit_get(o, i) : 0;
		if (!inactive) {
			const char *why = NULL;
			if (t.exp <= now_s)
				t.exp = now_s + 1; /* its status, not its time */
			int live = db_col_text(st, 10) ? exchanged_live(w, db, &t, &why) : live_check(w, &t, &why);
			if (live < 0) {
				rc = -1;
				break;
			}
			inactive = !live;
		}
		if (inactive && !e->bits && !(e->bits = calloc(1, e->size / 8))) {
			rc = -1;
			break;
		}
		if (inactive)
			e->bits[i / 8] |= (unsigned char)(1u << (i % 8));
		(*ntok)++;
	}
	if (rc == 0 && s != DB_DONE)
		rc = -1;
	db_reset(st);
	return rc;
}

/* Signs list e as a Status List Token (draft §5.1): typ statuslist+jwt; sub its URI. */
static int render(struct warrant *w, struct slist *e, int64_t now_ms_)
{
	struct buf lst, p, out;
	buf_init(&lst, DOC_MAX);
	buf_init(&p, DOC_MAX);
	buf_init(&out, DOC_MAX);
	char uri[ISSUER_URI_MAX];
	snprintf(uri, sizeof uri, "%s/statuslists/%lld", w->issuer, (long long)e->k);
	int64_t iat = now_ms_ / 1000;
	int rc = -1;
	if (statuslist_encode(bits_of(e), e->size / 8, &lst) < 0 || buf_put(&lst, "", 1) < 0)
		goto done;
	buf_puts(&p, "{\"sub\":");
	buf_json_cstr(&p, uri);
	buf_printf(&p, ",\"iat\":%lld,\"exp\":%lld,\"ttl\":%d,\"status_list\":{\"bits\":1,\"lst\":\"%s\"}}",
		   (long long)iat, (long long)(iat + STATUSLIST_LIFETIME_S), STATUSLIST_TTL, lst.p);
	if (p.failed || keyring_jws(w->keys, "statuslist+jwt", p.p, p.len, &out) < 0 || out.failed)
		goto done;
	unsigned char h[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)out.p, out.len, h);
	char *q = e->etag;
	*q++ = '"';
	for (int i = 0; i < 16; i++)
		q += snprintf(q, 3, "%02x", h[i]);
	memcpy(q, "\"", 2);
	free(e->jwt);
	e->jwt = buf_steal(&out, &e->len);
	e->signed_ms = now_ms_;
	rc = e->jwt ? 0 : -1;
done:
	buf_free(&lst);
	buf_free(&p);
	buf_free(&out);
	return rc;
}

static uint64_t signed_keygen; /* the keyring generation the published lists were signed under */

/* Rebuilds every list: bits from the ledger and live state, documents signed again where
 * the bits changed, the key changed, or they are due; then publishes them. 0, or -1 (the
 * published lists stay). Only the lists' thread (and the start, before it) call it. */
static int build(struct warrant *w, struct db *db, int64_t now)
{
	struct slist *l;
	int n;
	long ntok = 0;
	uint64_t keygen = keyring_generation(w->keys);
	if (!zeros && !(zeros = calloc(1, STATUSLIST_BITS / 8)))
		return -1;
	if (load_lists(db, now / 1000, &l, &n) < 0)
		return -1;
	pthread_mutex_lock(&pub_mu);
	struct slist *old = pub; /* only this thread replaces pub: reading it unlocked is safe */
	int nold = npub;
	pthread_mutex_unlock(&pub_mu);
	if (fill_bits(w, db, now / 1000, l, n, old, nold, &ntok) < 0) {
		slists_free(l, n);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct slist *o = slist_find(old, nold, l[i].k);
		if (o && o->jwt && o->size == l[i].size && keygen == signed_keygen &&
		    now - o->signed_ms < STATUSLIST_RESIGN_MS &&
		    memcmp(bits_of(o), bits_of(&l[i]), l[i].size / 8) == 0) {
			l[i].jwt = malloc(o->len); /* unchanged: the same document and ETag */
			if (!l[i].jwt) {
				slists_free(l, n);
				return -1;
			}
			memcpy(l[i].jwt, o->jwt, o->len);
			l[i].len = o->len;
			memcpy(l[i].etag, o->etag, sizeof l[i].etag);
			l[i].signed_ms = o->signed_ms;
		} else if (render(w, &l[i], now) < 0) {
			slists_free(l, n);
			return -1;
		}
	}
	pthread_mutex_lock(&pub_mu);
	pub = l;
	npub = n;
	max_known = n ? l[n - 1].k : 0;
	published = 1;
	pthread_cond_broadcast(&pub_cv);
	pthread_mutex_unlock(&pub_mu);
	signed_keygen = keygen;
	slists_free(old, nold);
	log_event(LOG_DEBUG, "status lists built", ",\"lists\":%d,\"tokens\":%ld,\"ms\":%lld", n, ntok,
		  (long long)(now_ms() - now));
	return 0;
}

/* ---- the schedule ---- */

static int64_t built_seq = -1, built_ms, settle_at;

int statuslist_start(struct warrant *w, struct db *db)
{
	running = 1;
	pthread_mutex_lock(&alloc_mu);
	int rc = cur.k ? 0 : claim(w, &cur);
	pthread_mutex_unlock(&alloc_mu);
	if (rc < 0)
		return -1;
	int64_t now = now_ms();
	int64_t seq = live_last_seq();
	if (build(w, db, now) < 0)
		return -1;
	built_seq = seq;
	built_ms = now;
	return 0;
}

void statuslist_tick(struct warrant *w, struct db *db)
{
	if (!running)
		return;
	keep_own_lists(w);
	int64_t now = now_ms();
	int64_t seq = live_last_seq(); /* before the build reads: a change during it comes again */
	int changed = seq != built_seq;
	int settle = settle_at && now >= settle_at;
	int due = changed || settle || atomic_load(&wanted) || now - built_ms >= STATUSLIST_RESIGN_MS ||
		  keyring_generation(w->keys) != signed_keygen;
	if (!due || now - built_ms < STATUSLIST_MIN_INTERVAL_MS)
		return;
	atomic_store(&wanted, 0);
	if (build(w, db, now) < 0) {
		log_event(LOG_WARN, "status lists not rebuilt", ",\"error\":\"database\"");
		return;
	}
	if (changed)
		settle_at = now + STATUSLIST_SETTLE_MS;
	else if (settle)
		settle_at = 0;
	built_seq = seq;
	built_ms = now;
}

/* ---- serving ---- */

int statuslist_get(int64_t k, struct statuslist_doc *d)
{
	memset(d, 0, sizeof *d);
	pthread_mutex_lock(&pub_mu);
	if (!published) {
		/* the server answers before its first build is done: wait for it, a moment */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += STATUSLIST_START_WAIT_MS / 1000;
		while (!published && pthread_cond_timedwait(&pub_cv, &pub_mu, &ts) == 0)
			;
	}
	struct slist *e = slist_find(pub, npub, k);
	int rc = 0;
	if (e && e->jwt) {
		d->jwt = malloc(e->len);
		if (d->jwt) {
			memcpy(d->jwt, e->jwt, e->len);
			d->len = e->len;
			memcpy(d->etag, e->etag, sizeof d->etag);
			d->ttl = STATUSLIST_TTL;
			rc = 1;
		} else {
			rc = -1;
		}
	}
	pthread_mutex_unlock(&pub_mu);
	return rc;
}

int statuslist_pending(struct warrant *w, int64_t k)
{
	pthread_mutex_lock(&pub_mu);
	int64_t known = max_known;
	pthread_mutex_unlock(&pub_mu);
	if (k <= known)
		return 0; /* lists are loaded in order: an older one we lack has ended */
	struct db *db = warrant_reader(w);
	if (!db)
		return -1;
	struct db_stmt *st = db_prep(db, "SELECT 1 FROM statuslists WHERE id = ? AND hold_until > ?");
	if (!st)
		return -1;
	db_bind_int64(st, 1, k);
	db_bind_int64(st, 2, now_ms() / 1000);
	int rc = db_step(st);
	db_reset(st);
	if (rc == DB_ROW)
		atomic_store(&wanted, 1);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

void statuslist_stop(void)
{
	running = 0;
	pthread_mutex_lock(&pub_mu);
	slists_free(pub, npub);
	pub = NULL;
	npub = 0;
	max_known = 0;
	published = 0;
	pthread_mutex_unlock(&pub_mu);
	free(zeros);
	zeros = NULL;
	pthread_mutex_lock(&alloc_mu);
	memset(&cur, 0, sizeof cur);
	memset(&spare, 0, sizeof spare);
	pthread_mutex_unlock(&alloc_mu);
	built_seq = -1;
	built_ms = settle_at = 0;
	signed_keygen = 0;
}
