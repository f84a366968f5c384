/* model.h - orgs, owners, workspaces and memberships: the records access derives from.
 *
 * Every mutation is a writer job: its struct carries inputs, outputs and an oerr; it
 * returns 0 done, 1 refused (err set, nothing written), -1 database error, and writes its
 * audit rows in the same transaction. */
#ifndef WARRANT_MODEL_H
#define WARRANT_MODEL_H
#include "../common/oerr.h"
#include "../common/rand.h"
#include "../common/verbs.h"
#include "../store/db.h"

#define EMAIL_MAX 254

struct org_new {
	const char *name;
	char id[ID_MAX];
	struct oerr err;
};
int org_create_job(struct db *db, void *arg);
/* Resolves an org given as id or name into id; 1 found, 0 not, -1 error. */
int org_resolve(struct db *db, const char *id_or_name, char id[ID_MAX]);

struct owner_new {
	const char *email, *name, *org_id;
	const char *password_hash; /* argon2id encoded, or NULL: no /v1 login */
	char id[ID_MAX];
	struct oerr err;
};
int owner_create_job(struct db *db, void *arg);

struct workspace_new {
	const char *name, *org_id;
	int org_visible;
	const char *org_verbs;
	char id[ID_MAX];
	char verbs[VERBSET_MAX];
	struct oerr err;
};
int workspace_create_job(struct db *db, void *arg);

enum member_op { MEMBER_ADD, MEMBER_SET, MEMBER_REMOVE };
struct member_change {
	enum member_op op;
	const char *workspace_id, *owner_id, *verbs;
	const char *actor, *client_addr;
	char canon[VERBSET_MAX];
	int agents_affected; /* agents whose access the change narrowed */
	struct oerr err;
};
int member_change_job(struct db *db, void *arg);

struct owner_deactivation {
	const char *owner_id;
	const char *actor, *client_addr;
	int agents_suspended;
	struct oerr err;
};
/* Deactivates the owner and suspends every agent of theirs in the same transaction
 * (their tokens die with it). 0, 1 refused, -1 error. */
int owner_deactivate_job(struct db *db, void *arg);
#endif
