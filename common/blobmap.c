/* blobmap.c - see blobmap.h. */
#include "blobmap.h"

#include "rand.h"

#include <stdlib.h>
#include <string.h>

struct blob_node {
	struct blob_node *next;
	uint64_t h;
	size_t len;
	char *key;
	unsigned char val[];
};

static uint64_t hash(const struct blobmap *m, const char *k)
{
	uint64_t h = 1469598103934665603ULL ^ m->seed;
	for (; *k; k++) {
		h ^= (unsigned char)*k;
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

int blobmap_init(struct blobmap *m, size_t nb, size_t max)
{
	memset(m, 0, sizeof *m);
	size_t p = 16;
	while (p < nb)
		p <<= 1;
	if (!(m->b = calloc(p, sizeof *m->b)))
		return -1;
	m->nb = p;
	m->max = max;
	rand_bytes(&m->seed, sizeof m->seed);
	pthread_rwlock_init(&m->lock, NULL);
	atomic_init(&m->generation, 0);
	return 0;
}

static void drop_all(struct blobmap *m)
{
	for (size_t i = 0; i < m->nb; i++) {
		for (struct blob_node *n = m->b[i], *nx; n; n = nx) {
			nx = n->next;
			free(n);
		}
		m->b[i] = NULL;
	}
	m->n = 0;
}

void blobmap_free(struct blobmap *m)
{
	if (!m->b)
		return;
	drop_all(m);
	free(m->b);
	pthread_rwlock_destroy(&m->lock);
	memset(m, 0, sizeof *m);
}

long blobmap_generation(struct blobmap *m) { return atomic_load(&m->generation); }

int blobmap_get(struct blobmap *m, const char *key, void *out, size_t cap)
{
	if (!m->b)
		return 0;
	uint64_t h = hash(m, key);
	int found = 0;
	pthread_rwlock_rdlock(&m->lock);
	for (struct blob_node *n = m->b[h & (m->nb - 1)]; n; n = n->next)
		if (n->h == h && strcmp(n->key, key) == 0) {
			if (n->len <= cap) {
				memcpy(out, n->val, n->len);
				found = 1;
			}
			break;
		}
	pthread_rwlock_unlock(&m->lock);
	return found;
}

void blobmap_put(struct blobmap *m, const char *key, const void *val, size_t len, long gen)
{
	if (!m->b)
		return;
	uint64_t h = hash(m, key);
	size_t kl = strlen(key);
	struct blob_node *nn = malloc(sizeof *nn + len + kl + 1);
	if (!nn)
		return;
	nn->h = h;
	nn->len = len;
	memcpy(nn->val, val, len);
	nn->key = (char *)nn->val + len;
	memcpy(nn->key, key, kl + 1);
	pthread_rwlock_wrlock(&m->lock);
	if (atomic_load(&m->generation) != gen) {
		pthread_rwlock_unlock(&m->lock);
		free(nn);
		return;
	}
	struct blob_node **pp = &m->b[h & (m->nb - 1)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->h == h && strcmp((*pp)->key, key) == 0) {
			nn->next = (*pp)->next;
			free(*pp);
			*pp = nn;
			pthread_rwlock_unlock(&m->lock);
			return;
		}
	if (m->n >= m->max) {
		pthread_rwlock_unlock(&m->lock);
		free(nn);
		return;
	}
	nn->next = m->b[h & (m->nb - 1)];
	m->b[h & (m->nb - 1)] = nn;
	m->n++;
	pthread_rwlock_unlock(&m->lock);
}

void blobmap_del(struct blobmap *m, const char *key)
{
	if (!m->b)
		return;
	uint64_t h = hash(m, key);
	pthread_rwlock_wrlock(&m->lock);
	atomic_fetch_add(&m->generation, 1);
	for (struct blob_node **pp = &m->b[h & (m->nb - 1)]; *pp; pp = &(*pp)->next)
		if ((*pp)->h == h && strcmp((*pp)->key, key) == 0) {
			struct blob_node *n = *pp;
			*pp = n->next;
			free(n);
			m->n--;
			break;
		}
	pthread_rwlock_unlock(&m->lock);
}

void blobmap_clear(struct blobmap *m)
{
	if (!m->b)
		return;
	pthread_rwlock_wrlock(&m->lock);
	atomic_fetch_add(&m->generation, 1);
	drop_all(m);
	pthread_rwlock_unlock(&m->lock);
}
