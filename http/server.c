/* server.c - libmicrohttpd glue: daemons, limits, body collection, routing, suspension.
 *
 * One daemon per core shares the port through SO_REUSEPORT, so keep-alive connections
 * spread over the cores instead of piling onto one polling thread. Each daemon runs its
 * handlers on its own thread; handlers never block on a disk write: they suspend. */
#include "http.h"

#include "../common/rand.h"
#include "../common/timeutil.h"
#include "maint.h"
#include "metrics.h"

#include "../common/log.h"

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_DAEMONS 64

struct route {
	const char *path;
	const char *method; /* NULL: the handler checks methods itself */
	handler_fn fn;
	int prefix;         /* path is a prefix */
};

static const struct route routes[] = {
	{"/token", "POST", h_token, 0},
	{"/introspect", "POST", h_introspect, 0},
	{"/revoke", "POST", h_revoke, 0},
	{"/bc-authorize", "POST", h_bc_authorize, 0},
	{"/authorize", NULL, h_authorize, 0},
	{"/.well-known/oauth-authorization-server", "GET", h_discovery, 0},
	{"/.well-known/openid-configuration", "GET", h_discovery, 0},
	{"/jwks", "GET", h_jwks, 0},
	{"/healthz", "GET", h_healthz, 0},
	{"/readyz", "GET", h_readyz, 0},
	{"/metrics", "GET", h_metrics, 0},
	{"/v1/", NULL, h_v1, 1},
};

struct conn;
struct pool_item {
	void (*work)(struct http_req *r);
	struct conn *next;
};

struct conn {
	struct http_req req;
	struct MHD_Connection *mc;
	struct buf body;
	const struct route *route;
	int responded;   /* a response was queued (early errors) */
	int handled;     /* the handler ran */
	int too_large;
	int64_t start_ns;
	atomic_int ready;
	struct pool_item pool;
};

/* Every open connection, so that one which takes longer than the timeout to deliver a
 * request can be cut off even while it trickles bytes (MHD's own timeout only counts
 * silence). A record leaves the list in the CLOSED notification, which MHD sends before
 * it closes the socket, so a swept descriptor is always still the connection's own. */
struct sock_rec {
	struct sock_rec *prev, *next;
	int fd;
	int busy;        /* a complete request is being handled: not the client's fault */
	int cut;
	int64_t since;   /* connection start, or the end of its previous request */
};
static struct sock_rec socks = {&socks, &socks, -1, 0, 0, 0};
static pthread_mutex_t socks_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_long swept;

static const struct server_opts *opts;
static void sock_busy(struct MHD_Connection *mc, int busy);
static struct warrant *srv_w;
static atomic_long inflight;
static atomic_int draining; /* shutting down: new requests get 503 at once */

void server_opts_default(struct server_opts *o)
{
	memset(o, 0, sizeof *o);
	snprintf(o->listen, sizeof o->listen, "127.0.0.1:8080");
	o->max_body = HTTP_MAX_BODY_DEFAULT;
	o->max_header = HTTP_MAX_HEADER_DEFAULT;
	o->max_connections = HTTP_MAX_CONNECTIONS_DEFAULT;
	o->max_per_ip = HTTP_MAX_PER_IP_DEFAULT;
	o->timeout = HTTP_TIMEOUT_DEFAULT;
}

/* ---- responses ---- */

static void resp_clear(struct http_resp *p)
{
	free(p->body);
	memset(p, 0, sizeof *p);
}

void resp_json(struct http_req *r, int status, struct buf *b)
{
	resp_clear(&r->resp);
	if (b->failed) {
		buf_free(b);
		resp_error_simple(r, 500, "server_error", "response too large");
		return;
	}
	r->resp.status = status;
	r->resp.body = buf_steal(b, &r->resp.len);
	r->resp.ctype = "application/json";
}

void resp_json_str(struct http_req *r, int status, const char *json)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	buf_puts(&b, json);
	resp_json(r, status, &b);
}

