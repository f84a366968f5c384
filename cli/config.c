/* config.c - merging the config file and WARRANT_* variables into the options; see config.h. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct config_key config_keys[] = {
	{"db", 0, 0, "database file"},
	{"key-file", 0, 0, "key-encryption key file (required on PostgreSQL)"},
	{"listen", 0, 0, "address:port to listen on"},
	{"issuer", 0, 0, "issuer URL"},
	{"audience", 0, 0, "default aud"},
	{"token-ttl", 0, 0, "access token lifetime, s"},
	{"leeway", 0, 0, "clock skew allowed for downstream, s"},
	{"jwks-max-age", 0, 0, "JWKS cache lifetime, s"},
	{"key-rotation", 0, 0, "seconds between key rotations (0 = never)"},
	{"threads", 0, 0, "listener threads (0 = one per core)"},
	{"max-body", 0, 0, "request body limit, bytes"},
	{"max-connections", 0, 0, "open connections in total"},
	{"max-per-ip", 0, 0, "open connections per client address (per thread)"},
	{"timeout", 0, 0, "seconds a connection may take to send a request or stay idle"},
	{"tls-cert", 0, 0, "PEM certificate"},
	{"tls-key", 0, 0, "PEM private key"},
	{"insecure-http", 1, 0, "allow plain HTTP on a non-loopback address"},
	{"sync-full", 1, 0, "fsync every commit (survives power loss)"},
	{"dpop-nonce", 1, 0, "DPoP proofs must carry the server's nonce (RFC 9449 §8)"},
	{"metrics-token", 0, 1, "bearer token for /metrics (else loopback only)"},
	{"owner-oidc-issuer", 0, 0, "owners' console sign-in: OpenID Connect provider"},
	{"owner-oidc-client-id", 0, 0, "owners' console sign-in: client id at the provider"},
	{"owner-oidc-client-secret-file", 0, 0, "owners' console sign-in: file of the client secret"},
	{"log-file", 0, 0, "request and event log (default stderr)"},
	{"log-level", 0, 0, "debug, info, warn or error"},
	{"audit-retention", 0, 0, "days of audit rows kept (0 = all; at least 2)"},
	{"wal-restart", 0, 0, "MiB of write-ahead log after which it starts over"},
	{"audit-checkpoint-interval", 0, 0, "seconds between signed audit checkpoints (1-60)"},
	{"audit-webhook", 0, 0, "URL the audit rows are POSTed to"},
	{"audit-webhook-secret-file", 0, 0, "file of the webhook's HMAC secret (mode 0600)"},
	{NULL, 0, 0, NULL},
};

static const struct config_key *key_of(const char *name, size_t n)
{
	for (const struct config_key *k = config_keys; k->name; k++)
		if (strlen(k->name) == n && strncmp(k->name, name, n) == 0)
			return k;
	return NULL;
}

static int given(const struct args *a, const char *name)
{
	size_t n = strlen(name);
	for (int i = 0; i < a->nopts; i++)
		if (strncmp(a->opt[i].name, name, n) == 0 && (a->opt[i].name[n] == '\0' || a->opt[i].name[n] == '='))
			return 1;
	return 0;
}

/* appends an option with its source; strings are kept for the life of the process */
static int add(struct args *a, const struct config_key *k, const char *value, int source, char *err, unsigned errlen)
{
	if (a->nopts == ARGS_MAX_OPTS) {
		snprintf(err, errlen, "too many settings");
		return -1;
	}
	if (k->flag) {
		if (strcmp(value, "true") && strcmp(value, "1") && strcmp(value, "false") && strcmp(value, "0")) {
			snprintf(err, errlen, "%s takes true or false", k->name);
			return -1;
		}
		if (!strcmp(value, "false") || !strcmp(value, "0"))
			return 0; /* off is the default */
		value = NULL;
	}
	/* values live as long as the process: kept here rather than allocated */
	static char store[ARGS_MAX_OPTS][512];
	if (value && strlen(value) >= sizeof store[0]) {
		snprintf(err, errlen, "%s: value too long", k->name);
		return -1;
	}
	if (value) {
		snprintf(store[a->nopts], sizeof store[0], "%s", value);
		value = store[a->nopts];
	}
	a->opt[a->nopts].name = k->name;
	a->opt[a->nopts].value = value;
	a->opt[a->nopts].source = source;
	a->nopts++;
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int config_merge(struct args *a, char *err, unsigned errlen)
{
	/* the environment */
	for (const struct config_key *k = config_keys; k->name; k++) {
		char var[64] = "WARRANT_";
		size_t j = 8;
		for (const char *p = k->name; *p && j < sizeof var - 1; p++)
			var[j++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
		var[j] = '\0';
		const char *v = getenv(var);
		if (v && *v && !given(a, k->name) && add(a, k, v, 1, err, errlen) < 0)
			return -1;
	}
	/* the file */
	const char *path = arg_opt(a, "config");
	if (!path)
		path = getenv("WARRANT_CONFIG");
	if (!path || !*path)
		return 0;
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot read config %s", path);
		return -1;
	}
	char line[1024];
	int lineno = 0, rc = 0;
	while (rc == 0 && fgets(line, sizeof line, f)) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%d: want key = value", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		char *key = trim(s), *val = trim(eq + 1);
		const struct config_key *k = key_of(key, strlen(key));
		if (!k) {
			snprintf(err, errlen, "%s:%d: unknown key '%.40s'", path, lineno, key);
			rc = -1;
			break;
		}
		/* a key given twice in the file: the last one wins, as on the command line */
		for (int i = 0; i < a->nopts; i++)
			if (a->opt[i].source == 2 && strcmp(a->opt[i].name, k->name) == 0)
				a->opt[i].name = "";
		if (!given(a, k->name) && add(a, k, val, 2, err, errlen) < 0)
			rc = -1;
	}
	fclose(f);
	return rc;
}

const char *config_source(const struct args *a, const char *key)
{
	size_t n = strlen(key);
	for (int i = 0; i < a->nopts; i++)
		if (strncmp(a->opt[i].name, key, n) == 0 && (a->opt[i].name[n] == '\0' || a->opt[i].name[n] == '='))
			return a->opt[i].source == 1 ? "environment" : a->opt[i].source == 2 ? "file" : "flag";
	return "default";
}
