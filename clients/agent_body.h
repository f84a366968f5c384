/* agent_body.h - the JSON body of POST /v1/agents:
 * {"name": string, "verbs": [string], "workspaces": [string], "per_minute": n, "per_day": n,
 *  "jwk": {...}}; with "jwk" the agent is created with that public key and no secret. */
#ifndef WARRANT_AGENT_BODY_H
#define WARRANT_AGENT_BODY_H
#include "agents.h"

#include <jansson.h>

#define AGENT_BODY_VERBS_MAX (VERBSET_MAX * 2)

/* Parses body into n (name, verbs, workspaces, limits; "jwk", when present, is an object
 * left in *root for the caller to serialize into n->jwk). Strings point into *root, which the
 * caller releases with json_decref() after using n. verbs (AGENT_BODY_VERBS_MAX bytes)
 * receives the space-separated list. Returns 0, or -1 with a 400 in e. */
int agent_body_parse(const char *body, size_t len, json_t **root, struct agent_new *n, char *verbs, struct oerr *e);
#endif
