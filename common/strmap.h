/* strmap.h - a string-keyed hash map with a small fixed value, safe for many threads.
 *
 * Readers share a lock; writers take it alone. Keys are copied. Values are plain data
 * (struct strmap_val) copied in and out, so nothing returned can dangle.
 *
 * Every map counts its bytes (nodes, keys, the bucket array, malloc's overhead). A map made
 * with strmap_init_budget() refuses a new key that would pass its budget: for maps fed by
 * clients (throttles, polling pace), whose owner prunes them or fails closed. A map made
 * with strmap_init() is exact, never refuses, and must only mirror rows of the database
 * (revocations), which bound it. */
#ifndef WARRANT_STRMAP_H
#define WARRANT_STRMAP_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct strmap_val {
	int64_t n1, n2; /* e.g. an expiry, a time */
	char s[48];     /* e.g. an owner id */
	int flag;
};

struct strmap_node;

struct strmap {
	pthread_rwlock_t lock;
	struct strmap_node **b;
	size_t nb;        /* buckets, a power of two */
	size_t n;         /* entries */
	size_t bytes;     /* held now */
	size_t max_bytes; /* SIZE_MAX: exact */
	uint64_t seed;
};

/* 0, or -1 when out of memory. */
int strmap_init(struct strmap *m, size_t initial_buckets);
int strmap_init_budget(struct strmap *m, size_t initial_buckets, size_t max_bytes);
void strmap_free(struct strmap *m);
/* Inserts or replaces. 0, or -1 (out of memory, or a new key past the byte budget). */
int strmap_put(struct strmap *m, const char *key, const struct strmap_val *v);
/* 1 and *v filled when present, else 0. v may be NULL. */
int strmap_get(struct strmap *m, const char *key, struct strmap_val *v);
int strmap_del(struct strmap *m, const char *key);
/* Removes every entry for which drop(v, arg) returns 1; returns how many. */
size_t strmap_prune(struct strmap *m, int (*drop)(const struct strmap_val *v, void *arg), void *arg);
size_t strmap_count(struct strmap *m);
size_t strmap_bytes(struct strmap *m);
#endif
