/* readiness.h - whether this server can do its work now (GET /readyz): its database
 * answers and exactly one signing key is current. */
#ifndef WARRANT_READINESS_H
#define WARRANT_READINESS_H
#include "warrant.h"

/* 1 ready; 0 not ready, with *why a static reason. Reads through warrant_reader(). */
int readiness(struct warrant *w, const char **why);
#endif
