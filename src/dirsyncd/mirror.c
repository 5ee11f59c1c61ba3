/* mirror.c - runs the change source and feeds the store (mirror.h).
 * It owns the batch being filled, the flow control between the LDAP
 * socket and PostgreSQL, and the restart-from-cookie policy.  It must
 * never write a cookie without the changes it covers (the store's one
 * transaction per batch guarantees that) and never buffer more than two
 * batches. */
#include "mirror.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "attrmap.h"
#include "backoff.h"
#include "config.h"
#include "escape.h"
#include "ldapconn.h"
#include "log.h"
#include "mirror_map.h"
#include "pgconn.h"
#include "source.h"
#include "source_select.h"
#include "store.h"

#define MIRROR_SOURCE_NAME "default"
#define MIRROR_COUNTS_EVERY 2   /* seconds between count refreshes */

/* Where the refresh bookkeeping of the store stands (store.h). */
enum mirror_refresh {
	MIRROR_REFRESH_OFF = 0,     /* persist: batches are STORE_REFRESH_NONE */
	MIRROR_REFRESH_PENDING,     /* refresh started; BEGIN not written yet */
	MIRROR_REFRESH_WRITTEN,     /* BEGIN written; CONTINUE batches */
};

struct mirror {
	struct event_base *base;
	struct ldapconn *lc;
	struct store *store;
	struct attrmap map;
	const struct source_ops *ops;
	struct source *src;
	int mode;                   /* enum config_mirror_mode */
	unsigned tried;             /* SOURCE_SELECT_* kinds refused here */
	char refused[512];          /* why the last one was refused */
	struct source_params poll;  /* poll options, copied into each start */
	char *cfg_base;             /* configured base ("" = naming context) */
	char *user_base, *group_base; /* normalised; NULL: all of the base */
	struct mirror_scope scope;  /* points at the two above */
	char *filter;
	unsigned batch_size;

	enum mirror_phase phase;
	time_t phase_since;
	unsigned run;               /* bumped at every (re)start */
	bool ldap_ready, schema_ready;
	struct backoff backoff;
	struct event *timer;        /* backoff before a restart */

	struct store_batch batch;   /* being filled */
	time_t batch_first;         /* when its oldest change arrived */
	enum mirror_refresh refresh;
	bool end_requested;         /* refresh_end seen, END not written */
	bool end_present;           /* ... with present-phase semantics */
	bool forget_cookie;         /* next start: full refresh, clear cookie */
	bool started_full;          /* this run started without a cookie */
	bool clear_cookie_pending;  /* first batch of that refresh clears it */
	bool paused;                /* LDAP reading paused (both batches full) */
	bool persist_pending;       /* refresh over; PERSIST once END commits */
	bool counts_dirty;
	bool counts_busy;
	bool confirm_busy;
	time_t counts_at;

	char last_restart_reason[512];

	/* The write in flight (the store takes one at a time) and the last
	 * state load: kept here, not allocated per call, so a store freed
	 * with work outstanding (a stop) leaves nothing behind. */
	struct {
		unsigned run;
		bool had_cookie;
		bool end;
	} write;
	unsigned load_run;

	struct mirror_status st;
};

static const char *const mirror_phase_names[] = {
	[MIRROR_IDLE] = "idle",
	[MIRROR_STARTING] = "starting",
	[MIRROR_REFRESH] = "refresh",
	[MIRROR_PERSIST] = "persist",
	[MIRROR_BACKOFF] = "backoff",
	[MIRROR_FAILED] = "failed",
};

const char *
mirror_phase_name(enum mirror_phase phase)
{
	return mirror_phase_names[phase];
}

static void mirror_flush(struct mirror *m);
static void mirror_restart_later(struct mirror *m, const char *why);

/* ---- state ----------------------------------------------------------- */

static void
mirror_set_phase(struct mirror *m, enum mirror_phase phase)
{
	if (m->phase == phase)
		return;
	log_obj_info("mirror", "phase=%s previous=%s", mirror_phase_names[phase],
	    mirror_phase_names[m->phase]);
	m->phase = phase;
	m->phase_since = time(NULL);
	m->counts_dirty = true;
}

static void
mirror_error(struct mirror *m, const char *msg)
{
	snprintf(m->st.last_error, sizeof(m->st.last_error), "%s", msg);
	m->st.last_error_at = time(NULL);
}

/* Drop the source and whatever was not written yet; the stored cookie
 * still marks a consistent position. */
