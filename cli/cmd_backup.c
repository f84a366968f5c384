/* cmd_backup.c - `warrant backup --to FILE` (a consistent online copy through SQLite's
 * backup API, safe while a server runs) and `warrant restore --from FILE`. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKUP_PAGES_PER_STEP 4096

/* Copies src into dst page by page, letting writers in between steps. 0 or -1. */
static int copy_db(sqlite3 *dst, sqlite3 *src, int *pages)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	if (!b)
		return -1;
	int rc;
	do {
		rc = sqlite3_backup_step(b, BACKUP_PAGES_PER_STEP);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			sqlite3_sleep(5);
	} while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
	*pages = sqlite3_backup_pagecount(b);
	return sqlite3_backup_finish(b) == SQLITE_OK && rc == SQLITE_DONE ? 0 : -1;
}

/* Creates path empty with mode 0600 (fails when it exists). */
static int create_private(const char *path)
{
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int cmd_backup(struct cli *c)
{
	const char *to = arg_opt(&c->a, "to");
	if (!to)
		return cli_usage("usage: warrant backup --to FILE");
	if (cli_open(c, 0) < 0)
		return 1;
	if (c->w.db->engine != DB_SQLITE)
		return cli_fail("backup copies a SQLite file; back a PostgreSQL database up with pg_dump"
				" (see docs/scale-out.md)");
	int rc;
	if ((rc = cli_no_extra(c)))
		return rc;
	if (create_private(to) < 0)
		return cli_fail("cannot create %s: %s", to, errno == EEXIST ? "it exists" : strerror(errno));
	sqlite3 *dst = NULL;
	int pages = 0;
	if (sqlite3_open_v2(to, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    copy_db(dst, c->w.db->h, &pages) < 0) {
		const char *m = dst ? sqlite3_errmsg(dst) : "out of memory";
		fprintf(stderr, "warrant: backup failed: %s\n", m);
		sqlite3_close(dst);
		unlink(to);
		return 1;
	}
	/* the copy is a plain rollback-journal file: one file to move around */
	sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
	sqlite3_close(dst);
	struct stat sb;
	stat(to, &sb);
	if (c->json)
		printf("{\"id\":\"%s\",\"from\":\"%s\",\"pages\":%d,\"bytes\":%lld}\n", to, c->w.db_shown, pages,
		       (long long)sb.st_size);
	else
		printf("backed up %s to %s (%lld bytes)\n", c->w.db_shown, to, (long long)sb.st_size);
	return 0;
}

int cmd_restore(struct cli *c)
{
	const char *from = arg_opt(&c->a, "from");
	int force = arg_flag(&c->a, "force");
	if (!from)
		return cli_usage("usage: warrant restore --from FILE [--force]   (stop servers on the database first)");
	const char *path = arg_opt(&c->a, "db");
	if (!path)
		path = getenv("WARRANT_DB");
	if (!path || !*path)
		path = "./warrant.db";
	int rc;
	if ((rc = cli_no_extra(c)))
		return rc;
	if (db_engine_of(path) != DB_SQLITE || db_engine_of(from) != DB_SQLITE)
		return cli_fail("restore copies SQLite files; restore a PostgreSQL database with pg_restore"
				" (see docs/scale-out.md)");
	/* the source must be a warrant database */
	char err[512];
	struct db *src = db_open(from, DB_EXISTING, err, sizeof err);
	if (!src)
		return cli_fail("%s", err);
	struct stat sb;
	if (stat(path, &sb) == 0 && !force) {
		db_close(src);
		return cli_fail("%s exists: give --force to overwrite it (stop every server using it first)", path);
	}
	if (stat(path, &sb) != 0 && create_private(path) < 0) {
		db_close(src);
		return cli_fail("cannot create %s: %s", path, strerror(errno));
	}
	sqlite3 *dst = NULL;
	int pages = 0;
	if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		db_close(src);
		return cli_fail("cannot open %s", path);
	}
	sqlite3_busy_timeout(dst, DB_BUSY_TIMEOUT_MS);
	rc = copy_db(dst, src->h, &pages);
	if (rc == 0)
		sqlite3_exec(dst, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
	const char *m = sqlite3_errmsg(dst);
	if (rc < 0)
		fprintf(stderr, "warrant: restore failed: %s\n", m);
	sqlite3_close(dst);
	db_close(src);
	if (rc < 0)
		return 1;
	if (c->json)
		printf("{\"id\":\"%s\",\"from\":\"%s\",\"pages\":%d}\n", path, from, pages);
	else
		printf("restored %s from %s\n", path, from);
	return 0;
}