void resp_error(struct http_req *r, const struct oerr *e)
{
	/* RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E; descriptions may
	 * quote client input, so anything else becomes '?' */
	char desc[sizeof e->desc];
	size_t i = 0;
	for (; e->desc[i] && i < sizeof desc - 1; i++) {
		unsigned char ch = (unsigned char)e->desc[i];
		desc[i] = ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\' ? '?' : (char)ch;
	}
	desc[i] = '\0';
	struct buf b;
	buf_init(&b, 4096);
	buf_puts(&b, "{\"error\":");
	buf_json_cstr(&b, e->code);
	buf_puts(&b, ",\"error_description\":");
	buf_json_cstr(&b, desc);
	buf_puts(&b, "}");
	resp_json(r, e->status, &b);
	r->resp.no_store = 1;
	r->resp.basic_challenge = e->basic_challenge;
	r->resp.retry_after = e->retry_after;
}

void resp_error_simple(struct http_req *r, int status, const char *code, const char *desc)
{
	struct oerr e;
	memset(&e, 0, sizeof e);
	oerr_set(&e, status, code, "%s", desc);
	resp_error(r, &e);
}

int req_is_form(const struct http_req *r)
{
	static const char ct[] = "application/x-www-form-urlencoded";
	if (!r->content_type || strncasecmp(r->content_type, ct, sizeof ct - 1) != 0)
		return 0;
	char next = r->content_type[sizeof ct - 1];
	return next == '\0' || next == ';' || next == ' ';
}

static enum MHD_Result queue(struct conn *c)
{
	struct http_resp *p = &c->req.resp;
	struct MHD_Response *mr = p->body
		? MHD_create_response_from_buffer(p->len, p->body, MHD_RESPMEM_MUST_FREE)
		: MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!mr)
		return MHD_NO;
	p->body = NULL; /* MHD owns it now */
	if (p->ctype)
		MHD_add_response_header(mr, "Content-Type", p->ctype);
	if (p->no_store) {
		MHD_add_response_header(mr, "Cache-Control", "no-store");
		MHD_add_response_header(mr, "Pragma", "no-cache");
	} else if (p->cache) {
		MHD_add_response_header(mr, "Cache-Control", p->cache);
	}
	if (p->basic_challenge)
		MHD_add_response_header(mr, "WWW-Authenticate", "Basic realm=\"warrant\"");
	if (p->bearer_challenge)
		MHD_add_response_header(mr, "WWW-Authenticate", "Bearer realm=\"warrant\"");
	if (p->retry_after > 0) {
		char ra[24];
		snprintf(ra, sizeof ra, "%ld", p->retry_after);
		MHD_add_response_header(mr, "Retry-After", ra);
	}
	if (p->allow)
		MHD_add_response_header(mr, "Allow", p->allow);
	MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
	if (p->close)
		MHD_add_response_header(mr, "Connection", "close");
	MHD_add_response_header(mr, "X-Request-Id", c->req.request_id);
	enum MHD_Result rc = MHD_queue_response(c->mc, (unsigned)(p->status ? p->status : 500), mr);
	MHD_destroy_response(mr);
	c->responded = 1;
	return rc;
}

/* ---- async ---- */

static void defer_done(struct wjob *job, int rc)
{
	struct conn *c = (struct conn *)((char *)job - offsetof(struct conn, req.job));
	c->req.finish(&c->req, rc);
	atomic_store(&c->ready, 1);
	MHD_resume_connection(c->mc);
}

static enum hres defer(struct http_req *r, wjob_fn fn, void *arg, void (*finish)(struct http_req *r, int rc),
			int single)
{
	struct conn *c = r->glue;
	r->finish = finish;
	r->job.fn = fn;
	r->job.arg = arg;
	r->job.done = defer_done;
	r->job.single = single;
	MHD_suspend_connection(c->mc);
	if (writer_submit(r->w->writer, &r->job) < 0) {
		/* shutting down: answer at once */
		MHD_resume_connection(c->mc);
		finish(r, -1);
		atomic_store(&c->ready, 1);
	}
	return H_ASYNC;
}

enum hres http_defer(struct http_req *r, wjob_fn fn, void *arg, void (*finish)(struct http_req *r, int rc))
{
	return defer(r, fn, arg, finish, 0);
}

enum hres http_defer_single(struct http_req *r, wjob_fn fn, void *arg,
			    void (*finish)(struct http_req *r, int rc))
{
	return defer(r, fn, arg, finish, 1);
}

