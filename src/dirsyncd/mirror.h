/* mirror.h - the directory mirror: runs a change source (source.h) over
 * the LDAP connection, maps each entry to a row with the attribute map,
 * and writes batches through the store, one transaction at a time.
 *
 * Flow control: a batch is written as soon as it is full or the LDAP
 * socket has nothing more to read, so an initial sync overlaps reading
 * and writing and a single change is written at once.  While one batch is
 * being written the next one fills; if that one is full too, reading
 * from the directory pauses until the write is done - memory stays
 * bounded by two batches whatever the directory's size.
 *
 * Failures: if the source ends, the connection drops or a write fails,
 * the unwritten batch is dropped and, after a backoff, the mirror starts
 * again from the cookie stored with the last committed batch - nothing
 * is lost or applied twice.
 *
 * Usage: mirror_new() once both connections exist; call mirror_update()
 * whenever the LDAP or PostgreSQL state or the schema state changes, and
 * mirror_tick() from the once-a-second maintenance timer.
 * Event-loop thread only. */
#ifndef DS_MIRROR_H
#define DS_MIRROR_H

#include <stdbool.h>
#include <time.h>
#include "compat.h"

struct config;
struct event_base;
struct ldapconn;
struct pgconn;
struct mirror;

enum mirror_phase {
	MIRROR_IDLE = 0,   /* waiting for LDAP, PostgreSQL and the schema */
	MIRROR_STARTING,   /* reading the stored cookie */
	MIRROR_REFRESH,    /* the source sends the content */
	MIRROR_PERSIST,    /* steady state: changes as they happen */
	MIRROR_BACKOFF,    /* failed; waiting before starting again */
	MIRROR_FAILED,     /* cannot run with this configuration */
};

struct mirror_status {
	const char *mode;            /* "syncrepl", "usn", ... (source_ops.name) */
	char mode_reason[256];       /* why that source was chosen; "" before */
	const char *phase;           /* mirror_phase_name(), or "guard" */
	char server[256];
	char base[512];
	long long users, groups, memberships, dangling_managers; /* -1 unknown */
	time_t last_change;          /* last committed batch with changes */
	time_t cookie_saved;         /* last committed cookie */
	time_t phase_since;
	double lag;                  /* seconds the oldest unwritten change waited */
	unsigned long entries_received;
	unsigned long batches_written;
	unsigned guard_count;        /* users a held-back deletion would remove */
	char last_error[512];
	time_t last_error_at;
};

struct mirror *mirror_new(struct event_base *base, const struct config *cfg,
    struct ldapconn *lc, struct pgconn *pg, struct ds_error *err) DS_MUSTCHECK;
void mirror_free(struct mirror *m);
/* Options that may change on reload (max_delete_ratio). */
void mirror_reconfigure(struct mirror *m, const struct config *cfg);

/* Check the [mirror] and [attributes] options; fills diag-style message
 * (FILE: message) in err.  Used by -t, start-up and reload. */
int mirror_check_config(const struct config *cfg, struct ds_error *err)
    DS_MUSTCHECK;

void mirror_update(struct mirror *m, bool ldap_ready, bool schema_ready);
void mirror_tick(struct mirror *m);

/* Release a tripped delete guard; returns -1 when none is pending. */
int mirror_confirm_deletes(struct mirror *m, struct ds_error *err)
    DS_MUSTCHECK;

void mirror_get_status(const struct mirror *m, struct mirror_status *out);
const char *mirror_phase_name(enum mirror_phase phase);

#endif
