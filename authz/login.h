/* login.h - owners' logins for the self-service API (HTTP Basic, email and password).
 *
 * Failed logins are throttled per account and per client address (fixed one-minute
 * windows), take the same time whether or not the account exists, and are audited.
 * A successful check is remembered for LOGIN_CACHE_SECONDS (keyed by an HMAC of the
 * credentials), so a script calling /v1 repeatedly pays for argon2id once a minute;
 * the owner's status is still read on every call. */
#ifndef WARRANT_LOGIN_H
#define WARRANT_LOGIN_H
#include "../common/oerr.h"
#include "../common/rand.h"
#include "../core/warrant.h"

#define LOGIN_FAILS_PER_ACCOUNT 5    /* per minute, then 429 */
#define LOGIN_FAILS_PER_ADDRESS 20   /* per minute, then 429 */
#define LOGIN_CACHE_SECONDS 60

struct owner_session {
	char id[ID_MAX];
	char org_id[ID_MAX];
};

/* 0 logged in (s filled), 1 refused (e: 401, or 429 with retry_after), -1 error. Writes
 * owner.login_failed rows through w. */
int owner_login(struct warrant *w, const char *email, const char *password, const char *client_addr,
		const char *request_id, struct owner_session *s, struct oerr *e);
#endif
