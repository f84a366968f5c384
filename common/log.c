/* log.c - buffered JSON-lines logging; see log.h. */
#include "log.h"

#include "timeutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define LOG_BUF (256 * 1024)
#define LOG_LINE_MAX 2048

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char buf[LOG_BUF];
static size_t used;
static int fd = 2;
static char path_copy[4096];
static enum log_level min_level = LOG_INFO;

int log_level_parse(const char *s, enum log_level *out)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

static int open_path(void)
{
	if (!path_copy[0])
		return 2;
	/* O_NOFOLLOW: a symbolic link planted at the path must not redirect the log */
	return open(path_copy, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
}

int log_open(const char *path, enum log_level level)
{
	min_level = level;
	snprintf(path_copy, sizeof path_copy, "%s", path && strcmp(path, "-") ? path : "");
	int f = open_path();
	if (f < 0)
		return -1;
	fd = f;
	return 0;
}

int log_enabled(enum log_level level) { return level >= min_level; }

static void flush_locked(void)
{
	size_t off = 0;
	while (off < used) {
		ssize_t n = write(fd, buf + off, used - off);
		if (n <= 0)
			break; /* a log that cannot be written must not stop the server */
		off += (size_t)n;
	}
	used = 0;
}

void log_event(enum log_level level, const char *msg, const char *fields_fmt, ...)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	if (level < min_level)
		return;
	char line[LOG_LINE_MAX];
	struct timeval tv;
	gettimeofday(&tv, NULL);
	char t[32];
	rfc3339((int64_t)tv.tv_sec * 1000, t);
	t[19] = '\0'; /* drop the Z: milliseconds follow */
	int n = snprintf(line, sizeof line, "{\"time\":\"%s.%03dZ\",\"level\":\"%s\",\"msg\":\"%s\"", t,
			 (int)(tv.tv_usec / 1000), names[level], msg);
	va_list ap;
	va_start(ap, fields_fmt);
	if (n > 0 && (size_t)n < sizeof line)
		n += vsnprintf(line + n, sizeof line - (size_t)n, fields_fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line - 2)
		n = (int)sizeof line - 3; /* cut, still one line */
	line[n++] = '}';
	line[n++] = '\n';
	pthread_mutex_lock(&mu);
	if (used + (size_t)n > sizeof buf)
		flush_locked();
	memcpy(buf + used, line, (size_t)n);
	used += (size_t)n;
	if (level >= LOG_WARN || used > sizeof buf / 2)
		flush_locked();
	pthread_mutex_unlock(&mu);
}

void log_flush(void)
{
	pthread_mutex_lock(&mu);
	flush_locked();
	pthread_mutex_unlock(&mu);
}

int log_reopen(void)
{
	pthread_mutex_lock(&mu);
	flush_locked();
	int rc = 0;
	if (path_copy[0]) {
		int f = open_path();
		if (f >= 0) {
			if (fd != 2)
				close(fd);
			fd = f;
		} else {
			rc = -1;
		}
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

void log_close(void)
{
	pthread_mutex_lock(&mu);
	flush_locked();
	if (fd != 2)
		close(fd);
	fd = 2;
	pthread_mutex_unlock(&mu);
}
