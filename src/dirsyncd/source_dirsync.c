/* source_dirsync.c - Active Directory's DirSync control as a change
 * source (source.h): a first pass reads the naming context, later polls
 * read what changed since the server's cookie, with linked attributes
 * (member) as values added and removed.  It never touches PostgreSQL and
 * never interprets a cookie.
 *
 * What the server sends decides the shape (Samba 4.17, as [MS-ADTS]
 * 3.1.1.3.4.1.3 describes for Windows):
 *  - DirSync searches only a naming context head, with no usable filter
 *    (an object leaving a filter is never reported), so the search asks
 *    for every object and the configured base and filter are applied
 *    here (ldapfilter.h).  The attributes the filter reads are requested
 *    too, so a change to them comes back.
 *  - The first pass (no cookie) is sent WITHOUT incremental values: then
 *    every attribute comes whole under its plain name ("member",
 *    "manager"), and entries go to the sink as they are.  With the flag
 *    a first pass sends linked values as "member;range=1-1", which the
 *    mapping cannot read.  A value list the server cut into ranges
 *    ("member;range=0-1499") is re-read with ldapfetch, which joins them.
 *  - Polls ask for incremental values: a changed object carries only the
 *    changed attributes, objectGUID and instanceType; a rename or move
 *    adds name and parentGUID; a group whose members changed carries
 *    "member;range=1-1" (added) and "member;range=0-0" (removed).  Member
 *    changes alone go to the sink as members(); any other change means
 *    the object is re-read whole (batched by objectGUID, ldapfetch) and
 *    reported with entry(), or deleted() when it left base or filter.
 *  - A deleted object is a tombstone: isDeleted TRUE, its DN moved under
 *    CN=Deleted Objects with "\0ADEL:<guid>" in its RDN; keyed by
 *    objectGUID, it becomes deleted().  A deleted user's memberships are
 *    not reported as group changes (deletes_remove_memberships).
 *    Samba 4.17 sends tombstones only to an account that may list
 *    CN=Deleted Objects (Administrator): one holding just "Replicating
 *    Directory Changes" never hears of a delete from DirSync.
 *  - So every reconcile_interval, instead of a poll, a paged search of
 *    base and filter reads every entry whole and reports it as a refresh
 *    (source_reconcile.h): the mirror deletes what it did not return.
 *    It finds those deletions, and anything else DirSync left out.  It
 *    never touches the DirSync cookie: the next poll starts where the
 *    last one ended, and repeats at worst what the reconcile already
 *    wrote.  Tombstones, where the account sees them, still delete at
 *    the next poll.
 *  - An account without "Replicating Directory Changes" gets
 *    insufficientAccessRights (50) at once.  The object-security flag
 *    would avoid that but then Samba returns only a handful of objects,
 *    so it is not used: the source reports unsupported() and mode auto
 *    moves on to USN polling.
 * Cookies: the first pass reports its cookie only at its end (with
 * refresh_end), so a crash during it restarts it; each poll page reports
 * its cookie after all its changes, re-reads included. */
#include "source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "ad_proto.h"
#include "attrmap.h"
#include "escape.h"
#include "ldapconn.h"
#include "ldapfetch.h"
#include "ldapfilter.h"
#include "log.h"
#include "source_reconcile.h"

#define DIRSYNC_LOG "mirror"
#define DIRSYNC_POLL_DEFAULT_MS 30000
#define DIRSYNC_RECONCILE_DEFAULT_MS (3600 * 1000)
#define DIRSYNC_REREAD_BATCH 100        /* objectGUIDs per re-read search */
#define DIRSYNC_ATTRS_MAX 64
/* LDAP result codes (RFC 4511 Appendix A) that mean "not for you". */
#define DIRSYNC_RC_UNAVAILABLE_CRITICAL_EXTENSION 12
#define DIRSYNC_RC_INSUFFICIENT_ACCESS 50
#define DIRSYNC_RC_UNWILLING 53

enum dirsync_state {
	DIRSYNC_IDLE = 0,   /* waiting for the poll timer */
	DIRSYNC_SEARCH,     /* a DirSync search is outstanding */
	DIRSYNC_REREAD,     /* re-reading changed objects of the last page */
	DIRSYNC_RECONCILE,  /* the full paged read (source_reconcile.h) */
	DIRSYNC_DONE,       /* ended() or unsupported() said; nothing more */
};

