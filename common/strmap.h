/* strmap.h - a string-keyed hash map with a small fixed value, safe for many threads.
 *
 * Readers share a lock; writers take it alone. Keys are copied. Values are plain data
 * (struct strmap_val) copied in and out, so nothing returned can dangle. */
#ifndef WARRANT_STRMAP_H
#define WARRANT_STRMAP_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct strmap_val {
	int64_t n1, n2;   /* e.g. an expiry, a time */
	char s[48];       /* e.g. an owner id */
	int flag;
};

struct strmap_node;

struct strmap {
	pthread_rwlock_t lock;
	struct strmap_node **b;
	size_t nb;       /* buckets, a power of two */
	size_t n;        /* entries */
	uint64_t seed;
};

int strmap_init(struct strmap *m, size_t initial_buckets);
void strmap_free(struct strmap *m);
/* Inserts or replaces. 0 or -1 (out of memory). */
int strmap_put(struct strmap *m, const char *key, const struct strmap_val *v);
/* 1 and *v filled when present, else 0. v may be NULL. */
int strmap_get(struct strmap *m, const char *key, struct strmap_val *v);
int strmap_del(struct strmap *m, const char *key);
/* Removes every entry for which drop(v, arg) returns 1; returns how many. */
size_t strmap_prune(struct strmap *m, int (*drop)(const struct strmap_val *v, void *arg), void *arg);
size_t strmap_count(struct strmap *m);
#endif
