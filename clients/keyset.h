/* keyset.h - the key sets of trusts (federated workload identity, docs/federation.md): read
 * from a file (again when it changes), or fetched with libcurl from a jwks_uri or the
 * jwks_uri of the issuer's OpenID discovery document, and cached in memory per process.
 *
 * Fetches run on threads of their own, never on a request's: a request that finds no usable
 * set, or no key with its kid, starts a fetch when the limits allow one and is refused at
 * once (it never waits). The server's housekeeping fetches ahead (keyset_refresh), so a new
 * trust's set is usually there before the first assertion. Every node fetches for itself. */
#ifndef WARRANT_KEYSET_H
#define WARRANT_KEYSET_H
#include "../common/jose.h"
#include "../common/rand.h"
#include "../store/db.h"

#define KEYSET_BODY_MAX JOSE_JWKS_MAX /* bytes of a fetched document; the transfer stops past it */
#define KEYSET_FETCH_TIMEOUT_MS 5000  /* a whole fetch (discovery and key set together) */
#define KEYSET_MAX_AGE_MIN 300        /* a response's max-age is clamped to this.. */
#define KEYSET_MAX_AGE_MAX 86400      /* ..and this (seconds); no max-age counts as the minimum */
#define KEYSET_REFETCH_MIN_MS 30000   /* fetches of one set start at most this often (unknown kid, failure) */
#define KEYSET_REFRESH_AHEAD_MS 60000 /* housekeeping fetches again this long before the cache expires */
#define KEYSET_ENTRIES_MAX 1024       /* trusts whose sets one process keeps */
#define TRUST_URL_MAX 512             /* bytes of an issuer, jwks_uri or audience */
#define TRUST_PATH_MAX 1024           /* bytes of a jwks_file path */

/* Where a trust's keys come from: exactly one of jwks_uri, jwks_file, discovery. */
struct keyset_source {
	char trust_id[ID_MAX];
	char issuer[TRUST_URL_MAX];
	char jwks_uri[TRUST_URL_MAX];
	char jwks_file[TRUST_PATH_MAX];
	int discovery;
};

/* 0 when url may be fetched: https://, or http:// to a loopback host (127.0.0.0/8, [::1],
 * localhost), without user info or fragment, at most TRUST_URL_MAX-1 bytes; else -1 with
 * a one-line reason in why. Fetches check the address they connect to as well. */
int keyset_url_allowed(const char *url, char *why, size_t n);

/* A held key set: valid until keyset_release. */
struct keyset_hold;

/* The usable key set of src for an assertion with kid (NULL: none named). Returns 1 with
 * *ks and *hold (release it), or 0 with *why ("keyset_pending", "keyset_unavailable",
 * "keyset_expired", "unknown_kid", ...; static) when there is no usable set or it has no
 * key kid; then a background fetch is started when none runs and the last started at least
 * KEYSET_REFETCH_MIN_MS ago (the first at once). Never blocks on the network; a jwks_file
 * is read (a regular file of at most KEYSET_BODY_MAX bytes) when it changed. */
int keyset_acquire(const struct keyset_source *src, const char *kid, const struct jose_keyset **ks,
		   struct keyset_hold **hold, const char **why);
void keyset_release(struct keyset_hold *hold);

/* Housekeeping, every node: loads the trusts from db, fetches sets that are missing or due
 * (within the limits), forgets removed trusts' sets. Returns 0, -1 on a database error. */
int keyset_refresh(struct db *db);
/* Stops fetches in flight (they end within a second) and forgets every set. */
void keyset_stop(void);
#endif
