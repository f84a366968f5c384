/* timeutil.c - clocks and time formats; see timeutil.h. */
#include "timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *rfc3339(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *v)
{
	if (!s || !*s)
		return -1;
	int neg = 0;
	if (*s == '-') {
		neg = 1;
		s++;
	}
	if (!*s)
		return -1;
	int64_t acc = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (acc > (INT64_MAX - (*s - '0')) / 10)
			return -1;
		acc = acc * 10 + (*s - '0');
	}
	if (neg)
		acc = -acc;
	if (acc < min || acc > max)
		return -1;
	*v = acc;
	return 0;
}

int parse_time_arg(const char *s, int64_t *ms)
{
	size_t n = strlen(s);
	if (n >= 2 && n < 16 && strchr("smhd", s[n - 1]) && s[0] >= '0' && s[0] <= '9') {
		char num[16];
		memcpy(num, s, n - 1);
		num[n - 1] = 0;
		int64_t v;
		if (parse_i64(num, 0, 100000000, &v) < 0)
			return -1;
		int64_t mul = s[n - 1] == 's' ? 1000 : s[n - 1] == 'm' ? 60000 : s[n - 1] == 'h' ? 3600000 : 86400000;
		*ms = now_ms() - v * mul;
		return 0;
	}
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end) {
		memset(&tm, 0, sizeof tm);
		end = strptime(s, "%Y-%m-%d", &tm);
		if (!end || *end)
			return -1;
	} else {
		if (*end == '.') { /* fractional seconds: ignored */
			end++;
			while (*end >= '0' && *end <= '9')
				end++;
		}
		if (strcmp(end, "Z") != 0 && strcmp(end, "+00:00") != 0 && *end != '\0')
			return -1;
	}
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*ms = (int64_t)t * 1000;
	return 0;
}
