/* readiness.c - the readiness check behind GET /readyz; see readiness.h. */
#include "readiness.h"

#include "../keys/schedule.h"

int readiness(struct warrant *w, const char **why)
{
	struct db *db = warrant_reader(w);
	int current = db ? key_current_count(db) : -1;
	if (current < 0) {
		*why = "database unavailable";
		return 0;
	}
	if (current != 1) {
		*why = "no current signing key";
		return 0;
	}
	*why = "";
	return 1;
}
