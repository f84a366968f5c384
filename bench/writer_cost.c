/* writer_cost.c - what one durable audit row costs the writer, apart from HTTP: inserts
 * N rows in transactions of B rows each into a fresh database with the real schema, the
 * way the group-commit writer does, and prints microseconds per row. Run by
 * `make bench-writer` for B = 1, 4, 16, 64 (the batch a commit covers) and two kinds of
 * row: "issued" (a new server-minted run each, so every index grows at its right edge) and
 * "introspected" (eight agents, runs drawn from 5,000 live ones, as introspection of live
 * tokens writes them: the run index takes inserts all over its recent part), and
 * "issued+ledger": an issuance as the server records it, the audit row and the token's
 * ledger row (store/ledger.c). */
#include "../audit/audit.h"
#include "../store/db.h"
#include "../store/ledger.h"
#include "../token/mint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: writer_cost DBFILE BATCH [ROWS] [issued|introspected|issued+ledger]\n");
		return 2;
	}
	const char *path = argv[1];
	int batch = atoi(argv[2]), rows = argc > 3 ? atoi(argv[3]) : 100000;
	int introspected = argc > 4 && strcmp(argv[4], "introspected") == 0;
	int ledger = argc > 4 && strcmp(argv[4], "issued+ledger") == 0;
	static char runs[5000][72];
	for (int i = 0; i < 5000; i++)
		run_id_new((int64_t)(now_s() * 1000), runs[i]);
	char err[256], wal[4200];
	unlink(path);
	snprintf(wal, sizeof wal, "%s-wal", path);
	unlink(wal);
	struct db *db = db_open(path, DB_CREATE, err, sizeof err);
	if (!db || batch < 1) {
		fprintf(stderr, "%s\n", db ? "bad batch" : err);
		return 1;
	}
	/* as the server's writer: no checkpoint inside commits, the same page cache */
	db_exec(db, "PRAGMA wal_autocheckpoint=0");
	db_exec(db, "PRAGMA cache_size=-8192");
	struct audit_event ev;
	memset(&ev, 0, sizeof ev);
	ev.event = introspected ? "token.introspected" : "token.issued";
	ev.outcome = introspected ? "active" : "ok";
	snprintf(ev.actor, sizeof ev.actor, "rs_aaaaaaaaaaaaaaaaaaaaaaaaaa");
	snprintf(ev.agent_id, sizeof ev.agent_id, "agt_aaaaaaaaaaaaaaaaaaaaaaaaaa");
	snprintf(ev.owner_id, sizeof ev.owner_id, "usr_aaaaaaaaaaaaaaaaaaaaaaaaaa");
	snprintf(ev.ws, sizeof ev.ws, "ws_aaaaaaaaaaaaaaaaaaaaaaaaaa");
	snprintf(ev.client_addr, sizeof ev.client_addr, "127.0.0.1");
	ev.detail = "{\"agent_id\":\"agt_aaaaaaaaaaaaaaaaaaaaaaaaaa\"}";
	double t0 = now_s();
	for (int i = 0; i < rows; i += batch) {
		db_begin(db);
		for (int k = 0; k < batch; k++) {
			int64_t ms = (int64_t)(now_s() * 1000);
			jti_new(ms, ev.jti);
			if (introspected) {
				int a = rand() % 8;
				snprintf(ev.agent_id, sizeof ev.agent_id, "agt_aaaaaaaaaaaaaaaaaaaaaaaaa%d", a);
				snprintf(ev.run_id, sizeof ev.run_id, "%s", runs[rand() % 5000]);
			} else {
				run_id_new(ms, ev.run_id); /* server-minted runs: time-ordered */
			}
			ev.time = 0;
			audit_insert(db, &ev);
			if (ledger) {
				struct ledger_entry e = {
					.jti = ev.jti,
					.agent_id = ev.agent_id,
					.owner_id = ev.owner_id,
					.cred_id = "cred_aaaaaaaaaaaaaaaaaaaaaaaaaa",
					.run_id = ev.run_id,
					.ws = ev.ws,
					.scope = "tickets:note tickets:read",
					.aud_json = "[\"http://127.0.0.1:18999\"]",
					.iat_ms = ms,
					.exp_s = ms / 1000 + 300,
				};
				ledger_insert(db, &e);
			}
		}
		db_commit(db);
	}
	double t1 = now_s();
	printf("%-13s batch %3d: %.1f us per durable row\n",
	       introspected ? "introspected"
	       : ledger     ? "issued+ledger"
			    : "issued",
	       batch, (t1 - t0) / rows * 1e6);
	db_close(db);
	unlink(path);
	unlink(wal);
	return 0;
}
