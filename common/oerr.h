/* oerr.h - an OAuth-shaped error travelling as a value (RFC 6749 §5.2).
 *
 * Domain modules fill one of these; the HTTP layer maps it to status, body and headers,
 * the command line to a one-line message. code is a static string; desc is ours. */
#ifndef WARRANT_OERR_H
#define WARRANT_OERR_H
#include <stdio.h>

struct oerr {
	int status;       /* HTTP status: 400, 401, 403, 404, 429, 500, 503 */
	const char *code; /* "invalid_request", "invalid_client", ... */
	char desc[200];
	int basic_challenge; /* 401 after HTTP Basic: send WWW-Authenticate */
	long retry_after;    /* seconds, for 429; 0 = none */
	const char *reason;  /* short machine reason for audit and metrics, e.g. "bad_secret" */
};

#define oerr_set(e, st, c, ...)                                    \
	do {                                                       \
		(e)->status = (st);                                \
		(e)->code = (c);                                   \
		snprintf((e)->desc, sizeof(e)->desc, __VA_ARGS__); \
	} while (0)
#endif
