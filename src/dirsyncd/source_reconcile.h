/* source_reconcile.h - the periodic full reconcile of the polling change
 * sources (source_poll: usn, timestamp; source_dirsync): one paged read
 * of every entry of base and filter, complete (ldapfetch: pages, ranged
 * member lists joined), reported to the sink as a refresh, so the mirror
 * deletes every row the read did not return - with its max_delete_ratio
 * guard.  It finds what increments cannot see: deletions the server keeps
 * no tombstone of, or shows this account none of (Samba's DirSync), and
 * entries that left the filter or the base unnoticed.
 *
 * Usage: embed a struct source_reconcile in the source and
 * source_reconcile_init() it at start.  When the source has nothing else
 * in flight and source_reconcile_due() says so, source_reconcile_start():
 * it calls sink->refresh_begin(), then for each entry with a usable id
 * cbs->entry() (optional: the source's own bookkeeping; false = do not
 * report it) and sink->entry(), then cbs->done() exactly once.  rc 0 in
 * done() means every entry was reported: the source reports its own
 * cookie there if the read moves its position (never one it does not
 * have) and then ends the refresh with sink->refresh_end(true) and
 * sink->persist().  Any other rc: the read failed (-1: the connection
 * dropped); the sink has seen a refresh_begin without an end, which the
 * ended() the source then reports cancels.  source_reconcile_cancel()
 * abandons the read; no callback follows.
 *
 * A sink call may stop and free the source that embeds the struct: after
 * sink->entry() nothing here touches it, and cancel() may be called from
 * inside it.  Event-loop thread only. */
#ifndef DS_SOURCE_RECONCILE_H
#define DS_SOURCE_RECONCILE_H

#include <stdbool.h>
#include "attrmap.h"
#include "compat.h"
#include "ldapconn.h"
#include "source.h"

struct ldapfetch;

struct source_reconcile_req {
	const char *base;
	const char *filter;
	const char *const *attrs; /* NULL-terminated; must include id_attr */
	const char *id_attr;      /* objectGUID, entryUUID, nsUniqueId */
	unsigned page_size;       /* 0: ldapfetch's default */
	unsigned range_size;      /* as in struct ldapfetch_req */
	const char *range_attr;   /* the member attribute */
};

struct source_reconcile_cbs {
	bool (*entry)(const struct ldapconn_entry *e, const char *id,
	    void *arg);
	void (*done)(int rc, const char *text, void *arg);
};

struct source_reconcile {
	unsigned interval_ms;    /* 0: never due */
	long long last_ms;       /* ds_monotonic_ms() of the last full read */
	struct ldapfetch *fetch; /* the read in flight, or NULL */
	const struct source_sink *sink;
	struct source_reconcile_cbs cbs;
	void *arg;
	const char *id_attr;   /* borrowed from the request's owner */
	unsigned long entries; /* reported by the read in flight */
};

/* The clock starts now: a resumed source reconciles one interval after
 * start, not at once. */
void source_reconcile_init(struct source_reconcile *r, unsigned interval_ms);
/* The source just read everything another way (its first pass): the next
 * reconcile is one interval from now. */
void source_reconcile_postpone(struct source_reconcile *r);
bool source_reconcile_due(const struct source_reconcile *r);
bool source_reconcile_running(const struct source_reconcile *r);

/* Returns -1 with err set (and no sink call) when the search could not be
 * sent.  sink must outlive the read (the source's own copy); req->id_attr
 * too.  On success done() sets the clock (source_reconcile_postpone). */
int source_reconcile_start(struct source_reconcile *r, struct ldapconn *lc,
    const struct source_reconcile_req *req, const struct source_sink *sink,
    const struct source_reconcile_cbs *cbs, void *arg, struct ds_error *err)
    DS_MUSTCHECK;
/* No callback after this; a no-op when nothing runs. */
void source_reconcile_cancel(struct source_reconcile *r);

/* The entry's unique id as canonical lower-case UUID text: attr's value
 * as 16 raw octets (objectGUID, [MS-DTYP] 2.3.4.2), or as text of 32 hex
 * digits with dashes or braces (entryUUID; 389-ds's nsUniqueId, four
 * dash-separated groups of 8).  false when attr is missing or neither. */
bool source_entry_id(const struct ldapconn_entry *e, const char *attr,
    char out[ATTRMAP_GUID_TEXT_LEN]);

#endif
