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
};

void status_doc_render_status(struct xmlout *x, const struct status_snapshot *s);
/* ok when every connection is ready and the schema is current. */
void status_doc_render_health(struct xmlout *x, const struct status_snapshot *s);
void status_doc_render_error(struct xmlout *x, const char *code,
    const char *message);
/* Fills why (may be NULL) with the first reason the daemon is unhealthy. */
bool status_doc_healthy(const struct status_snapshot *s, char *why,
    size_t size);

#endif