/* ---- offloaded work ---- */

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static struct conn *pool_head, *pool_tail;
static int pool_stop;
static pthread_t pool_threads[WORKER_THREADS];
static int pool_started;

static void *pool_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool_mu);
	for (;;) {
		while (!pool_head && !pool_stop)
			pthread_cond_wait(&pool_cv, &pool_mu);
		if (!pool_head)
			break;
		struct conn *c = pool_head;
		pool_head = c->pool.next;
		if (!pool_head)
			pool_tail = NULL;
		pthread_mutex_unlock(&pool_mu);
		c->pool.work(&c->req);
		atomic_store(&c->ready, 1);
		MHD_resume_connection(c->mc);
		pthread_mutex_lock(&pool_mu);
	}
	pthread_mutex_unlock(&pool_mu);
	return NULL;
}

enum hres http_offload(struct http_req *r, void (*work)(struct http_req *r))
{
	struct conn *c = r->glue;
	c->pool.work = work;
	c->pool.next = NULL;
	MHD_suspend_connection(c->mc);
	pthread_mutex_lock(&pool_mu);
	if (pool_tail)
		pool_tail->pool.next = c;
	else
		pool_head = c;
	pool_tail = c;
	pthread_cond_signal(&pool_cv);
	pthread_mutex_unlock(&pool_mu);
	return H_ASYNC;
}

const char *req_query(const struct http_req *r, const char *name)
{
	for (int i = 0; i < r->nquery; i++)
		if (strcmp(r->query[i].name, name) == 0)
			return r->query[i].value;
	return NULL;
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct http_req *r = cls;
	if (r->nquery < (int)(sizeof r->query / sizeof r->query[0])) {
		r->query[r->nquery].name = key;
		r->query[r->nquery].value = value ? value : "";
		r->nquery++;
	}
	return MHD_YES;
}

/* ---- request handling ---- */

static void request_id(char out[40])
{
	static _Thread_local unsigned long long ctr;
	static _Thread_local char prefix[17];
	if (!prefix[0]) {
		unsigned char r[8];
		rand_bytes(r, sizeof r);
		for (int i = 0; i < 8; i++)
			snprintf(prefix + 2 * i, 3, "%02x", r[i]);
	}
	snprintf(out, 40, "%s%08llx", prefix, ++ctr);
}

static void client_addr(struct MHD_Connection *mc, char out[64])
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	out[0] = '\0';
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, 64);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, 64);
}

static const struct route *find_route(const char *url, const char *method, const char **allow)
{
	*allow = NULL;
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		if (routes[i].prefix ? strncmp(routes[i].path, url, strlen(routes[i].path)) != 0
				     : strcmp(routes[i].path, url) != 0)
			continue;
		if (!routes[i].method)
			return &routes[i];
		if (strcmp(routes[i].method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0))
			return &routes[i];
		*allow = routes[i].method;
	}
	return NULL;
}

