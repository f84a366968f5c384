/* cmd_admin.c - administrative commands: orgs, owners, workspaces, members, agents,
 * resource servers, keys and the audit trail. */
#include "cli.h"

#include "../audit/audit.h"
#include "../authz/model.h"
#include "../authz/password.h"
#include "../clients/agents.h"
#include "../clients/resource.h"
#include "../common/timeutil.h"
#include "../common/uri.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *word(struct cli *c, int i) { return i < c->a.nwords ? c->a.words[i] : NULL; }

static void print_obj(struct buf *b)
{
	if (!b->failed)
		cli_line(b->p, b->len);
	buf_free(b);
}

int cmd_org_add(struct cli *c)
{
	const char *name = word(c, 2);
	if (!name)
		return cli_usage("usage: warrant org add NAME");
	if (cli_open(c, 0) < 0)
		return 1;
	int rc;
	if ((rc = cli_no_extra(c)))
		return rc;
	struct org_new o = {.name = name};
	if ((rc = cli_job_result(c, db_tx(c->w.db, org_create_job, &o), &o.err)))
		return rc;
	if (c->json) {
		struct buf b;
		buf_init(&b, 4096);
		buf_printf(&b, "{\"id\":\"%s\",\"name\":", o.id);
		buf_json_cstr(&b, name);
		buf_puts(&b, "}");
		print_obj(&b);
	} else {
		printf("org %s created: %s\n", name, o.id);
	}
	return 0;
}

static int org_option(struct cli *c, char org[ID_MAX])
{
	const char *s = arg_opt(&c->a, "org");
	int r = org_resolve(c->w.db, s ? s : "default", org);
	if (r < 0)
		return cli_fail("database error: %s", db_errmsg(c->w.db));
	if (r == 0)
		return cli_fail("no org %s", s ? s : "default");
	return 0;
}

