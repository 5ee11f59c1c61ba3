/* source_syncrepl.c - RFC 4533 content synchronisation as a change
 * source: one refreshAndPersist search whose Sync State controls, Sync
 * Info messages and Sync Done control become sink calls (source.h).
 * It never touches PostgreSQL and never interprets a cookie. */
#include "source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ldapconn.h"
#include "log.h"
#include "syncrepl_proto.h"

/* A refresh that hears nothing from the server for this long is said to
 * be stalled, once, with the likely reason (syncrepl_quiet_cb). */
#ifndef SYNCREPL_REFRESH_QUIET_MS
#define SYNCREPL_REFRESH_QUIET_MS 60000
#endif

struct source {
	struct ldapconn *lc;
	struct source_sink sink;
	unsigned op;              /* ldapconn operation id of the search */
	bool full;                /* started without a cookie */
	bool refreshing;          /* refresh phase not finished yet */
	bool present_phase;       /* a present phase ended during this refresh */
	unsigned long entries;    /* entry messages, for the log */
	struct event *quiet;      /* refresh stall check; NULL without evbase */
	long long last_msg_ms;    /* ds_monotonic_ms() of the last message */
	bool quiet_warned;
	/* The mirror stops (frees) the source from inside a sink call when a
	 * batch cannot be written: a cookie reported after the entry, the
	 * log line and persist() after refresh_end(), the next id of a
	 * syncIdSet would touch freed memory.  So while one of our
	 * callbacks runs, stop() only marks the source, every sink call
	 * that is not the last thing done checks the mark, and the callback
	 * frees it on the way out. */
	int busy;
	bool stopped;
};

static void syncrepl_free(struct source *src);

static void
syncrepl_enter(struct source *src)
{
	src->busy++;
}

static void
syncrepl_leave(struct source *src)
{
	if (--src->busy == 0 && src->stopped)
		syncrepl_free(src);
}

static void
syncrepl_cookie(struct source *src, const struct syncrepl_proto_cookie *c)
{
	if (c->val == NULL || src->stopped)
		return;
	/* Kept, it would be resumed from as if it named a state: see
	 * syncrepl_proto_cookie_names_state(). */
	if (!syncrepl_proto_cookie_names_state(c->val, c->len)) {
		log_obj_debug("mirror", "cookie without a CSN not kept cookie=\"%.*s\"",
		    (int)(c->len < 64 ? c->len : 64), (const char *)c->val);
		return;
	}
	src->sink.cookie(src->sink.arg, c->val, c->len);
}

/* RFC 4533 §3.2/§3.3: each entry carries a Sync State control with its
 * UUID - the identity we key on (on 389-ds it is not any attribute's
 * value, so the control is the only reliable source). */
static void
syncrepl_on_entry(const struct ldapconn_entry *e, void *arg)
{
	struct source *src = arg;
	struct syncrepl_proto_state_value st;
	struct ds_error err;
	const void *val;
	size_t len;
	char id[SYNCREPL_PROTO_UUID_STRLEN];

	src->last_msg_ms = ds_monotonic_ms();
	if (!ldapconn_entry_control(e, SYNCREPL_PROTO_OID_STATE, &val, &len)) {
		log_obj_warning("mirror", "entry without Sync State control dn=\"%s\"; ignored",
		    ldapconn_entry_dn(e));
		return;
	}
	if (syncrepl_proto_state_decode(val, len, &st, &err) < 0) {
		log_obj_warning("mirror", "bad Sync State control dn=\"%s\" err=\"%s\"; ignored",
		    ldapconn_entry_dn(e), err.msg);
		return;
	}
	syncrepl_proto_uuid_format(st.uuid, id);
	src->entries++;
	syncrepl_enter(src);
	switch (st.state) {
	case SYNCREPL_PROTO_STATE_PRESENT:
		src->sink.present(src->sink.arg, id);
		break;
	case SYNCREPL_PROTO_STATE_ADD:
	case SYNCREPL_PROTO_STATE_MODIFY:
		src->sink.entry(src->sink.arg, id, e);
		break;
	case SYNCREPL_PROTO_STATE_DELETE:
		src->sink.deleted(src->sink.arg, id);
		break;
	}
	syncrepl_cookie(src, &st.cookie);
	syncrepl_proto_state_free(&st);
	syncrepl_leave(src);
}

/* The refresh phase is over (RFC 4533 §3.4): from now on the search
 * delivers changes as they happen. */