struct header_scan {
	int content_length, transfer_encoding, nul;
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
				   const char *value, size_t value_size)
{
	(void)kind;
	struct header_scan *hs = cls;
	if (key_size == 14 && strncasecmp(key, "Content-Length", 14) == 0)
		hs->content_length++;
	if (key_size == 17 && strncasecmp(key, "Transfer-Encoding", 17) == 0)
		hs->transfer_encoding++;
	if ((value && strlen(value) != value_size) || strlen(key) != key_size)
		hs->nul = 1;
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	(void)cls;
	(void)version;
	struct conn *c = *con_cls;
	if (!c) {
		c = calloc(1, sizeof *c);
		if (!c)
			return MHD_NO;
		*con_cls = c;
		atomic_fetch_add(&inflight, 1);
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		c->start_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		c->mc = mc;
		c->req.w = srv_w;
		c->req.glue = c;
		c->req.method = method;
		c->req.path = url;
		request_id(c->req.request_id);
		client_addr(mc, c->req.client_addr);
		buf_init(&c->body, opts->max_body);
		const char *allow;
		c->route = find_route(url, method, &allow);
		if (!c->route) {
			if (allow) {
				resp_error_simple(&c->req, 405, "invalid_request", "method not allowed");
				c->req.resp.allow = allow;
			} else {
				resp_error_simple(&c->req, 404, "not_found", "no such endpoint");
			}
			return queue(c);
		}
		/* RFC 9112 §6.3 and RFC 9110 §5.5: ambiguous framing or a NUL in a header is a
		 * bad request, answered and the connection closed (no request smuggling) */
		struct header_scan hs = {0, 0, 0};
		MHD_get_connection_values_n(mc, MHD_HEADER_KIND, scan_header, &hs);
		if (hs.content_length > 1 || (hs.content_length && hs.transfer_encoding) || hs.nul) {
			resp_error_simple(&c->req, 400, "invalid_request",
					  hs.nul ? "a header holds a NUL byte" : "conflicting message framing");
			c->req.resp.close = 1;
			return queue(c);
		}
		const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
		if (cl) {
			int64_t n;
			if (parse_i64(cl, 0, INT64_MAX, &n) < 0 || (uint64_t)n > opts->max_body) {
				resp_error_simple(&c->req, 413, "invalid_request", "request body too large");
				return queue(c);
			}
		}
		return MHD_YES;
	}
	if (c->responded)
		return MHD_YES; /* an early answer is queued; the rest of the body is discarded */
	if (*upload_size) {
		if (buf_put(&c->body, upload, *upload_size) < 0)
			c->too_large = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	if (c->handled) {
		if (!atomic_load(&c->ready))
			return MHD_YES;
		return queue(c);
	}
	c->handled = 1;
	sock_busy(mc, 1);
	if (atomic_load(&draining)) {
		resp_error_simple(&c->req, 503, "temporarily_unavailable", "shutting down");
		c->req.resp.retry_after = 1;
		return queue(c);
	}
	if (c->too_large) {
		resp_error_simple(&c->req, 413, "invalid_request", "request body too large");
		return queue(c);
	}
	if (buf_put(&c->body, "", 0) < 0) { /* NUL-terminated, even when empty */
		resp_error_simple(&c->req, 500, "server_error", "out of memory");
		return queue(c);
	}
	MHD_get_connection_values(mc, MHD_GET_ARGUMENT_KIND, collect_query, &c->req);
	c->req.body = c->body.p;
	c->req.body_len = c->body.len;
	c->req.content_type = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Type");
	const char *az = NULL;
	size_t azl = 0;
	if (MHD_lookup_connection_value_n(mc, MHD_HEADER_KIND, "Authorization", 13, &az, &azl) == MHD_YES) {
		c->req.authorization = az;
		c->req.authorization_len = azl;
	}
	if (c->route->fn(&c->req) == H_ASYNC)
		return MHD_YES;
	return queue(c);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)toe;
	struct conn *c = *con_cls;
	if (!c)
		return;
	sock_busy(mc, 0);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - c->start_ns;
	const char *route = c->route ? c->route->path : "other";
	int status = c->responded ? c->req.resp.status : 0;
	metrics_observe(route, status, ns);
	if (log_enabled(LOG_INFO)) {
		/* the method is the client's: only a token of letters goes in, anything else is "?" */
		char method[16] = "?";
		const char *m = c->req.method;
		size_t ml = m ? strlen(m) : 0;
		int ok = ml > 0 && ml < sizeof method;
		for (size_t i = 0; ok && i < ml; i++)
			ok = (m[i] >= 'A' && m[i] <= 'Z') || (m[i] >= 'a' && m[i] <= 'z');
		if (ok)
			memcpy(method, m, ml + 1);
		log_event(LOG_INFO, "request",
			  ",\"method\":\"%s\",\"route\":\"%s\",\"status\":%d,\"latency_ms\":%.3f,\"client_addr\":\"%s\","
			  "\"agent_id\":\"%s\",\"request_id\":\"%s\"%s",
			  method, route, status, (double)ns / 1e6,
			  c->req.client_addr, c->req.agent_id, c->req.request_id,
			  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : ",\"aborted\":true");
	}
	if (c->req.state_free)
		c->req.state_free(c->req.state);
	resp_clear(&c->req.resp);
	buf_free(&c->body);
	free(c);
	*con_cls = NULL;
	atomic_fetch_sub(&inflight, 1);
}

