/* chain_cost.c - what live_check costs, apart from HTTP: a plain token against exchanged
 * tokens of depth 1 and 5 (SPEC "Delegation": the chain is checked at every use), once the
 * agents, owners, delegations and the chain are in the server's memory, as they are after
 * a token's first use. Prints nanoseconds per check. Run by bench/delegation.sh:
 *
 *   chain_cost DBFILE OWNER AGT0 AGT1 AGT2 AGT3 AGT4 AGT5
 *
 * with AGTi delegating to AGTi+1 (max_depth 5), all owned by OWNER and active. Built with
 * -DPLAIN_ONLY against the objects of a commit before delegation, it measures the plain
 * check there: the before/after of a plain token. */
#include "../token/live.h"

#include "../common/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECKS 1000000

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* A verified token as token/verify.c leaves it, for agent ids[0], exchanged depth times. */
static struct tok *make(const char *owner, char **ids, int depth, int64_t ms)
{
	struct tok *t = calloc(1, sizeof *t);
	if (!t)
		exit(1);
	snprintf(t->sub, sizeof t->sub, "%s", ids[0]);
	snprintf(t->owner_id, sizeof t->owner_id, "%s", owner);
	snprintf(t->run_id, sizeof t->run_id, "run-bench");
	jti_new(ms, t->jti);
	t->issued_ms = ms;
	t->iat = t->nbf = ms / 1000;
	t->exp = ms / 1000 + 300;
#ifdef PLAIN_ONLY
	(void)ids;
	(void)depth;
#else
	struct tok_chain *c = calloc(1, sizeof *c);
	if (!c)
		exit(1);
	t->depth = depth;
	for (int i = 0; i < depth; i++) {
		t->act_sub[i] = ids[depth - i];
		t->act_owner[i] = owner;
		jti_new(ms - 1, c->node[i].jti);
		c->node[i].issued_ms = ms - 1;
	}
	c->n = depth;
	atomic_store(&t->chain, depth ? c : NULL);
	if (!depth)
		free(c);
#endif
	return t;
}

int main(int argc, char **argv)
{
	if (argc < 9) {
		fprintf(stderr, "usage: chain_cost DBFILE OWNER AGT0 AGT1 AGT2 AGT3 AGT4 AGT5\n");
		return 2;
	}
	char err[256];
	struct warrant w;
	memset(&w, 0, sizeof w);
	w.leeway = 60;
	w.db = db_open(argv[1], DB_EXISTING, err, sizeof err);
	if (!w.db || live_init(w.db) < 0) {
		fprintf(stderr, "%s\n", w.db ? "live_init failed" : err);
		return 1;
	}
	int64_t ms = now_ms();
	const int depths[] = {0, 1, 5};
#ifdef PLAIN_ONLY
	for (int k = 0; k < 1; k++) {
#else
	for (int k = 0; k < 3; k++) {
#endif
		struct tok *t = make(argv[2], argv + 3, depths[k], ms);
		const char *why = NULL;
		if (live_check(&w, t, &why) != 1) { /* the first use loads the caches */
			fprintf(stderr, "depth %d: not active (%s)\n", depths[k], why ? why : "error");
			return 1;
		}
		double t0 = now_ns();
		int active = 0;
		for (int i = 0; i < CHECKS; i++)
			active += live_check(&w, t, &why);
		double dt = now_ns() - t0;
		printf("%s: %.0f ns per live_check (%d of %d active)\n",
		       depths[k] ? (depths[k] == 1 ? "exchanged, depth 1" : "exchanged, depth 5") : "plain",
		       dt / CHECKS, active, CHECKS);
		tok_release(t);
	}
	live_free();
	db_close(w.db);
	return 0;
}
