/* housekeeping.c - the schedule loop: reloads and scheduled work; see housekeeping.h. */
#include "housekeeping.h"

#include "../audit/audit.h"
#include "../audit/chain.h"
#include "../audit/checkpoint.h"
#include "../audit/retention.h"
#include "../audit/summary.h"
#include "../authz/quota.h"
#include "../clients/credentials.h"
#include "../clients/expiry.h"
#include "../clients/federation.h"
#include "../common/log.h"
#include "../common/timeutil.h"
#include "../keys/rotate.h"
#include "../keys/schedule.h"
#include "../store/ledger.h"
#include "../store/replay.h"
#include "../token/live.h"
#include "../token/prune.h"
#include "../token/statuslist.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define KEYSET_FINGERPRINT_MAX 4096

static pthread_t thread;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int running, stopping;
static atomic_int leading; /* this process runs the scheduled work (db_leader) */
/* PostgreSQL: a thread that applies other nodes' changes as soon as their commit wakes it */
static pthread_t listener;
static struct db *ldb;
static atomic_int listener_running;
static struct db *hdb;
static void (*tick_fn)(void);
/* the status lists' own thread: a rebuild reads every live token, and must not hold up the
 * poll above */
static pthread_t slthread;
static struct db *sldb;
static atomic_int sl_running;

/* Key lifecycle: cheap reads first; writes go through the writer. */
static void keys_schedule(struct warrant *w, int64_t now)
{
	if (key_retirement_due(hdb, now) == 1) {
		struct key_retirement k = {.actor = "system"};
		writer_call(w->writer, key_retire_job, &k);
	}
	if (key_next_missing(hdb) == 1)
		writer_call(w->writer, key_ensure_next_job, NULL);
	if (key_rotation_due(hdb, now, w->key_rotation) == 1) {
		struct key_rotation r = {.scheduled = 1, .actor = "system"};
		writer_call(w->writer, key_rotate_job, &r);
	}
}

/* Audit retention, a chunk at a time so requests never wait long for the writer. */
static void audit_retention(struct warrant *w, int64_t now)
{
	if (w->audit_retention <= 0)
		return;
	struct audit_prune p = {.before_ms = now - (int64_t)w->audit_retention * 86400000};
	if (audit_prune_due(hdb, p.before_ms) != 1)
		return;
	int total = 0;
	for (int i = 0; i < HOUSEKEEPING_AUDIT_CHUNKS; i++) {
		if (writer_call(w->writer, audit_prune_job, &p) != 0 || p.deleted == 0)
			break;
		total += p.deleted;
		if (p.deleted < AUDIT_PRUNE_CHUNK)
			break;
	}
	if (total)
		log_event(LOG_INFO, "audit pruned", ",\"rows\":%d,\"retention_days\":%d", total, w->audit_retention);
}

static int sign_checkpoint(void *kr, const char *typ, const char *payload, size_t n, struct buf *out)
{
	return keyring_jws(kr, typ, payload, n, out);
}

void housekeeping_checkpoint(struct warrant *w)
{
	struct checkpoint_job j = {
		.chain = checkpoint_own_chain(), .iss = w->issuer, .sign = sign_checkpoint, .sign_arg = w->keys};
	if (writer_call(w->writer, checkpoint_job, &j) != 0)
		log_event(LOG_WARN, "audit checkpoint failed", ",\"chain\":\"%s\"", j.chain);
	if (!atomic_load(&leading) || strcmp(j.chain, CHAIN_CLI) == 0)
		return;
	j.chain = CHAIN_CLI; /* the command line's chain: the node that runs scheduled work */
	if (writer_call(w->writer, checkpoint_job, &j) != 0)
		log_event(LOG_WARN, "audit checkpoint failed", ",\"chain\":\"%s\"", j.chain);
}

static void schedules(struct warrant *w, int64_t now)
{
	keys_schedule(w, now);
	audit_retention(w, now);
	if (credential_expiry_due(hdb, now) == 1)
		writer_call(w->writer, credential_expiry_job, NULL);
}

/* Revocations of expired tokens, change rows every server has long applied, and ledger
 * rows past LEDGER_KEEP_MS (a chunk at a time, so requests never wait long for the writer). */
static void prune(struct warrant *w, int64_t now)
{
	int64_t cutoff = now / 1000 - w->leeway;
	if (stale_rows_due(hdb, cutoff) == 1)
		writer_call(w->writer, stale_rows_prune_job, &cutoff);
	if (replay_prune_due(hdb, cutoff) == 1)
		writer_call(w->writer, replay_prune_job, &cutoff);
	if (quota_prune_due(hdb, now) == 1)
		writer_call(w->writer, quota_prune_job, &now);
	struct ledger_prune lp = {.before_ms = now - LEDGER_KEEP_MS};
	if (ledger_prune_due(hdb, lp.before_ms) != 1)
		return;
	for (int i = 0; i < 20; i++)
		if (writer_call(w->writer, ledger_prune_job, &lp) != 0 || lp.deleted < LEDGER_PRUNE_CHUNK)
			break;
}

/* Reloads the keyring when another process (a rotation from the command line) changed
 * the published set; last holds the fingerprint of what is loaded. */
static void keys_reload(struct warrant *w, char *last, size_t cap)
{
	char now[KEYSET_FINGERPRINT_MAX];
	if (key_set_fingerprint(hdb, now, sizeof now) == 0 && strcmp(now, last) != 0 && keyring_load(w->keys, hdb) == 0)
		snprintf(last, cap, "%s", now);
}

