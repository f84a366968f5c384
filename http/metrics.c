/* metrics.c - Prometheus text exposition (version 0.0.4); see metrics.h. */
#include "metrics.h"

#include "../audit/webhook.h"
#include "../common/timeutil.h"
#include "../sched/housekeeping.h"
#include "../store/stats.h"
#include "../token/live.h"
#include "../token/verify.h"
#include "http.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static void audit_webhook(struct buf *b);

#define SERIES_MAX 256
#define ROUTES_MAX 24
static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
#define NBOUNDS (sizeof bounds / sizeof bounds[0])

struct series {
	const char *name;
	const char *label_key;
	char label[48];
	atomic_long v;
};

struct hist {
	const char *route;
	atomic_long buckets[NBOUNDS + 1];
	atomic_long count, sum_us;
	atomic_long status[6]; /* by class: 1xx..5xx, [0] other */
};

static struct series series[SERIES_MAX];
static atomic_int nseries;
static struct hist hists[ROUTES_MAX];
static atomic_int nhists;
static pthread_mutex_t add_mu = PTHREAD_MUTEX_INITIALIZER;

void metrics_count(const char *name, const char *label_key, const char *label)
{
	if (!label)
		label = "";
	int n = atomic_load(&nseries);
	for (int i = 0; i < n; i++)
		if (series[i].name == name && strcmp(series[i].label, label) == 0) {
			atomic_fetch_add(&series[i].v, 1);
			return;
		}
	pthread_mutex_lock(&add_mu);
	n = atomic_load(&nseries);
	int i;
	for (i = 0; i < n; i++)
		if (series[i].name == name && strcmp(series[i].label, label) == 0)
			break;
	if (i == n && n < SERIES_MAX) {
		series[n].name = name;
		series[n].label_key = label_key;
		snprintf(series[n].label, sizeof series[n].label, "%s", label);
		atomic_store(&nseries, n + 1);
	}
	pthread_mutex_unlock(&add_mu);
	if (i < SERIES_MAX)
		atomic_fetch_add(&series[i].v, 1);
}

void metrics_observe(const char *route, int status, int64_t ns)
{
	int n = atomic_load(&nhists), i;
	for (i = 0; i < n; i++)
		if (hists[i].route == route)
			break;
	if (i == n) {
		pthread_mutex_lock(&add_mu);
		n = atomic_load(&nhists);
		for (i = 0; i < n; i++)
			if (hists[i].route == route)
				break;
		if (i == n && n < ROUTES_MAX) {
			hists[n].route = route;
			atomic_store(&nhists, n + 1);
		}
		pthread_mutex_unlock(&add_mu);
		if (i >= ROUTES_MAX)
			return;
	}
	struct hist *h = &hists[i];
	double s = (double)ns / 1e9;
	size_t b = 0;
	while (b < NBOUNDS && s > bounds[b])
		b++;
	atomic_fetch_add(&h->buckets[b], 1);
	atomic_fetch_add(&h->count, 1);
	atomic_fetch_add(&h->sum_us, ns / 1000);
	atomic_fetch_add(&h->status[status >= 100 && status < 600 ? status / 100 : 0], 1);
}

/* Every counter series, each name once with all its labels. */
static void counters(struct buf *b)
{
	int n = atomic_load(&nseries);
	for (int i = 0; i < n; i++) {
		int first = 1; /* print each name once, with all its series */
		for (int j = 0; j < i && first; j++)
			first = series[j].name != series[i].name;
		if (!first)
			continue;
		buf_printf(b, "# TYPE %s counter\n", series[i].name);
		for (int k = i; k < n; k++) {
			if (series[k].name != series[i].name)
				continue;
			if (series[k].label_key)
				buf_printf(b, "%s{%s=\"%s\"} %ld\n", series[k].name, series[k].label_key,
					   series[k].label, atomic_load(&series[k].v));
			else
				buf_printf(b, "%s %ld\n", series[k].name, atomic_load(&series[k].v));
		}
	}
}

/* Latency histograms and response classes by route. */
static void histograms(struct buf *b)
{
	int nh = atomic_load(&nhists);
	buf_puts(b, "# HELP warrant_http_request_duration_seconds Time from a complete request to its answer.\n"
		    "# TYPE warrant_http_request_duration_seconds histogram\n");
	for (int i = 0; i < nh; i++) {
		struct hist *h = &hists[i];
		long cum = 0;
		for (size_t k = 0; k <= NBOUNDS; k++) {
			cum += atomic_load(&h->buckets[k]);
			if (k < NBOUNDS)
				buf_printf(b,
					   "warrant_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %ld\n",
					   h->route, bounds[k], cum);
			else
				buf_printf(
					b,
					"warrant_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %ld\n",
					h->route, cum);
		}
		buf_printf(b, "warrant_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", h->route,
			   (double)atomic_load(&h->sum_us) / 1e6);
		buf_printf(b, "warrant_http_request_duration_seconds_count{route=\"%s\"} %ld\n", h->route,
			   atomic_load(&h->count));
	}
	buf_puts(b, "# TYPE warrant_http_responses_total counter\n");
	for (int i = 0; i < nh; i++)
		for (int k = 1; k < 6; k++)
			buf_printf(b, "warrant_http_responses_total{route=\"%s\",code=\"%dxx\"} %ld\n", hists[i].route,
				   k, atomic_load(&hists[i].status[k]));
}