static void
syncrepl_refresh_done(struct source *src, bool present_phase)
{
	if (!src->refreshing)
		return;
	src->refreshing = false;
	if (src->quiet != NULL)
		evtimer_del(src->quiet);
	/* Without a cookie the server sent the whole content, so whatever it
	 * did not send is gone whichever phase it ended with; and after a
	 * present phase (§3.4), even one followed by a delete phase, every
	 * entry it did not report is gone too. */
	log_obj_info("mirror", "refresh done entries=%lu phase=%s",
	    src->entries, present_phase ? "present" : "delete");
	src->sink.refresh_end(src->sink.arg,
	    present_phase || src->present_phase || src->full);
	if (!src->stopped)
		src->sink.persist(src->sink.arg);
}

static void
syncrepl_on_info(struct source *src, const struct syncrepl_proto_info_value *info)
{
	switch (info->kind) {
	case SYNCREPL_PROTO_INFO_NEW_COOKIE:
		syncrepl_cookie(src, &info->cookie);
		break;
	case SYNCREPL_PROTO_INFO_REFRESH_DELETE:
	case SYNCREPL_PROTO_INFO_REFRESH_PRESENT:
		syncrepl_cookie(src, &info->cookie);
		/* refreshDone FALSE: a present phase followed by a delete
		 * phase (§3.4); the refresh goes on. */
		if (info->kind == SYNCREPL_PROTO_INFO_REFRESH_PRESENT)
			src->present_phase = true;
		if (info->refresh_done)
			syncrepl_refresh_done(src,
			    info->kind == SYNCREPL_PROTO_INFO_REFRESH_PRESENT);
		break;
	case SYNCREPL_PROTO_INFO_SYNC_ID_SET:
		/* §3.3.2: many ids at once, present or deleted. */
		for (size_t i = 0; i < info->uuid_count && !src->stopped; i++) {
			char id[SYNCREPL_PROTO_UUID_STRLEN];

			syncrepl_proto_uuid_format(info->uuids[i], id);
			if (info->refresh_deletes)
				src->sink.deleted(src->sink.arg, id);
			else
				src->sink.present(src->sink.arg, id);
		}
		syncrepl_cookie(src, &info->cookie);
		break;
	}
}

static void
syncrepl_on_intermediate(const char *oid, const void *value, size_t len,
    void *arg)
{
	struct source *src = arg;
	struct syncrepl_proto_info_value info;
	struct ds_error err;

	src->last_msg_ms = ds_monotonic_ms();
	if (oid == NULL || strcmp(oid, SYNCREPL_PROTO_OID_INFO) != 0)
		return;
	if (syncrepl_proto_info_decode(value, len, SYNCREPL_PROTO_UUIDS_MAX,
	    &info, &err) < 0) {
		/* Old 389-ds releases send short syncIdSet UUIDs; the same
		 * message would come back from the same cookie, so only a full
		 * refresh gets past it. */
		log_obj_warning("mirror", "bad Sync Info message err=\"%s\"; starting a full refresh",
		    err.msg);
		src->sink.forget_cookie(src->sink.arg);
		ldapconn_abandon(src->lc, src->op);
		src->op = 0;
		src->sink.ended(src->sink.arg, err.msg);
		return;
	}
	syncrepl_enter(src);
	syncrepl_on_info(src, &info);
	syncrepl_proto_info_free(&info);
	syncrepl_leave(src);
}

static void
syncrepl_on_done(int rc, const char *text, const struct ldapconn_controls *ctrls,
    void *arg)
{
	struct source *src = arg;
	struct syncrepl_proto_done_value done;
	struct ds_error err;
	const void *val;
	size_t len;
	char why[600];

	src->op = 0;
	if (rc == SYNCREPL_PROTO_E_SYNC_REFRESH_REQUIRED) {
		/* §2.6/§3.8: the server cannot resume from our cookie. */
		log_obj_info("mirror", "server requires a full refresh (e-syncRefreshRequired)");
		src->sink.forget_cookie(src->sink.arg);
		src->sink.ended(src->sink.arg, "server requires a full refresh");
		return;
	}
	if (rc == 0 && ctrls != NULL &&
	    ldapconn_controls_find(ctrls, SYNCREPL_PROTO_OID_DONE, &val, &len) &&
	    syncrepl_proto_done_decode(val, len, &done, &err) == 0) {
		syncrepl_cookie(src, &done.cookie);
		syncrepl_proto_done_free(&done);
	}
	snprintf(why, sizeof(why), "sync search ended: %s", text && *text ? text : "success");
	src->sink.ended(src->sink.arg, why);
}

/* RFC 4533 ends a refresh with refreshDone, or the search with an error.
 * 389-ds 2.3 does neither when the bind account reaches its size or
 * look-through limit (nsSizeLimit, nsLookThroughLimit; by default
 * nsslapd-sizelimit 2000 and nsslapd-lookthroughlimit 5000): it sends
 * that many entries and then nothing, the persist phase never comes and
 * nothing says why.  So a refresh quiet for SYNCREPL_REFRESH_QUIET_MS is
 * reported once, with that reason; it goes on waiting (a slow server may
 * still finish). */