/* Waits one interval; returns 1 when asked to stop. Called and returns with mu held. */
static int wait_interval(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += HOUSEKEEPING_INTERVAL_MS * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	if (!stopping)
		pthread_cond_timedwait(&cv, &mu, &ts);
	return stopping;
}

static void *housekeeping_main(void *arg)
{
	struct warrant *w = arg;
	char keyset[KEYSET_FINGERPRINT_MAX] = "";
	int64_t last_prune = 0, last_sched = 0, last_checkpoint = now_ms();
	db_claim(hdb); /* opened by the starting thread; used by this one alone */
	key_set_fingerprint(hdb, keyset, sizeof keyset);
	pthread_mutex_lock(&mu);
	while (!wait_interval()) {
		pthread_mutex_unlock(&mu);
		if (tick_fn)
			tick_fn();
		log_flush();
		live_poll(hdb); /* changes from other processes (the command line) */
		writer_checkpoint(w->writer, hdb);
		int64_t t = now_ms();
		audit_summary_flush(w->writer, t, 0); /* the summaries of minutes that have ended */
		if (t - last_sched >= HOUSEKEEPING_SCHEDULE_MS) {
			keyset_refresh(hdb); /* every node: trusts' key sets, fetched ahead on their own threads */
			atomic_store(&leading, db_leader(hdb) == 1);
			if (atomic_load(&leading))
				schedules(w, t);
			last_sched = t;
		}
		if (t - last_checkpoint >= (int64_t)checkpoint_interval_s() * 1000) {
			housekeeping_checkpoint(w); /* SPEC: at least once a minute while a chain grows */
			last_checkpoint = t;
		}
		if (t - last_prune > HOUSEKEEPING_PRUNE_MS) {
			live_prune(t / 1000, w->leeway); /* this process's memory */
			if (atomic_load(&leading))
				prune(w, t);
			last_prune = t;
		}
		keys_reload(w, keyset, sizeof keyset);
		pthread_mutex_lock(&mu);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* Waits for commits that noted a change (db_wait_changes) and applies them at once; the
 * 250 ms poll stays as the safety net. A lost connection is opened again by the next wait;
 * coming back counts as woken, so nothing committed meanwhile is missed. */
static void *listener_main(void *arg)
{
	(void)arg;
	db_claim(ldb);
	while (atomic_load(&listener_running)) {
		int rc = db_wait_changes(ldb, HOUSEKEEPING_INTERVAL_MS);
		if (rc == 1)
			live_poll(ldb);
		else if (rc < 0)
			nanosleep(&(struct timespec){0, HOUSEKEEPING_INTERVAL_MS * 1000000L}, NULL);
	}
	return NULL;
}

static void *statuslist_main(void *arg)
{
	struct warrant *w = arg;
	db_claim(sldb);
	while (atomic_load(&sl_running)) {
		nanosleep(&(struct timespec){0, STATUSLIST_TICK_MS * 1000000L}, NULL);
		statuslist_tick(w, sldb);
	}
	return NULL;
}

/* Claims this process's first list, builds every list once, then keeps them current on a
 * thread of their own. 0, or -1. */
static int statuslist_thread_start(struct warrant *w)
{
	char err[256];
	sldb = db_open(w->db_path, DB_EXISTING, err, sizeof err);
	if (!sldb || statuslist_start(w, sldb) < 0)
		goto fail;
	atomic_store(&sl_running, 1);
	if (pthread_create(&slthread, NULL, statuslist_main, w) == 0)
		return 0;
	atomic_store(&sl_running, 0);
fail:
	log_event(LOG_ERROR, "status lists cannot start", ",\"error\":\"%s\"", sldb ? "database" : "open");
	if (sldb)
		db_close(sldb);
	sldb = NULL;
	return -1;
}

static void listener_start(struct warrant *w)
{
	char err[256];
	if (db_engine_of(w->db_path) != DB_PG || !(ldb = db_open(w->db_path, DB_EXISTING, err, sizeof err)))
		return; /* SQLite: one server per file, the poll alone */
	db_listen(ldb);
	atomic_store(&listener_running, 1);
	if (pthread_create(&listener, NULL, listener_main, NULL) != 0) {
		atomic_store(&listener_running, 0);
		db_close(ldb);
		ldb = NULL;
	}
}

int housekeeping_start(struct warrant *w, void (*tick)(void))
{
	char err[256];
	hdb = db_open(w->db_path, DB_EXISTING, err, sizeof err);
	if (!hdb)
		return -1;
	stopping = 0;
	tick_fn = tick;
	federation_set_issuer(w->issuer); /* the audience of trusts added without one */
	if (statuslist_thread_start(w) < 0) {
		db_close(hdb);
		hdb = NULL;
		return -1;
	}
	if (pthread_create(&thread, NULL, housekeeping_main, w) != 0) {
		db_close(hdb);
		hdb = NULL;
		return -1;
	}
	running = 1;
	listener_start(w);
	return 0;
}

int housekeeping_leading(void) { return atomic_load(&leading); }

void housekeeping_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&mu);
	stopping = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(thread, NULL);
	if (atomic_exchange(&sl_running, 0)) {
		pthread_join(slthread, NULL);
		db_close(sldb);
		sldb = NULL;
	}
	statuslist_stop();
	keyset_stop();
	db_close(hdb);
	hdb = NULL;
	if (atomic_exchange(&listener_running, 0)) {
		pthread_join(listener, NULL);
		db_close(ldb);
		ldb = NULL;
	}
	running = 0;
}
