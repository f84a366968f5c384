/* chain.h - the tamper-evident audit trail: every row is a link of a hash chain.
 *
 * Each writer appends to a chain of its own: the server's writer to its node's chain
 * ("server" with SQLite, one server per file; "node_<random>" chosen at each start on
 * PostgreSQL, so two nodes never share one), every command-line process to "cli". Within a
 * chain seq is 1, 2, 3, ... without gaps, and
 *
 *     hash = SHA-256(previous row's hash, 32 raw bytes, zeros for seq 1 || canonical JSON)
 *
 * stored as lowercase hex. The canonical JSON (docs/integrations.md spells it out for
 * independent verifiers) is one object with exactly these members in this order:
 * chain, seq, time_ms, event, actor, agent_id, owner_id, run_id, ws, jti, client_addr,
 * outcome, request_id, detail; absent strings are null, numbers are decimal integers,
 * strings are escaped as buf_json_str does (", \, \n, \r, \t as two characters, other
 * bytes below 0x20 and 0x7f as \u00xx in lowercase hex, everything else as is), and detail
 * is the row's detail JSON in canonical form ({} when none): no whitespace outside strings,
 * members in their stored order, strings escaped as above, numbers as written. Details are
 * stored in that form, so the stored text is what is hashed.
 *
 * The head of a chain (its last seq and hash) is read in the write transaction that
 * appends to it, under the writer lock; the server's writer keeps its own chain's head in
 * memory between transactions (nobody else appends to it) and follows its transactions
 * (db_tx_hook) so that a rolled-back row gives its seq back. */
#ifndef WARRANT_AUDIT_CHAIN_H
#define WARRANT_AUDIT_CHAIN_H
#include "../common/buf.h"
#include "../store/db.h"

#include <stdint.h>

#define CHAIN_ID_MAX 64 /* ID_MAX */
#define CHAIN_CLI "cli"
#define CHAIN_SERVER "server"
#define CHAIN_HASH_HEX 65 /* 64 hex digits and the NUL */
/* a row's canonical JSON is at most this long (details are capped far below it) */
#define CHAIN_ROW_MAX (2 << 20)

/* One row as the chain sees it; NULL or "" strings are absent (null). */
struct chain_row {
	const char *chain;
	int64_t seq;
	int64_t time_ms;
	const char *event, *actor, *agent_id, *owner_id, *run_id, *ws, *jti, *client_addr, *outcome, *request_id;
	const char *detail; /* canonical detail JSON; NULL: {} */
};

/* Makes the audit rows written on db go to chain id; own: the chain is this connection's
 * alone (the server's writer), so its head is kept between transactions. Without a call,
 * rows go to CHAIN_CLI, its head read in each transaction. 0, or -1 out of memory. */
int chain_attach(struct db *db, const char *id, int own);
/* This process is a server whose chain is id: the first connection that writes an audit
 * row (its writer; the server writes through nothing else) appends to it and keeps its
 * head in memory; any other connection appends to CHAIN_CLI. Call before the writer starts. */
void chain_serve(const char *id);
/* A fresh node chain id for a server on PostgreSQL ("node_" and 96 random bits), or
 * CHAIN_SERVER on SQLite, into out. */
void chain_node_id(enum db_engine engine, char out[CHAIN_ID_MAX]);

/* The link for the next row of db's chain, in the caller's write transaction: fills
 * r->chain and r->seq, points r->detail at its canonical form (valid until the next link on
 * db), and hash_hex with the row's hash. The chain is advanced; a rollback
 * of the row gives the seq back (db_tx_hook). 0, or -1 on a database error. */
int chain_link(struct db *db, struct chain_row *r, char hash_hex[CHAIN_HASH_HEX]);

/* Canonical JSON of r, appended to b. -1 when b fails. */
int chain_canonical(const struct chain_row *r, struct buf *b);
/* SHA-256(prev || canonical) as 32 bytes. */
void chain_hash(const unsigned char prev[32], const char *canon, size_t n, unsigned char out[32]);
/* The canonical form of the JSON text json[0..n) appended to out: 0, or -1 when json is
 * not well-formed enough to be rewritten (unterminated string, bad escape). */
int chain_canon_json(const char *json, size_t n, struct buf *out);
/* Hex and back: 0, or -1 when hex is not 64 hex digits. */
void chain_hex(const unsigned char h[32], char out[CHAIN_HASH_HEX]);
int chain_unhex(const char *hex, unsigned char h[32]);

/* The last seq and hash of chain as the database holds them (its rows, else its newest
 * checkpoint when retention removed them all, else 0 and zeros). 0 or -1. */
int chain_head_read(struct db *db, const char *chain, int64_t *seq, unsigned char hash[32]);
#endif
