/* login.c - owners' logins with throttling; see login.h. */
#include "login.h"

#include "../audit/audit.h"
#include "../audit/events.h"
#include "../clients/secret.h"
#include "../common/basic.h"
#include "../common/buf.h"
#include "../common/strmap.h"
#include "../common/timeutil.h"
#include "model.h"
#include "password.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* every email and password that `owner add` accepts fits the /v1 Basic credentials */
_Static_assert(BASIC_MAX_ID > EMAIL_MAX, "an owner's email must fit BASIC_MAX_ID");
_Static_assert(BASIC_MAX_SECRET > PASSWORD_MAX_LEN, "an owner's password must fit BASIC_MAX_SECRET");
_Static_assert(BASIC_MAX_ENCODED / 4 * 3 >= EMAIL_MAX + 1 + PASSWORD_MAX_LEN,
	       "email:password must fit BASIC_MAX_ENCODED");

static struct strmap fails, cache;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Atomic int64_t pruned_minute;
static atomic_int fails_full; /* the throttle table refused a key this minute: fail closed */
static void init_maps(void)
{
	strmap_init_budget(&fails, 256, LOGIN_FAILS_BYTES);
	strmap_init_budget(&cache, 64, LOGIN_CACHE_BYTES);
}

int login_addr_key(const char *client_addr, char out[LOGIN_ADDR_KEY_MAX])
{
	unsigned char a6[16];
	char txt[INET6_ADDRSTRLEN];
	const char *addr = client_addr ? client_addr : "";
	if (inet_pton(AF_INET6, addr, a6) == 1) {
		static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a6, v4mapped, 12) == 0 && inet_ntop(AF_INET, a6 + 12, txt, sizeof txt)) {
			snprintf(out, LOGIN_ADDR_KEY_MAX, "addr:%s", txt);
			return 0;
		}
		/* RFC 4291 §2.5.4: a /64 is one subnet, what one holder usually gets (RFC 6177) */
		memset(a6 + 8, 0, 8);
		if (!inet_ntop(AF_INET6, a6, txt, sizeof txt))
			return -1;
		snprintf(out, LOGIN_ADDR_KEY_MAX, "addr:%s/64", txt);
		return 0;
	}
	snprintf(out, LOGIN_ADDR_KEY_MAX, "addr:%.*s", LOGIN_ADDR_KEY_MAX - 6, addr);
	return 0;
}

/* count of failures in the current minute for key; *retry = seconds to the next window */
static int64_t fail_count(const char *key, int64_t now_s, long *retry)
{
	struct strmap_val v;
	if (!strmap_get(&fails, key, &v) || v.n1 != now_s / 60)
		return 0;
	*retry = 60 - now_s % 60;
	return v.n2;
}

static void fail_add(const char *key, int64_t now_s)
{
	struct strmap_val v;
	if (!strmap_get(&fails, key, &v) || v.n1 != now_s / 60)
		memset(&v, 0, sizeof v);
	v.n1 = now_s / 60;
	v.n2++;
	if (strmap_put(&fails, key, &v) < 0)
		atomic_store(&fails_full, 1);
}

static int drop_old(const struct strmap_val *v, void *arg) { return v->n1 < *(int64_t *)arg; }

/* Once a minute: failures of past windows and expired remembered logins go. */
static void prune_maps(int64_t now_s)
{
	int64_t minute = now_s / 60, seen = atomic_load(&pruned_minute);
	if (seen == minute || !atomic_compare_exchange_strong(&pruned_minute, &seen, minute))
		return;
	strmap_prune(&fails, drop_old, &minute);
	int64_t now1 = now_s + 1; /* cache entries hold their expiry: drop those at or before now */
	strmap_prune(&cache, drop_old, &now1);
	atomic_store(&fails_full, 0);
}

static void cache_key(const char *email, const char *pw, char out[80])
{
	unsigned char mac[VERIFIER_LEN];
	char in[PASSWORD_MAX_LEN + 300];
	int n = snprintf(in, sizeof in, "owner-login\n%s\n%s", email, pw);
	out[0] = '\0';
	if (n > 0 && (size_t)n < sizeof in && secret_verifier(in, (size_t)n, mac) == 0)
		for (int i = 0; i < 32; i++)
			snprintf(out + 2 * i, 3, "%02x", mac[i]);
	OPENSSL_cleanse(in, sizeof in);
	OPENSSL_cleanse(mac, sizeof mac);
}

static void audit_failure(struct warrant *w, const char *owner, const char *email, const char *client_addr,
			  const char *request_id, const char *reason)
{
	struct audit_event ev;
	struct audit_keys k = {
		.actor = owner ? owner : "", .owner_id = owner, .client_addr = client_addr, .request_id = request_id};
	audit_event_init(&ev, EV_OWNER_LOGIN_FAILED, "refused", &k);
	/* the email is the client's: JSON-encoded (invalid UTF-8 becomes U+FFFD), at most
	 * LOGIN_AUDIT_EMAIL_MAX bytes of it */
	struct buf d;
	size_t el = strlen(email);
	buf_init(&d, AUDIT_DETAIL_LIMIT);
	buf_puts(&d, "{\"email\":");
	buf_json_str(&d, email, el > LOGIN_AUDIT_EMAIL_MAX ? LOGIN_AUDIT_EMAIL_MAX : el);
	buf_printf(&d, ",\"reason\":\"%s\"}", reason);
	audit_detail_take(&ev, &d);
	if (strcmp(reason, "throttled") == 0) /* SPEC "Audit": throttled requests, a row a minute */
		audit_event_summarize(&ev, reason, "rate_limited");
	warrant_write(w, audit_job, &ev);
	audit_event_clear(&ev);
}

