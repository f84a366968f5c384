/* changes.h - the change log: every change of live state, written as a row of
 * state_changes in the same transaction as the change itself.
 *
 * A server keeps live state and caches in memory and stays exact by applying these rows in
 * order (token/live.c): its own writer's right after each commit, other processes' (the
 * command line) by a poll. Domain modules only note changes here; they never depend on the
 * module that follows the log. */
#ifndef WARRANT_CHANGES_H
#define WARRANT_CHANGES_H
#include "db.h"

#include <stdint.h>

/* Kinds of state_changes rows. */
#define CHANGE_JTI "jti"              /* a = jti, b = agent, n = exp (s) */
#define CHANGE_RUN "run"              /* a = agent, b = run */
#define CHANGE_CRED "cred"            /* a = credential, b = agent */
#define CHANGE_AGENT "agent"          /* a = agent: status, kill time, grant or limits changed */
#define CHANGE_OWNER "owner"          /* a = owner: status changed */
#define CHANGE_ACCESS "access"        /* memberships or workspaces changed */
#define CHANGE_KEYS "keys"            /* signing keys changed */
#define CHANGE_ACCESS_ADDED "access+" /* access grew (a member added, a workspace opened) */
#define CHANGE_RESOURCE "resource"    /* a = a resource server's audience, b = its id */
/* a = a resource server's id, b = its audience (NULL: none): its secret was rotated, or it
 * was disabled or enabled; n = 1 when b is, after the change, the audience of an active
 * resource server (this one or another), 0 when of none */
#define CHANGE_RESOURCE_STATE "resource~"
#define CHANGE_DELEGATION "deleg" /* a = the delegating agent, b = its delegate: added, changed or removed */

/* Records a change inside the caller's transaction. 0 or -1. */
int change_note(struct db *db, const char *kind, const char *a, const char *b, int64_t n);
/* The last change's number (0 when none), or -1 on a database error. */
int64_t changes_head(struct db *db);

/* The head as the caller's write transaction (db_begin) sees it: read once, and again only
 * after a change is noted in it, since no other process commits while it holds the writer
 * lock. -1 on error. */
int64_t changes_head_in_tx(struct db *db);

/* The process that follows the log (a server) registers how it catches up and how far it
 * has applied the log; NULLs unset. */
void changes_set_follower(int (*catch_up)(struct db *db), int64_t (*seen)(void));
/* How far this process has applied the log (0 when nothing follows it). Read it before a
 * look at state that may end in a refusal, and hand it to changes_catch_up. */
int64_t changes_seen(void);
/* Applies changes other processes committed that this process has not applied yet. Returns
 * 1 when this process's state moved past seen (changes_seen() before the look) - applied
 * now, or meanwhile by another thread (the poll, a listener): the look is worth repeating
 * -, 0 when it did not (or nothing follows the log: the command line reads the database
 * directly), -1 on error. Called before refusing on state that may be stale: a client
 * whose secret was just rotated elsewhere. */
int changes_catch_up(struct db *db, int64_t seen);
#endif