struct source {
	struct ldapconn *lc;
	struct source_sink sink;
	enum dirsync_state state;
	struct event *timer;
	unsigned poll_ms;
	bool first_pass;            /* no cookie yet: the refresh */
	unsigned op;                /* the DirSync search */
	struct ldapfetch *fetch;    /* the re-read running */

	char *nc;                   /* naming context head searched */
	char *nbase;                /* configured base, normalised */
	struct ldapfilter *filter;
	char *member_attr;
	char *attr_store[DIRSYNC_ATTRS_MAX];
	const char *attrs[DIRSYNC_ATTRS_MAX + 1];       /* DirSync */
	const char *fetch_attrs[DIRSYNC_ATTRS_MAX + 1]; /* re-reads */
	unsigned page_size, range_size;
	bool want_cn;               /* the mirror asked for cn (dirsync_with_cn) */

	unsigned char *cookie;      /* the position the next search starts at */
	size_t cookie_len;
	bool more;                  /* the last page said MoreResults */

	unsigned char (*reread)[16]; /* objectGUIDs to re-read */
	size_t nreread, reread_cap, reread_next, reread_end;

	unsigned long pages, entries, changes, rereads;
	unsigned long entries_before; /* entries when the last cookie was sent */

	struct source_reconcile recon;
	char *base, *filter_text;   /* as configured: the reconcile's search */
	long long recon_started;    /* ds_monotonic_ms() */

	/* A sink call may stop the source (the mirror does when a write
	 * cannot be sent): stop() then only marks it, and the outermost
	 * callback of ours frees it on the way out (dirsync_leave). */
	int busy;
	bool stopped;
};

static void dirsync_search(struct source *src);
static int dirsync_send(struct source *src);
static void dirsync_reread_next(struct source *src);
static void dirsync_free(struct source *src);

static void
dirsync_enter(struct source *src)
{
	src->busy++;
}

/* false: stopped during the callback (and freed if we were the last). */
static bool
dirsync_leave(struct source *src)
{
	src->busy--;
	if (!src->stopped)
		return true;
	if (src->busy == 0)
		dirsync_free(src);
	return false;
}

/* ---- endings ------------------------------------------------------------- */

static void
dirsync_end(struct source *src, const char *why)
{
	src->state = DIRSYNC_DONE;
	src->sink.ended(src->sink.arg, why);
}

/* The server will not do DirSync for this account: say why, and how to
 * fix it, where a person will see it, then let mode auto move on. */
static void
dirsync_refused(struct source *src, int rc, const char *text)
{
	char why[768];

	snprintf(why, sizeof(why),
	    "DirSync refused by the server: LDAP error %d (%s); grant the bind "
	    "account Replicating Directory Changes on %s, or use mode=usn",
	    rc, text && *text ? text : "no text", src->nc);
	log_obj_error(DIRSYNC_LOG, "%s", why);
	src->state = DIRSYNC_DONE;
	if (src->sink.unsupported != NULL)
		src->sink.unsupported(src->sink.arg, why);
	else
		src->sink.ended(src->sink.arg, why);
}

/* ---- ids and classification --------------------------------------------- */

static bool
dirsync_entry_id(const struct ldapconn_entry *e, char id[ATTRMAP_GUID_TEXT_LEN],
    unsigned char guid[16])
{
	const char *v;

	if (ldapconn_entry_values(e, "objectGUID", &v, 1) == 0 ||
	    ldapconn_entry_value_len(e, "objectGUID", 0) != 16 ||
	    attrmap_guid_to_text(v, 16, id) < 0)
		return false;
	if (guid != NULL)
		memcpy(guid, v, 16);
	return true;
}

static bool
dirsync_is_deleted(const struct ldapconn_entry *e)
{
	const char *v;

	return ldapconn_entry_values(e, "isDeleted", &v, 1) > 0 &&
	    strcasecmp(v, "TRUE") == 0;
}

/* In the configured base and filter? */
static bool
dirsync_wanted(const struct source *src, const struct ldapconn_entry *e)
{
	return ldapfilter_dn_under(ldapconn_entry_dn(e), src->nbase) &&
	    ldapfilter_match(src->filter, e);
}

/* What a poll entry says beyond its identity. */
struct dirsync_change {
	bool other;              /* an attribute to re-read the object for */
	const char *added_attr;  /* "member;range=1-1" as sent, or NULL */
	const char *removed_attr;
};

