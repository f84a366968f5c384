/* timeutil.h - wall-clock helpers. All stored times are integer milliseconds since the
 * epoch (UTC); RFC 3339 strings are for display and JSON only. */
#ifndef WARRANT_TIMEUTIL_H
#define WARRANT_TIMEUTIL_H
#include <stddef.h>
#include <stdint.h>

int64_t now_ms(void);
/* "2026-11-23T10:00:00Z" into out (>= 21 bytes); returns out. */
char *rfc3339(int64_t ms, char out[32]);
/* Parses RFC 3339 UTC ("...Z" or "+00:00" offsets) or a relative "7d"/"12h"/"30m"/"45s"
 * meaning that long before now. Returns 0 and sets *ms, or -1. */
int parse_time_arg(const char *s, int64_t *ms);
/* Bounded decimal parsing; returns 0 and sets *v when s is all digits in [min,max]. */
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *v);
#endif