static void
mirror_stop_source(struct mirror *m)
{
	if (m->src != NULL) {
		m->ops->stop(m->src);
		m->src = NULL;
	}
	if (m->paused) {
		ldapconn_set_reading(m->lc, true);
		m->paused = false;
	}
	store_batch_reset(&m->batch);
	m->batch_first = 0;
	m->refresh = MIRROR_REFRESH_OFF;
	m->end_requested = false;
	m->persist_pending = false;
	m->run++;
}

/* ---- the sink: calls from the change source --------------------------- */

static void
mirror_note_change(struct mirror *m)
{
	if (m->batch_first == 0)
		m->batch_first = time(NULL);
	m->st.entries_received++;
	if (store_batch_size(&m->batch) >= m->batch_size)
		mirror_flush(m);
}

static void
mirror_sink_refresh_begin(void *arg)
{
	struct mirror *m = arg;

	m->refresh = MIRROR_REFRESH_PENDING;
	m->end_requested = false;
	mirror_set_phase(m, MIRROR_REFRESH);
}

/* A user outside user_base or a group outside group_base: as if it had
 * left the search scope (moved out, say): its row goes if there is one,
 * and the memberships and manager links that name it stay, by DN, as
 * the directory still has them. */
static void
mirror_out_of_scope(struct mirror *m, const char *id, const struct ds_error *err)
{
	log_obj_debug("mirror", "id=%s not mirrored: %s", id, err->msg);
	/* In the refresh of a run that started without a cookie, which ends
	 * by deleting whatever it did not write (present mode), leaving the
	 * entry out is enough; a deletion there would also turn an initial
	 * load's plain insert into the sorted one (007_bulk_plain.sql). */
	if (m->started_full && m->refresh != MIRROR_REFRESH_OFF &&
	    !m->end_requested)
		return;
	store_batch_add_left(&m->batch, id);
	mirror_note_change(m);
}

static void
mirror_sink_entry(void *arg, const char *id, const struct ldapconn_entry *e)
{
	struct mirror *m = arg;
	struct ds_error err;
	unsigned bad = 0;

	switch (mirror_map_entry(&m->map, &m->scope, e, id, &m->batch, &bad,
	    &err)) {
	case MIRROR_MAP_USER:
	case MIRROR_MAP_GROUP:
		if (bad)
			log_obj_warning("mirror", "id=%s dn=\"%s\" skipped %u member values that are not DNs",
			    id, ldapconn_entry_dn(e), bad);
		break;
	case MIRROR_MAP_OUT_OF_SCOPE:
		mirror_out_of_scope(m, id, &err);
		return;
	case MIRROR_MAP_IGNORED:
		log_obj_debug("mirror", "id=%s ignored: %s", id, err.msg);
		return;
	case MIRROR_MAP_ERROR:
		log_obj_warning("mirror", "id=%s not mirrored: %s", id, err.msg);
		return;
	}
	mirror_note_change(m);
}

/* A group whose member list did not come (AD DirSync sends changed
 * attributes only): its row is written, its stored members stay. */
static void
mirror_sink_entry_keep_members(void *arg, const char *id,
    const struct ldapconn_entry *e)
{
	struct mirror *m = arg;
	struct ds_error err;
	struct store_group *g;

	switch (mirror_map_entry(&m->map, &m->scope, e, id, &m->batch, NULL,
	    &err)) {
	case MIRROR_MAP_GROUP:
		break;
	case MIRROR_MAP_OUT_OF_SCOPE:
		mirror_out_of_scope(m, id, &err);
		return;
	case MIRROR_MAP_USER:        /* not a group after all: as sent */
		mirror_note_change(m);
		return;
	case MIRROR_MAP_IGNORED:
	case MIRROR_MAP_ERROR:
		log_obj_debug("mirror", "id=%s not mirrored: %s", id, err.msg);
		return;
	}
	g = &m->batch.groups[m->batch.group_count - 1];
	for (size_t i = 0; i < g->member_count; i++) {
		free(g->member_dn[i]);
		free(g->member_dn_norm[i]);
	}
	g->member_count = 0;
	g->keep_members = true;
	mirror_note_change(m);
}

