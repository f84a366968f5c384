/* maint.c - periodic reloads; see maint.h. */
#include "maint.h"

#include "../common/timeutil.h"
#include "http.h"
#include "../common/log.h"
#include "../audit/audit.h"
#include "../audit/summary.h"
#include "../clients/credentials.h"
#include "../keys/rotate.h"
#include "../token/live.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static pthread_t thread;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int running, stopping;
static struct db *mdb;

/* A fingerprint of the published key set: reload the keyring when it changes. */
static int keys_fingerprint(struct db *db, char *out, size_t cap)
{
	sqlite3_stmt *st = db_prep(db, "SELECT group_concat(kid || ':' || state, ',') FROM"
				       " (SELECT kid, state FROM signing_keys ORDER BY kid)");
	if (!st)
		return -1;
	out[0] = '\0';
	if (sqlite3_step(st) == SQLITE_ROW)
		db_col_copy(st, 0, out, cap);
	sqlite3_reset(st);
	return 0;
}

/* Revocations of expired tokens, and change rows every server has long applied; a writer
 * job, since a write on this connection would make the writer wait for its lock. */
static int prune_job(struct db *db, void *arg)
{
	int64_t cutoff_s = *(int64_t *)arg;
	sqlite3_stmt *st = db_prep(db, "DELETE FROM revoked_tokens WHERE exp < ?");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, cutoff_s);
	if (db_step_done(st) < 0)
		return -1;
	st = db_prep(db, "DELETE FROM state_changes WHERE at < ?");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, (cutoff_s - 3600) * 1000);
	return db_step_done(st);
}

static int count_of(struct db *db, const char *sql, int64_t now)
{
	sqlite3_stmt *st = db_prep(db, sql);
	if (!st)
		return 0;
	sqlite3_bind_int64(st, 1, now);
	int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	return n;
}

/* Key and credential schedules: cheap reads first; writes go through the writer. */
static void schedules(struct warrant *w, int64_t now)
{
	if (count_of(mdb, "SELECT count(*) FROM signing_keys WHERE state = 'retiring' AND retire_after <= ?", now)) {
		struct key_retirement k = {.actor = "system"};
		writer_call(w->writer, key_retire_job, &k);
	}
	if (!count_of(mdb, "SELECT count(*) FROM signing_keys WHERE state = 'next' AND ? IS NOT NULL", now))
		writer_call(w->writer, key_ensure_next_job, NULL);
	if (w->key_rotation > 0 &&
	    count_of(mdb, "SELECT count(*) FROM signing_keys WHERE state = 'current' AND activated_at <= ?",
		     now - (int64_t)w->key_rotation * 1000)) {
		struct key_rotation r = {.scheduled = 1, .actor = "system"};
		writer_call(w->writer, key_rotate_job, &r);
	}
	/* audit retention, a chunk at a time so requests never wait long for the writer */
	if (w->audit_retention > 0) {
		struct audit_prune p = {.before_ms = now - (int64_t)w->audit_retention * 86400000};
		if (count_of(mdb, "SELECT count(*) FROM (SELECT 1 FROM audit_events WHERE time < ? LIMIT 1)", p.before_ms)) {
			int total = 0;
			for (int i = 0; i < 20; i++) { /* up to 100k rows a second */
				if (writer_call(w->writer, audit_prune_job, &p) != 0 || p.deleted == 0)
					break;
				total += p.deleted;
				if (p.deleted < AUDIT_PRUNE_CHUNK)
					break;
			}
			p.deleted = total;
			if (p.deleted)
				log_event(LOG_INFO, "audit pruned", ",\"rows\":%d,\"retention_days\":%d", p.deleted,
					  w->audit_retention);
		}
	}
	if (count_of(mdb, "SELECT count(*) FROM credentials WHERE expiry_audited = 0 AND revoked_at IS NULL"
			  " AND expires_at <= ?", now))
		writer_call(w->writer, credential_expiry_job, NULL);
}

static void *maint_main(void *arg)
{
	struct warrant *w = arg;
	char last[4096] = "", now[4096];
	int64_t last_prune = 0, last_sched = 0;
	db_claim(mdb); /* opened by the starting thread; used by this one alone */
	keys_fingerprint(mdb, last, sizeof last);
	pthread_mutex_lock(&mu);
	while (!stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += MAINT_INTERVAL_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&cv, &mu, &ts);
		if (stopping)
			break;
		pthread_mutex_unlock(&mu);
		server_sweep();
		log_flush();
		/* changes from other processes (the command line) */
		live_poll(mdb);
		writer_checkpoint(w->writer, mdb);
		int64_t t = now_ms();
		audit_summary_flush(w->writer, t, 0); /* the summaries of minutes that have ended */
		if (t - last_sched >= 1000) {
			schedules(w, t);
			last_sched = t;
		}
		if (t - last_prune > 60000) {
			live_prune(t / 1000, w->leeway);
			int64_t cutoff = t / 1000 - w->leeway;
			if (count_of(mdb, "SELECT (SELECT count(*) FROM (SELECT 1 FROM revoked_tokens WHERE exp < ?1 LIMIT 1))"
					  " + (SELECT count(*) FROM (SELECT 1 FROM state_changes WHERE at < (?1 - 3600) * 1000 LIMIT 1))",
				     cutoff))
				writer_call(w->writer, prune_job, &cutoff);
			last_prune = t;
		}
		if (keys_fingerprint(mdb, now, sizeof now) == 0 && strcmp(now, last) != 0) {
			if (keyring_load(w->keys, mdb) == 0)
				memcpy(last, now, sizeof last);
		}
		pthread_mutex_lock(&mu);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

int maint_start(struct warrant *w)
{
	char err[256];
	mdb = db_open(w->db_path, DB_EXISTING, err, sizeof err);
	if (!mdb)
		return -1;
	stopping = 0;
	if (pthread_create(&thread, NULL, maint_main, w) != 0) {
		db_close(mdb);
		return -1;
	}
	running = 1;
	return 0;
}

void maint_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&mu);
	stopping = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(thread, NULL);
	db_close(mdb);
	running = 0;
}
