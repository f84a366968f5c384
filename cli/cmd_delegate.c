/* cmd_delegate.c - `agent delegate|undelegate`: which agent may act for which (RFC 8693
 * token exchange, authz/delegation.h). */
#include "cli.h"

#include "../authz/delegation.h"
#include "../common/timeutil.h"

#include <stdio.h>
#include <string.h>

int cmd_agent_delegate(struct cli *c)
{
	struct delegation_change d;
	memset(&d, 0, sizeof d);
	int add = strcmp(c->a.words[1], "delegate") == 0;
	d.agent_id = c->a.nwords > 2 ? c->a.words[2] : NULL;
	d.delegate_id = arg_opt(&c->a, "to");
	d.actor = "system";
	d.max_depth = DELEGATION_DEPTH_DEFAULT;
	const char *md = add ? arg_opt(&c->a, "max-depth") : NULL;
	if (!d.agent_id || !d.delegate_id)
		return cli_usage(add ? "usage: warrant agent delegate AGT --to AGT2 [--max-depth N]"
				     : "usage: warrant agent undelegate AGT --to AGT2");
	int64_t v;
	if (md && parse_i64(md, 1, DELEGATION_DEPTH_MAX, &v) < 0)
		return cli_usage("--max-depth must be 1 to %d", DELEGATION_DEPTH_MAX);
	if (md)
		d.max_depth = (int)v;
	int rc;
	if ((rc = cli_job(c, add ? delegation_add_job : delegation_remove_job, &d, &d.err)))
		return rc;
	char t[32];
	if (c->json)
		printf("{\"agent_id\":\"%s\",\"delegate_id\":\"%s\",\"max_depth\":%d,\"created_at\":\"%s\",\"%s\":true}\n",
		       d.agent.id, d.delegate.id, d.max_depth, rfc3339(add ? d.created_at : now_ms(), t),
		       add ? "delegated" : "removed");
	else if (add)
		printf("%s may act for %s (chains of at most %d act levels)\n", d.delegate.id, d.agent.id, d.max_depth);
	else
		printf("%s no longer acts for %s; the tokens it exchanged from %s's are inactive\n", d.delegate.id,
		       d.agent.id, d.agent.id);
	return 0;
}
