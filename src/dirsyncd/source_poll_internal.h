/* source_poll_internal.h - the parsers of source_poll.c, for its unit
 * test: the values a server's root DSE or entries, or a stored cookie,
 * hand the polling loop.  Not for other modules. */
#ifndef DS_SOURCE_POLL_INTERNAL_H
#define DS_SOURCE_POLL_INTERNAL_H

#include <stdbool.h>

/* A GeneralizedTime (14 digits, an optional fraction, Z or +hh[mm] /
 * -hh[mm]) as seconds since the epoch; -1 when it is anything else. */
long long poll_parse_gentime(const char *s);
/* A decimal USN or mark below LLONG_MAX; false for anything else. */
bool poll_parse_ll(const char *s, long long *out);
/* A 389-ds lastusn: as poll_parse_ll, but an unsigned value above
 * LLONG_MAX ("nothing numbered yet") is -1. */
bool poll_parse_lastusn(const char *s, long long *out);

#endif
