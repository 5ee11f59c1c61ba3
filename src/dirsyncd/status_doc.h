/* status_doc.h - the XML documents of the status socket (status_proto.h,
 * schema/status.xsd), rendered from a plain snapshot so rendering is pure
 * and unit-tested without a running daemon.
 *
 * Usage: the daemon fills a struct status_snapshot from its modules, then
 * calls one render function on a fresh xmlout. */
#ifndef DS_STATUS_DOC_H
#define DS_STATUS_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "connstatus.h"

struct xmlout;

/* The mirror's part (mirror_status, flattened so this module stays pure). */
struct status_sync {
	const char *mode;
	const char *mode_reason;    /* why that source; NULL or "" = absent */
	const char *phase;
	time_t phase_since;
	const char *server;
	const char *base;
	long long users, groups, memberships, dangling_managers; /* -1 unknown */
	time_t last_change;
	time_t cookie_saved;
	double lag;
	unsigned long entries_received;
	unsigned long batches_written;
	unsigned guard_count;
	const char *last_error;     /* "" if none */
	time_t last_error_at;
};

struct status_snapshot {
	const char *version;        /* PACKAGE_VERSION */
	long pid;
	time_t started;
	time_t now;
	const char *config_path;
	unsigned config_generation; /* 1 at start, +1 per successful reload */
	time_t config_loaded;
	const char *schema_state;   /* migrate_state_name() */
	int schema_version;         /* -1 while unknown */
	int schema_binary_version;
	unsigned schema_applied;
	const char *schema_error;   /* "" if none */
	const struct connstatus *conns;
	size_t nconns;
	const struct status_sync *sync;   /* NULL when there is no mirror */
};

void status_doc_render_status(struct xmlout *x, const struct status_snapshot *s);
/* ok when every connection is ready and the schema is current. */
void status_doc_render_health(struct xmlout *x, const struct status_snapshot *s);
/* Reply to "sync": only the mirror's element. */
void status_doc_render_sync(struct xmlout *x, const struct status_snapshot *s);
/* Reply to a command that does something: <result ok=...>message</result>. */
void status_doc_render_result(struct xmlout *x, bool ok, const char *message);
void status_doc_render_error(struct xmlout *x, const char *code,
    const char *message);
/* Fills why (may be NULL) with the first reason the daemon is unhealthy. */
bool status_doc_healthy(const struct status_snapshot *s, char *why,
    size_t size);

#endif
