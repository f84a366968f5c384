/* cmd_approval.c - `workspace approval` and `approval list|approve|deny`. */
#include "cli.h"

#include "../token/ciba.h"

#include <stdio.h>
#include <string.h>

int cmd_workspace_approval(struct cli *c)
{
	struct approval_verbs a;
	memset(&a, 0, sizeof a);
	a.workspace_id = c->a.nwords > 2 ? c->a.words[2] : NULL;
	a.verbs = arg_opt(&c->a, "verbs");
	if (!a.workspace_id || !a.verbs)
		return cli_usage("usage: warrant workspace approval WS --verbs \"refunds:issue ...\" (\"\" clears)");
	int rc;
	if ((rc = cli_job(c, workspace_approval_job, &a, &a.err)))
		return rc;
	if (c->json) {
		struct buf b;
		buf_init(&b, 8192);
		buf_printf(&b, "{\"id\":\"%s\",\"approval_verbs\":", a.workspace_id);
		buf_json_cstr(&b, a.canon);
		buf_puts(&b, "}");
		if (!b.failed)
			cli_line(b.p, b.len);
		buf_free(&b);
	} else {
		printf("workspace %s: approval required for: %s\n", a.workspace_id, a.canon[0] ? a.canon : "(nothing)");
	}
	return 0;
}

int cmd_approval_list(struct cli *c)
{
	const char *owner = arg_opt(&c->a, "owner");
	if (cli_open(c, 0) < 0)
		return 1;
	int rc;
	if ((rc = cli_no_extra(c)))
		return rc;
	if (approval_list(c->w.db, owner, cli_emit, NULL) < 0)
		return cli_fail("database error: %s", db_errmsg(c->w.db));
	return 0;
}

int cmd_approval_decide(struct cli *c)
{
	struct approval_decision d;
	memset(&d, 0, sizeof d);
	d.approve = strcmp(c->a.words[1], "approve") == 0;
	d.id = c->a.nwords > 2 ? c->a.words[2] : NULL;
	d.owner_id = arg_opt(&c->a, "owner");
	if (!d.id || !d.owner_id)
		return cli_usage("usage: warrant approval %s ID --owner USR", c->a.words[1]);
	int rc;
	if ((rc = cli_job(c, approval_decide_job, &d, &d.err)))
		return rc;
	if (c->json)
		printf("{\"id\":\"%s\",\"auth_req_id\":\"%s\",\"agent_id\":\"%s\",\"status\":\"%s\"}\n", d.id, d.id,
		       d.agent_id, d.approve ? "approved" : "denied");
	else
		printf("request %s %s\n", d.id, d.approve ? "approved" : "denied");
	return 0;
}
