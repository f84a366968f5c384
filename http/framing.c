/* framing.c - RFC 9112 message framing: refuses, before any routing or authentication,
 * requests whose body could be framed two ways (request smuggling). */
#include "conn.h"

#include <string.h>
#include <strings.h>

struct header_scan {
	int content_length, transfer_encoding, nul;
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
				   const char *value, size_t value_size)
{
	(void)kind;
	struct header_scan *hs = cls;
	if (key_size == 14 && strncasecmp(key, "Content-Length", 14) == 0)
		hs->content_length++;
	if (key_size == 17 && strncasecmp(key, "Transfer-Encoding", 17) == 0)
		hs->transfer_encoding++;
	if ((value && strlen(value) != value_size) || strlen(key) != key_size)
		hs->nul = 1;
	return MHD_YES;
}

int framing_check_headers(struct MHD_Connection *mc, const char *method, const char *version, struct framing *f)
{
	(void)method;
	(void)version;
	memset(f, 0, sizeof *f);
	/* RFC 9112 §6.3 and RFC 9110 §5.5: ambiguous framing or a NUL in a header is a bad
	 * request, answered and the connection closed (no request smuggling) */
	struct header_scan hs = {0, 0, 0};
	MHD_get_connection_values_n(mc, MHD_HEADER_KIND, scan_header, &hs);
	if (hs.content_length > 1 || (hs.content_length && hs.transfer_encoding) || hs.nul) {
		f->status = 400;
		f->why = hs.nul ? "a header holds a NUL byte" : "conflicting message framing";
		return -1;
	}
	return 0;
}

int framing_check_chunk(const struct framing *f, const char *upload, size_t window)
{
	(void)f;
	(void)upload;
	(void)window;
	return 0;
}