static void
dirsync_classify(const struct source *src, const struct ldapconn_entry *e,
    bool incremental, struct dirsync_change *c)
{
	size_t n = ldapconn_entry_attr_count(e);

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		const char *desc = ldapconn_entry_attr_name(e, i);
		struct ad_proto_attrdesc d;
		struct ds_error err;
		enum ad_proto_change ch;

		if (ad_proto_attrdesc_parse(desc, &d, &err) < 0) {
			c->other = true;
			continue;
		}
		ch = ad_proto_attrdesc_change(&d, incremental);
		if (strcasecmp(d.name, src->member_attr) == 0 &&
		    (ch == AD_PROTO_CHANGE_ADDED || ch == AD_PROTO_CHANGE_REMOVED)) {
			if (ch == AD_PROTO_CHANGE_ADDED)
				c->added_attr = desc;
			else
				c->removed_attr = desc;
			continue;
		}
		/* Sent with every object; not a change of their own. */
		if (ch == AD_PROTO_CHANGE_WHOLE &&
		    (strcasecmp(d.name, "objectGUID") == 0 ||
		    strcasecmp(d.name, "instanceType") == 0))
			continue;
		/* First pass: whole values are complete; only a cut range
		 * needs the object read again. */
		if (!incremental && ch == AD_PROTO_CHANGE_WHOLE)
			continue;
		c->other = true;
	}
}

static void
dirsync_queue_reread(struct source *src, const unsigned char guid[16])
{
	if (src->nreread == src->reread_cap) {
		src->reread_cap = src->reread_cap ? src->reread_cap * 2 : 64;
		src->reread = ds_realloc(src->reread, src->reread_cap * sizeof(*src->reread));
	}
	memcpy(src->reread[src->nreread++], guid, 16);
}

/* Values of one attribute description; *vals is malloc'd (the caller
 * frees it).  AD extended-DN prefixes ("<GUID=...>;") are skipped. */
static size_t
dirsync_values(const struct ldapconn_entry *e, const char *desc, const char ***vals)
{
	size_t n;

	*vals = NULL;
	if (desc == NULL || (n = ldapconn_entry_values(e, desc, NULL, 0)) == 0)
		return 0;
	*vals = ds_calloc(n, sizeof(**vals));
	n = ldapconn_entry_values(e, desc, *vals, n);
	for (size_t i = 0; i < n; i++)
		while ((*vals)[i][0] == '<' && strstr((*vals)[i], ">;") != NULL)
			(*vals)[i] = strstr((*vals)[i], ">;") + 2;
	return n;
}

static void
dirsync_report_members(struct source *src, const char *id,
    const struct ldapconn_entry *e, const struct dirsync_change *c)
{
	const char **added, **removed;
	size_t na = dirsync_values(e, c->added_attr, &added);
	size_t nr = dirsync_values(e, c->removed_attr, &removed);

	log_obj_debug(DIRSYNC_LOG, "id=%s dn=\"%s\" members added=%zu removed=%zu",
	    id, ldapconn_entry_dn(e), na, nr);
	src->sink.members(src->sink.arg, id, added, na, removed, nr);
	free(added);
	free(removed);
}

/* ---- the DirSync search -------------------------------------------------- */

/* DirSync never sends the naming attribute (cn) of an object, only
 * "name", which holds the same value (Samba 4.17; [MS-ADTS] 3.1.1.1.4:
 * name is the RDN value).  The mapping reads cn (a group's name without
 * displayName), so put it back: an owned copy with cn added, or NULL when
 * e is fine as it is (or out of memory: then e goes as it is). */
static struct ldapconn_entry *
dirsync_with_cn(const struct source *src, const struct ldapconn_entry *e)
{
	struct ldapconn_entry *copy;
	const char *name;
	size_t len;

	if (!src->want_cn || ldapconn_entry_values(e, "cn", NULL, 0) > 0 ||
	    strncasecmp(ldapconn_entry_dn(e), "CN=", 3) != 0 ||
	    ldapconn_entry_values(e, "name", &name, 1) == 0)
		return NULL;
	len = ldapconn_entry_value_len(e, "name", 0);
	if ((copy = ldapconn_entry_dup(e)) == NULL)
		return NULL;
	if (ldapconn_entry_add_value(copy, "cn", name, len) < 0) {
		ldapconn_entry_free(copy);
		return NULL;
	}
	return copy;
}

