/* log.c - level-filtered, one-line-per-event logging to stderr, syslog or
 * journald.  Never allocates: a line is formatted into a stack buffer. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "utf8.h"

#define LOG_LINE_MAX 2048

enum log_level log_current_level = LOG_LEVEL_INFO;
static enum log_target log_target = LOG_TARGET_STDERR;
static bool log_stderr_gone;     /* see log_detach_stderr() */
static const char *log_ident = "dirsync";

static const char *const log_level_names[] = {
	[LOG_LEVEL_FATAL] = "fatal",
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

/* syslog(3) priorities, which are also journald's "<N>" prefixes
 * (sd-daemon(3)). */
static const int log_level_prio[] = {
	[LOG_LEVEL_FATAL] = LOG_CRIT,
	[LOG_LEVEL_ERROR] = LOG_ERR,
	[LOG_LEVEL_WARNING] = LOG_WARNING,
	[LOG_LEVEL_INFO] = LOG_INFO,
	[LOG_LEVEL_DEBUG] = LOG_DEBUG,
};

void
log_init(const char *ident)
{
	log_ident = ident;
	log_set_target(LOG_TARGET_AUTO);
}

void
log_set_level(enum log_level level)
{
	log_current_level = level;
}

void
log_set_target(enum log_target target)
{
	if (target == LOG_TARGET_AUTO)
		target = getenv("JOURNAL_STREAM") != NULL ? LOG_TARGET_JOURNAL
		                                          : LOG_TARGET_STDERR;
	if (log_stderr_gone && (target == LOG_TARGET_STDERR ||
	    target == LOG_TARGET_JOURNAL))
		target = LOG_TARGET_SYSLOG;
	if (target == LOG_TARGET_SYSLOG && log_target != LOG_TARGET_SYSLOG)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (target != LOG_TARGET_SYSLOG && log_target == LOG_TARGET_SYSLOG)
		closelog();
	log_target = target;
}

void
log_detach_stderr(void)
{
	log_stderr_gone = true;
	log_set_target(log_target);
}

enum log_target
log_get_target(void)
{
	return log_target;
}

int
log_level_parse(const char *name)
{
	for (size_t i = LOG_LEVEL_ERROR; i < DS_ARRAY_SIZE(log_level_names); i++)
		if (strcmp(name, log_level_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	if ((size_t)level >= DS_ARRAY_SIZE(log_level_names))
		return "unknown";
	return log_level_names[level];
}

/* Append src to buf[*len], escaping control characters so that a message
 * carrying text from outside (an LDAP error, a SQL error) stays one line. */
static void
log_append_escaped(char *buf, size_t size, size_t *len, const char *src)
{
	const unsigned char *p = (const unsigned char *)src;

	while (*p) {
		char tmp[5];
		size_t n, seq = 1;

		if (*p == '\n') {
			memcpy(tmp, "\\n", 3);
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(tmp, sizeof(tmp), "\\x%02x", *p);
		} else if (*p < 0x80) {
			tmp[0] = (char)*p;
			tmp[1] = '\0';
		} else if ((seq = utf8_char_len(p, strnlen((const char *)p, 4))) > 0) {
			memcpy(tmp, p, seq);
			tmp[seq] = '\0';
		} else {
			/* Not UTF-8 (a server's error text, a DN): shown, not
			 * passed on. */
			snprintf(tmp, sizeof(tmp), "\\x%02x", *p);
			seq = 1;
		}
		n = strlen(tmp);
		/* When it does not fit, fill the buffer with what does: the
		 * line stays a prefix and later appends find no room
		 * (log_format_line() then drops a character cut in half). */
		if (*len + n >= size)
			n = size - 1 - *len;
		memcpy(buf + *len, tmp, n);
		*len += n;
		p += seq;
		if (*len == size - 1)
			break;
	}
	buf[*len] = '\0';
}

/* A line cut to its buffer may end in part of a character: drop that
 * part.  Everything else in the line is ASCII or whole characters, and
 * a line that is not UTF-8 is shown by the journal as a blob. */
static size_t
log_trim_cut_char(char *buf, size_t len)
{
	size_t i = len;

	while (i > 0 && len - i < 3 && ((unsigned char)buf[i - 1] & 0xc0) == 0x80)
		i--;
	if (i > 0 && (unsigned char)buf[i - 1] >= 0xc0 &&
	    utf8_char_len(buf + i - 1, len - (i - 1)) != len - (i - 1)) {
		len = i - 1;
		buf[len] = '\0';
	}
	return len;
}

static void
log_append(char *buf, size_t size, size_t *len, const char *fmt, ...)
    DS_PRINTF(4, 5);

static void
log_append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len >= size - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n < size - *len ? (size_t)n : size - *len - 1;
}

size_t
log_format_line(char *buf, size_t size, enum log_target target,
    enum log_level level, const char *obj, const char *msg,
    const char *timestamp)
{
	size_t len = 0;

	if (size == 0)
		return 0;
	buf[0] = '\0';
	if (target == LOG_TARGET_JOURNAL)
		log_append(buf, size, &len, "<%d>", log_level_prio[level]);
	else if (target == LOG_TARGET_STDERR && timestamp != NULL)
		log_append(buf, size, &len, "%s %s[%ld]: ", timestamp,
		    log_ident, (long)getpid());
	log_append(buf, size, &len, "%s: ", log_level_name(level));
	if (obj != NULL && *obj != '\0') {
		log_append_escaped(buf, size, &len, obj);
		log_append(buf, size, &len, " ");
	}
	log_append_escaped(buf, size, &len, msg);
	return log_trim_cut_char(buf, len);
}

static void
log_timestamp(char *buf, size_t size)
{
	struct timeval tv;
	struct tm tm;
	char tmp[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03dZ", tmp, (int)(tv.tv_usec / 1000) % 1000);
}

static void
log_emit(enum log_level level, const char *obj, const char *msg)
{
	char line[LOG_LINE_MAX];
	char ts[40];
	size_t len;

	if (log_target == LOG_TARGET_SYSLOG) {
		(void)log_format_line(line, sizeof(line), log_target, level, obj,
		    msg, NULL);
		syslog(log_level_prio[level], "%s", line);
		return;
	}
	log_timestamp(ts, sizeof(ts));
	len = log_format_line(line, sizeof(line) - 1, log_target, level, obj,
	    msg, ts);
	line[len++] = '\n';
	/* One write(2) per line so concurrent writers never interleave. */
	if (write(STDERR_FILENO, line, len) < 0) {
		/* nowhere left to report it */
	}
}

void
log_write(enum log_level level, const char *file, int line, const char *obj,
    const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	va_list ap;

	(void)file;
	(void)line;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_emit(level, obj, msg);
}

void
log_fatal(const char *file, int line, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	char where[LOG_LINE_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(where, sizeof(where), "%s at=%s:%d", msg, file, line);
	log_emit(LOG_LEVEL_FATAL, NULL, where);
	exit(1);
}