/* Member values added and removed (AD DirSync incremental values). */
static void
mirror_sink_members(void *arg, const char *group_id,
    const char *const *added, size_t added_count,
    const char *const *removed, size_t removed_count)
{
	struct mirror *m = arg;

	for (size_t k = 0; k < 2; k++) {
		const char *const *dns = k == 0 ? removed : added;
		size_t n = k == 0 ? removed_count : added_count;

		for (size_t i = 0; i < n; i++) {
			struct ds_error err;
			char *norm = NULL;

			if (dn_normalize(dns[i], &norm, &err) != 0) {
				log_obj_warning("mirror", "id=%s skipped a member "
				    "value that is not a DN: %s", group_id,
				    err.msg);
				continue;
			}
			store_batch_add_member_change(&m->batch, group_id,
			    dns[i], norm, k == 1);
			free(norm);
		}
	}
	mirror_note_change(m);
}

static void
mirror_sink_deleted(void *arg, const char *id)
{
	struct mirror *m = arg;

	store_batch_add_deleted(&m->batch, id);
	mirror_note_change(m);
}

static void
mirror_sink_left(void *arg, const char *id)
{
	struct mirror *m = arg;

	store_batch_add_left(&m->batch, id);
	mirror_note_change(m);
}

static void
mirror_sink_present(void *arg, const char *id)
{
	struct mirror *m = arg;

	store_batch_add_present(&m->batch, id);
	if (store_batch_size(&m->batch) >= m->batch_size)
		mirror_flush(m);
}

static void
mirror_sink_cookie(void *arg, const void *cookie, size_t len)
{
	struct mirror *m = arg;

	store_batch_set_cookie(&m->batch, cookie, len);
}

static void
mirror_sink_refresh_end(void *arg, bool delete_unseen)
{
	struct mirror *m = arg;

	m->end_requested = true;
	m->end_present = delete_unseen;
	mirror_flush(m);
}

/* The source is in its steady state; the mirror is once the refresh's
 * last batch is committed (mirror_write_done), so `sync --wait` never
 * returns before the content is in the database. */
static void
mirror_sink_persist(void *arg)
{
	struct mirror *m = arg;

	m->persist_pending = true;
}

static void
mirror_sink_forget_cookie(void *arg)
{
	struct mirror *m = arg;

	m->forget_cookie = true;
}

static void
mirror_sink_ended(void *arg, const char *why)
{
	struct mirror *m = arg;

	/* The source sends nothing more; mirror_stop_source() frees it. */
	mirror_error(m, why);
	mirror_restart_later(m, why);
}

/* ---- writing batches ----------------------------------------------- */

static void
mirror_write_done(const struct store_write_report *r, void *arg);
static void mirror_counts_refresh(struct mirror *m, time_t now);


/* Which refresh step the batch about to be written is. */
static enum store_refresh_op
mirror_next_refresh_op(struct mirror *m)
{
	switch (m->refresh) {
	case MIRROR_REFRESH_PENDING:
		m->refresh = MIRROR_REFRESH_WRITTEN;
		return STORE_REFRESH_BEGIN;
	case MIRROR_REFRESH_WRITTEN:
		if (!m->end_requested)
			return STORE_REFRESH_CONTINUE;
		m->refresh = MIRROR_REFRESH_OFF;
		m->end_requested = false;
		return m->end_present ? STORE_REFRESH_END_PRESENT
		                      : STORE_REFRESH_END_DELETE;
	case MIRROR_REFRESH_OFF:
		break;
	}
	return STORE_REFRESH_NONE;
}

/* Write the batch now if the store is free; otherwise it keeps filling,
 * and reading pauses once it is full. */
static void
mirror_flush(struct mirror *m)
{
	bool must = m->end_requested || m->refresh == MIRROR_REFRESH_PENDING;

	if (store_batch_size(&m->batch) == 0 && m->batch.cookie_len == 0 && !must)
		return;
	if (store_busy(m->store)) {
		if (!m->paused && store_batch_size(&m->batch) >= m->batch_size) {
			ldapconn_set_reading(m->lc, false);
			m->paused = true;
		}
		return;
	}
	m->batch.refresh = mirror_next_refresh_op(m);
	m->batch.clear_cookie = m->clear_cookie_pending &&
	    m->batch.refresh == STORE_REFRESH_BEGIN;
	m->write.run = m->run;
	m->write.had_cookie = m->batch.cookie_len > 0;
	m->write.end = m->batch.refresh == STORE_REFRESH_END_PRESENT ||
	    m->batch.refresh == STORE_REFRESH_END_DELETE;
	if (store_write(m->store, &m->batch, mirror_write_done, m) < 0) {
		mirror_restart_later(m, "cannot write to PostgreSQL");
		return;
	}
	if (m->batch.clear_cookie)
		m->clear_cookie_pending = false;
	if (store_batch_size(&m->batch) > 0 && m->batch_first)
		m->st.lag = difftime(time(NULL), m->batch_first);
	store_batch_reset(&m->batch);
	m->batch_first = 0;
}

