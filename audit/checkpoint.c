/* checkpoint.c - signing and listing audit chain checkpoints; see checkpoint.h. */
#include "checkpoint.h"
#include "chain.h"

#include "../common/timeutil.h"

#include <stdio.h>
#include <string.h>

/* The newest seq of chain's rows and its hash; 0 when it has none. */
static int rows_head(struct db *db, const char *chain, int64_t *seq, char hash[CHAIN_HASH_HEX])
{
	struct db_stmt *st =
		db_prep(db, "SELECT seq, hash FROM audit_events WHERE chain = ?1 ORDER BY seq DESC LIMIT 1");
	if (!st)
		return -1;
	db_bind_text(st, 1, chain);
	int rc = db_step(st);
	*seq = 0;
	if (rc == DB_ROW) {
		*seq = db_col_int64(st, 0);
		db_col_copy(st, 1, hash, CHAIN_HASH_HEX);
	}
	db_reset(st);
	return rc == DB_ERROR ? -1 : 0;
}

static int64_t newest_checkpoint(struct db *db, const char *chain)
{
	struct db_stmt *st = db_prep(db, "SELECT coalesce(max(seq), 0) FROM audit_checkpoints WHERE chain = ?1");
	if (!st)
		return -1;
	db_bind_text(st, 1, chain);
	int64_t v = db_step(st) == DB_ROW ? db_col_int64(st, 0) : -1;
	db_reset(st);
	return v;
}

int checkpoint_job(struct db *db, void *arg)
{
	struct checkpoint_job *j = arg;
	char hash[CHAIN_HASH_HEX] = "";
	int64_t seq, done;
	j->seq = 0;
	if (rows_head(db, j->chain, &seq, hash) < 0 || (done = newest_checkpoint(db, j->chain)) < 0)
		return -1;
	if (seq <= done)
		return 0;
	int64_t iat = now_ms() / 1000;
	struct buf claims, jws;
	buf_init(&claims, 4096);
	buf_init(&jws, 8192);
	buf_puts(&claims, "{\"iss\":");
	buf_json_cstr(&claims, j->iss);
	buf_puts(&claims, ",\"chain\":");
	buf_json_cstr(&claims, j->chain);
	buf_printf(&claims, ",\"seq\":%lld,\"hash\":\"%s\",\"iat\":%lld}", (long long)seq, hash, (long long)iat);
	int rc = -1;
	if (!claims.failed && j->sign(j->sign_arg, CHECKPOINT_TYP, claims.p, claims.len, &jws) == 0 && !jws.failed) {
		struct db_stmt *st = db_prep(db, "INSERT INTO audit_checkpoints(chain, seq, hash, iat, jws)"
						 " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING");
		if (st) {
			db_bind_text(st, 1, j->chain);
			db_bind_int64(st, 2, seq);
			db_bind_text(st, 3, hash);
			db_bind_int64(st, 4, iat);
			db_bind_text(st, 5, jws.p);
			rc = db_step_done(st);
		}
	}
	if (rc == 0)
		j->seq = seq;
	buf_free(&claims);
	buf_free(&jws);
	return rc;
}

long checkpoint_list(struct db *db, int64_t since_s, long limit, void (*emit)(void *arg, const char *json, size_t n),
		     void *arg)
{
	struct db_stmt *st = db_prep_new(db, "SELECT chain, seq, hash, iat, jws FROM audit_checkpoints WHERE iat >= ?1"
					     " ORDER BY iat, chain, seq LIMIT ?2");
	if (!st)
		return -1;
	db_bind_int64(st, 1, since_s);
	db_bind_int64(st, 2, limit > 0 ? limit : INT64_MAX);
	struct buf b;
	buf_init(&b, 64 * 1024);
	long n = 0;
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		b.len = 0;
		buf_puts(&b, "{\"chain\":");
		buf_json_cstr(&b, db_col_text(st, 0));
		buf_printf(&b, ",\"seq\":%lld,\"hash\":", (long long)db_col_int64(st, 1));
		buf_json_cstr(&b, db_col_text(st, 2));
		buf_printf(&b, ",\"iat\":%lld,\"jws\":", (long long)db_col_int64(st, 3));
		buf_json_cstr(&b, db_col_text(st, 4));
		buf_puts(&b, "}");
		if (b.failed)
			break;
		emit(arg, b.p, b.len);
		n++;
	}
	db_finalize(st);
	buf_free(&b);
	return rc == DB_DONE ? n : -1;
}

static char own_chain[CHAIN_ID_MAX] = CHAIN_SERVER;
static int interval_s = CHECKPOINT_INTERVAL_DEFAULT;

void checkpoint_configure(const char *chain, int seconds)
{
	snprintf(own_chain, sizeof own_chain, "%s", chain);
	interval_s = seconds > 0 ? seconds : CHECKPOINT_INTERVAL_DEFAULT;
}

const char *checkpoint_own_chain(void) { return own_chain; }
int checkpoint_interval_s(void) { return interval_s; }
