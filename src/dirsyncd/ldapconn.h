/* ldapconn.h - the daemon's asynchronous LDAP connection, and the only
 * file that includes ldap.h.
 *
 * Usage: ldapconn_new() with an event base and settings (copied), then
 * ldapconn_start().  The module tries each URI in order: it opens the TCP
 * (or ldapi) socket itself without blocking, hands it to libldap with
 * ldap_init_fd(), optionally runs StartTLS / the ldaps handshake, binds
 * (simple, anonymous, or SASL EXTERNAL) with the asynchronous API and
 * reads the root DSE.  Results are collected with ldap_result() and a
 * zero timeout when libevent reports the descriptor readable, so nothing
 * waits on the server.  The one bounded wait is the TLS handshake, which
 * libldap performs synchronously; it is limited by network_timeout.
 *
 * On any failure the next URI is tried; when all failed, the module waits
 * with capped exponential backoff and jitter and starts again from the
 * first.  State changes are logged once and reported to the state
 * callback; ldapconn_get_status() gives the value for the status socket.
 *
 * Operations: ldapconn_search() may be called in LDAPCONN_READY.  Each
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
	bool starttls;
	const char *tls_ca_file;     /* "" or NULL = system default */
	bool tls_verify;             /* demand a valid certificate */
	unsigned network_timeout_ms; /* connect and TLS handshake */
	unsigned backoff_min_ms;
	unsigned backoff_max_ms;
};

/* What the root DSE said about the server, after each successful bind. */
struct ldapconn_server_info {
	char vendor[128];         /* vendorName + vendorVersion, or "" */
	bool syncrepl;            /* supportedControl has 1.3.6.1.4.1.4203.1.9.1.1 */
	bool ad_dirsync;          /* 1.2.840.113556.1.4.841 */
	bool paged_results;       /* 1.2.840.113556.1.4.319 */
	char naming_context[512]; /* first namingContexts / defaultNamingContext */
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
/* Valid after the first READY; NULL before. */
const struct ldapconn_server_info *ldapconn_get_server_info(
    const struct ldapconn *lc);

/* Start an asynchronous search; attrs is NULL-terminated (NULL = all user
 * attributes).  Returns 0, or -1 (callbacks not called) if not READY or
 * the request could not be sent. */
int ldapconn_search(struct ldapconn *lc, const char *base,
    enum ldapconn_scope scope, const char *filter, const char *const *attrs,
    ldapconn_entry_cb entry_cb, ldapconn_done_cb done_cb, void *arg)
    DS_MUSTCHECK;

/* Entry accessors, valid only inside entry_cb.  Returned strings are
 * borrowed.  ldapconn_entry_values() returns the number of values and
 * fills at most max pointers (values are NUL-terminated copies owned by
 * the entry). */
const char *ldapconn_entry_dn(const struct ldapconn_entry *entry);
size_t ldapconn_entry_values(const struct ldapconn_entry *entry,
    const char *attr, const char **vals, size_t max);

#endif