static void
mirror_write_done(const struct store_write_report *r, void *arg)
{
	struct mirror *m = arg;
	bool stale = m->write.run != m->run;

	if (stale) {
		/* A write of a run that was since stopped: its result says
		 * nothing about the current run, but the store is free again,
		 * and the current run's batch may be waiting for it. */
		mirror_flush(m);
		return;
	}
	if (r->result == STORE_FAILED) {
		mirror_error(m, r->error);
		mirror_restart_later(m, r->error);
		return;
	}
	m->st.batches_written++;
	if (r->users_written || r->groups_written || r->deleted)
		m->st.last_change = time(NULL);
	if (m->write.had_cookie)
		m->st.cookie_saved = time(NULL);
	if (r->result == STORE_GUARD_TRIPPED) {
		/* The store has logged it, with the numbers. */
		m->st.guard_count = r->guard_count;
	} else if (m->write.end) {
		m->st.guard_count = 0;
	}
	m->counts_dirty = true;
	if (m->persist_pending && m->refresh == MIRROR_REFRESH_OFF) {
		m->persist_pending = false;
		m->last_restart_reason[0] = '\0';
		/* Counts right away, not at the next tick, so the first look
		 * at the steady state shows the real numbers. */
		m->counts_at = 0;
		mirror_set_phase(m, MIRROR_PERSIST);
		mirror_counts_refresh(m, time(NULL));
	}
	if (m->paused) {
		ldapconn_set_reading(m->lc, true);
		m->paused = false;
	}
	mirror_flush(m);
}

/* The LDAP socket has nothing more to read: write what we have, so a
 * single change never waits for a batch to fill. */
static void
mirror_ldap_idle(void *arg)
{
	mirror_flush(arg);
}

/* ---- starting and restarting ------------------------------------------ */

static void
mirror_server_id(struct mirror *m, const char *base, char *buf, size_t size)
{
	struct connstatus cs;

	char id[600];

	ldapconn_get_status(m->lc, &cs);
	/* A USN belongs to one domain controller, not to a URI: the source
	 * names the server when the URI is not enough. */
	if (m->ops->server_id != NULL)
		m->ops->server_id(m->lc, id, sizeof(id));
	else
		snprintf(id, sizeof(id), "%s", cs.server);
	/* A cookie is only valid for the same server, bind identity, base and
	 * filter (a 389-ds cookie names all four). */
	if ((size_t)snprintf(buf, size, "%s|%s|%s|%s", id,
	    ldapconn_bind_identity(m->lc), base, m->filter) >= size)
		log_obj_debug("mirror", "server id cut at %zu bytes", size);
	snprintf(m->st.server, sizeof(m->st.server), "%s", cs.server);
}

static const char *
mirror_base(const struct mirror *m)
{
	const struct ldapconn_server_info *info = ldapconn_get_server_info(m->lc);

	if (m->cfg_base[0] != '\0')
		return m->cfg_base;
	return info != NULL ? info->naming_context : "";
}

static void mirror_sink_unsupported(void *arg, const char *why);

