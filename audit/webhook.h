/* webhook.h - streaming the audit trail to a receiver (`serve --audit-webhook URL
 * --audit-webhook-secret-file F`).
 *
 * A thread of its own reads the rows of each chain after that chain's acknowledged seq
 * (audit_webhook_cursor) and POSTs them in seq order, at most WEBHOOK_BATCH_MAX at a time,
 * as a JSON array of export objects, with `X-Warrant-Signature: sha256=<hex HMAC-SHA256 of
 * the body under the secret>`. A 2xx answer acknowledges the batch: its last seq is stored
 * through the writer (so a restart, or another node taking over, resumes after it). Any
 * other answer, a timeout or a refused connection is retried, the same batch, after a wait
 * that doubles from WEBHOOK_BACKOFF_MIN_MS up to WEBHOOK_BACKOFF_MAX_MS. Delivery is at
 * least once (a batch acknowledged but not yet stored is sent again), in order per chain.
 *
 * Only the process that runs scheduled work delivers (on PostgreSQL, the scheduler lease
 * holder), so nodes do not race. The thread shares nothing with the request path: it reads
 * through its own connection and its network waits block only itself. */
#ifndef WARRANT_AUDIT_WEBHOOK_H
#define WARRANT_AUDIT_WEBHOOK_H
#include "../store/writer.h"

#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_BATCH_MAX 500        /* rows per POST */
#define WEBHOOK_BODY_MAX (8 << 20)   /* bytes of one POST body; a batch stops short of it */
#define WEBHOOK_POLL_MS 250          /* how often new rows are looked for when idle */
#define WEBHOOK_BACKOFF_MIN_MS 500   /* the first wait after a failed delivery */
#define WEBHOOK_BACKOFF_MAX_MS 60000 /* the longest */
#define WEBHOOK_TIMEOUT_S 10         /* a delivery that takes longer failed */
#define WEBHOOK_SECRET_MAX 1024      /* bytes of the secret file */

struct webhook_conf {
	const char *url; /* http:// or https:// */
	unsigned char secret[WEBHOOK_SECRET_MAX];
	size_t secret_len;
	const char *db_path;   /* the thread opens its own connection */
	struct writer *writer; /* cursor updates */
	int (*leading)(void);  /* 1 while this process runs the scheduled work */
};

/* Reads the HMAC secret from path into c: a regular file, not open to group or others
 * (mode 0600, as the key file), 1 to WEBHOOK_SECRET_MAX bytes, a final newline dropped.
 * 0, or -1 with a one-line reason in err. */
int webhook_secret_load(const char *path, struct webhook_conf *c, char *err, size_t errlen);
/* Starts the delivery thread with a copy of c. 0 or -1. */
int webhook_start(const struct webhook_conf *c);
/* Stops it (an HTTP exchange in flight is abandoned; it will be sent again). No-op when
 * not started. */
void webhook_stop(void);
struct webhook_stats {
	int running;
	int64_t lag_rows;  /* rows not yet acknowledged, over every chain (-1: not known yet) */
	int64_t delivered; /* rows acknowledged by the receiver since start */
	int64_t failures;  /* deliveries that failed since start */
};
void webhook_stats(struct webhook_stats *s);
#endif
