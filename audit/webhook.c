/* webhook.c - the audit webhook's delivery thread; see webhook.h. */
#include "webhook.h"
#include "audit.h"
#include "chain.h"

#include "../common/buf.h"
#include "../common/log.h"
#include "../common/timeutil.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct webhook_conf conf;
static pthread_t thread;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static atomic_int running, stopping;
static atomic_llong lag = -1, delivered, failures;

int webhook_secret_load(const char *path, struct webhook_conf *c, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0) {
		snprintf(err, errlen, "cannot read the webhook secret file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		snprintf(err, errlen, "the webhook secret file %s is not a regular file", path);
		return -1;
	}
	if (sb.st_mode & 077) {
		close(fd);
		snprintf(err, errlen, "the webhook secret file %s is open to group or others (mode %04o): chmod 600 %s",
			 path, (unsigned)(sb.st_mode & 07777), path);
		return -1;
	}
	ssize_t n = read(fd, c->secret, sizeof c->secret);
	char extra;
	int more = n == (ssize_t)sizeof c->secret && read(fd, &extra, 1) > 0;
	close(fd);
	while (n > 0 && (c->secret[n - 1] == '\n' || c->secret[n - 1] == '\r'))
		n--;
	if (n <= 0 || more) {
		OPENSSL_cleanse(c->secret, sizeof c->secret);
		snprintf(err, errlen, "the webhook secret file %s must hold 1 to %d bytes", path, WEBHOOK_SECRET_MAX);
		return -1;
	}
	c->secret_len = (size_t)n;
	return 0;
}

/* Waits ms, or less when stopping; returns 1 when asked to stop. */
static int pause_ms(int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&mu);
	if (!atomic_load(&stopping))
		pthread_cond_timedwait(&cv, &mu, &ts);
	pthread_mutex_unlock(&mu);
	return atomic_load(&stopping);
}

static size_t discard_body(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static int abort_when_stopping(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)arg;
	(void)a;
	(void)b;
	(void)c;
	(void)d;
	return atomic_load(&stopping); /* non-zero aborts the transfer */
}

/* POSTs body signed; 0 when the receiver answered 2xx. */
static int post(CURL *h, const char *body, size_t n)
{
	unsigned char mac[32];
	unsigned int maclen = 0;
	char sig[96] = "X-Warrant-Signature: sha256=";
	static const char hex[] = "0123456789abcdef";
	/* the signature covers the exact bytes sent */
	if (!HMAC(EVP_sha256(), conf.secret, (int)conf.secret_len, (const unsigned char *)body, n, mac, &maclen))
		return -1;
	size_t at = strlen(sig);
	for (unsigned i = 0; i < maclen; i++) {
		sig[at++] = hex[mac[i] >> 4];
		sig[at++] = hex[mac[i] & 15];
	}
	sig[at] = 0;
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	hdr = hdr ? curl_slist_append(hdr, sig) : NULL;
	if (!hdr)
		return -1;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, conf.url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)WEBHOOK_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)WEBHOOK_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, abort_when_stopping);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "warrant");
	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	return rc == CURLE_OK && status >= 200 && status < 300 ? 0 : -1;
}

struct cursor_set {
	char chain[CHAIN_ID_MAX];
	int64_t seq;
};

/* Writer job: the receiver has acknowledged chain up to seq (never moves back). */
static int cursor_job(struct db *db, void *arg)
{
	struct cursor_set *c = arg;
	struct db_stmt *st =
		db_prep(db, "INSERT INTO audit_webhook_cursor(chain, seq, updated) VALUES (?1, ?2, ?3)"
			    " ON CONFLICT (chain) DO UPDATE SET seq = CASE WHEN excluded.seq >"
			    " audit_webhook_cursor.seq THEN excluded.seq ELSE audit_webhook_cursor.seq END,"
			    " updated = excluded.updated");
	if (!st)
		return -1;
	db_bind_text(st, 1, c->chain);
	db_bind_int64(st, 2, c->seq);
	db_bind_int64(st, 3, now_ms());
	return db_step_done(st);
}

/* The next batch of chain after seq into body (a JSON array); its last seq in *last.
 * Rows in it, or -1. */
static long batch_read(struct db *db, const char *chain, int64_t after, struct buf *body, int64_t *last)
{
	struct db_stmt *st = db_prep(db, "SELECT " AUDIT_ROW_COLUMNS " FROM audit_events"
					 " WHERE chain = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3");
	if (!st)
		return -1;
	db_bind_text(st, 1, chain);
	db_bind_int64(st, 2, after);
	db_bind_int(st, 3, WEBHOOK_BATCH_MAX);
	buf_puts(body, "[");
	long n = 0;
	int rc;
	while ((rc = db_step(st)) == DB_ROW && body->len < WEBHOOK_BODY_MAX / 2) {
		if (n)
			buf_puts(body, ",");
		audit_row_json(body, st);
		*last = db_col_int64(st, 13);
		n++;
	}
	db_reset(st);
	buf_puts(body, "]");
	return rc == DB_ERROR || body->failed ? -1 : n;
}

