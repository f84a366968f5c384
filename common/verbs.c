/* verbs.c - verb syntax and canonical verb sets; see verbs.h. */
#include "verbs.h"

#include <stdlib.h>
#include <string.h>

static int verb_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
	       c == '-';
}

int verb_valid(slice v)
{
	if (v.n == 0 || v.n > VERB_MAX_LEN)
		return 0;
	int colons = 0;
	size_t colon_at = 0;
	for (size_t i = 0; i < v.n; i++) {
		unsigned char c = (unsigned char)v.p[i];
		if (c == ':') {
			colons++;
			colon_at = i;
		} else if (!verb_char(c)) {
			return 0;
		}
	}
	return colons == 1 && colon_at > 0 && colon_at < v.n - 1;
}

static int cmp_slice(const void *a, const void *b)
{
	const slice *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);
	return c ? c : (x->n < y->n ? -1 : x->n > y->n);
}

/* splits canonical or loose input into slices; -1 when more than VERBS_MAX */
static int split(slice in, slice out[VERBS_MAX + 1])
{
	int n = 0;
	size_t i = 0;
	while (i < in.n) {
		while (i < in.n && in.p[i] == ' ')
			i++;
		size_t s = i;
		while (i < in.n && in.p[i] != ' ')
			i++;
		if (i > s) {
			if (n == VERBS_MAX + 1)
				return -1;
			out[n++] = (slice){in.p + s, i - s};
		}
	}
	return n;
}

static int join(slice *v, int n, char out[VERBSET_MAX])
{
	size_t o = 0;
	int k = 0;
	for (int i = 0; i < n; i++) {
		if (i && cmp_slice(&v[i], &v[i - 1]) == 0)
			continue;
		if (k)
			out[o++] = ' ';
		memcpy(out + o, v[i].p, v[i].n);
		o += v[i].n;
		k++;
	}
	out[o] = '\0';
	return k;
}

int verbset_parse(slice in, char out[VERBSET_MAX], slice *bad)
{
	slice v[VERBS_MAX + 1];
	int n = split(in, v);
	if (n < 0 || n > VERBS_MAX) {
		*bad = in;
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (!verb_valid(v[i])) {
			*bad = v[i];
			return -1;
		}
	qsort(v, (size_t)n, sizeof v[0], cmp_slice);
	return join(v, n, out);
}

int verbset_has(const char *s, slice v)
{
	slice all[VERBS_MAX + 1];
	int n = split(slice_of(s), all);
	for (int i = 0; i < n; i++)
		if (cmp_slice(&all[i], &v) == 0)
			return 1;
	return 0;
}

enum op { OP_AND, OP_OR, OP_MINUS };

static int combine(const char *a, const char *b, char out[VERBSET_MAX], enum op op)
{
	slice x[VERBS_MAX + 1], y[VERBS_MAX + 1], r[2 * VERBS_MAX + 2];
	int nx = split(slice_of(a), x), ny = split(slice_of(b), y), nr = 0;
	if (nx < 0 || ny < 0)
		return -1;
	int i = 0, j = 0;
	while (i < nx || j < ny) {
		int c = i == nx ? 1 : j == ny ? -1 : cmp_slice(&x[i], &y[j]);
		if (c == 0) {
			if (op != OP_MINUS)
				r[nr++] = x[i];
			i++;
			j++;
		} else if (c < 0) {
			if (op != OP_AND)
				r[nr++] = x[i];
			i++;
		} else {
			if (op == OP_OR)
				r[nr++] = y[j];
			j++;
		}
	}
	if (nr > VERBS_MAX)
		return -1;
	return join(r, nr, out);
}

int verbset_intersect(const char *a, const char *b, char out[VERBSET_MAX]) { return combine(a, b, out, OP_AND); }
int verbset_union(const char *a, const char *b, char out[VERBSET_MAX]) { return combine(a, b, out, OP_OR); }
int verbset_minus(const char *a, const char *b, char out[VERBSET_MAX]) { return combine(a, b, out, OP_MINUS); }
