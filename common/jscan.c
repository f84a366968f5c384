/* jscan.c - a small validating JSON reader for request bodies; see jscan.h. */
#include "jscan.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct jp {
	const char *p, *end;
	struct jscan *d;
	int depth;
};

static void skip_ws(struct jp *s)
{
	/* RFC 8259 §2: space, tab, line feed, carriage return */
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* A new value at the end of the array: its index, or -1 when memory ran out. */
static int push(struct jscan *d, enum jscan_type t)
{
	if (d->n == d->cap) {
		int cap = d->cap ? d->cap * 2 : 32;
		struct jscan_val *v = realloc(d->v, (size_t)cap * sizeof *v);
		if (!v)
			return -1;
		d->v = v;
		d->cap = cap;
	}
	memset(&d->v[d->n], 0, sizeof d->v[d->n]);
	d->v[d->n].type = t;
	d->v[d->n].next = d->n + 1;
	return d->n++;
}

static int hex4(const char *p, const char *end, unsigned *out)
{
	unsigned v = 0;
	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static char *put_utf8(char *o, unsigned c)
{
	if (c < 0x80) {
		*o++ = (char)c;
	} else if (c < 0x800) {
		*o++ = (char)(0xC0 | c >> 6);
		*o++ = (char)(0x80 | (c & 0x3F));
	} else if (c < 0x10000) {
		*o++ = (char)(0xE0 | c >> 12);
		*o++ = (char)(0x80 | (c >> 6 & 0x3F));
		*o++ = (char)(0x80 | (c & 0x3F));
	} else {
		*o++ = (char)(0xF0 | c >> 18);
		*o++ = (char)(0x80 | (c >> 12 & 0x3F));
		*o++ = (char)(0x80 | (c >> 6 & 0x3F));
		*o++ = (char)(0x80 | (c & 0x3F));
	}
	return o;
}

/* RFC 8259 §7 escapes after the backslash at *pp: appends the decoded character at *po. A
 * \u0000, a lone surrogate or a bad escape is -1. */
static int escape(const char **pp, const char *end, char **po)
{
	const char *p = *pp + 1;
	if (p >= end)
		return -1;
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *k = *p ? strchr(from, *p) : NULL;
	if (k) {
		*(*po)++ = to[k - from];
		*pp = p + 1;
		return 0;
	}
	unsigned c, lo;
	if (*p != 'u' || hex4(p + 1, end, &c) < 0 || c == 0 || (c >= 0xDC00 && c <= 0xDFFF))
		return -1;
	p += 5;
	if (c >= 0xD800 && c <= 0xDBFF) { /* §7: a pair of escapes for a character beyond the BMP */
		if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo) < 0 || lo < 0xDC00 ||
		    lo > 0xDFFF)
			return -1;
		c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
		p += 6;
	}
	*po = put_utf8(*po, c);
	*pp = p;
	return 0;
}

/* RFC 3629 §4: the length of the well-formed UTF-8 sequence at p (no overlong form, no
 * surrogate, nothing past U+10FFFF), or 0. */
static int utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0], v;
	int n;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2, v = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, v = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, v = c & 0x07;
	else
		return 0;
	if (end - p < n)
		return 0;
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3F);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	return n;
}

/* 1 for the bytes a string holds as they are: printable ASCII but '"' and '\\' */
static inline int plain(unsigned char c) { return (unsigned)(c - 0x20) < 0x60 && c != '"' && c != '\\'; }

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* The end of the run of plain bytes at p, eight at a time while they last: a word holds
 * none but plain bytes when no byte is below 0x20, at or above 0x80, '"' or '\\'. */
static const char *plain_run(const char *p, const char *end)
{
	while (end - p >= 8) {
		uint64_t x;
		memcpy(&x, p, 8);
		uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
		uint64_t odd = ((x - ONES * 0x20) | (q - ONES) | (b - ONES) | x) & HIGHS;
		/* a byte's high bit in odd is set when it is below 0x20, '"', '\\', or >= 0x80 (the
		 * subtractions borrow only from such a byte, and x's own high bit marks the last) */
		if (odd)
			break;
		p += 8;
	}
	while (p < end && plain((unsigned char)*p))
		p++;
	return p;
}

/* A string at s->p (its opening quote), decoded into the arena. Its index, or -1. */
static int string(struct jp *s)
{
	int i = push(s->d, JS_STRING);
	if (i < 0)
		return -1;
	char *start = s->d->arena + s->d->used, *o = start;
	const char *p = s->p + 1;
	for (;;) {
		const char *q = plain_run(p, s->end); /* the common case: printable ASCII */
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		p = q;
		if (p >= s->end)
			return -1;
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			break;
		if (c < 0x20) /* §7: control characters are escaped */
			return -1;
		if (c == '\\') {
			if (escape(&p, s->end, &o) < 0)
				return -1;
			continue;
		}
		int k = utf8_len((const unsigned char *)p, (const unsigned char *)s->end);
		if (!k)
			return -1;
		memcpy(o, p, (size_t)k);
		o += k, p += k;
	}
	*o = '\0';
	s->d->v[i].s = start;
	s->d->v[i].n = (size_t)(o - start);
	s->d->used += (size_t)(o - start) + 1;
	s->p = p + 1;
	return i;
}

