/* rotate.c - signing-key rotation and retirement; see rotate.h. */
#include "rotate.h"

#include "../audit/audit.h"
#include "../audit/events.h"
#include "../common/timeutil.h"
#include "../store/changes.h"

#include <assert.h>
#include <string.h>

static int64_t setting_i64(struct db *db, const char *key, int64_t dflt)
{
	char v[32];
	int n = db_setting_get(db, key, v, sizeof v - 1);
	if (n <= 0)
		return dflt;
	v[n] = '\0';
	int64_t x;
	return parse_i64(v, 0, INT64_MAX / 2000, &x) == 0 ? x : dflt;
}

static int setting_put_i64(struct db *db, const char *key, int64_t v)
{
	char s[32];
	int n = snprintf(s, sizeof s, "%lld", (long long)v);
	return db_setting_put(db, key, s, n);
}

int key_timing_load(struct db *db, struct key_timing *t)
{
	t->token_ttl = setting_i64(db, "token_ttl", 300);
	t->leeway = setting_i64(db, "leeway", 60);
	t->jwks_max_age = setting_i64(db, "jwks_max_age", JWKS_MAX_AGE_DEFAULT);
	t->rotation_interval = setting_i64(db, "key_rotation", KEY_ROTATION_DEFAULT);
	return 0;
}

int key_timing_store(struct db *db, const struct key_timing *t)
{
	return setting_put_i64(db, "token_ttl", t->token_ttl) | setting_put_i64(db, "leeway", t->leeway) |
	       setting_put_i64(db, "jwks_max_age", t->jwks_max_age) |
	       setting_put_i64(db, "key_rotation", t->rotation_interval);
}

