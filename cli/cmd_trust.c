/* cmd_trust.c - `trust add|list|remove` and `agent federate`: federated workload identity. */
#include "cli.h"

#include "../clients/federation.h"
#include "../common/timeutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_trust_add(struct cli *c)
{
	struct trust_new t;
	memset(&t, 0, sizeof t);
	t.name = c->a.nwords > 2 ? c->a.words[2] : NULL;
	t.issuer = arg_opt(&c->a, "issuer");
	t.jwks_uri = arg_opt(&c->a, "jwks-uri");
	const char *file = arg_opt(&c->a, "jwks-file");
	t.discovery = arg_flag(&c->a, "discovery");
	t.audience = arg_opt(&c->a, "audience");
	t.actor = "system";
	const char *ml = arg_opt(&c->a, "max-lifetime");
	if (!t.name || !t.issuer)
		return cli_usage("usage: warrant trust add NAME --issuer URL (--jwks-uri URL | --jwks-file F |"
				 " --discovery) [--audience A] [--max-lifetime S]");
	if (ml && parse_i64(ml, 1, TRUST_LIFETIME_MAX, &t.max_lifetime) < 0)
		return cli_usage("--max-lifetime must be 1 to %d seconds", TRUST_LIFETIME_MAX);
	/* the server reads the file: store where it is, whatever directory the server runs in */
	char abs[PATH_MAX];
	if (file && !realpath(file, abs))
		return cli_fail("--jwks-file %s cannot be read", file);
	t.jwks_file = file ? abs : NULL;
	int rc;
	if ((rc = cli_job(c, trust_add_job, &t, &t.err)))
		return rc;
	char lifetime[24];
	snprintf(lifetime, sizeof lifetime, "%lld", (long long)t.max_lifetime);
	struct buf b;
	buf_init(&b, 4096);
	if (c->json) {
		buf_puts(&b, "{\"id\":");
		buf_json_cstr(&b, t.id);
		buf_puts(&b, ",\"name\":");
		buf_json_cstr(&b, t.name);
		buf_puts(&b, ",\"issuer\":");
		buf_json_cstr(&b, t.issuer);
		buf_puts(&b, ",\"audience\":");
		if (t.audience)
			buf_json_cstr(&b, t.audience);
		else
			buf_puts(&b, "null"); /* each server's own --issuer */
		buf_printf(&b, ",\"max_lifetime\":%s}", lifetime);
	} else {
		buf_printf(&b, "trust %s (%s) added: tokens of %s, audience %s, at most %s s long", t.name, t.id,
			   t.issuer, t.audience ? t.audience : "the server's issuer", lifetime);
	}
	if (!b.failed)
		cli_line(b.p, b.len);
	buf_free(&b);
	return b.failed;
}

static void emit_text(void *arg, const char *json, size_t n)
{
	(void)arg;
	cli_line(json, n); /* a trust's fields are plain: one JSON line reads well enough */
}

int cmd_trust_list(struct cli *c)
{
	if (cli_open(c, 0) < 0)
		return 1;
	int rc = cli_no_extra(c);
	if (rc)
		return rc;
	long n = trust_list(c->w.db, c->json ? cli_emit : emit_text, NULL);
	if (n < 0)
		return cli_fail("database error: %s", db_errmsg(c->w.db));
	if (!c->json && n == 0)
		printf("no trusts\n");
	return 0;
}

int cmd_trust_remove(struct cli *c)
{
	struct trust_removal r;
	memset(&r, 0, sizeof r);
	r.name = c->a.nwords > 2 ? c->a.words[2] : NULL;
	r.actor = "system";
	if (!r.name)
		return cli_usage("usage: warrant trust remove NAME");
	int rc;
	if ((rc = cli_job(c, trust_remove_job, &r, &r.err)))
		return rc;
	if (c->json)
		printf("{\"id\":\"%s\",\"name\":\"%s\",\"removed\":true,\"credentials_revoked\":%d}\n", r.id, r.name,
		       r.credentials);
	else
		printf("trust %s removed; %d federated credential(s) revoked, the tokens they minted are inactive\n",
		       r.name, r.credentials);
	return 0;
}

int cmd_agent_federate(struct cli *c)
{
	struct federated_new f;
	memset(&f, 0, sizeof f);
	f.agent_id = c->a.nwords > 2 ? c->a.words[2] : NULL;
	f.trust_name = arg_opt(&c->a, "trust");
	f.subject = arg_opt(&c->a, "subject");
	f.actor = "system";
	if (!f.agent_id || !f.trust_name || !f.subject)
		return cli_usage("usage: warrant agent federate AGT --trust NAME --subject SUB");
	int rc;
	if ((rc = cli_job(c, federated_credential_job, &f, &f.err)))
		return rc;
	struct buf b;
	buf_init(&b, 4096);
	if (c->json) {
		buf_printf(&b, "{\"credential_id\":\"%s\",\"agent_id\":\"%s\",\"trust\":", f.cred_id, f.agent.id);
		buf_json_cstr(&b, f.trust_name);
		buf_printf(&b, ",\"trust_id\":\"%s\",\"subject\":", f.trust_id);
		buf_json_cstr(&b, f.subject);
		buf_puts(&b, "}");
	} else {
		buf_printf(&b, "credential %s: %s authenticates with tokens of trust %s whose sub is %s", f.cred_id,
			   f.agent.id, f.trust_name, f.subject);
	}
	if (!b.failed)
		cli_line(b.p, b.len);
	buf_free(&b);
	return b.failed;
}
