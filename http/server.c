/* server.c - the server's life: checks its options, opens the listener, starts the
 * worker pool and housekeeping, serves until a stop signal, then drains. */
#include "conn.h"

#include "../common/log.h"
#include "../sched/housekeeping.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* how long a drain waits for in-flight requests: DRAIN_POLLS polls DRAIN_POLL_MS apart */
#define DRAIN_POLL_MS 25
#define DRAIN_POLLS 200

const struct server_opts *srv_opts;
struct warrant *srv_w;
atomic_long srv_inflight;
atomic_int srv_draining;

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

/* Waits for SIGINT or SIGTERM (blocked in every thread); SIGHUP reopens the log file
 * (logrotate moved it). Returns the signal. */
static int wait_for_stop(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	int sig = 0;
	for (;;) {
		sigwait(&set, &sig);
		if (sig != SIGHUP)
			return sig;
		int lr = log_reopen();
		log_event(lr == 0 ? LOG_INFO : LOG_ERROR, "log reopened", ",\"ok\":%s", lr == 0 ? "true" : "false");
	}
}

/* Stops accepting (closing the listening sockets, so new connections are refused rather
 * than reset), answers any new request on open connections with 503, and lets in-flight
 * requests finish: the writer commits their rows before they are answered. */
static void drain(struct listener *l, int sig)
{
	log_event(LOG_INFO, "draining", ",\"signal\":%d,\"in_flight\":%ld", sig, atomic_load(&srv_inflight));
	listener_quiesce(l);
	atomic_store(&srv_draining, 1);
	for (int waited = 0, quiet = 0; quiet < 4 && waited < DRAIN_POLLS; waited++) {
		quiet = atomic_load(&srv_inflight) == 0 ? quiet + 1 : 0;
		usleep(DRAIN_POLL_MS * 1000);
	}
}

int server_run(struct warrant *w, const struct server_opts *o)
{
	char err[256];
	if (server_check(o, err, sizeof err) < 0) {
		fprintf(stderr, "warrant: %s\n", err);
		return -1;
	}
	srv_opts = o;
	srv_w = w;
	struct listener l;
	if (listener_open(&l, o) < 0)
		return -1;
	int rc = -1;
	pool_start();
	if (housekeeping_start(w, server_sweep) < 0) {
		fprintf(stderr, "warrant: cannot start the housekeeping thread\n");
		goto done;
	}
	log_event(LOG_INFO, "listening", ",\"listen\":\"%s\",\"issuer\":\"%s\",\"threads\":%d,\"tls\":%s", o->listen,
		  w->issuer, l.n, l.tls ? "true" : "false");
	log_flush();
	drain(&l, wait_for_stop());
	housekeeping_stop();
	rc = 0;
done:
	pool_stop();
	listener_close(&l);
	return rc;
}
