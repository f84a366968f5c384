/* cmd_revoke.c - kill switches: `warrant revoke`, `agent suspend|resume|retire`,
 * `owner deactivate`. A running server on the same database sees each within a second. */
#include "cli.h"

#include "../authz/model.h"
#include "../clients/lifecycle.h"
#include "../token/revoke.h"

#include <stdio.h>
#include <string.h>

int cmd_revoke(struct cli *c)
{
	struct revocation r;
	memset(&r, 0, sizeof r);
	r.jti = arg_opt(&c->a, "jti");
	r.run_id = arg_opt(&c->a, "run");
	r.agent_id = arg_opt(&c->a, "agent");
	r.actor = "system";
	if (r.jti && !r.run_id && !r.agent_id)
		r.kind = REVOKE_JTI;
	else if (r.run_id && !r.jti)
		r.kind = REVOKE_RUN;
	else if (r.agent_id && !r.jti && !r.run_id)
		r.kind = REVOKE_AGENT;
	else
		return cli_usage("usage: warrant revoke --jti J | --run R [--agent A] | --agent A");
	int rc;
	if ((rc = cli_job(c, revoke_job, &r, &r.err)))
		return rc;
	const char *kind = r.kind == REVOKE_JTI ? "token" : r.kind == REVOKE_RUN ? "run" : "agent";
	const char *id = r.kind == REVOKE_JTI ? r.jti : r.kind == REVOKE_RUN ? r.run_id : r.agent_id;
	if (c->json) {
		struct buf b;
		buf_init(&b, 4096);
		buf_puts(&b, "{\"id\":");
		buf_json_cstr(&b, id);
		buf_printf(&b, ",\"kind\":\"%s\",\"agent_id\":", kind);
		buf_json_cstr(&b, r.agent_id);
		buf_printf(&b, ",\"%s\":%d}", r.kind == REVOKE_RUN ? "agents" : "count", r.count);
		if (!b.failed)
			cli_line(b.p, b.len);
		buf_free(&b);
	} else if (r.kind == REVOKE_RUN) {
		printf("run %s revoked for %d agent%s\n", r.run_id, r.count, r.count == 1 ? "" : "s");
	} else if (r.kind == REVOKE_AGENT) {
		printf("every token of %s issued so far is revoked\n", r.agent_id);
	} else {
		printf("token %s revoked\n", r.jti);
	}
	return 0;
}

int cmd_agent_lifecycle(struct cli *c)
{
	const char *op = c->a.words[1];
	struct lifecycle l;
	memset(&l, 0, sizeof l);
	l.op = strcmp(op, "suspend") == 0 ? LC_SUSPEND : strcmp(op, "resume") == 0 ? LC_RESUME : LC_RETIRE;
	l.agent_id = c->a.nwords > 2 ? c->a.words[2] : NULL;
	l.actor = "system";
	if (!l.agent_id)
		return cli_usage("usage: warrant agent %s AGT", op);
	int rc;
	if ((rc = cli_job(c, agent_lifecycle_job, &l, &l.err)))
		return rc;
	if (c->json) {
		struct buf b;
		buf_init(&b, 16384);
		agent_json(c->w.db, &l.agent, &b);
		if (!b.failed)
			cli_line(b.p, b.len);
		buf_free(&b);
	} else {
		printf("agent %s is %s%s\n", l.agent.id, l.agent.status, l.changed ? "" : " (unchanged)");
	}
	return 0;
}

int cmd_owner_deactivate(struct cli *c)
{
	struct owner_deactivation d;
	memset(&d, 0, sizeof d);
	d.owner_id = c->a.nwords > 2 ? c->a.words[2] : NULL;
	d.actor = "system";
	if (!d.owner_id)
		return cli_usage("usage: warrant owner deactivate USR");
	int rc;
	if ((rc = cli_job(c, owner_deactivate_job, &d, &d.err)))
		return rc;
	if (c->json)
		printf("{\"id\":\"%s\",\"status\":\"deactivated\",\"agents_suspended\":%d}\n", d.owner_id,
		       d.agents_suspended);
	else
		printf("owner %s deactivated; %d agent%s suspended\n", d.owner_id, d.agents_suspended,
		       d.agents_suspended == 1 ? "" : "s");
	return 0;
}
