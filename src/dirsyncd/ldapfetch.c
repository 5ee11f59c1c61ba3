/* ldapfetch.c - paged searches that deliver complete entries (ldapfetch.h).
 * Pages are asked for one at a time and only once the previous page has
 * been delivered; an entry holding a cut range of values waits (with the
 * entries behind it) while the rest is read with base-scope searches.
 * It never buffers more than a page, never polls and never blocks. */
#include "ldapfetch.h"

#include <lber.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define LDAPFETCH_LOG "ldap"
#define LDAPFETCH_ATTRS_MAX 64

/* One entry of the current page, waiting to be delivered. */
struct ldapfetch_item {
	struct ldapfetch_item *next;
	struct ldapconn_entry *e;    /* owned, ranges joined under the bare name */
	/* The attributes whose values are still being fetched, each with the
	 * first index not read yet; done when pending == npending. */
	char **range_attrs;
	unsigned *range_next;
	size_t npending, pending;
};

struct ldapfetch {
	struct ldapconn *lc;
	struct ldapfetch_cbs cbs;
	void *arg;
	char *base;
	char *filter;
	enum ldapconn_scope scope;
	char **attrs;                /* NULL-terminated copy, ranges applied */
	bool all_attrs;              /* req->attrs was NULL */
	unsigned page_size, range_size;
	char *range_attr;
	bool show_deleted;

	unsigned page_op, range_op;  /* outstanding ldapconn operations */
	void *cookie;                /* RFC 2696 cookie of the next page */
	size_t cookie_len;
	bool page_over;              /* this page's SearchResultDone is in */
	bool last_page;              /* ... and it had an empty cookie */
	struct ldapfetch_item *head, *tail;
	unsigned long pages, entries, ranged;

	int busy;                    /* > 0 while a callback runs */
	bool cancelled;
};

static void ldapfetch_advance(struct ldapfetch *f);

/* ---- pure helpers ------------------------------------------------------- */

static bool
ldapfetch_parse_uint(const char **p, unsigned *out)
{
	unsigned long v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned long)(*s - '0');
		if (v >= UINT_MAX)
			return false;
	}
	*out = (unsigned)v;
	*p = s;
	return true;
}

bool
ldapfetch_parse_range(const char *attrdesc, const char *attr, unsigned *lo,
    unsigned *hi)
{
	size_t n = strlen(attr);
	const char *p;

	if (n == 0 || strncasecmp(attrdesc, attr, n) != 0 || attrdesc[n] != ';')
		return false;
	/* [MS-ADTS] 3.1.1.3.1.3.3: options are ';'-separated; find range=. */
	for (p = attrdesc + n; p != NULL && *p == ';'; p = strchr(p + 1, ';')) {
		if (strncasecmp(p + 1, "range=", 6) != 0)
			continue;
		p += 7;
		if (!ldapfetch_parse_uint(&p, lo) || *p++ != '-')
			return false;
		if (*p == '*') {
			*hi = UINT_MAX;
			p++;
		} else if (!ldapfetch_parse_uint(&p, hi) || *hi < *lo) {
			return false;
		}
		return *p == '\0' || *p == ';';
	}
	return false;
}

int
ldapfetch_paged_encode(unsigned size, const void *cookie, size_t cookie_len,
    void **out, size_t *out_len)
{
	BerElement *ber = ber_alloc_t(LBER_USE_DER);
	struct berval flat = { 0, NULL };
	int rc;

	*out = NULL;
	if (ber == NULL || size > INT_MAX)
		goto fail;
	rc = ber_printf(ber, "{io}", (ber_int_t)size,
	    cookie != NULL ? (const char *)cookie : "", (ber_len_t)cookie_len);
	if (rc == -1 || ber_flatten2(ber, &flat, 0) == -1)
		goto fail;
	/* Plain malloc'd memory: liblber may use its own allocator. */
	if ((*out = malloc(flat.bv_len)) == NULL)
		goto fail;
	memcpy(*out, flat.bv_val, flat.bv_len);
	*out_len = flat.bv_len;
	ber_free(ber, 1);
	return 0;
fail:
	if (ber != NULL)
		ber_free(ber, 1);
	return -1;
}

