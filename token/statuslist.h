/* statuslist.h - Token Status Lists (draft-ietf-oauth-status-list): every access token names
 * one bit of a list in its "status" claim, and GET /statuslists/K serves list K as a signed,
 * zlib-compressed Status List Token, so a resource server that verifies tokens locally sees
 * revocations within ttl plus a second instead of at exp.
 *
 * Lists and indices. Each server process claims lists of its own (a row of statuslists,
 * numbered in the writer lock, so K is unique in the cluster) and hands out their indices
 * from memory, in order: allocation is a counter under a mutex, and the index is written
 * with the token's ledger row (no extra statement). A list holds STATUSLIST_BITS indices;
 * once full, the process moves to a spare list it claimed when the current one was half
 * full. An index is never handed out twice: a list is never restarted, and K is never
 * reused, so an index is free again only with its list, after every token in it expired
 * plus leeway plus ttl (hold_until, which the owner keeps ahead of its newest token).
 *
 * Bits. A token's bit is 1 when token/live.h live_check() says it is inactive for any
 * reason but time: the very predicate /introspect applies, over a token rebuilt from its
 * ledger row. Every process rebuilds every list from the ledger (tokens of every node) when
 * it has applied a change of live state (the change log, token/live.c), at most every
 * STATUSLIST_MIN_INTERVAL_MS, once more STATUSLIST_SETTLE_MS later (a token minted before a
 * change may commit just after it), and re-signs every STATUSLIST_RESIGN_MS. A token past
 * its exp keeps the bit it had. A rebuild reads the ledger rows of the last TOKEN_TTL_MAX
 * seconds and calls live_check once per token still holding an index: O(tokens) per
 * rebuild, none per request. Documents are served from memory. */
#ifndef WARRANT_STATUSLIST_H
#define WARRANT_STATUSLIST_H
#include "../common/buf.h"
#include "../core/warrant.h"

#include <stddef.h>
#include <stdint.h>

#define STATUSLIST_BITS (1u << 20)        /* indices per list: 128 KiB of bits, far less compressed */
#define STATUSLIST_TTL 5                  /* seconds a verifier may cache a list (the `ttl` claim) */
#define STATUSLIST_LIFETIME_S 300         /* exp - iat of a Status List Token */
#define STATUSLIST_TICK_MS 100            /* how often the lists' thread looks whether a rebuild is due */
#define STATUSLIST_MIN_INTERVAL_MS 600    /* between rebuilds: a change seen within 250 ms is listed within 1 s */
#define STATUSLIST_SETTLE_MS 2000         /* the second look after a change */
#define STATUSLIST_RESIGN_MS 60000        /* a list that did not change is signed again this often */
#define STATUSLIST_HOLD_STEP_S (3 * 3600) /* hold_until moves ahead in steps this long */
#define STATUSLIST_HOLD_MARGIN_S 600      /* ... whenever less than this is left beyond the need */
#define STATUSLIST_MAX_LISTS 16384        /* lists one process serves (an empty one costs only its document) */
#define STATUSLIST_START_WAIT_MS 2000     /* a request at start waits this long for the first build */
#define CHANGE_STATUSLIST "statuslist"    /* change log: a list was claimed (n = K) */

/* A list this process hands indices out of. */
struct statuslist_own {
	int64_t k; /* 0: none */
	uint32_t next, size;
	int64_t hold_until; /* s */
};

/* Takes the next index of l: 0, or -1 when l is full or unset. Pure; the caller locks. */
int statuslist_take(struct statuslist_own *l, int64_t *k, int64_t *idx);

/* base64url of the zlib-compressed (RFC 1950) bytes of a bit array (draft §4.1: bit i is
 * bit i % 8, least significant first, of byte i / 8), appended to out. 0, or -1. */
int statuslist_encode(const unsigned char *bits, size_t nbytes, struct buf *out);

/* Server start: claims this process's first list and builds every list once. 0, or -1. */
int statuslist_start(struct warrant *w, struct db *db);
/* An index for a token being minted: *k = 0 (no status claim) in a process without a writer
 * (the command line mints nothing). 0, or -1 when no list could be claimed. Thread-safe. */
int statuslist_alloc(struct warrant *w, int64_t *k, int64_t *idx);
/* The lists' tick (a thread of sched/housekeeping.c, every STATUSLIST_TICK_MS, on its own
 * connection db): keeps a spare list and hold_until ahead, rebuilds when due. */
void statuslist_tick(struct warrant *w, struct db *db);

/* The served document of list k. */
struct statuslist_doc {
	char *jwt; /* malloc'd copy; the caller frees it */
	size_t len;
	char etag[48]; /* a strong ETag, quoted */
	int ttl;
};
/* 1 found (d filled), 0 no such list, -1 out of memory. Reads memory only; only while the
 * server starts, waits up to STATUSLIST_START_WAIT_MS for the first lists. */
int statuslist_get(int64_t k, struct statuslist_doc *d);
/* For a list this process does not serve yet: 1 when it exists in the database (claimed a
 * moment ago elsewhere; a rebuild is asked for), 0 when not, -1 on a database error. */
int statuslist_pending(struct warrant *w, int64_t k);
void statuslist_stop(void);
#endif
