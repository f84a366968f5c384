/* summary.c - per-minute summaries of refusals nobody is accountable for; see summary.h. */
#include "summary.h"

#include "../common/buf.h"
#include "../common/log.h"
#include "../common/timeutil.h"
#include "../store/writer.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	int64_t minute; /* minutes since the epoch */
	int64_t count;
	int64_t last_ms;                    /* when the last event counted here came: the row's time */
	const char *event, *reason, *error; /* static strings; event NULL: a free slot */
	char addr[64];                      /* "" for the overflow bucket */
};

#define NSLOTS (AUDIT_SUMMARY_BYTES / sizeof(struct slot))
/* open addressing with linear probes: at most three quarters used, so a probe ends soon */
#define MAX_USED (NSLOTS * 3 / 4)
_Static_assert(MAX_USED > 4 * AUDIT_SUMMARY_OVERFLOW_SLOTS, "the summary table is too small");

static struct slot table[NSLOTS];
static size_t used;
static long pending, lost, lost_total;
static int64_t oldest = INT64_MAX; /* the oldest minute in the table */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t flush_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t mix(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL; /* FNV-1a */
	return (h ^ 0xff) * 1099511628211ULL;                   /* a separator no string holds */
}

static int same(const struct slot *s, const struct slot *k)
{
	return s->minute == k->minute && strcmp(s->event, k->event) == 0 && strcmp(s->reason, k->reason) == 0 &&
	       strcmp(s->error, k->error) == 0 && strcmp(s->addr, k->addr) == 0;
}

/* The slot of key k, taken if free and fewer than limit slots are used; NULL when none.
 * Caller holds mu. */
static struct slot *find(const struct slot *k, size_t limit)
{
	uint64_t h = 14695981039346656037ULL ^ (uint64_t)k->minute;
	h = mix(mix(mix(mix(h, k->event), k->reason), k->error), k->addr);
	for (size_t i = (size_t)(h % NSLOTS);; i = (i + 1) % NSLOTS) {
		struct slot *s = &table[i];
		if (s->event && same(s, k))
			return s;
		if (s->event)
			continue;
		if (used >= limit)
			return NULL;
		*s = *k;
		s->count = 0;
		used++;
		if (k->minute < oldest)
			oldest = k->minute;
		return s;
	}
}

/* Counts n events of key k: its own slot, else the minute's overflow bucket. Caller holds mu. */
static void count(struct slot *k, int64_t n, int64_t at)
{
	struct slot *s = k->addr[0] ? find(k, MAX_USED - AUDIT_SUMMARY_OVERFLOW_SLOTS) : NULL;
	if (!s) {
		k->addr[0] = '\0';
		s = find(k, MAX_USED);
	}
	if (!s) {
		lost += (long)n;
		lost_total += (long)n;
		return;
	}
	s->count += n;
	if (at > s->last_ms)
		s->last_ms = at;
	pending += (long)n;
}

void audit_summary_add(const struct audit_event *ev)
{
	struct slot k;
	memset(&k, 0, sizeof k);
	int64_t now = now_ms();
	k.event = ev->event ? ev->event : "";
	k.reason = ev->summary_reason ? ev->summary_reason : "";
	k.error = ev->summary_error ? ev->summary_error : "";
	/* an address longer than the slot holds is no address we serve: the overflow bucket */
	if (strlen(ev->client_addr) < sizeof k.addr)
		memcpy(k.addr, ev->client_addr, strlen(ev->client_addr) + 1);
	pthread_mutex_lock(&mu);
	/* the minute of the count, not of the event: a row per key and minute, even when a
	 * request straddles the minute's end while the flush runs */
	k.minute = now / 60000;
	count(&k, 1, now);
	pthread_mutex_unlock(&mu);
}

static int by_time(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;
	return x->last_ms < y->last_ms ? -1 : x->last_ms > y->last_ms;
}

