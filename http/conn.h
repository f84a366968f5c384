/* conn.h - what the files of the server share among themselves (not with handlers): the
 * record of a request in flight, the server-wide state, and the steps each file provides.
 *
 * intake.c takes requests in, framing.c refuses ambiguous ones, respond.c builds and
 * queues answers, defer.c suspends requests for the writer or the worker pool, sweep.c
 * cuts off slow connections, listen.c opens the listening daemons, server.c runs it all. */
#ifndef WARRANT_HTTP_CONN_H
#define WARRANT_HTTP_CONN_H
#include "http.h"

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdint.h>

struct conn;

struct route {
	const char *path;
	const char *method; /* NULL: the handler checks methods itself */
	handler_fn fn;
	int prefix; /* path is a prefix */
};

struct pool_item {
	void (*work)(struct http_req *r);
	struct conn *next;
};

/* What framing.c learned from a request's header section, and checks as its body arrives. */
struct framing {
	int chunked;            /* Transfer-Encoding: chunked (the connection closes after it) */
	const char *body_start; /* where libmicrohttpd keeps the body, just past the header section */
	int status;             /* when refused: 400 or 501 */
	const char *why;        /* when refused: a static description */
};

struct conn {
	struct http_req req;
	struct MHD_Connection *mc;
	struct buf body;
	const struct route *route;
	struct framing framing;
	int responded; /* a response was queued (early errors) */
	int handled;   /* the handler ran */
	int too_large;
	int bad_chunk; /* a chunk line was malformed: refused once the body is in */
	int64_t start_ns;
	atomic_int ready;
	struct pool_item pool;
};

/* Server-wide state, set by server_run before the daemons start. */
extern const struct server_opts *srv_opts;
extern struct warrant *srv_w;
extern atomic_long srv_inflight;
extern atomic_int srv_draining; /* shutting down: new requests get 503 at once */

/* intake.c: libmicrohttpd's request and completion callbacks. */
enum MHD_Result intake_request(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
			       const char *version, const char *upload, size_t *upload_size, void **con_cls);
void intake_completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode toe);

/* framing.c: 0 acceptable; -1 refused with f->status and f->why (answer, then close). */
int framing_check_headers(struct MHD_Connection *mc, const char *method, const char *version, struct framing *f);
/* upload: a piece of chunked body as MHD hands it over; window: the connection's memory
 * limit (--max-header), beyond which nothing before upload is looked at. */
int framing_check_chunk(const struct framing *f, const char *upload, size_t window);

/* respond.c: queues c's response (r->resp); MHD_NO when it cannot. */
enum MHD_Result respond_queue(struct conn *c);
/* Frees a response's body and clears it. */
void resp_free(struct http_resp *p);

/* defer.c: the worker pool for http_offload(). start returns how many threads started. */
int pool_start(void);
void pool_stop(void);

/* sweep.c: the connection notification callback, and marking a connection busy (a
 * complete request is being handled) or idle again. */
void sweep_notify(void *cls, struct MHD_Connection *mc, void **socket_ctx, enum MHD_ConnectionNotificationCode code);
void sweep_busy(struct MHD_Connection *mc, int busy);

/* listen.c: the daemons sharing the listening address. */
#define MAX_DAEMONS 64
struct listener {
	struct MHD_Daemon *d[MAX_DAEMONS];
	int n;
	int tls;
	char *cert, *key; /* PEM, owned */
};
/* Opens o->threads daemons (one per core when 0) on o->listen; 0, or -1 with a message on
 * stderr (l is then closed). */
int listener_open(struct listener *l, const struct server_opts *o);
/* Stops accepting: closes the listening sockets (new connections are refused, not reset). */
void listener_quiesce(struct listener *l);
/* Stops the daemons (open connections are closed) and frees l's memory. */
void listener_close(struct listener *l);
#endif