static void
mirror_state_loaded(bool ok, const struct store_state *state, const char *error,
    void *arg)
{
	struct mirror *m = arg;
	bool stale = m->load_run != m->run;
	struct source_sink sink = {
		.refresh_begin = mirror_sink_refresh_begin,
		.entry = mirror_sink_entry,
		.deleted = mirror_sink_deleted,
		.present = mirror_sink_present,
		.cookie = mirror_sink_cookie,
		.refresh_end = mirror_sink_refresh_end,
		.persist = mirror_sink_persist,
		.forget_cookie = mirror_sink_forget_cookie,
		.ended = mirror_sink_ended,
		.unsupported = mirror_sink_unsupported,
		.entry_keep_members = mirror_sink_entry_keep_members,
		.members = mirror_sink_members,
		.left = mirror_sink_left,
		.arg = m,
	};
	const char *attrs[ATTRMAP_SEARCH_ATTRS_MAX + 2];
	size_t nattrs;
	struct source_params p;
	struct ds_error err;
	bool full;

	if (stale || m->phase != MIRROR_STARTING)
		return;
	if (!ok) {
		mirror_error(m, error);
		mirror_restart_later(m, error);
		return;
	}
	m->st.guard_count = state->guard_count;
	full = m->forget_cookie || state->cookie == NULL || state->cookie_len == 0;
	m->started_full = full;
	if (m->forget_cookie) {
		m->clear_cookie_pending = true;
		m->forget_cookie = false;
	}
	nattrs = attrmap_search_attrs(&m->map, attrs);
	attrs[nattrs++] = "cn";
	attrs[nattrs++] = "description";
	attrs[nattrs] = NULL;
	p = m->poll;
	p.base = mirror_base(m);
	p.filter = m->filter;
	p.attrs = attrs;
	p.cookie = full ? NULL : state->cookie;
	p.cookie_len = full ? 0 : state->cookie_len;
	log_obj_info("mirror", "starting source=%s base=\"%s\" resume=%s",
	    m->ops->name, p.base, full ? "no (full refresh)" : "yes (stored cookie)");
	m->src = m->ops->start(m->lc, &p, &sink, &err);
	if (m->src == NULL) {
		mirror_error(m, err.msg);
		mirror_restart_later(m, err.msg);
	}
}

/* Choose the source for the configured mode from what the root DSE
 * said and what was refused on this server (source_select.h); FAILED,
 * with the reason, when nothing can run. */
static bool
mirror_source_available(struct mirror *m)
{
	const struct ldapconn_server_info *info = ldapconn_get_server_info(m->lc);
	const char *mode = config_mirror_modes[m->mode];
	const struct source_ops *ops;
	char why[sizeof(m->st.mode_reason)];

	ops = source_select(mode, info, m->tried, why, sizeof(why));
	if (ops == NULL) {
		if ((size_t)snprintf(m->st.last_error, sizeof(m->st.last_error),
		    "%s%s%s", why, m->refused[0] ? ": " : "", m->refused) >=
		    sizeof(m->st.last_error))
			log_obj_debug("mirror", "error text cut");
		m->st.last_error_at = time(NULL);
		log_obj_error("mirror", "cannot start: %s", m->st.last_error);
		mirror_set_phase(m, MIRROR_FAILED);
		return false;
	}
	if (ops != m->ops || strcmp(why, m->st.mode_reason) != 0)
		log_obj_info("mirror", "source=%s chosen: %s", ops->name, why);
	m->ops = ops;
	snprintf(m->st.mode_reason, sizeof(m->st.mode_reason), "%s", why);
	return true;
}

/* The source cannot work with this server or account: in mode auto the
 * next kind is tried (after the usual short backoff); a fixed mode
 * fails with the source's reason. */
static void
mirror_sink_unsupported(void *arg, const char *why)
{
	struct mirror *m = arg;

	m->tried |= source_select_bit(m->ops);
	snprintf(m->refused, sizeof(m->refused), "%s: %s", m->ops->name, why);
	log_obj_warning("mirror", "source=%s refused: %s", m->ops->name, why);
	mirror_error(m, m->refused);
	mirror_restart_later(m, m->refused);
}

static void
mirror_start(struct mirror *m)
{
	char server_id[1024];
	const char *base = mirror_base(m);

	if (base[0] == '\0') {
		mirror_error(m, "the server names no naming context; set [mirror] base");
		mirror_set_phase(m, MIRROR_FAILED);
		log_obj_error("mirror", "cannot start: %s", m->st.last_error);
		return;
	}
	if (!mirror_source_available(m))
		return;
	/* A change of method discards the stored cookie (store.h). */
	store_set_method(m->store, m->ops->name);
	store_set_deletes_remove_memberships(m->store,
	    m->ops->deletes_remove_memberships);
	snprintf(m->st.base, sizeof(m->st.base), "%s", base);
	mirror_server_id(m, base, server_id, sizeof(server_id));
	mirror_set_phase(m, MIRROR_STARTING);
	m->load_run = m->run;
	store_load_state(m->store, server_id, base, mirror_state_loaded, m);
}

static void
mirror_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mirror *m = arg;

	(void)fd;
	(void)what;
	if (m->phase == MIRROR_BACKOFF) {
		mirror_set_phase(m, MIRROR_IDLE);
		mirror_update(m, m->ldap_ready, m->schema_ready);
	}
}

