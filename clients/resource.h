/* resource.h - resource servers as clients: the downstream APIs that introspect tokens.
 *
 * A resource server has an id (rs_...), a secret shown once and stored as a verifier, and
 * optionally an audience: then it sees only tokens whose aud contains it; without one (a
 * trusted gateway) it sees all. Its secret can be rotated (the previous one works for a
 * grace) and it can be disabled (it cannot authenticate, and its audience is no longer one
 * tokens can be requested for) and enabled again. A server sees each such change through
 * the change log (CHANGE_RESOURCE_STATE) within its poll interval, and at once before it
 * refuses a resource server's credentials. */
#ifndef WARRANT_RESOURCE_H
#define WARRANT_RESOURCE_H
#include "../common/oerr.h"
#include "../common/rand.h"
#include "../store/db.h"

#define RS_AUDIENCE_MAX 512

struct resource_new {
	const char *name, *audience, *client_addr;
	char id[ID_MAX];
	char secret[SECRET_LEN + 1];
	struct oerr err;
};
/* Writer job: registers a resource server. 0, 1 refused (err set), -1 error. */
int resource_create_job(struct db *db, void *arg);
/* 1 when uri is the audience of a registered, active resource server; 0 not; -1 error. */
int resource_audience_known(struct db *db, const char *uri);

/* The longest grace a rotated secret may keep working, and the default (none). */
#define RS_GRACE_MAX 86400
#define RS_GRACE_DEFAULT 0

struct resource_rotation {
	/* in */
	const char *id;
	int64_t grace;     /* seconds, 0..RS_GRACE_MAX: how long the old secret works */
	const char *actor; /* NULL: "system" */
	/* out */
	char secret[SECRET_LEN + 1];    /* the new secret, shown once; the caller wipes it */
	char audience[RS_AUDIENCE_MAX]; /* "" for none */
	int64_t old_expires_at;         /* ms; 0 when the old secret stopped at once */
	struct oerr err;
};
/* Writer job: a new secret for resource server id; the previous one keeps working until
 * old_expires_at (a secret from an earlier rotation stops now). Audited as
 * credential.rotated. 0, 1 refused (404 not_found for an unknown id, 400 for a bad grace;
 * err set), -1 error. */
int resource_rotate_job(struct db *db, void *arg);

struct resource_state {
	/* in */
	const char *id;
	int enable;        /* 1 enable, 0 disable */
	const char *actor; /* NULL: "system" */
	/* out */
	char audience[RS_AUDIENCE_MAX];
	int changed; /* 0: it was already in that state (nothing written) */
	struct oerr err;
};
/* Writer job: disables or enables resource server id. Disabled, it cannot authenticate
 * (401 invalid_client, reason resource_disabled) and its audience is no longer an allowed
 * resource at /token unless another active resource server has it. Audited as
 * resource.disabled or resource.enabled. 0, 1 refused (404 for an unknown id), -1 error. */
int resource_state_job(struct db *db, void *arg);

/* Checks a resource server's secret (the current one, or the previous one during its
 * grace): 0 (rs_id and audience set, "" for none), 1 with 401 invalid_client in e (reason
 * bad_resource_credentials, or resource_disabled for a disabled server's right secret),
 * -1 on a database error. On a refusal, rs_id names the resource server when id is a
 * registered one's ("" when it is nobody's): the refusal of a known caller. */
int resource_secret_verify(struct db *db, const char *id, const char *secret, char rs_id[ID_MAX],
			   char audience[RS_AUDIENCE_MAX], struct oerr *e);
/* The server keeps what resource-server authentication reads in memory once enabled. */
void resource_cache_enable(void);
/* Forgets what the cache holds for resource server id (its secret or status changed). */
void resource_cache_forget(const char *id);
#endif
