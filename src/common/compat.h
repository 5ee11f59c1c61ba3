/* compat.h - attributes and tiny helpers shared by every module.
 *
 * Include this first in every .c file (after config.h).  Nothing here may
 * allocate or hold state. */
#ifndef DS_COMPAT_H
#define DS_COMPAT_H

#include <stddef.h>

/* A fallible function whose status must be looked at. */
#define DS_MUSTCHECK __attribute__((warn_unused_result))
/* printf-like function: argument a is the format, b the first vararg. */
#define DS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define DS_NORETURN __attribute__((noreturn))

#define DS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Room for one human-readable error, filled by fallible functions. */
#define DS_ERRLEN 512
struct ds_error {
	char msg[DS_ERRLEN];
};

/* Fill err (if not NULL) with a formatted message; returns -1 so callers
 * can write `return ds_error_set(err, "...")`. */
int ds_error_set(struct ds_error *err, const char *fmt, ...) DS_PRINTF(2, 3);

/* Milliseconds on the monotonic clock: for deadlines and durations,
 * never for wall-clock times. */
long long ds_monotonic_ms(void);

/* strdup that aborts on out-of-memory: a daemon that cannot allocate a
 * few bytes cannot do anything useful, and checking every small
 * allocation hides the real logic.  Large or input-sized allocations use
 * plain malloc and handle failure. */
char *ds_strdup(const char *s);
void *ds_calloc(size_t n, size_t size);
void *ds_realloc(void *p, size_t size);

#endif
