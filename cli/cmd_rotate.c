/* cmd_rotate.c - `keys rotate|retire`, `agent rotate`, `credential revoke`. */
#include "cli.h"

#include "../clients/credentials.h"
#include "../common/timeutil.h"
#include "../keys/rotate.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

int cmd_keys_rotate(struct cli *c)
{
	struct key_rotation r;
	memset(&r, 0, sizeof r);
	r.force = arg_flag(&c->a, "force");
	r.actor = "system";
	int rc;
	if ((rc = cli_job(c, key_rotate_job, &r, &r.err)))
		return rc;
	char t[32];
	if (c->json)
		printf("{\"id\":\"%s\",\"kid\":\"%s\",\"state\":\"current\",\"retiring\":\"%s\",\"next\":\"%s\","
		       "\"retire_after\":\"%s\"}\n",
		       r.new_kid, r.new_kid, r.old_kid, r.next_kid, rfc3339(r.retire_after, t));
	else
		printf("key %s is current; %s retiring until %s; next key %s published\n", r.new_kid, r.old_kid,
		       rfc3339(r.retire_after, t), r.next_kid);
	return 0;
}

int cmd_keys_retire(struct cli *c)
{
	struct key_retirement k;
	memset(&k, 0, sizeof k);
	k.kid = c->a.nwords > 2 ? c->a.words[2] : NULL;
	k.actor = "system";
	if (!k.kid)
		return cli_usage("usage: warrant keys retire KID");
	int rc;
	if ((rc = cli_job(c, key_retire_job, &k, &k.err)))
		return rc;
	if (c->json)
		printf("{\"id\":\"%s\",\"kid\":\"%s\",\"state\":\"retired\"}\n", k.kid, k.kid);
	else
		printf("key %s retired: gone from /jwks, tokens it signed are no longer valid\n", k.kid);
	return 0;
}

int cmd_agent_rotate(struct cli *c)
{
	struct credential_rotation r;
	memset(&r, 0, sizeof r);
	r.agent_id = c->a.nwords > 2 ? c->a.words[2] : NULL;
	r.grace = GRACE_DEFAULT;
	r.actor = "system";
	const char *g = arg_opt(&c->a, "grace");
	if (!r.agent_id)
		return cli_usage("usage: warrant agent rotate AGT [--grace SECONDS]");
	if (g && parse_i64(g, 0, GRACE_MAX, &r.grace) < 0)
		return cli_usage("--grace must be 0 to %d seconds", GRACE_MAX);
	int rc;
	if ((rc = cli_job(c, credential_rotate_job, &r, &r.err)))
		return rc;
	char t[32] = "null", q[40];
	if (r.old_expires_at)
		snprintf(q, sizeof q, "\"%s\"", rfc3339(r.old_expires_at, t));
	else
		snprintf(q, sizeof q, "null");
	if (c->json)
		printf("{\"id\":\"%s\",\"client_id\":\"%s\",\"client_secret\":\"%s\",\"credential_id\":\"%s\","
		       "\"old_credential_id\":%s%s%s,\"old_expires_at\":%s}\n",
		       r.agent_id, r.agent_id, r.secret, r.cred_id, r.old_cred_id[0] ? "\"" : "",
		       r.old_cred_id[0] ? r.old_cred_id : "null", r.old_cred_id[0] ? "\"" : "", q);
	else
		printf("new secret for %s (credential %s):\nclient_secret: %s\n(shown this once)\n"
		       "the previous secret works until %s\n",
		       r.agent_id, r.cred_id, r.secret, r.old_expires_at ? t : "(there was none)");
	OPENSSL_cleanse(r.secret, sizeof r.secret);
	return 0;
}

int cmd_credential_revoke(struct cli *c)
{
	struct credential_revocation r;
	memset(&r, 0, sizeof r);
	r.cred_id = c->a.nwords > 2 ? c->a.words[2] : NULL;
	r.actor = "system";
	if (!r.cred_id)
		return cli_usage("usage: warrant credential revoke CRED");
	if (cli_open(c, 0) < 0)
		return 1;
	int rc;
	if ((rc = cli_no_extra(c)))
		return rc;
	char agent[ID_MAX] = "";
	struct db_stmt *st = db_prep(c->w.db, "SELECT agent_id FROM credentials WHERE id = ?");
	if (!st)
		return cli_fail("database error: %s", db_errmsg(c->w.db));
	db_bind_text(st, 1, r.cred_id);
	if (db_step(st) == DB_ROW)
		db_col_copy(st, 0, agent, sizeof agent);
	db_reset(st);
	if (!agent[0])
		return cli_fail("no credential %s", r.cred_id);
	r.agent_id = agent;
	if ((rc = cli_job_result(c, db_tx(c->w.db, credential_revoke_job, &r), &r.err)))
		return rc;
	if (c->json)
		printf("{\"id\":\"%s\",\"agent_id\":\"%s\",\"revoked\":true}\n", r.cred_id, agent);
	else
		printf("credential %s of %s revoked; tokens it minted are inactive\n", r.cred_id, agent);
	return 0;
}
