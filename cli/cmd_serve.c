/* cmd_serve.c - `warrant init` and `warrant serve`. */
#include "cli.h"

#include "../audit/audit.h"
#include "../authz/model.h"
#include "../clients/secret.h"
#include "../common/timeutil.h"
#include "../common/uri.h"
#include "../authz/quota.h"
#include "../http/http.h"
#include "../keys/rotate.h"
#include "../token/live.h"
#include "../token/verify.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

struct init_job {
	enum key_alg alg;
	char org_id[ID_MAX];
	char kid[KID_MAX];
	char next_kid[KID_MAX];
	int already;
};

static int init_job(struct db *db, void *arg)
{
	struct init_job *j = arg;
	sqlite3_stmt *st = db_prep(db, "SELECT count(*) FROM signing_keys");
	if (!st)
		return -1;
	int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_reset(st);
	if (n != 0) {
		j->already = 1;
		return n < 0 ? -1 : 1;
	}
	struct org_new o = {.name = "default"};
	if (secret_pepper_create(db) < 0 || org_create_job(db, &o) != 0)
		return -1;
	memcpy(j->org_id, o.id, ID_MAX);
	if (key_create(db, j->alg, KEY_CURRENT, j->kid) < 0 ||
	    key_create(db, j->alg, KEY_NEXT, j->next_kid) < 0)
		return -1;
	struct audit_event ev;
	memset(&ev, 0, sizeof ev);
	ev.event = "key.rotated";
	ev.outcome = "ok";
	snprintf(ev.actor, sizeof ev.actor, "system");
	snprintf(ev.detail, sizeof ev.detail, "{\"reason\":\"init\",\"current\":\"%s\",\"next\":\"%s\",\"alg\":\"%s\"}",
		 j->kid, j->next_kid, key_alg_name(j->alg));
	return audit_insert(db, &ev);
}

int cmd_init(struct cli *c)
{
	struct init_job j = {.alg = ALG_ES256};
	const char *alg = arg_opt(&c->a, "alg");
	if (alg && key_alg_parse(alg, &j.alg) < 0)
		return cli_usage("--alg must be ES256 or RS256");
	arg_opt(&c->a, "db");
	int rc;
	if ((rc = cli_no_extra(c)))
		return rc;
	if (cli_open(c, 1) < 0)
		return 1;
	rc = db_tx(c->w.db, init_job, &j);
	if (j.already)
		return cli_fail("%s is already initialised", c->w.db_path);
	if (rc)
		return cli_fail("init failed: %s", db_errmsg(c->w.db));
	if (c->json)
		printf("{\"id\":\"%s\",\"db\":\"%s\",\"org\":\"default\",\"kid\":\"%s\",\"next_kid\":\"%s\",\"alg\":\"%s\"}\n",
		       j.org_id, c->w.db_path, j.kid, j.next_kid, key_alg_name(j.alg));
	else
		printf("initialised %s: org default (%s), signing key %s (%s), next key %s\n",
		       c->w.db_path, j.org_id, j.kid, key_alg_name(j.alg), j.next_kid);
	return 0;
}

static int uri_like(const char *s)
{
	return (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) &&
	       uri_absolute_no_fragment(slice_of(s)) && !strchr(s, '?');
}

static int opt_uint(struct cli *c, const char *name, int64_t min, int64_t max, int64_t *v)
{
	const char *s = arg_opt(&c->a, name);
	if (!s)
		return 0;
	if (parse_i64(s, min, max, v) < 0)
		return cli_usage("--%s must be a whole number from %lld to %lld", name, (long long)min,
				 (long long)max);
	return 0;
}

/* the writer applies live-state changes before anyone hears they are done */
static void after_commit(struct db *db) { live_poll(db); }

static int store_timing(struct db *db, void *arg) { return key_timing_store(db, arg) ? -1 : 0; }

