/* source_poll.c - the polling change sources (source.h) for servers
 * without RFC 4533 or DirSync: `usn` (AD's uSNChanged against the root
 * DSE's highestCommittedUSN; 389-ds's entryUSN against lastusn) and
 * `timestamp` (modifyTimestamp, any server).  One loop serves both: read
 * the root DSE, search what changed since the mark (paged, ranges joined
 * by ldapfetch), read tombstones where the server keeps them, report the
 * new mark as the cookie, and only then arm the next poll - polls never
 * overlap and nothing waits on the server.  Every reconcile_interval the
 * poll is a full paged refresh instead, which finds whatever the
 * increments cannot see (deletes without tombstones, entries that left
 * the filter or the base).  It never touches PostgreSQL. */
#include "source.h"
#include "source_poll_internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "attrmap.h"
#include "escape.h"
#include "ldapconn.h"
#include "ldapfetch.h"
#include "log.h"
#include "source_reconcile.h"

#define POLL_LOG "mirror"
#define POLL_INTERVAL_DEFAULT_MS 5000
#define POLL_RECONCILE_DEFAULT_MS (3600 * 1000)
#define POLL_DEDUPE_MAX 100000  /* entries remembered to skip repeats */
#define POLL_ATTRS_MAX 40

enum poll_kind {
	POLL_USN,        /* uSNChanged (AD) or entryUSN (389-ds) */
	POLL_TIMESTAMP,  /* modifyTimestamp */
};

enum poll_state {
	POLL_WAITING = 0, /* timer armed for the next poll */
	POLL_ROOT_DSE,    /* reading the root DSE: the mark comes first */
	POLL_ENTRIES,     /* the changed (or, in a refresh, every) entry */
	POLL_DELETED_PROBE, /* AD, once per start: may we read CN=Deleted Objects? */
	POLL_TOMBSTONES,  /* deleted entries since the mark */
};

/* An entry reported by the last timestamp poll: with a one-second clock
 * and the overlap window the same entry comes back in the next poll; if
 * nothing in it changed it is not reported again. */
struct poll_seen {
	char id[ATTRMAP_GUID_TEXT_LEN];
	uint64_t hash;
	long long ts;
};

struct poll_seen_set {
	struct poll_seen *v;
	size_t n, cap;
};

struct source {
	enum poll_kind kind;
	struct ldapconn *lc;
	struct source_sink sink;
	struct event *timer;
	enum poll_state state;

	/* Parameters (copies). */
	char *base, *filter, *unique_id, *member_attr;
	char *base_norm;         /* base normalised, NULL when it does not parse */
	const char *attrs[POLL_ATTRS_MAX];
	char *attr_store[POLL_ATTRS_MAX];
	unsigned interval_ms, reconcile_ms, page_size, range_size;
	long long overlap_s;

	/* The operation in flight. */
	unsigned rootdse_op;
	struct ldapfetch *fetch;
	bool full;               /* this poll is a full refresh */
	bool first_done;         /* a poll finished since start (persist sent) */
	long long poll_started;  /* ds_monotonic_ms() */
	struct source_reconcile recon; /* the full refresh: its clock, its read */
	unsigned long entries, deletes, skipped;

	/* Root DSE facts of this poll. */
	bool is_ad, is_389;
	char server[512];        /* dsServiceName (AD) or URI (389-ds) */
	char deleted_base[600];  /* CN=Deleted Objects,<default naming context> */
	bool tombstones_warned;
	bool tombstones_389_noted; /* the root-DN-only warning was logged */
	bool deleted_probed;     /* the probe of deleted_base ran since start */
	bool deleted_readable;   /* ... and the container's attributes came back */

	/* The mark: what the stored cookie covers, and the one this poll
	 * will report. */
	bool have_mark;
	char mark_server[512];   /* usn: server the mark came from */
	long long mark, next_mark;
	long long max_seen;      /* timestamp: greatest modifyTimestamp this poll */
	long long server_now;    /* timestamp: root DSE currentTime, or -1 */
	struct poll_seen_set seen_prev, seen_next;

	/* A sink call may stop (free) the source: stop() then only marks
	 * it, and the outermost callback of ours frees it on the way out. */
	int busy;
	bool stopped;
};

static void poll_arm(struct source *src, unsigned ms);
static void poll_free(struct source *src);

static void
poll_enter(struct source *src)
{
	src->busy++;
}

/* false: stopped during the callback (and freed if we were the last). */
static bool
poll_leave(struct source *src)
{
	src->busy--;
	if (!src->stopped)
		return true;
	if (src->busy == 0)
		poll_free(src);
	return false;
}

static const char *
poll_first(const struct ldapconn_entry *e, const char *attr)
{
	const char *v;

	return ldapconn_entry_values(e, attr, &v, 1) > 0 ? v : NULL;
}

