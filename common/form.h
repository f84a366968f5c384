/* form.h - application/x-www-form-urlencoded parsing with explicit limits.
 *
 * The decoder rejects NUL and every other control byte (0x00-0x1f, 0x7f), malformed
 * percent escapes, more than FORM_MAX_PARAMS pairs and over-long names or values.
 * Decoded bytes live in one arena owned by the form; form_free() wipes and frees it. */
#ifndef WARRANT_FORM_H
#define WARRANT_FORM_H
#include "slice.h"

#include <stddef.h>
#include <sys/types.h>

#define FORM_MAX_PARAMS 32   /* pairs in one body */
#define FORM_MAX_NAME 64     /* decoded bytes of one name */
#define FORM_MAX_VALUE 16384 /* decoded bytes of one value: a token of TOKEN_MAX_LEN fits */

enum form_err {
	FORM_OK = 0,
	FORM_TOO_MANY,   /* more than FORM_MAX_PARAMS pairs */
	FORM_TOO_LONG,   /* a name or value over its limit */
	FORM_BAD_ESCAPE, /* '%' not followed by two hex digits */
	FORM_BAD_BYTE,   /* NUL or another control byte, raw or escaped */
	FORM_NOMEM,
};

struct form_param {
	slice name;
	slice value;
};

struct form {
	struct form_param p[FORM_MAX_PARAMS];
	int n;
	char *arena;
	size_t arena_len;
};

/* Percent-decodes in[0..n) into out (which needs n bytes); plus_is_space turns '+' into ' '.
 * Returns the decoded length, or -1 (bad escape) / -2 (control byte). */
ssize_t pct_decode(const char *in, size_t n, char *out, int plus_is_space);

enum form_err form_parse(const char *body, size_t n, struct form *f);
const char *form_err_text(enum form_err e);
/* One parameter that may appear at most once. Empty values count as absent (RFC 6749 §3.2).
 * Returns 1 and sets *out when present, 0 when absent, -1 when given more than once. */
int form_get1(const struct form *f, const char *name, slice *out);
/* Non-empty values of a repeatable parameter, in order, at most max of them stored;
 * returns how many there are in all (may exceed max: the caller decides). */
int form_getall(const struct form *f, const char *name, slice *out, int max);
/* The first parameter (other than the one named except) that appears twice with
 * non-empty values, or NULL. */
const struct form_param *form_duplicate(const struct form *f, const char *except);
void form_free(struct form *f);
#endif
