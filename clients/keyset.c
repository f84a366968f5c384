/* keyset.c - trusts' key sets: files, fetches on background threads, the cache; see keyset.h. */
#include "keyset.h"

#include "../common/log.h"
#include "../common/timeutil.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYSET_STOP_WAIT_MS (KEYSET_FETCH_TIMEOUT_MS + 2000)

/* A parsed set shared by the cache and the requests verifying with it. */
struct keyset_hold {
	atomic_int refs;
	struct jose_keyset ks;
};

struct entry {
	struct keyset_source src;
	struct keyset_hold *set; /* NULL: none usable */
	int64_t expires_ms;      /* fetched sets: unusable from then on */
	int64_t refresh_ms;      /* fetched sets: housekeeping fetches again from then on */
	int64_t last_fetch_ms;   /* when the last fetch started; 0 never */
	int fetching, seen;
	const char *why; /* why the last load failed (static), NULL when it did not */
	/* files: what was read */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cv = PTHREAD_COND_INITIALIZER;
static struct entry *entries[KEYSET_ENTRIES_MAX];
static int nentries, inflight;
static atomic_int stopping;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static void hold_release(struct keyset_hold *h)
{
	if (h && atomic_fetch_sub(&h->refs, 1) == 1) {
		jose_keyset_clear(&h->ks);
		free(h);
	}
}

void keyset_release(struct keyset_hold *hold) { hold_release(hold); }

/* ---- URLs ---- */

static int loopback_host(const char *h, size_t n)
{
	char b[64];
	if (n == 9 && strncasecmp(h, "localhost", 9) == 0)
		return 1;
	if (n == 5 && memcmp(h, "[::1]", 5) == 0)
		return 1;
	if (n == 0 || n >= sizeof b)
		return 0;
	memcpy(b, h, n);
	b[n] = '\0';
	struct in_addr a;
	return inet_pton(AF_INET, b, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

int keyset_url_allowed(const char *url, char *why, size_t n)
{
	size_t len = url ? strlen(url) : 0;
	int https = len > 8 && strncmp(url, "https://", 8) == 0;
	int http = !https && len > 7 && strncmp(url, "http://", 7) == 0;
	if (!https && !http) {
		snprintf(why, n, "must be an https:// URL (http:// only to a loopback address)");
		return -1;
	}
	if (len >= TRUST_URL_MAX) {
		snprintf(why, n, "URL longer than %d bytes", TRUST_URL_MAX - 1);
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p <= 0x20 || *p == 0x7f || *p == '#' || *p == '\\') {
			snprintf(why, n, "URL with a space, control character, backslash or fragment");
			return -1;
		}
	const char *host = url + (https ? 8 : 7);
	size_t hl = strcspn(host, "/?");
	if (hl == 0 || memchr(host, '@', hl)) {
		snprintf(why, n, "URL without a host, or with user information");
		return -1;
	}
	if (http) {
		/* the host without its port: [v6]:port or name:port */
		size_t h = hl;
		if (host[0] == '[') {
			const char *rb = memchr(host, ']', hl);
			h = rb ? (size_t)(rb - host) + 1 : hl;
		} else {
			const char *c = memchr(host, ':', hl);
			if (c)
				h = (size_t)(c - host);
		}
		if (!loopback_host(host, h)) {
			snprintf(why, n, "plain http:// is allowed only to a loopback address; use https://");
			return -1;
		}
	}
	return 0;
}

/* ---- fetching ---- */

struct body {
	char *p;
	size_t len;
	int over;
	long max_age; /* -1: none given */
};

static size_t on_data(char *d, size_t sz, size_t nm, void *arg)
{
	struct body *b = arg;
	size_t n = sz * nm;
	if (n > KEYSET_BODY_MAX - b->len) {
		b->over = 1;
		return 0; /* aborts the transfer */
	}
	char *q = realloc(b->p, b->len + n + 1);
	if (!q)
		return 0;
	b->p = q;
	memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* Cache-Control: max-age=N (RFC 9111 §5.2.2.1); no-store and no-cache count as 0. */
static size_t on_header(char *d, size_t sz, size_t nm, void *arg)
{
	struct body *b = arg;
	size_t n = sz * nm;
	char line[512];
	if (n < 14 || n >= sizeof line || strncasecmp(d, "cache-control:", 14) != 0)
		return n;
	memcpy(line, d, n);
	line[n] = '\0';
	if (strcasestr(line, "no-store") || strcasestr(line, "no-cache")) {
		b->max_age = 0;
		return n;
	}
	const char *m = strcasestr(line, "max-age=");
	if (m) {
		long v = 0;
		for (m += 8; *m >= '0' && *m <= '9' && v < 100000000; m++)
			v = v * 10 + (*m - '0');
		b->max_age = v;
	}
	return n;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)arg, (void)a, (void)b, (void)c, (void)d;
	return atomic_load(&stopping) ? 1 : 0;
}

static int loopback_addr(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return 0;
}

/* Plain HTTP: the address connected to must be a loopback one, whatever the name said. */
static curl_socket_t open_loopback_only(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)arg;
	if (purpose != CURLSOCKTYPE_IPCXN || !loopback_addr(&a->addr))
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* GETs url into *b before deadline_ms. 0, or -1 with *why. */
static int http_get(const char *url, int64_t deadline_ms, struct body *b, const char **why)
{
	char err[128];
	memset(b, 0, sizeof *b);
	b->max_age = -1;
	if (keyset_url_allowed(url, err, sizeof err) < 0) {
		*why = "url_refused";
		return -1;
	}
	int64_t left = deadline_ms - now_ms();
	if (left <= 0) {
		*why = "fetch_timeout";
		return -1;
	}
	CURL *h = curl_easy_init();
	if (!h) {
		*why = "fetch_failed";
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is a failure */
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)KEYSET_BODY_MAX);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, b);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "warrant");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, NULL); /* no decompression: the limit is of bytes read */
	if (strncmp(url, "http://", 7) == 0)
		curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_loopback_only);
	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	if (rc == CURLE_OK && status == 200 && b->len > 0)
		return 0;
	*why = b->over || rc == CURLE_FILESIZE_EXCEEDED                          ? "keyset_too_large"
	       : rc == CURLE_OPERATION_TIMEDOUT                                  ? "fetch_timeout"
	       : rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ? "fetch_unreachable"
	       : rc != CURLE_OK                                                  ? "fetch_failed"
	       : status >= 300 && status < 400                                   ? "fetch_redirected"
										 : "fetch_bad_status";
	free(b->p);
	b->p = NULL;
	return -1;
}

