/* blobmap.c - see blobmap.h. */
#include "blobmap.h"

#include "rand.h"

#include <stdlib.h>
#include <string.h>

/* what malloc adds to each block, near enough: the budget counts it too */
#define MALLOC_OVERHEAD 16

struct blob_node {
	struct blob_node *next;
	uint64_t h;
	size_t len, cost;
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

int blobmap_init_budget(struct blobmap *m, size_t nb, size_t max, size_t max_bytes)
{
	memset(m, 0, sizeof *m);
	size_t p = 16;
	while (p < nb && (p << 1) * sizeof *m->b <= max_bytes / 4)
		p <<= 1;
	if (!(m->b = calloc(p, sizeof *m->b)))
		return -1;
	m->nb = p;
	m->max = max;
	m->max_bytes = max_bytes;
	m->bytes = p * sizeof *m->b + MALLOC_OVERHEAD;
	rand_bytes(&m->seed, sizeof m->seed);
	pthread_rwlock_init(&m->lock, NULL);
	atomic_init(&m->generation, 0);
	return 0;
}

int blobmap_init(struct blobmap *m, size_t nb, size_t max)
{
	return blobmap_init_budget(m, nb, max, BLOBMAP_DEFAULT_BYTES);
}

static void drop_all(struct blobmap *m)
{
	for (size_t i = 0; i < m->nb; i++) {
		for (struct blob_node *n = m->b[i], *nx; n; n = nx) {
			nx = n->next;
			m->bytes -= n->cost;
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

/* Doubles the bucket array when the budget has room for it; a failure only costs speed. */
static void grow(struct blobmap *m)
{
	size_t nb = m->nb * 2, extra = m->nb * sizeof *m->b;
	if (m->bytes + extra > m->max_bytes)
		return;
	struct blob_node **b = calloc(nb, sizeof *b);
	if (!b)
		return;
	for (size_t i = 0; i < m->nb; i++)
		for (struct blob_node *n = m->b[i], *nx; n; n = nx) {
			nx = n->next;
			n->next = b[n->h & (nb - 1)];
			b[n->h & (nb - 1)] = n;
		}
	free(m->b);
	m->b = b;
	m->nb = nb;
	m->bytes += extra;
}

/* Unlinks and frees the record for key (hash h) if present. Write lock held. */
static void unlink_key(struct blobmap *m, uint64_t h, const char *key)
{
	for (struct blob_node **pp = &m->b[h & (m->nb - 1)]; *pp; pp = &(*pp)->next)
		if ((*pp)->h == h && strcmp((*pp)->key, key) == 0) {
			struct blob_node *n = *pp;
			*pp = n->next;
			m->bytes -= n->cost;
			m->n--;
			free(n);
			return;
		}
}

/* Drops the last record of the first non-empty bucket from i on (at a load near one,
 * the next few): 1, or 0 when the map is empty. Write lock held. */
static int evict_near(struct blobmap *m, size_t i)
{
	for (size_t k = 0; k < m->nb; k++) {
		struct blob_node **pp = &m->b[(i + k) & (m->nb - 1)];
		if (!*pp)
			continue;
		while ((*pp)->next)
			pp = &(*pp)->next;
		m->bytes -= (*pp)->cost;
		m->n--;
		free(*pp);
		*pp = NULL;
		return 1;
	}
	return 0;
}

void blobmap_put(struct blobmap *m, const char *key, const void *val, size_t len, long gen)
{
	if (!m->b)
		return;
	uint64_t h = hash(m, key);
	size_t kl = strlen(key), cost = sizeof(struct blob_node) + len + kl + 1 + MALLOC_OVERHEAD;
	if (cost > m->max_bytes / 16 || m->max == 0)
		return; /* one record may not take a large share of the budget */
	struct blob_node *nn = malloc(sizeof *nn + len + kl + 1);
	if (!nn)
		return;
	nn->h = h;
	nn->len = len;
	nn->cost = cost;
	memcpy(nn->val, val, len);
	nn->key = (char *)nn->val + len;
	memcpy(nn->key, key, kl + 1);
	pthread_rwlock_wrlock(&m->lock);
	if (atomic_load(&m->generation) != gen) {
		pthread_rwlock_unlock(&m->lock);
		free(nn);
		return;
	}
	unlink_key(m, h, key);
	size_t i = h & (m->nb - 1);
	while (m->n >= m->max || m->bytes + cost > m->max_bytes)
		if (!evict_near(m, i)) {
			pthread_rwlock_unlock(&m->lock);
			free(nn);
			return;
		}
	nn->next = m->b[i];
	m->b[i] = nn;
	m->n++;
	m->bytes += cost;
	if (m->n > m->nb)
		grow(m);
	pthread_rwlock_unlock(&m->lock);
}

void blobmap_del(struct blobmap *m, const char *key)
{
	if (!m->b)
		return;
	uint64_t h = hash(m, key);
	pthread_rwlock_wrlock(&m->lock);
	atomic_fetch_add(&m->generation, 1);
	unlink_key(m, h, key);
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

size_t blobmap_count(struct blobmap *m)
{
	if (!m->b)
		return 0;
	pthread_rwlock_rdlock(&m->lock);
	size_t n = m->n;
	pthread_rwlock_unlock(&m->lock);
	return n;
}

size_t blobmap_bytes(struct blobmap *m)
{
	if (!m->b)
		return 0;
	pthread_rwlock_rdlock(&m->lock);
	size_t n = m->bytes;
	pthread_rwlock_unlock(&m->lock);
	return n;
}
