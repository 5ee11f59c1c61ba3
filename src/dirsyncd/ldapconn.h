/* ldapconn.h - the daemon's asynchronous LDAP connection, and the only
 * file that includes ldap.h.
 *
 * Usage: ldapconn_new() with an event base and settings (copied), then
 * ldapconn_start().  The module tries each URI in order: it opens the TCP
 * (or ldapi) socket itself without blocking, hands it to libldap with
 * ldap_init_fd(), optionally runs StartTLS / the ldaps handshake, binds
 * (simple, anonymous, SASL EXTERNAL or SASL GSSAPI) with the asynchronous
 * API and reads the root DSE.  Results are collected with ldap_result()
 * and a zero timeout when libevent reports the descriptor readable, so
 * nothing waits on the LDAP server.  Two waits remain, both bounded: the
 * TLS handshake, which libldap performs synchronously, limited by
 * network_timeout; and, for GSSAPI, the Kerberos library asking the KDC
 * for tickets inside the first bind step (ldapconn_sasl.c), limited by
 * krb5's own timeouts (krb5.conf), not by ours.
 *
 * On any failure the next URI is tried; when all failed, the module waits
 * with capped exponential backoff and jitter and starts again from the
 * first.  State changes are logged once and reported to the state
 * callback; ldapconn_get_status() gives the value for the status socket.
 *
 * Fail-back: while READY on a later URI, every failback_interval_ms a
 * second, internal attempt (the same connect, TLS, bind and root DSE
 * steps, each bounded by network_timeout) tries the more preferred URIs
 * in the background.  When one succeeds, the live connection is replaced
 * as if it had been lost: the state callback sees CONNECTING (the old
 * connection still open, so work can be abandoned), operations still
 * pending end with LDAP_SERVER_DOWN, then READY comes on the new URI.
 * A failed probe changes nothing and is logged at debug.
 *
 * Operations: ldapconn_search() and ldapconn_search_ext() may be called
 * in LDAPCONN_READY.  Each
 * entry is handed to entry_cb (borrowed, valid during the call); done_cb
 * runs exactly once with the LDAP result code and text - also when the
 * connection drops (LDAP_SERVER_DOWN's code, -1) or the conn is freed.
 *
 * Event-loop thread only. */
#ifndef DS_LDAPCONN_H
#define DS_LDAPCONN_H

#include <stdbool.h>
#include <stddef.h>
#include "compat.h"
#include "connstatus.h"

struct event_base;
struct ldapconn;
struct ldapconn_entry;

enum ldapconn_state {
	LDAPCONN_IDLE = 0,   /* created, not started */
	LDAPCONN_CONNECTING, /* socket connect / TLS in progress */
	LDAPCONN_BINDING,    /* bind or root DSE read outstanding */
	LDAPCONN_READY,      /* bound; operations may be sent */
	LDAPCONN_BACKOFF,    /* every URI failed; waiting to retry */
};

enum ldapconn_scope {
	LDAPCONN_SCOPE_BASE = 0,
	LDAPCONN_SCOPE_ONE,
	LDAPCONN_SCOPE_SUB,
};

struct ldapconn_settings {
	const char *const *uris;     /* tried in order */
	size_t uri_count;
	const char *bind_dn;         /* "" or NULL = anonymous */
	const char *bind_password;
	bool sasl_external;          /* SASL EXTERNAL instead of simple */
	/* SASL GSSAPI instead of simple: Kerberos credentials from the
	 * client keytab (its first principal), kept in a memory ccache. */
	bool sasl_gssapi;
	const char *keytab;          /* sasl_gssapi: keytab path */
	bool starttls;
	const char *tls_ca_file;     /* "" or NULL = system default */
	bool tls_verify;             /* demand a valid certificate */
	unsigned network_timeout_ms; /* connect and TLS handshake */
	unsigned backoff_min_ms;
	unsigned backoff_max_ms;
	/* While READY on a later URI, try the earlier ones this often and
	 * switch to the first that works; 0 = stay until the server fails. */
	unsigned failback_interval_ms;
};

