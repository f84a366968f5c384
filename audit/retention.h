/* retention.h - audit retention (`serve --audit-retention`): whether rows older than the
 * kept window exist. The deletion is audit_prune_job (audit.h), a chunk at a time. */
#ifndef WARRANT_AUDIT_RETENTION_H
#define WARRANT_AUDIT_RETENTION_H
#include "../store/db.h"

#include <stdint.h>

/* 1 when an audit row is older than before_ms, 0 when none is, -1 on a database error. */
int audit_prune_due(struct db *db, int64_t before_ms);
#endif
