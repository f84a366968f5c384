/* cmd_activity.c - `warrant activity`: what each agent did, from the audit trail. */
#include "cli.h"

#include "../audit/activity.h"
#include "../common/timeutil.h"

#include <stdio.h>
#include <string.h>

static void print_text(const struct activity_agent *g)
{
	printf("%s (owner %s)\n", g->agent_id, g->owner_id[0] ? g->owner_id : "-");
	printf("  tokens %ld, runs %ld, actions allowed %ld, denied %ld\n", g->tokens, g->runs, g->allowed, g->denied);
	for (size_t i = 0; i < g->nverbs; i++)
		printf("  %-32s allowed %ld, denied %ld\n", g->verbs[i].verb, g->verbs[i].allowed, g->verbs[i].denied);
	printf("  approvals requested %ld, approved %ld, denied %ld\n", g->approvals_requested, g->approvals_approved,
	       g->approvals_denied);
}

int cmd_activity(struct cli *c)
{
	struct activity_query q;
	memset(&q, 0, sizeof q);
	q.owner_id = arg_opt(&c->a, "owner");
	q.agent_id = arg_opt(&c->a, "agent");
	const char *since = arg_opt(&c->a, "since");
	if (since && parse_time_arg(since, &q.since) < 0)
		return cli_usage("--since takes 7d, 12h, 30m, 45s or an ISO 8601 UTC time");
	if (cli_open(c, 0) < 0)
		return 1;
	int rc;
	if ((rc = cli_no_extra(c)))
		return rc;
	struct activity a;
	if (activity_read(c->w.db, &q, &a) < 0)
		return cli_fail("database error: %s", db_errmsg(c->w.db));
	for (size_t i = 0; i < a.n; i++) {
		if (!c->json) {
			print_text(&a.agents[i]);
			continue;
		}
		struct buf b;
		buf_init(&b, 1 << 20);
		activity_agent_json(&a.agents[i], &b);
		if (!b.failed)
			cli_line(b.p, b.len);
		buf_free(&b);
	}
	if (!c->json && a.n == 0)
		printf("no activity\n");
	activity_free(&a);
	return 0;
}
