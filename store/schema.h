/* schema.h - the migrations that build the database, in each engine's dialect:
 * schema_sqlite[i] and schema_pg[i] bring the schema from version i to i + 1. */
#ifndef WARRANT_SCHEMA_H
#define WARRANT_SCHEMA_H
extern const char *const schema_sqlite[];
extern const char *const schema_pg[];
extern const int schema_version;
#endif