/* What the root DSE said about the server, after each successful bind. */
struct ldapconn_server_info {
	char vendor[128];         /* vendorName + vendorVersion, or "" */
	bool syncrepl;            /* supportedControl has 1.3.6.1.4.1.4203.1.9.1.1 */
	bool ad_dirsync;          /* 1.2.840.113556.1.4.841 */
	bool paged_results;       /* 1.2.840.113556.1.4.319 */
	char naming_context[512]; /* first namingContexts / defaultNamingContext */
	char ds_service_name[512];     /* AD/Samba dsServiceName, or "" */
	char default_naming_context[512]; /* defaultNamingContext, or "" */
	char highest_usn[32];          /* AD highestCommittedUSN as text, or "" */
	char last_usn[32];             /* 389-ds lastusn as text, or "" */
	bool show_deleted;             /* supportedControl 1.2.840.113556.1.4.417 */
	/* LDAP_MATCHING_RULE_IN_CHAIN (1.2.840.113556.1.4.1941) usable: true
	 * when the server is AD (supportedCapabilities has
	 * 1.2.840.113556.1.4.800), as Samba's DC also says it is. */
	bool in_chain;
	/* supportedCapabilities has 1.2.840.113556.1.4.800 (AD) or
	 * 1.2.840.113556.1.4.1851 (ADAM / AD LDS) */
	bool is_ad;
};

typedef void (*ldapconn_state_cb)(struct ldapconn *lc,
    enum ldapconn_state state, void *arg);
typedef void (*ldapconn_entry_cb)(const struct ldapconn_entry *entry,
    void *arg);
typedef void (*ldapconn_done_cb)(int rc, const char *text, void *arg);

struct ldapconn *ldapconn_new(struct event_base *base,
    const struct ldapconn_settings *settings, ldapconn_state_cb state_cb,
    void *arg);
void ldapconn_start(struct ldapconn *lc);
/* New settings take effect at the next connection attempt. */
void ldapconn_reconfigure(struct ldapconn *lc,
    const struct ldapconn_settings *settings);
void ldapconn_free(struct ldapconn *lc);

enum ldapconn_state ldapconn_get_state(const struct ldapconn *lc);
const char *ldapconn_state_name(enum ldapconn_state state);
void ldapconn_get_status(const struct ldapconn *lc, struct connstatus *out);
/* Valid after the first READY; NULL before.  Updated in place at each
 * READY and by ldapconn_read_root_dse(). */
const struct ldapconn_server_info *ldapconn_get_server_info(
    const struct ldapconn *lc);

typedef void (*ldapconn_root_dse_cb)(bool ok,
    const struct ldapconn_server_info *info, void *arg);
/* Read the root DSE again on the live connection (e.g. a fresh
 * highestCommittedUSN before each poll) and update the stored server
 * info.  cb runs exactly once: ok with info = the stored, updated value
 * (borrowed, as from ldapconn_get_server_info()), or !ok with info NULL
 * when the read failed, the connection dropped or lc was freed.
 * Returns 0, or -1 (cb not called) if not READY or not sent. */
int ldapconn_read_root_dse(struct ldapconn *lc,
    void (*cb)(bool ok, const struct ldapconn_server_info *info, void *arg),
    void *arg) DS_MUSTCHECK;

/* Start an asynchronous search; attrs is NULL-terminated (NULL = all user
 * attributes).  Returns 0, or -1 (callbacks not called) if not READY or
 * the request could not be sent. */
int ldapconn_search(struct ldapconn *lc, const char *base,
    enum ldapconn_scope scope, const char *filter, const char *const *attrs,
    ldapconn_entry_cb entry_cb, ldapconn_done_cb done_cb, void *arg)
    DS_MUSTCHECK;

/* ---- operations with controls (change sources) ------------------------ */

/* A request control. */
struct ldapconn_control {
	const char *oid;
	const void *value;           /* BER value, or NULL */
	size_t len;
	bool critical;
};

/* The controls of a final response; borrowed inside a done callback. */
struct ldapconn_controls;

struct ldapconn_search_req {
	const char *base;
	enum ldapconn_scope scope;
	const char *filter;
	const char *const *attrs;    /* NULL-terminated; NULL = all user attrs */
	const struct ldapconn_control *controls;
	size_t control_count;
};

typedef void (*ldapconn_intermediate_cb)(const char *oid, const void *value,
    size_t len, void *arg);
