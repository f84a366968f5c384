/* writer.h - the single writer: group commit of many requests' writes in one transaction.
 *
 * A job is a function run on the writer's connection inside a transaction, under its own
 * savepoint: returning non-zero rolls back that job alone. The done callback runs on the
 * writer thread after the COMMIT is durable (rc = the job's result) or failed (rc = -1),
 * so a request answers only after what it reports is on disk. Jobs are owned by callers
 * and must stay alive until done is called. */
#ifndef WARRANT_WRITER_H
#define WARRANT_WRITER_H
#include "db.h"

#define WRITER_MAX_BATCH 512
/* PostgreSQL: a job runs under a savepoint, and more than 64 subtransactions in one
 * transaction slow every session of the server */
#define WRITER_MAX_BATCH_PG 60
/* The WAL starts over once it reaches WRITER_WAL_RESTART_MIB (`serve --wal-restart`):
 * writer_checkpoint copies it, then the writer checkpoints the short tail itself, which
 * costs it two fsyncs (a few milliseconds on a busy disk), so it should be rare. At four
 * times that size the writer checkpoints unasked, should housekeeping fall behind; SQLite
 * cuts a WAL bigger than twice that size back when it starts over. */
#define WRITER_WAL_RESTART_MIB 128
#define WRITER_WAL_RESTART_MIB_MAX 4096
/* A WAL under a quarter of that size is checkpointed at most this often. */
#define WRITER_CKPT_IDLE_MS 5000

struct wjob;
typedef int (*wjob_fn)(struct db *db, void *arg);
typedef void (*wdone_fn)(struct wjob *job, int rc);

struct wjob {
	wjob_fn fn;
	void *arg;
	wdone_fn done; /* NULL: the submitter waits with writer_call() */
	int single;    /* fn writes one audit row at most: no savepoint, no live-state change */
	int rc;
	struct wjob *next;
};

struct writer;

/* Opens its connection to path and starts the thread; NULL with err filled on failure.
 * wal_restart_mib: the WAL size at which it starts over (1..WRITER_WAL_RESTART_MIB_MAX). */
struct writer *writer_start(const char *path, int wal_restart_mib, char *err, size_t errlen);
/* Runs every queued job, then stops the thread and closes the connection. */
void writer_stop(struct writer *w);
/* Runs after each committed batch, on the writer thread, before the batch's done
 * callbacks: the server applies live-state changes there (token/live.c). */
void writer_set_hook(struct writer *w, void (*after_commit)(struct db *db));
/* Queues job; its done callback runs later on the writer thread. Returns -1 when stopping. */
int writer_submit(struct writer *w, struct wjob *job);
/* Queues fn and blocks until it is committed; returns its rc, or -1 on a failed commit. */
int writer_call(struct writer *w, wjob_fn fn, void *arg);
struct writer_stats {
	long batches, jobs; /* committed so far */
	int queued;         /* jobs waiting now */
	int wal_frames;     /* frames in the WAL after the last commit */
	long wal_restarts;  /* checkpoints the writer ran to start the WAL over */
};
/* A snapshot of the writer's counters (for metrics). */
void writer_stats(struct writer *w, struct writer_stats *s);

/* Copies the WAL back into the database file without blocking the writer (PASSIVE), on
 * the caller's connection db, when it has grown enough or not been copied for a while,
 * and lets w (may be NULL: always copy) start it over. Call it often (the housekeeping
 * thread: every 250 ms); the writer's autocheckpoint is off. -1 on an SQLite error. */
int writer_checkpoint(struct writer *w, struct db *db);

/* Runs fn in its own IMMEDIATE transaction on db (the command line's path). */
int db_tx(struct db *db, wjob_fn fn, void *arg);
#endif
