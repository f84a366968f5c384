/* writer.c - group-commit writer thread; see writer.h. */
#include "writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct writer {
	struct db *db;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct wjob *head, *tail;
	int queued;
	int stopping;
	long batches, jobs;
	int wal_frames;       /* frames in the WAL after the last commit (the WAL hook) */
	int wal_restart;      /* frames at which the WAL starts over */
	int backstop;         /* frames at which the writer checkpoints unasked */
	int restart_wanted;   /* writer_checkpoint has just copied the WAL: checkpoint the tail */
	int64_t last_ckpt_ms; /* monotonic time of writer_checkpoint's last pass */
	long wal_restarts;    /* checkpoints the writer ran itself to let the WAL start over */
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
 * than a rewrite, and the disk filling up).
 *
 * writer_checkpoint, on the housekeeping thread, copies the WAL into the database once it
 * holds a quarter of WRITER_WAL_RESTART's frames, or every WRITER_CKPT_IDLE_MS: each
 * checkpoint syncs the files, and on this kind of disk a sync stalls the writer's own WAL
 * writes for as long as it flushes, so fewer and larger ones keep tail latency down (a
 * page rewritten many times in the WAL is also copied once). Once the WAL holds
 * wal_restart frames, it copies and syncs until what the writer added meanwhile is small,
 * then asks the writer, which checkpoints the short tail itself between two batches, after
 * their requests are answered (two small fsyncs: milliseconds); its next transaction
 * starts the WAL over. */
static int64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Copies what the writer added since the last pass, and syncs the database file after;
 * *copied: frames the pass found new. */
static int checkpoint_pass(struct db *db, int sync_db, int *log, int *done, int *copied)
{
	int before = *log;
	if (sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, log, done) != SQLITE_OK)
		return -1;
	*copied = *log >= before ? *log - before : *log;
	if (!sync_db)
		return 0;
	/* SQLite leaves the pages a passive checkpoint copied to the next sync of the database
	 * file, which would be the writer's. Through SQLite's own file handle: closing another
	 * descriptor of the file would drop every POSIX lock this process holds on it, and
	 * with them SQLite's protection of the WAL. */
	sqlite3_file *f = NULL;
	if (sqlite3_file_control(db->h, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f || !f->pMethods ||
	    f->pMethods->xSync(f, SQLITE_SYNC_NORMAL) != SQLITE_OK)
		return -1;
	return 0;
}

int writer_checkpoint(struct writer *w, struct db *db)
{
	if (db->engine != DB_SQLITE)
		return 0; /* PostgreSQL keeps its own log */
	int64_t now = mono_ms();
	if (w && __atomic_load_n(&w->wal_frames, __ATOMIC_RELAXED) < w->wal_restart / 4 &&
	    now - w->last_ckpt_ms < WRITER_CKPT_IDLE_MS)
		return 0;
	if (w)
		w->last_ckpt_ms = now;
	int log = 0, done = 0, copied = 0;
	if (checkpoint_pass(db, 0, &log, &done, &copied) < 0)
		return -1;
	if (!w || log < w->wal_restart || done < log)
		return 0;
	for (int i = 0; i < 4; i++) {
		if (checkpoint_pass(db, 1, &log, &done, &copied) < 0)
			return -1;
		if (done < log)
			return 0;
		if (copied < 256)
			break;
	}
	__atomic_store_n(&w->restart_wanted, 1, __ATOMIC_RELEASE);
	return 0;
}

static void wal_restart(struct writer *w)
{
	if (w->db->engine != DB_SQLITE)
		return;
	int frames = __atomic_load_n(&w->wal_frames, __ATOMIC_RELAXED);
	if (!__atomic_load_n(&w->restart_wanted, __ATOMIC_ACQUIRE) && frames < w->backstop)
		return;
	__atomic_store_n(&w->restart_wanted, 0, __ATOMIC_RELAXED);
	int log = 0, done = 0;
	if (sqlite3_wal_checkpoint_v2(w->db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) == SQLITE_OK &&
	    log == done) {
		__atomic_store_n(&w->wal_frames, 0, __ATOMIC_RELAXED);
		__atomic_add_fetch(&w->wal_restarts, 1, __ATOMIC_RELAXED);
		w->backstop = 4 * w->wal_restart;
	} else if (frames >= w->backstop) {
		/* a reader keeps an old snapshot: try again a restart's worth later, not after
		 * every batch */
		w->backstop = frames + w->wal_restart;
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
		/* PostgreSQL: the next job's SAVEPOINT of the same name stands above this one and the
		 * COMMIT releases them all, so a round trip per job is saved (the batch stays under
		 * WRITER_MAX_BATCH_PG savepoints) */
		if (w->db->engine == DB_SQLITE)
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
	db_claim(w->db); /* the writer owns its connection: nobody else may use it */
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->head && w->stopping)
			break;
		struct wjob *batch = w->head, *last = batch;
		int n = 1, max = w->db->engine == DB_PG ? WRITER_MAX_BATCH_PG : WRITER_MAX_BATCH;
		while (last->next && n < max) {
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

static void sqlite_tuning(struct writer *w, int wal_restart_mib);

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
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (w->db->engine == DB_SQLITE)
		sqlite_tuning(w, wal_restart_mib);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		db_close(w->db);
		free(w);
		return NULL;
	}
	return w;
}

static void sqlite_tuning(struct writer *w, int wal_restart_mib)
{
	/* checkpoints run on the housekeeping thread (writer_checkpoint) and in wal_restart, not
	 * inside a commit that requests are waiting for; a WAL once grown by a burst is cut
	 * back when it starts over */
	char sql[64];
	int64_t restart_bytes = (int64_t)wal_restart_mib << 20;
	w->wal_restart = (int)(restart_bytes / db_page_size(w->db));
	w->backstop = 4 * w->wal_restart;
	snprintf(sql, sizeof sql, "PRAGMA journal_size_limit=%lld", (long long)(2 * restart_bytes));
	db_exec(w->db, "PRAGMA wal_autocheckpoint=0");
	db_exec(w->db, sql);
	sqlite3_wal_hook(w->db->h, wal_hook, w);
	/* the writer touches the right edge of every audit index; keep those pages hot */
	db_exec(w->db, "PRAGMA cache_size=-8192");
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
