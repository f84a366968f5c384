/* sealed.h - server secrets in the database under the key-encryption key (common/kek.h).
 *
 * A database whose secrets are sealed holds the settings row KEK_CHECK_SETTING: a known
 * value sealed under its KEK, so a process given another key (or none) is refused at start
 * instead of reading garbage. A database without that row keeps its secrets in the clear
 * (SQLite initialised without --key-file). */
#ifndef WARRANT_SEALED_H
#define WARRANT_SEALED_H
#include "db.h"

#include <stddef.h>

#define KEK_CHECK_SETTING "kek_check"

/* Whether db's secrets are sealed: 1 sealed, 0 in the clear, -1 when it cannot be read. */
int sealed_db(struct db *db);
/* Checks that this process holds the KEK db's secrets are sealed under, or holds none when
 * they are in the clear. 0, or -1 with a one-line reason in err naming what to do. */
int sealed_check(struct db *db, char *err, size_t errlen);
/* Writes the check row for the loaded KEK (init, inside its transaction). 0 or -1. */
int sealed_mark(struct db *db);
/* A setting sealed for purpose when this process holds a KEK, in the clear otherwise. */
int sealed_setting_put(struct db *db, const char *key, const char *purpose, const void *val, int len);
/* Reads a setting written by sealed_setting_put into out (cap bytes): its plain length, or
 * -1 when it is missing, larger than cap, or not in the form the loaded KEK (or its
 * absence) expects. */
int sealed_setting_get(struct db *db, const char *key, const char *purpose, void *out, int cap);
#endif
