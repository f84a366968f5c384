/* fuzz_basic.c - the HTTP Basic credential parser, both variants (common/basic.c). */
#include "../../common/basic.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[BASIC_MAX_ID], secret[BASIC_MAX_SECRET];
	for (int mode = 0; mode < 2; mode++) {
		if (basic_parse((const char *)data, size, mode, id, secret) == 0) {
			if (!id[0] || strlen(id) >= BASIC_MAX_ID || strlen(secret) >= BASIC_MAX_SECRET)
				abort();
		}
	}
	return 0;
}
