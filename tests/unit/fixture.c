/* fixture.c - temporary databases filled through the writer jobs; see fixture.h. */
#include "fixture.h"

#include "../../clients/credentials.h"
#include "../../clients/secret.h"
#include "../../token/ciba.h"
#include "test.h"

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* a failed setup step: counted like a failed CHECK, with what the job said */
static void setup_failed(const char *what, int rc, const struct oerr *e, struct db *db)
{
	test_failures++;
	fprintf(stderr, "    fixture: %s: rc %d, %d %s: %s (%s)\n", what, rc, e ? e->status : 0,
		e && e->code ? e->code : "-", e ? e->desc : "", db ? db_errmsg(db) : "");
}

static int pepper_job(struct db *db, void *arg)
{
	(void)arg;
	return secret_pepper_create(db);
}

/* WARRANT_TEST_PG (the URL of a PostgreSQL server's maintenance database): each fixture
 * gets a database of its own there instead of a file. */
static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static int pg_admin(const char *sql)
{
	PGconn *c = PQconnectdb(getenv("WARRANT_TEST_PG"));
	int ok = PQstatus(c) == CONNECTION_OK;
	PQsetNoticeProcessor(c, quiet, NULL);
	if (ok) {
		PGresult *r = PQexec(c, sql);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			fprintf(stderr, "    fixture: %s: %s", sql, PQresultErrorMessage(r));
		PQclear(r);
	}
	PQfinish(c);
	return ok ? 0 : -1;
}

static int pg_database(struct fx *f)
{
	static int n;
	const char *base = getenv("WARRANT_TEST_PG");
	snprintf(f->pg_name, sizeof f->pg_name, "unit_%d_%d", (int)getpid(), ++n);
	char sql[128];
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", f->pg_name);
	pg_admin(sql);
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", f->pg_name);
	if (pg_admin(sql) < 0)
		return -1;
	/* the same server, the new database: replace the URL's path */
	const char *host = strstr(base, "://"), *slash = host ? strchr(host + 3, '/') : NULL;
	const char *query = strchr(base, '?');
	int keep = slash ? (int)(slash - base) : query ? (int)(query - base) : (int)strlen(base);
	snprintf(f->path, sizeof f->path, "%.*s/%s%s", keep, base, f->pg_name, query ? query : "");
	return 0;
}

int fx_open(struct fx *f)
{
	char err[256];
	const char *tmp = getenv("TMPDIR");
	memset(f, 0, sizeof *f);
	if (getenv("WARRANT_TEST_PG")) {
		if (pg_database(f) < 0) {
			setup_failed("CREATE DATABASE", -1, NULL, NULL);
			return -1;
		}
	} else {
		snprintf(f->path, sizeof f->path, "%s/warrant-unit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		int fd = mkstemp(f->path);
		if (fd < 0) {
			setup_failed("mkstemp", -1, NULL, NULL);
			return -1;
		}
		close(fd);
	}
	f->db = db_open(f->path, DB_CREATE, err, sizeof err);
	if (!f->db) {
		fprintf(stderr, "    fixture: %s\n", err);
		setup_failed("db_open", -1, NULL, NULL);
		unlink(f->path);
		return -1;
	}
	/* the pepper is loaded once per process (the first database's); agent creation needs one */
	int rc = db_tx(f->db, pepper_job, NULL);
	if (rc != 0 || secret_init(f->db) < 0) {
		setup_failed("pepper", rc, NULL, f->db);
		return -1;
	}
	struct org_new o = {.name = "default"};
	if ((rc = db_tx(f->db, org_create_job, &o)) != 0) {
		setup_failed("org default", rc, &o.err, f->db);
		return -1;
	}
	memcpy(f->org, o.id, ID_MAX);
	return 0;
}

void fx_close(struct fx *f)
{
	char p[PATH_MAX + 8];
	db_close(f->db);
	f->db = NULL;
	if (!f->path[0])
		return;
	if (f->pg_name[0]) {
		char sql[128];
		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->pg_name);
		pg_admin(sql);
		f->path[0] = f->pg_name[0] = '\0';
		return;
	}
	unlink(f->path);
	snprintf(p, sizeof p, "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", f->path);
	unlink(p);
	f->path[0] = '\0';
}

struct db *fx_connect(const struct fx *f)
{
	char err[256];
	struct db *db = db_open(f->path, DB_EXISTING, err, sizeof err);
	if (!db) {
		fprintf(stderr, "    fixture: %s\n", err);
		setup_failed("second connection", -1, NULL, NULL);
	}
	return db;
}

void fx_org(struct fx *f, const char *name, char id[ID_MAX])
{
	struct org_new o = {.name = name};
	int rc = db_tx(f->db, org_create_job, &o);
	if (rc != 0)
		setup_failed("org_create_job", rc, &o.err, f->db);
	memcpy(id, o.id, ID_MAX);
}

