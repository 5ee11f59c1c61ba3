/* sdnotify.h - tells systemd about the daemon's state (sd_notify(3)):
 * READY, RELOADING, STOPPING, STATUS and the watchdog keep-alive.
 *
 * Uses libsystemd when configure found it, otherwise writes the same
 * datagrams to $NOTIFY_SOCKET itself.  Every call is a no-op when the
 * daemon was not started by systemd.  Never blocks (datagram send with
 * MSG_DONTWAIT). */
#ifndef DS_SDNOTIFY_H
#define DS_SDNOTIFY_H

#include "compat.h"

void sdnotify_ready(void);
void sdnotify_reloading(void);
void sdnotify_stopping(void);
void sdnotify_status(const char *fmt, ...) DS_PRINTF(1, 2);
void sdnotify_watchdog(void);
/* The watchdog interval systemd asked for, in microseconds; 0 = none. */
unsigned long long sdnotify_watchdog_usec(void);

#endif