static void
dirsync_on_first_pass_entry(struct source *src, const struct ldapconn_entry *e,
    const char *id, const unsigned char guid[16])
{
	struct dirsync_change c;
	struct ldapconn_entry *copy;

	if (dirsync_is_deleted(e) || !dirsync_wanted(src, e))
		return;
	dirsync_classify(src, e, false, &c);
	if (c.other) {
		dirsync_queue_reread(src, guid);
		return;
	}
	copy = dirsync_with_cn(src, e);
	src->sink.entry(src->sink.arg, id, copy != NULL ? copy : e);
	ldapconn_entry_free(copy);
}

/* An entry that still exists left the base or filter: its row goes,
 * the memberships and manager links naming it stay, as AD keeps them. */
static void
dirsync_left(struct source *src, const char *id)
{
	if (src->sink.left != NULL)
		src->sink.left(src->sink.arg, id);
	else
		src->sink.deleted(src->sink.arg, id);
}

static void
dirsync_on_poll_entry(struct source *src, const struct ldapconn_entry *e,
    const char *id, const unsigned char guid[16])
{
	struct dirsync_change c;

	src->changes++;
	if (dirsync_is_deleted(e)) {
		log_obj_debug(DIRSYNC_LOG, "id=%s deleted", id);
		src->sink.deleted(src->sink.arg, id);
		return;
	}
	if (!ldapfilter_dn_under(ldapconn_entry_dn(e), src->nbase)) {
		/* Outside the base now (perhaps moved out): gone for us, but
		 * not from its groups; the mirror ignores ids it does not
		 * know. */
		dirsync_left(src, id);
		return;
	}
	dirsync_classify(src, e, true, &c);
	if (c.other || src->sink.members == NULL) {
		/* Read whole: the re-read brings the complete member list too,
		 * so the values sent here are not needed. */
		dirsync_queue_reread(src, guid);
		return;
	}
	if (c.added_attr != NULL || c.removed_attr != NULL)
		dirsync_report_members(src, id, e, &c);
}

static void
dirsync_on_entry(const struct ldapconn_entry *e, void *arg)
{
	struct source *src = arg;
	char id[ATTRMAP_GUID_TEXT_LEN];
	unsigned char guid[16];

	if (src->stopped)
		return;
	src->entries++;
	if (!dirsync_entry_id(e, id, guid)) {
		log_obj_warning(DIRSYNC_LOG, "entry without a 16-octet objectGUID dn=\"%s\"; ignored",
		    ldapconn_entry_dn(e));
		return;
	}
	dirsync_enter(src);
	if (src->first_pass)
		dirsync_on_first_pass_entry(src, e, id, guid);
	else
		dirsync_on_poll_entry(src, e, id, guid);
	(void)dirsync_leave(src);
}

static void
dirsync_handle_done(struct source *src, int rc, const char *text,
    const struct ldapconn_controls *ctrls)
{
	struct ad_proto_dirsync_response resp;
	struct ds_error err;
	const void *val;
	size_t len;
	char why[768];

	if (rc == DIRSYNC_RC_INSUFFICIENT_ACCESS ||
	    rc == DIRSYNC_RC_UNAVAILABLE_CRITICAL_EXTENSION ||
	    (rc == DIRSYNC_RC_UNWILLING && src->cookie_len == 0)) {
		dirsync_refused(src, rc, text);
		return;
	}
	if (rc == DIRSYNC_RC_UNWILLING) {
		/* With a cookie: the server cannot resume from it (restored
		 * or too old); only a full pass gets past it. */
		log_obj_warning(DIRSYNC_LOG, "server refused the stored DirSync cookie: LDAP error %d (%s); starting a full pass",
		    rc, text && *text ? text : "no text");
		src->sink.forget_cookie(src->sink.arg);
		snprintf(why, sizeof(why), "DirSync cookie refused: %s", text ? text : "");
		dirsync_end(src, why);
		return;
	}
	if (rc != 0) {
		snprintf(why, sizeof(why), "DirSync search failed: LDAP error %d (%s)",
		    rc, text && *text ? text : "no text");
		log_obj_warning(DIRSYNC_LOG, "%s", why);
		dirsync_end(src, why);
		return;
	}
	if (ctrls == NULL ||
	    !ldapconn_controls_find(ctrls, AD_PROTO_OID_DIRSYNC, &val, &len)) {
		dirsync_end(src, "DirSync search ended without a DirSync response control");
		return;
	}
	if (ad_proto_dirsync_response_decode(val, len, &resp, &err) < 0) {
		snprintf(why, sizeof(why), "bad DirSync response control: %s", err.msg);
		dirsync_end(src, why);
		return;
	}
	free(src->cookie);
	src->cookie = resp.cookie;      /* taken over */
	src->cookie_len = resp.cookie_len;
	src->more = resp.more;
	src->pages++;
	log_obj_debug(DIRSYNC_LOG, "DirSync page=%lu entries=%lu more=%d rereads=%zu",
	    src->pages, src->entries, (int)src->more, src->nreread);
	src->state = DIRSYNC_REREAD;
	src->reread_next = 0;
	dirsync_reread_next(src);
}

