/* jscan.h - a small validating JSON reader (RFC 8259) for request bodies that are read field
 * by field: one pass over the bytes into a flat array of values, every string decoded into
 * one arena, no allocation per value.
 *
 * It accepts exactly the documents jansson's json_loadb(JSON_REJECT_DUPLICATES) accepts
 * whose top level is an object, nested at most JSCAN_DEPTH deep (checked against jansson by
 * tests/fuzz/fuzz_jscan.c): valid UTF-8, no \u0000, no lone surrogate, no duplicate key in
 * any object, integers that fit in 64 bits and reals that do not overflow a double. (jansson
 * also skips a NUL byte just after a number or literal; RFC 8259 does not allow it, nor does
 * this reader.) */
#ifndef WARRANT_JSCAN_H
#define WARRANT_JSCAN_H
#include <stddef.h>

#define JSCAN_DEPTH 64 /* nesting of objects and arrays; deeper is refused */

enum jscan_type { JS_OBJECT = 1, JS_ARRAY, JS_STRING, JS_NUMBER, JS_TRUE, JS_FALSE, JS_NULL };

/* A value. An object's members follow it as key (a string), value; an array's elements
 * follow it; `next` is the index just past the value and everything inside it. */
struct jscan_val {
	enum jscan_type type;
	int size;      /* members of an object, elements of an array */
	int next;      /* index after this value's subtree */
	const char *s; /* a string: decoded, NUL-terminated, in the arena; n bytes (may hold no NUL) */
	size_t n;
};

struct jscan {
	struct jscan_val *v; /* v[0] is the top-level object */
	int n, cap;
	char *arena; /* the decoded strings, owned */
	size_t used;
};

/* Parses the n bytes at p. Returns 0 with d filled (release with jscan_free), or -1 when they
 * are not such a document or memory ran out (d then holds nothing to free). */
int jscan_parse(const char *p, size_t n, struct jscan *d);
void jscan_free(struct jscan *d);

/* The index of member key of the object at index obj; -1 when absent or obj is no object. */
int jscan_get(const struct jscan *d, int obj, const char *key);
/* The index of element i of the array at index arr; -1 when out of range or no array. */
int jscan_at(const struct jscan *d, int arr, int i);
/* The type at index i, 0 for -1. */
static inline enum jscan_type jscan_type(const struct jscan *d, int i)
{
	return i < 0 ? (enum jscan_type)0 : d->v[i].type;
}
#endif