/* Gauges read now: the signing keys, grace windows and the database (store/stats.h). */
static void gauges(struct warrant *w, struct buf *b)
{
	int64_t now = now_ms();
	struct store_stats st;
	store_stats_read(warrant_reader(w), now, &st);
	int64_t activated = st.current_activated_at;
	buf_puts(b, "# HELP warrant_signing_key_age_seconds Age of the current signing key.\n"
		    "# TYPE warrant_signing_key_age_seconds gauge\n");
	buf_printf(b, "warrant_signing_key_age_seconds %lld\n",
		   (long long)(activated > 0 ? (now - activated) / 1000 : -1));
	buf_puts(b,
		 "# HELP warrant_signing_key_next_rotation_seconds Seconds to the next scheduled rotation (-1: none).\n"
		 "# TYPE warrant_signing_key_next_rotation_seconds gauge\n");
	buf_printf(b, "warrant_signing_key_next_rotation_seconds %lld\n",
		   (long long)(activated > 0 && w->key_rotation > 0
				       ? (activated + (int64_t)w->key_rotation * 1000 - now) / 1000
				       : -1));
	buf_printf(b, "# TYPE warrant_signing_keys_published gauge\nwarrant_signing_keys_published %lld\n",
		   (long long)st.keys_published);
	buf_puts(b, "# HELP warrant_credential_grace_windows_open Old credentials still accepted after a rotation.\n"
		    "# TYPE warrant_credential_grace_windows_open gauge\n");
	buf_printf(b, "warrant_credential_grace_windows_open %lld\n", (long long)st.grace_open);
	buf_printf(b, "# TYPE warrant_database_up gauge\nwarrant_database_up %d\n", st.db_up);
}

/* The writer, caches and connections, from their own counters. */
static void internals(struct warrant *w, struct buf *b)
{
	struct writer_stats ws = {0};
	if (w->writer)
		writer_stats(w->writer, &ws);
	buf_puts(b, "# HELP warrant_audit_writer_queue Writes waiting for the group-commit writer.\n"
		    "# TYPE warrant_audit_writer_queue gauge\n");
	buf_printf(b, "warrant_audit_writer_queue %d\n", ws.queued);
	buf_printf(b, "# TYPE warrant_audit_writer_batches_total counter\nwarrant_audit_writer_batches_total %ld\n",
		   ws.batches);
	buf_printf(b, "# TYPE warrant_audit_writer_jobs_total counter\nwarrant_audit_writer_jobs_total %ld\n", ws.jobs);
	buf_puts(b, "# HELP warrant_wal_frames Pages in the database's write-ahead log after the last commit.\n"
		    "# TYPE warrant_wal_frames gauge\n");
	buf_printf(b, "warrant_wal_frames %d\n", ws.wal_frames);
	buf_puts(b, "# HELP warrant_wal_restarts_total Checkpoints the writer ran so the write-ahead log starts over.\n"
		    "# TYPE warrant_wal_restarts_total counter\n");
	buf_printf(b, "warrant_wal_restarts_total %ld\n", ws.wal_restarts);
	long hits, misses;
	size_t entries;
	tcache_stats(&hits, &misses, &entries);
	buf_printf(b, "# TYPE warrant_token_cache_hits_total counter\nwarrant_token_cache_hits_total %ld\n", hits);
	buf_printf(b, "# TYPE warrant_token_cache_misses_total counter\nwarrant_token_cache_misses_total %ld\n",
		   misses);
	buf_printf(b, "# TYPE warrant_live_changes_applied_total counter\nwarrant_live_changes_applied_total %ld\n",
		   live_applied());
	buf_puts(b, "# HELP warrant_scheduler_leader 1 on the node that runs scheduled work (key rotation,"
		    " expiry, retention), 0 elsewhere.\n# TYPE warrant_scheduler_leader gauge\n");
	buf_printf(b, "warrant_scheduler_leader %d\n", housekeeping_leading());
	buf_printf(b, "# TYPE warrant_slow_connections_cut_total counter\nwarrant_slow_connections_cut_total %ld\n",
		   server_swept());
	audit_webhook(b);
}

/* `serve --audit-webhook`: rows the receiver has not acknowledged yet (-1 on a node that
 * does not deliver, or before the first pass), and the deliveries so far. */
static void audit_webhook(struct buf *b)
{
	struct webhook_stats s;
	webhook_stats(&s);
	if (!s.running)
		return;
	buf_puts(b, "# HELP warrant_audit_webhook_lag_rows Audit rows not yet acknowledged by the webhook receiver.\n"
		    "# TYPE warrant_audit_webhook_lag_rows gauge\n");
	buf_printf(b, "warrant_audit_webhook_lag_rows %lld\n", (long long)s.lag_rows);
	buf_printf(b,
		   "# TYPE warrant_audit_webhook_delivered_total counter\nwarrant_audit_webhook_delivered_total %lld\n",
		   (long long)s.delivered);
	buf_printf(b,
		   "# TYPE warrant_audit_webhook_failures_total counter\nwarrant_audit_webhook_failures_total %lld\n",
		   (long long)s.failures);
}

void metrics_render(struct warrant *w, struct buf *b)
{
	counters(b);
	histograms(b);
	gauges(w, b);
	internals(w, b);
}
