/* fuzz_agent_body.c - the JSON body of POST /v1/agents (clients/agent_body.c). */
#include "../../clients/agent_body.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_new n;
	struct oerr e;
	json_t *root = NULL;
	char verbs[AGENT_BODY_VERBS_MAX];
	memset(&n, 0, sizeof n);
	if (agent_body_parse((const char *)data, size, &root, &n, verbs, &e) == 0) {
		if (!n.name || !n.verbs || n.nws > AGENT_WS_MAX || strlen(verbs) >= AGENT_BODY_VERBS_MAX)
			abort();
	}
	json_decref(root);
	return 0;
}
