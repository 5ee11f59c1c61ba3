/* utf8.h - well-formed UTF-8 (RFC 3629), for text going where nothing
 * else is accepted: a UTF8 PostgreSQL database, an XML 1.0 document.
 * Directory servers usually check their values, but not always (a
 * server with syntax checks off, a binary attribute mapped by mistake),
 * and one bad byte must not stop the mirror or the status socket. */
#ifndef DS_UTF8_H
#define DS_UTF8_H

#include <stddef.h>

/* The replacement character U+FFFD in UTF-8, for each byte dropped. */
#define UTF8_REPLACEMENT "\xef\xbf\xbd"

/* Length (1 to 4) of the well-formed UTF-8 sequence that starts at p,
 * n bytes being left; 0 when none does: a stray continuation byte, an
 * overlong form, a surrogate, a code point above U+10FFFF, a sequence
 * cut short.  A NUL is a sequence of length 1. */
size_t utf8_char_len(const void *p, size_t n);

#endif
