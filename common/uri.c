/* uri.c - absolute-URI checks; see uri.h. */
#include "uri.h"

static int alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

int uri_absolute_no_fragment(slice u)
{
	if (u.n == 0 || u.n > URI_MAX || !alpha((unsigned char)u.p[0]))
		return 0;
	size_t i = 1;
	while (i < u.n && (alpha((unsigned char)u.p[i]) || (u.p[i] >= '0' && u.p[i] <= '9') || u.p[i] == '+' ||
			   u.p[i] == '-' || u.p[i] == '.'))
		i++;
	if (i == u.n || u.p[i] != ':' || i + 1 == u.n)
		return 0;
	for (size_t k = i + 1; k < u.n; k++) {
		unsigned char c = (unsigned char)u.p[k];
		if (c <= 0x20 || c >= 0x7f || c == '#' || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' ||
		    c == '`' || c == '{' || c == '|' || c == '}')
			return 0;
	}
	return 1;
}
