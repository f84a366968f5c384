/* cmd_serve.c - `warrant init` and `warrant serve`. */
#include "cli.h"

#include "../audit/audit.h"
#include "../audit/chain.h"
#include "../audit/checkpoint.h"
#include "../audit/events.h"
#include "../audit/summary.h"
#include "../audit/webhook.h"
#include "../authz/model.h"
#include "../authz/oidc_login.h"
#include "../authz/quota.h"
#include "../clients/assertion.h"
#include "../clients/secret.h"
#include "../common/kek.h"
#include "../common/log.h"
#include "../common/timeutil.h"
#include "../common/uri.h"
#include "../http/http.h"
#include "../keys/rotate.h"
#include "../sched/housekeeping.h"
#include "../store/sealed.h"
#include "../token/dpop.h"
#include "../token/live.h"
#include "../token/verify.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

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
	struct db_stmt *st = db_prep(db, "SELECT count(*) FROM signing_keys");
	if (!st)
		return -1;
	int n = db_step(st) == DB_ROW ? db_col_int(st, 0) : -1;
	db_reset(st);
	if (n != 0) {
		j->already = 1;
		return n < 0 ? -1 : 1;
	}
	struct org_new o = {.name = "default"};
	/* with a key-encryption key, the row that proves it first: the secrets below are sealed */
	if ((kek_loaded() && sealed_mark(db) < 0) || secret_pepper_create(db) < 0 || org_create_job(db, &o) != 0)
		return -1;
	memcpy(j->org_id, o.id, ID_MAX);
	if (key_create(db, j->alg, KEY_CURRENT, j->kid) < 0 || key_create(db, j->alg, KEY_NEXT, j->next_kid) < 0)
		return -1;
	struct audit_event ev;
	struct audit_keys k = {.actor = NULL};
	audit_event_init(&ev, EV_KEY_ROTATED, "ok", &k);
	audit_detailf(&ev, "{\"reason\":\"init\",\"current\":\"%s\",\"next\":\"%s\",\"alg\":\"%s\"}", j->kid,
		      j->next_kid, key_alg_name(j->alg));
	int rc = audit_insert(db, &ev);
	audit_event_clear(&ev);
	return rc;
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
	if (cli_open(c, 1) < 0) {
		if (*c->key_created)
			unlink(c->key_created);
		return 1;
	}
	rc = db_tx(c->w.db, init_job, &j);
	if ((j.already || rc) && *c->key_created)
		unlink(c->key_created); /* a key file this init made, for nothing */
	if (j.already)
		return cli_fail("%s is already initialised", c->w.db_shown);
	if (rc)
		return cli_fail("init failed: %s", db_errmsg(c->w.db));
	if (c->json)
		printf("{\"id\":\"%s\",\"db\":\"%s\",\"org\":\"default\",\"kid\":\"%s\",\"next_kid\":\"%s\",\"alg\":\"%s\"}\n",
		       j.org_id, c->w.db_shown, j.kid, j.next_kid, key_alg_name(j.alg));
	else
		printf("initialised %s: org default (%s), signing key %s (%s), next key %s\n", c->w.db_shown, j.org_id,
		       j.kid, key_alg_name(j.alg), j.next_kid);
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
	if (parse_i64(s, min, max, v) < 0) {
		/* name the setting the way it was given: flag, variable or config key */
		char where[96];
		const char *src = config_source(&c->a, name);
		if (strcmp(src, "environment") == 0) {
			size_t j = snprintf(where, sizeof where, "WARRANT_");
			for (const char *p = name; *p && j < sizeof where - 1; p++)
				where[j++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
			where[j] = '\0';
		} else if (strcmp(src, "file") == 0) {
			snprintf(where, sizeof where, "config key %s", name);
		} else {
			snprintf(where, sizeof where, "--%s", name);
		}
		return cli_usage("%s must be a whole number from %lld to %lld", where, (long long)min, (long long)max);
	}
	return 0;
}