/* OpenID Connect Discovery 1.0 §4: the issuer's metadata names its jwks_uri; its "issuer"
 * must be the trust's exactly (§4.3). 0 with uri filled, or -1 with *why. */
static int discover(const struct keyset_source *s, int64_t deadline, char uri[TRUST_URL_MAX], const char **why)
{
	char url[TRUST_URL_MAX + 64];
	size_t il = strlen(s->issuer);
	while (il > 0 && s->issuer[il - 1] == '/')
		il--;
	snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration", (int)il, s->issuer);
	struct body b;
	if (http_get(url, deadline, &b, why) < 0)
		return -1;
	json_error_t je;
	json_t *doc = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &je);
	free(b.p);
	const char *iss = json_string_value(json_object_get(doc, "issuer"));
	const char *ju = json_string_value(json_object_get(doc, "jwks_uri"));
	int rc = -1;
	char err[128];
	if (!json_is_object(doc))
		*why = "discovery_malformed";
	else if (!iss || strcmp(iss, s->issuer) != 0)
		*why = "discovery_issuer_mismatch";
	else if (!ju || keyset_url_allowed(ju, err, sizeof err) < 0)
		*why = "discovery_bad_jwks_uri";
	else {
		snprintf(uri, TRUST_URL_MAX, "%s", ju);
		rc = 0;
	}
	json_decref(doc);
	return rc;
}

/* SPIFFE Trust Domain and Bundle §4.2: a bundle's keys say "use" "jwt-svid" (JWT-SVID
 * signing keys) or "x509-svid" (X.509 authorities, not for JWTs). Returns a copy of the set
 * with the first as "sig" and without the second (free it), or NULL when it has neither. */
static char *spiffe_bundle_keys(const char *text, size_t n)
{
	json_error_t je;
	json_t *doc = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je), *keys = json_object_get(doc, "keys");
	int changed = 0;
	for (size_t i = 0; json_is_array(keys) && i < json_array_size(keys);) {
		json_t *k = json_array_get(keys, i);
		const char *use = json_string_value(json_object_get(k, "use"));
		if (use && strcmp(use, "x509-svid") == 0) {
			json_array_remove(keys, i);
			changed = 1;
			continue;
		}
		if (use && strcmp(use, "jwt-svid") == 0) {
			json_object_set_new(k, "use", json_string("sig"));
			changed = 1;
		}
		i++;
	}
	char *out = changed ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return out;
}

/* Parses a fetched or read set, a SPIFFE bundle too. 0, or -1. */
static int set_parse(const char *text, size_t n, struct jose_keyset *ks)
{
	const char *why = NULL;
	char *spiffe = spiffe_bundle_keys(text, n);
	int rc = spiffe ? jose_keyset_parse(spiffe, strlen(spiffe), ks, &why) : jose_keyset_parse(text, n, ks, &why);
	free(spiffe);
	return rc;
}

