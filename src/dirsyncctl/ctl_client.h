/* ctl_client.h - one request/reply exchange with dirsyncd's status
 * socket (status_proto.h), with a deadline; blocking is fine here: this
 * is the command line, not the daemon. */
#ifndef DS_CTL_CLIENT_H
#define DS_CTL_CLIENT_H

#include <stddef.h>
#include "compat.h"

/* Sends line (a newline is added) and reads the reply until the daemon
 * closes.  Returns a NUL-terminated malloc'd reply (caller frees) and its
 * length, or NULL with the reason in err (naming the socket path). */
char *ctl_client_exchange(const char *socket_path, const char *line,
    unsigned timeout_ms, size_t *len, struct ds_error *err) DS_MUSTCHECK;

#endif