static void
mirror_restart_later(struct mirror *m, const char *why)
{
	unsigned ms = backoff_next_ms_random(&m->backoff);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	mirror_stop_source(m);
	/* Like the connections: a new failure is a warning, the same one
	 * again while retrying is not worth a line each time. */
	if (strcmp(why, m->last_restart_reason) != 0)
		log_obj_warning("mirror", "stopped reason=\"%s\" restart_in_ms=%u",
		    why, ms);
	else
		log_obj_debug("mirror", "stopped again reason=\"%s\" restart_in_ms=%u",
		    why, ms);
	snprintf(m->last_restart_reason, sizeof(m->last_restart_reason), "%s", why);
	mirror_set_phase(m, MIRROR_BACKOFF);
	evtimer_add(m->timer, &tv);
}

void
mirror_update(struct mirror *m, bool ldap_ready, bool schema_ready)
{
	m->ldap_ready = ldap_ready;
	m->schema_ready = schema_ready;
	if (!ldap_ready || !schema_ready) {
		/* FAILED is about the server we were on: the next one (or the
		 * same after a change) gets a fresh look, refusals too. */
		if (!ldap_ready) {
			m->tried = 0;
			m->refused[0] = '\0';
		}
		if (m->phase != MIRROR_IDLE && m->phase != MIRROR_BACKOFF) {
			mirror_stop_source(m);
			mirror_set_phase(m, MIRROR_IDLE);
		}
		return;
	}
	if (m->phase == MIRROR_IDLE)
		mirror_start(m);
}

/* ---- counts, status, guard ------------------------------------------- */

static void
mirror_counts_done(bool ok, const struct store_counts *c, void *arg)
{
	struct mirror *m = arg;

	m->counts_busy = false;
	if (!ok)
		return;
	m->st.users = c->users;
	m->st.groups = c->groups;
	m->st.memberships = c->memberships;
	m->st.dangling_managers = c->dangling_managers;
}

/* Ask for the counts when they may have changed, at most every
 * MIRROR_COUNTS_EVERY seconds. */
static void
mirror_counts_refresh(struct mirror *m, time_t now)
{
	if (m->counts_dirty && !m->counts_busy && m->schema_ready &&
	    now - m->counts_at >= MIRROR_COUNTS_EVERY &&
	    store_counts(m->store, mirror_counts_done, m) == 0) {
		m->counts_busy = true;
		m->counts_dirty = false;
		m->counts_at = now;
	}
}

void
mirror_tick(struct mirror *m)
{
	time_t now = time(NULL);

	mirror_counts_refresh(m, now);
	if (m->phase == MIRROR_PERSIST && m->st.guard_count == 0 &&
	    store_batch_size(&m->batch) == 0)
		backoff_reset(&m->backoff);
}

static void
mirror_confirm_done(bool ok, const char *error, void *arg)
{
	struct mirror *m = arg;

	m->confirm_busy = false;
	if (!ok) {
		mirror_error(m, error);
		log_obj_error("mirror", "confirming deletions failed: %s", error);
		return;
	}
	log_obj_info("mirror", "held-back deletions applied count=%u", m->st.guard_count);
	m->st.guard_count = 0;
	m->counts_dirty = true;
	m->counts_at = 0;
}

int
mirror_confirm_deletes(struct mirror *m, struct ds_error *err)
{
	if (m->st.guard_count == 0)
		return ds_error_set(err, "no deletions are held back");
	if (m->confirm_busy)
		return ds_error_set(err, "a confirmation is already running");
	if (store_confirm_deletes(m->store, mirror_confirm_done, m) < 0)
		return ds_error_set(err, "PostgreSQL is not ready or busy; try again");
	m->confirm_busy = true;
	return 0;
}

void
mirror_get_status(const struct mirror *m, struct mirror_status *out)
{
	*out = m->st;
	out->mode = m->ops->name;
	out->phase = m->st.guard_count ? "guard" : mirror_phase_names[m->phase];
	out->phase_since = m->phase_since;
	if (m->batch_first)
		out->lag = difftime(time(NULL), m->batch_first);
}

/* ---- configuration and life cycle --------------------------------------- */

