/* agent_body.c - parsing POST /v1/agents; see agent_body.h. */
#include "agent_body.h"

#include <string.h>

#define BAD(...)                                                  \
	do {                                                      \
		oerr_set(e, 400, "invalid_request", __VA_ARGS__); \
		return -1;                                        \
	} while (0)

int agent_body_parse(const char *body, size_t len, json_t **root, struct agent_new *n, char *verbs, struct oerr *e)
{
	json_error_t je;
	verbs[0] = '\0';
	*root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(*root))
		BAD("the body must be a JSON object");
	json_t *name = json_object_get(*root, "name"), *vs = json_object_get(*root, "verbs"),
	       *wss = json_object_get(*root, "workspaces"), *pm = json_object_get(*root, "per_minute"),
	       *pd = json_object_get(*root, "per_day");
	const char *key;
	json_t *val;
	json_object_foreach(*root, key, val)
	{
		if (strcmp(key, "name") && strcmp(key, "verbs") && strcmp(key, "workspaces") &&
		    strcmp(key, "per_minute") && strcmp(key, "per_day") && strcmp(key, "jwk"))
			BAD("unknown member \"%.40s\"", key);
	}
	json_t *jwk = json_object_get(*root, "jwk");
	if (jwk && !json_is_object(jwk))
		BAD("jwk must be a JSON object: one public JWK");
	if (!json_is_string(name) || !json_is_array(vs) || (wss && !json_is_array(wss)))
		BAD("want {\"name\": string, \"verbs\": [string], \"workspaces\": [string]}");
	size_t used = 0;
	for (size_t i = 0; i < json_array_size(vs); i++) {
		json_t *v = json_array_get(vs, i);
		size_t l = json_is_string(v) ? json_string_length(v) : 0;
		if (!l || memchr(json_string_value(v), ' ', l) || strlen(json_string_value(v)) != l ||
		    used + l + 2 >= AGENT_BODY_VERBS_MAX)
			BAD("verbs must be non-empty strings without spaces, at most 64 of them");
		if (used)
			verbs[used++] = ' ';
		memcpy(verbs + used, json_string_value(v), l);
		used += l;
		verbs[used] = '\0';
	}
	n->nws = 0;
	for (size_t i = 0; wss && i < json_array_size(wss); i++) {
		json_t *v = json_array_get(wss, i);
		if (!json_is_string(v) || n->nws == AGENT_WS_MAX)
			BAD("workspaces must be ws_ ids, at most %d", AGENT_WS_MAX);
		n->workspaces[n->nws++] = json_string_value(v);
	}
	if ((pm && (!json_is_integer(pm) || json_integer_value(pm) < 0 || json_integer_value(pm) > 1000000000)) ||
	    (pd && (!json_is_integer(pd) || json_integer_value(pd) < 0 || json_integer_value(pd) > 1000000000)))
		BAD("per_minute and per_day are whole numbers from 0 to 1000000000");
	n->per_minute = pm ? json_integer_value(pm) : 0;
	n->per_day = pd ? json_integer_value(pd) : 0;
	n->name = json_string_value(name);
	if (strlen(n->name) != json_string_length(name))
		BAD("name must not contain NUL");
	n->verbs = verbs;
	return 0;
}
