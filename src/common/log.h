/* log.h - one line per event, with a level, an optional object prefix
 * and key=value context.
 *
 * Usage: call log_init() once with the program name, then log_set_target()
 * and log_set_level() from the configuration (again on reload).  Use the
 * macros, never log_write() directly: they test the level before the
 * arguments are formatted, so debug lines in hot paths cost one compare.
 *
 *   log_info("pg state=connected server=%s", host);
 *   log_obj_warning("ldap", "bind failed code=%d err=\"%s\"", rc, text);
 *
 * Levels mean something: error = a person must act; warning = degraded
 * but coping; info = a state change; debug = per entry / per message.
 * Targets: stderr (with timestamps), syslog, or journal (stderr lines
 * carrying "<N>" priority prefixes, picked when JOURNAL_STREAM is set).
 * Safe to call from any context in the single event-loop thread. */
#ifndef DS_LOG_H
#define DS_LOG_H

#include <stddef.h>
#include <stdbool.h>
#include "compat.h"

enum log_level {
	LOG_LEVEL_FATAL = 0,  /* the process is about to exit */
	LOG_LEVEL_ERROR,      /* a person must act */
	LOG_LEVEL_WARNING,    /* degraded but coping */
	LOG_LEVEL_INFO,       /* state changes */
	LOG_LEVEL_DEBUG,      /* per entry, per message */
};

enum log_target {
	LOG_TARGET_AUTO = 0,  /* journal if JOURNAL_STREAM is set, else stderr */
	LOG_TARGET_STDERR,
	LOG_TARGET_SYSLOG,
	LOG_TARGET_JOURNAL,
};

extern enum log_level log_current_level;

void log_init(const char *ident);
void log_set_level(enum log_level level);
/* Opens or closes syslog as needed; AUTO is resolved here. */
void log_set_target(enum log_target target);
/* stderr leads nowhere from now on (a daemon that detached without a
 * journal): a stderr or journal target, now or set later (a reload),
 * means syslog.  For good: stderr does not come back. */
void log_detach_stderr(void);
enum log_target log_get_target(void);

/* Parse "error", "warning", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

void log_write(enum log_level level, const char *file, int line,
    const char *obj, const char *fmt, ...) DS_PRINTF(5, 6);
DS_NORETURN void log_fatal(const char *file, int line, const char *fmt, ...)
    DS_PRINTF(3, 4);

/* Pure formatting of one line, exposed for the unit tests.  Writes at
 * most size bytes including the NUL and returns the length written.
 * Newlines and other control characters in msg are escaped so one event
 * is always one line. */
size_t log_format_line(char *buf, size_t size, enum log_target target,
    enum log_level level, const char *obj, const char *msg,
    const char *timestamp);

#define log_enabled(lvl) ((lvl) <= log_current_level)
#define log_at(lvl, obj, ...) do { \
	if (log_enabled(lvl)) \
		log_write((lvl), __FILE__, __LINE__, (obj), __VA_ARGS__); \
} while (0)

#define log_error(...)   log_at(LOG_LEVEL_ERROR, NULL, __VA_ARGS__)
#define log_warning(...) log_at(LOG_LEVEL_WARNING, NULL, __VA_ARGS__)
#define log_info(...)    log_at(LOG_LEVEL_INFO, NULL, __VA_ARGS__)
#define log_debug(...)   log_at(LOG_LEVEL_DEBUG, NULL, __VA_ARGS__)
#define log_obj_error(o, ...)   log_at(LOG_LEVEL_ERROR, (o), __VA_ARGS__)
#define log_obj_warning(o, ...) log_at(LOG_LEVEL_WARNING, (o), __VA_ARGS__)
#define log_obj_info(o, ...)    log_at(LOG_LEVEL_INFO, (o), __VA_ARGS__)
#define log_obj_debug(o, ...)   log_at(LOG_LEVEL_DEBUG, (o), __VA_ARGS__)
/* Records file and line, then exits with status 1. */
#define fatal(...) log_fatal(__FILE__, __LINE__, __VA_ARGS__)

#endif