/* Fetches s's set into *ks with its max-age (clamped, seconds). 0, or -1 with *why. */
static int fetch_set(const struct keyset_source *s, struct jose_keyset *ks, long *max_age, const char **why)
{
	int64_t deadline = now_ms() + KEYSET_FETCH_TIMEOUT_MS;
	char uri[TRUST_URL_MAX];
	snprintf(uri, sizeof uri, "%s", s->jwks_uri);
	if (s->discovery && discover(s, deadline, uri, why) < 0)
		return -1;
	struct body b;
	if (http_get(uri, deadline, &b, why) < 0)
		return -1;
	int rc = set_parse(b.p, b.len, ks);
	free(b.p);
	if (rc < 0) {
		*why = "keyset_malformed";
		return -1;
	}
	long a = b.max_age < KEYSET_MAX_AGE_MIN ? KEYSET_MAX_AGE_MIN : b.max_age;
	*max_age = a > KEYSET_MAX_AGE_MAX ? KEYSET_MAX_AGE_MAX : a;
	return 0;
}

/* ---- the cache ---- */

static struct entry *find(const char *trust_id)
{
	for (int i = 0; i < nentries; i++)
		if (strcmp(entries[i]->src.trust_id, trust_id) == 0)
			return entries[i];
	return NULL;
}

static struct entry *find_or_add(const struct keyset_source *src)
{
	struct entry *e = find(src->trust_id);
	if (e || nentries == KEYSET_ENTRIES_MAX)
		return e;
	if (!(e = calloc(1, sizeof *e)))
		return NULL;
	e->src = *src;
	entries[nentries++] = e;
	return e;
}

static void install(struct entry *e, struct jose_keyset *ks)
{
	struct keyset_hold *h = malloc(sizeof *h);
	if (!h) {
		jose_keyset_clear(ks);
		e->why = "out_of_memory";
		return;
	}
	atomic_init(&h->refs, 1);
	h->ks = *ks;
	memset(ks, 0, sizeof *ks);
	hold_release(e->set);
	e->set = h;
	e->why = NULL;
}

static void *fetch_main(void *arg)
{
	struct keyset_source *s = arg;
	struct jose_keyset ks;
	memset(&ks, 0, sizeof ks);
	long max_age = 0;
	const char *why = NULL;
	int rc = fetch_set(s, &ks, &max_age, &why);
	if (rc < 0)
		log_event(LOG_WARN, "trust key set not fetched", ",\"trust_id\":\"%s\",\"why\":\"%s\"", s->trust_id,
			  why);
	pthread_mutex_lock(&mu);
	struct entry *e = find(s->trust_id);
	if (e) {
		e->fetching = 0;
		if (rc == 0) {
			int64_t now = now_ms();
			install(e, &ks);
			e->expires_ms = now + max_age * 1000;
			e->refresh_ms = e->expires_ms - KEYSET_REFRESH_AHEAD_MS;
		} else {
			e->why = why;
		}
	}
	inflight--;
	pthread_cond_broadcast(&idle_cv);
	pthread_mutex_unlock(&mu);
	jose_keyset_clear(&ks);
	free(s);
	return NULL;
}

/* Starts a fetch for e when none runs and the limits allow it. Called with mu held. */
static void fetch_maybe(struct entry *e, int64_t now)
{
	if (e->src.jwks_file[0] || e->fetching || atomic_load(&stopping))
		return;
	if (e->last_fetch_ms && now - e->last_fetch_ms < KEYSET_REFETCH_MIN_MS)
		return;
	struct keyset_source *copy = malloc(sizeof *copy);
	if (!copy)
		return;
	*copy = e->src;
	pthread_once(&curl_once, curl_init_once);
	pthread_attr_t at;
	pthread_t t;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, fetch_main, copy) == 0) {
		e->fetching = 1;
		e->last_fetch_ms = now;
		inflight++;
	} else {
		free(copy);
	}
	pthread_attr_destroy(&at);
}

/* Reads a jwks_file when it is not what e holds. Called without mu; returns 0 (file
 * unchanged or read and installed) or -1 with *why. */