static void
dirsync_on_done(int rc, const char *text, const struct ldapconn_controls *ctrls,
    void *arg)
{
	struct source *src = arg;

	src->op = 0;
	dirsync_enter(src);
	dirsync_handle_done(src, rc, text, ctrls);
	(void)dirsync_leave(src);
}

/* Send the next DirSync search; -1 (no sink call) when it cannot go. */
static int
dirsync_send(struct source *src)
{
	static const struct ldapconn_search_cbs cbs = {
		.entry = dirsync_on_entry,
		.done = dirsync_on_done,
	};
	/* The first pass without incremental values: see the file comment. */
	uint32_t flags = src->first_pass ? 0 : AD_PROTO_DIRSYNC_INCREMENTAL_VALUES;
	struct ldapconn_control ctrl;
	struct ldapconn_search_req req;
	struct ds_error err;
	unsigned char *val;
	size_t len;
	int rc;

	if (ad_proto_dirsync_request_encode(flags, 0, src->cookie, src->cookie_len,
	    &val, &len, &err) < 0) {
		log_obj_warning(DIRSYNC_LOG, "%s", err.msg);
		return -1;
	}
	ctrl = (struct ldapconn_control){ .oid = AD_PROTO_OID_DIRSYNC,
		.value = val, .len = len, .critical = true };
	req = (struct ldapconn_search_req){ .base = src->nc,
		.scope = LDAPCONN_SCOPE_SUB, .filter = "(objectClass=*)",
		.attrs = src->attrs, .controls = &ctrl, .control_count = 1 };
	src->nreread = 0;
	rc = ldapconn_search_ext(src->lc, &req, &cbs, src, &src->op);
	free(val);
	if (rc < 0)
		return -1;
	src->state = DIRSYNC_SEARCH;
	return 0;
}

static void
dirsync_search(struct source *src)
{
	if (dirsync_send(src) < 0)
		dirsync_end(src, "cannot send the DirSync search");
}

/* ---- re-reads ------------------------------------------------------------ */

/* (|(objectGUID=\xx...)...) for the GUIDs [from, to). */
static char *
dirsync_guid_filter(const struct source *src, size_t from, size_t to)
{
	size_t cap = 4 + (to - from) * (14 + 16 * 3), n = 0;
	char *f = ds_calloc(1, cap);

	n += (size_t)snprintf(f + n, cap - n, "(|");
	for (size_t i = from; i < to; i++) {
		n += (size_t)snprintf(f + n, cap - n, "(objectGUID=");
		for (size_t b = 0; b < 16; b++)
			n += (size_t)snprintf(f + n, cap - n, "\\%02x", src->reread[i][b]);
		n += (size_t)snprintf(f + n, cap - n, ")");
	}
	snprintf(f + n, cap - n, ")");
	return f;
}

static void
dirsync_on_reread_entry(const struct ldapconn_entry *e, void *arg)
{
	struct source *src = arg;
	char id[ATTRMAP_GUID_TEXT_LEN];

	if (src->stopped || !dirsync_entry_id(e, id, NULL))
		return;
	src->rereads++;
	/* Each branch ends with its sink call, which may stop the source. */
	if (dirsync_wanted(src, e)) {
		src->sink.entry(src->sink.arg, id, e);
	} else if (!src->first_pass) {
		/* Changed so that base or filter no longer hold. */
		log_obj_debug(DIRSYNC_LOG, "id=%s dn=\"%s\" out of base or filter",
		    id, ldapconn_entry_dn(e));
		dirsync_left(src, id);
	}
}

