/* daemon.h - the one daemon context: the configuration, the event base
 * and every module instance, passed to whoever needs them.  There is no
 * other global state besides constant tables.
 *
 * Usage (main.c): daemon_init() with a loaded configuration (ownership
 * passes to the daemon), daemon_run() until a stop signal, then
 * daemon_cleanup().  Signals are handled inside the loop (evsignal). */
#ifndef DS_DAEMON_H
#define DS_DAEMON_H

#include <stdbool.h>
#include <time.h>
#include "backoff.h"
#include "compat.h"

struct config;
struct event;
struct event_base;
struct ldapconn;
struct migrate;
struct mirror;
struct pgconn;
struct status_server;

struct daemon {
	struct event_base *base;
	struct config *cfg;             /* current configuration, owned */
	unsigned config_generation;     /* 1 at start, +1 per good reload */
	time_t config_loaded;
	time_t started;

	struct pgconn *pg;
	struct migrate *migrate;
	struct ldapconn *ldap;
	struct mirror *mirror;
	struct status_server *status;

	struct event *sig_term, *sig_int, *sig_hup;
	struct event *maintenance;      /* 1 s timer: counts, housekeeping */
	/* A failed schema migration is tried again in a new session (a
	 * role setting may have changed since), paced by this backoff. */
	struct event *migrate_retry;
	struct backoff migrate_backoff;
	struct event *watchdog;         /* WATCHDOG=1 at half the interval */
	unsigned long long watchdog_usec;
	bool stopping;
};

/* Takes ownership of cfg (also on failure). */
int daemon_init(struct daemon *d, struct config *cfg, struct ds_error *err)
    DS_MUSTCHECK;
/* Runs the loop until stopped; returns the exit status. */
int daemon_run(struct daemon *d);
void daemon_cleanup(struct daemon *d);

#endif