/* Reads the owner by email into s, status and hash: 1 found, 0 not, -1 error (e set). */
static int owner_read(struct warrant *w, const char *email, struct owner_session *s, char status[16],
		      char hash[PASSWORD_HASH_MAX], struct oerr *e)
{
	struct db *db = warrant_reader(w);
	if (!db) {
		oerr_set(e, 503, "temporarily_unavailable", "storage unavailable");
		return -1;
	}
	struct db_stmt *st =
		db_prep(db, "SELECT id, org_id, status, password_hash FROM owners WHERE lower(email) = lower(?)");
	if (!st) {
		oerr_set(e, 500, "server_error", "internal error");
		return -1;
	}
	db_bind_text(st, 1, email);
	memset(s, 0, sizeof *s);
	int found = db_step(st) == DB_ROW;
	if (found) {
		db_col_copy(st, 0, s->id, sizeof s->id);
		db_col_copy(st, 1, s->org_id, sizeof s->org_id);
		db_col_copy(st, 2, status, 16);
		db_col_copy(st, 3, hash, PASSWORD_HASH_MAX);
	}
	db_reset(st);
	return found;
}

int owner_login(struct warrant *w, const char *email, const char *password, const char *client_addr,
		const char *request_id, struct owner_session *s, struct oerr *e)
{
	pthread_once(&once, init_maps);
	int64_t now_s = now_ms() / 1000;
	prune_maps(now_s);
	char acct[EMAIL_MAX + 8], addr[LOGIN_ADDR_KEY_MAX], lower[EMAIL_MAX + 1];
	size_t i, plen = strlen(password);
	/* the same limits as `owner add`: anything longer is no owner's credentials */
	int overlong = strlen(email) > EMAIL_MAX || plen > PASSWORD_MAX_LEN;
	for (i = 0; email[i] && i < sizeof lower - 1; i++)
		lower[i] = (char)tolower((unsigned char)email[i]);
	lower[i] = '\0';
	snprintf(acct, sizeof acct, "acct:%s", lower);
	login_addr_key(client_addr, addr);
	char ck[80] = "";
	struct strmap_val v;
	if (!overlong)
		cache_key(email, password, ck);
	/* credentials checked in the last LOGIN_CACHE_SECONDS are not a guess: no throttle */
	int known = ck[0] && strmap_get(&cache, ck, &v) && v.n1 > now_s;
	long retry = 0;
	if (!known && (fail_count(acct, now_s, &retry) >= LOGIN_FAILS_PER_ACCOUNT ||
		       fail_count(addr, now_s, &retry) >= LOGIN_FAILS_PER_ADDRESS || atomic_load(&fails_full))) {
		if (!retry)
			retry = 60 - now_s % 60;
		oerr_set(e, 429, "rate_limited", "too many failed logins; retry later");
		e->retry_after = retry;
		audit_failure(w, NULL, lower, client_addr, request_id, "throttled");
		return 1;
	}
	char hash[PASSWORD_HASH_MAX] = "", status[16] = "";
	int found = overlong ? 0 : owner_read(w, email, s, status, hash, e);
	if (found < 0)
		return -1;
	int ok;
	if (found && known && strcmp(v.s, s->id) == 0) {
		ok = 1;
	} else if (found && hash[0]) {
		ok = password_verify(hash, password, plen);
	} else {
		if (!overlong)
			password_burn(password, plen); /* same time for unknown accounts */
		ok = 0;
	}
	OPENSSL_cleanse(hash, sizeof hash);
	if (ok && strcmp(status, "active") != 0) {
		audit_failure(w, s->id, lower, client_addr, request_id, "deactivated");
		oerr_set(e, 401, "invalid_client", "authentication failed");
		e->basic_challenge = 1;
		return 1;
	}
	if (!ok) {
		fail_add(acct, now_s);
		fail_add(addr, now_s);
		audit_failure(w, found ? s->id : NULL, lower, client_addr, request_id,
			      overlong ? "overlong_credentials"
			      : found  ? "bad_password"
				       : "unknown_account");
		oerr_set(e, 401, "invalid_client", "authentication failed");
		e->basic_challenge = 1;
		return 1;
	}
	/* a remembered login leaves the count alone: it must not give a guesser five more */
	if (!known)
		strmap_del(&fails, acct);
	if (ck[0]) {
		memset(&v, 0, sizeof v);
		v.n1 = now_s + LOGIN_CACHE_SECONDS;
		snprintf(v.s, sizeof v.s, "%.47s", s->id);
		strmap_put(&cache, ck, &v); /* past its budget, the next login hashes again */
	}
	return 0;
}