static void
dirsync_on_reread_done(int rc, const char *text, void *arg)
{
	struct source *src = arg;
	char why[600];

	src->fetch = NULL;
	dirsync_enter(src);
	if (rc != 0) {
		snprintf(why, sizeof(why), "re-reading changed objects failed: LDAP error %d (%s)",
		    rc, text && *text ? text : "no text");
		log_obj_warning(DIRSYNC_LOG, "%s", why);
		dirsync_end(src, why);
	} else {
		src->reread_next = src->reread_end;
		dirsync_reread_next(src);
	}
	(void)dirsync_leave(src);
}

static void
dirsync_schedule(struct source *src)
{
	struct timeval tv = { src->poll_ms / 1000, (src->poll_ms % 1000) * 1000 };

	src->state = DIRSYNC_IDLE;
	evtimer_add(src->timer, &tv);
}

/* The page and its re-reads are all reported: its cookie covers them. */
static void
dirsync_page_done(struct source *src)
{
	if (src->first_pass && src->more) {
		/* Cookie withheld until the pass ends (file comment). */
		dirsync_search(src);
		return;
	}
	/* A poll that found nothing leaves the stored cookie as good as the
	 * new one (it would find the same nothing): skip the write, which
	 * would otherwise be one transaction per poll interval. */
	if (src->first_pass || src->entries > src->entries_before)
		src->sink.cookie(src->sink.arg, src->cookie, src->cookie_len);
	src->entries_before = src->entries;
	if (src->first_pass) {
		src->first_pass = false;
		log_obj_info(DIRSYNC_LOG, "DirSync first pass done pages=%lu entries=%lu reread=%lu",
		    src->pages, src->entries, src->rereads);
		/* The first pass read everything: the next reconcile is one
		 * interval away. */
		source_reconcile_postpone(&src->recon);
		/* The mirror writes the refresh's last batch here, and stops
		 * (frees) the source when it cannot: nothing of src may be
		 * touched after that (callers hold dirsync_enter). */
		src->sink.refresh_end(src->sink.arg, true);
		if (src->stopped)
			return;
		src->sink.persist(src->sink.arg);
	} else if (src->changes > 0) {
		/* Per poll: reread=0 shows member changes went as deltas. */
		log_obj_debug(DIRSYNC_LOG, "DirSync poll changes=%lu reread=%lu",
		    src->changes, src->rereads);
	}
	src->changes = 0;
	src->rereads = 0;
	if (src->more)
		dirsync_search(src);
	else
		dirsync_schedule(src);
}

static void
dirsync_reread_next(struct source *src)
{
	static const struct ldapfetch_cbs cbs = {
		.entry = dirsync_on_reread_entry,
		.done = dirsync_on_reread_done,
	};
	struct ldapfetch_req req;
	struct ds_error err;
	char *filter;
	char why[600];

	if (src->reread_next >= src->nreread) {
		dirsync_page_done(src);
		return;
	}
	src->reread_end = src->reread_next + DIRSYNC_REREAD_BATCH;
	if (src->reread_end > src->nreread)
		src->reread_end = src->nreread;
	filter = dirsync_guid_filter(src, src->reread_next, src->reread_end);
	req = (struct ldapfetch_req){ .base = src->nc, .scope = LDAPCONN_SCOPE_SUB,
		.filter = filter, .attrs = src->fetch_attrs,
		.page_size = src->page_size, .range_size = src->range_size,
		.range_attr = src->member_attr };
	src->fetch = ldapfetch_start(src->lc, &req, &cbs, src, &err);
	free(filter);
	if (src->fetch == NULL) {
		snprintf(why, sizeof(why), "cannot re-read changed objects: %s", err.msg);
		dirsync_end(src, why);
	}
}

/* ---- the periodic full reconcile ------------------------------------------ */

static void
dirsync_on_reconcile_done(int rc, const char *text, void *arg)
{
	struct source *src = arg;
	char why[600];

	dirsync_enter(src);
	if (rc != 0) {
		snprintf(why, sizeof(why), "full reconcile failed: LDAP error %d (%s)",
		    rc, text && *text ? text : "no text");
		log_obj_warning(DIRSYNC_LOG, "%s", why);
		dirsync_end(src, why);
		(void)dirsync_leave(src);
		return;
	}
	log_obj_info(DIRSYNC_LOG, "DirSync full reconcile done entries=%lu ms=%lld",
	    src->recon.entries, ds_monotonic_ms() - src->recon_started);
	/* No cookie: the DirSync position is where the last poll left it.
	 * refresh_end may stop the source (see dirsync_page_done). */
	src->sink.refresh_end(src->sink.arg, true);
	if (!src->stopped) {
		src->sink.persist(src->sink.arg);
		dirsync_schedule(src);
	}
	(void)dirsync_leave(src);
}