int
ldapfetch_paged_decode(const void *value, size_t len, void **cookie,
    size_t *cookie_len)
{
	struct berval in = { len, (char *)value }, c = { 0, NULL };
	BerElement *ber;
	ber_int_t size;
	ber_len_t left = 1;
	int rc = -1;

	*cookie = NULL;
	*cookie_len = 0;
	/* ber_scanf's '{' takes any constructed tag: insist on SEQUENCE. */
	if (value == NULL || len == 0 || *(const unsigned char *)value != 0x30 ||
	    (ber = ber_init(&in)) == NULL)
		return -1;
	/* 'm' points into ber's copy: nothing is allocated by liblber. */
	if (ber_scanf(ber, "{im}", &size, &c) != LBER_ERROR &&
	    ber_get_option(ber, LBER_OPT_BER_REMAINING_BYTES, &left) == 0 &&
	    left == 0) {
		rc = 0;
		if (c.bv_len > 0) {
			if ((*cookie = malloc(c.bv_len)) == NULL)
				rc = -1;
			else {
				memcpy(*cookie, c.bv_val, c.bv_len);
				*cookie_len = c.bv_len;
			}
		}
	}
	ber_free(ber, 1);
	return rc;
}

/* ---- life cycle -------------------------------------------------------- */

static void
ldapfetch_item_free(struct ldapfetch_item *it)
{
	if (it == NULL)
		return;
	for (size_t i = 0; i < it->npending; i++)
		free(it->range_attrs[i]);
	free(it->range_attrs);
	free(it->range_next);
	ldapconn_entry_free(it->e);
	free(it);
}

static void
ldapfetch_free(struct ldapfetch *f)
{
	while (f->head != NULL) {
		struct ldapfetch_item *it = f->head;

		f->head = it->next;
		ldapfetch_item_free(it);
	}
	for (size_t i = 0; f->attrs != NULL && f->attrs[i] != NULL; i++)
		free(f->attrs[i]);
	free(f->attrs);
	free(f->base);
	free(f->filter);
	free(f->range_attr);
	free(f->cookie);
	free(f);
}

void
ldapfetch_cancel(struct ldapfetch *f)
{
	if (f == NULL || f->cancelled)
		return;
	f->cancelled = true;
	ldapconn_abandon(f->lc, f->page_op);
	ldapconn_abandon(f->lc, f->range_op);
	f->page_op = f->range_op = 0;
	if (f->busy == 0)
		ldapfetch_free(f);
}

/* Callbacks into the caller.  false: the fetch was cancelled meanwhile
 * (and freed, when nothing else of ours is on the stack). */
static bool
ldapfetch_deliver(struct ldapfetch *f, const struct ldapconn_entry *e)
{
	f->busy++;
	f->entries++;
	f->cbs.entry(e, f->arg);
	f->busy--;
	if (!f->cancelled)
		return true;
	if (f->busy == 0)
		ldapfetch_free(f);
	return false;
}

/* The end: done() once, then the fetch frees itself. */
static void
ldapfetch_finish(struct ldapfetch *f, int rc, const char *text)
{
	if (f->cancelled)
		return;
	ldapconn_abandon(f->lc, f->page_op);
	ldapconn_abandon(f->lc, f->range_op);
	f->page_op = f->range_op = 0;
	log_obj_debug(LDAPFETCH_LOG, "paged search done base=\"%s\" rc=%d pages=%lu entries=%lu ranged=%lu",
	    f->base, rc, f->pages, f->entries, f->ranged);
	f->cancelled = true;   /* no callback after done() */
	f->busy++;
	f->cbs.done(rc, text, f->arg);
	f->busy--;
	if (f->busy == 0)
		ldapfetch_free(f);
}

/* Called from inside an ldapconn callback of ours: the caller may have
 * cancelled during it.  Frees f when it is the last frame. */
static bool
ldapfetch_leave(struct ldapfetch *f)
{
	f->busy--;
	if (!f->cancelled)
		return true;
	if (f->busy == 0)
		ldapfetch_free(f);
	return false;
}

/* ---- pages ------------------------------------------------------------- */

static void ldapfetch_on_entry(const struct ldapconn_entry *e, void *arg);
static void ldapfetch_on_page_done(int rc, const char *text,
    const struct ldapconn_controls *ctrls, void *arg);