/* the writer applies live-state changes before anyone hears they are done */
static void after_commit(struct db *db) { live_poll(db); }

static int store_timing(struct db *db, void *arg) { return key_timing_store(db, arg) ? -1 : 0; }

/* What `serve` was told, beyond the server's own options. */
struct serve_conf {
	int64_t ttl, leeway, jwks_age, rotation, retention, wal_restart, checkpoint;
	struct webhook_conf hook; /* hook.url NULL: no --audit-webhook */
	const char *log_file, *log_level;
	enum log_level level;
	int check;
	int dpop_nonce; /* --dpop-nonce */
};

/* The numeric settings, each within its bounds. 0, or a usage error's exit code. */
static int serve_numbers(struct cli *c, struct server_opts *o, struct serve_conf *sc)
{
	int64_t threads = 0, body = (int64_t)o->max_body, conns = o->max_connections, perip = o->max_per_ip,
		timeout = o->timeout;
	int rc;
	if ((rc = opt_uint(c, "token-ttl", 1, TOKEN_TTL_MAX, &sc->ttl)) ||
	    (rc = opt_uint(c, "threads", 0, 64, &threads)) || (rc = opt_uint(c, "max-body", 1024, 16 << 20, &body)) ||
	    (rc = opt_uint(c, "max-connections", 1, 1000000, &conns)) ||
	    (rc = opt_uint(c, "max-per-ip", 1, 1000000, &perip)) || (rc = opt_uint(c, "timeout", 1, 3600, &timeout)) ||
	    (rc = opt_uint(c, "leeway", 0, 300, &sc->leeway)) ||
	    (rc = opt_uint(c, "jwks-max-age", 0, 86400, &sc->jwks_age)) ||
	    (rc = opt_uint(c, "key-rotation", 0, 365 * 86400, &sc->rotation)) ||
	    (rc = opt_uint(c, "audit-retention", 0, 36500, &sc->retention)) ||
	    (rc = opt_uint(c, "audit-checkpoint-interval", 1, CHECKPOINT_INTERVAL_MAX, &sc->checkpoint)) ||
	    (rc = opt_uint(c, "wal-restart", 1, WRITER_WAL_RESTART_MIB_MAX, &sc->wal_restart)))
		return rc;
	/* quotas and cascades read the last day of the trail: keep at least two */
	if (sc->retention == 1)
		return cli_usage("--audit-retention must be 0 (keep all) or at least 2 days");
	o->threads = (int)threads;
	o->max_body = (size_t)body;
	o->max_connections = (unsigned)conns;
	o->max_per_ip = (unsigned)perip;
	o->timeout = (unsigned)timeout;
	return 0;
}

/* --listen, --issuer and --audience. 0, or a usage error's exit code. */
static int serve_identity(struct cli *c, struct server_opts *o, struct warrant *w)
{
	const char *listen = arg_opt(&c->a, "listen");
	if (listen)
		snprintf(o->listen, sizeof o->listen, "%s", listen);
	const char *issuer = arg_opt(&c->a, "issuer");
	if (issuer)
		snprintf(w->issuer, sizeof w->issuer, "%s", issuer);
	else
		snprintf(w->issuer, sizeof w->issuer, "%s://%s", arg_opt(&c->a, "tls-cert") ? "https" : "http",
			 o->listen);
	size_t il = strlen(w->issuer);
	while (il > 0 && w->issuer[il - 1] == '/') /* RFC 8414 §2: no trailing slash games */
		w->issuer[--il] = '\0';
	if (!uri_like(w->issuer))
		return cli_usage("--issuer must be an http(s) URL without query or fragment");
	const char *aud = arg_opt(&c->a, "audience");
	if (aud && !uri_absolute_no_fragment(slice_of(aud)))
		return cli_usage("--audience must be an absolute URI without a fragment");
	snprintf(w->audience, sizeof w->audience, "%s", aud ? aud : w->issuer);
	return 0;
}

