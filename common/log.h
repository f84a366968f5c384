/* log.h - structured logs: one JSON object per line, on stderr or a file.
 *
 * Lines are buffered and written by whoever fills the buffer or by log_flush() (the
 * housekeeping thread calls it four times a second), so logging costs a request a copy,
 * not a system call. Nothing secret may be passed in: callers log ids, never secrets or
 * tokens. log_reopen() (SIGHUP) reopens the file after rotation by logrotate. */
#ifndef WARRANT_LOG_H
#define WARRANT_LOG_H
#include <stdarg.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* path NULL or "" or "-": stderr. Returns 0 or -1 (cannot open). */
int log_open(const char *path, enum log_level level);
int log_level_parse(const char *s, enum log_level *out);
int log_enabled(enum log_level level);
/* Writes {"time":"...","level":"...","msg":MSG, FIELDS...}. fields_fmt produces the rest of
 * the object's members, starting with a comma (or ""); values must be JSON-escaped already. */
void log_event(enum log_level level, const char *msg, const char *fields_fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_flush(void);
int log_reopen(void);
void log_close(void);
#endif
