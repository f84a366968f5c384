/* fuzz_form.c - form bodies and percent-decoding (common/form.c). */
#include "../../common/form.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct form f;
	if (form_parse((const char *)data, size, &f) == FORM_OK) {
		slice v, all[8];
		form_get1(&f, "grant_type", &v);
		form_get1(&f, "scope", &v);
		form_getall(&f, "resource", all, 8);
		form_duplicate(&f, "resource");
		for (int i = 0; i < f.n; i++) /* every decoded byte is printable or >= 0x80 */
			for (size_t k = 0; k < f.p[i].value.n; k++)
				if ((unsigned char)f.p[i].value.p[k] < 0x20 || f.p[i].value.p[k] == 0x7f)
					abort();
	}
	form_free(&f);
	char *out = malloc(size + 1);
	if (out) {
		ssize_t n = pct_decode((const char *)data, size, out, 1);
		if (n > (ssize_t)size)
			abort();
		free(out);
	}
	return 0;
}
