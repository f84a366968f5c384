/* fuzz_jscan.c - the request-body JSON reader (common/jscan.c) against jansson: it accepts
 * what json_loadb(JSON_REJECT_DUPLICATES) accepts as an object nested at most JSCAN_DEPTH
 * deep, nothing else, and reads the same values. One difference is allowed: jansson skips a
 * NUL byte just after a number or a literal (it ungets it as its end marker), which RFC 8259
 * does not allow and jscan refuses. */
#include "../../common/jscan.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int depth(json_t *v)
{
	int d = 0;
	if (json_is_object(v)) {
		const char *k;
		json_t *m;
		json_object_foreach(v, k, m)
		{
			int x = depth(m);
			d = x > d ? x : d;
		}
		return d + 1;
	}
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			int x = depth(json_array_get(v, i));
			d = x > d ? x : d;
		}
		return d + 1;
	}
	return 0;
}

/* aborts unless the value at index i of j is v, and returns the index after it */
static int same(const struct jscan *j, int i, json_t *v)
{
	const struct jscan_val *x = &j->v[i];
	switch (x->type) {
	case JS_OBJECT:
		if (!json_is_object(v) || json_object_size(v) != (size_t)x->size)
			abort();
		for (int m = 0, at = i + 1; m < x->size; m++) {
			json_t *w = json_object_getn(v, j->v[at].s, j->v[at].n);
			if (!w || jscan_get(j, i, j->v[at].s) < 0)
				abort();
			at = same(j, at + 1, w);
		}
		break;
	case JS_ARRAY:
		if (!json_is_array(v) || json_array_size(v) != (size_t)x->size)
			abort();
		for (int m = 0, at = i + 1; m < x->size; m++) {
			if (jscan_at(j, i, m) != at)
				abort();
			at = same(j, at, json_array_get(v, (size_t)m));
		}
		break;
	case JS_STRING:
		if (!json_is_string(v) || json_string_length(v) != x->n || memcmp(json_string_value(v), x->s, x->n) ||
		    x->s[x->n] != '\0')
			abort();
		break;
	case JS_NUMBER:
		if (!json_is_number(v))
			abort();
		break;
	case JS_TRUE:
	case JS_FALSE:
	case JS_NULL:
		if (json_typeof(v) != (x->type == JS_TRUE ? JSON_TRUE : x->type == JS_FALSE ? JSON_FALSE : JSON_NULL))
			abort();
		break;
	default: abort();
	}
	return x->next;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jscan j;
	int ok = jscan_parse((const char *)data, size, &j) == 0;
	json_t *v = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (ok) {
		if (!json_is_object(v) || same(&j, 0, v) != j.n)
			abort();
		jscan_get(&j, 0, "subject");
		jscan_free(&j);
	} else if (json_is_object(v) && depth(v) <= JSCAN_DEPTH && !memchr(data, 0, size)) {
		abort();
	}
	json_decref(v);
	return 0;
}
