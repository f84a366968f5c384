/* resource.h - resource servers as clients: the downstream APIs that introspect tokens.
 *
 * A resource server has an id (rs_...), a secret shown once and stored as a verifier, and
 * optionally an audience: then it sees only tokens whose aud contains it; without one (a
 * trusted gateway) it sees all. */
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

/* Checks a resource server's secret: 0 (rs_id and audience set, "" for none), 1 with 401
 * invalid_client in e (reason bad_resource_credentials), -1 on a database error. */
int resource_secret_verify(struct db *db, const char *id, const char *secret, char rs_id[ID_MAX],
			   char audience[RS_AUDIENCE_MAX], struct oerr *e);
/* The server keeps what resource-server authentication reads in memory once enabled. */
void resource_cache_enable(void);
#endif
