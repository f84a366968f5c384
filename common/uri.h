/* uri.h - the checks RFC 8707 asks of `resource` and that audiences must pass. */
#ifndef WARRANT_URI_H
#define WARRANT_URI_H
#include "slice.h"

#define URI_MAX 512

/* 1 when u is an absolute URI (RFC 3986 §4.3: scheme ":" hier-part) without a fragment,
 * printable ASCII only, at most URI_MAX bytes; else 0. */
int uri_absolute_no_fragment(slice u);
#endif