static int
ldapfetch_send_page(struct ldapfetch *f)
{
	static const struct ldapconn_search_cbs cbs = {
		.entry = ldapfetch_on_entry,
		.done = ldapfetch_on_page_done,
	};
	struct ldapconn_control ctrls[2];
	struct ldapconn_search_req sreq;
	void *val;
	size_t len, n = 0;
	int rc;

	if (ldapfetch_paged_encode(f->page_size, f->cookie, f->cookie_len,
	    &val, &len) < 0)
		return -1;
	/* Not critical: a server without paging sends everything at once,
	 * which is still a complete answer (RFC 2696 section 3). */
	ctrls[n++] = (struct ldapconn_control){ .oid = LDAPFETCH_OID_PAGED,
		.value = val, .len = len, .critical = false };
	if (f->show_deleted)
		ctrls[n++] = (struct ldapconn_control){
			.oid = LDAPFETCH_OID_SHOW_DELETED, .critical = true };
	sreq = (struct ldapconn_search_req){ .base = f->base,
		.scope = f->scope, .filter = f->filter,
		.attrs = f->all_attrs ? NULL : (const char *const *)f->attrs,
		.controls = ctrls, .control_count = n };
	f->page_over = false;
	rc = ldapconn_search_ext(f->lc, &sreq, &cbs, f, &f->page_op);
	free(val);
	if (rc == 0)
		f->pages++;
	return rc;
}

static void
ldapfetch_enqueue(struct ldapfetch *f, struct ldapfetch_item *it)
{
	if (f->tail != NULL)
		f->tail->next = it;
	else
		f->head = it;
	f->tail = it;
}

/* A copy of e with every ranged attribute under its bare name, and the
 * list of those the server cut short.  NULL when out of memory. */
static struct ldapfetch_item *
ldapfetch_item_new(const struct ldapconn_entry *e)
{
	struct ldapfetch_item *it = calloc(1, sizeof(*it));
	size_t n = ldapconn_entry_attr_count(e);

	if (it == NULL || (it->e = ldapconn_entry_new(ldapconn_entry_dn(e))) == NULL)
		goto fail;
	it->range_attrs = calloc(n + 1, sizeof(*it->range_attrs));
	it->range_next = calloc(n + 1, sizeof(*it->range_next));
	if (it->range_attrs == NULL || it->range_next == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const char *name = ldapconn_entry_attr_name(e, i);
		const char *semi = strchr(name, ';');
		char bare[256];
		const char *use = name;
		unsigned lo, hi;
		size_t nv;

		if (semi != NULL && (size_t)(semi - name) < sizeof(bare)) {
			memcpy(bare, name, (size_t)(semi - name));
			bare[semi - name] = '\0';
			if (ldapfetch_parse_range(name, bare, &lo, &hi)) {
				use = bare;
				if (hi != UINT_MAX) {
					if ((it->range_attrs[it->npending] =
					    strdup(bare)) == NULL)
						goto fail;
					it->range_next[it->npending++] = hi + 1;
				}
			}
		}
		nv = ldapconn_entry_values(e, name, NULL, 0);
		if (nv > 0) {
			const char **vals = malloc(nv * sizeof(*vals));

			if (vals == NULL)
				goto fail;
			ldapconn_entry_values(e, name, vals, nv);
			for (size_t k = 0; k < nv; k++)
				if (ldapconn_entry_add_value(it->e, use, vals[k],
				    ldapconn_entry_value_len(e, name, k)) < 0) {
					free(vals);
					goto fail;
				}
			free(vals);
		}
	}
	return it;
fail:
	ldapfetch_item_free(it);
	return NULL;
}

/* Does e carry a range option on any attribute? */
static bool
ldapfetch_has_range(const struct ldapconn_entry *e)
{
	for (size_t i = 0; i < ldapconn_entry_attr_count(e); i++) {
		const char *name = ldapconn_entry_attr_name(e, i);
		const char *semi = strchr(name, ';');

		if (semi != NULL && strcasestr(semi, ";range=") != NULL)
			return true;
	}
	return false;
}

static void
ldapfetch_on_entry(const struct ldapconn_entry *e, void *arg)
{
	struct ldapfetch *f = arg;
	struct ldapfetch_item *it;

	if (f->cancelled)
		return;
	if (f->head == NULL && !ldapfetch_has_range(e)) {
		(void)ldapfetch_deliver(f, e);
		return;
	}
	if ((it = ldapfetch_item_new(e)) == NULL) {
		log_obj_warning(LDAPFETCH_LOG, "out of memory copying dn=\"%s\"",
		    ldapconn_entry_dn(e));
		f->busy++;
		ldapfetch_finish(f, -1, "out of memory copying an entry");
		(void)ldapfetch_leave(f);
		return;
	}
	ldapfetch_enqueue(f, it);
	if (it == f->head) {
		f->busy++;
		ldapfetch_advance(f);
		(void)ldapfetch_leave(f);
	}
}

