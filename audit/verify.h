/* verify.h - `warrant audit verify`: recomputes every audit chain and checks every
 * checkpoint, over the database or over an export (JSON lines of `warrant audit --json`).
 *
 * Rules (docs/integrations.md, "Audit verification and streaming"):
 *  - a chain starts at seq 1 from 32 zero bytes, or right after one of its checkpoints
 *    (retention removed the rows before it) from that checkpoint's hash;
 *  - each next row has the next seq (a skipped seq: "missing"), a seq seen already is
 *    "inserted", as is a row without chain and seq once chained rows exist (the database:
 *    written after the first chained row; an export: after a chained line), and a row
 *    whose hash is not SHA-256(previous hash || canonical JSON) is "altered";
 *  - every checkpoint must be a JWS of typ audit-checkpoint+jwt whose signature verifies
 *    with the signing key its kid names (any state, retired included), whose claims equal
 *    its row, and whose hash equals the chain's hash at its seq; a checkpoint past the end
 *    of its chain means rows were removed ("missing").
 * Verification stops at the first problem, which is described in one line. */
#ifndef WARRANT_AUDIT_VERIFY_H
#define WARRANT_AUDIT_VERIFY_H
#include "../store/db.h"

#include <stdint.h>
#include <stdio.h>

#define VERIFY_LINE_MAX (4 << 20) /* bytes of one export line */

struct verify_report {
	long rows, chains, checkpoints, unchained; /* unchained: rows written before chaining began */
	long unsigned_rows;                        /* rows past their chain's newest checkpoint */
	int bad;                                   /* a problem was found */
	char chain[64];
	int64_t seq;
	char kind[16];  /* "altered", "missing", "inserted", "checkpoint" */
	char what[384]; /* one line */
};

/* Verifies the database db (keys and checkpoints always come from it); file: an export to
 * verify instead of the database's rows, or NULL. 0 when the check ran (r->bad tells the
 * outcome), -1 when it could not (r->what says why: a database error, an unreadable file). */
int audit_verify(struct db *db, FILE *file, struct verify_report *r);
#endif