/* ---- ids, times, cookies ------------------------------------------------ */

/* RFC 4517 3.3.13 GeneralizedTime as the servers send it: seconds
 * always ("20240102030405Z"), a fraction sometimes (AD's
 * "20240102030405.0Z"), and Z or an offset from UTC ("+0100").  Seconds
 * since the epoch, or -1 for anything else: a value read leniently (a
 * sign inside a field, an offset taken for UTC) would move the mark and
 * lose changes until the next reconcile. */
long long
poll_parse_gentime(const char *s)
{
	struct tm tm = { 0 };
	long long t, off = 0;
	int f[6];
	static const int width[6] = { 4, 2, 2, 2, 2, 2 };
	const char *p = s;

	if (s == NULL)
		return -1;
	for (int i = 0; i < 6; i++) {
		f[i] = 0;
		for (int k = 0; k < width[i]; k++, p++) {
			if (!isdigit((unsigned char)*p))
				return -1;
			f[i] = f[i] * 10 + (*p - '0');
		}
	}
	if (*p == '.' || *p == ',') {
		if (!isdigit((unsigned char)*++p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, hh, mm = 0;

		if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
			return -1;
		hh = (p[0] - '0') * 10 + (p[1] - '0');
		p += 2;
		if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1])) {
			mm = (p[0] - '0') * 10 + (p[1] - '0');
			p += 2;
		}
		if (hh > 23 || mm > 59)
			return -1;
		off = sign * (hh * 3600LL + mm * 60LL);
	} else if (*p++ != 'Z') {
		return -1;
	}
	if (*p != '\0' || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 ||
	    f[3] > 23 || f[4] > 59 || f[5] > 60)
		return -1;
	tm.tm_year = f[0] - 1900;
	tm.tm_mon = f[1] - 1;
	tm.tm_mday = f[2];
	tm.tm_hour = f[3];
	tm.tm_min = f[4];
	tm.tm_sec = f[5];
	t = (long long)timegm(&tm);
	/* "...+0100" is an hour ahead of UTC. */
	return t - off < 0 ? -1 : t - off;
}

static void
poll_format_gentime(long long t, char *buf, size_t size)
{
	time_t tt = (time_t)(t < 0 ? 0 : t);
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, size, "%Y%m%d%H%M%SZ", &tm);
}

/* A USN or a stored mark: decimal, below LLONG_MAX so that mark + 1 (the
 * next search's lower bound) cannot overflow. */
bool
poll_parse_ll(const char *s, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || end == s || errno == ERANGE || v == LLONG_MAX)
		return false;
	*out = v;
	return true;
}

/* "usn:<server>:<N>" or "ts:<generalized time>"; false when the stored
 * cookie is not ours (another kind of source wrote it). */
static bool
poll_parse_cookie(struct source *src, const char *c, size_t len)
{
	char buf[700];
	char *colon;

	if (c == NULL || len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, c, len);
	buf[len] = '\0';
	if (src->kind == POLL_USN) {
		if (strncmp(buf, "usn:", 4) != 0 ||
		    (colon = strrchr(buf + 4, ':')) == NULL)
			return false;
		*colon = '\0';
		if (!poll_parse_ll(colon + 1, &src->mark))
			return false;
		if (strlen(buf + 4) >= sizeof(src->mark_server))
			return false;
		memcpy(src->mark_server, buf + 4, strlen(buf + 4) + 1);
		return true;
	}
	if (strncmp(buf, "ts:", 3) != 0 ||
	    (src->mark = poll_parse_gentime(buf + 3)) < 0)
		return false;
	return true;
}

static void
poll_report_cookie(struct source *src)
{
	char buf[700], t[32];
	int n;

	if (src->kind == POLL_USN) {
		n = snprintf(buf, sizeof(buf), "usn:%s:%lld", src->server,
		    src->next_mark);
	} else {
		poll_format_gentime(src->next_mark, t, sizeof(t));
		n = snprintf(buf, sizeof(buf), "ts:%s", t);
	}
	if (n > 0 && (size_t)n < sizeof(buf))
		src->sink.cookie(src->sink.arg, buf, (size_t)n);
}

/* ---- the dedupe set (timestamp) ----------------------------------------- */

static uint64_t
poll_hash_bytes(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;

	/* FNV-1a; a collision only means one change is reported late (at
	 * the next reconcile), and needs an unchanged id. */
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h ^ 0xff;   /* separates fields */
}

