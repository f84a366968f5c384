/* login.h - owners' logins for the self-service API (HTTP Basic, email and password).
 *
 * Failed logins are throttled per account and per client address (fixed one-minute
 * windows; an IPv6 address counts as its /64), take the same time whether or not the
 * account exists, and are audited. A successful check is remembered for
 * LOGIN_CACHE_SECONDS (keyed by an HMAC of the credentials), so a script calling /v1
 * repeatedly pays for argon2id once a minute, and credentials remembered so are not
 * throttled (they are not a guess: a flood of wrong passwords cannot lock the owner out);
 * the owner's status is still read on every call. Emails and passwords longer than
 * `owner add` accepts (EMAIL_MAX, PASSWORD_MAX_LEN) are refused like wrong ones.
 *
 * Both tables have byte budgets. The failure table is pruned every minute; should it
 * still fill within one minute, logins not remembered are answered 429 until the minute
 * ends (it fails closed). The remembered-login table drops expired entries every minute;
 * when full, a login is simply not remembered. */
#ifndef WARRANT_LOGIN_H
#define WARRANT_LOGIN_H
#include "../common/oerr.h"
#include "../common/rand.h"
#include "../core/warrant.h"

#define LOGIN_FAILS_PER_ACCOUNT 5  /* per minute, then 429 */
#define LOGIN_FAILS_PER_ADDRESS 20 /* per minute, then 429 */
#define LOGIN_CACHE_SECONDS 60
#define LOGIN_FAILS_BYTES (4u << 20) /* the failure counters of one minute */
#define LOGIN_CACHE_BYTES (1u << 20) /* remembered logins */
#define LOGIN_AUDIT_EMAIL_MAX 128    /* bytes of a failed login's email kept in its audit row */
#define LOGIN_ADDR_KEY_MAX 80

struct owner_session {
	char id[ID_MAX];
	char org_id[ID_MAX];
};

/* 0 logged in (s filled), 1 refused (e: 401, or 429 with retry_after), -1 error. Writes
 * owner.login_failed rows through w. */
int owner_login(struct warrant *w, const char *email, const char *password, const char *client_addr,
		const char *request_id, struct owner_session *s, struct oerr *e);

/* The per-address throttle's key for client_addr: "addr:" and an IPv4 address (also for an
 * IPv4-mapped IPv6 one), "addr:P::/64" for the /64 P of any other IPv6 address, else the
 * text as given. 0, or -1 when it cannot be formatted. */
int login_addr_key(const char *client_addr, char out[LOGIN_ADDR_KEY_MAX]);
#endif
