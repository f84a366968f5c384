/* sweep.c - connection sweeping: cuts off a connection that takes longer than --timeout
 * to deliver a request, even while it trickles bytes (MHD's own timeout only counts
 * silence).
 *
 * Every open connection has a record here. A record leaves the list in the CLOSED
 * notification, which MHD sends before it closes the socket, so a swept descriptor is
 * always still the connection's own. */
#include "conn.h"

#include "../common/timeutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>

struct sock_rec {
	struct sock_rec *prev, *next;
	int fd;
	int busy; /* a complete request is being handled: not the client's fault */
	int cut;
	int64_t since; /* connection start, or the end of its previous request */
};
static struct sock_rec socks = {&socks, &socks, -1, 0, 0, 0};
static pthread_mutex_t socks_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_long swept;

static void sock_add(struct MHD_Connection *mc, void **socket_ctx)
{
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
}

void sweep_notify(void *cls, struct MHD_Connection *mc, void **socket_ctx, enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		sock_add(mc, socket_ctx);
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

void sweep_busy(struct MHD_Connection *mc, int busy)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct sock_rec *r = ci ? ci->socket_context : NULL;
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
	if (!srv_opts)
		return;
	int64_t limit = now_ms() - (int64_t)srv_opts->timeout * 1000;
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
