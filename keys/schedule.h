/* schedule.h - when the signing-key lifecycle has work to do: cheap reads that decide
 * whether the writer jobs of rotate.h should run (retire, publish a next key, rotate).
 *
 * Each takes the caller's own reader connection; none writes. The predicates return 1
 * (due), 0 (not due) or -1 (database error: treat as not due and try again later). */
#ifndef WARRANT_KEYS_SCHEDULE_H
#define WARRANT_KEYS_SCHEDULE_H
#include "../store/db.h"

#include <stddef.h>
#include <stdint.h>

/* A retiring key whose retire_after has passed (now in ms). */
int key_retirement_due(struct db *db, int64_t now);
/* No next key is published (one was retired or never made). */
int key_next_missing(struct db *db);
/* The current key became current at least interval_s seconds before now (ms). */
int key_rotation_due(struct db *db, int64_t now, int interval_s);
/* How many keys are current: exactly 1 in a healthy database; -1 on error. */
int key_current_count(struct db *db);
/* A fingerprint of the published key set ("kid:state,..." in kid order) into out (cap
 * bytes, NUL-terminated, cut at cap): it changes whenever the keyring should reload.
 * 0, or -1 on error (out is then ""). */
int key_set_fingerprint(struct db *db, char *out, size_t cap);
#endif
