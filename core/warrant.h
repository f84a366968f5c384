/* warrant.h - the service context that the server and the command line share.
 *
 * It carries configuration and the long-lived parts (keyring, writer). Reads go through
 * warrant_reader(): the command line's own connection, or in the server one connection
 * per thread. Writes go through warrant_write(): inline in the command line, through the
 * group-commit writer in the server. */
#ifndef WARRANT_CORE_H
#define WARRANT_CORE_H
#include "../keys/keys.h"
#include "../store/writer.h"

#include <limits.h>

#define ISSUER_MAX 512
#define TOKEN_TTL_DEFAULT 300
#define TOKEN_TTL_MAX 3600
#define LEEWAY_DEFAULT 60

struct warrant {
	char db_path[PATH_MAX];
	char db_shown[PATH_MAX]; /* db_path for messages: without a password */
	struct db *db;           /* the command line's connection; NULL in the server */
	struct writer *writer;   /* the server's writer; NULL in the command line */
	struct keyring *keys;    /* loaded by the server; NULL in the command line */
	char issuer[ISSUER_MAX];
	char audience[ISSUER_MAX]; /* default `aud` */
	int token_ttl;             /* seconds */
	int leeway;                /* seconds of downstream clock skew allowed for */
	int jwks_max_age;          /* seconds downstream may cache /jwks */
	int key_rotation;          /* seconds between scheduled key rotations; 0 = never */
	int audit_retention;       /* days of audit rows kept; 0 = all */
};

/* The connection for reads on this thread; NULL when it cannot be opened. */
struct db *warrant_reader(struct warrant *w);
/* Runs fn in a committed transaction; returns its rc, or -1 when the commit failed. */
int warrant_write(struct warrant *w, wjob_fn fn, void *arg);
#endif