/* §6 numbers; an integer must fit in 64 bits and a real must not overflow, as for jansson. */
static int number(struct jp *s)
{
	const char *p = s->p, *e = s->end;
	int real = 0;
	if (p < e && *p == '-')
		p++;
	if (p < e && *p == '0')
		p++;
	else if (p < e && *p >= '1' && *p <= '9')
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	else
		return -1;
	if (p < e && *p == '.') {
		real = 1;
		if (++p >= e || *p < '0' || *p > '9')
			return -1;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		real = 1;
		if (++p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || *p < '0' || *p > '9')
			return -1;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	size_t n = (size_t)(p - s->p);
	char small[64], *c = n < sizeof small ? small : malloc(n + 1);
	if (!c)
		return -1;
	memcpy(c, s->p, n);
	c[n] = '\0';
	errno = 0;
	int bad;
	if (real) {
		double v = strtod(c, NULL);
		bad = errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL);
	} else {
		(void)strtoll(c, NULL, 10);
		bad = errno == ERANGE;
	}
	if (c != small)
		free(c);
	if (bad)
		return -1;
	s->p = p;
	return push(s->d, JS_NUMBER);
}

static int literal(struct jp *s, const char *word, enum jscan_type t)
{
	size_t n = strlen(word);
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return -1;
	s->p += n;
	return push(s->d, t);
}

static int value(struct jp *s);

static int key_cmp(const void *a, const void *b, void *d)
{
	const struct jscan_val *x = &((struct jscan *)d)->v[*(const int *)a],
			       *y = &((struct jscan *)d)->v[*(const int *)b];
	int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* 1 when two of the object at index i's keys are equal (compared decoded), 0, -1 on no memory. */
static int duplicate_key(struct jscan *d, int i)
{
	int m = d->v[i].size, small[16], *k = m <= 16 ? small : malloc((size_t)m * sizeof *k), dup = 0;
	if (!k)
		return -1;
	for (int j = 0, at = i + 1; j < m; j++, at = d->v[at + 1].next)
		k[j] = at;
	if (m <= 16) { /* a few keys: each pair */
		for (int a = 0; a < m && !dup; a++)
			for (int b = a + 1; b < m && !dup; b++)
				dup = key_cmp(&k[a], &k[b], d) == 0;
		return dup;
	}
	qsort_r(k, (size_t)m, sizeof *k, key_cmp, d);
	for (int j = 1; j < m && !dup; j++)
		dup = key_cmp(&k[j - 1], &k[j], d) == 0;
	free(k);
	return dup;
}

/* A container at s->p: '{' members '}' or '[' elements ']'. Its index, or -1. */
static int container(struct jp *s, int object)
{
	if (++s->depth > JSCAN_DEPTH)
		return -1;
	int i = push(s->d, object ? JS_OBJECT : JS_ARRAY);
	if (i < 0)
		return -1;
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == (object ? '}' : ']')) {
		s->p++;
	} else {
		for (;;) {
			skip_ws(s);
			if (object) {
				if (s->p >= s->end || *s->p != '"' || string(s) < 0)
					return -1;
				skip_ws(s);
				if (s->p >= s->end || *s->p != ':')
					return -1;
				s->p++;
				skip_ws(s);
			}
			if (value(s) < 0)
				return -1;
			s->d->v[i].size++;
			skip_ws(s);
			if (s->p < s->end && *s->p == ',') {
				s->p++;
				continue;
			}
			if (s->p < s->end && *s->p == (object ? '}' : ']')) {
				s->p++;
				break;
			}
			return -1;
		}
	}
	s->depth--;
	s->d->v[i].next = s->d->n;
	if (object && s->d->v[i].size > 1 && duplicate_key(s->d, i) != 0)
		return -1;
	return i;
}

static int value(struct jp *s)
{
	if (s->p >= s->end)
		return -1;
	switch (*s->p) {
	case '{': return container(s, 1);
	case '[': return container(s, 0);
	case '"': return string(s);
	case 't': return literal(s, "true", JS_TRUE);
	case 'f': return literal(s, "false", JS_FALSE);
	case 'n': return literal(s, "null", JS_NULL);
	default: return number(s);
	}
}

int jscan_parse(const char *p, size_t n, struct jscan *d)
{
	memset(d, 0, sizeof *d);
	/* a decoded string is never longer than its quoted form: n bytes hold them all */
	d->arena = malloc(n + 1);
	if (!d->arena)
		return -1;
	struct jp s = {.p = p, .end = p + n, .d = d};
	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{' || container(&s, 1) != 0)
		goto fail;
	skip_ws(&s);
	if (s.p != s.end)
		goto fail;
	return 0;
fail:
	jscan_free(d);
	return -1;
}

void jscan_free(struct jscan *d)
{
	free(d->v);
	free(d->arena);
	memset(d, 0, sizeof *d);
}

int jscan_get(const struct jscan *d, int obj, const char *key)
{
	if (jscan_type(d, obj) != JS_OBJECT)
		return -1;
	size_t kn = strlen(key);
	for (int j = 0, at = obj + 1; j < d->v[obj].size; j++, at = d->v[at + 1].next)
		if (d->v[at].n == kn && memcmp(d->v[at].s, key, kn) == 0)
			return at + 1;
	return -1;
}

int jscan_at(const struct jscan *d, int arr, int i)
{
	if (jscan_type(d, arr) != JS_ARRAY || i < 0 || i >= d->v[arr].size)
		return -1;
	int at = arr + 1;
	while (i-- > 0)
		at = d->v[at].next;
	return at;
}
