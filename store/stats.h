/* stats.h - figures read from the database for the /metrics gauges: the signing keys'
 * state and the credential grace windows open now. */
#ifndef WARRANT_STORE_STATS_H
#define WARRANT_STORE_STATS_H
#include "db.h"

#include <stdint.h>

struct store_stats {
	int64_t current_activated_at; /* ms the current key became current; -1 unknown */
	int64_t keys_published;       /* next, current and retiring keys; -1 unknown */
	int64_t grace_open;           /* live credentials not yet expired; -1 unknown */
	int db_up;                    /* the database answered */
};

/* Fills s as of now (ms). db may be NULL (no connection): everything is then unknown and
 * db_up 0. Never fails otherwise; a value that cannot be read is -1. */
void store_stats_read(struct db *db, int64_t now, struct store_stats *s);
#endif