/* Delivers the next batch of chain after acked; 1 delivered, -1 failed. */
static int deliver_chain(struct db *db, CURL *h, const char *chain, int64_t acked)
{
	struct buf body;
	buf_init(&body, WEBHOOK_BODY_MAX);
	struct cursor_set c = {.seq = acked};
	snprintf(c.chain, sizeof c.chain, "%.*s", CHAIN_ID_MAX - 1, chain);
	long n = batch_read(db, chain, acked, &body, &c.seq);
	int rc = n < 0 ? -1 : 0;
	if (n > 0) {
		rc = post(h, body.p, body.len);
		if (rc == 0 && writer_call(conf.writer, cursor_job, &c) == 0) {
			atomic_fetch_add(&delivered, n);
			atomic_fetch_sub(&lag, c.seq - acked);
			rc = 1;
		} else {
			atomic_fetch_add(&failures, 1);
			rc = -1;
		}
	}
	buf_free(&body);
	return rc;
}

struct pending_chain {
	char chain[CHAIN_ID_MAX];
	int64_t acked;
};

/* The chains with rows not yet acknowledged, in one statement (each head is an index
 * look-up); *total: those rows. The count, or -1 (*out to free either way). */
static int chains_waiting(struct db *db, struct pending_chain **out, int64_t *total)
{
	struct db_stmt *st =
		db_prep_new(db, "SELECT c.chain, coalesce(w.seq, 0), coalesce((SELECT max(e.seq)"
				" FROM audit_events e WHERE e.chain = c.chain), 0)"
				" FROM audit_chains c LEFT JOIN audit_webhook_cursor w ON w.chain = c.chain");
	*out = NULL;
	*total = 0;
	if (!st)
		return -1;
	int n = 0, cap = 0, s;
	while ((s = db_step(st)) == DB_ROW) {
		int64_t acked = db_col_int64(st, 1), head = db_col_int64(st, 2);
		if (head <= acked)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			struct pending_chain *p = realloc(*out, sizeof *p * (size_t)cap);
			if (!p) {
				s = DB_ERROR;
				break;
			}
			*out = p;
		}
		db_col_copy(st, 0, (*out)[n].chain, CHAIN_ID_MAX);
		(*out)[n++].acked = acked;
		*total += head - acked;
	}
	db_finalize(st);
	return s == DB_DONE ? n : -1;
}

/* One pass over every chain: 1 something was delivered, 0 all caught up, -1 a failure. The
 * lag gauge is set first, so it shows a delivery stuck in flight. */
static int deliver_all(struct db *db, CURL *h)
{
	struct pending_chain *p;
	int64_t total;
	int n = chains_waiting(db, &p, &total);
	if (n < 0) {
		free(p);
		return -1;
	}
	atomic_store(&lag, total);
	int any = 0, failed = 0;
	for (int i = 0; i < n && !atomic_load(&stopping); i++) {
		int rc = deliver_chain(db, h, p[i].chain, p[i].acked);
		if (rc < 0)
			failed = 1;
		else if (rc > 0)
			any = 1;
	}
	free(p);
	return failed ? -1 : any;
}

static void *webhook_main(void *arg)
{
	(void)arg;
	char err[256];
	struct db *db = NULL;
	CURL *h = curl_easy_init();
	int backoff = 0;
	while (!atomic_load(&stopping)) {
		if (!conf.leading()) {
			atomic_store(&lag, -1);
			pause_ms(1000);
			continue;
		}
		if (!db && !(db = db_open(conf.db_path, DB_EXISTING, err, sizeof err))) {
			pause_ms(WEBHOOK_BACKOFF_MAX_MS / 10);
			continue;
		}
		int rc = h ? deliver_all(db, h) : -1;
		if (rc < 0) {
			backoff = backoff ? backoff * 2 : WEBHOOK_BACKOFF_MIN_MS;
			if (backoff > WEBHOOK_BACKOFF_MAX_MS)
				backoff = WEBHOOK_BACKOFF_MAX_MS;
			log_event(LOG_WARN, "audit webhook delivery failed", ",\"retry_ms\":%d", backoff);
			pause_ms(backoff);
		} else {
			backoff = 0;
			if (rc == 0)
				pause_ms(WEBHOOK_POLL_MS);
		}
	}
	if (h)
		curl_easy_cleanup(h);
	db_close(db);
	return NULL;
}

int webhook_start(const struct webhook_conf *c)
{
	conf = *c;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	atomic_store(&stopping, 0);
	if (pthread_create(&thread, NULL, webhook_main, NULL) != 0)
		return -1;
	atomic_store(&running, 1);
	return 0;
}

void webhook_stop(void)
{
	if (!atomic_load(&running))
		return;
	pthread_mutex_lock(&mu);
	atomic_store(&stopping, 1);
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(thread, NULL);
	atomic_store(&running, 0);
	OPENSSL_cleanse(conf.secret, sizeof conf.secret);
}

void webhook_stats(struct webhook_stats *s)
{
	s->running = atomic_load(&running);
	s->lag_rows = atomic_load(&lag);
	s->delivered = atomic_load(&delivered);
	s->failures = atomic_load(&failures);
}
