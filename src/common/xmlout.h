/* xmlout.h - building XML documents in memory; with xmlin.h the only
 * code that touches libxml2, so escaping is always libxml2's.
 *
 * Usage:
 *   struct xmlout *x = xmlout_new();
 *   xmlout_start(x, "dirsync");
 *   xmlout_attr(x, "protocol", "1");
 *   xmlout_attrf(x, "pid", "%ld", (long)getpid());
 *   xmlout_text_element(x, "last-error", msg);
 *   xmlout_end(x);
 *   const char *doc = xmlout_finish(x, &len);  // owned by x
 *   ...
 *   xmlout_free(x);
 *
 * Calls after an error are ignored; xmlout_finish() then returns NULL.
 * Text that is not valid UTF-8 is replaced byte-wise by '?' first, so a
 * stray Latin-1 byte from a server never makes the document invalid. */
#ifndef DS_XMLOUT_H
#define DS_XMLOUT_H

#include <stddef.h>
#include <time.h>
#include "compat.h"

struct xmlout;

struct xmlout *xmlout_new(void);
void xmlout_start(struct xmlout *x, const char *name);
void xmlout_attr(struct xmlout *x, const char *name, const char *value);
void xmlout_attrf(struct xmlout *x, const char *name, const char *fmt, ...)
    DS_PRINTF(3, 4);
/* ISO 8601 UTC ("2026-11-25T22:30:57Z"); nothing written when t == 0. */
void xmlout_attr_time(struct xmlout *x, const char *name, time_t t);
void xmlout_text(struct xmlout *x, const char *text);
void xmlout_end(struct xmlout *x);
/* <name>text</name> */
void xmlout_text_element(struct xmlout *x, const char *name, const char *text);
/* Ends the document; the buffer stays owned by x.  NULL after an error. */
const char *xmlout_finish(struct xmlout *x, size_t *len);
void xmlout_free(struct xmlout *x);

/* Format t as ISO 8601 UTC into buf (at least 21 bytes). */
void xmlout_format_time(char *buf, size_t size, time_t t);

#endif
