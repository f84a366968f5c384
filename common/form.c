/* form.c - urlencoded form parsing; see form.h. */
#include "form.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t pct_decode(const char *in, size_t n, char *out, int plus_is_space)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			int h = hexval((unsigned char)in[i + 1]), l = hexval((unsigned char)in[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			c = (unsigned char)(h << 4 | l);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		if (c < 0x20 || c == 0x7f)
			return -2;
		out[o++] = (char)c;
	}
	return (ssize_t)o;
}

const char *form_err_text(enum form_err e)
{
	switch (e) {
	case FORM_OK: return "ok";
	case FORM_TOO_MANY: return "too many parameters";
	case FORM_TOO_LONG: return "a parameter is too long";
	case FORM_BAD_ESCAPE: return "malformed percent-encoding";
	case FORM_BAD_BYTE: return "control characters are not allowed";
	case FORM_NOMEM: return "out of memory";
	}
	return "malformed form";
}

enum form_err form_parse(const char *body, size_t n, struct form *f)
{
	memset(f, 0, sizeof *f);
	if (n == 0)
		return FORM_OK;
	f->arena = malloc(n);
	if (!f->arena)
		return FORM_NOMEM;
	f->arena_len = n;
	size_t used = 0, i = 0;
	while (i <= n) {
		size_t end = i;
		while (end < n && body[end] != '&')
			end++;
		if (end > i) {
			size_t eq = i;
			while (eq < end && body[eq] != '=')
				eq++;
			if (f->n == FORM_MAX_PARAMS)
				return FORM_TOO_MANY;
			size_t vstart = eq < end ? eq + 1 : end;
			if (eq - i > FORM_MAX_NAME * 3 || end - vstart > FORM_MAX_VALUE * 3)
				return FORM_TOO_LONG;
			char *nm = f->arena + used;
			ssize_t nl = pct_decode(body + i, eq - i, nm, 1);
			if (nl < 0)
				return nl == -1 ? FORM_BAD_ESCAPE : FORM_BAD_BYTE;
			used += (size_t)nl;
			char *vl = f->arena + used;
			ssize_t vn = pct_decode(body + vstart, end - vstart, vl, 1);
			if (vn < 0)
				return vn == -1 ? FORM_BAD_ESCAPE : FORM_BAD_BYTE;
			used += (size_t)vn;
			if ((size_t)nl > FORM_MAX_NAME || (size_t)vn > FORM_MAX_VALUE)
				return FORM_TOO_LONG;
			f->p[f->n].name = (slice){nm, (size_t)nl};
			f->p[f->n].value = (slice){vl, (size_t)vn};
			f->n++;
		}
		i = end + 1;
	}
	return FORM_OK;
}

int form_get1(const struct form *f, const char *name, slice *out)
{
	int found = 0;
	for (int i = 0; i < f->n; i++) {
		if (!slice_eq(f->p[i].name, name) || f->p[i].value.n == 0)
			continue;
		if (found)
			return -1;
		*out = f->p[i].value;
		found = 1;
	}
	return found;
}

int form_getall(const struct form *f, const char *name, slice *out, int max)
{
	int k = 0;
	for (int i = 0; i < f->n; i++)
		if (slice_eq(f->p[i].name, name) && f->p[i].value.n) {
			if (k < max)
				out[k] = f->p[i].value;
			k++;
		}
	return k;
}

const struct form_param *form_duplicate(const struct form *f, const char *except)
{
	for (int i = 0; i < f->n; i++) {
		if (f->p[i].value.n == 0 || slice_eq(f->p[i].name, except))
			continue;
		for (int j = i + 1; j < f->n; j++)
			if (f->p[j].value.n && f->p[j].name.n == f->p[i].name.n &&
			    memcmp(f->p[j].name.p, f->p[i].name.p, f->p[i].name.n) == 0)
				return &f->p[i];
	}
	return NULL;
}

void form_free(struct form *f)
{
	if (f->arena) {
		OPENSSL_cleanse(f->arena, f->arena_len);
		free(f->arena);
	}
	memset(f, 0, sizeof *f);
}
