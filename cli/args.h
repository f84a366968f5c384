/* args.h - command-line words and options: `warrant WORDS... [--opt VALUE | --flag]...`,
 * options in any order after the command words, `--opt=VALUE` accepted too. */
#ifndef WARRANT_ARGS_H
#define WARRANT_ARGS_H

#define ARGS_MAX_WORDS 8
#define ARGS_MAX_OPTS 32

struct args {
	const char *words[ARGS_MAX_WORDS];
	int nwords;
	struct {
		const char *name;  /* without the dashes */
		const char *value; /* NULL for a flag */
		int used;
		int source; /* 0 command line, 1 environment, 2 config file */
	} opt[ARGS_MAX_OPTS];
	int nopts;
};

/* Returns 0, or -1 with a message in err (>= 128 bytes). */
int args_parse(int argc, char **argv, struct args *a, char *err, unsigned errlen);
/* The value of --name, or NULL; marks it used. */
const char *arg_opt(struct args *a, const char *name);
int arg_flag(struct args *a, const char *name);
/* The first option the command did not ask for, or NULL. */
const char *args_unused(const struct args *a);
#endif
