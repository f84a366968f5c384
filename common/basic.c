/* basic.c - Basic credential parsing; see basic.h. */
#include "basic.h"

#include "codec.h"
#include "form.h"

#include <openssl/crypto.h>
#include <strings.h>

static ssize_t copy_plain(const unsigned char *in, size_t n, char *out)
{
	for (size_t k = 0; k < n; k++) {
		if (in[k] < 0x20 || in[k] == 0x7f)
			return -1;
		out[k] = (char)in[k];
	}
	return (ssize_t)n;
}

int basic_parse(const char *hdr, size_t n, int form_decoded, char id[BASIC_MAX_ID], char secret[BASIC_MAX_SECRET])
{
	unsigned char raw[BASIC_MAX_ENCODED];
	int rc = -1;
	id[0] = secret[0] = '\0';
	if (n < 6 || strncasecmp(hdr, "Basic ", 6) != 0)
		return 1;
	size_t i = 6;
	while (i < n && hdr[i] == ' ')
		i++;
	size_t end = n;
	while (end > i && hdr[end - 1] == ' ')
		end--;
	if (end == i || end - i > BASIC_MAX_ENCODED)
		goto done;
	ssize_t len = b64_decode(hdr + i, end - i, raw, sizeof raw);
	if (len <= 0)
		goto done;
	size_t colon = 0;
	while (colon < (size_t)len && raw[colon] != ':')
		colon++;
	if (colon == (size_t)len || colon == 0)
		goto done;
	size_t slen = (size_t)len - colon - 1;
	/* decoded output is never longer than its input */
	if (colon >= BASIC_MAX_ID || slen >= BASIC_MAX_SECRET)
		goto done;
	ssize_t a, b;
	if (form_decoded) {
		a = pct_decode((const char *)raw, colon, id, 1);
		b = pct_decode((const char *)raw + colon + 1, slen, secret, 1);
	} else {
		/* RFC 7617: taken as is, control bytes rejected */
		a = copy_plain(raw, colon, id);
		b = copy_plain(raw + colon + 1, slen, secret);
	}
	if (a <= 0 || b < 0)
		goto done;
	id[a] = '\0';
	secret[b] = '\0';
	rc = 0;
done:
	OPENSSL_cleanse(raw, sizeof raw);
	if (rc != 0) {
		OPENSSL_cleanse(id, BASIC_MAX_ID);
		OPENSSL_cleanse(secret, BASIC_MAX_SECRET);
		id[0] = secret[0] = '\0';
	}
	return rc;
}