static uint64_t
poll_hash_entry(const struct ldapconn_entry *e)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const char *dn = ldapconn_entry_dn(e);

	h = poll_hash_bytes(h, dn, strlen(dn));
	for (size_t i = 0; i < ldapconn_entry_attr_count(e); i++) {
		const char *name = ldapconn_entry_attr_name(e, i);
		size_t nv = ldapconn_entry_values(e, name, NULL, 0);

		const char **vals;

		h = poll_hash_bytes(h, name, strlen(name));
		if (nv == 0 || (vals = malloc(nv * sizeof(*vals))) == NULL)
			continue;
		ldapconn_entry_values(e, name, vals, nv);
		for (size_t k = 0; k < nv; k++)
			h = poll_hash_bytes(h, vals[k],
			    ldapconn_entry_value_len(e, name, k));
		free(vals);
	}
	return h;
}

static int
poll_seen_cmp(const void *a, const void *b)
{
	return strcmp(((const struct poll_seen *)a)->id,
	    ((const struct poll_seen *)b)->id);
}

static const struct poll_seen *
poll_seen_find(const struct poll_seen_set *s, const char *id)
{
	struct poll_seen key = { .hash = 0 };

	if (s->n == 0)
		return NULL;
	snprintf(key.id, sizeof(key.id), "%s", id);
	return bsearch(&key, s->v, s->n, sizeof(*s->v), poll_seen_cmp);
}

static void
poll_seen_add(struct poll_seen_set *s, const char *id, uint64_t h, long long ts)
{
	if (s->n == s->cap) {
		if (s->cap >= POLL_DEDUPE_MAX)
			return;
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = ds_realloc(s->v, s->cap * sizeof(*s->v));
	}
	snprintf(s->v[s->n].id, sizeof(s->v[s->n].id), "%s", id);
	s->v[s->n].hash = h;
	s->v[s->n].ts = ts;
	s->n++;
}

/* Keep what the next poll can see again (modifyTimestamp within the
 * window), sorted for bsearch. */
static void
poll_seen_rotate(struct source *src)
{
	struct poll_seen_set *n = &src->seen_next;
	size_t k = 0;

	for (size_t i = 0; i < n->n; i++)
		if (n->v[i].ts >= src->next_mark - src->overlap_s - 1)
			n->v[k++] = n->v[i];
	n->n = k;
	qsort(n->v, n->n, sizeof(*n->v), poll_seen_cmp);
	free(src->seen_prev.v);
	src->seen_prev = *n;
	*n = (struct poll_seen_set){ NULL, 0, 0 };
}

/* ---- one poll ----------------------------------------------------------- */

static void
poll_fail(struct source *src, const char *what, const char *text)
{
	char why[600];

	snprintf(why, sizeof(why), "%s%s", what, text && *text ? text : "unknown error");
	src->state = POLL_WAITING;
	src->sink.ended(src->sink.arg, why);
}

/* Everything since the mark is reported: the mark moves, and the next
 * poll waits a whole interval. */
static void
poll_finish(struct source *src)
{
	bool moved = !src->have_mark || src->next_mark != src->mark ||
	    (src->kind == POLL_USN && strcmp(src->mark_server, src->server) != 0);
	bool full = src->full, first = !src->first_done;
	long long ms = ds_monotonic_ms() - src->poll_started;

	if (full) {
		log_obj_info(POLL_LOG, "full %s done entries=%lu ms=%lld",
		    first ? "refresh" : "reconcile", src->entries, ms);
	} else {
		log_obj_debug(POLL_LOG, "poll done entries=%lu deleted=%lu unchanged=%lu ms=%lld",
		    src->entries, src->deletes, src->skipped, ms);
	}
	src->first_done = true;
	src->have_mark = true;
	src->full = false;
	if (src->kind == POLL_TIMESTAMP)
		poll_seen_rotate(src);
	src->state = POLL_WAITING;
	poll_arm(src, src->interval_ms);
	/* The cookie goes with the refresh's last batch. */
	if (moved || full || first)
		poll_report_cookie(src);
	src->mark = src->next_mark;
	snprintf(src->mark_server, sizeof(src->mark_server), "%s", src->server);
	if (full)
		src->sink.refresh_end(src->sink.arg, true);
	if ((full || first) && !src->stopped)
		src->sink.persist(src->sink.arg);
}

static void
poll_on_tombstone(const struct ldapconn_entry *e, void *arg)
{
	struct source *src = arg;
	char id[ATTRMAP_GUID_TEXT_LEN];
	const char *attr = src->is_ad ? "objectGUID" : "nsUniqueId";

	if (src->stopped)
		return;

	if (!source_entry_id(e, attr, id)) {
		log_obj_debug(POLL_LOG, "tombstone without %s dn=\"%s\"", attr,
		    ldapconn_entry_dn(e));
		return;
	}
	src->deletes++;
	src->sink.deleted(src->sink.arg, id);
}