static int one_key(struct db *db, const char *state, char kid[KID_MAX], int64_t *created, int64_t *activated,
		   char alg[8])
{
	struct db_stmt *st = db_prep(db, "SELECT kid, created_at, coalesce(activated_at, 0), alg FROM signing_keys"
					 " WHERE state = ? ORDER BY created_at DESC LIMIT 1");
	if (!st)
		return -1;
	db_bind_text(st, 1, state);
	int rc = db_step(st);
	if (rc == DB_ROW) {
		db_col_copy(st, 0, kid, KID_MAX);
		*created = db_col_int64(st, 1);
		*activated = db_col_int64(st, 2);
		db_col_copy(st, 3, alg, 8);
	}
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

static int set_state(struct db *db, const char *kid, const char *state, int64_t now, int64_t retire_after)
{
	struct db_stmt *st = db_prep(db, "UPDATE signing_keys SET state = ?2,"
					 " activated_at = CASE WHEN ?2 = 'current' THEN ?3 ELSE activated_at END,"
					 " retiring_at = CASE WHEN ?2 = 'retiring' THEN ?3 ELSE retiring_at END,"
					 " retire_after = CASE WHEN ?2 = 'retiring' THEN ?4 ELSE retire_after END"
					 " WHERE kid = ?1");
	if (!st)
		return -1;
	db_bind_text(st, 1, kid);
	db_bind_text(st, 2, state);
	db_bind_int64(st, 3, now);
	db_bind_int64(st, 4, retire_after);
	return db_step_done(st);
}

static int audit_key(struct db *db, const char *actor, const char *detail)
{
	struct audit_keys k = {.actor = actor};
	return audit_write(db, EV_KEY_ROTATED, &k, detail);
}

#ifndef NDEBUG
/* Debug builds: exactly one key signs once a rotation is written (the unique index
 * signing_keys_one_current allows at most one; this checks there is not none). */
static int current_keys(struct db *db)
{
	struct db_stmt *st = db_prep(db, "SELECT count(*) FROM signing_keys WHERE state = 'current'");
	int n = st && db_step(st) == DB_ROW ? db_col_int(st, 0) : -1;
	if (st)
		db_reset(st);
	return n;
}
#endif

int key_rotate_job(struct db *db, void *arg)
{
	struct key_rotation *r = arg;
	struct key_timing t;
	char alg[8] = "ES256";
	int64_t created, activated, now = now_ms();
	key_timing_load(db, &t);
	r->rotated = 0;
	int has_cur = one_key(db, "current", r->old_kid, &created, &activated, alg);
	if (has_cur < 0)
		return -1;
	if (r->scheduled && has_cur && now - activated < t.rotation_interval * 1000)
		return 0;
	enum key_alg a;
	if (key_alg_parse(alg, &a) < 0)
		a = ALG_ES256;
	int64_t ncreated;
	int has_next = one_key(db, "next", r->new_kid, &ncreated, &activated, alg);
	if (has_next < 0)
		return -1;
	if (!has_next) {
		/* no next key published yet: publish one now; it may sign once caches have it */
		if (key_create(db, a, KEY_NEXT, r->new_kid) < 0)
			return -1;
		ncreated = now;
	}
	if (!r->force && now - ncreated < t.jwks_max_age * 1000) {
		if (r->scheduled)
			return 0; /* try again later */
		oerr_set(&r->err, 409, "conflict",
			 "the next key has been published for %llds only, less than the JWKS cache lifetime "
			 "(%llds): downstream verifiers may not have it yet; retry later or use --force",
			 (long long)((now - ncreated) / 1000), (long long)t.jwks_max_age);
		return 1;
	}
	r->retire_after = now + (t.token_ttl + t.leeway) * 1000;
	if (has_cur && set_state(db, r->old_kid, "retiring", now, r->retire_after) < 0)
		return -1;
	if (set_state(db, r->new_kid, "current", now, 0) < 0 || key_create(db, a, KEY_NEXT, r->next_kid) < 0 ||
	    change_note(db, CHANGE_KEYS, r->new_kid, r->old_kid, now) < 0)
		return -1;
	assert(current_keys(db) == 1);
	char d[400], ra[32];
	if (audit_detail_fits(d,
			      "{\"reason\":\"%s\",\"current\":\"%s\",\"retiring\":\"%s\",\"next\":\"%s\","
			      "\"retire_after\":\"%s\"}",
			      r->scheduled ? "schedule" : "on_demand", r->new_kid, has_cur ? r->old_kid : "",
			      r->next_kid, rfc3339(r->retire_after, ra)) < 0 ||
	    audit_key(db, r->actor, d) < 0)
		return -1;
	r->rotated = 1;
	return 0;
}

int key_retire_job(struct db *db, void *arg)
{
	struct key_retirement *k = arg;
	int64_t now = now_ms();
	k->count = 0;
	if (k->kid) {
		struct db_stmt *st = db_prep(db, "SELECT state FROM signing_keys WHERE kid = ?");
		if (!st)
			return -1;
		db_bind_text(st, 1, k->kid);
		char state[16] = "";
		if (db_step(st) == DB_ROW)
			db_col_copy(st, 0, state, sizeof state);
		db_reset(st);
		if (!state[0]) {
			oerr_set(&k->err, 404, "not_found", "no key %.64s", k->kid);
			return 1;
		}
		if (strcmp(state, "current") == 0) {
			oerr_set(&k->err, 409, "conflict",
				 "that key is current: rotate first (warrant keys rotate --force)");
			return 1;
		}
		if (strcmp(state, "retired") == 0)
			return 0;
	}
	struct db_stmt *st =
		k->kid ? db_prep(db, "UPDATE signing_keys SET state = 'retired', private_der = '', retire_after = ?2"
				     " WHERE kid = ?1 AND state IN ('next', 'retiring')")
		       : db_prep(db, "UPDATE signing_keys SET state = 'retired', private_der = ''"
				     " WHERE state = 'retiring' AND retire_after <= ?2 AND CAST(?1 AS TEXT) IS NULL");
	if (!st)
		return -1;
	db_bind_text(st, 1, k->kid);
	db_bind_int64(st, 2, now);
	if (db_step_done(st) < 0)
		return -1;
	k->count = db_changes(db);
	if (k->count == 0)
		return 0;
	if (change_note(db, CHANGE_KEYS, k->kid, NULL, now) < 0)
		return -1;
	char d[200];
	if (audit_detail_fits(d, "{\"reason\":\"%s\",\"retired\":%d%s%s%s}",
			      k->kid ? "retired_at_once" : "retire_after_passed", k->count, k->kid ? ",\"kid\":\"" : "",
			      k->kid ? k->kid : "", k->kid ? "\"" : "") < 0)
		return -1;
	return audit_key(db, k->actor, d);
}

int key_ensure_next_job(struct db *db, void *arg)
{
	(void)arg;
	char kid[KID_MAX], alg[8] = "ES256";
	int64_t c, a;
	int has = one_key(db, "next", kid, &c, &a, alg);
	if (has != 0)
		return has < 0 ? -1 : 0;
	if (one_key(db, "current", kid, &c, &a, alg) < 0)
		return -1;
	enum key_alg al;
	if (key_alg_parse(alg, &al) < 0)
		al = ALG_ES256;
	if (key_create(db, al, KEY_NEXT, kid) < 0 || change_note(db, CHANGE_KEYS, kid, NULL, now_ms()) < 0)
		return -1;
	char d[120];
	if (audit_detail_fits(d, "{\"reason\":\"next_key_published\",\"next\":\"%s\"}", kid) < 0)
		return -1;
	return audit_key(db, "system", d);
}
