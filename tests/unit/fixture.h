/* fixture.h - a real database in a temporary file, filled through the real writer jobs.
 *
 * Each helper runs one job with db_tx() on the fixture's connection, as the command line
 * does, and records a test failure (naming the helper and the error) when the job does
 * not succeed; ids come back in the caller's buffers. fx_close() closes the connection
 * and removes the file with its -wal and -shm companions. */
#ifndef WARRANT_TEST_FIXTURE_H
#define WARRANT_TEST_FIXTURE_H
#include "../../authz/model.h"
#include "../../clients/agents.h"
#include "../../clients/lifecycle.h"
#include "../../token/revoke.h"

#include <limits.h>

struct fx {
	char path[PATH_MAX]; /* a file, or a postgresql:// URL (WARRANT_TEST_PG) */
	char pg_name[64];    /* the PostgreSQL database it created, dropped by fx_close */
	struct db *db;
	char org[ID_MAX]; /* "default", as `warrant init` creates it */
};

/* Creates the database (mkstemp under $TMPDIR or /tmp; with WARRANT_TEST_PG, a database
 * of its own on that PostgreSQL server), the pepper and the default org.
 * 0, or -1 with a failure recorded. */
int fx_open(struct fx *f);
void fx_close(struct fx *f);
/* A second connection to the same file (another process, the command line). */
struct db *fx_connect(const struct fx *f);

void fx_org(struct fx *f, const char *name, char id[ID_MAX]);
void fx_owner(struct fx *f, const char *org, const char *email, char id[ID_MAX]);
void fx_workspace(struct fx *f, const char *org, const char *name, int org_visible, const char *org_verbs,
		  char id[ID_MAX]);
void fx_member(struct db *db, enum member_op op, const char *ws, const char *owner, const char *verbs);
/* An agent of owner with grant verbs, limited to the nws workspaces in ws (none: no limit).
 * cred gets its first credential's id when not NULL. */
void fx_agent(struct fx *f, const char *owner, const char *verbs, const char *const *ws, int nws, int64_t per_minute,
	      int64_t per_day, char id[ID_MAX], char cred[ID_MAX]);
void fx_lifecycle(struct db *db, const char *agent, enum lifecycle_op op);
void fx_deactivate(struct db *db, const char *owner);
void fx_approval(struct db *db, const char *ws, const char *verbs);
/* revoke --run R --agent A, revoke --agent A, revoke --jti J (exp and owner known). */
void fx_revoke_run(struct db *db, const char *agent, const char *run);
void fx_revoke_agent(struct db *db, const char *agent);
void fx_revoke_jti(struct db *db, const char *jti, const char *agent, const char *owner, int64_t exp);
void fx_revoke_cred(struct db *db, const char *agent, const char *cred);
/* Loads agent id as client authentication would (1), recording a failure otherwise. */
int fx_load(struct db *db, const char *id, struct agent *a);
#endif
