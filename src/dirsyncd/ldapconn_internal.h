/* ldapconn_internal.h - what the files of the ldapconn module share: the
 * connection object itself, the operations table, the copied form of a
 * search entry and the controls of a response.  Only the ldapconn files
 * include this (and with it ldap.h).
 *
 *   ldapconn.c          state, errors, operations, reading results, the
 *                       public API
 *   ldapconn_connect.c  one connection attempt: URI, socket, TLS, bind
 *   ldapconn_rootdse.c  the root DSE: what to ask, what it means, re-reads
 *   ldapconn_failback.c probing preferred URIs while READY on a later one
 *   ldapconn_entry.c    entries and controls copied out of libldap
 *   ldapconn_io.c       our lber Sockbuf layer
 *   ldapconn_sasl.c     the SASL GSSAPI bind (Kerberos, keytab) */
#ifndef DS_LDAPCONN_INTERNAL_H
#define DS_LDAPCONN_INTERNAL_H

#include <stdbool.h>
#include <time.h>
#include <netdb.h>
#include <sys/un.h>

#include <event2/util.h>
#include <ldap.h>

#include "backoff.h"
#include "compat.h"
#include "ldapconn.h"
#include "log.h"

#define LDAPCONN_LOG "conn=ldap"
#define LDAPCONN_PROBE_LOG "conn=ldap-probe"
/* The log object of lc: a fail-back probe says it is one. */
#define LDAPCONN_OBJ(lc) \
	((lc)->parent != NULL ? LDAPCONN_PROBE_LOG : LDAPCONN_LOG)

struct ldapconn_attr {
	char *name;  /* attribute description; one block with the values */
	char **vals; /* NUL-terminated copies pointing into name's block */
	size_t *lens; /* length of each value (binary values such as objectGUID) */
	size_t nvals;
	size_t block_len, block_cap; /* bytes used / allocated at name */
	size_t vals_cap;             /* room in vals and lens */
};

struct ldapconn_entry {
	char *dn;
	struct ldapconn_attr *attrs;
	size_t nattrs, attrs_cap;
	LDAPControl **ctrls; /* the entry's response controls, or NULL */
};

/* The controls of a final response, borrowed by a done callback. */
struct ldapconn_controls {
	LDAPControl **ctrls;
};

/* State of the Sockbuf layer in ldapconn_io.c, one per connection. */
struct ldapconn_io {
	unsigned long long written; /* bytes libldap wrote */
	bool bounded;               /* TLS handshake running: waits, bounded */
	bool timed_out;             /* the bounded wait hit the deadline */
	long long deadline;         /* ds_monotonic_ms() */
};

enum ldapconn_op_kind {
	LDAPCONN_OP_STARTTLS, /* RFC 4511 §4.14 extended operation */
	LDAPCONN_OP_BIND,     /* simple, anonymous or SASL EXTERNAL */
	LDAPCONN_OP_SASL_BIND, /* one step of a multi-step SASL (GSSAPI) bind */
	LDAPCONN_OP_ROOTDSE,  /* base-scope search of "", while connecting */
	LDAPCONN_OP_SEARCH,   /* a caller's ldapconn_search() */
	LDAPCONN_OP_ROOTDSE_READ, /* ldapconn_read_root_dse() while READY */
};

/* One outstanding request, found again by its message id. */
struct ldapconn_op {
	struct ldapconn_op *next;
	int msgid;
	enum ldapconn_op_kind kind;
	ldapconn_entry_cb entry_cb;
	ldapconn_done_cb done_cb; /* ldapconn_search() */
	ldapconn_intermediate_cb intermediate_cb;
	ldapconn_search_done_cb done_ext_cb;   /* ldapconn_search_ext() */
	ldapconn_root_dse_cb dse_cb;           /* ldapconn_read_root_dse() */
	struct ldapconn_server_info *dse_info; /* its answer so far, owned */
	bool dse_seen;                         /* the root DSE entry came */
	void *arg;
};

struct ldapconn {
	struct event_base *base;
	/* Our copy: every string owned and never NULL. */
	struct ldapconn_settings cfg;
	ldapconn_state_cb state_cb;
	void *arg;