/* Reads one line from stdin (the password), without its newline. */
static int read_password(char *out, size_t cap)
{
	size_t n = 0;
	int ch;
	while ((ch = getchar()) != EOF && ch != '\n') {
		if (n + 1 >= cap)
			return -1;
		out[n++] = (char)ch;
	}
	if (n && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	return (int)n;
}

int cmd_owner_add(struct cli *c)
{
	const char *email = arg_opt(&c->a, "email"), *name = arg_opt(&c->a, "name");
	int pw_stdin = arg_flag(&c->a, "password-stdin");
	if (!email)
		return cli_usage("usage: warrant owner add --email E [--name N] [--org ORG] [--password-stdin]");
	if (cli_open(c, 0) < 0)
		return 1;
	char org[ID_MAX];
	int rc;
	if ((rc = org_option(c, org)) || (rc = cli_no_extra(c)))
		return rc;
	char pw[PASSWORD_MAX_LEN + 2], hash[PASSWORD_HASH_MAX];
	struct owner_new o = {.email = email, .name = name, .org_id = org};
	if (pw_stdin) {
		int n = read_password(pw, sizeof pw);
		if (n < PASSWORD_MIN_LEN || n > PASSWORD_MAX_LEN) {
			OPENSSL_cleanse(pw, sizeof pw);
			return cli_fail("the password must be %d to %d bytes", PASSWORD_MIN_LEN, PASSWORD_MAX_LEN);
		}
		/* RFC 7617 Basic at /v1 carries no control characters: such a password could never log in */
		for (int i = 0; i < n; i++)
			if ((unsigned char)pw[i] < 0x20 || pw[i] == 0x7f) {
				OPENSSL_cleanse(pw, sizeof pw);
				return cli_fail("the password must not contain control characters");
			}
		rc = password_hash(pw, (size_t)n, hash);
		OPENSSL_cleanse(pw, sizeof pw);
		if (rc < 0)
			return cli_fail("cannot hash the password");
		o.password_hash = hash;
	}
	if ((rc = cli_job_result(c, db_tx(c->w.db, owner_create_job, &o), &o.err)))
		return rc;
	if (c->json) {
		struct buf b;
		buf_init(&b, 4096);
		buf_printf(&b, "{\"id\":\"%s\",\"email\":", o.id);
		buf_json_cstr(&b, email);
		buf_puts(&b, ",\"name\":");
		buf_json_cstr(&b, name ? name : "");
		buf_printf(&b, ",\"org_id\":\"%s\",\"status\":\"active\",\"password\":%s}", org,
			   pw_stdin ? "true" : "false");
		print_obj(&b);
	} else {
		printf("owner %s created: %s\n", email, o.id);
	}
	return 0;
}

int cmd_workspace_add(struct cli *c)
{
	const char *name = word(c, 2);
	if (!name)
		return cli_usage("usage: warrant workspace add NAME [--org ORG] [--org-visible --verbs \"...\"]");
	if (cli_open(c, 0) < 0)
		return 1;
	char org[ID_MAX];
	int rc;
	struct workspace_new w = {
		.name = name, .org_visible = arg_flag(&c->a, "org-visible"), .org_verbs = arg_opt(&c->a, "verbs")};
	if ((rc = org_option(c, org)) || (rc = cli_no_extra(c)))
		return rc;
	w.org_id = org;
	if ((rc = cli_job_result(c, db_tx(c->w.db, workspace_create_job, &w), &w.err)))
		return rc;
	if (c->json) {
		struct buf b;
		buf_init(&b, 8192);
		buf_printf(&b, "{\"id\":\"%s\",\"name\":", w.id);
		buf_json_cstr(&b, name);
		buf_printf(&b, ",\"org_id\":\"%s\",\"org_visible\":%s,\"verbs\":", org,
			   w.org_visible ? "true" : "false");
		buf_json_cstr(&b, w.verbs);
		buf_puts(&b, "}");
		print_obj(&b);
	} else {
		printf("workspace %s created: %s\n", name, w.id);
	}
	return 0;
}

int cmd_member(struct cli *c)
{
	const char *op = word(c, 1);
	struct member_change m = {.workspace_id = arg_opt(&c->a, "workspace"),
				  .owner_id = arg_opt(&c->a, "owner"),
				  .verbs = arg_opt(&c->a, "verbs"),
				  .actor = "system"};
	m.op = strcmp(op, "add") == 0 ? MEMBER_ADD : strcmp(op, "set") == 0 ? MEMBER_SET : MEMBER_REMOVE;
	if (!m.workspace_id || !m.owner_id || (m.op != MEMBER_REMOVE && !m.verbs))
		return cli_usage("usage: warrant member %s --workspace WS --owner USR%s", op,
				 m.op == MEMBER_REMOVE ? "" : " --verbs \"res:act ...\"");
	if (m.op == MEMBER_REMOVE && m.verbs)
		return cli_usage("member remove takes no --verbs");
	int rc;
	if ((rc = cli_job(c, member_change_job, &m, &m.err)))
		return rc;
	if (c->json) {
		struct buf b;
		buf_init(&b, 8192);
		buf_printf(&b, "{\"id\":\"%s\",\"workspace_id\":\"%s\",\"owner_id\":\"%s\",\"verbs\":", m.workspace_id,
			   m.workspace_id, m.owner_id);
		buf_json_cstr(&b, m.op == MEMBER_REMOVE ? NULL : m.canon);
		buf_printf(&b, ",\"agents_affected\":%d}", m.agents_affected);
		print_obj(&b);
	} else if (m.op == MEMBER_REMOVE) {
		printf("owner %s removed from %s (%d agents affected)\n", m.owner_id, m.workspace_id,
		       m.agents_affected);
	} else {
		printf("owner %s in %s: %s\n", m.owner_id, m.workspace_id, m.canon);
	}
	return 0;
}

static int opt_count(struct cli *c, const char *name, int64_t *v)
{
	const char *s = arg_opt(&c->a, name);
	if (s && parse_i64(s, 0, 1000000000, v) < 0)
		return cli_usage("--%s must be a whole number (0 means unlimited)", name);
	return 0;
}

/* --dpop required|optional into *required (left as it is when absent). 0, or a usage error. */
static int opt_dpop(struct cli *c, int *required)
{
	const char *s = arg_opt(&c->a, "dpop");
	if (!s)
		return 0;
	if (strcmp(s, "required") != 0 && strcmp(s, "optional") != 0)
		return cli_usage("--dpop must be required or optional");
	*required = strcmp(s, "required") == 0;
	return 0;
}

int cmd_agent_add(struct cli *c)
{
	struct agent_new n;
	memset(&n, 0, sizeof n);
	n.owner_id = arg_opt(&c->a, "owner");
	n.name = arg_opt(&c->a, "name");
	n.verbs = arg_opt(&c->a, "verbs");
	n.actor = "system";
	const char *wsl = arg_opt(&c->a, "workspaces");
	int rc;
	if (!n.owner_id || !n.name || !n.verbs)
		return cli_usage(
			"usage: warrant agent add --owner USR --name NAME --verbs \"res:act ...\" [--workspaces WS,...]"
			" [--jwk-file F]");
	if ((rc = opt_count(c, "per-minute", &n.per_minute)) || (rc = opt_count(c, "per-day", &n.per_day)) ||
	    (rc = opt_dpop(c, &n.dpop_required)))
		return rc;
	const char *jwk_file = arg_opt(&c->a, "jwk-file");
	static char jwk[JOSE_JWK_MAX + 1];
	if (jwk_file && (rc = cli_read_jwk(jwk_file, jwk, sizeof jwk, &n.jwk_len)))
		return rc;
	n.jwk = jwk_file ? jwk : NULL;
	char wsbuf[AGENT_WS_MAX * ID_MAX];
	if (wsl) {
		if (strlen(wsl) >= sizeof wsbuf)
			return cli_usage("--workspaces: too many");
		snprintf(wsbuf, sizeof wsbuf, "%s", wsl);
		for (char *save = NULL, *t = strtok_r(wsbuf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
			if (n.nws == AGENT_WS_MAX)
				return cli_usage("--workspaces: at most %d", AGENT_WS_MAX);
			n.workspaces[n.nws++] = t;
		}
	}
	if (cli_open(c, 0) < 0)
		return 1;
	if ((rc = cli_no_extra(c)))
		return rc;
	if ((rc = cli_job_result(c, db_tx(c->w.db, agent_create_job, &n), &n.err)))
		return rc;
	struct buf b;
	buf_init(&b, 16384);
	agent_json(c->w.db, &n.agent, &b);
	if (n.jwk) {
		/* no secret exists: the agent signs assertions with its key */
		if (c->json) {
			b.len--;
			buf_printf(&b, ",\"credential_id\":\"%s\",\"kid\":", n.cred_id);
			buf_json_cstr(&b, n.kid);
			buf_printf(&b, ",\"jkt\":\"%s\"}", n.jkt);
			print_obj(&b);
		} else {
			buf_free(&b);
			printf("agent %s created for owner %s\nclient_id: %s\nkey credential %s (kid %s), no secret\n",
			       n.agent.name, n.agent.owner_id, n.agent.id, n.cred_id, n.kid);
		}
		return 0;
	}
	if (c->json) {
		/* {"id",...} with the secret shown this once */
		b.len--; /* drop the closing brace */
		buf_printf(&b, ",\"client_secret\":\"%s\",\"credential_id\":\"%s\"}", n.secret, n.cred_id);
		b.p[b.len] = '\0';
		print_obj(&b);
	} else {
		buf_free(&b);
		printf("agent %s created for owner %s\n"
		       "client_id:     %s\n"
		       "client_secret: %s\n"
		       "(the secret is shown this once; store it now)\n",
		       n.agent.name, n.agent.owner_id, n.agent.id, n.secret);
	}
	OPENSSL_cleanse(n.secret, sizeof n.secret);
	return 0;
}

static void emit_agent_text(void *arg, const char *json, size_t n)
{
	(void)arg;
	cli_line(json, n);
}

int cmd_agent_list(struct cli *c)
{
	const char *owner = arg_opt(&c->a, "owner");
	if (cli_open(c, 0) < 0)
		return 1;
	int rc;
	if ((rc = cli_no_extra(c)))
		return rc;
	/* JSON lines either way: one agent a line */
	if (agent_list(c->w.db, owner, c->json ? cli_emit : emit_agent_text, NULL) < 0)
		return cli_fail("database error: %s", db_errmsg(c->w.db));
	return 0;
}

int cmd_resource_add(struct cli *c)
{
	struct resource_new r;
	memset(&r, 0, sizeof r);
	r.name = word(c, 2);
	r.audience = arg_opt(&c->a, "audience");
	if (!r.name)
		return cli_usage("usage: warrant resource add NAME [--audience URI]");
	if (r.audience && !uri_absolute_no_fragment(slice_of(r.audience)))
		return cli_usage("--audience must be an absolute URI without a fragment");
	int rc;
	if ((rc = cli_job(c, resource_create_job, &r, &r.err)))
		return rc;
	if (c->json) {
		struct buf b;
		buf_init(&b, 4096);
		buf_printf(&b, "{\"id\":\"%s\",\"client_id\":\"%s\",\"client_secret\":\"%s\",\"name\":", r.id, r.id,
			   r.secret);
		buf_json_cstr(&b, r.name);
		buf_puts(&b, ",\"audience\":");
		buf_json_cstr(&b, r.audience);
		buf_puts(&b, "}");
		print_obj(&b);
	} else {
		printf("resource server %s created\nclient_id:     %s\nclient_secret: %s\n"
		       "(the secret is shown this once; store it now)\n",
		       r.name, r.id, r.secret);
	}
	OPENSSL_cleanse(r.secret, sizeof r.secret);
	return 0;
}

int cmd_resource_rotate(struct cli *c)
{
	struct resource_rotation r;
	memset(&r, 0, sizeof r);
	r.id = word(c, 2);
	r.grace = RS_GRACE_DEFAULT;
	r.actor = "system";
	const char *g = arg_opt(&c->a, "grace");
	if (!r.id)
		return cli_usage("usage: warrant resource rotate RS [--grace SECONDS]");
	if (g && parse_i64(g, 0, RS_GRACE_MAX, &r.grace) < 0)
		return cli_usage("--grace must be 0 to %d seconds", RS_GRACE_MAX);
	int rc;
	if ((rc = cli_job(c, resource_rotate_job, &r, &r.err)))
		return rc;
	char t[32] = "";
	if (r.old_expires_at)
		rfc3339(r.old_expires_at, t);
	if (c->json) {
		struct buf b;
		buf_init(&b, 4096);
		buf_printf(&b, "{\"id\":\"%s\",\"client_id\":\"%s\",\"client_secret\":\"%s\",\"audience\":", r.id, r.id,
			   r.secret);
		if (r.audience[0])
			buf_json_cstr(&b, r.audience);
		else
			buf_puts(&b, "null");
		buf_printf(&b, ",\"old_expires_at\":%s%s%s}", t[0] ? "\"" : "", t[0] ? t : "null", t[0] ? "\"" : "");
		print_obj(&b);
	} else {
		printf("new secret for resource server %s:\nclient_secret: %s\n(shown this once)\n%s%s\n", r.id,
		       r.secret, t[0] ? "the previous secret works until " : "the previous secret no longer works", t);
	}
	OPENSSL_cleanse(r.secret, sizeof r.secret);
	return 0;
}

int cmd_resource_state(struct cli *c)
{
	const char *op = word(c, 1);
	struct resource_state r;
	memset(&r, 0, sizeof r);
	r.id = word(c, 2);
	r.enable = strcmp(op, "enable") == 0;
	r.actor = "system";
	if (!r.id)
		return cli_usage("usage: warrant resource %s RS", op);
	int rc;
	if ((rc = cli_job(c, resource_state_job, &r, &r.err)))
		return rc;
	const char *status = r.enable ? "active" : "disabled";
	if (c->json) {
		struct buf b;
		buf_init(&b, 4096);
		buf_printf(&b, "{\"id\":\"%s\",\"status\":\"%s\",\"changed\":%s,\"audience\":", r.id, status,
			   r.changed ? "true" : "false");
		if (r.audience[0])
			buf_json_cstr(&b, r.audience);
		else
			buf_puts(&b, "null");
		buf_puts(&b, "}");
		print_obj(&b);
	} else {
		printf("resource server %s is %s%s\n", r.id, status, r.changed ? "" : " (unchanged)");
	}
	return 0;
}

int cmd_keys_list(struct cli *c)
{
	if (cli_open(c, 0) < 0)
		return 1;
	int rc;
	if ((rc = cli_no_extra(c)))
		return rc;
	struct db_stmt *st = db_prep(c->w.db, "SELECT kid, alg, state, created_at, activated_at, retiring_at,"
					      " retire_after FROM signing_keys ORDER BY created_at, kid");
	if (!st)
		return cli_fail("database error: %s", db_errmsg(c->w.db));
	while (db_step(st) == DB_ROW) {
		char t[5][32];
		for (int i = 0; i < 4; i++) {
			if (db_col_null(st, 3 + i))
				snprintf(t[i], 32, "null");
			else {
				char r[32];
				snprintf(t[i], 32, "\"%s\"", rfc3339(db_col_int64(st, 3 + i), r));
			}
		}
		if (c->json)
			printf("{\"id\":\"%s\",\"kid\":\"%s\",\"alg\":\"%s\",\"state\":\"%s\",\"created_at\":%s,"
			       "\"activated_at\":%s,\"retiring_at\":%s,\"retire_after\":%s}\n",
			       db_col_text(st, 0), db_col_text(st, 0), db_col_text(st, 1), db_col_text(st, 2), t[0],
			       t[1], t[2], t[3]);
		else
			printf("%-44s %s %-8s created %.20s\n", db_col_text(st, 0), db_col_text(st, 1),
			       db_col_text(st, 2), t[0] + 1);
	}
	db_reset(st);
	return 0;
}

int cmd_audit(struct cli *c)
{
	if (arg_flag(&c->a, "follow")) {
		const char *since = arg_opt(&c->a, "since");
		int64_t t = 0;
		if (since && parse_time_arg(since, &t) < 0)
			return cli_usage("--since takes 7d, 12h, 30m, 45s or an ISO 8601 UTC time");
		return cmd_audit_follow(c, t);
	}
	struct audit_query q;
	memset(&q, 0, sizeof q);
	q.owner_id = arg_opt(&c->a, "owner");
	q.agent_id = arg_opt(&c->a, "agent");
	q.run_id = arg_opt(&c->a, "run");
	q.ws = arg_opt(&c->a, "workspace");
	const char *since = arg_opt(&c->a, "since"), *until = arg_opt(&c->a, "until"), *limit = arg_opt(&c->a, "limit");
	if (since && parse_time_arg(since, &q.since) < 0)
		return cli_usage("--since takes 7d, 12h, 30m, 45s or an ISO 8601 UTC time");
	if (until && parse_time_arg(until, &q.until) < 0)
		return cli_usage("--until takes 7d, 12h, 30m, 45s or an ISO 8601 UTC time");
	int64_t lim = 0;
	if (limit && parse_i64(limit, 1, 100000000, &lim) < 0)
		return cli_usage("--limit must be a positive whole number");
	q.limit = (long)lim;
	if (cli_open(c, 0) < 0)
		return 1;
	int rc;
	if ((rc = cli_no_extra(c)))
		return rc;
	if (audit_export(c->w.db, &q, cli_emit, NULL) < 0)
		return cli_fail("database error: %s", db_errmsg(c->w.db));
	return 0;
}

int cmd_agent_limit(struct cli *c)
{
	struct agent_limit l;
	memset(&l, 0, sizeof l);
	l.agent_id = word(c, 2);
	l.per_minute = l.per_day = -1;
	int rc;
	if (!l.agent_id)
		return cli_usage("usage: warrant agent limit AGT [--per-minute N] [--per-day N]");
	if ((rc = opt_count(c, "per-minute", &l.per_minute)) || (rc = opt_count(c, "per-day", &l.per_day)))
		return rc;
	if (l.per_minute < 0 && l.per_day < 0)
		return cli_usage("give --per-minute, --per-day or both (0 means unlimited)");
	if (cli_open(c, 0) < 0)
		return 1;
	if ((rc = cli_no_extra(c)))
		return rc;
	if ((rc = cli_job_result(c, db_tx(c->w.db, agent_limit_job, &l), &l.err)))
		return rc;
	if (c->json) {
		struct buf b;
		buf_init(&b, 16384);
		agent_json(c->w.db, &l.agent, &b);
		print_obj(&b);
	} else {
		printf("agent %s: %lld tokens per minute, %lld per day (0 = unlimited)\n", l.agent.id,
		       (long long)l.agent.per_minute, (long long)l.agent.per_day);
	}
	return 0;
}

int cmd_agent_set(struct cli *c)
{
	struct agent_dpop d;
	memset(&d, 0, sizeof d);
	d.agent_id = word(c, 2);
	d.required = -1;
	int rc;
	if (!d.agent_id || !arg_opt(&c->a, "dpop"))
		return cli_usage("usage: warrant agent set AGT --dpop required|optional");
	if ((rc = opt_dpop(c, &d.required)))
		return rc;
	if (cli_open(c, 0) < 0)
		return 1;
	if ((rc = cli_no_extra(c)))
		return rc;
	if ((rc = cli_job_result(c, db_tx(c->w.db, agent_dpop_job, &d), &d.err)))
		return rc;
	if (c->json) {
		struct buf b;
		buf_init(&b, 16384);
		agent_json(c->w.db, &d.agent, &b);
		print_obj(&b);
	} else {
		printf("agent %s: DPoP %s\n", d.agent.id, d.agent.dpop_required ? "required" : "optional");
	}
	return 0;
}