static void
ldapfetch_on_page_done(int rc, const char *text,
    const struct ldapconn_controls *ctrls, void *arg)
{
	struct ldapfetch *f = arg;
	const void *val;
	size_t len;

	f->page_op = 0;
	if (f->cancelled)
		return;
	f->busy++;
	free(f->cookie);
	f->cookie = NULL;
	f->cookie_len = 0;
	if (rc != 0) {
		ldapfetch_finish(f, rc, text);
	} else {
		/* RFC 2696 section 3: an empty cookie ends the result set; no
		 * control at all means the server did not page. */
		if (ctrls != NULL &&
		    ldapconn_controls_find(ctrls, LDAPFETCH_OID_PAGED, &val, &len) &&
		    ldapfetch_paged_decode(val, len, &f->cookie, &f->cookie_len) < 0) {
			ldapfetch_finish(f, -1, "malformed paged results control");
			(void)ldapfetch_leave(f);
			return;
		}
		f->page_over = true;
		f->last_page = f->cookie_len == 0;
		ldapfetch_advance(f);
	}
	(void)ldapfetch_leave(f);
}

/* ---- ranges -------------------------------------------------------------- */

static void ldapfetch_on_range_entry(const struct ldapconn_entry *e, void *arg);
static void ldapfetch_on_range_done(int rc, const char *text,
    const struct ldapconn_controls *ctrls, void *arg);

static int
ldapfetch_send_range(struct ldapfetch *f, struct ldapfetch_item *it)
{
	static const struct ldapconn_search_cbs cbs = {
		.entry = ldapfetch_on_range_entry,
		.done = ldapfetch_on_range_done,
	};
	const char *attr = it->range_attrs[it->pending];
	unsigned lo = it->range_next[it->pending];
	char desc[300], hi[16] = "*";
	const char *attrs[2] = { desc, NULL };
	struct ldapconn_control ctrl = { .oid = LDAPFETCH_OID_SHOW_DELETED,
		.critical = true };
	struct ldapconn_search_req sreq = { .base = ldapconn_entry_dn(it->e),
		.scope = LDAPCONN_SCOPE_BASE, .filter = "(objectClass=*)",
		.attrs = attrs, .controls = &ctrl,
		.control_count = f->show_deleted ? 1 : 0 };

	if (f->range_size > 0)
		snprintf(hi, sizeof(hi), "%u", lo + f->range_size - 1);
	snprintf(desc, sizeof(desc), "%s;range=%u-%s", attr, lo, hi);
	log_obj_debug(LDAPFETCH_LOG, "reading range dn=\"%s\" attr=%s",
	    sreq.base, desc);
	return ldapconn_search_ext(f->lc, &sreq, &cbs, f, &f->range_op);
}

/* The values of the next range of the head entry's pending attribute. */
static void
ldapfetch_on_range_entry(const struct ldapconn_entry *e, void *arg)
{
	struct ldapfetch *f = arg;
	struct ldapfetch_item *it = f->head;
	const char *attr;
	bool seen = false;

	if (f->cancelled || it == NULL || it->pending >= it->npending)
		return;
	attr = it->range_attrs[it->pending];
	for (size_t i = 0; i < ldapconn_entry_attr_count(e); i++) {
		const char *name = ldapconn_entry_attr_name(e, i);
		unsigned lo, hi;
		size_t nv;
		const char **vals;
		bool ranged = ldapfetch_parse_range(name, attr, &lo, &hi);

		if (!ranged && strcasecmp(name, attr) != 0)
			continue;
		seen = true;
		nv = ldapconn_entry_values(e, name, NULL, 0);
		if (nv > 0 && (vals = malloc(nv * sizeof(*vals))) != NULL) {
			ldapconn_entry_values(e, name, vals, nv);
			for (size_t k = 0; k < nv; k++)
				if (ldapconn_entry_add_value(it->e, attr, vals[k],
				    ldapconn_entry_value_len(e, name, k)) < 0)
					hi = UINT_MAX;   /* cannot grow: stop */
			free(vals);
		}
		/* Progress is required: a server repeating a range would
		 * otherwise keep us here forever. */
		if (!ranged || hi == UINT_MAX || hi + 1 <= it->range_next[it->pending])
			it->range_next[it->pending] = UINT_MAX;
		else
			it->range_next[it->pending] = hi + 1;
		break;
	}
	if (!seen)   /* nothing more of it (values removed meanwhile) */
		it->range_next[it->pending] = UINT_MAX;
}