struct flush {
	struct slot *s;
	size_t n;
};

/* Writer job: one row per summarized key. */
static int flush_job(struct db *db, void *arg)
{
	struct flush *f = arg;
	for (size_t i = 0; i < f->n; i++) {
		const struct slot *s = &f->s[i];
		struct audit_keys k = {.actor = "", .client_addr = s->addr};
		struct audit_event ev;
		audit_event_init(&ev, s->event, "refused", &k);
		ev.time = s->last_ms;
		char t[32];
		rfc3339(s->minute * 60000, t);
		t[16] = '\0'; /* "2026-12-03T10:00" */
		struct buf d;
		buf_init(&d, AUDIT_DETAIL_LIMIT);
		buf_puts(&d, "{\"reason\":");
		buf_json_cstr(&d, s->reason);
		buf_puts(&d, ",\"error\":");
		buf_json_cstr(&d, s->error);
		buf_printf(&d, ",\"count\":%lld,\"minute\":\"%sZ\",\"summary\":true%s}", (long long)s->count, t,
			   s->addr[0] ? "" : ",\"overflow\":true");
		audit_detail_take(&ev, &d);
		int rc = audit_insert(db, &ev);
		audit_event_clear(&ev);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Takes the keys to flush out of the table (into *f, ordered by time) and rebuilds it with
 * the others. 0 (f->n may be 0), -1 out of memory. Caller holds mu. */
static int take(int64_t minute_now, int all, struct flush *f)
{
	f->s = NULL;
	f->n = 0;
	if (used == 0 || (!all && oldest >= minute_now))
		return 0;
	struct slot *all_slots = malloc(used * sizeof *all_slots);
	if (!all_slots)
		return -1;
	size_t n = 0;
	for (size_t i = 0; i < NSLOTS; i++)
		if (table[i].event)
			all_slots[n++] = table[i];
	assert(n == used);
	memset(table, 0, sizeof table);
	used = 0;
	pending = 0;
	oldest = INT64_MAX;
	for (size_t i = 0; i < n; i++) {
		struct slot k = all_slots[i];
		if (!all && k.minute >= minute_now)
			count(&k, k.count, k.last_ms); /* fits: the table held it a moment ago */
		else
			all_slots[f->n++] = k;
	}
	qsort(all_slots, f->n, sizeof *all_slots, by_time);
	f->s = all_slots;
	return 0;
}

static int nothing(struct db *db, void *arg) { return 0; }

int audit_summary_flush(struct writer *w, int64_t now, int all)
{
	struct flush f;
	/* at shutdown, the jobs already queued count their events first */
	if (all && w)
		writer_call(w, nothing, NULL);
	pthread_mutex_lock(&flush_mu);
	pthread_mutex_lock(&mu);
	int rc = take(now / 60000, all, &f);
	long lost_now = lost;
	lost = 0;
	pthread_mutex_unlock(&mu);
	if (lost_now)
		log_event(LOG_WARN, "audit summary full", ",\"events_not_counted\":%ld", lost_now);
	if (rc == 0 && f.n > 0) {
		if (!w || writer_call(w, flush_job, &f) != 0) {
			/* kept for the next call: put the counts back */
			pthread_mutex_lock(&mu);
			for (size_t i = 0; i < f.n; i++)
				count(&f.s[i], f.s[i].count, f.s[i].last_ms);
			pthread_mutex_unlock(&mu);
			rc = -1;
		}
	}
	free(f.s);
	pthread_mutex_unlock(&flush_mu);
	return rc < 0 ? -1 : (int)f.n;
}

long audit_summary_pending(void)
{
	pthread_mutex_lock(&mu);
	long n = pending;
	pthread_mutex_unlock(&mu);
	return n;
}

long audit_summary_lost(void)
{
	pthread_mutex_lock(&mu);
	long n = lost_total;
	pthread_mutex_unlock(&mu);
	return n;
}
