/* verbs.h - verbs (`resource:action`) and sets of them.
 *
 * A verb set is kept as a canonical string: verbs sorted, unique, separated by one space.
 * That is how sets are stored in the database, printed and put in the `scope` claim, so
 * two equal sets are equal strings. */
#ifndef WARRANT_VERBS_H
#define WARRANT_VERBS_H
#include "slice.h"

#include <stddef.h>

#define VERB_MAX_LEN 64 /* bytes in one verb */
#define VERBS_MAX 64    /* verbs in one set */
#define VERBSET_MAX (VERBS_MAX * (VERB_MAX_LEN + 1))

/* 1 when v is `resource:action`, each side 1+ of [A-Za-z0-9_.-] and v at most VERB_MAX_LEN. */
int verb_valid(slice v);

/* Parses a space-separated list into canonical form (out has VERBSET_MAX bytes).
 * Returns the number of verbs, or -1 with *bad set to the first invalid verb (or the
 * whole input when there are too many). Runs of spaces are allowed (RFC 6749 §3.3 uses one). */
int verbset_parse(slice in, char out[VERBSET_MAX], slice *bad);
/* Canonical a ∩ b into out; returns the count. Inputs must be canonical. */
int verbset_intersect(const char *a, const char *b, char out[VERBSET_MAX]);
/* Canonical a ∪ b into out; returns the count, or -1 when over VERBS_MAX. */
int verbset_union(const char *a, const char *b, char out[VERBSET_MAX]);
/* Canonical a \ b into out; returns the count. */
int verbset_minus(const char *a, const char *b, char out[VERBSET_MAX]);
/* 1 when verb v is in canonical set s. */
int verbset_has(const char *s, slice v);
#endif