static void
poll_on_tombstones_done(int rc, const char *text, void *arg)
{
	struct source *src = arg;

	src->fetch = NULL;
	poll_enter(src);
	if (rc != 0) {
		/* Reading CN=Deleted Objects needs a right plain accounts may
		 * lack: deletes then wait for the next reconcile. */
		if (!src->tombstones_warned)
			log_obj_warning(POLL_LOG, "cannot read tombstones (%s); deletions are found by the full reconcile only",
			    text);
		src->tombstones_warned = true;
		if (rc == -1) {
			poll_fail(src, "tombstone search ended: ", text);
			(void)poll_leave(src);
			return;
		}
	}
	poll_finish(src);
	(void)poll_leave(src);
}

static void poll_tombstones(struct source *src);

static void
poll_on_deleted_probe(const struct ldapconn_entry *e, void *arg)
{
	struct source *src = arg;

	if (ldapconn_entry_values(e, "objectClass", NULL, 0) > 0)
		src->deleted_readable = true;
}

static void
poll_on_deleted_probe_done(int rc, const char *text, void *arg)
{
	struct source *src = arg;

	src->fetch = NULL;
	poll_enter(src);
	src->deleted_probed = true;
	if (rc == -1) {
		poll_fail(src, "search of the Deleted Objects container ended: ", text);
	} else {
		if (!src->deleted_readable)
			log_obj_warning(POLL_LOG, "the bind account cannot read \"%s\" (%s): no tombstone is visible to it, so deletions are found by the full reconcile only (every %u s); grant it List Contents and Read Property on that container",
			    src->deleted_base, rc != 0 ? text : "no attribute of it is readable",
			    src->reconcile_ms / 1000);
		else
			log_obj_debug(POLL_LOG, "tombstones readable base=\"%s\"",
			    src->deleted_base);
		/* Searched all the same: a right granted later is used at once. */
		src->tombstones_warned = !src->deleted_readable;
		poll_tombstones(src);
	}
	(void)poll_leave(src);
}

/* CN=Deleted Objects lets only SYSTEM and Administrators list and read
 * it (its default DACL as Samba provisions it, after AD:
 * "(A;;RPWPCCDCLCRCWOWDSDSW;;;SY)(A;;RPLC;;;BA)"), and a search by anyone
 * else simply finds no tombstone - no error.  So ask once per start
 * whether its own attributes are readable (Read Property, given together
 * with List Contents to let an account see deletions), and say so when
 * not, rather than losing deletions until the reconcile without a word. */
static void
poll_deleted_probe(struct source *src)
{
	static const struct ldapfetch_cbs cbs = {
		.entry = poll_on_deleted_probe, .done = poll_on_deleted_probe_done,
	};
	static const char *const attrs[] = { "objectClass", NULL };
	struct ldapfetch_req req = { .base = src->deleted_base,
		.scope = LDAPCONN_SCOPE_BASE, .filter = "(objectClass=*)",
		.attrs = attrs, .show_deleted = true };
	struct ds_error err;

	src->deleted_readable = false;
	src->state = POLL_DELETED_PROBE;
	if ((src->fetch = ldapfetch_start(src->lc, &req, &cbs, src, &err)) == NULL)
		poll_fail(src, "", err.msg);
}

static void
poll_tombstones(struct source *src)
{
	static const struct ldapfetch_cbs cbs = {
		.entry = poll_on_tombstone, .done = poll_on_tombstones_done,
	};
	static const char *const ad_attrs[] = { "objectGUID", NULL };
	static const char *const ds_attrs[] = { "nsUniqueId", NULL };
	char filter[128];
	struct ldapfetch_req req = { .page_size = src->page_size };
	struct ds_error err;

	if (src->is_ad && src->deleted_base[0] != '\0' && !src->deleted_probed) {
		poll_deleted_probe(src);
		return;
	}
	if (src->is_ad && src->deleted_base[0] != '\0') {
		/* [MS-ADTS] 3.1.1.5.5: tombstones live under the naming
		 * context's Deleted Objects container, seen only with the
		 * show-deleted control; their DNs are mangled ("\0ADEL:"),
		 * so they are matched by objectGUID.  One level: the
		 * container itself (isDeleted too) is not a deletion. */
		snprintf(filter, sizeof(filter), "(&(isDeleted=TRUE)(uSNChanged>=%lld))",
		    src->mark + 1);
		req.base = src->deleted_base;
		req.scope = LDAPCONN_SCOPE_ONE;
		req.attrs = ad_attrs;
		req.show_deleted = true;
	} else if (src->is_389) {
		/* 389-ds keeps deleted entries as nsTombstone entries in
		 * place, returned only when the filter names the class - and
		 * only to the root DN (cn=Directory Manager): no ACI lets
		 * another account see them, and the search then simply finds
		 * nothing.  Say so once rather than lose deletions until the
		 * reconcile without a word. */
		if (!src->tombstones_389_noted)
			log_obj_warning(POLL_LOG, "389-ds shows nsTombstone entries to its root DN only: unless the bind account is that DN, deletions are found by the full reconcile only (every %u s; see reconcile_interval)",
			    src->reconcile_ms / 1000);
		src->tombstones_389_noted = true;
		snprintf(filter, sizeof(filter), "(&(objectClass=nsTombstone)(entryUSN>=%lld))",
		    src->mark + 1);
		req.base = src->base;
		req.scope = LDAPCONN_SCOPE_SUB;
		req.attrs = ds_attrs;
	} else {
		poll_finish(src);
		return;
	}
	req.filter = filter;
	src->state = POLL_TOMBSTONES;
	if ((src->fetch = ldapfetch_start(src->lc, &req, &cbs, src, &err)) == NULL)
		poll_fail(src, "", err.msg);
}

