/* strmap.c - chained hash map of strings; see strmap.h. */
#include "strmap.h"

#include "rand.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MALLOC_OVERHEAD 16 /* what malloc adds to each block, near enough */

struct strmap_node {
	struct strmap_node *next;
	uint64_t h;
	struct strmap_val v;
	char key[];
};

/* FNV-1a with a random seed: keys come from clients, so the seed keeps chains short */
static uint64_t hash(const struct strmap *m, const char *k)
{
	uint64_t h = 1469598103934665603ULL ^ m->seed;
	for (; *k; k++) {
		h ^= (unsigned char)*k;
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

static size_t node_cost(size_t kl) { return sizeof(struct strmap_node) + kl + 1 + MALLOC_OVERHEAD; }

int strmap_init_budget(struct strmap *m, size_t nb, size_t max_bytes)
{
	memset(m, 0, sizeof *m);
	size_t p = 16;
	while (p < nb && (p << 1) * sizeof *m->b <= max_bytes / 4)
		p <<= 1;
	m->b = calloc(p, sizeof *m->b);
	if (!m->b)
		return -1;
	m->nb = p;
	m->bytes = p * sizeof *m->b + MALLOC_OVERHEAD;
	m->max_bytes = max_bytes;
	rand_bytes(&m->seed, sizeof m->seed);
	pthread_rwlock_init(&m->lock, NULL);
	return 0;
}

int strmap_init(struct strmap *m, size_t nb) { return strmap_init_budget(m, nb, SIZE_MAX); }

void strmap_free(struct strmap *m)
{
	if (!m->b)
		return;
	for (size_t i = 0; i < m->nb; i++)
		for (struct strmap_node *n = m->b[i], *nx; n; n = nx) {
			nx = n->next;
			free(n);
		}
	free(m->b);
	pthread_rwlock_destroy(&m->lock);
	memset(m, 0, sizeof *m);
}

static void grow(struct strmap *m)
{
	size_t nb = m->nb * 2, extra = m->nb * sizeof *m->b;
	if (m->max_bytes != SIZE_MAX && m->bytes + extra > m->max_bytes)
		return; /* stay at this size: slower, still correct */
	struct strmap_node **b = calloc(nb, sizeof *b);
	if (!b)
		return; /* stay at this size: slower, still correct */
	for (size_t i = 0; i < m->nb; i++)
		for (struct strmap_node *n = m->b[i], *nx; n; n = nx) {
			nx = n->next;
			size_t j = n->h & (nb - 1);
			n->next = b[j];
			b[j] = n;
		}
	free(m->b);
	m->b = b;
	m->nb = nb;
	m->bytes += extra;
}

int strmap_put(struct strmap *m, const char *key, const struct strmap_val *v)
{
	uint64_t h = hash(m, key);
	pthread_rwlock_wrlock(&m->lock);
	struct strmap_node **pp = &m->b[h & (m->nb - 1)];
	for (struct strmap_node *n = *pp; n; n = n->next)
		if (n->h == h && strcmp(n->key, key) == 0) {
			n->v = *v;
			pthread_rwlock_unlock(&m->lock);
			return 0;
		}
	size_t kl = strlen(key);
	if (m->max_bytes != SIZE_MAX && m->bytes + node_cost(kl) > m->max_bytes) {
		pthread_rwlock_unlock(&m->lock);
		return -1;
	}
	struct strmap_node *n = malloc(sizeof *n + kl + 1);
	if (!n) {
		pthread_rwlock_unlock(&m->lock);
		return -1;
	}
	n->h = h;
	n->v = *v;
	memcpy(n->key, key, kl + 1);
	n->next = *pp;
	*pp = n;
	m->bytes += node_cost(kl);
	if (++m->n > m->nb)
		grow(m);
	pthread_rwlock_unlock(&m->lock);
	return 0;
}

int strmap_get(struct strmap *m, const char *key, struct strmap_val *v)
{
	uint64_t h = hash(m, key);
	int found = 0;
	pthread_rwlock_rdlock(&m->lock);
	for (struct strmap_node *n = m->b[h & (m->nb - 1)]; n; n = n->next)
		if (n->h == h && strcmp(n->key, key) == 0) {
			if (v)
				*v = n->v;
			found = 1;
			break;
		}
	pthread_rwlock_unlock(&m->lock);
	return found;
}

int strmap_del(struct strmap *m, const char *key)
{
	uint64_t h = hash(m, key);
	int found = 0;
	pthread_rwlock_wrlock(&m->lock);
	for (struct strmap_node **pp = &m->b[h & (m->nb - 1)]; *pp; pp = &(*pp)->next)
		if ((*pp)->h == h && strcmp((*pp)->key, key) == 0) {
			struct strmap_node *n = *pp;
			*pp = n->next;
			m->bytes -= node_cost(strlen(n->key));
			free(n);
			m->n--;
			found = 1;
			break;
		}
	pthread_rwlock_unlock(&m->lock);
	return found;
}

size_t strmap_prune(struct strmap *m, int (*drop)(const struct strmap_val *v, void *arg), void *arg)
{
	size_t k = 0;
	pthread_rwlock_wrlock(&m->lock);
	for (size_t i = 0; i < m->nb; i++)
		for (struct strmap_node **pp = &m->b[i]; *pp;) {
			if (drop(&(*pp)->v, arg)) {
				struct strmap_node *n = *pp;
				*pp = n->next;
				m->bytes -= node_cost(strlen(n->key));
				free(n);
				m->n--;
				k++;
			} else {
				pp = &(*pp)->next;
			}
		}
	pthread_rwlock_unlock(&m->lock);
	return k;
}

size_t strmap_count(struct strmap *m)
{
	pthread_rwlock_rdlock(&m->lock);
	size_t n = m->n;
	pthread_rwlock_unlock(&m->lock);
	return n;
}

size_t strmap_bytes(struct strmap *m)
{
	pthread_rwlock_rdlock(&m->lock);
	size_t n = m->bytes;
	pthread_rwlock_unlock(&m->lock);
	return n;
}
