/* fuzz_verbs.c - scope and verb parsing, set operations (common/verbs.c). */
#include "../../common/verbs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char a[VERBSET_MAX], b[VERBSET_MAX], r[VERBSET_MAX];
	slice bad;
	size_t half = size / 2;
	int na = verbset_parse((slice){(const char *)data, half}, a, &bad);
	int nb = verbset_parse((slice){(const char *)data + half, size - half}, b, &bad);
	if (na < 0 || nb < 0)
		return 0;
	/* a canonical set parses to itself */
	if (verbset_parse(slice_of(a), r, &bad) != na || strcmp(a, r) != 0)
		abort();
	int i = verbset_intersect(a, b, r);
	if (i > na || i > nb)
		abort();
	verbset_union(a, b, r);
	if (verbset_minus(a, b, r) > na)
		abort();
	return 0;
}
