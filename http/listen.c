/* listen.c - listener setup: --listen parsing, the plain-HTTP rule, TLS certificate
 * checks, and the libmicrohttpd daemons that share the port.
 *
 * One daemon per core shares the port through SO_REUSEPORT, so keep-alive connections
 * spread over the cores instead of piling onto one polling thread. Each daemon runs its
 * handlers on its own thread; handlers never block on a disk write: they suspend. */
#include "conn.h"

#include "../common/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024 /* connections the kernel queues before they are accepted */

static int parse_host6(char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len, int *loopback)
{
	size_t hl = strlen(host);
	if (hl < 3 || host[hl - 1] != ']')
		return -1;
	host[hl - 1] = '\0';
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
		return -1;
	*loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
	*len = sizeof *a;
	return 0;
}

/* "HOST:PORT" or "[V6]:PORT" into ss; *loopback says whether it is a loopback address. */
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
	if (host[0] == '[')
		return parse_host6(host, (uint16_t)port, ss, len, loopback);
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return -1;
	*loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	*len = sizeof *a;
	return 0;
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
		snprintf(err, errlen,
			 "refusing plain HTTP on non-loopback %s: give --tls-cert and --tls-key, or "
			 "--insecure-http",
			 o->listen);
		return -1;
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

/* Reads and checks the certificate and key into l; 0, or -1 with a message on stderr. */
static int tls_load(struct listener *l, const struct server_opts *o)
{
	l->cert = read_file(o->tls_cert);
	l->key = read_file(o->tls_key);
	if (!l->cert || !l->key) {
		fprintf(stderr, "warrant: cannot read TLS certificate or key\n");
		return -1;
	}
	char why[160];
	if (tls_pair_check(l->cert, l->key, why, sizeof why) < 0) {
		fprintf(stderr, "warrant: %s\n", why);
		return -1;
	}
	return 0;
}

static struct MHD_Daemon *daemon_start(const struct listener *l, const struct server_opts *o,
				       const struct sockaddr_storage *ss, unsigned per_daemon)
{
	/* RFC 8996: TLS 1.2 and 1.3 only */
	static const char prio[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
			 (ss->ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) | (l->tls ? MHD_USE_TLS : 0);
	struct MHD_OptionItem tls_opts[] = {
		{l->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, l->cert},
		{l->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, l->key},
		{l->tls ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_END, 0, (void *)prio},
		{MHD_OPTION_END, 0, NULL},
	};
	/* STRICT_FOR_CLIENT 1: a request without Host, or with spaces in its URL, is refused
	 * by MHD itself; framing.c refuses what MHD lets through (docs/security.md) */
	return MHD_start_daemon(flags, 0, NULL, NULL, intake_request, NULL, MHD_OPTION_SOCK_ADDR,
				(const struct sockaddr *)ss, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
				MHD_OPTION_CONNECTION_LIMIT, per_daemon, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				o->max_per_ip, MHD_OPTION_CONNECTION_TIMEOUT, o->timeout,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->max_header, MHD_OPTION_NOTIFY_COMPLETED,
				intake_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION, sweep_notify, NULL,
				MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)LISTEN_BACKLOG, MHD_OPTION_STRICT_FOR_CLIENT,
				(int)1, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
}

int listener_open(struct listener *l, const struct server_opts *o)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int loopback = 0;
	memset(l, 0, sizeof *l);
	/* server_check has passed: the address parses */
	if (parse_listen(o->listen, &ss, &sl, &loopback) < 0)
		return -1;
	l->tls = o->tls_cert && o->tls_key;
	if (l->tls && tls_load(l, o) < 0)
		goto fail;
	int nd = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	nd = nd < 1 ? 1 : nd > MAX_DAEMONS ? MAX_DAEMONS : nd;
	unsigned per_daemon = o->max_connections / (unsigned)nd;
	if (per_daemon < 1)
		per_daemon = 1;
	for (l->n = 0; l->n < nd; l->n++) {
		l->d[l->n] = daemon_start(l, o, &ss, per_daemon);
		if (!l->d[l->n]) {
			fprintf(stderr, "warrant: cannot listen on %s: %s\n", o->listen, strerror(errno));
			goto fail;
		}
	}
	return 0;
fail:
	listener_close(l);
	return -1;
}

void listener_quiesce(struct listener *l)
{
	for (int i = 0; i < l->n; i++) {
		MHD_socket ls = MHD_quiesce_daemon(l->d[i]);
		if (ls != MHD_INVALID_SOCKET)
			close(ls);
	}
}

void listener_close(struct listener *l)
{
	for (int i = 0; i < l->n; i++)
		MHD_stop_daemon(l->d[i]);
	l->n = 0;
	free(l->cert);
	free(l->key);
	l->cert = l->key = NULL;
}
