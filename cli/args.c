/* args.c - command-line parsing; see args.h. */
#include "args.h"

#include <stdio.h>
#include <string.h>

/* options that take no value */
static const char *const flags[] = {"json",  "org-visible", "password-stdin", "insecure-http", "help",   "check-config",
				    "force", "sync-full",   "dpop-nonce",     "discovery",     "follow", NULL};

static int is_flag(const char *n, size_t len)
{
	for (int i = 0; flags[i]; i++)
		if (strlen(flags[i]) == len && strncmp(flags[i], n, len) == 0)
			return 1;
	return 0;
}

int args_parse(int argc, char **argv, struct args *a, char *err, unsigned errlen)
{
	memset(a, 0, sizeof *a);
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (strncmp(s, "--", 2) != 0 || s[2] == '\0') {
			if (a->nwords == ARGS_MAX_WORDS) {
				snprintf(err, errlen, "too many arguments");
				return -1;
			}
			a->words[a->nwords++] = s;
			continue;
		}
		if (a->nopts == ARGS_MAX_OPTS) {
			snprintf(err, errlen, "too many options");
			return -1;
		}
		const char *name = s + 2, *eq = strchr(name, '=');
		size_t nl = eq ? (size_t)(eq - name) : strlen(name);
		a->opt[a->nopts].name = name;
		if (eq) {
			a->opt[a->nopts].value = eq + 1;
		} else if (!is_flag(name, nl)) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "option --%s needs a value", name);
				return -1;
			}
			a->opt[a->nopts].value = argv[++i];
		}
		a->nopts++;
	}
	return 0;
}

static int name_is(const char *opt, const char *name)
{
	size_t n = strlen(name);
	return strncmp(opt, name, n) == 0 && (opt[n] == '\0' || opt[n] == '=');
}

const char *arg_opt(struct args *a, const char *name)
{
	const char *v = NULL;
	for (int i = 0; i < a->nopts; i++)
		if (name_is(a->opt[i].name, name) && a->opt[i].value) {
			a->opt[i].used = 1;
			v = a->opt[i].value; /* the last one wins */
		}
	return v;
}

int arg_flag(struct args *a, const char *name)
{
	int on = 0;
	for (int i = 0; i < a->nopts; i++)
		if (name_is(a->opt[i].name, name) && !a->opt[i].value) {
			a->opt[i].used = 1;
			on = 1;
		}
	return on;
}

const char *args_unused(const struct args *a)
{
	for (int i = 0; i < a->nopts; i++)
		if (!a->opt[i].used)
			return a->opt[i].name;
	return NULL;
}