static int
mirror_build_map(const struct config *cfg, struct attrmap *map,
    struct ds_error *err)
{
	const struct {
		const char *field;
		const char *value;
	} overrides[] = {
		{ "unique_id", cfg->attr_unique_id },
		{ "login", cfg->attr_login },
		{ "login_alt", cfg->attr_login_alt },
		{ "full_name", cfg->attr_full_name },
		{ "given_name", cfg->attr_given_name },
		{ "surname", cfg->attr_surname },
		{ "email", cfg->attr_email },
		{ "manager", cfg->attr_manager },
		{ "member", cfg->attr_member },
		{ "user_type", cfg->attr_user_type },
		{ "disabled", cfg->attr_disabled },
		{ "user_object_class", cfg->attr_user_object_class },
		{ "group_object_class", cfg->attr_group_object_class },
	};
	struct ds_error e;

	if (attrmap_profile(config_mirror_profiles[cfg->mirror_profile], map, err) < 0)
		return -1;
	for (size_t i = 0; i < DS_ARRAY_SIZE(overrides); i++) {
		if (overrides[i].value[0] == '\0')
			continue;
		if (attrmap_set(map, overrides[i].field, overrides[i].value, &e) < 0)
			return ds_error_set(err, "%s:%u: attributes.%s: %s", cfg->path,
			    config_line_of(cfg, "attributes", overrides[i].field),
			    overrides[i].field, e.msg);
	}
	return 0;
}

/* "(x)" stays, "x" becomes "(x)": filters from the file are pasted
 * into one (|...) so each must be a complete filter. */
static char *
mirror_paren(const char *filter, const char *cls_attr_value)
{
	size_t n;
	char *out;

	if (filter[0] == '\0') {
		n = strlen(cls_attr_value) + 16;
		out = ds_calloc(1, n);
		snprintf(out, n, "(objectClass=%s)", cls_attr_value);
		return out;
	}
	if (filter[0] == '(')
		return ds_strdup(filter);
	n = strlen(filter) + 3;
	out = ds_calloc(1, n);
	snprintf(out, n, "(%s)", filter);
	return out;
}

static char *
mirror_build_filter(const struct config *cfg, const struct attrmap *map)
{
	char *u = mirror_paren(cfg->mirror_user_filter, map->user_object_class);
	char *g = mirror_paren(cfg->mirror_group_filter, map->group_object_class);
	size_t n = strlen(u) + strlen(g) + 4;
	char *f = ds_calloc(1, n);

	snprintf(f, n, "(|%s%s)", u, g);
	free(u);
	free(g);
	return f;
}

/* The shape of an RFC 4515 filter: one parenthesised item, parentheses
 * balanced, escapes complete.  Enough to catch the typical typo at -t
 * instead of as a server error on every retry; the server checks the
 * rest. */
static int
mirror_filter_check(const char *f, struct ds_error *err)
{
	int depth = f[0] == '(' ? 0 : 1;   /* a bare "a=b" is wrapped */

	if (f[0] == '\0')
		return 0;
	for (const char *p = f; *p; p++) {
		if (*p == '\\') {
			if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2]))
				return ds_error_set(err,
				    "'\\' must be followed by two hex digits (RFC 4515 3): %s", f);
			p += 2;
		} else if (depth == 0 && p > f) {
			return ds_error_set(err, "text after the closing ')': %s", f);
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')') {
			depth--;
		}
	}
	if (depth != (f[0] == '(' ? 0 : 1))
		return ds_error_set(err, "unbalanced parentheses: %s", f);
	return 0;
}

/* mirror.user_base or mirror.group_base (key), normalised into *out (NULL
 * when empty): a DN inside mirror.base when that is set.  Errors name the
 * file and line. */