/* --audit-webhook URL with --audit-webhook-secret-file F (read and checked here). */
static int serve_webhook(struct cli *c, struct serve_conf *sc)
{
	const char *url = arg_opt(&c->a, "audit-webhook"), *secret = arg_opt(&c->a, "audit-webhook-secret-file");
	if (!url && !secret)
		return 0;
	if (!url || !secret)
		return cli_usage("--audit-webhook and --audit-webhook-secret-file go together");
	if (!uri_like(url))
		return cli_usage("--audit-webhook must be an http(s) URL without a fragment");
	char err[512];
	if (webhook_secret_load(secret, &sc->hook, err, sizeof err) < 0)
		return cli_fail("%s", err);
	sc->hook.url = url;
	return 0;
}

/* Every setting of `serve` into o, w and sc, checked. 0, or the exit code of a refusal. */
static int serve_settings(struct cli *c, struct server_opts *o, struct serve_conf *sc)
{
	struct warrant *w = &c->w;
	char cerr[512];
	int rc;
	if (config_merge(&c->a, cerr, sizeof cerr) < 0)
		return cli_usage("%s", cerr);
	sc->check = arg_flag(&c->a, "check-config");
	if ((rc = serve_numbers(c, o, sc)) || (rc = serve_identity(c, o, w)) || (rc = serve_webhook(c, sc)))
		return rc;
	o->tls_cert = arg_opt(&c->a, "tls-cert");
	o->tls_key = arg_opt(&c->a, "tls-key");
	if (!o->tls_cert != !o->tls_key)
		return cli_usage("--tls-cert and --tls-key go together");
	o->insecure_http = arg_flag(&c->a, "insecure-http");
	db_set_sync_full(arg_flag(&c->a, "sync-full"));
	sc->dpop_nonce = arg_flag(&c->a, "dpop-nonce");
	w->token_ttl = (int)sc->ttl;
	w->leeway = (int)sc->leeway;
	w->jwks_max_age = (int)sc->jwks_age;
	w->key_rotation = (int)sc->rotation;
	w->audit_retention = (int)sc->retention;
	o->metrics_token = arg_opt(&c->a, "metrics-token");
	sc->log_file = arg_opt(&c->a, "log-file");
	sc->log_level = arg_opt(&c->a, "log-level");
	sc->level = LOG_INFO;
	if (sc->log_level && log_level_parse(sc->log_level, &sc->level) < 0)
		return cli_usage("--log-level must be debug, info, warn or error");
	if (o->tls_cert && (access(o->tls_cert, R_OK) != 0 || access(o->tls_key, R_OK) != 0))
		return cli_usage("cannot read --tls-cert or --tls-key");
	const char *oi = arg_opt(&c->a, "owner-oidc-issuer"), *oc = arg_opt(&c->a, "owner-oidc-client-id"),
		   *os = arg_opt(&c->a, "owner-oidc-client-secret-file");
	if ((oi || oc || os) && oidc_login_configure(oi, oc, os, cerr, sizeof cerr) < 0)
		return cli_usage("%s", cerr);
	arg_opt(&c->a, "db");
	cli_key_file(c); /* read when the database opens */
	if ((rc = cli_no_extra(c)))
		return rc;
	if (server_check(o, cerr, sizeof cerr) < 0)
		return cli_usage("%s", cerr);
	if (sc->log_file && strcmp(sc->log_file, "-") != 0) {
		int lf = open(sc->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (lf < 0 && errno == ELOOP)
			return cli_fail("--log-file %s is a symbolic link; give the file itself", sc->log_file);
		if (lf < 0)
			return cli_fail("cannot open --log-file %s: %s", sc->log_file, strerror(errno));
		close(lf);
	}
	return 0;
}

/* --check-config: the effective configuration, where each value came from, secrets masked. */
static int serve_show_config(struct cli *c, const struct server_opts *o, const struct serve_conf *sc)
{
	const struct warrant *w = &c->w;
	const char *db = arg_opt(&c->a, "db");
	if (!db)
		db = getenv("WARRANT_DB");
	printf("# effective configuration (flags > WARRANT_* environment > --config file > defaults)\n");
#define SHOW(key, fmt, ...) printf("%-16s = " fmt "   # %s\n", key, __VA_ARGS__, config_source(&c->a, key))
	char shown[PATH_MAX];
	SHOW("db", "%s", db_target_shown(db && *db ? db : "./warrant.db", shown, sizeof shown));
	SHOW("key-file", "%s", cli_key_file(c) ? cli_key_file(c) : "");
	SHOW("listen", "%s", o->listen);
	SHOW("issuer", "%s", w->issuer);
	SHOW("audience", "%s", w->audience);
	SHOW("token-ttl", "%d", w->token_ttl);
	SHOW("leeway", "%d", w->leeway);
	SHOW("jwks-max-age", "%d", w->jwks_max_age);
	SHOW("key-rotation", "%d", w->key_rotation);
	SHOW("threads", "%d", o->threads);
	SHOW("max-body", "%zu", o->max_body);
	SHOW("max-connections", "%u", o->max_connections);
	SHOW("max-per-ip", "%u", o->max_per_ip);
	SHOW("timeout", "%u", o->timeout);
	SHOW("tls-cert", "%s", o->tls_cert ? o->tls_cert : "");
	SHOW("tls-key", "%s", o->tls_key ? o->tls_key : "");
	SHOW("insecure-http", "%s", o->insecure_http ? "true" : "false");
	SHOW("sync-full", "%s", arg_flag(&c->a, "sync-full") ? "true" : "false");
	SHOW("dpop-nonce", "%s", sc->dpop_nonce ? "true" : "false");
	SHOW("metrics-token", "%s", o->metrics_token ? "********" : "");
	SHOW("owner-oidc-issuer", "%s", arg_opt(&c->a, "owner-oidc-issuer") ? arg_opt(&c->a, "owner-oidc-issuer") : "");
	SHOW("log-file", "%s", sc->log_file ? sc->log_file : "-");
	SHOW("log-level", "%s", sc->log_level ? sc->log_level : "info");
	SHOW("audit-retention", "%d", w->audit_retention);
	SHOW("wal-restart", "%d", (int)sc->wal_restart);
	SHOW("audit-checkpoint-interval", "%d", (int)sc->checkpoint);
	SHOW("audit-webhook", "%s", sc->hook.url ? sc->hook.url : "");
	SHOW("audit-webhook-secret-file", "%s", sc->hook.url ? "********" : "");
#undef SHOW
	if (cli_open(c, 0) < 0)
		return 1;
	printf("# configuration is valid; database %s opens\n", c->w.db_shown);
	return 0;
}

/* No core files, few malloc arenas, the stop signals blocked in every thread (server_run
 * waits for them), SIGPIPE ignored. */
static void serve_process_setup(void)
{
	/* a few malloc arenas, not one per thread: memory freed by one thread is reused */
	mallopt(M_ARENA_MAX, 2);
	/* private keys and tokens live in this process's memory: no core files of it */
	struct rlimit no_core = {0, 0};
	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Publishes the token timing, loads the keys, caches and live state, and starts the
 * writer: everything the server needs before it listens. 0, or an exit code. */
static int serve_load(struct warrant *w, const struct serve_conf *sc)
{
	/* tell rotations (here or from the command line) how long our tokens live */
	struct key_timing kt = {.token_ttl = sc->ttl,
				.leeway = sc->leeway,
				.jwks_max_age = sc->jwks_age,
				.rotation_interval = sc->rotation};
	if (db_tx(w->db, store_timing, &kt) != 0)
		return cli_fail("cannot write settings: %s", db_errmsg(w->db));
	w->keys = keyring_new();
	if (!w->keys || keyring_load(w->keys, w->db) < 0)
		return cli_fail("cannot load signing keys");
	char kid[KID_MAX];
	enum key_alg alg;
	if (keyring_current(w->keys, kid, &alg) < 0)
		return cli_fail("no current signing key in %s", w->db_shown);
	if (discovery_init(w) < 0)
		return cli_fail("cannot build the discovery document");
	if (tcache_init(TCACHE_DEFAULT_ENTRIES) < 0 || live_init(w->db) < 0)
		return cli_fail("cannot load the live state");
	live_enable_caches();
	/* every server sharing the database derives the same nonces from one key */
	if (sc->dpop_nonce && dpop_nonce_enable(w->db) < 0)
		return cli_fail("cannot load the DPoP nonce key: %s", db_errmsg(w->db));
	quota_enable();
	/* the writer's rows go to this node's chain (audit/chain.h) */
	char chain[CHAIN_ID_MAX];
	chain_node_id(db_engine_of(w->db_path), chain);
	checkpoint_configure(chain, (int)sc->checkpoint);
	chain_serve(chain);
	char err[512];
	w->writer = writer_start(w->db_path, (int)sc->wal_restart, err, sizeof err);
	if (!w->writer)
		return cli_fail("%s", err);
	writer_set_hook(w->writer, after_commit);
	assertion_use_writer(w->writer); /* jti claims join the writer's batches */
	return 0;
}

int cmd_serve(struct cli *c)
{
	struct server_opts o;
	server_opts_default(&o);
	struct serve_conf sc = {.ttl = TOKEN_TTL_DEFAULT,
				.leeway = LEEWAY_DEFAULT,
				.jwks_age = JWKS_MAX_AGE_DEFAULT,
				.rotation = KEY_ROTATION_DEFAULT,
				.retention = AUDIT_RETENTION_DEFAULT_DAYS,
				.wal_restart = WRITER_WAL_RESTART_MIB,
				.checkpoint = CHECKPOINT_INTERVAL_DEFAULT};
	struct warrant *w = &c->w;
	int rc = serve_settings(c, &o, &sc);
	if (rc)
		return rc;
	if (sc.check)
		return serve_show_config(c, &o, &sc);
	if (log_open(sc.log_file, sc.level) < 0)
		return cli_fail("cannot open --log-file %s", sc.log_file);
	metrics_set_token(o.metrics_token);
	if (cli_open(c, 0) < 0)
		return 1;
	serve_process_setup();
	if ((rc = serve_load(w, &sc)))
		return rc;
	/* from here on every thread reads through its own connection */
	db_close(w->db);
	w->db = NULL;
	if (sc.hook.url) {
		sc.hook.db_path = w->db_path;
		sc.hook.writer = w->writer;
		sc.hook.leading = housekeeping_leading;
		if (webhook_start(&sc.hook) < 0)
			return cli_fail("cannot start the audit webhook");
		OPENSSL_cleanse(sc.hook.secret, sizeof sc.hook.secret);
	}
	rc = server_run(w, &o);
	webhook_stop();
	struct writer_stats ws;
	writer_stats(w->writer, &ws); /* the requests' jobs, before the summaries' */
	/* the listener has stopped: the current minute's summaries, before the writer stops */
	if (audit_summary_flush(w->writer, now_ms(), 1) < 0)
		log_event(LOG_ERROR, "audit summary lost", ",\"events\":%ld", audit_summary_pending());
	housekeeping_checkpoint(w); /* the chain's last rows, signed */
	writer_stop(w->writer);     /* commits whatever is queued */
	log_event(LOG_INFO, "stopped", ",\"writer_batches\":%ld,\"writer_jobs\":%ld,\"wal_restarts\":%ld", ws.batches,
		  ws.jobs, ws.wal_restarts);
	log_close();
	w->writer = NULL;
	keyring_free(w->keys);
	tcache_clear();
	live_free();
	return rc == 0 ? 0 : 1;
}
