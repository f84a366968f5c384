/* introspect.h - RFC 7662 token introspection for resource servers.
 *
 * The caller is a registered resource server (client_secret_basic or client_secret_post,
 * through clients/auth.h like every client). The answer reflects live
 * state: anything but an active token is exactly {"active":false}. */
#ifndef WARRANT_INTROSPECT_H
#define WARRANT_INTROSPECT_H
#include "../audit/audit.h"
#include "../clients/auth.h"
#include "../common/form.h"
#include "../core/warrant.h"
#include "verify.h"

struct introspection {
	/* in */
	struct client_cred cred;
	const struct form *form;
	const char *client_addr, *request_id;
	/* out */
	int active;
	struct tok *tok; /* referenced when active: its active_json is the answer */
	struct oerr err; /* set when the caller is refused (401/403/400) */
	struct audit_event audit;
};

/* Returns 0 with q->active decided, 1 when the caller is refused (q->err), -1 on an
 * internal error. q->audit always holds the event to commit before answering. */
int token_introspect(struct warrant *w, struct introspection *q);
void introspection_free(struct introspection *q);

/* Finds a token by its string: the cache, else a full verification (then cached).
 * Returns a referenced tok or NULL (*why). Shared by introspection and revocation. */
struct tok *tok_lookup(struct warrant *w, const char *token, size_t n, const char **why);

/* Whether token is active for a resource server whose audience is audience ("" or NULL: a
 * trusted gateway that sees every token): verified, meant for it, and live (live_check).
 * The one rule behind /introspect, /access/v1/evaluation and /check. Returns 1 active, 0
 * inactive (*why: "malformed", "other_audience", a live_check reason...), -1 on a database
 * error. *out is a referenced tok whenever the token verified (release it), else NULL. */
int token_active_for(struct warrant *w, const char *audience, const char *token, size_t n, struct tok **out,
		     const char **why);

#endif
