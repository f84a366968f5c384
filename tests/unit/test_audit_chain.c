/* test_audit_chain.c - the audit hash chain (audit/chain.c): details in canonical form, a
 * row rolled back (to a savepoint, or with its transaction) gives its seq back, the command
 * line's chain is shared by every connection without a gap, and what is written verifies
 * (audit/verify.c). */
#include "../../audit/audit.h"
#include "../../audit/chain.h"
#include "../../audit/verify.h"
#include "../../store/writer.h"
#include "fixture.h"
#include "test.h"

#include <string.h>

static void canon_is(const char *in, const char *want)
{
	struct buf b;
	buf_init(&b, 4096);
	CHECK(chain_canon_json(in, strlen(in), &b) == 0);
	CHECK_STR(b.p, want);
	buf_free(&b);
}

TEST(audit_chain_canonical_detail)
{
	canon_is("{\"a\":1,\"b\":[\"x\",null]}", "{\"a\":1,\"b\":[\"x\",null]}");
	canon_is("{ \"a\" : 1,\n \"b\":\"x y\" }", "{\"a\":1,\"b\":\"x y\"}");
	canon_is("{\"u\":\"\\/\\u00e9\\b\\t\\ud83d\\ude00\"}", "{\"u\":\"/\xc3\xa9\\u0008\\t\xf0\x9f\x98\x80\"}");
	canon_is("{\"lone\":\"\\ud800\"}", "{\"lone\":\"\xef\xbf\xbd\"}");
	canon_is("{\"del\":\"\x7f\"}", "{\"del\":\"\\u007f\"}");
	struct buf b;
	buf_init(&b, 4096);
	CHECK(chain_canon_json("{\"a\":\"x", 7, &b) < 0); /* unterminated */
	buf_free(&b);
}

static int write_row(struct db *db, void *what)
{
	return audit_write(db, (const char *)what, &(struct audit_keys){0}, NULL);
}

static int64_t seq_of(struct db *db, const char *event)
{
	struct db_stmt *st = db_prep(db, "SELECT coalesce(max(seq), -1) FROM audit_events WHERE event = ?1");
	db_bind_text(st, 1, event);
	int64_t v = db_step(st) == DB_ROW ? db_col_int64(st, 0) : -2;
	db_reset(st);
	return v;
}

TEST(audit_chain_rollback_gives_the_seq_back)
{
	struct fx f;
	if (fx_open(&f) < 0)
		return;
	CHECK(chain_attach(f.db, "unit", 1) == 0);
	CHECK(db_begin(f.db) == 0);
	CHECK(write_row(f.db, "t.a") == 0);
	CHECK(db_exec(f.db, "SAVEPOINT job") == 0);
	CHECK(write_row(f.db, "t.b") == 0);
	CHECK(db_exec(f.db, "ROLLBACK TO job") == 0); /* a writer job that failed */
	CHECK(write_row(f.db, "t.c") == 0);
	CHECK(db_commit(f.db) == 0);
	CHECK(db_begin(f.db) == 0);
	CHECK(write_row(f.db, "t.d") == 0);
	db_rollback(f.db); /* a batch that failed */
	CHECK(db_tx(f.db, write_row, "t.e") == 0);
	CHECK(seq_of(f.db, "t.a") == 1);
	CHECK(seq_of(f.db, "t.b") == -1);
	CHECK(seq_of(f.db, "t.c") == 2);
	CHECK(seq_of(f.db, "t.d") == -1);
	CHECK(seq_of(f.db, "t.e") == 3);
	struct verify_report r;
	CHECK(audit_verify(f.db, NULL, &r) == 0 && !r.bad);
	fx_close(&f);
}

TEST(audit_chain_command_line_chain_is_shared_without_gaps)
{
	struct fx f;
	if (fx_open(&f) < 0)
		return;
	struct db *other = fx_connect(&f); /* another command-line process */
	if (!other) {
		fx_close(&f);
		return;
	}
	CHECK(db_tx(f.db, write_row, "t.one") == 0);
	CHECK(db_tx(other, write_row, "t.two") == 0);
	CHECK(db_tx(f.db, write_row, "t.three") == 0);
	CHECK(seq_of(f.db, "t.two") == seq_of(f.db, "t.one") + 1);
	CHECK(seq_of(f.db, "t.three") == seq_of(f.db, "t.two") + 1);
	struct verify_report r;
	CHECK(audit_verify(f.db, NULL, &r) == 0 && !r.bad && r.chains == 1);
	/* an edited row is named */
	CHECK(db_exec(f.db, "UPDATE audit_events SET actor = 'someone' WHERE event = 't.two'") == 0);
	CHECK(audit_verify(f.db, NULL, &r) == 0 && r.bad && strcmp(r.kind, "altered") == 0 &&
	      r.seq == seq_of(f.db, "t.two") && strcmp(r.chain, CHAIN_CLI) == 0);
	db_close(other);
	fx_close(&f);
}
