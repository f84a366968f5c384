/* cmd_agent_key.c - `agent key add`: an agent's public-key credential (private_key_jwt), and
 * reading the JWK file `agent add --jwk-file` also takes. */
#include "cli.h"

#include "../clients/credentials.h"
#include "../clients/keycred.h"
#include "../common/buf.h"
#include "../common/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int cli_read_jwk(const char *path, char *out, size_t cap, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return cli_fail("cannot read %s: %s", path, strerror(errno));
	*n = fread(out, 1, cap, f);
	int err = ferror(f), more = *n == cap;
	fclose(f);
	if (err)
		return cli_fail("cannot read %s", path);
	if (more)
		return cli_fail("%s: a JWK is at most %d bytes", path, JOSE_JWK_MAX);
	return 0;
}

int cmd_agent_key(struct cli *c)
{
	struct key_credential_add r;
	memset(&r, 0, sizeof r);
	const char *op = c->a.nwords > 2 ? c->a.words[2] : NULL;
	const char *file = arg_opt(&c->a, "jwk-file"), *g = arg_opt(&c->a, "grace");
	r.agent_id = c->a.nwords > 3 ? c->a.words[3] : NULL;
	r.grace = -1;
	r.actor = "system";
	if (!op || strcmp(op, "add") != 0 || !r.agent_id || !file || c->a.nwords > 4)
		return cli_usage("usage: warrant agent key add AGT --jwk-file F [--grace SECONDS]");
	if (g && parse_i64(g, 0, GRACE_MAX, &r.grace) < 0)
		return cli_usage("--grace must be 0 to %d seconds", GRACE_MAX);
	static char jwk[JOSE_JWK_MAX + 1];
	int rc;
	if ((rc = cli_read_jwk(file, jwk, JOSE_JWK_MAX + 1, &r.jwk_len)))
		return rc;
	r.jwk = jwk;
	if ((rc = cli_job(c, key_credential_add_job, &r, &r.err)))
		return rc;
	struct buf b;
	buf_init(&b, 1024);
	buf_printf(&b, "{\"credential_id\":\"%s\",\"agent_id\":\"%s\",\"kid\":", r.cred_id, r.agent_id);
	buf_json_cstr(&b, r.kid);
	buf_printf(&b, ",\"jkt\":\"%s\"}", r.jkt);
	if (c->json)
		cli_line(b.p, b.len);
	else
		printf("key credential %s added to %s\nkid: %s\njkt: %s\n", r.cred_id, r.agent_id, r.kid, r.jkt);
	buf_free(&b);
	return 0;
}