/* ---- slow clients ---- */

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		struct sock_rec *r = calloc(1, sizeof *r);
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!r || !ci) {
			free(r);
			return;
		}
		r->fd = ci->connect_fd;
		r->since = now_ms();
		pthread_mutex_lock(&socks_mu);
		r->next = socks.next;
		r->prev = &socks;
		socks.next->prev = r;
		socks.next = r;
		pthread_mutex_unlock(&socks_mu);
		*socket_ctx = r;
	} else if (*socket_ctx) {
		struct sock_rec *r = *socket_ctx;
		pthread_mutex_lock(&socks_mu);
		r->prev->next = r->next;
		r->next->prev = r->prev;
		pthread_mutex_unlock(&socks_mu);
		free(r);
		*socket_ctx = NULL;
	}
}

static struct sock_rec *sock_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static void sock_busy(struct MHD_Connection *mc, int busy)
{
	struct sock_rec *r = sock_of(mc);
	if (!r)
		return;
	pthread_mutex_lock(&socks_mu);
	r->busy = busy;
	if (!busy)
		r->since = now_ms();
	pthread_mutex_unlock(&socks_mu);
}

void server_sweep(void)
{
	if (!opts)
		return;
	int64_t limit = now_ms() - (int64_t)opts->timeout * 1000;
	pthread_mutex_lock(&socks_mu);
	for (struct sock_rec *r = socks.next; r != &socks; r = r->next)
		if (!r->busy && !r->cut && r->since < limit) {
			shutdown(r->fd, SHUT_RDWR); /* MHD sees the end and closes it */
			r->cut = 1;
			atomic_fetch_add(&swept, 1);
		}
	pthread_mutex_unlock(&socks_mu);
}

long server_swept(void) { return atomic_load(&swept); }

/* ---- listening ---- */

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, int *loopback)
{
	char host[96];
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || (size_t)(colon - s) >= sizeof host)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	int64_t port;
	if (parse_i64(colon + 1, 1, 65535, &port) < 0)
		return -1;
	memset(ss, 0, sizeof *ss);
	if (host[0] == '[') {
		size_t hl = strlen(host);
		if (hl < 3 || host[hl - 1] != ']')
			return -1;
		host[hl - 1] = '\0';
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return -1;
		*loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
		*len = sizeof *a;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (strcmp(host, "localhost") == 0)
			snprintf(host, sizeof host, "127.0.0.1");
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -1;
		*loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
		*len = sizeof *a;
	}
	return 0;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct buf b;
	buf_init(&b, 1 << 20);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_put(&b, chunk, n);
	fclose(f);
	return buf_steal(&b, NULL);
}

/* A PEM certificate and private key that parse and belong together. 0, or -1 with why. */
static int tls_pair_check(const char *cert_pem, const char *key_pem, char *why, size_t n)
{
	BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
	X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	int rc = -1;
	if (!x)
		snprintf(why, n, "--tls-cert is not a PEM certificate");
	else if (!k)
		snprintf(why, n, "--tls-key is not a PEM private key (unencrypted)");
	else if (X509_check_private_key(x, k) != 1)
		snprintf(why, n, "--tls-key does not belong to the certificate in --tls-cert");
	else
		rc = 0;
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	return rc;
}

int server_check(const struct server_opts *o, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int loopback = 0;
	if (parse_listen(o->listen, &ss, &sl, &loopback) < 0) {
		snprintf(err, errlen, "bad --listen '%s' (want HOST:PORT, e.g. 127.0.0.1:8080)", o->listen);
		return -1;
	}
	if (!loopback && !(o->tls_cert && o->tls_key) && !o->insecure_http) {
		snprintf(err, errlen, "refusing plain HTTP on non-loopback %s: give --tls-cert and --tls-key, or "
				      "--insecure-http", o->listen);
		return -1;
	}
	return 0;
}

