/* codec.h - base64url, base64 and base32 encoders and strict decoders.
 * Decoders return the decoded length, or -1 on any malformed input or when out is too small. */
#ifndef WARRANT_CODEC_H
#define WARRANT_CODEC_H
#include <stddef.h>
#include <sys/types.h>

/* Unpadded base64url (RFC 4648 §5); out needs b64url_len(n)+1 bytes; NUL-terminates. */
size_t b64url_encode(const unsigned char *in, size_t n, char *out);
#define B64URL_LEN(n) (((n)*4 + 2) / 3)
ssize_t b64url_decode(const char *in, size_t n, unsigned char *out, size_t outcap);
/* Standard base64 with padding (RFC 4648 §4), as HTTP Basic uses it. */
ssize_t b64_decode(const char *in, size_t n, unsigned char *out, size_t outcap);
/* Lowercase base32 without padding (RFC 4648 §6 alphabet); NUL-terminates. */
size_t b32_encode(const unsigned char *in, size_t n, char *out);
#endif
