/* mirror_map.h - one directory entry to one mirror row: picks user or
 * group by object class, takes the mapped attributes, and normalises
 * every DN (the entry's, its manager's, its members') so rows join on
 * dn_norm whatever case or escaping the server used.
 *
 * Pure apart from reading the entry: no I/O, no state.  Event-loop or
 * test context. */
#ifndef DS_MIRROR_MAP_H
#define DS_MIRROR_MAP_H

#include "attrmap.h"
#include "compat.h"

struct ldapconn_entry;
struct store_batch;

enum mirror_map_result {
	MIRROR_MAP_USER,     /* a row was appended to batch->users */
	MIRROR_MAP_GROUP,    /* a row was appended to batch->groups */
	MIRROR_MAP_IGNORED,  /* neither class: not mirrored (err says why) */
	MIRROR_MAP_ERROR,    /* malformed (err says what); nothing appended */
	MIRROR_MAP_OUT_OF_SCOPE, /* a user or group outside its subtree of
	                          * the scope: nothing appended */
};

/* The subtrees users and groups are mirrored from, as normalised DNs
 * (dn_normalize); NULL: anywhere the search finds them. */
struct mirror_scope {
	const char *user_base;
	const char *group_base;
};

/* Appends the row for entry (whose unique id is id) to batch, unless it
 * lies outside scope (may be NULL).  Member values that are not valid
 * DNs, or hold a NUL, are skipped and counted in *bad_members (may be
 * NULL); any other value holding a NUL is taken as absent. */
enum mirror_map_result mirror_map_entry(const struct attrmap *map,
    const struct mirror_scope *scope, const struct ldapconn_entry *entry,
    const char *id, struct store_batch *batch, unsigned *bad_members,
    struct ds_error *err);

#endif