static void
ldapfetch_on_range_done(int rc, const char *text,
    const struct ldapconn_controls *ctrls, void *arg)
{
	struct ldapfetch *f = arg;
	struct ldapfetch_item *it = f->head;

	(void)ctrls;
	f->range_op = 0;
	if (f->cancelled || it == NULL)
		return;
	f->busy++;
	if (rc == 32) {
		/* noSuchObject: deleted since the page was read.  Leave it
		 * out; a tombstone or the next reconcile reports it. */
		log_obj_debug(LDAPFETCH_LOG, "entry gone while reading ranges dn=\"%s\"",
		    ldapconn_entry_dn(it->e));
		f->head = it->next;
		if (f->head == NULL)
			f->tail = NULL;
		ldapfetch_item_free(it);
	} else if (rc != 0) {
		ldapfetch_finish(f, rc, text);
		(void)ldapfetch_leave(f);
		return;
	} else if (it->range_next[it->pending] == UINT_MAX) {
		it->pending++;
	}
	ldapfetch_advance(f);
	(void)ldapfetch_leave(f);
}

/* Deliver what is complete at the head of the queue, read the next range
 * of the first incomplete entry, or ask for the next page when the queue
 * is empty and the page is over.  Runs with f->busy held. */
static void
ldapfetch_advance(struct ldapfetch *f)
{
	while (!f->cancelled && f->range_op == 0) {
		struct ldapfetch_item *it = f->head;

		if (it == NULL)
			break;
		if (it->pending < it->npending) {
			if (ldapfetch_send_range(f, it) < 0)
				ldapfetch_finish(f, -1, "cannot send a range search");
			else
				f->ranged++;
			return;
		}
		f->head = it->next;
		if (f->head == NULL)
			f->tail = NULL;
		f->busy++;
		f->entries++;
		f->cbs.entry(it->e, f->arg);
		f->busy--;
		ldapfetch_item_free(it);
	}
	if (f->cancelled || f->head != NULL || f->range_op != 0 || !f->page_over)
		return;
	if (f->last_page) {
		ldapfetch_finish(f, 0, "success");
	} else if (ldapfetch_send_page(f) < 0) {
		ldapfetch_finish(f, -1, "cannot send the next page request");
	}
}

/* ---- start -------------------------------------------------------------- */

/* The attribute list to send: range_attr becomes "attr;range=0-(N-1)"
 * when ranges are asked for. */
static int
ldapfetch_copy_attrs(struct ldapfetch *f, const char *const *attrs)
{
	size_t n = 0;

	if (attrs == NULL) {
		f->all_attrs = true;
		return 0;
	}
	while (attrs[n] != NULL)
		n++;
	f->attrs = ds_calloc(n + 1, sizeof(*f->attrs));
	for (size_t i = 0; i < n; i++) {
		char buf[300];

		if (f->range_size > 0 && strcasecmp(attrs[i], f->range_attr) == 0) {
			snprintf(buf, sizeof(buf), "%s;range=0-%u", attrs[i],
			    f->range_size - 1);
			f->attrs[i] = ds_strdup(buf);
		} else {
			f->attrs[i] = ds_strdup(attrs[i]);
		}
	}
	return 0;
}

struct ldapfetch *
ldapfetch_start(struct ldapconn *lc, const struct ldapfetch_req *req,
    const struct ldapfetch_cbs *cbs, void *arg, struct ds_error *err)
{
	struct ldapfetch *f = ds_calloc(1, sizeof(*f));

	f->lc = lc;
	f->cbs = *cbs;
	f->arg = arg;
	f->base = ds_strdup(req->base != NULL ? req->base : "");
	f->filter = ds_strdup(req->filter != NULL ? req->filter : "(objectClass=*)");
	f->scope = req->scope;
	f->page_size = req->page_size ? req->page_size : LDAPFETCH_PAGE_SIZE_DEFAULT;
	f->range_size = req->range_size;
	f->range_attr = ds_strdup(req->range_attr ? req->range_attr : "member");
	f->show_deleted = req->show_deleted;
	(void)ldapfetch_copy_attrs(f, req->attrs);
	if (ldapfetch_send_page(f) < 0) {
		ds_error_set(err, "cannot send the search base=\"%s\" filter=\"%s\" (LDAP not ready?)",
		    f->base, f->filter);
		ldapfetch_free(f);
		return NULL;
	}
	log_obj_debug(LDAPFETCH_LOG, "paged search base=\"%s\" filter=\"%s\" page_size=%u range_size=%u",
	    f->base, f->filter, f->page_size, f->range_size);
	return f;
}