static int file_load(const struct keyset_source *src, const char **why)
{
	int fd = open(src->jwks_file, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > KEYSET_BODY_MAX) {
		*why = fd < 0 ? "keyset_file_unreadable" : "keyset_file_not_regular_or_too_large";
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	pthread_mutex_lock(&mu);
	struct entry *e = find(src->trust_id);
	int same = e && e->set && e->dev == st.st_dev && e->ino == st.st_ino && e->size == st.st_size &&
		   e->mtime.tv_sec == st.st_mtim.tv_sec && e->mtime.tv_nsec == st.st_mtim.tv_nsec;
	pthread_mutex_unlock(&mu);
	if (same) {
		close(fd);
		return 0;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	struct jose_keyset ks;
	int rc = buf && got == (size_t)st.st_size ? set_parse(buf, got, &ks) : -1;
	free(buf);
	if (rc < 0) {
		*why = "keyset_malformed";
		goto fail;
	}
	pthread_mutex_lock(&mu);
	if ((e = find(src->trust_id))) {
		install(e, &ks);
		e->dev = st.st_dev;
		e->ino = st.st_ino;
		e->size = st.st_size;
		e->mtime = st.st_mtim;
	}
	pthread_mutex_unlock(&mu);
	jose_keyset_clear(&ks);
	return 0;
fail:
	pthread_mutex_lock(&mu);
	if ((e = find(src->trust_id))) {
		hold_release(e->set);
		e->set = NULL;
		e->why = *why;
	}
	pthread_mutex_unlock(&mu);
	return -1;
}

int keyset_acquire(const struct keyset_source *src, const char *kid, const struct jose_keyset **ks,
		   struct keyset_hold **hold, const char **why)
{
	*ks = NULL;
	*hold = NULL;
	pthread_mutex_lock(&mu);
	struct entry *e = find_or_add(src);
	pthread_mutex_unlock(&mu);
	if (!e) {
		*why = "too_many_trusts";
		return 0;
	}
	if (src->jwks_file[0] && file_load(src, why) < 0)
		return 0;
	int64_t now = now_ms();
	int ok = 0;
	pthread_mutex_lock(&mu);
	if (!(e = find(src->trust_id))) {
		*why = "keyset_pending";
	} else if (!e->set || (!src->jwks_file[0] && now >= e->expires_ms)) {
		*why = e->why ? e->why : e->set ? "keyset_expired" : "keyset_pending";
		fetch_maybe(e, now);
	} else if (kid && !jose_keyset_find(&e->set->ks, kid)) {
		*why = "unknown_kid";
		fetch_maybe(e, now); /* the issuer may have rotated: at most once per KEYSET_REFETCH_MIN_MS */
	} else {
		atomic_fetch_add(&e->set->refs, 1);
		*hold = e->set;
		*ks = &e->set->ks;
		ok = 1;
	}
	pthread_mutex_unlock(&mu);
	return ok;
}

static void entry_free(struct entry *e)
{
	hold_release(e->set);
	free(e);
}

int keyset_refresh(struct db *db)
{
	struct db_stmt *st = db_prep(db, "SELECT id, issuer, coalesce(jwks_uri, ''), coalesce(jwks_file, ''),"
					 " discovery FROM trusts ORDER BY created_at LIMIT 1024");
	if (!st)
		return -1;
	int64_t now = now_ms();
	pthread_mutex_lock(&mu);
	for (int i = 0; i < nentries; i++)
		entries[i]->seen = 0;
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		struct keyset_source s;
		memset(&s, 0, sizeof s);
		db_col_copy(st, 0, s.trust_id, sizeof s.trust_id);
		db_col_copy(st, 1, s.issuer, sizeof s.issuer);
		db_col_copy(st, 2, s.jwks_uri, sizeof s.jwks_uri);
		db_col_copy(st, 3, s.jwks_file, sizeof s.jwks_file);
		s.discovery = (int)db_col_int64(st, 4);
		struct entry *e = find_or_add(&s);
		if (!e)
			continue;
		e->seen = 1;
		if (!e->set || now >= e->refresh_ms)
			fetch_maybe(e, now);
	}
	db_reset(st);
	if (rc == DB_DONE) {
		/* removed trusts: forget their sets (a fetch in flight finds no entry and drops its result) */
		int j = 0;
		for (int i = 0; i < nentries; i++) {
			if (entries[i]->seen)
				entries[j++] = entries[i];
			else
				entry_free(entries[i]);
		}
		nentries = j;
	}
	pthread_mutex_unlock(&mu);
	return rc == DB_DONE ? 0 : -1;
}

void keyset_stop(void)
{
	atomic_store(&stopping, 1);
	pthread_mutex_lock(&mu);
	int64_t until = now_ms() + KEYSET_STOP_WAIT_MS;
	while (inflight > 0 && now_ms() < until) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&idle_cv, &mu, &ts);
	}
	for (int i = 0; i < nentries; i++)
		entry_free(entries[i]);
	nentries = 0;
	pthread_mutex_unlock(&mu);
}
