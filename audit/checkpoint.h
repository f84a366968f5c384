/* checkpoint.h - signed checkpoints of audit chains (SPEC "Tamper-evident audit").
 *
 * A checkpoint is a compact JWS, typ "audit-checkpoint+jwt", claims iss, chain, seq, hash
 * (the chain's row seq and its hash) and iat (seconds), signed with the current signing
 * key. A server signs its own chain at least every interval while it grows (default 60 s,
 * `serve --audit-checkpoint-interval`), and once more when it stops; the server that runs
 * scheduled work signs the command line's chain too. Checkpoints are rows of
 * audit_checkpoints, kept as long as the rows they cover are kept, and listed at
 * GET /audit/checkpoints. audit/ sits below keys/: the signature is the caller's function. */
#ifndef WARRANT_AUDIT_CHECKPOINT_H
#define WARRANT_AUDIT_CHECKPOINT_H
#include "../common/buf.h"
#include "../store/db.h"

#include <stdint.h>

#define CHECKPOINT_INTERVAL_DEFAULT 60
#define CHECKPOINT_INTERVAL_MAX 60 /* SPEC: at least once a minute */
#define CHECKPOINT_TYP "audit-checkpoint+jwt"
/* GET /audit/checkpoints answers at most this many, oldest first from `since` */
#define CHECKPOINT_LIST_MAX 1000

/* Appends the compact JWS of payload (n bytes) with typ to out: 0 or -1. */
typedef int (*checkpoint_sign_fn)(void *arg, const char *typ, const char *payload, size_t n, struct buf *out);

struct checkpoint_job {
	const char *chain, *iss;
	checkpoint_sign_fn sign;
	void *sign_arg;
	int64_t seq; /* out: the seq signed, 0 when the chain had not grown */
};
/* Writer job: when chain has rows past its newest checkpoint, signs its head and stores the
 * checkpoint. 0 (also when there was nothing to sign), or -1 (database, signature). */
int checkpoint_job(struct db *db, void *arg);

/* Calls emit with each checkpoint's JSON object {"chain","seq","hash","iat","jws"} whose iat
 * is at or after since_s (seconds), oldest first, at most limit (0: all). Rows or -1. */
long checkpoint_list(struct db *db, int64_t since_s, long limit, void (*emit)(void *arg, const char *json, size_t n),
		     void *arg);
/* The server's settings, set once before its threads start: its own chain (the writer's)
 * and the interval in seconds (1..CHECKPOINT_INTERVAL_MAX). */
void checkpoint_configure(const char *own_chain, int interval_s);
const char *checkpoint_own_chain(void);
int checkpoint_interval_s(void);
#endif