/* What every entry of a poll or of a full refresh goes through before
 * the sink; false: not worth reporting again. */
static bool
poll_note_entry(const struct ldapconn_entry *e, const char *id, void *arg)
{
	struct source *src = arg;

	if (src->kind == POLL_TIMESTAMP) {
		long long ts = poll_parse_gentime(poll_first(e,
		    "modifyTimestamp"));
		uint64_t h = poll_hash_entry(e);
		const struct poll_seen *old = poll_seen_find(&src->seen_prev, id);

		if (ts > src->max_seen)
			src->max_seen = ts;
		poll_seen_add(&src->seen_next, id, h, ts);
		/* Seen unchanged in the last poll: the overlap window brought
		 * it back.  A refresh reports everything (delete_unseen). */
		if (!src->full && old != NULL && old->hash == h) {
			src->skipped++;
			return false;
		}
	}
	src->entries++;
	return true;
}

static void
poll_on_entry(const struct ldapconn_entry *e, void *arg)
{
	struct source *src = arg;
	char id[ATTRMAP_GUID_TEXT_LEN];

	if (src->stopped)
		return;
	if (!source_entry_id(e, src->unique_id, id)) {
		log_obj_warning(POLL_LOG, "entry without a usable %s dn=\"%s\"; ignored",
		    src->unique_id, ldapconn_entry_dn(e));
		return;
	}
	if (poll_note_entry(e, id, src))
		src->sink.entry(src->sink.arg, id, e);
}

/* The new timestamp mark.  With the server's clock (currentTime, read
 * before the search) that is exact.  Without it: every change this
 * search missed happened after it started, i.e. at or after the greatest
 * modifyTimestamp seen minus the search's duration (the server's clock
 * was at least that far when it sent it) - the daemon's clock is never
 * compared with the server's. */
static void
poll_timestamp_mark(struct source *src)
{
	long long dur_s = (ds_monotonic_ms() - src->poll_started + 999) / 1000;

	if (src->server_now >= 0)
		src->next_mark = src->server_now;
	else if (src->max_seen >= 0 && src->max_seen - dur_s - 1 > src->mark)
		src->next_mark = src->max_seen - dur_s - 1;
	else
		src->next_mark = src->have_mark ? src->mark : 0;
}

static void
poll_on_entries_done(int rc, const char *text, void *arg)
{
	struct source *src = arg;

	src->fetch = NULL;
	poll_enter(src);
	if (rc != 0) {
		poll_fail(src, "poll search failed: ", text);
	} else if (src->kind == POLL_TIMESTAMP) {
		poll_timestamp_mark(src);
		poll_finish(src);
	} else if (src->full) {
		poll_finish(src);   /* a refresh deletes what it did not see */
	} else {
		poll_tombstones(src);
	}
	(void)poll_leave(src);
}

static void
poll_search(struct source *src)
{
	static const struct ldapfetch_cbs cbs = {
		.entry = poll_on_entry, .done = poll_on_entries_done,
	};
	static const struct source_reconcile_cbs rcbs = {
		.entry = poll_note_entry, .done = poll_on_entries_done,
	};
	size_t n = strlen(src->filter) + 96;
	char *filter = ds_calloc(1, n), t[32];
	struct ldapfetch_req req = { .base = src->base,
		.scope = LDAPCONN_SCOPE_SUB, .filter = filter, .attrs = src->attrs,
		.page_size = src->page_size, .range_size = src->range_size,
		.range_attr = src->member_attr };
	struct ds_error err;

	if (src->full) {
		snprintf(filter, n, "%s", src->filter);
	} else if (src->kind == POLL_USN) {
		snprintf(filter, n, "(&%s(%s>=%lld))", src->filter,
		    src->is_ad ? "uSNChanged" : "entryUSN", src->mark + 1);
	} else {
		poll_format_gentime(src->mark - src->overlap_s, t, sizeof(t));
		snprintf(filter, n, "(&%s(modifyTimestamp>=%s))", src->filter, t);
	}
	src->state = POLL_ENTRIES;
	if (src->full) {
		/* The same full read as source_dirsync's reconcile: it sends
		 * refresh_begin; poll_finish reports the mark, then ends it. */
		struct source_reconcile_req rreq = { .base = src->base,
			.filter = src->filter, .attrs = src->attrs,
			.id_attr = src->unique_id, .page_size = src->page_size,
			.range_size = src->range_size, .range_attr = src->member_attr };

		log_obj_info(POLL_LOG, "full %s started source=%s base=\"%s\"",
		    src->first_done ? "reconcile" : "refresh",
		    src->kind == POLL_USN ? "usn" : "timestamp", src->base);
		if (source_reconcile_start(&src->recon, src->lc, &rreq,
		    &src->sink, &rcbs, src, &err) < 0)
			poll_fail(src, "", err.msg);
	} else if ((src->fetch = ldapfetch_start(src->lc, &req, &cbs, src, &err)) == NULL) {
		poll_fail(src, "", err.msg);
	}
	free(filter);
}