	enum ldapconn_state state;
	time_t since;
	struct backoff backoff;
	unsigned retry_ms;      /* delay of the current BACKOFF */
	unsigned retries;       /* failed attempts since the last READY */
	unsigned logged_states; /* states logged at info since last READY */
	/* Last failure per URI, so only a changed failure is a warning. */
	struct ds_error *uri_err;

	/* The current attempt. */
	size_t uri_index;
	char server[256]; /* URI in use or last tried */
	const char *step; /* what is in progress, for error texts */
	int proto;        /* LDAP_PROTO_TCP or LDAP_PROTO_IPC */
	bool ldaps;
	bool tls; /* ldaps:// or StartTLS */
	struct addrinfo *ai_list;
	struct addrinfo *ai_next; /* next address to try */
	struct addrinfo unix_ai;  /* ldapi://: the one "resolved" address */
	struct sockaddr_un unix_addr;
	int fd; /* ours until ldap_init_fd() took it */
	LDAP *ld;
	bool broken;    /* a send failed; the read handler cleans up */
	char host[256]; /* host part of the URI, for TLS errors */
	/* GSSAPI: the keytab's first principal ("" if unreadable) and the
	 * identity ldapconn_bind_identity() reports. */
	char sasl_principal[256];
	char sasl_identity[300];
	const char *sasl_rmech; /* libldap's, between the steps of a bind */
	/* Our Sockbuf layer's state (ldapconn_io.c).  A pointer, because a
	 * fail-back hands the probe's handle - and the layer state its
	 * Sockbuf points to - over to the owner. */
	struct ldapconn_io *io;
	struct event *ev_read;  /* persistent, once ld exists */
	struct event *ev_write; /* one-shot: connect done, or flush a request */
	struct event *ev_timer; /* step timeout, or the backoff delay */
	struct ldapconn_op *ops;

	struct ldapconn_server_info info;
	/* Filled while the root DSE is read, copied to info at READY. */
	struct ldapconn_server_info next_info;
	bool have_info;

	char last_error[512];
	time_t last_error_at;

	bool reading_paused;        /* ldapconn_set_reading(false) */
	void (*idle_cb)(void *arg); /* nothing more to read right now */
	void *idle_arg;

	/* Fail-back (ldapconn_failback.c).  A probe is an ldapconn of its
	 * own over the more preferred URIs that tries each once, logs at
	 * debug and reports to its parent instead of backing off. */
	struct ldapconn *parent;   /* set on a probe: the live connection */
	struct ldapconn *probe;    /* the probe running, or NULL */
	struct event *ev_failback; /* when to probe next */
	unsigned failbacks;        /* switches to a preferred URI */

	int depth;   /* > 0 while our code is on the stack */
	bool doomed; /* ldapconn_free() called while depth > 0 */
};

/* ---- ldapconn.c ----------------------------------------------------------- */

/* The one place the state changes (logs, fail-back timer, callback). */
void ldapconn_set_state(struct ldapconn *lc, enum ldapconn_state state);
/* "Invalid credentials (49): <diagnostic>"; with ld, libldap's message. */
void ldapconn_describe(char *buf, size_t size, int rc, const char *diag,
    LDAP *ld);
/* Record "<uri>: <what>" as the last error; warn only when it changed. */
void ldapconn_record_error(struct ldapconn *lc, const char *what);
/* The current attempt failed: record why, then try the next URI. */
void ldapconn_fail(struct ldapconn *lc, const char *fmt, ...) DS_PRINTF(2, 3);
/* Every URI failed: back off (a probe reports to its parent instead). */
void ldapconn_all_failed(struct ldapconn *lc);
/* Close the socket and fail every operation with LDAP_SERVER_DOWN, why. */
void ldapconn_close(struct ldapconn *lc, const char *why);
void ldapconn_drop_socket(struct ldapconn *lc);
void ldapconn_arm_timer(struct ldapconn *lc, unsigned ms);
/* Register a request just sent; returns it (owned by lc). */
struct ldapconn_op *ldapconn_op_add(struct ldapconn *lc, int msgid,
    enum ldapconn_op_kind kind, ldapconn_entry_cb entry_cb,
    ldapconn_done_cb done_cb, void *arg);
