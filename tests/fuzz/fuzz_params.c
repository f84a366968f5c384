/* fuzz_params.c - run ids, resource URIs, base64 decoders, time and number arguments. */
#include "../../common/codec.h"
#include "../../common/timeutil.h"
#include "../../common/uri.h"
#include "../../token/issue.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	slice s = {(const char *)data, size};
	run_id_valid(s);
	uri_absolute_no_fragment(s);
	unsigned char out[4096];
	ssize_t n = b64url_decode((const char *)data, size, out, sizeof out);
	if (n > (ssize_t)sizeof out)
		abort();
	b64_decode((const char *)data, size, out, sizeof out);
	char *z = malloc(size + 1);
	if (z) {
		memcpy(z, data, size);
		z[size] = '\0';
		int64_t v;
		parse_time_arg(z, &v);
		parse_i64(z, INT64_MIN + 1, INT64_MAX, &v);
		free(z);
	}
	return 0;
}