typedef void (*ldapconn_search_done_cb)(int rc, const char *text,
    const struct ldapconn_controls *ctrls, void *arg);

struct ldapconn_search_cbs {
	ldapconn_entry_cb entry;
	ldapconn_intermediate_cb intermediate;   /* may be NULL */
	ldapconn_search_done_cb done;            /* exactly once, unless abandoned */
};

/* Like ldapconn_search() with request controls and intermediate responses
 * (RFC 4511 §4.13).  *op receives an id for ldapconn_abandon().  cbs is
 * copied.  Returns -1 (callbacks not called) when not READY or not sent. */
int ldapconn_search_ext(struct ldapconn *lc,
    const struct ldapconn_search_req *req, const struct ldapconn_search_cbs *cbs,
    void *arg, unsigned *op) DS_MUSTCHECK;
/* Abandon an operation (RFC 4511 §4.11); none of its callbacks runs after
 * this returns.  Safe from inside the operation's own callbacks; unknown
 * ids are ignored. */
void ldapconn_abandon(struct ldapconn *lc, unsigned op);
/* The value of the response control oid of an entry or a final response;
 * borrowed, valid during the callback. */
bool ldapconn_entry_control(const struct ldapconn_entry *entry,
    const char *oid, const void **value, size_t *len);
bool ldapconn_controls_find(const struct ldapconn_controls *ctrls,
    const char *oid, const void **value, size_t *len);

/* Flow control: stop (false) or resume (true) reading responses, e.g.
 * while the database catches up.  Results already buffered wait too. */
void ldapconn_set_reading(struct ldapconn *lc, bool on);
/* cb runs each time a read pass delivered messages and found no more
 * waiting, i.e. the server has nothing more for us right now.  NULL to
 * remove. */
void ldapconn_set_idle_cb(struct ldapconn *lc, void (*cb)(void *arg),
    void *arg);
/* Who we bind as, for telling whether a stored sync cookie is ours:
 * the bind DN, "sasl:EXTERNAL", "sasl:GSSAPI:<principal>" (the keytab's
 * first principal, or "sasl:GSSAPI" before it was read), or "" for
 * anonymous.  Borrowed; valid until the next connection attempt. */
const char *ldapconn_bind_identity(const struct ldapconn *lc);

/* Entry accessors, valid only inside entry_cb.  Returned strings are
 * borrowed.  ldapconn_entry_values() returns the number of values and
 * fills at most max pointers (values are NUL-terminated copies owned by
 * the entry). */
const char *ldapconn_entry_dn(const struct ldapconn_entry *entry);
size_t ldapconn_entry_values(const struct ldapconn_entry *entry,
    const char *attr, const char **vals, size_t max);
/* Length of value index of attr (values may hold NUL bytes); 0 if none. */
size_t ldapconn_entry_value_len(const struct ldapconn_entry *entry,
    const char *attr, size_t index);
/* Attribute descriptions compare case-insensitively and exactly:
 * "member" does not match "member;range=0-1499".  The attributes in the
 * order the server sent them, names as sent (with options); index < count. */
size_t ldapconn_entry_attr_count(const struct ldapconn_entry *entry);
const char *ldapconn_entry_attr_name(const struct ldapconn_entry *entry,
    size_t index);

/* Entries of one's own (ldapfetch assembling ranged values, tests): unlike
 * the borrowed ones above they live until ldapconn_entry_free().  Any
 * context; the accessors above work on them too.  _new copies dn;
 * _add_value appends a copy of value (len bytes, NUL added) to attr,
 * creating it (last) when absent, and returns 0, or -1 on allocation
 * failure (entries are input-sized: no aborting allocator).  _dup copies
 * a borrowed or owned entry, response controls included; NULL when out
 * of memory.  _free only for entries from _new or _dup; NULL is a no-op. */
struct ldapconn_entry *ldapconn_entry_new(const char *dn);
int ldapconn_entry_add_value(struct ldapconn_entry *entry, const char *attr,
    const void *value, size_t len) DS_MUSTCHECK;
struct ldapconn_entry *ldapconn_entry_dup(const struct ldapconn_entry *entry);
void ldapconn_entry_free(struct ldapconn_entry *entry);

#endif
