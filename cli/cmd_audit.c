/* cmd_audit.c - `warrant audit verify` and `warrant audit --follow`. */
#include "../audit/audit.h"
#include "../audit/verify.h"
#include "../common/timeutil.h"
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* `--follow` looks for new rows this often */
#define FOLLOW_POLL_MS 200
#define FOLLOW_BATCH 1000

static volatile sig_atomic_t follow_stop;
static void on_stop(int sig)
{
	(void)sig;
	follow_stop = 1;
}

static void emit_flush(void *arg, const char *json, size_t n)
{
	(void)arg;
	cli_line(json, n);
}

int cmd_audit_follow(struct cli *c, int64_t since)
{
	int rc;
	if (cli_open(c, 0) < 0)
		return 1;
	if ((rc = cli_no_extra(c)))
		return rc;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop; /* no SA_RESTART: the wait ends at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int64_t after = audit_last_id(c->w.db, since ? since : INT64_MAX);
	if (after < 0)
		return cli_fail("database error: %s", db_errmsg(c->w.db));
	while (!follow_stop) {
		long n = audit_follow(c->w.db, &after, FOLLOW_BATCH, emit_flush, NULL);
		if (n < 0)
			return cli_fail("database error: %s", db_errmsg(c->w.db));
		fflush(stdout);
		if (ferror(stdout))
			return 1; /* the reader went away */
		if (n < FOLLOW_BATCH && !follow_stop)
			nanosleep(&(struct timespec){0, FOLLOW_POLL_MS * 1000000L}, NULL);
	}
	return 0;
}

int cmd_audit_verify(struct cli *c)
{
	const char *file = arg_opt(&c->a, "file");
	int rc;
	if (c->a.nwords > 2)
		return cli_usage("usage: warrant audit verify [--file EXPORT.jsonl]");
	if (cli_open(c, 0) < 0)
		return 1;
	if ((rc = cli_no_extra(c)))
		return rc;
	FILE *f = NULL;
	if (file && !(f = fopen(file, "r")))
		return cli_fail("cannot read %s: %s", file, strerror(errno));
	struct verify_report r;
	rc = audit_verify(c->w.db, f, &r);
	if (f)
		fclose(f);
	if (rc < 0)
		return cli_fail("audit verify: %s", r.what);
	if (r.bad) {
		if (c->json) {
			struct buf b;
			buf_init(&b, 4096);
			buf_puts(&b, "{\"ok\":false,\"chain\":");
			buf_json_cstr(&b, r.chain);
			buf_printf(&b, ",\"seq\":%lld,\"problem\":\"%s\",\"detail\":", (long long)r.seq, r.kind);
			buf_json_cstr(&b, r.what);
			buf_puts(&b, "}");
			cli_line(b.p, b.len);
			buf_free(&b);
		} else {
			printf("audit verify FAILED: chain %s seq %lld: %s: %s\n", *r.chain ? r.chain : "-",
			       (long long)r.seq, r.kind, r.what);
		}
		return 1;
	}
	if (c->json)
		printf("{\"ok\":true,\"rows\":%ld,\"chains\":%ld,\"checkpoints\":%ld,\"unsigned_rows\":%ld,"
		       "\"unchained_rows\":%ld}\n",
		       r.rows, r.chains, r.checkpoints, r.unsigned_rows, r.unchained);
	else
		printf("audit verified: %ld rows in %ld chains, %ld checkpoints; %ld rows not yet under a checkpoint,"
		       " %ld rows from before chaining\n",
		       r.rows, r.chains, r.checkpoints, r.unsigned_rows, r.unchained);
	return 0;
}