/* A 389-ds lastusn value.  The server prints its counter unsigned at
 * times: a backend that has numbered no entry yet shows -1, or 2^64 - 2
 * when it was added while the server ran.  Anything from LLONG_MAX up
 * means "nothing yet" too, i.e. -1, so that the next search asks for
 * entryUSN >= 0 (strtoll would make it LLONG_MAX: a mark no entry ever
 * passes, and mark + 1 overflows). */
bool
poll_parse_lastusn(const char *s, long long *out)
{
	char *end;
	unsigned long long u;

	if (s == NULL || *s == '\0')
		return false;
	if (*s == '-')
		return poll_parse_ll(s, out);
	u = strtoull(s, &end, 10);
	if (*end != '\0')
		return false;
	*out = u >= (unsigned long long)LLONG_MAX ? -1 : (long long)u;
	return true;
}

/* Does the 389-ds backend NAME hold part of the base's subtree?  The
 * root DSE names each backend's suffix ("nsBackendSuffix:
 * userroot:dc=example,dc=com"): the backend whose suffix holds the base
 * counts, and so do backends of suffixes below the base (sub-suffixes a
 * subtree search crosses into).  1: yes, 0: no, -1: not known (no
 * nsBackendSuffix for it, or the base did not parse). */
static int
poll_389_backend_related(const struct source *src,
    const struct ldapconn_entry *e, const char *name, size_t name_len)
{
	size_t n = ldapconn_entry_values(e, "nsBackendSuffix", NULL, 0);
	const char **vals;
	int related = -1;

	if (n == 0 || src->base_norm == NULL)
		return -1;
	vals = ds_calloc(n, sizeof(*vals));
	ldapconn_entry_values(e, "nsBackendSuffix", vals, n);
	for (size_t i = 0; i < n && related != 1; i++) {
		const char *colon = strchr(vals[i], ':');
		char *suffix;
		struct ds_error err;

		if (colon == NULL || (size_t)(colon - vals[i]) != name_len ||
		    strncasecmp(vals[i], name, name_len) != 0)
			continue;
		if (dn_normalize(colon + 1, &suffix, &err) < 0)
			continue;
		related = dn_is_under(src->base_norm, suffix) ||
		    dn_is_under(suffix, src->base_norm);
		free(suffix);
	}
	free(vals);
	return related;
}

/* 389-ds: the USN plug-in in global mode shows one "lastusn"; otherwise
 * each backend counts on its own ("lastusn;userroot",
 * "lastusn;changelog" for the retro changelog, one per other suffix).
 * The mark is the smallest counter of the backends that hold the base's
 * entries: the smallest of all would stop at the quietest backend's (an
 * empty suffix stays at -1), and every poll would then read again every
 * entry changed since.  Without nsBackendSuffix (it names which backend
 * holds what) every backend counts, as before. */
static long long
poll_389_lastusn(struct source *src, const struct ldapconn_entry *e)
{
	long long related_min = LLONG_MIN, any_min = LLONG_MIN, x;
	const char *v;

	for (size_t i = 0; i < ldapconn_entry_attr_count(e); i++) {
		const char *name = ldapconn_entry_attr_name(e, i);
		int related;

		if (strncasecmp(name, "lastusn", 7) != 0 ||
		    (name[7] != '\0' && name[7] != ';'))
			continue;
		if (ldapconn_entry_values(e, name, &v, 1) != 1 ||
		    !poll_parse_lastusn(v, &x))
			continue;
		src->is_389 = true;
		if (name[7] == '\0')
			return x;   /* global mode: one counter for everything */
		if (any_min == LLONG_MIN || x < any_min)
			any_min = x;
		related = poll_389_backend_related(src, e, name + 8,
		    strlen(name + 8));
		if (related == 1 && (related_min == LLONG_MIN || x < related_min))
			related_min = x;
	}
	return related_min != LLONG_MIN ? related_min : any_min;
}

