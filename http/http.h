/* http.h - the thin HTTP layer: a request as handlers see it, responses, and the server.
 *
 * Handlers parse, call one domain function and set the response. A handler that must wait
 * for a durable write calls http_defer(): the connection is suspended (its thread serves
 * others), the writer commits, then finish() sets the response on the writer thread and
 * the connection resumes. Nothing reports success before its write is committed. */
#ifndef WARRANT_HTTP_H
#define WARRANT_HTTP_H
#include "../common/buf.h"
#include "../common/oerr.h"
#include "../core/warrant.h"

#include <stddef.h>

#define HTTP_MAX_BODY_DEFAULT (64 * 1024)   /* bytes of request body; larger is 413 */
#define HTTP_MAX_HEADER_DEFAULT (32 * 1024) /* bytes of request line and headers per conn */
#define HTTP_MAX_CONNECTIONS_DEFAULT 4096   /* open connections in total */
#define HTTP_MAX_PER_IP_DEFAULT 1024        /* open connections per client address */
#define HTTP_TIMEOUT_DEFAULT 15             /* seconds a connection may stay idle */

struct http_resp {
	int status;
	char *body; /* malloc'd, owned; NULL for an empty body */
	size_t len;
	const char *ctype;    /* static; NULL with an empty body */
	int no_store;         /* Cache-Control: no-store, Pragma: no-cache */
	int basic_challenge;  /* WWW-Authenticate: Basic realm="warrant" */
	int bearer_challenge; /* WWW-Authenticate: Bearer realm="warrant" */
	int close;            /* Connection: close */
	long retry_after;
	const char *allow;   /* for 405 */
	const char *cache;   /* a Cache-Control value for cacheable answers, e.g. JWKS */
	char dpop_nonce[24]; /* DPoP-Nonce (RFC 9449 §8) when not empty */
	char *headers;       /* more header lines, "Name: value\n" each; malloc'd, owned (resp_header) */
	char etag[48];       /* ETag when not empty */
};

struct http_req {
	const char *method;
	const char *path;
	const char *body; /* NUL-terminated copy; may contain NUL when hostile */
	size_t body_len;
	const char *content_type;
	const char *authorization;
	size_t authorization_len;
	char client_addr[64];
	char request_id[40];
	char agent_id[64]; /* set by handlers once a client is known: logged */
	char cache_buf[48];
	struct warrant *w;
	struct http_resp resp;
	struct {
		const char *name, *value; /* MHD's copies, valid for the request */
	} query[16];
	int nquery;
	/* async: */
	void *state;
	void (*state_free)(void *state);
	void (*finish)(struct http_req *r, int rc);
	struct wjob job;
	void *glue; /* the server's connection record */
};

enum hres { H_DONE = 0, H_ASYNC = 1 };
typedef enum hres (*handler_fn)(struct http_req *r);

/* Suspends r until fn(arg) is committed by the writer, then calls finish(r, rc). */
enum hres http_defer(struct http_req *r, wjob_fn fn, void *arg, void (*finish)(struct http_req *r, int rc));
/* The same for a job that writes at most one row (no savepoint needed). */
enum hres http_defer_single(struct http_req *r, wjob_fn fn, void *arg, void (*finish)(struct http_req *r, int rc));

/* Runs work(r) on a worker thread (for slow work such as password hashing, which must
 * not hold up a polling thread); the connection resumes when it returns. */
enum hres http_offload(struct http_req *r, void (*work)(struct http_req *r));
/* A query parameter of the request URL, or NULL. */
const char *req_query(const struct http_req *r, const char *name);
/* A request header (the first of that name), or NULL; valid for the request. */
const char *req_header(const struct http_req *r, const char *name);
/* Adds a header line to r's response (after its body is set: resp_json and friends start a
 * new response). Name and value must hold no CR or LF. 0, or -1 out of memory. */
int resp_header(struct http_req *r, const char *name, const char *value);

/* Response helpers: each replaces r->resp. b is consumed. */
void resp_json(struct http_req *r, int status, struct buf *b);
void resp_json_str(struct http_req *r, int status, const char *json);
/* RFC 6749 §5.2 error body: {"error","error_description"}, no-store. */
/* Every 503 tells the client when to retry (seconds), unless the error names its own. */
#define RESP_RETRY_AFTER_S 1
/* An error answer; a 500 while the database is unreachable (db_unavailable) becomes 503
 * temporarily_unavailable. */
void resp_error(struct http_req *r, const struct oerr *e);
void resp_error_simple(struct http_req *r, int status, const char *code, const char *desc);
/* Adds a header to the response set so far (name and value from the server, never raw
 * client bytes with line breaks: those are refused). 0, or -1 out of memory or refused. */
int resp_header(struct http_req *r, const char *name, const char *value);
/* Content-Type is application/x-www-form-urlencoded (parameters allowed). */
int req_is_form(const struct http_req *r);

/* Handlers (routes.c and friends). */
enum hres h_token(struct http_req *r);
enum hres h_discovery(struct http_req *r);
enum hres h_introspect(struct http_req *r);
enum hres h_revoke(struct http_req *r);
enum hres h_v1(struct http_req *r);
enum hres h_bc_authorize(struct http_req *r);
enum hres h_authorize(struct http_req *r);
enum hres h_metrics(struct http_req *r);
enum hres h_jwks(struct http_req *r);
enum hres h_healthz(struct http_req *r);
enum hres h_readyz(struct http_req *r);
enum hres h_console(struct http_req *r);
enum hres h_access_evaluation(struct http_req *r);
enum hres h_access_evaluations(struct http_req *r);
enum hres h_authzen_configuration(struct http_req *r);
enum hres h_check(struct http_req *r);
enum hres h_statuslist(struct http_req *r);
enum hres h_audit_checkpoints(struct http_req *r);
/* The bearer token /metrics asks for (NULL: loopback clients only). */
void metrics_set_token(const char *t);
/* Builds the discovery document once at start. */
int discovery_init(const struct warrant *w);

struct server_opts {
	char listen[128]; /* "127.0.0.1:8080" or "[::1]:8080" */
	int threads;      /* daemons sharing the port; 0 = one per core */
	size_t max_body;
	size_t max_header;
	unsigned max_connections;
	unsigned max_per_ip;
	unsigned timeout;
	int insecure_http; /* allow plain HTTP on a non-loopback address */
	const char *tls_cert, *tls_key;
	const char *metrics_token; /* NULL: /metrics for loopback clients only */
};

void server_opts_default(struct server_opts *o);

#define WORKER_THREADS 2 /* threads for offloaded work (owners' logins) */
/* Cuts off connections that have not delivered a complete request within the timeout
 * (called by the housekeeping thread); and how many were cut so far. */
void server_sweep(void);
long server_swept(void);
/* Checks what server_run would refuse at start (listen address, plain HTTP off
 * loopback). 0, or -1 with a message. */
int server_check(const struct server_opts *o, char *err, size_t errlen);
/* Serves until SIGINT or SIGTERM; returns 0 after a clean drain, -1 when it cannot start
 * (message on stderr). */
int server_run(struct warrant *w, const struct server_opts *o);
#endif
