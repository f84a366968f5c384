/* cli.h - shared helpers of the command-line commands. */
#ifndef WARRANT_CLI_H
#define WARRANT_CLI_H
#include "../common/buf.h"
#include "../common/oerr.h"
#include "../core/warrant.h"
#include "args.h"

struct cli {
	struct args a;
	int json;
	struct warrant w;
	char key_created[512]; /* the key file cli_open made (init), "" when none */
};

typedef int (*cmd_fn)(struct cli *c);

/* Prints "warrant: MESSAGE" on stderr; returns the exit code 1 (2 for usage errors). */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Opens --db (or $WARRANT_DB, else ./warrant.db) into c->w.db, with the key-encryption key
 * of --key-file (or $WARRANT_KEY_FILE; required on PostgreSQL) loaded and checked against
 * the database; create: init (makes the key file when missing). 0 or -1 (message printed). */
int cli_open(struct cli *c, int create);
/* --key-file, else $WARRANT_KEY_FILE, else NULL. */
const char *cli_key_file(struct cli *c);
/* Loads the key file for the database db_target (required when it is PostgreSQL; create:
 * made when missing, its path noted in c->key_created). 0 or -1 (message printed). */
int cli_load_key(struct cli *c, const char *db_target, int create);
/* Reports a refusal from a domain job: rc 1 prints err, -1 the database error. */
int cli_job_result(struct cli *c, int rc, const struct oerr *err);
/* Opens the database, refuses options the command did not ask for, and runs fn(arg) in
 * one transaction: 0, or the exit code with the message printed (err: the job's refusal). */
int cli_job(struct cli *c, wjob_fn fn, void *arg, const struct oerr *err);
/* Checks that every option was understood; returns 0 or a usage exit code. */
int cli_no_extra(struct cli *c);
/* Writes one line (JSON or text) to stdout. */
void cli_line(const char *s, size_t n);
void cli_emit(void *arg, const char *json, size_t n);

int cmd_init(struct cli *c);
int cmd_serve(struct cli *c);
int cmd_org_add(struct cli *c);
int cmd_owner_add(struct cli *c);
int cmd_workspace_add(struct cli *c);
int cmd_member(struct cli *c);
int cmd_agent_add(struct cli *c);
int cmd_agent_list(struct cli *c);
int cmd_agent_limit(struct cli *c);
int cmd_agent_set(struct cli *c);
int cmd_resource_add(struct cli *c);
int cmd_resource_rotate(struct cli *c);
int cmd_resource_state(struct cli *c);
int cmd_keys_list(struct cli *c);
int cmd_audit(struct cli *c);
int cmd_activity(struct cli *c);
int cmd_audit_verify(struct cli *c);
/* `warrant audit --follow [--since T]`: new rows as JSON lines until SIGINT or SIGTERM (exit 0). */
int cmd_audit_follow(struct cli *c, int64_t since);
int cmd_revoke(struct cli *c);
int cmd_backup(struct cli *c);
int cmd_restore(struct cli *c);
int cmd_migrate(struct cli *c);
int cmd_workspace_approval(struct cli *c);
int cmd_approval_list(struct cli *c);
int cmd_approval_decide(struct cli *c);
int cmd_keys_rotate(struct cli *c);
int cmd_keys_retire(struct cli *c);
int cmd_agent_rotate(struct cli *c);
int cmd_agent_key(struct cli *c);
/* Reads a JWK file into out (cap bytes, more is refused); 0, or the exit code (printed). */
int cli_read_jwk(const char *path, char *out, size_t cap, size_t *n);
int cmd_credential_revoke(struct cli *c);
int cmd_agent_lifecycle(struct cli *c);
int cmd_owner_deactivate(struct cli *c);
int cmd_trust_add(struct cli *c);
int cmd_trust_list(struct cli *c);
int cmd_trust_remove(struct cli *c);
int cmd_agent_federate(struct cli *c);
int cmd_agent_delegate(struct cli *c);
#endif
