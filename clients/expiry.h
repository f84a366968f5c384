/* expiry.h - whether credentials whose grace window ended still wait for their
 * credential.expired audit row (the row itself is credential_expiry_job, credentials.h). */
#ifndef WARRANT_CLIENTS_EXPIRY_H
#define WARRANT_CLIENTS_EXPIRY_H
#include "../store/db.h"

#include <stdint.h>

/* 1 when a live credential expired at or before now (ms) has not been audited yet, 0 when
 * none has, -1 on a database error. Reads only. */
int credential_expiry_due(struct db *db, int64_t now);
#endif
