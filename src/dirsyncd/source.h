/* source.h - the change-source interface of the directory mirror.
 *
 * A change source reads what changed in the directory (RFC 4533
 * syncrepl in source_syncrepl.c, AD DirSync in source_dirsync.c, USN
 * and timestamp polling in source_poll.c; source_select.c picks one) and
 * reports it to a sink in one vocabulary: entries added or
 * changed, ids deleted or still present, refresh boundaries and cookies.
 * The mirror module is the sink: it maps entries to rows and batches them
 * into the store.  A new kind of server is a new source, not a new mirror.
 *
 * Contract for sources:
 *  - Every call into the sink happens from the event loop, in the order
 *    the server sent things.  A cookie reported with sink->cookie covers
 *    everything reported before it.
 *  - refresh_begin() comes first after start; refresh_end() once the
 *    source has sent the full content (delete_unseen: rows not reported
 *    as entry or present since refresh_begin are gone), then persist()
 *    when the source is in its steady state.
 *  - ended() says the source stopped (server ended the search, an error,
 *    the connection dropped); no sink call follows.  The mirror restarts
 *    from the stored cookie.  forget_cookie() before ended() means the
 *    stored position is useless and the next start must be a full one.
 *  - stop() abandons the work and frees the source; no sink call follows,
 *    not even ended().  The mirror calls it from inside sink calls too
 *    (entry(), deleted(), members(), present(), refresh_end() when a
 *    batch cannot be written; ended(), unsupported()): after such a call
 *    a source checks that it was not stopped before touching itself.
 *  - unsupported() instead of ended() says this source cannot work with
 *    this server or bind account (no DirSync right, no syncprov, ...):
 *    in mode auto the mirror then tries the next kind of source.
 *  - entry() always carries the whole entry: every mapped attribute, and
 *    for a group the complete member list (ranges already fetched).  A
 *    source that learns only part of an entry (AD DirSync sends changed
 *    attributes only) reads the rest before reporting it, except for
 *    group members, which it may report as differences:
 *    entry_keep_members() (the group's other attributes; the stored
 *    member list stays) and members() (values added and removed).
 * Ids are canonical lower-case UUID text (36 characters). */
#ifndef DS_SOURCE_H
#define DS_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include "compat.h"

struct event_base;
struct ldapconn;
struct ldapconn_entry;
struct source;

struct source_sink {
	void (*refresh_begin)(void *arg);
	void (*entry)(void *arg, const char *id, const struct ldapconn_entry *e);
	void (*deleted)(void *arg, const char *id);
	void (*present)(void *arg, const char *id);
	void (*cookie)(void *arg, const void *cookie, size_t len);
	void (*refresh_end)(void *arg, bool delete_unseen);
	void (*persist)(void *arg);
	void (*forget_cookie)(void *arg);
	void (*ended)(void *arg, const char *why);
	void (*unsupported)(void *arg, const char *why);
	/* The entry still exists but left the mirrored base or filter: its
	 * row goes, the links naming it stay (unlike deleted() from a source
	 * whose deletions remove links, deletes_remove_memberships). */
	void (*left)(void *arg, const char *id);
	void (*entry_keep_members)(void *arg, const char *id,
	    const struct ldapconn_entry *e);
	void (*members)(void *arg, const char *group_id,
	    const char *const *added_dns, size_t added_count,
	    const char *const *removed_dns, size_t removed_count);
	void *arg;
};

struct source_params {
	const char *base;
	const char *filter;             /* already combined users | groups */
	const char *const *attrs;       /* NULL-terminated */
	const void *cookie;             /* NULL: full refresh */
	size_t cookie_len;
	/* Poll and DirSync sources ([mirror] options); 0 = the source's
	 * default.  reconcile_interval_ms: how often they read everything
	 * instead of a poll (source_reconcile.h). */
	unsigned poll_interval_ms;
	unsigned reconcile_interval_ms;
	unsigned page_size;
	unsigned range_size;            /* ask for member;range=... in steps */
	unsigned timestamp_overlap_ms;  /* timestamp: search this far back */
	struct event_base *evbase;      /* poll sources: their timers */
	const char *unique_id;          /* attribute naming an entry's id
	                                 * (attrmap unique_id); poll sources */
	const char *member_attr;        /* attrmap member, asked in ranges */
};

struct source_ops {
	const char *name;               /* "syncrepl" - also dir_sync_state.method */
	/* Start reading; returns NULL with err set when the request could not
	 * be sent (no sink call then).  sink is copied. */
	struct source *(*start)(struct ldapconn *lc,
	    const struct source_params *params, const struct source_sink *sink,
	    struct ds_error *err);
	void (*stop)(struct source *src);
	/* The server identity a stored cookie belongs to, when it is not
	 * simply the URI (a USN belongs to one domain controller: its
	 * dsServiceName).  NULL: the mirror uses URI, bind identity, base
	 * and filter. */
	void (*server_id)(struct ldapconn *lc, char *buf, size_t size);
	/* Deleting a user removes it from its groups without a change to
	 * the groups (Active Directory): the mirror drops the memberships
	 * of a deleted entry itself. */
	bool deletes_remove_memberships;
};

extern const struct source_ops source_syncrepl_ops;
/* source_poll.c: uSNChanged / entryUSN polling, and modifyTimestamp
 * polling, each with tombstones (where the server keeps them) and a
 * periodic paged full reconcile. */
extern const struct source_ops source_usn_ops, source_timestamp_ops;
/* source_dirsync.c: Active Directory's DirSync control, with tombstones
 * where the account sees them and the same periodic full reconcile. */
extern const struct source_ops source_dirsync_ops;

#endif
