/* test_audit_summary.c - the one rule for summarized audit events, and the per-minute table
 * flushed through a real writer into a real database file. */
#include "../../audit/summary.h"
#include "../../common/timeutil.h"
#include "../../store/writer.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void event(struct audit_event *ev, const char *actor, const char *outcome, const char *addr)
{
	struct audit_keys k = {.actor = actor, .client_addr = addr};
	audit_event_init(ev, "token.refused", outcome, &k);
}

TEST(audit_summarize_only_anonymous_refusals)
{
	struct audit_event ev;
	event(&ev, "", "refused", "10.0.0.1");
	CHECK(audit_event_summarize(&ev, "unknown_client", "invalid_client") == 1 && ev.summarize);
	event(&ev, "agt_known", "refused", "10.0.0.1");
	CHECK(audit_event_summarize(&ev, "bad_secret", "invalid_client") == 0 && !ev.summarize);
	event(&ev, "", "ok", "10.0.0.1");
	CHECK(audit_event_summarize(&ev, "x", "y") == 0 && !ev.summarize);
	event(&ev, "", "error", "10.0.0.1");
	CHECK(audit_event_summarize(&ev, "storage", "server_error") == 0);
	event(&ev, "", "refused", "10.0.0.1");
	CHECK(audit_event_summarize(&ev, NULL, "invalid_client") == 1);
	CHECK_STR(ev.summary_reason, "invalid_client"); /* no reason: the error stands in */
}

static long query_long(struct db *db, const char *sql)
{
	struct db_stmt *st = NULL;
	long v = -1;
	if ((st = db_prep_new(db, sql)) && db_step(st) == DB_ROW)
		v = (long)db_col_int64(st, 0);
	db_finalize(st);
	return v;
}

TEST(audit_summary_counts_flushes_a_row_per_key_and_stays_bounded)
{
	char dir[] = "/tmp/warrant-unit-XXXXXX", path[64], err[256];
	if (!mkdtemp(dir)) {
		CHECK(0);
		return;
	}
	snprintf(path, sizeof path, "%s/t.db", dir);
	struct db *db = db_open(path, DB_CREATE, err, sizeof err);
	CHECK(db != NULL);
	struct writer *w = writer_start(path, 16, err, sizeof err);
	CHECK(w != NULL);
	if (!db || !w)
		return;
	struct audit_event ev;
	const char *addrs[] = {"10.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.2"};
	for (int i = 0; i < 4; i++) {
		event(&ev, "", "refused", addrs[i]);
		audit_event_summarize(&ev, "unknown_client", "invalid_client");
		CHECK(writer_call(w, audit_job, &ev) == 0); /* audit_insert inside the writer's transaction */
	}
	event(&ev, "agt_known", "refused", "10.0.0.1"); /* a known caller: a row now */
	CHECK(writer_call(w, audit_job, &ev) == 0);
	CHECK(audit_summary_pending() == 4);
	CHECK(query_long(db, "SELECT count(*) FROM audit_events") == 1);
	int64_t now = now_ms();
	CHECK(audit_summary_flush(w, now, 0) == 0); /* the minute has not ended */
	CHECK(audit_summary_flush(NULL, now + 60000, 0) == -1 && audit_summary_pending() == 4); /* kept */
	CHECK(audit_summary_flush(w, now + 60000, 0) == 2);
	CHECK(audit_summary_pending() == 0);
	CHECK(query_long(db, "SELECT json_extract(detail, '$.count') FROM audit_events WHERE client_addr = '10.0.0.1'"
			     " AND json_extract(detail, '$.summary')") == 3);
	CHECK(query_long(db, "SELECT count(*) FROM audit_events WHERE actor = 'anonymous' AND outcome = 'refused'"
			     " AND json_extract(detail, '$.reason') = 'unknown_client'") == 2);

	/* more distinct addresses than the table holds: the rest in one overflow row */
	long n = AUDIT_SUMMARY_BYTES / 64;
	for (long i = 0; i < n; i++) {
		char a[32];
		snprintf(a, sizeof a, "10.%ld.%ld.%ld", i >> 16 & 255, i >> 8 & 255, i & 255);
		event(&ev, "", "refused", a);
		audit_event_summarize(&ev, "unknown_client", "invalid_client");
		audit_summary_add(&ev);
	}
	CHECK(audit_summary_pending() == n && audit_summary_lost() == 0);
	int rows = audit_summary_flush(w, now_ms(), 1);
	CHECK(rows > 1 && rows < n && rows <= (int)(AUDIT_SUMMARY_BYTES / 100));
	CHECK(query_long(db, "SELECT sum(json_extract(detail, '$.count')) FROM audit_events WHERE id > 3") == n);
	long over = query_long(db, "SELECT count(*) FROM audit_events WHERE client_addr IS NULL"
				   " AND json_extract(detail, '$.overflow')");
	CHECK(over == 1 || over == 2); /* 2 only if a minute ended during the loop */
	writer_stop(w);
	db_close(db);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}
