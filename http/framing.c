/* framing.c - RFC 9112 message framing and field syntax: refuses, before any routing or
 * authentication, every request that a front proxy and this server could read as
 * different requests (request smuggling).
 *
 * libmicrohttpd 0.9.75 parses the header section itself and is lenient: it keeps
 * whitespace before a colon in the field name ("Content-Length " is then no framing
 * header to it), appends an obs-fold continuation to the field *name*, ends a value at a
 * NUL, keeps a bare CR in a value, and skips chunk extensions unseen. What it hands over
 * is checked here: the field list, and where it keeps the fields. It parses the section
 * in place: every name and value points into one block that starts at the method and is
 * MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE bytes long, with each line end, colon and
 * request-line space turned into NUL. So a value must end exactly where its line ends,
 * and a name must sit where its line begins; a folded line or a NUL inside a value
 * breaks that. docs/security.md lists what stays with a front proxy. */
#include "conn.h"

#include <string.h>
#include <strings.h>

/* the in-place layout checks hold for the libmicrohttpd release they were written for */
#define FRAMING_LAYOUT_CHECKS (MHD_VERSION == 0x00097500)

struct field_scan {
	const char *block, *block_end; /* the header section as MHD keeps it; NULL: unknown */
	const char *next;              /* where the next field line may begin; NULL: anywhere */
	int host, authorization, content_length, content_type, transfer_encoding;
	const char *te; /* the Transfer-Encoding value */
	const char *why;
};

/* RFC 9110 §5.6.2: tchar */
static int is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
		return 1;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 9110 §5.5: field-vchar / SP / HTAB; obs-text (0x80-0xFF) is let through */
