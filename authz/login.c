/* login.c - owners' logins with throttling; see login.h. */
#include "login.h"

#include "../audit/audit.h"
#include "../clients/secret.h"
#include "../common/strmap.h"
#include "../common/timeutil.h"
#include "password.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <string.h>

static struct strmap fails, cache;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static void init_maps(void)
{
	strmap_init(&fails, 256);
	strmap_init(&cache, 64);
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
	strmap_put(&fails, key, &v);
}

static int drop_old(const struct strmap_val *v, void *arg) { return v->n1 < *(int64_t *)arg; }

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
	memset(&ev, 0, sizeof ev);
	ev.event = "owner.login_failed";
	ev.outcome = "refused";
	snprintf(ev.actor, sizeof ev.actor, "%s", owner && *owner ? owner : "anonymous");
	snprintf(ev.owner_id, sizeof ev.owner_id, "%s", owner ? owner : "");
	snprintf(ev.client_addr, sizeof ev.client_addr, "%s", client_addr ? client_addr : "");
	snprintf(ev.request_id, sizeof ev.request_id, "%s", request_id ? request_id : "");
	char esc[300];
	size_t k = 0;
	for (const char *p = email; *p && k < sizeof esc - 2; p++) /* emails hold no '"' we accept */
		if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
			esc[k++] = *p;
	esc[k] = '\0';
	audit_detailf(&ev, "{\"email\":\"%s\",\"reason\":\"%s\"}", esc, reason);
	if (strcmp(reason, "throttled") == 0) /* SPEC "Audit": throttled requests, a row a minute */
		audit_event_summarize(&ev, reason, "rate_limited");
	warrant_write(w, audit_job, &ev);
	audit_event_clear(&ev);
}

int owner_login(struct warrant *w, const char *email, const char *password, const char *client_addr,
		const char *request_id, struct owner_session *s, struct oerr *e)
{
	pthread_once(&once, init_maps);
	int64_t now_s = now_ms() / 1000;
	char acct[300], addr[80], lower[256];
	size_t i;
	for (i = 0; email[i] && i < sizeof lower - 1; i++)
		lower[i] = (char)tolower((unsigned char)email[i]);
	lower[i] = '\0';
	snprintf(acct, sizeof acct, "acct:%s", lower);
	snprintf(addr, sizeof addr, "addr:%s", client_addr ? client_addr : "");
	long retry = 0;
	if (fail_count(acct, now_s, &retry) >= LOGIN_FAILS_PER_ACCOUNT ||
	    fail_count(addr, now_s, &retry) >= LOGIN_FAILS_PER_ADDRESS) {
		oerr_set(e, 429, "rate_limited", "too many failed logins; retry later");
		e->retry_after = retry;
		audit_failure(w, NULL, lower, client_addr, request_id, "throttled");
		return 1;
	}
	struct db *db = warrant_reader(w);
	if (!db) {
		oerr_set(e, 503, "temporarily_unavailable", "storage unavailable");
		return -1;
	}
	sqlite3_stmt *st = db_prep(db, "SELECT id, org_id, status, password_hash FROM owners WHERE email = ?");
	if (!st) {
		oerr_set(e, 500, "server_error", "internal error");
		return -1;
	}
	db_bind_text(st, 1, email);
	char hash[PASSWORD_HASH_MAX] = "", status[16] = "";
	memset(s, 0, sizeof *s);
	int found = sqlite3_step(st) == SQLITE_ROW;
	if (found) {
		db_col_copy(st, 0, s->id, sizeof s->id);
		db_col_copy(st, 1, s->org_id, sizeof s->org_id);
		db_col_copy(st, 2, status, sizeof status);
		db_col_copy(st, 3, hash, sizeof hash);
	}
	sqlite3_reset(st);
	char ck[80];
	struct strmap_val v;
	cache_key(email, password, ck);
	int ok;
	if (found && ck[0] && strmap_get(&cache, ck, &v) && v.n1 > now_s && strcmp(v.s, s->id) == 0) {
		ok = 1;
	} else if (found && hash[0]) {
		ok = password_verify(hash, password, strlen(password));
	} else {
		password_burn(password, strlen(password)); /* same time for unknown accounts */
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
		if (fails.n > 100000) {
			int64_t cut = now_s / 60;
			strmap_prune(&fails, drop_old, &cut);
		}
		audit_failure(w, found ? s->id : NULL, lower, client_addr, request_id,
			      found ? "bad_password" : "unknown_account");
		oerr_set(e, 401, "invalid_client", "authentication failed");
		e->basic_challenge = 1;
		return 1;
	}
	strmap_del(&fails, acct);
	if (ck[0]) {
		memset(&v, 0, sizeof v);
		v.n1 = now_s + LOGIN_CACHE_SECONDS;
		snprintf(v.s, sizeof v.s, "%.47s", s->id);
		strmap_put(&cache, ck, &v);
	}
	return 0;
}
