/* schema.h - the migrations that build the database, keyed by PRAGMA user_version. */
#ifndef WARRANT_SCHEMA_H
#define WARRANT_SCHEMA_H
extern const char *const schema_migrations[];
extern const int schema_version;
#endif