/* The root DSE of this poll: the mark is read before anything it covers. */
static void
poll_on_root_dse(const struct ldapconn_entry *e, void *arg)
{
	struct source *src = arg;
	const char *v;
	long long usn = LLONG_MIN, x;

	if ((v = poll_first(e, "highestCommittedUSN")) != NULL &&
	    poll_parse_ll(v, &x)) {
		src->is_ad = true;
		usn = x;
	}
	if (!src->is_ad)
		usn = poll_389_lastusn(src, e);
	if (usn != LLONG_MIN)
		src->next_mark = usn;
	if ((v = poll_first(e, "dsServiceName")) != NULL)
		snprintf(src->server, sizeof(src->server), "%s", v);
	if ((v = poll_first(e, "defaultNamingContext")) != NULL)
		snprintf(src->deleted_base, sizeof(src->deleted_base),
		    "CN=Deleted Objects,%s", v);
	src->server_now = poll_parse_gentime(poll_first(e,
	    "currentTime"));
}

static void poll_after_root_dse(struct source *src);

static void
poll_on_root_dse_done(int rc, const char *text,
    const struct ldapconn_controls *ctrls, void *arg)
{
	struct source *src = arg;

	(void)ctrls;
	src->rootdse_op = 0;
	poll_enter(src);
	if (rc != 0)
		poll_fail(src, "cannot read the root DSE: ", text);
	else
		poll_after_root_dse(src);
	(void)poll_leave(src);
}

static void
poll_after_root_dse(struct source *src)
{
	if (src->kind == POLL_USN) {
		if (!src->is_ad && !src->is_389) {
			src->state = POLL_WAITING;
			src->sink.unsupported(src->sink.arg,
			    "the root DSE has neither highestCommittedUSN (Active Directory) "
			    "nor lastusn (389-ds USN plug-in): USN polling is not possible");
			return;
		}
		if (src->is_389 && src->server[0] == '\0') {
			struct connstatus cs;

			ldapconn_get_status(src->lc, &cs);
			snprintf(src->server, sizeof(src->server), "%s", cs.server);
		}
		/* A USN counts the changes of one domain controller: after a
		 * fail-over it says nothing about the other one. */
		if (src->have_mark && strcmp(src->mark_server, src->server) != 0) {
			log_obj_info(POLL_LOG, "USN mark came from \"%s\", now on \"%s\": full reconcile",
			    src->mark_server, src->server);
			src->have_mark = false;
		}
	}
	src->full = !src->have_mark ||
	    source_reconcile_due(&src->recon);
	poll_search(src);
}

/* Returns -1 when the root DSE search could not be sent. */
static int
poll_begin(struct source *src)
{
	static const char *const attrs[] = { "highestCommittedUSN", "lastusn",
		"nsBackendSuffix", "dsServiceName", "defaultNamingContext",
		"currentTime", NULL };
	static const struct ldapconn_search_cbs cbs = {
		.entry = poll_on_root_dse, .done = poll_on_root_dse_done,
	};
	struct ldapconn_search_req req = { .base = "", .scope = LDAPCONN_SCOPE_BASE,
		.filter = "(objectClass=*)", .attrs = attrs };

	src->poll_started = ds_monotonic_ms();
	src->entries = src->deletes = src->skipped = 0;
	src->is_ad = src->is_389 = false;
	src->server[0] = src->deleted_base[0] = '\0';
	src->server_now = src->max_seen = -1;
	src->next_mark = src->mark;
	src->state = POLL_ROOT_DSE;
	if (ldapconn_search_ext(src->lc, &req, &cbs, src, &src->rootdse_op) < 0) {
		src->state = POLL_WAITING;
		return -1;
	}
	return 0;
}

static void
poll_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct source *src = arg;

	(void)fd;
	(void)what;
	if (src->state != POLL_WAITING || src->stopped)
		return;
	poll_enter(src);
	if (poll_begin(src) < 0)
		src->sink.ended(src->sink.arg, "cannot send the root DSE search");
	(void)poll_leave(src);
}

static void
poll_arm(struct source *src, unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(src->timer, &tv);
}

/* ---- start and stop ------------------------------------------------------ */

static void
poll_add_attr(struct source *src, size_t *n, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (strcasecmp(src->attrs[i], name) == 0)
			return;
	if (*n + 1 >= POLL_ATTRS_MAX)
		return;
	src->attr_store[*n] = ds_strdup(name);
	src->attrs[*n] = src->attr_store[*n];
	src->attrs[++*n] = NULL;
}

static void
poll_stop(struct source *src)
{
	if (src == NULL || src->stopped)
		return;
	src->stopped = true;
	if (src->rootdse_op != 0)
		ldapconn_abandon(src->lc, src->rootdse_op);
	src->rootdse_op = 0;
	ldapfetch_cancel(src->fetch);
	src->fetch = NULL;
	source_reconcile_cancel(&src->recon);
	if (src->timer != NULL)
		evtimer_del(src->timer);
	if (src->busy == 0)
		poll_free(src);
}

