/* ldapfetch.h - a search that delivers complete entries: paged with the
 * simple paged results control (RFC 2696), so no server cuts it at a
 * size limit (Active Directory's MaxPageSize), and with ranged values
 * ("member;range=0-1499", [MS-ADTS] 3.1.1.3.1.3.3) fetched to the end and
 * joined, so a 10,000-member group arrives as one entry whose member
 * attribute holds every value.
 *
 * Usage: ldapfetch_start() on a READY connection; entry() runs for each
 * entry in the order the server sent them (borrowed, valid during the
 * call), then done() exactly once with the LDAP result code (0 = the
 * whole result set was delivered; -1 = the connection dropped or a
 * request could not be sent) and its text.  The fetch frees itself right
 * after done() returns: forget the pointer there.  ldapfetch_cancel()
 * before that abandons the search; no callback follows, and it may be
 * called from inside entry().
 *
 * Memory: the next page is asked for only when every entry of the
 * current one was delivered, so at most one page waits (behind an entry
 * whose ranges are being fetched).  Reading pauses with the connection
 * (ldapconn_set_reading), nothing here polls or loops.  Referrals and
 * continuation references are not chased.
 *
 * Event-loop thread only; the helpers at the end are pure. */
#ifndef DS_LDAPFETCH_H
#define DS_LDAPFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include "compat.h"
#include "ldapconn.h"

/* AD's LDAP_SERVER_SHOW_DELETED_OID: tombstones are returned too. */
#define LDAPFETCH_OID_SHOW_DELETED "1.2.840.113556.1.4.417"
/* RFC 2696 simple paged results. */
#define LDAPFETCH_OID_PAGED "1.2.840.113556.1.4.319"
#define LDAPFETCH_PAGE_SIZE_DEFAULT 500

struct ldapfetch;

struct ldapfetch_req {
	const char *base;
	enum ldapconn_scope scope;
	const char *filter;
	const char *const *attrs;  /* NULL-terminated; NULL = all user attrs */
	unsigned page_size;        /* 0 = LDAPFETCH_PAGE_SIZE_DEFAULT */
	/* 0: only complete the ranges the server cuts by itself.  N: ask for
	 * range_attr in steps of N values ("member;range=0-(N-1)", ...):
	 * Samba honours range requests but never cuts a list by itself. */
	unsigned range_size;
	bool show_deleted;         /* add LDAPFETCH_OID_SHOW_DELETED */
	const char *range_attr;    /* asked in ranges; NULL = "member" */
};

struct ldapfetch_cbs {
	void (*entry)(const struct ldapconn_entry *e, void *arg);
	void (*done)(int rc, const char *text, void *arg);
};

/* Returns NULL with err set (no callback then) when not READY or the
 * first request could not be sent.  req and cbs are copied. */
struct ldapfetch *ldapfetch_start(struct ldapconn *lc,
    const struct ldapfetch_req *req, const struct ldapfetch_cbs *cbs,
    void *arg, struct ds_error *err);
/* Abandon; no callback after this.  NULL is a no-op. */
void ldapfetch_cancel(struct ldapfetch *f);

/* ---- pure helpers (unit-tested) ------------------------------------------ */

/* Whether attrdesc is attr with a range option ("member;range=0-1499",
 * "Member;Range=1500-*", other options allowed around it): fills *lo and
 * *hi (UINT_MAX for "*").  attr compares case-insensitively; false for
 * anything malformed (no digits, hi < lo, overflow, trailing text). */
bool ldapfetch_parse_range(const char *attrdesc, const char *attr,
    unsigned *lo, unsigned *hi);

/* RFC 2696 control values: realSearchControlValue ::= SEQUENCE { size
 * INTEGER, cookie OCTET STRING }.  _encode returns 0 and a malloc'ed
 * value in *out, or -1; _decode returns 0 and a malloc'ed copy of the
 * cookie (NULL when empty) in *cookie, or -1 when malformed. */
int ldapfetch_paged_encode(unsigned size, const void *cookie,
    size_t cookie_len, void **out, size_t *out_len) DS_MUSTCHECK;
int ldapfetch_paged_decode(const void *value, size_t len, void **cookie,
    size_t *cookie_len) DS_MUSTCHECK;

#endif