/* Instead of a poll: read every entry of base and filter, so the mirror
 * deletes what DirSync never reported gone (file comment). */
static void
dirsync_reconcile(struct source *src)
{
	static const struct source_reconcile_cbs cbs = {
		.done = dirsync_on_reconcile_done,
	};
	struct source_reconcile_req req = { .base = src->base,
		.filter = src->filter_text, .attrs = src->fetch_attrs,
		.id_attr = "objectGUID", .page_size = src->page_size,
		.range_size = src->range_size, .range_attr = src->member_attr };
	struct ds_error err;
	char why[600];

	log_obj_info(DIRSYNC_LOG, "DirSync full reconcile started base=\"%s\"",
	    src->base);
	src->state = DIRSYNC_RECONCILE;
	src->recon_started = ds_monotonic_ms();
	if (source_reconcile_start(&src->recon, src->lc, &req, &src->sink, &cbs,
	    src, &err) < 0) {
		snprintf(why, sizeof(why), "cannot start the full reconcile: %s", err.msg);
		dirsync_end(src, why);
	}
}

/* Polls and reconciles take turns: the timer is armed only in IDLE, once
 * the previous one is over, so they never overlap. */
static void
dirsync_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct source *src = arg;

	(void)fd;
	(void)what;
	if (src->state != DIRSYNC_IDLE || src->stopped)
		return;
	dirsync_enter(src);
	if (source_reconcile_due(&src->recon))
		dirsync_reconcile(src);
	else
		dirsync_search(src);
	(void)dirsync_leave(src);
}

/* ---- start and stop ------------------------------------------------------ */

static void
dirsync_add_attr(struct source *src, size_t *n, const char *attr)
{
	for (size_t i = 0; i < *n; i++)
		if (strcasecmp(src->attr_store[i], attr) == 0)
			return;
	if (*n < DIRSYNC_ATTRS_MAX)
		src->attr_store[(*n)++] = ds_strdup(attr);
}

/* Called from inside a sink call too (the mirror stops the source when a
 * write cannot be sent): then the outermost callback frees it. */
static void
dirsync_stop(struct source *src)
{
	if (src == NULL || src->stopped)
		return;
	src->stopped = true;
	if (src->op != 0)
		ldapconn_abandon(src->lc, src->op);
	src->op = 0;
	ldapfetch_cancel(src->fetch);
	src->fetch = NULL;
	source_reconcile_cancel(&src->recon);
	if (src->timer != NULL)
		evtimer_del(src->timer);
	if (src->busy == 0)
		dirsync_free(src);
}

static void
dirsync_free(struct source *src)
{
	if (src->timer != NULL)
		event_free(src->timer);
	for (size_t i = 0; i < DIRSYNC_ATTRS_MAX; i++)
		free(src->attr_store[i]);
	ldapfilter_free(src->filter);
	free(src->nc);
	free(src->nbase);
	free(src->member_attr);
	free(src->cookie);
	free(src->reread);
	free(src->base);
	free(src->filter_text);
	free(src);
}

/* The naming context head holding base: DirSync accepts nothing else. */
static char *
dirsync_naming_context(struct ldapconn *lc, const char *nbase)
{
	const struct ldapconn_server_info *info = ldapconn_get_server_info(lc);
	const char *cands[2];

	if (info == NULL)
		return NULL;
	cands[0] = info->default_naming_context;
	cands[1] = info->naming_context;
	for (size_t i = 0; i < DS_ARRAY_SIZE(cands); i++) {
		struct ds_error err;
		char *nnc;
		bool under;

		if (cands[i][0] == '\0' || dn_normalize(cands[i], &nnc, &err) < 0)
			continue;
		under = dn_is_under(nbase, nnc);
		free(nnc);
		if (under)
			return ds_strdup(cands[i]);
	}
	return NULL;
}

