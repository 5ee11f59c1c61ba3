/* store.h - the batched writer of the directory mirror: turns one batch of
 * mapped rows, deletions, presence marks and a cookie into ONE PostgreSQL
 * transaction, so the cookie is stored exactly with the changes it covers
 * and a crash at any instant resumes without loss or double application.
 *
 * It knows nothing about LDAP: change sources feed the mirror module,
 * which maps entries into the rows below and hands full batches here.
 * Writes use multi-row statements with array parameters (unnest), never
 * one round trip per entry.  After each committed batch it sends
 * NOTIFY dirsync_directory (payload: the number of rows changed), so
 * other programs, and the latency benchmark, can react.
 *
 * Refresh bookkeeping (RFC 4533 §3.4 semantics, also used by polling
 * sources for a full reconcile): a refresh has a generation number.
 * STORE_REFRESH_BEGIN starts one; every row written or marked present in
 * a batch of that refresh gets the generation; deletions arriving during
 * a refresh are only marked (sync_gen = -1), not applied.  At the end:
 *   STORE_REFRESH_END_PRESENT  deletes every row of an older generation
 *                              (present phase: what was not sent is gone)
 *   STORE_REFRESH_END_DELETE   deletes only the rows marked deleted
 * unless that would delete more than max_delete_ratio of the users: then
 * nothing is deleted, the guard is recorded in dir_sync_state
 * (delete_guard_count/since) and the result says so; the guard stays until
 * store_confirm_deletes().  Outside a refresh, deletions apply at once
 * unless, with those deleted outside a refresh during the last
 * delete window (store_set_delete_window), they would take more than
 * max_delete_ratio of the users there were at the window's start, or a
 * guard is pending: then they are marked and held back the same way
 * (schema/pg/006_persist_guard.sql).
 *
 * The initial sync (the state loaded had no cookie and the mirror is
 * empty) is a bulk load instead (schema/pg/004_initial_load.sql): its
 * batches are staged, each in a short transaction, and the last one moves
 * everything into the mirror and stores the cookie in one transaction.
 *
 * Usage: store_new() on the daemon's pgconn; store_load_state() once the
 * schema is current; then store_write() batches, one at a time (the
 * caller waits for the done callback before writing the next batch; it
 * may fill the next batch meanwhile).  Event-loop thread only. */
#ifndef DS_STORE_H
#define DS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include "compat.h"

struct pgconn;
struct store;

/* One mirrored person.  All strings are owned by the batch; NULL = the
 * attribute was absent (the column becomes NULL / default). */
struct store_user {
	char *id;              /* canonical unique id text (UUID form) */
	char *dn;              /* as sent */
	char *dn_norm;         /* dn_normalize() of dn */
	char *login;
	char *login_alt;
	char *full_name;
	char *given_name;
	char *surname;
	char *email;
	char *manager_dn;      /* as sent */
	char *manager_dn_norm;
	char *user_type;       /* as sent by the directory */
	bool disabled;
};

/* One mirrored group with its complete direct member list. */
struct store_group {
	char *id;
	char *dn;
	char *dn_norm;
	char *name;
	char *description;
	char **member_dn;      /* as sent */
	char **member_dn_norm; /* same order */
	size_t member_count;
	/* The group's other attributes only: its stored member list stays
	 * (changes to it come as store_member_change); member_* unused. */
	bool keep_members;
};

/* One member value added to or removed from a group (AD DirSync's
 * incremental values).  Applied after the batch's groups, in order. */
struct store_member_change {
	char *group_id;
	char *dn;              /* as sent */
	char *dn_norm;
	bool add;
};

enum store_refresh_op {
	STORE_REFRESH_NONE = 0,    /* persist / incremental batch */
	STORE_REFRESH_BEGIN,       /* first batch of a refresh: new generation */
	STORE_REFRESH_CONTINUE,    /* a later batch inside the same refresh */
	STORE_REFRESH_END_PRESENT, /* last batch; unseen rows are deleted */
	STORE_REFRESH_END_DELETE,  /* last batch; marked rows are deleted */
};

struct store_batch {
	enum store_refresh_op refresh;
	struct store_user *users;
	size_t user_count, user_cap;
	struct store_group *groups;
	size_t group_count, group_cap;
	char **deleted_ids;    /* users or groups, by id */
	size_t deleted_count, deleted_cap;
	/* Per deleted id: the entry left the mirrored base or filter but
	 * still exists, so the links that name it stay even for sources
	 * whose deletions remove them (store_set_deletes_remove_memberships). */
	bool *deleted_left;
	size_t deleted_left_cap;
	char **present_ids;    /* unchanged but present (refresh only) */
	size_t present_count, present_cap;
	struct store_member_change *member_changes;
	size_t member_change_count, member_change_cap;
	/* The position this batch brings the source to.  cookie_len == 0 and
	 * cookie == NULL: leave the stored cookie as it is. */
	unsigned char *cookie;
	size_t cookie_len;
	bool clear_cookie;     /* forget the stored cookie (full refresh next) */
};

