/* summary.h - per-minute summaries of refusals nobody is accountable for (SPEC "Audit").
 *
 * A refusal of an unknown client and a request refused by a throttle are not written as a
 * row each: audit_insert() counts them here, per (minute, event, client address, reason,
 * error), and audit_summary_flush() appends one row per key once its minute has ended (or
 * at shutdown), with the count in its detail. Rows are only ever appended. Until a flush,
 * the counts live in this process's memory alone: a crash loses at most the minute that had
 * not ended yet (and the one that had just ended, if the crash comes before the next tick).
 *
 * Memory is bounded by AUDIT_SUMMARY_BYTES, a fixed table allocated with the process: a key
 * that does not fit goes into the minute's overflow bucket for its event and reason (no
 * client address; detail "overflow":true), never into new memory. */
#ifndef WARRANT_AUDIT_SUMMARY_H
#define WARRANT_AUDIT_SUMMARY_H
#include "audit.h"

#include <stdint.h>

/* The table's size: about 9,000 keys, enough for that many client addresses refused in one
 * minute and the next; every further address that minute is counted in the overflow. */
#define AUDIT_SUMMARY_BYTES (1 << 20)
/* Slots kept free for the overflow buckets (one per minute, event, reason and error). */
#define AUDIT_SUMMARY_OVERFLOW_SLOTS 256

/* Counts ev (marked with audit_event_summarize) in the current minute. Never allocates and
 * never fails; an event that fits nowhere (the overflow slots too are full, which takes
 * minutes of failed flushes) is counted in audit_summary_lost(). Thread-safe. */
void audit_summary_add(const struct audit_event *ev);

struct writer;
/* Appends one row per key whose minute ended before now_ms (every key when all is set: at
 * shutdown, after the jobs already queued have run), through the writer w (writer_call:
 * committed when this returns), and forgets them. Call it from the housekeeping tick, and
 * once after the listener has stopped and before the writer stops. Returns the rows
 * written, or -1 when the commit failed (the counts are kept and written by a later call).
 * Calls are serialised. */
int audit_summary_flush(struct writer *w, int64_t now_ms, int all);

/* Events counted but not yet flushed; events that could not be counted at all since the
 * process started (each flush also logs those of its interval, "audit summary full"). */
long audit_summary_pending(void);
long audit_summary_lost(void);
#endif
