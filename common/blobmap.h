/* blobmap.h - a string-keyed cache of small records, copied in and out, safe for many
 * threads, with a generation counter that makes "load from disk, then insert" race-free:
 * an insert is dropped when an invalidation happened after the load began.
 *
 * Bounded twice: by a number of entries and by a byte budget that counts every record,
 * its key, its node and the bucket array. When an insert would pass either bound, records
 * of the same and the next buckets make room (they are only cached copies); a record too
 * large for a sixteenth of the budget is not stored (the caller just reads the disk next time). */
#ifndef WARRANT_BLOBMAP_H
#define WARRANT_BLOBMAP_H
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* the byte budget of a map made by blobmap_init() */
#define BLOBMAP_DEFAULT_BYTES (64u << 20)

struct blob_node;

struct blobmap {
	pthread_rwlock_t lock;
	struct blob_node **b;
	size_t nb, n, max;
	size_t bytes, max_bytes; /* what the map holds, counted as blob_cost() does */
	uint64_t seed;
	atomic_long generation;
};

/* 0, or -1 when out of memory. */
int blobmap_init(struct blobmap *m, size_t buckets, size_t max_entries);
int blobmap_init_budget(struct blobmap *m, size_t buckets, size_t max_entries, size_t max_bytes);
void blobmap_free(struct blobmap *m);
/* The generation to pass to blobmap_put for a record about to be loaded. */
long blobmap_generation(struct blobmap *m);
/* Copies the record for key into out (cap bytes): 1 found, 0 not. */
int blobmap_get(struct blobmap *m, const char *key, void *out, size_t cap);
/* Stores a copy unless an invalidation happened since gen was read, or it cannot fit. */
void blobmap_put(struct blobmap *m, const char *key, const void *val, size_t len, long gen);
/* Drops one record / every record; both bump the generation. */
void blobmap_del(struct blobmap *m, const char *key);
void blobmap_clear(struct blobmap *m);
/* Entries and bytes held now. */
size_t blobmap_count(struct blobmap *m);
size_t blobmap_bytes(struct blobmap *m);
#endif
