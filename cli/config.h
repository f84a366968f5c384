/* config.h - `warrant serve` settings from a file and the environment.
 *
 * Precedence: command-line flags > WARRANT_* environment variables > the --config file >
 * built-in defaults. The file is "key = value" lines (keys are the long option names
 * without dashes, e.g. "listen = 127.0.0.1:8080"), '#' starts a comment; unknown keys are
 * errors. Environment variables are the key upper-cased with '-' as '_' and a WARRANT_
 * prefix (WARRANT_TOKEN_TTL=300). Flags (insecure-http, sync-full) take true or false. */
#ifndef WARRANT_CONFIG_H
#define WARRANT_CONFIG_H
#include "args.h"

/* The keys serve understands, and whether each takes no value (a flag). */
struct config_key {
	const char *name;
	int flag;
	int secret; /* masked by --check-config */
	const char *help;
};
extern const struct config_key config_keys[];

/* Adds to a the settings from the environment and from the file named by --config that
 * the command line did not give. Returns 0, or -1 with a message in err. */
int config_merge(struct args *a, char *err, unsigned errlen);
/* Where the value of key came from: "flag", "environment", "file" or "default". */
const char *config_source(const struct args *a, const char *key);
#endif