static void
poll_free(struct source *src)
{
	if (src->timer != NULL)
		event_free(src->timer);
	for (size_t i = 0; i < POLL_ATTRS_MAX; i++)
		free(src->attr_store[i]);
	free(src->seen_prev.v);
	free(src->seen_next.v);
	free(src->base);
	free(src->base_norm);
	free(src->filter);
	free(src->unique_id);
	free(src->member_attr);
	free(src);
}

static struct source *
poll_start(enum poll_kind kind, struct ldapconn *lc,
    const struct source_params *p, const struct source_sink *sink,
    struct ds_error *err)
{
	struct source *src;
	struct ds_error nerr;
	size_t n = 0;

	if (p->evbase == NULL || p->unique_id == NULL || p->unique_id[0] == '\0') {
		ds_error_set(err, "poll sources need an event base and the unique id attribute");
		return NULL;
	}
	src = ds_calloc(1, sizeof(*src));
	src->kind = kind;
	src->lc = lc;
	src->sink = *sink;
	src->base = ds_strdup(p->base);
	/* Only to pick the 389-ds backends that hold the base; when it does
	 * not parse, every backend's counter counts. */
	if (dn_normalize(p->base, &src->base_norm, &nerr) < 0)
		src->base_norm = NULL;
	src->filter = ds_strdup(p->filter);
	src->unique_id = ds_strdup(p->unique_id);
	src->member_attr = ds_strdup(p->member_attr ? p->member_attr : "member");
	src->interval_ms = p->poll_interval_ms ? p->poll_interval_ms : POLL_INTERVAL_DEFAULT_MS;
	src->reconcile_ms = p->reconcile_interval_ms ? p->reconcile_interval_ms
	                                             : POLL_RECONCILE_DEFAULT_MS;
	src->page_size = p->page_size;
	src->range_size = p->range_size;
	src->overlap_s = (p->timestamp_overlap_ms + 999) / 1000;
	for (size_t i = 0; p->attrs != NULL && p->attrs[i] != NULL; i++)
		poll_add_attr(src, &n, p->attrs[i]);
	poll_add_attr(src, &n, p->unique_id);
	if (kind == POLL_TIMESTAMP)
		poll_add_attr(src, &n, "modifyTimestamp");
	src->have_mark = poll_parse_cookie(src, p->cookie, p->cookie_len);
	if (p->cookie_len > 0 && !src->have_mark)
		log_obj_info(POLL_LOG, "stored cookie is not a %s mark: full refresh",
		    kind == POLL_USN ? "USN" : "timestamp");
	/* A resumed source reconciles one interval after start, not now. */
	source_reconcile_init(&src->recon, src->reconcile_ms);
	src->timer = evtimer_new(p->evbase, poll_timer_cb, src);
	if (poll_begin(src) < 0) {
		ds_error_set(err, "cannot send the root DSE search");
		poll_stop(src);
		return NULL;
	}
	log_obj_info(POLL_LOG, "polling started source=%s base=\"%s\" interval_ms=%u reconcile_ms=%u resume=%s",
	    kind == POLL_USN ? "usn" : "timestamp", src->base, src->interval_ms,
	    src->reconcile_ms, src->have_mark ? "yes" : "no");
	return src;
}

static struct source *
poll_start_usn(struct ldapconn *lc, const struct source_params *p,
    const struct source_sink *sink, struct ds_error *err)
{
	return poll_start(POLL_USN, lc, p, sink, err);
}

static struct source *
poll_start_timestamp(struct ldapconn *lc, const struct source_params *p,
    const struct source_sink *sink, struct ds_error *err)
{
	return poll_start(POLL_TIMESTAMP, lc, p, sink, err);
}

/* The domain controller a USN belongs to (its dsServiceName); other
 * servers: NULL behaviour (URI). */
static void
poll_server_id_usn(struct ldapconn *lc, char *buf, size_t size)
{
	const struct ldapconn_server_info *info = ldapconn_get_server_info(lc);
	struct connstatus cs;

	if (info != NULL && info->ds_service_name[0] != '\0') {
		snprintf(buf, size, "%s", info->ds_service_name);
		return;
	}
	ldapconn_get_status(lc, &cs);
	snprintf(buf, size, "%s", cs.server);
}

const struct source_ops source_usn_ops = {
	.name = "usn",
	.start = poll_start_usn,
	.stop = poll_stop,
	.server_id = poll_server_id_usn,
	/* AD removes a deleted user from its groups without a change to
	 * the groups (and 389-ds's referential integrity plug-in may run
	 * late): the mirror drops a deleted entry's memberships itself. */
	.deletes_remove_memberships = true,
};

const struct source_ops source_timestamp_ops = {
	.name = "timestamp",
	.start = poll_start_timestamp,
	.stop = poll_stop,
};