void fx_owner(struct fx *f, const char *org, const char *email, char id[ID_MAX])
{
	struct owner_new o = {.email = email, .org_id = org};
	int rc = db_tx(f->db, owner_create_job, &o);
	if (rc != 0)
		setup_failed("owner_create_job", rc, &o.err, f->db);
	memcpy(id, o.id, ID_MAX);
}

void fx_workspace(struct fx *f, const char *org, const char *name, int org_visible, const char *org_verbs,
		  char id[ID_MAX])
{
	struct workspace_new w = {.name = name, .org_id = org, .org_visible = org_visible, .org_verbs = org_verbs};
	int rc = db_tx(f->db, workspace_create_job, &w);
	if (rc != 0)
		setup_failed("workspace_create_job", rc, &w.err, f->db);
	memcpy(id, w.id, ID_MAX);
}

void fx_member(struct db *db, enum member_op op, const char *ws, const char *owner, const char *verbs)
{
	struct member_change m = {.op = op, .workspace_id = ws, .owner_id = owner, .verbs = verbs, .actor = "system"};
	int rc = db_tx(db, member_change_job, &m);
	if (rc != 0)
		setup_failed("member_change_job", rc, &m.err, db);
}

void fx_agent(struct fx *f, const char *owner, const char *verbs, const char *const *ws, int nws, int64_t per_minute,
	      int64_t per_day, char id[ID_MAX], char cred[ID_MAX])
{
	static int seq;
	char name[32];
	struct agent_new n;
	memset(&n, 0, sizeof n);
	snprintf(name, sizeof name, "agent-%d", ++seq);
	n.owner_id = owner;
	n.name = name;
	n.verbs = verbs;
	n.actor = "system";
	n.per_minute = per_minute;
	n.per_day = per_day;
	for (int i = 0; i < nws && i < AGENT_WS_MAX; i++)
		n.workspaces[n.nws++] = ws[i];
	int rc = db_tx(f->db, agent_create_job, &n);
	if (rc != 0)
		setup_failed("agent_create_job", rc, &n.err, f->db);
	OPENSSL_cleanse(n.secret, sizeof n.secret);
	memcpy(id, n.agent.id, ID_MAX);
	if (cred)
		memcpy(cred, n.cred_id, ID_MAX);
}

void fx_lifecycle(struct db *db, const char *agent, enum lifecycle_op op)
{
	struct lifecycle l;
	memset(&l, 0, sizeof l);
	l.agent_id = agent;
	l.op = op;
	l.actor = "system";
	int rc = db_tx(db, agent_lifecycle_job, &l);
	if (rc != 0 || !l.changed)
		setup_failed("agent_lifecycle_job", rc, &l.err, db);
}

void fx_deactivate(struct db *db, const char *owner)
{
	struct owner_deactivation d;
	memset(&d, 0, sizeof d);
	d.owner_id = owner;
	d.actor = "system";
	int rc = db_tx(db, owner_deactivate_job, &d);
	if (rc != 0)
		setup_failed("owner_deactivate_job", rc, &d.err, db);
}

void fx_approval(struct db *db, const char *ws, const char *verbs)
{
	struct approval_verbs a = {.workspace_id = ws, .verbs = verbs};
	int rc = db_tx(db, workspace_approval_job, &a);
	if (rc != 0)
		setup_failed("workspace_approval_job", rc, &a.err, db);
}

static void revoke_with(struct db *db, struct revocation *r, const char *what)
{
	r->actor = "system";
	int rc = db_tx(db, revoke_job, r);
	if (rc != 0)
		setup_failed(what, rc, &r->err, db);
}

void fx_revoke_run(struct db *db, const char *agent, const char *run)
{
	struct revocation r = {.kind = REVOKE_RUN, .run_id = run, .agent_id = agent};
	revoke_with(db, &r, "revoke_job run");
}

void fx_revoke_agent(struct db *db, const char *agent)
{
	struct revocation r = {.kind = REVOKE_AGENT, .agent_id = agent};
	revoke_with(db, &r, "revoke_job agent");
}

void fx_revoke_jti(struct db *db, const char *jti, const char *agent, const char *owner, int64_t exp)
{
	struct revocation r = {.kind = REVOKE_JTI, .jti = jti, .agent_id = agent, .owner_id = owner, .exp = exp};
	revoke_with(db, &r, "revoke_job jti");
}

void fx_revoke_cred(struct db *db, const char *agent, const char *cred)
{
	struct credential_revocation r = {.agent_id = agent, .cred_id = cred, .actor = "system"};
	int rc = db_tx(db, credential_revoke_job, &r);
	if (rc != 0)
		setup_failed("credential_revoke_job", rc, &r.err, db);
}

int fx_load(struct db *db, const char *id, struct agent *a)
{
	int rc = agent_load(db, id, a);
	if (rc != 1)
		setup_failed("agent_load", rc, NULL, db);
	return rc;
}
