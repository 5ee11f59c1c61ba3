/* source_select.h - which change source to run: the configured mode, or
 * for mode auto the best the server offers (RFC 4533 syncrepl, then AD
 * DirSync, then USN polling, then timestamp polling), skipping the kinds
 * that already said unsupported() on this server.
 *
 * Pure: reads only its arguments, so the choice is unit-tested without a
 * server.  Any context. */
#ifndef DS_SOURCE_SELECT_H
#define DS_SOURCE_SELECT_H

#include <stddef.h>
#include "ldapconn.h"
#include "source.h"

/* Bits of tried_mask: a source of this kind reported unsupported(). */
#define SOURCE_SELECT_SYNCREPL 0x1u
#define SOURCE_SELECT_DIRSYNC 0x2u
#define SOURCE_SELECT_USN 0x4u
#define SOURCE_SELECT_TIMESTAMP 0x8u

/* The bit of a source (0 for an unknown one). */
unsigned source_select_bit(const struct source_ops *ops);

/* mode: "auto", "syncrepl", "dirsync", "usn" or "timestamp".  info may be
 * NULL (root DSE not read): auto then falls back to timestamp polling,
 * which any server supports.  Returns the source (static storage) with
 * why filled with one line saying why it was chosen, or NULL with why
 * saying why none can run (unknown mode, the fixed mode's source was
 * refused, every kind refused). */
const struct source_ops *source_select(const char *mode,
    const struct ldapconn_server_info *info, unsigned tried_mask, char *why,
    size_t why_size);

#endif
