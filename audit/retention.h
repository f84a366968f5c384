/* retention.h - audit retention (`serve --audit-retention`).
 *
 * Rows written before chaining began (no chain) go once older than the window. A chain
 * loses only a whole prefix, up to its newest checkpoint signed more than a second before
 * the window's start (so every row it covers is older than the window): verification then
 * starts at that checkpoint's hash, which is kept, with the checkpoints after it. Rows of a
 * chain past that checkpoint stay until a later checkpoint covers them. The deletion is
 * audit_prune_job (audit.h), a chunk at a time. */
#ifndef WARRANT_AUDIT_RETENTION_H
#define WARRANT_AUDIT_RETENTION_H
#include "../store/db.h"

#include <stdint.h>

/* 1 when rows may be pruned for the window starting at before_ms, 0 when none may, -1 on a
 * database error. */
int audit_prune_due(struct db *db, int64_t before_ms);
#endif
