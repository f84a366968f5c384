/* writer.c - group-commit writer thread; see writer.h. */
#include "writer.h"

#include <pthread.h>
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
	void (*after_commit)(struct db *db);
};

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

int db_checkpoint(struct db *db)
{
	int log = 0, done = 0;
	return sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) == SQLITE_OK ? 0 : -1;
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

struct writer *writer_start(const char *path, char *err, size_t errlen)
{
	struct writer *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->db = db_open(path, DB_EXISTING, err, errlen);
	if (!w->db) {
		free(w);
		return NULL;
	}
	/* checkpoints run on the housekeeping thread (writer_checkpoint), not inside a commit
	 * that requests are waiting for */
	db_exec(w->db, "PRAGMA wal_autocheckpoint=0");
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

void writer_stats(struct writer *w, long *batches, long *jobs, int *queued)
{
	pthread_mutex_lock(&w->mu);
	*batches = w->batches;
	*jobs = w->jobs;
	*queued = w->queued;
	pthread_mutex_unlock(&w->mu);
}
