/* rotate.h - the signing-key lifecycle: next -> current -> retiring -> retired.
 *
 * A next key is published (JWKS) before it signs, for at least the JWKS cache lifetime;
 * rotation makes it current, the old current retiring, and creates a new next key. A
 * retiring key stays published until every token it signed has expired, plus leeway;
 * then it is retired: gone from JWKS, its private half erased. Exactly one key is current
 * (a unique index), whatever number of processes share the database. */
#ifndef WARRANT_ROTATE_H
#define WARRANT_ROTATE_H
#include "../common/oerr.h"
#include "../store/db.h"
#include "keys.h"

#define KEY_ROTATION_DEFAULT 86400 /* seconds between scheduled rotations */
#define JWKS_MAX_AGE_DEFAULT 300   /* seconds downstream may cache /jwks */

/* Timing that the serving processes publish in settings (serve writes them at start). */
struct key_timing {
	int64_t token_ttl, leeway, jwks_max_age, rotation_interval; /* seconds */
};
int key_timing_load(struct db *db, struct key_timing *t);
int key_timing_store(struct db *db, const struct key_timing *t);

struct key_rotation {
	/* in */
	int force;     /* promote a next key younger than the JWKS cache lifetime */
	int scheduled; /* only if the current key is older than the rotation interval */
	const char *actor;
	/* out */
	char old_kid[KID_MAX], new_kid[KID_MAX], next_kid[KID_MAX];
	int64_t retire_after; /* ms */
	int rotated;
	struct oerr err;
};
/* Writer job. 0 done (rotated says whether anything happened), 1 refused, -1 error. */
int key_rotate_job(struct db *db, void *arg);

struct key_retirement {
	const char *kid; /* NULL: every retiring key whose time has come */
	const char *actor;
	int count;
	struct oerr err;
};
/* Writer job: retires keys (erasing their private halves). With kid set it retires that
 * key at once (a leaked key), refusing the current key. 0, 1 refused, -1 error. */
int key_retire_job(struct db *db, void *arg);
/* Writer job: publishes a next key when there is none (after a next key was retired). */
int key_ensure_next_job(struct db *db, void *arg);
#endif