enum store_result {
	STORE_OK = 0,
	STORE_GUARD_TRIPPED,   /* committed, but the deletions were held back */
	STORE_FAILED,          /* rolled back; see the error text */
};

struct store_write_report {
	enum store_result result;
	unsigned users_written, groups_written, deleted, marked_present;
	unsigned guard_count;       /* users that would have been deleted */
	char error[512];
};

/* What dir_sync_state holds for a source. */
struct store_state {
	bool found;
	char server_id[512];
	unsigned char *cookie;      /* owned by the store_state; may be NULL */
	size_t cookie_len;
	long long refresh_gen;
	unsigned guard_count;       /* 0 = no pending guard */
	long long guard_since;      /* unix time, 0 = none */
	bool mirror_empty;          /* no user, group or membership rows */
};

/* Mirror counts for the status socket. */
struct store_counts {
	long long users, groups, memberships, dangling_managers;
};

typedef void (*store_write_cb)(const struct store_write_report *report,
    void *arg);
typedef void (*store_state_cb)(bool ok, const struct store_state *state,
    const char *error, void *arg);
typedef void (*store_counts_cb)(bool ok, const struct store_counts *counts,
    void *arg);
typedef void (*store_done_cb)(bool ok, const char *error, void *arg);

/* source names the dir_sync_state row ("default"); method is
 * 'syncrepl', 'dirsync', 'usn' or 'timestamp'; max_delete_ratio is a
 * fraction (0.10).  Strings are copied. */
struct store *store_new(struct pgconn *pg, const char *source,
    const char *method, double max_delete_ratio);
void store_free(struct store *s);
void store_set_max_delete_ratio(struct store *s, double ratio);
/* The window over which deletions outside a refresh add up for the guard
 * (mirror.delete_guard_window). */
#define STORE_DELETE_WINDOW_DEFAULT_MS (3600u * 1000u)
void store_set_delete_window(struct store *s, unsigned ms);
/* The source kind for dir_sync_state.method, when mode auto has chosen
 * one; takes effect at the next store_load_state(), where a change of
 * method discards the stored cookie. */
void store_set_method(struct store *s, const char *method);
/* The source's directory removes a deleted entry from its groups and
 * from its reports' manager attribute without reporting a change to them
 * (Active Directory): deletions outside a refresh then remove those links
 * too. */
void store_set_deletes_remove_memberships(struct store *s, bool on);

/* Read (or create) the source's row.  If server_id differs from the one
 * stored, the stored cookie is discarded (a cookie is only valid for the
 * same server, bind identity, base and filter) and the new server_id
 * recorded, all in one transaction; the state passed to cb then has no
 * cookie. */
void store_load_state(struct store *s, const char *server_id, const char *base_dn,
    store_state_cb cb, void *arg);

/* Write one batch in one transaction.  Returns -1 (cb not called) when the
 * connection is not ready or a write is already in flight. */
int store_write(struct store *s, const struct store_batch *batch,
    store_write_cb cb, void *arg) DS_MUSTCHECK;
bool store_busy(const struct store *s);

/* Apply the held-back deletions and clear the guard. */
int store_confirm_deletes(struct store *s, store_done_cb cb, void *arg)
    DS_MUSTCHECK;

int store_counts(struct store *s, store_counts_cb cb, void *arg) DS_MUSTCHECK;

/* Batch helpers: append copies; reset frees every row but keeps capacity. */
struct store_user *store_batch_add_user(struct store_batch *b);
struct store_group *store_batch_add_group(struct store_batch *b);
void store_batch_add_deleted(struct store_batch *b, const char *id);
void store_batch_add_left(struct store_batch *b, const char *id);
void store_batch_add_present(struct store_batch *b, const char *id);
/* Copies; dn_norm is the normalised dn. */
void store_batch_add_member_change(struct store_batch *b,
    const char *group_id, const char *dn, const char *dn_norm, bool add);
void store_batch_set_cookie(struct store_batch *b, const void *cookie,
    size_t len);
size_t store_batch_size(const struct store_batch *b);  /* rows of all kinds */
void store_batch_reset(struct store_batch *b);
void store_batch_free(struct store_batch *b);
void store_state_clear(struct store_state *st);

#endif