int server_run(struct warrant *w, const struct server_opts *o)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int loopback = 0;
	struct MHD_Daemon *d[MAX_DAEMONS] = {0};
	char *cert = NULL, *key = NULL;
	int nd = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	int rc = -1;
	if (nd < 1)
		nd = 1;
	if (nd > MAX_DAEMONS)
		nd = MAX_DAEMONS;
	opts = o;
	srv_w = w;
	if (parse_listen(o->listen, &ss, &sl, &loopback) < 0) {
		fprintf(stderr, "warrant: bad --listen '%s' (want HOST:PORT, e.g. 127.0.0.1:8080)\n", o->listen);
		return -1;
	}
	int tls = o->tls_cert && o->tls_key;
	if (!loopback && !tls && !o->insecure_http) {
		fprintf(stderr, "warrant: refusing plain HTTP on non-loopback %s: give --tls-cert and "
				"--tls-key, or --insecure-http\n", o->listen);
		return -1;
	}
	if (tls) {
		cert = read_file(o->tls_cert);
		key = read_file(o->tls_key);
		if (!cert || !key) {
			fprintf(stderr, "warrant: cannot read TLS certificate or key\n");
			goto done;
		}
		char why[160];
		if (tls_pair_check(cert, key, why, sizeof why) < 0) {
			fprintf(stderr, "warrant: %s\n", why);
			goto done;
		}
	}
	unsigned per_daemon = o->max_connections / (unsigned)nd;
	if (per_daemon < 1)
		per_daemon = 1;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_TURBO | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) |
			 (tls ? MHD_USE_TLS : 0);
	for (int i = 0; i < nd; i++) {
		/* RFC 8996: TLS 1.2 and 1.3 only */
		static const char prio[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
		struct MHD_OptionItem tls_opts[] = {
			{tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
			{tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, key},
			{tls ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_END, 0, (void *)prio},
			{MHD_OPTION_END, 0, NULL},
		};
		d[i] = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
					MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
					MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
					MHD_OPTION_CONNECTION_LIMIT, per_daemon,
					MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_per_ip,
					MHD_OPTION_CONNECTION_TIMEOUT, o->timeout,
					MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->max_header,
					MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
					MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
					MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
					MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
					MHD_OPTION_ARRAY, tls_opts,
					MHD_OPTION_END);
		if (!d[i]) {
			fprintf(stderr, "warrant: cannot listen on %s: %s\n", o->listen, strerror(errno));
			goto done;
		}
	}
	for (int i = 0; i < WORKER_THREADS; i++)
		if (pthread_create(&pool_threads[i], NULL, pool_main, NULL) == 0)
			pool_started++;
	if (maint_start(w) < 0) {
		fprintf(stderr, "warrant: cannot start the maintenance thread\n");
		goto done;
	}
	log_event(LOG_INFO, "listening", ",\"listen\":\"%s\",\"issuer\":\"%s\",\"threads\":%d,\"tls\":%s", o->listen,
		  w->issuer, nd, tls ? "true" : "false");
	log_flush();
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	int sig = 0;
	for (;;) {
		sigwait(&set, &sig);
		if (sig != SIGHUP)
			break;
		/* logrotate moved the file: write to a new one */
		int lr = log_reopen();
		log_event(lr == 0 ? LOG_INFO : LOG_ERROR, "log reopened", ",\"ok\":%s", lr == 0 ? "true" : "false");
	}
	log_event(LOG_INFO, "draining", ",\"signal\":%d,\"in_flight\":%ld", sig, atomic_load(&inflight));
	/* stop accepting (closing the listening sockets, so new connections are refused
	 * rather than reset), answer any new request on open connections with 503, and let
	 * in-flight requests finish: the writer commits their rows before they are answered */
	for (int i = 0; i < nd; i++)
		if (d[i]) {
			MHD_socket ls = MHD_quiesce_daemon(d[i]);
			if (ls != MHD_INVALID_SOCKET)
				close(ls);
		}
	atomic_store(&draining, 1);
	for (int waited = 0, quiet = 0; quiet < 4 && waited < 200; waited++) {
		quiet = atomic_load(&inflight) == 0 ? quiet + 1 : 0;
		usleep(25 * 1000);
	}
	maint_stop();
	rc = 0;
done:
	pthread_mutex_lock(&pool_mu);
	pool_stop = 1;
	pthread_cond_broadcast(&pool_cv);
	pthread_mutex_unlock(&pool_mu);
	for (int i = 0; i < pool_started; i++)
		pthread_join(pool_threads[i], NULL);
	for (int i = 0; i < nd; i++)
		if (d[i])
			MHD_stop_daemon(d[i]);
	free(cert);
	free(key);
	return rc;
}