static int
dirsync_setup(struct source *src, struct ldapconn *lc,
    const struct source_params *p, struct ds_error *err)
{
	const char *fattrs[DIRSYNC_ATTRS_MAX];
	size_t n = 0, nf;

	if (p->evbase == NULL)
		return ds_error_set(err, "the DirSync source needs an event base");
	if (dn_normalize(p->base, &src->nbase, err) < 0)
		return -1;
	if ((src->nc = dirsync_naming_context(lc, src->nbase)) == NULL)
		return ds_error_set(err, "base \"%s\" is not inside the server's default naming context; DirSync reads whole naming contexts",
		    p->base);
	if (ldapfilter_parse(p->filter, &src->filter, err) < 0)
		return -1;
	for (size_t i = 0; p->attrs != NULL && p->attrs[i] != NULL; i++)
		dirsync_add_attr(src, &n, p->attrs[i]);
	nf = ldapfilter_attrs(src->filter, fattrs, DS_ARRAY_SIZE(fattrs));
	for (size_t i = 0; i < nf && i < DS_ARRAY_SIZE(fattrs); i++)
		dirsync_add_attr(src, &n, fattrs[i]);
	dirsync_add_attr(src, &n, "objectGUID");
	for (size_t i = 0; i < n; i++) {
		src->attrs[i] = src->fetch_attrs[i] = src->attr_store[i];
		if (strcasecmp(src->attr_store[i], "cn") == 0)
			src->want_cn = true;
	}
	/* A rename or move changes name (and parentGUID) only: without name
	 * in the list DirSync would not report it.  It also stands in for cn
	 * (dirsync_with_cn). */
	dirsync_add_attr(src, &n, "name");
	/* Tombstones: only DirSync needs to see isDeleted. */
	dirsync_add_attr(src, &n, "isDeleted");
	for (size_t i = 0; i < n; i++)
		src->attrs[i] = src->attr_store[i];
	if (n == DIRSYNC_ATTRS_MAX)
		return ds_error_set(err, "more than %d attributes to request", DIRSYNC_ATTRS_MAX - 1);
	src->timer = evtimer_new(p->evbase, dirsync_timer_cb, src);
	return 0;
}

static struct source *
dirsync_start(struct ldapconn *lc, const struct source_params *p,
    const struct source_sink *sink, struct ds_error *err)
{
	struct source *src = ds_calloc(1, sizeof(*src));

	src->lc = lc;
	src->sink = *sink;
	src->member_attr = ds_strdup(p->member_attr && *p->member_attr ? p->member_attr : "member");
	src->poll_ms = p->poll_interval_ms ? p->poll_interval_ms : DIRSYNC_POLL_DEFAULT_MS;
	src->page_size = p->page_size;
	src->range_size = p->range_size;
	src->base = ds_strdup(p->base);
	src->filter_text = ds_strdup(p->filter);
	source_reconcile_init(&src->recon, p->reconcile_interval_ms ?
	    p->reconcile_interval_ms : DIRSYNC_RECONCILE_DEFAULT_MS);
	if (dirsync_setup(src, lc, p, err) < 0) {
		dirsync_stop(src);
		return NULL;
	}
	if (p->cookie != NULL && p->cookie_len > 0) {
		src->cookie = malloc(p->cookie_len);
		if (src->cookie == NULL) {
			ds_error_set(err, "out of memory");
			dirsync_stop(src);
			return NULL;
		}
		memcpy(src->cookie, p->cookie, p->cookie_len);
		src->cookie_len = p->cookie_len;
	} else {
		src->first_pass = true;
	}
	if (dirsync_send(src) < 0) {
		ds_error_set(err, "cannot send the DirSync search");
		dirsync_stop(src);
		return NULL;
	}
	/* The sink hears refresh_begin before the first entry can arrive
	 * (entries are read from the loop, never inside the send). */
	if (src->first_pass)
		src->sink.refresh_begin(src->sink.arg);
	log_obj_info(DIRSYNC_LOG, "DirSync started nc=\"%s\" base=\"%s\" interval_ms=%u reconcile_ms=%u resume=%s",
	    src->nc, p->base, src->poll_ms, src->recon.interval_ms,
	    src->first_pass ? "no (first pass)" : "yes (stored cookie)");
	return src;
}

const struct source_ops source_dirsync_ops = {
	.name = "dirsync",
	.start = dirsync_start,
	.stop = dirsync_stop,
	.deletes_remove_memberships = true,
};
