/* buf.h - a growable byte buffer with a hard cap, for building responses and JSON.
 *
 * Every append either succeeds or marks the buffer failed (b->failed) and returns -1;
 * later appends are no-ops, so a caller may append a sequence and test once at the end.
 * buf_free() wipes the bytes before freeing them: buffers may hold tokens and secrets. */
#ifndef WARRANT_BUF_H
#define WARRANT_BUF_H
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct buf {
	char *p; /* NUL-terminated while not failed; owned */
	size_t len;
	size_t cap;
	size_t max; /* the cap: appends beyond it fail */
	int failed;
};

void buf_init(struct buf *b, size_t max);
int buf_put(struct buf *b, const void *data, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends n bytes of s as a JSON string literal with quotes (RFC 8259 §7): '"', '\\' and
 * control bytes are escaped, ill-formed UTF-8 becomes U+FFFD, so the output is always
 * valid JSON in UTF-8 (§8.1) whatever the input. */
int buf_json_str(struct buf *b, const char *s, size_t n);
static inline int buf_json_cstr(struct buf *b, const char *s)
{
	return s ? buf_json_str(b, s, strlen(s)) : buf_puts(b, "null");
}
/* Hands the bytes to the caller (free with free()); the buffer is empty afterwards. */
char *buf_steal(struct buf *b, size_t *len);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* RFC 3629 §4: the length of the well-formed UTF-8 sequence at s[0..n) (n >= 1), or minus
 * the number of bytes of an ill-formed one (its maximal subpart, Unicode §3.9: at least 1).
 * The one rule for every place that replaces ill-formed input with U+FFFD. */
int utf8_len(const unsigned char *s, size_t n);
#endif
