/* slice.h - a length-carrying view of bytes that are not ours and not NUL-terminated. */
#ifndef WARRANT_SLICE_H
#define WARRANT_SLICE_H
#include <stddef.h>
#include <string.h>

typedef struct {
	const char *p;
	size_t n;
} slice;

static inline slice slice_of(const char *s)
{
	slice v = {s, s ? strlen(s) : 0};
	return v;
}
static inline int slice_eq(slice a, const char *lit)
{
	size_t n = strlen(lit);
	return a.n == n && (n == 0 || memcmp(a.p, lit, n) == 0);
}
#endif