static void
syncrepl_quiet_cb(evutil_socket_t fd, short what, void *arg)
{
	struct source *src = arg;

	(void)fd;
	(void)what;
	if (src->stopped || !src->refreshing || src->quiet_warned ||
	    ds_monotonic_ms() - src->last_msg_ms < SYNCREPL_REFRESH_QUIET_MS)
		return;
	src->quiet_warned = true;
	log_obj_warning("mirror", "refresh stalled: no message from the server for %d s after %lu entries; "
	    "389-ds stops a refresh without a word when the bind account reaches its size or look-through limit: "
	    "set nsSizeLimit and nsLookThroughLimit to -1 on that account (or raise nsslapd-sizelimit and "
	    "nsslapd-lookthroughlimit, 2000 and 5000 by default)",
	    SYNCREPL_REFRESH_QUIET_MS / 1000, src->entries);
}

static struct source *
syncrepl_start(struct ldapconn *lc, const struct source_params *p,
    const struct source_sink *sink, struct ds_error *err)
{
	struct source *src;
	unsigned char *req;
	size_t req_len;
	struct ldapconn_control ctrl;
	struct ldapconn_search_req sreq;
	static const struct ldapconn_search_cbs cbs = {
		.entry = syncrepl_on_entry,
		.intermediate = syncrepl_on_intermediate,
		.done = syncrepl_on_done,
	};

	/* A stored cookie that names no state (an earlier version kept
	 * them) is no cookie: a full refresh, whose end deletes what the
	 * server did not send. */
	bool resume = syncrepl_proto_cookie_names_state(p->cookie, p->cookie_len);

	if (!resume && p->cookie != NULL && p->cookie_len > 0)
		log_obj_warning("mirror", "stored cookie names no state (no CSN); "
		    "starting a full refresh cookie=\"%.*s\"",
		    (int)(p->cookie_len < 64 ? p->cookie_len : 64),
		    (const char *)p->cookie);
	if (syncrepl_proto_request_encode(SYNCREPL_PROTO_MODE_REFRESH_AND_PERSIST,
	    resume ? p->cookie : NULL, resume ? p->cookie_len : 0, false, &req,
	    &req_len, err) < 0)
		return NULL;
	src = ds_calloc(1, sizeof(*src));
	src->lc = lc;
	src->sink = *sink;
	src->full = !resume;
	src->refreshing = true;
	src->last_msg_ms = ds_monotonic_ms();
	if (p->evbase != NULL) {
		/* Checked four times per period: the warning comes at most a
		 * quarter period late. */
		struct timeval tv = { SYNCREPL_REFRESH_QUIET_MS / 4000,
			(SYNCREPL_REFRESH_QUIET_MS / 4 % 1000) * 1000 };

		src->quiet = event_new(p->evbase, -1, EV_PERSIST,
		    syncrepl_quiet_cb, src);
		if (src->quiet != NULL)
			evtimer_add(src->quiet, &tv);
	}
	ctrl = (struct ldapconn_control){ .oid = SYNCREPL_PROTO_OID_REQUEST,
		.value = req, .len = req_len, .critical = true };
	sreq = (struct ldapconn_search_req){ .base = p->base,
		.scope = LDAPCONN_SCOPE_SUB, .filter = p->filter,
		.attrs = p->attrs, .controls = &ctrl, .control_count = 1 };
	/* The sink hears refresh_begin before the first entry can arrive. */
	src->sink.refresh_begin(src->sink.arg);
	if (ldapconn_search_ext(lc, &sreq, &cbs, src, &src->op) < 0) {
		ds_error_set(err, "cannot send the sync search");
		free(req);
		syncrepl_free(src);
		return NULL;
	}
	free(req);
	log_obj_info("mirror", "sync search started mode=refreshAndPersist base=\"%s\" cookie=%s",
	    p->base, src->full ? "none" : "stored");
	return src;
}

static void
syncrepl_stop(struct source *src)
{
	if (src == NULL || src->stopped)
		return;
	src->stopped = true;
	if (src->quiet != NULL)
		evtimer_del(src->quiet);
	if (src->op != 0)
		ldapconn_abandon(src->lc, src->op);
	src->op = 0;
	if (src->busy == 0)
		syncrepl_free(src);
}

static void
syncrepl_free(struct source *src)
{
	if (src->quiet != NULL)
		event_free(src->quiet);
	free(src);
}

const struct source_ops source_syncrepl_ops = {
	.name = "syncrepl",
	.start = syncrepl_start,
	.stop = syncrepl_stop,
};
