/* credentials.h - rotating and revoking an agent's credentials.
 *
 * Rotation creates a new secret that works at once; the previous one keeps working for
 * the grace window, then fails with invalid_client. Key credentials (keycred.h) are not
 * touched: they rotate with `agent key add --grace`. At most two secrets are live: a rotation
 * during a grace window ends the older grace at once. Revocation (compromise) ends a
 * credential now and makes every token it minted inactive. */
#ifndef WARRANT_CREDENTIALS_H
#define WARRANT_CREDENTIALS_H
#include "agents.h"

#define GRACE_DEFAULT 900
#define GRACE_MAX 86400

struct credential_rotation {
	/* in */
	const char *agent_id;
	int64_t grace;           /* seconds, 0..GRACE_MAX */
	const char *owner_scope; /* /v1: only the caller's agents (404 otherwise) */
	const char *actor, *client_addr, *request_id;
	/* out */
	char cred_id[ID_MAX];
	char old_cred_id[ID_MAX];
	char secret[SECRET_LEN + 1];
	int64_t old_expires_at; /* ms; 0 when there was no previous credential */
	struct oerr err;
};
int credential_rotate_job(struct db *db, void *arg);

struct credential_revocation {
	const char *agent_id, *cred_id;
	const char *owner_scope;
	const char *actor, *client_addr, *request_id;
	struct oerr err;
};
int credential_revoke_job(struct db *db, void *arg);

/* 1 when cred_id is a credential of agent_id that authenticates at now (ms): not revoked,
 * its grace not over; 0 when not; -1 on a database error. Read from the records. */
int credential_live(struct db *db, const char *agent_id, const char *cred_id, int64_t now);

/* Writer job: one credential.expired audit row per credential whose grace has ended. */
int credential_expiry_job(struct db *db, void *arg);
#endif