static int
mirror_subtree(const struct config *cfg, const char *key, const char *value,
    char **out, struct ds_error *err)
{
	char *nbase = NULL;
	struct ds_error e;
	int rc = 0;

	*out = NULL;
	if (value[0] == '\0')
		return 0;
	if (dn_normalize(value, out, &e) < 0)
		return ds_error_set(err, "%s:%u: mirror.%s: not a DN: %s",
		    cfg->path, config_line_of(cfg, "mirror", key), key, e.msg);
	if (cfg->mirror_base[0] != '\0' &&
	    dn_normalize(cfg->mirror_base, &nbase, &e) == 0 &&
	    !dn_is_under(*out, nbase))
		rc = ds_error_set(err, "%s:%u: mirror.%s: \"%s\" is not inside "
		    "mirror.base \"%s\": nothing there would be found",
		    cfg->path, config_line_of(cfg, "mirror", key), key, value,
		    cfg->mirror_base);
	free(nbase);
	if (rc < 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

int
mirror_check_config(const struct config *cfg, struct ds_error *err)
{
	struct attrmap map;
	struct ds_error e;
	char *sub;

	if (mirror_build_map(cfg, &map, &e) < 0)
		return ds_error_set(err, "%s", e.msg);
	if (mirror_subtree(cfg, "user_base", cfg->mirror_user_base, &sub, err) < 0)
		return -1;
	free(sub);
	if (mirror_subtree(cfg, "group_base", cfg->mirror_group_base, &sub, err) < 0)
		return -1;
	free(sub);
	if (mirror_filter_check(cfg->mirror_user_filter, &e) < 0)
		return ds_error_set(err, "%s:%u: mirror.user_filter: %s", cfg->path,
		    config_line_of(cfg, "mirror", "user_filter"), e.msg);
	if (mirror_filter_check(cfg->mirror_group_filter, &e) < 0)
		return ds_error_set(err, "%s:%u: mirror.group_filter: %s", cfg->path,
		    config_line_of(cfg, "mirror", "group_filter"), e.msg);
	return 0;
}

struct mirror *
mirror_new(struct event_base *base, const struct config *cfg,
    struct ldapconn *lc, struct pgconn *pg, struct ds_error *err)
{
	struct mirror *m;

	if (mirror_check_config(cfg, err) < 0)
		return NULL;
	m = ds_calloc(1, sizeof(*m));
	if (mirror_build_map(cfg, &m->map, err) < 0) {
		free(m);
		return NULL;
	}
	m->base = base;
	m->lc = lc;
	m->mode = cfg->mirror_mode;
	/* Until the server is known: the configured kind, or for auto the
	 * first one tried (mirror_source_available decides). */
	m->ops = source_select(config_mirror_modes[m->mode], NULL, 0,
	    m->st.mode_reason, sizeof(m->st.mode_reason));
	m->st.mode_reason[0] = '\0';
	if (m->ops == NULL || m->mode == CONFIG_MIRROR_AUTO)
		m->ops = &source_syncrepl_ops;
	m->poll = (struct source_params){
		.poll_interval_ms = cfg->mirror_poll_interval_ms,
		.reconcile_interval_ms = cfg->mirror_reconcile_interval_ms,
		.page_size = cfg->mirror_page_size,
		.range_size = cfg->mirror_range_size,
		.timestamp_overlap_ms = cfg->mirror_timestamp_overlap_ms,
		.evbase = base,
	};
	m->store = store_new(pg, MIRROR_SOURCE_NAME, m->ops->name,
	    cfg->mirror_max_delete_percent / 100.0);
	store_set_delete_window(m->store, cfg->mirror_delete_guard_window_ms);
	m->cfg_base = ds_strdup(cfg->mirror_base);
	/* Checked by mirror_check_config() above. */
	(void)mirror_subtree(cfg, "user_base", cfg->mirror_user_base,
	    &m->user_base, err);
	(void)mirror_subtree(cfg, "group_base", cfg->mirror_group_base,
	    &m->group_base, err);
	m->scope.user_base = m->user_base;
	m->scope.group_base = m->group_base;
	m->filter = mirror_build_filter(cfg, &m->map);
	m->poll.unique_id = m->map.unique_id;
	m->poll.member_attr = m->map.member;
	m->batch_size = cfg->mirror_batch_size;
	m->timer = evtimer_new(base, mirror_timer_cb, m);
	m->st.users = m->st.groups = m->st.memberships = -1;
	m->st.dangling_managers = -1;
	m->phase_since = time(NULL);
	m->counts_dirty = true;
	backoff_init(&m->backoff, cfg->retry_backoff_min_ms, cfg->retry_backoff_max_ms);
	ldapconn_set_idle_cb(lc, mirror_ldap_idle, m);
	return m;
}

void
mirror_reconfigure(struct mirror *m, const struct config *cfg)
{
	store_set_max_delete_ratio(m->store, cfg->mirror_max_delete_percent / 100.0);
	store_set_delete_window(m->store, cfg->mirror_delete_guard_window_ms);
	backoff_init(&m->backoff, cfg->retry_backoff_min_ms, cfg->retry_backoff_max_ms);
}

void
mirror_free(struct mirror *m)
{
	if (m == NULL)
		return;
	mirror_stop_source(m);
	ldapconn_set_idle_cb(m->lc, NULL, NULL);
	store_batch_free(&m->batch);
	store_free(m->store);
	event_free(m->timer);
	free(m->cfg_base);
	free(m->user_base);
	free(m->group_base);
	free(m->filter);
	free(m);
}
