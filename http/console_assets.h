/* console_assets.h - the console's static files (console/), embedded into the binary at
 * build time by scripts/embed-assets.py: nothing is read from disk or the network. */
#ifndef WARRANT_CONSOLE_ASSETS_H
#define WARRANT_CONSOLE_ASSETS_H
#include <stddef.h>

struct console_asset {
	const char *name;  /* file name, e.g. "app.js" */
	const char *ctype; /* Content-Type */
	const unsigned char *data;
	size_t len;
	const char *etag; /* a quoted strong validator of the content */
};
extern const struct console_asset console_assets[];
extern const int console_nassets;
#endif
