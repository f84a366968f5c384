/* main.c - `warrant`: one binary, subcommands. */
#include "cli.h"

#include "../clients/secret.h"
#include "../common/kek.h"
#include "../store/sealed.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct command {
	const char *w1, *w2;
	cmd_fn fn;
	const char *usage;
};

static const struct command commands[] = {
	{"init", NULL, cmd_init, "warrant init [--alg ES256|RS256] [--key-file PATH]"},
	{"serve", NULL, cmd_serve,
	 "warrant serve [--listen 127.0.0.1:8080] [--issuer URL] [--token-ttl 300] [--audience URI]\n"
	 "              [--threads N] [--max-body BYTES] [--max-connections N] [--max-per-ip N]\n"
	 "              [--timeout SECONDS] [--tls-cert PEM --tls-key PEM] [--insecure-http] [--sync-full]\n"
	 "              [--leeway 60] [--jwks-max-age 300] [--key-rotation 86400] [--metrics-token T]\n"
	 "              [--log-file PATH] [--log-level info] [--audit-retention DAYS] [--wal-restart 128]\n"
	 "              [--audit-checkpoint-interval 60] [--audit-webhook URL --audit-webhook-secret-file F]\n"
	 "              [--key-file F] [--dpop-nonce] [--owner-oidc-issuer URL --owner-oidc-client-id ID\n"
	 "              --owner-oidc-client-secret-file F] [--config FILE] [--check-config]"},
	{"org", "add", cmd_org_add, "warrant org add NAME"},
	{"owner", "add", cmd_owner_add, "warrant owner add --email E [--name N] [--org ORG] [--password-stdin]"},
	{"owner", "deactivate", cmd_owner_deactivate, "warrant owner deactivate USR"},
	{"workspace", "add", cmd_workspace_add,
	 "warrant workspace add NAME [--org ORG] [--org-visible --verbs \"res:act ...\"]"},
	{"workspace", "approval", cmd_workspace_approval,
	 "warrant workspace approval WS --verbs \"refunds:issue ...\""},
	{"approval", "list", cmd_approval_list, "warrant approval list [--owner USR]"},
	{"approval", "approve", cmd_approval_decide, "warrant approval approve ID --owner USR"},
	{"approval", "deny", cmd_approval_decide, "warrant approval deny ID --owner USR"},
	{"member", "add", cmd_member, "warrant member add --workspace WS --owner USR --verbs \"res:act ...\""},
	{"member", "set", cmd_member, "warrant member set --workspace WS --owner USR --verbs \"res:act ...\""},
	{"member", "remove", cmd_member, "warrant member remove --workspace WS --owner USR"},
	{"agent", "add", cmd_agent_add,
	 "warrant agent add --owner USR --name NAME --verbs \"res:act ...\" [--workspaces WS,...]\n"
	 "                  [--per-minute N] [--per-day N] [--dpop required|optional] [--jwk-file F]"},
	{"agent", "key", cmd_agent_key, "warrant agent key add AGT --jwk-file F [--grace SECONDS]"},
	{"agent", "list", cmd_agent_list, "warrant agent list [--owner USR]"},
	{"agent", "limit", cmd_agent_limit, "warrant agent limit AGT [--per-minute N] [--per-day N]"},
	{"agent", "set", cmd_agent_set, "warrant agent set AGT --dpop required|optional"},
	{"agent", "rotate", cmd_agent_rotate, "warrant agent rotate AGT [--grace SECONDS]"},
	{"agent", "federate", cmd_agent_federate, "warrant agent federate AGT --trust NAME --subject SUB"},
	{"agent", "delegate", cmd_agent_delegate, "warrant agent delegate AGT --to AGT2 [--max-depth N]"},
	{"agent", "undelegate", cmd_agent_delegate, "warrant agent undelegate AGT --to AGT2"},
	{"credential", "revoke", cmd_credential_revoke, "warrant credential revoke CRED"},
	{"trust", "add", cmd_trust_add,
	 "warrant trust add NAME --issuer URL (--jwks-uri URL | --jwks-file F | --discovery)\n"
	 "                  [--audience A] [--max-lifetime SECONDS]"},
	{"trust", "list", cmd_trust_list, "warrant trust list"},
	{"trust", "remove", cmd_trust_remove, "warrant trust remove NAME"},
	{"agent", "suspend", cmd_agent_lifecycle, "warrant agent suspend AGT"},
	{"agent", "resume", cmd_agent_lifecycle, "warrant agent resume AGT"},
	{"agent", "retire", cmd_agent_lifecycle, "warrant agent retire AGT"},
	{"resource", "add", cmd_resource_add, "warrant resource add NAME [--audience URI]"},
	{"resource", "rotate", cmd_resource_rotate, "warrant resource rotate RS [--grace SECONDS]"},
	{"resource", "disable", cmd_resource_state, "warrant resource disable RS"},
	{"resource", "enable", cmd_resource_state, "warrant resource enable RS"},
	{"keys", "list", cmd_keys_list, "warrant keys list"},
	{"keys", "rotate", cmd_keys_rotate, "warrant keys rotate [--force]"},
	{"keys", "retire", cmd_keys_retire, "warrant keys retire KID"},
	{"revoke", NULL, cmd_revoke, "warrant revoke --jti J | --run R [--agent A] | --agent A"},
	{"backup", NULL, cmd_backup, "warrant backup --to FILE"},
	{"restore", NULL, cmd_restore, "warrant restore --from FILE [--force]"},
	{"migrate", NULL, cmd_migrate, "warrant migrate --to postgresql://... --key-file PATH"},
	{"audit", "verify", cmd_audit_verify, "warrant audit verify [--file EXPORT.jsonl]"},
	{"audit", NULL, cmd_audit,
	 "warrant audit [--owner USR] [--agent AGT] [--run RUN] [--workspace WS] [--since 7d|ISO8601]\n"
	 "              [--until ISO8601] [--limit N] | warrant audit --follow [--since 7d|ISO8601]"},
	{"activity", NULL, cmd_activity, "warrant activity [--owner USR] [--agent AGT] [--since 7d|ISO8601] [--json]"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

int cli_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("warrant: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

int cli_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("warrant: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 2;
}

void cli_line(const char *s, size_t n)
{
	fwrite(s, 1, n, stdout);
	fputc('\n', stdout);
}

void cli_emit(void *arg, const char *json, size_t n)
{
	(void)arg;
	cli_line(json, n);
}

const char *cli_key_file(struct cli *c)
{
	const char *kf = arg_opt(&c->a, "key-file");
	if (!kf)
		kf = getenv("WARRANT_KEY_FILE");
	return kf && *kf ? kf : NULL;
}

int cli_load_key(struct cli *c, const char *db_target, int create)
{
	const char *kf = cli_key_file(c);
	char err[512];
	if (!kf) {
		if (db_engine_of(db_target) == DB_PG) {
			cli_fail("a PostgreSQL database needs the key-encryption key: give --key-file PATH or set"
				 " WARRANT_KEY_FILE");
			return -1;
		}
		return 0;
	}
	int created = 0;
	if (kek_load(kf, create, &created, err, sizeof err) < 0) {
		cli_fail("%s", err);
		return -1;
	}
	if (created)
		snprintf(c->key_created, sizeof c->key_created, "%s", kf);
	return 0;
}

int cli_open(struct cli *c, int create)
{
	const char *path = arg_opt(&c->a, "db");
	if (!path)
		path = getenv("WARRANT_DB");
	if (!path || !*path)
		path = "./warrant.db";
	snprintf(c->w.db_path, sizeof c->w.db_path, "%s", path);
	db_target_shown(path, c->w.db_shown, sizeof c->w.db_shown);
	if (cli_load_key(c, path, create) < 0)
		return -1;
	char err[512];
	c->w.db = db_open(path, create ? DB_CREATE : DB_EXISTING, err, sizeof err);
	if (!c->w.db) {
		cli_fail("%s", err);
		return -1;
	}
	/* the right key-encryption key, or none for a database without one (store/sealed.h) */
	if (!create && sealed_check(c->w.db, err, sizeof err) < 0) {
		cli_fail("%s", err);
		return -1;
	}
	if (!create && secret_init(c->w.db) < 0) {
		cli_fail("%s has no server secret (was it made by warrant init?)", c->w.db_shown);
		return -1;
	}
	return 0;
}

int cli_job_result(struct cli *c, int rc, const struct oerr *err)
{
	if (rc == 0)
		return 0;
	if (rc > 0)
		return cli_fail("%s", err->desc);
	return cli_fail("database error: %s", db_errmsg(c->w.db));
}

int cli_no_extra(struct cli *c)
{
	const char *u = args_unused(&c->a);
	if (u)
		return cli_usage("unknown option --%s (see: warrant help %s)", u, c->a.words[0]);
	return 0;
}

int cli_job(struct cli *c, wjob_fn fn, void *arg, const struct oerr *err)
{
	if (cli_open(c, 0) < 0)
		return 1;
	int rc = cli_no_extra(c);
	return rc ? rc : cli_job_result(c, db_tx(c->w.db, fn, arg), err);
}

static void usage_all(FILE *f)
{
	fputs("warrant - an OAuth 2.0 authorization server that gives every AI agent its own identity\n\n"
	      "usage:\n",
	      f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %s\n", commands[i].usage);
	fputs("\nevery command takes --db PATH (default $WARRANT_DB, else ./warrant.db), --key-file PATH\n"
	      "(default $WARRANT_KEY_FILE; required on PostgreSQL) and --json.\n"
	      "warrant help COMMAND shows one command.\n",
	      f);
}

/* What each command is for, and examples, for `warrant help COMMAND`. */
static const struct {
	const char *w1, *text;
} guides[] = {
	{"init", "Creates the database (mode 0600): schema, the default org, a current and a next signing key.\n"
		 "With --key-file, private keys and the pepper are sealed under it (made when missing, 0600).\n"
		 "  warrant init --db /var/lib/warrant/warrant.db\n  warrant init --alg RS256\n"
		 "  warrant init --db postgresql://warrant@db/warrant --key-file /etc/warrant/kek"},
	{"serve", "Serves the OAuth endpoints. Settings also come from WARRANT_* variables and --config FILE\n"
		  "(flags > environment > file > defaults); --check-config prints them and exits.\n"
		  "  warrant serve --listen 127.0.0.1:8080 --issuer https://auth.example.com\n"
		  "  warrant serve --config /etc/warrant/warrant.conf --check-config\n"
		  "  WARRANT_TOKEN_TTL=120 warrant serve --tls-cert cert.pem --tls-key key.pem --listen 0.0.0.0:8443"},
	{"org", "Adds an org (a tenant).\n  warrant org add acme --json"},
	{"owner", "Adds a human owner (password read from stdin for /v1), or deactivates one (suspends their agents).\n"
		  "  printf '%s\\n' \"$PASSWORD\" | warrant owner add --email alice@example.com --password-stdin\n"
		  "  warrant owner deactivate usr_..."},
	{"workspace", "Adds a workspace, or marks verbs that need a human's approval there.\n"
		      "  warrant workspace add support\n"
		      "  warrant workspace add handbook --org-visible --verbs \"docs:read\"\n"
		      "  warrant workspace approval ws_... --verbs \"refunds:issue\""},
	{"member", "Grants an owner verbs in a workspace; set and remove narrow every agent of theirs at once.\n"
		   "  warrant member add --workspace ws_... --owner usr_... --verbs \"tickets:read tickets:note\"\n"
		   "  warrant member remove --workspace ws_... --owner usr_..."},
	{"agent",
	 "Agents: add (the secret is shown once, or --jwk-file: a public key and no secret), list, limit,\n"
	 "rotate, key add (a public key for private_key_jwt), federate (a trust's subject stands in for a\n"
	 "secret), suspend, resume, retire.\n"
	 "  warrant agent add --owner usr_... --name triage --verbs \"tickets:read\" --per-minute 60 --json\n"
	 "  warrant agent rotate agt_... --grace 900\n  warrant agent key add agt_... --jwk-file key.pub.jwk --grace 900\n"
	 "  warrant agent suspend agt_..."},
	{"trust",
	 "Trusts: external issuers (a Kubernetes cluster, a SPIFFE trust domain, a CI system) whose\n"
	 "signed tokens stand in for an agent's credential (docs/federation.md). The audience defaults\n"
	 "to each server's --issuer. Removing a trust revokes the credentials bound to it.\n"
	 "  warrant trust add k8s --issuer https://kubernetes.default.svc --jwks-file /etc/warrant/k8s-jwks.json\n"
	 "  warrant trust add gha --issuer https://token.actions.githubusercontent.com --discovery"
	 " --audience warrant\n"
	 "  warrant agent federate agt_... --trust k8s --subject system:serviceaccount:payments:refund-bot\n"
	 "  warrant trust list --json\n  warrant trust remove k8s"},
	{"credential", "Revokes one credential at once (a leaked secret); the tokens it minted die too.\n"
		       "  warrant credential revoke cred_..."},
	{"resource", "Resource servers (introspection callers): add (the secret is shown once), rotate the\n"
		     "secret (the old one works for --grace seconds, default 0), disable, enable. A running server\n"
		     "sees each change within a second.\n"
		     "  warrant resource add billing-api --audience https://billing.example.com --json\n"
		     "  warrant resource rotate rs_... --grace 300\n  warrant resource disable rs_..."},
	{"keys",
	 "Signing keys: list, rotate (a next key must have been published for --jwks-max-age), retire.\n"
	 "  warrant keys list --json\n  warrant keys rotate\n  warrant keys rotate --force && warrant keys retire KID"},
	{"approval", "Pending human approvals (CIBA) and decisions by the agent's owner.\n"
		     "  warrant approval list --owner usr_...\n  warrant approval approve areq_... --owner usr_..."},
	{"revoke",
	 "Kill switches: one token, a run (all agents that used it, or one), or all of an agent's tokens.\n"
	 "  warrant revoke --jti J\n  warrant revoke --run run_... --agent agt_...\n  warrant revoke --agent agt_..."},
	{"backup",
	 "A consistent copy (0600) while servers run.\n  warrant backup --to /var/backups/warrant-$(date +%F).db"},
	{"restore", "Copies a backup over the database; stop every server that uses it first.\n"
		    "  warrant restore --from /var/backups/warrant-2026-11-23.db --force"},
	{"migrate", "Copies a SQLite database (--db), every row, into an empty PostgreSQL database, sealing the\n"
		    "private keys and the pepper under --key-file (made when missing), and checks the copy table by\n"
		    "table before it commits. Stop the servers on the SQLite file first.\n"
		    "  warrant migrate --db /var/lib/warrant/warrant.db --to postgresql://warrant@db/warrant"
		    " --key-file /etc/warrant/kek"},
	{"audit",
	 "Audit events as JSON lines, oldest first.\n"
	 "  warrant audit --owner usr_... --since 7d\n  warrant audit --run run_... --json\n"
	 "Rows are hash-chained and signed; `audit verify` checks the database or an export\n"
	 "(exit 1 names the first altered, missing or inserted row), `--follow` streams new rows.\n"
	 "  warrant audit verify\n  warrant audit --json > trail.jsonl && warrant audit verify --file trail.jsonl\n"
	 "  warrant audit --follow"},
	{"activity", "What each agent did: tokens issued, actions allowed and denied by verb, runs, approvals.\n"
		     "  warrant activity --owner usr_... --since 7d\n  warrant activity --agent agt_... --json"},
};

static int help_for(const char *w1)
{
	int found = 0;
	for (size_t i = 0; i < sizeof guides / sizeof guides[0]; i++)
		if (strcmp(guides[i].w1, w1) == 0)
			printf("%s\n\nusage:\n", guides[i].text);
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].w1, w1) == 0) {
			printf("  %s\n", commands[i].usage);
			found = 1;
		}
	if (!found)
		return cli_usage("no command %s (see: warrant --help)", w1);
	printf("\noptions common to every command: --db PATH, --key-file PATH, --json\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c;
	char err[256];
	umask(077); /* nothing this process creates is for other users */
	memset(&c, 0, sizeof c);
	if (args_parse(argc, argv, &c.a, err, sizeof err) < 0)
		return cli_usage("%s", err);
	if (c.a.nwords == 0) {
		usage_all(arg_flag(&c.a, "help") ? stdout : stderr);
		return arg_flag(&c.a, "help") ? 0 : 2;
	}
	if (strcmp(c.a.words[0], "help") == 0) {
		if (c.a.nwords < 2) {
			usage_all(stdout);
			return 0;
		}
		return help_for(c.a.words[1]);
	}
	if (arg_flag(&c.a, "help"))
		return help_for(c.a.words[0]);
	c.json = arg_flag(&c.a, "json");
	arg_opt(&c.a, "key-file"); /* every command takes it (cli_open) */
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(commands[i].w1, c.a.words[0]) != 0)
			continue;
		if (commands[i].w2 && (c.a.nwords < 2 || strcmp(commands[i].w2, c.a.words[1]) != 0))
			continue;
		int rc = commands[i].fn(&c);
		db_close(c.w.db);
		return rc;
	}
	return cli_usage("unknown command '%s%s%s' (see: warrant --help)", c.a.words[0], c.a.nwords > 1 ? " " : "",
			 c.a.nwords > 1 ? c.a.words[1] : "");
}