int cmd_serve(struct cli *c)
{
	struct server_opts o;
	server_opts_default(&o);
	struct warrant *w = &c->w;
	int64_t leeway = LEEWAY_DEFAULT, jwks_age = JWKS_MAX_AGE_DEFAULT, rotation = KEY_ROTATION_DEFAULT;
	int64_t ttl = TOKEN_TTL_DEFAULT, threads = 0, body = (int64_t)o.max_body,
		conns = o.max_connections, perip = o.max_per_ip, timeout = o.timeout;
	int rc;
	if ((rc = opt_uint(c, "token-ttl", 1, TOKEN_TTL_MAX, &ttl)) ||
	    (rc = opt_uint(c, "threads", 0, 64, &threads)) ||
	    (rc = opt_uint(c, "max-body", 1024, 16 << 20, &body)) ||
	    (rc = opt_uint(c, "max-connections", 1, 1000000, &conns)) ||
	    (rc = opt_uint(c, "max-per-ip", 1, 1000000, &perip)) ||
	    (rc = opt_uint(c, "timeout", 1, 3600, &timeout)) ||
	    (rc = opt_uint(c, "leeway", 0, 300, &leeway)) ||
	    (rc = opt_uint(c, "jwks-max-age", 0, 86400, &jwks_age)) ||
	    (rc = opt_uint(c, "key-rotation", 0, 365 * 86400, &rotation)))
		return rc;
	const char *listen = arg_opt(&c->a, "listen");
	if (listen)
		snprintf(o.listen, sizeof o.listen, "%s", listen);
	const char *issuer = arg_opt(&c->a, "issuer");
	if (issuer)
		snprintf(w->issuer, sizeof w->issuer, "%s", issuer);
	else
		snprintf(w->issuer, sizeof w->issuer, "%s://%s", arg_opt(&c->a, "tls-cert") ? "https" : "http", o.listen);
	size_t il = strlen(w->issuer);
	while (il > 0 && w->issuer[il - 1] == '/') /* RFC 8414 §2: no trailing slash games */
		w->issuer[--il] = '\0';
	if (!uri_like(w->issuer))
		return cli_usage("--issuer must be an http(s) URL without query or fragment");
	const char *aud = arg_opt(&c->a, "audience");
	if (aud && !uri_absolute_no_fragment(slice_of(aud)))
		return cli_usage("--audience must be an absolute URI without a fragment");
	snprintf(w->audience, sizeof w->audience, "%s", aud ? aud : w->issuer);
	o.tls_cert = arg_opt(&c->a, "tls-cert");
	o.tls_key = arg_opt(&c->a, "tls-key");
	if (!o.tls_cert != !o.tls_key)
		return cli_usage("--tls-cert and --tls-key go together");
	o.insecure_http = arg_flag(&c->a, "insecure-http");
	db_set_sync_full(arg_flag(&c->a, "sync-full"));
	o.threads = (int)threads;
	o.max_body = (size_t)body;
	o.max_connections = (unsigned)conns;
	o.max_per_ip = (unsigned)perip;
	o.timeout = (unsigned)timeout;
	w->token_ttl = (int)ttl;
	w->leeway = (int)leeway;
	w->jwks_max_age = (int)jwks_age;
	w->key_rotation = (int)rotation;
	if (cli_open(c, 0) < 0)
		return 1;
	if ((rc = cli_no_extra(c)))
		return rc;
	/* block the stop signals in every thread; server_run waits for them */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* tell rotations (here or from the command line) how long our tokens live */
	struct key_timing kt = {.token_ttl = ttl, .leeway = leeway, .jwks_max_age = jwks_age,
				.rotation_interval = rotation};
	if (db_tx(w->db, store_timing, &kt) != 0)
		return cli_fail("cannot write settings: %s", db_errmsg(w->db));
	w->keys = keyring_new();
	if (!w->keys || keyring_load(w->keys, w->db) < 0)
		return cli_fail("cannot load signing keys");
	char kid[KID_MAX];
	enum key_alg alg;
	if (keyring_current(w->keys, kid, &alg) < 0)
		return cli_fail("no current signing key in %s", w->db_path);
	if (discovery_init(w) < 0)
		return cli_fail("cannot build the discovery document");
	if (tcache_init(TCACHE_DEFAULT_ENTRIES) < 0 || live_init(w->db) < 0)
		return cli_fail("cannot load the live state");
	live_enable_caches();
	quota_enable();
	char err[512];
	w->writer = writer_start(w->db_path, err, sizeof err);
	if (!w->writer)
		return cli_fail("%s", err);
	writer_set_hook(w->writer, after_commit);
	/* from here on every thread reads through its own connection */
	db_close(w->db);
	w->db = NULL;
	rc = server_run(w, &o);
	long batches, jobs;
	int queued;
	writer_stats(w->writer, &batches, &jobs, &queued);
	fprintf(stderr, "{\"level\":\"info\",\"msg\":\"stopped\",\"writer_batches\":%ld,\"writer_jobs\":%ld}\n",
		batches, jobs);
	writer_stop(w->writer); /* commits whatever is queued */
	w->writer = NULL;
	keyring_free(w->keys);
	tcache_clear();
	live_free();
	return rc == 0 ? 0 : 1;
}
