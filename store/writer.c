/* writer.c - group-commit writer thread; see writer.h. */
#include "writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct writer {
	struct db *db;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct wjob *head, *tail;
	int queued;
	int stopping;
	long batches, jobs;
	int wal_frames;    /* frames in the WAL after the last commit (the WAL hook) */
	int wal_restart;   /* frames at which the WAL starts over */
	int restart_wanted; /* writer_checkpoint has just copied the WAL: checkpoint the tail */
	long wal_restarts; /* checkpoints the writer ran itself to let the WAL start over */
	void (*after_commit)(struct db *db);
};

static int wal_hook(void *arg, sqlite3 *h, const char *name, int frames)
{
	(void)h;
	(void)name;
	__atomic_store_n(&((struct writer *)arg)->wal_frames, frames, __ATOMIC_RELAXED);
	return SQLITE_OK;
}

void writer_set_hook(struct writer *w, void (*after_commit)(struct db *db)) { w->after_commit = after_commit; }

int db_tx(struct db *db, wjob_fn fn, void *arg)
{
	if (db_begin(db) < 0)
		return -1;
	int rc = fn(db, arg);
	if (rc != 0) {
		db_rollback(db);
		return rc;
	}
	if (db_commit(db) < 0) {
		db_rollback(db);
		return -1;
	}
	return 0;
}

/* SQLite writes the WAL from its start again only when a write transaction begins on a
 * fully checkpointed WAL. Passive checkpoints on another thread never get there under
 * steady traffic, because the writer appends frames while they run, and the WAL would grow
 * without bound (gigabytes a minute at full load, each new page costing the kernel more
 * than a rewrite, and the disk filling up). So, once the WAL holds WRITER_WAL_RESTART
 * frames: writer_checkpoint, on the housekeeping thread, copies it into the database and
 * syncs both files, repeating while the writer added many frames meanwhile; then it asks
 * the writer, which checkpoints the short tail itself between two batches, after their
 * requests are answered (two small fsyncs: milliseconds); its next transaction starts the
 * WAL over. */
int writer_checkpoint(struct writer *w, struct db *db)
{
	int log = 0, done = 0, before = -1;
	for (int i = 0; i < 4; i++) {
		if (sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) != SQLITE_OK)
			return -1;
		if (done < log || log - before < 256)
			break;
		before = log;
	}
	if (!w || log < w->wal_restart || done < log)
		return 0;
	/* pages copied into the database file wait for the next sync of that file, which would
	 * be the writer's: sync them here, then copy what came meanwhile. Through SQLite's own
	 * file handle: closing another descriptor of the file would drop every POSIX lock this
	 * process holds on it, and with them SQLite's protection of the WAL. */
	sqlite3_file *f = NULL;
	if (sqlite3_file_control(db->h, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f || !f->pMethods ||
	    f->pMethods->xSync(f, SQLITE_SYNC_NORMAL) != SQLITE_OK ||
	    sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) != SQLITE_OK)
		return -1;
	if (done == log)
		__atomic_store_n(&w->restart_wanted, 1, __ATOMIC_RELEASE);
	return 0;
}

static void wal_restart(struct writer *w)
{
	if (!__atomic_load_n(&w->restart_wanted, __ATOMIC_ACQUIRE) &&
	    __atomic_load_n(&w->wal_frames, __ATOMIC_RELAXED) < 4 * w->wal_restart)
		return;
	__atomic_store_n(&w->restart_wanted, 0, __ATOMIC_RELAXED);
	int log = 0, done = 0;
	if (sqlite3_wal_checkpoint_v2(w->db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) == SQLITE_OK &&
	    log == done) {
		__atomic_store_n(&w->wal_frames, 0, __ATOMIC_RELAXED);
		__atomic_add_fetch(&w->wal_restarts, 1, __ATOMIC_RELAXED);
	}
}

