/* warrant.c - reader connections and writes for the shared context; see warrant.h. */
#include "warrant.h"

#include <pthread.h>
#include <stdio.h>

static pthread_key_t reader_key;
static pthread_once_t reader_once = PTHREAD_ONCE_INIT;

static void reader_close(void *p) { db_close(p); }
static void reader_init(void) { pthread_key_create(&reader_key, reader_close); }

struct db *warrant_reader(struct warrant *w)
{
	if (w->db)
		return w->db;
	pthread_once(&reader_once, reader_init);
	struct db *db = pthread_getspecific(reader_key);
	if (db)
		return db;
	char err[256];
	db = db_open(w->db_path, DB_EXISTING, err, sizeof err);
	if (db)
		pthread_setspecific(reader_key, db);
	else
		fprintf(stderr, "warrant: %s\n", err);
	return db;
}

int warrant_write(struct warrant *w, wjob_fn fn, void *arg)
{
	if (w->writer)
		return writer_call(w->writer, fn, arg);
	return db_tx(w->db, fn, arg);
}
