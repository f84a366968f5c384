/* metrics.h - counters and latency histograms, rendered for Prometheus at GET /metrics.
 *
 * Counting is lock-free on the request path (atomics); series are created on first use
 * and never removed (the label sets are small and bounded). /metrics is served only to
 * loopback clients, or to anyone presenting --metrics-token as a Bearer token. */
#ifndef WARRANT_METRICS_H
#define WARRANT_METRICS_H
#include "../common/buf.h"
#include "../core/warrant.h"

#include <stdint.h>

/* name and label value are static strings (or copied on first use, up to 40 bytes). */
void metrics_count(const char *name, const char *label_key, const char *label);
/* Records one request of route (a static path) that took ns nanoseconds. */
void metrics_observe(const char *route, int status, int64_t ns);
/* Renders everything, plus gauges read now from w and the database. */
void metrics_render(struct warrant *w, struct buf *out);
#endif