static void run_batch(struct writer *w, struct wjob *batch)
{
	int ok = db_begin(w->db) == 0, changes = 0;
	for (struct wjob *j = batch; j; j = j->next) {
		if (!ok) {
			j->rc = -1;
			continue;
		}
		if (j->single) {
			j->rc = j->fn(w->db, j->arg);
			continue;
		}
		changes = 1;
		if (db_exec(w->db, "SAVEPOINT job") < 0) {
			j->rc = -1;
			continue;
		}
		j->rc = j->fn(w->db, j->arg);
		if (j->rc != 0)
			db_exec(w->db, "ROLLBACK TO job");
		db_exec(w->db, "RELEASE job");
	}
	if (ok && db_commit(w->db) < 0) {
		db_rollback(w->db);
		ok = 0;
	}
	if (ok && changes && w->after_commit)
		w->after_commit(w->db);
	struct wjob *j = batch;
	while (j) {
		struct wjob *next = j->next; /* done() may free j */
		if (!ok)
			j->rc = -1;
		j->done(j, j->rc);
		j = next;
	}
	wal_restart(w);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->head && w->stopping)
			break;
		struct wjob *batch = w->head, *last = batch;
		int n = 1;
		while (last->next && n < WRITER_MAX_BATCH) {
			last = last->next;
			n++;
		}
		w->head = last->next;
		if (!w->head)
			w->tail = NULL;
		last->next = NULL;
		w->queued -= n;
		pthread_mutex_unlock(&w->mu);
		run_batch(w, batch);
		pthread_mutex_lock(&w->mu);
		w->batches++;
		w->jobs += n;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

struct writer *writer_start(const char *path, int wal_restart_mib, char *err, size_t errlen)
{
	struct writer *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->db = db_open(path, DB_EXISTING, err, errlen);
	if (!w->db) {
		free(w);
		return NULL;
	}
	/* checkpoints run on the housekeeping thread (writer_checkpoint) and in wal_restart, not
	 * inside a commit that requests are waiting for; a WAL once grown by a burst is cut
	 * back when it starts over */
	char sql[64];
	int64_t restart_bytes = (int64_t)wal_restart_mib << 20;
	w->wal_restart = (int)(restart_bytes / db_page_size(w->db));
	snprintf(sql, sizeof sql, "PRAGMA journal_size_limit=%lld", (long long)(2 * restart_bytes));
	db_exec(w->db, "PRAGMA wal_autocheckpoint=0");
	db_exec(w->db, sql);
	sqlite3_wal_hook(w->db->h, wal_hook, w);
	/* the writer touches the right edge of every audit index; keep those pages hot */
	db_exec(w->db, "PRAGMA cache_size=-8192");
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		db_close(w->db);
		free(w);
		return NULL;
	}
	return w;
}

void writer_stop(struct writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	db_close(w->db);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}

int writer_submit(struct writer *w, struct wjob *job)
{
	job->next = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->stopping) {
		pthread_mutex_unlock(&w->mu);
		return -1;
	}
	if (w->tail)
		w->tail->next = job;
	else
		w->head = job;
	w->tail = job;
	w->queued++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

struct waiter {
	struct wjob job;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int finished;
};

static void waiter_done(struct wjob *job, int rc)
{
	struct waiter *wt = (struct waiter *)job;
	pthread_mutex_lock(&wt->mu);
	wt->job.rc = rc;
	wt->finished = 1;
	pthread_cond_signal(&wt->cv);
	pthread_mutex_unlock(&wt->mu);
}

int writer_call(struct writer *w, wjob_fn fn, void *arg)
{
	struct waiter wt;
	memset(&wt, 0, sizeof wt);
	wt.job.fn = fn;
	wt.job.arg = arg;
	wt.job.done = waiter_done;
	pthread_mutex_init(&wt.mu, NULL);
	pthread_cond_init(&wt.cv, NULL);
	if (writer_submit(w, &wt.job) < 0)
		return -1;
	pthread_mutex_lock(&wt.mu);
	while (!wt.finished)
		pthread_cond_wait(&wt.cv, &wt.mu);
	pthread_mutex_unlock(&wt.mu);
	pthread_mutex_destroy(&wt.mu);
	pthread_cond_destroy(&wt.cv);
	return wt.job.rc;
}

void writer_stats(struct writer *w, struct writer_stats *s)
{
	pthread_mutex_lock(&w->mu);
	s->batches = w->batches;
	s->jobs = w->jobs;
	s->queued = w->queued;
	s->wal_frames = __atomic_load_n(&w->wal_frames, __ATOMIC_RELAXED);
	s->wal_restarts = __atomic_load_n(&w->wal_restarts, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&w->mu);
}