static int is_field_byte(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

static int name_is(const char *key, size_t ks, const char *name)
{
	size_t n = strlen(name);
	return ks == n && strncasecmp(key, name, n) == 0;
}

/* The field's place in the block: its name starts where the previous line ended, the
 * value follows the colon and optional whitespace, and nothing hides after the value. */
static const char *layout_error(struct field_scan *s, const char *key, size_t ks, const char *value, size_t vs)
{
	if (key < s->block || key >= s->block_end || (s->next && key != s->next && key != s->next + 1))
		return s->next && key > s->next + 1 && key < s->block_end ? "a header field value holds a NUL byte"
									  : "obsolete line folding in a header field";
	if (s->next && key == s->next + 1 && s->next[0] != '\0')
		return "a header field value holds a NUL byte";
	const char *v = key + ks + 1; /* past the colon (now NUL) */
	while (v < value && v < s->block_end && (*v == ' ' || *v == '\t'))
		v++;
	if (v != value || value + vs >= s->block_end)
		return "obsolete line folding in a header field";
	/* value + vs is its line end (NUL); the next line starts after a CR LF or a bare LF */
	s->next = value + vs + 1;
	return NULL;
}

static enum MHD_Result scan_field(void *cls, enum MHD_ValueKind kind, const char *key, size_t ks, const char *value,
				  size_t vs)
{
	(void)kind;
	struct field_scan *s = cls;
	if (!value) {
		value = "";
		vs = 0;
	}
	/* RFC 9112 §5.1: no whitespace between name and colon; RFC 9112 §2.2: a bare CR */
	int ok = key && ks > 0 && strlen(key) == ks;
	for (size_t i = 0; ok && i < ks; i++)
		ok = is_tchar((unsigned char)key[i]);
	if (!ok) {
		s->why = "malformed header field name";
		return MHD_NO;
	}
	if (strlen(value) != vs) {
		s->why = "a header field value holds a NUL byte";
		return MHD_NO;
	}
	for (size_t i = 0; i < vs; i++)
		if (!is_field_byte((unsigned char)value[i])) {
			s->why = "a header field value holds a control character";
			return MHD_NO;
		}
	if (s->block && (s->why = layout_error(s, key, ks, value, vs)) != NULL)
		return MHD_NO;
	s->host += name_is(key, ks, "Host");
	s->authorization += name_is(key, ks, "Authorization");
	s->content_length += name_is(key, ks, "Content-Length");
	s->content_type += name_is(key, ks, "Content-Type");
	if (name_is(key, ks, "Transfer-Encoding")) {
		s->transfer_encoding++;
		s->te = value;
	}
	return MHD_YES;
}

/* After the last field line only the blank line may follow: one or two line ends, each
 * CR LF or LF, all NUL by now. */
static int tail_ok(const struct field_scan *s)
{
	if (!s->block || !s->next)
		return 1;
	const char *p = s->next - 1; /* the last line's end */
	size_t left = (size_t)(s->block_end - p);
	if (left < 2 || left > 4)
		return 0;
	for (size_t i = 0; i < left; i++)
		if (p[i] != '\0')
			return 0;
	return 1;
}

/* The last transfer coding of a Transfer-Encoding value is chunked. */
static int ends_chunked(const char *te)
{
	const char *last = strrchr(te, ',');
	last = last ? last + 1 : te;
	while (*last == ' ' || *last == '\t')
		last++;
	size_t n = strlen(last);
	while (n && (last[n - 1] == ' ' || last[n - 1] == '\t'))
		n--;
	return n == 7 && strncasecmp(last, "chunked", 7) == 0;
}

static int refuse(struct framing *f, int status, const char *why)
{
	f->status = status;
	f->why = why;
	return -1;
}

/* RFC 9112 §6.1, §6.3: one way to find where the body ends, and only one. */
static int framing_of(const struct field_scan *s, const char *version, struct framing *f)
{
	if (s->content_length > 1 || (s->content_length && s->transfer_encoding))
		return refuse(f, 400, "conflicting message framing");
	if (!s->transfer_encoding)
		return 0;
	if (s->transfer_encoding > 1 || strcmp(version, MHD_HTTP_VERSION_1_0) == 0)
		return refuse(f, 400, "conflicting message framing");
	if (strcasecmp(s->te, "chunked") != 0)
		/* a coding this server does not know, before chunked, is 501; chunked not last is 400 */
		return ends_chunked(s->te) ? refuse(f, 501, "unsupported transfer coding")
					   : refuse(f, 400, "chunked must be the final transfer coding");
	f->chunked = 1;
	return 0;
}

int framing_check_headers(struct MHD_Connection *mc, const char *method, const char *version, struct framing *f)
{
	struct field_scan s;
	memset(&s, 0, sizeof s);
	memset(f, 0, sizeof *f);
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (FRAMING_LAYOUT_CHECKS && ci && method) {
		s.block = method;
		s.block_end = method + ci->header_size;
		f->body_start = s.block_end;
		/* the first field line starts where the request line ends */
		if (version && version > method && version < s.block_end)
			s.next = version + strlen(version) + 1;
	}
	MHD_get_connection_values_n(mc, MHD_HEADER_KIND, scan_field, &s);
	if (s.why)
		return refuse(f, 400, s.why);
	if (!tail_ok(&s))
		return refuse(f, 400, "a header field value holds a NUL byte");
	/* RFC 9112 §3.2: more than one Host is 400; RFC 9110 §5.3: fields that are no lists
	 * appear once, or which one counts is a guess */
	if (s.host > 1)
		return refuse(f, 400, "more than one Host header");
	if (s.authorization > 1)
		return refuse(f, 400, "more than one Authorization header");
	if (s.content_type > 1)
		return refuse(f, 400, "more than one Content-Type header");
	return framing_of(&s, version ? version : "", f);
}

/* RFC 9112 §7.1.1: chunk-size [ chunk-ext ] CRLF, where an extension is tokens, '=',
 * quoted strings and whitespace: never a NUL, a bare CR or another control byte.
 *
 * libmicrohttpd skips extensions without handing them over. When it hands over the
 * start of a chunk, that chunk's size line is still in its buffer, just before the data
 * and after body_start (the data of a chunk that continues has nothing before it). The
 * last line before upload is checked when it is a size line; 0 fine, -1 refused. */
int framing_check_chunk(const struct framing *f, const char *upload, size_t window)
{
	/* beyond window (the connection's memory) the data cannot be in the same buffer */
	if (!f->chunked || !f->body_start || upload <= f->body_start || (size_t)(upload - f->body_start) > window ||
	    upload[-1] != '\n')
		return 0;
	const char *end = upload - 1; /* the LF */
	if (end > f->body_start && end[-1] == '\r')
		end--;
	const char *line = end;
	while (line > f->body_start && line[-1] != '\n')
		line--;
	const char *p = line;
	while (p < end && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
		p++;
	if (p == line)
		return 0; /* no size line in view */
	for (; p < end; p++)
		if (!is_field_byte((unsigned char)*p))
			return -1;
	return 0;
}
