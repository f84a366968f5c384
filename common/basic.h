/* basic.h - HTTP Basic credentials (RFC 7617), with the RFC 6749 §2.3.1 variant.
 *
 * basic_parse() takes the whole Authorization header value. With form_decoded set, id and
 * secret are form-urldecoded after base64 (OAuth client_secret_basic); without it they are
 * taken as UTF-8 (owners at /v1). Returns 0 on success, 1 when the header is not Basic at
 * all (another scheme), -1 when it is Basic but malformed. Outputs are NUL-terminated and
 * free of control bytes; the caller wipes them after use. */
#ifndef WARRANT_BASIC_H
#define WARRANT_BASIC_H
#include <stddef.h>

/* Room for what `owner add` accepts (authz/login.c checks it at compile time): an id or
 * email under 256 bytes, a secret or password under 1025 bytes, 2048 bytes of base64. */
#define BASIC_MAX_ID 256
#define BASIC_MAX_SECRET 1025
#define BASIC_MAX_ENCODED 2048

int basic_parse(const char *hdr, size_t n, int form_decoded, char id[BASIC_MAX_ID], char secret[BASIC_MAX_SECRET]);
#endif
