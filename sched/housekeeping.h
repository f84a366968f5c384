/* housekeeping.h - the server's housekeeping thread. sched/ sits above every domain folder:
 * it only calls them. Every HOUSEKEEPING_INTERVAL_MS it applies changes other processes
 * made (the change log, the key set), checkpoints the WAL, and runs what is due: key
 * retirement, rotation and a missing next key, credential expiry rows, audit retention
 * and summaries, forgetting expired revocations and old ledger rows.
 *
 * On PostgreSQL a second thread listens for other nodes' commits and applies them at once.
 *
 * It reads through a connection of its own; every write goes through the writer. */
#ifndef WARRANT_HOUSEKEEPING_H
#define WARRANT_HOUSEKEEPING_H
#include "../core/warrant.h"

#define HOUSEKEEPING_INTERVAL_MS 250
/* schedules (keys, credentials, audit retention) are looked at this often */
#define HOUSEKEEPING_SCHEDULE_MS 1000
/* expired revocations and old change rows are forgotten this often */
#define HOUSEKEEPING_PRUNE_MS 60000
/* audit retention deletes at most this many AUDIT_PRUNE_CHUNK chunks per schedule */
#define HOUSEKEEPING_AUDIT_CHUNKS 20

/* Starts the thread for w (which must outlive it). tick, when not NULL, is called on the
 * thread at every interval first (the server cuts off slow connections there). 0, or -1
 * when the database cannot be opened or the thread cannot start. */
int housekeeping_start(struct warrant *w, void (*tick)(void));
/* 1 while this process runs the scheduled work: on PostgreSQL one node of the cluster at
 * a time (db_leader), another taking over within HOUSEKEEPING_SCHEDULE_MS of its death. */
int housekeeping_leading(void);
/* Signs a checkpoint of this server's audit chain, and of the command line's when this
 * process runs the scheduled work, when they grew since their last one (audit/checkpoint.h);
 * every checkpoint interval on the thread, and once more when the server stops. */
void housekeeping_checkpoint(struct warrant *w);
/* Stops the thread and closes its connection; a no-op when it is not running. */
void housekeeping_stop(void);
#endif