/* Run ldap_result() once from the loop after a send (see the comment). */
void ldapconn_kick(struct ldapconn *lc);
/* Send a search while READY; -1 if not READY or not sent (nothing
 * registered). */
int ldapconn_send_search(struct ldapconn *lc,
    const struct ldapconn_search_req *req, int *msgid);
/* libevent callbacks of ev_read and ev_write, arg = the ldapconn. */
void ldapconn_read_cb(evutil_socket_t fd, short what, void *arg);
void ldapconn_write_cb(evutil_socket_t fd, short what, void *arg);
void ldapconn_leave(struct ldapconn *lc);

/* ---- ldapconn_connect.c --------------------------------------------------- */

/* Start trying URI number index (its failure moves on to the next). */
void ldapconn_attempt(struct ldapconn *lc, size_t index);
/* EV_WRITE on the connecting socket. */
void ldapconn_on_connect_done(struct ldapconn *lc);
/* The attempt is complete (also for a connection taken from a probe,
 * with next_info set): READY. */
void ldapconn_ready(struct ldapconn *lc);
/* Register a handshake request just sent (rc from the send), or fail. */
void ldapconn_handshake_sent(struct ldapconn *lc, int rc, int msgid,
    enum ldapconn_op_kind kind);
/* Bound: read the root DSE, the last step of the attempt. */
void ldapconn_send_rootdse(struct ldapconn *lc);
/* A handshake request (StartTLS, bind, root DSE) finished. */
void ldapconn_on_handshake_done(struct ldapconn *lc, enum ldapconn_op_kind kind,
    int rc, const char *diag);

/* ---- ldapconn_sasl.c ------------------------------------------------------ */

/* Send the first step of the GSSAPI bind (ends the attempt on failure). */
void ldapconn_sasl_start(struct ldapconn *lc);
/* The server answered a step: next step, the root DSE, or failure. */
void ldapconn_sasl_on_result(struct ldapconn *lc, LDAPMessage *msg);
/* "sasl:GSSAPI:<principal>"; borrowed from lc. */
const char *ldapconn_sasl_identity(const struct ldapconn *lc);

/* ---- ldapconn_rootdse.c --------------------------------------------------- */

/* The attributes asked of the root DSE, NULL-terminated. */
extern const char *const ldapconn_rootdse_attrs[];
/* Fill si from a root DSE entry (si is cleared first). */
void ldapconn_rootdse_parse(struct ldapconn_server_info *si,
    const struct ldapconn_entry *e);
/* The answer of an LDAPCONN_OP_ROOTDSE_READ: store it, run the callback.
 * ok = false (info NULL) also when the connection is closed. */
void ldapconn_rootdse_done(struct ldapconn *lc, struct ldapconn_op *op,
    bool ok);

/* ---- ldapconn_failback.c -------------------------------------------------- */

/* lc entered state: READY on a later URI arms the probe timer; any other
 * state stops it and frees a running probe. */
void ldapconn_failback_update(struct ldapconn *lc);
/* After a reload: the live URI's place in the new list, then as above. */
void ldapconn_failback_reconfigure(struct ldapconn *lc);
/* Free the probe and the timer (ldapconn_free). */
void ldapconn_failback_free(struct ldapconn *lc);

/* ---- ldapconn_io.c -------------------------------------------------------- */

/* Push above the provider with ber_sockbuf_add_io(), arg = the state. */
extern Sockbuf_IO ldapconn_io_layer;

/* ---- ldapconn_entry.c ----------------------------------------------------- */

/* Copy a SearchResultEntry; NULL if undecodable or out of memory.
 * (ldapconn_entry_new() is the public builder, ldapconn.h.) */
struct ldapconn_entry *ldapconn_entry_from_msg(LDAP *ld, LDAPMessage *msg);
void ldapconn_entry_free(struct ldapconn_entry *e);
bool ldapconn_entry_has(const struct ldapconn_entry *e, const char *name,
    const char *value);
const char *ldapconn_entry_first(const struct ldapconn_entry *e,
    const char *name);
/* The value of the control oid in ctrls (NULL-terminated), if present. */
bool ldapconn_find_control(LDAPControl **ctrls, const char *oid,
    const void **value, size_t *len);

#endif
