/* source_reconcile.c - the full paged read the polling sources run as
 * their periodic reconcile (source_reconcile.h).  It reports a refresh
 * and nothing else: never a cookie (the source knows whether the read
 * moves its position), never PostgreSQL. */
#include "source_reconcile.h"

#include <stdio.h>
#include <string.h>

#include "ldapfetch.h"
#include "log.h"

#define RECONCILE_LOG "mirror"

void
source_reconcile_init(struct source_reconcile *r, unsigned interval_ms)
{
	memset(r, 0, sizeof(*r));
	r->interval_ms = interval_ms;
	r->last_ms = ds_monotonic_ms();
}

void
source_reconcile_postpone(struct source_reconcile *r)
{
	r->last_ms = ds_monotonic_ms();
}

bool
source_reconcile_due(const struct source_reconcile *r)
{
	return r->interval_ms > 0 &&
	       ds_monotonic_ms() - r->last_ms >= (long long)r->interval_ms;
}

bool
source_reconcile_running(const struct source_reconcile *r)
{
	return r->fetch != NULL;
}

bool
source_entry_id(const struct ldapconn_entry *e, const char *attr,
    char out[ATTRMAP_GUID_TEXT_LEN])
{
	static const char hex[] = "0123456789abcdef";
	const char *v;
	size_t len, n = 0, o = 0;
	char digits[32];

	if (ldapconn_entry_values(e, attr, &v, 1) == 0)
		return false;
	len = ldapconn_entry_value_len(e, attr, 0);
	if (len == 16)
		return attrmap_guid_to_text(v, len, out) == 0;
	for (size_t i = 0; i < len; i++) {
		const char *p = strchr(hex, v[i] | 0x20);

		if (v[i] == '-' || v[i] == '{' || v[i] == '}')
			continue;
		if (v[i] == '\0' || p == NULL || n == sizeof(digits))
			return false;
		digits[n++] = *p;
	}
	if (n != sizeof(digits))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[o++] = '-';
		out[o++] = digits[i];
	}
	out[o] = '\0';
	return true;
}

static void
reconcile_on_entry(const struct ldapconn_entry *e, void *arg)
{
	struct source_reconcile *r = arg;
	char id[ATTRMAP_GUID_TEXT_LEN];

	if (!source_entry_id(e, r->id_attr, id)) {
		log_obj_warning(RECONCILE_LOG,
		    "entry without a usable %s dn=\"%s\"; ignored", r->id_attr,
		    ldapconn_entry_dn(e));
		return;
	}
	if (r->cbs.entry != NULL && !r->cbs.entry(e, id, r->arg))
		return;
	r->entries++;
	/* Last: the sink may stop the source, and r with it. */
	r->sink->entry(r->sink->arg, id, e);
}

static void
reconcile_on_done(int rc, const char *text, void *arg)
{
	struct source_reconcile *r = arg;

	r->fetch = NULL; /* ldapfetch frees itself after this */
	if (rc == 0)
		r->last_ms = ds_monotonic_ms();
	/* Last: done() ends the refresh, which may free the source. */
	r->cbs.done(rc, text, r->arg);
}

int
source_reconcile_start(struct source_reconcile *r, struct ldapconn *lc,
    const struct source_reconcile_req *req, const struct source_sink *sink,
    const struct source_reconcile_cbs *cbs, void *arg, struct ds_error *err)
{
	static const struct ldapfetch_cbs fcbs = {
		.entry = reconcile_on_entry,
		.done = reconcile_on_done,
	};
	struct ldapfetch_req freq = { .base = req->base,
		.scope = LDAPCONN_SCOPE_SUB,
		.filter = req->filter,
		.attrs = req->attrs,
		.page_size = req->page_size,
		.range_size = req->range_size,
		.range_attr = req->range_attr };

	if (r->fetch != NULL)
		return ds_error_set(err, "a full reconcile is already running");
	r->sink = sink;
	r->cbs = *cbs;
	r->arg = arg;
	r->id_attr = req->id_attr;
	r->entries = 0;
	if ((r->fetch = ldapfetch_start(lc, &freq, &fcbs, r, err)) == NULL)
		return -1;
	/* Entries are read from the loop, never inside the send: the sink
	 * hears refresh_begin before the first of them. */
	sink->refresh_begin(sink->arg);
	return 0;
}

void
source_reconcile_cancel(struct source_reconcile *r)
{
	ldapfetch_cancel(r->fetch);
	r->fetch = NULL;
}
