/* maint.h - the server's once-a-second housekeeping thread: picks up changes that other
 * processes made to the database (keys today; caches as they come). */
#ifndef WARRANT_MAINT_H
#define WARRANT_MAINT_H
#include "../core/warrant.h"

#define MAINT_INTERVAL_MS 250

int maint_start(struct warrant *w);
void maint_stop(void);
#endif
