/* ldapconn.c - the daemon's one asynchronous LDAP connection (ldapconn.h):
 * it opens the socket itself, hands it to libldap with ldap_init_fd() and
 * drives every request from libevent.  It must never wait on the server
 * (the TLS handshake in ldap_install_tls() is the one bounded exception),
 * and it is the only file that includes ldap.h.
 *
 * Unbinding a handle whose peer has gone writes to a dead socket: the
 * process must ignore SIGPIPE (the daemon's main does, like every daemon). */
#include "ldapconn.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <ldap.h>
#include <openldap.h> /* ldap_init_fd(), LDAP_PROTO_*: public since 2.4 */

#include "backoff.h"
#include "ldapconn_internal.h"
#include "log.h"

#define LDAPCONN_LOG "conn=ldap"
/* Used when the setting is 0: libldap treats a zero network timeout as
 * "give up at once", which would make every TLS handshake fail. */
#define LDAPCONN_DEFAULT_TIMEOUT_MS 10000
/* Messages handled per wake-up before yielding to the loop, so a large
 * search cannot starve PostgreSQL or the status socket. */
#define LDAPCONN_BATCH 256

/* Root DSE values (RFC 4512 §5.1) that tell the mirror what it may use. */
#define OID_SYNCREPL "1.3.6.1.4.1.4203.1.9.1.1" /* RFC 4533 */
#define OID_AD_DIRSYNC "1.2.840.113556.1.4.841" /* MS-ADTS 3.1.1.3.4.1.3 */
#define OID_PAGED "1.2.840.113556.1.4.319"      /* RFC 2696 */
/* supportedCapabilities value LDAP_CAP_ACTIVE_DIRECTORY (MS-ADTS 3.1.1.3.4.3) */
#define OID_AD_CAPABILITY "1.2.840.113556.1.4.800"

enum ldapconn_op_kind {
	LDAPCONN_OP_STARTTLS, /* RFC 4511 §4.14 extended operation */
	LDAPCONN_OP_BIND,     /* simple, anonymous or SASL EXTERNAL */
	LDAPCONN_OP_ROOTDSE,  /* base-scope search of "" */
	LDAPCONN_OP_SEARCH,   /* a caller's ldapconn_search() */
};

/* One outstanding request, found again by its message id. */
struct ldapconn_op {
	struct ldapconn_op *next;
	int msgid;
	enum ldapconn_op_kind kind;
	ldapconn_entry_cb entry_cb;
	ldapconn_done_cb done_cb;              /* ldapconn_search() */
	ldapconn_intermediate_cb intermediate_cb;
	ldapconn_search_done_cb done_ext_cb;    /* ldapconn_search_ext() */
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
	struct ldapconn_io io;  /* our Sockbuf layer's state (ldapconn_io.c) */
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

	int depth;   /* > 0 while our code is on the stack */
	bool doomed; /* ldapconn_free() called while depth > 0 */
};

static const char *const ldapconn_state_names[] = {
	[LDAPCONN_IDLE] = "idle",
	[LDAPCONN_CONNECTING] = "connecting",
	[LDAPCONN_BINDING] = "binding",
	[LDAPCONN_READY] = "ready",
	[LDAPCONN_BACKOFF] = "backoff",
};

static void ldapconn_attempt(struct ldapconn *lc, size_t index);
static void ldapconn_fail(struct ldapconn *lc, const char *fmt, ...)
    DS_PRINTF(2, 3);
static void ldapconn_destroy(struct ldapconn *lc);

/* ---- settings ----------------------------------------------------------- */

static void
ldapconn_settings_copy(struct ldapconn_settings *dst,
    const struct ldapconn_settings *src)
{
	char **uris = ds_calloc(src->uri_count + 1, sizeof(char *));

	*dst = *src;
	for (size_t i = 0; i < src->uri_count; i++)
		uris[i] = ds_strdup(src->uris[i]);
	dst->uris = (const char *const *)uris;
	dst->bind_dn = ds_strdup(src->bind_dn ? src->bind_dn : "");
	dst->bind_password = ds_strdup(
	    src->bind_password ? src->bind_password : "");
	dst->tls_ca_file = ds_strdup(src->tls_ca_file ? src->tls_ca_file : "");
	if (dst->network_timeout_ms == 0)
		dst->network_timeout_ms = LDAPCONN_DEFAULT_TIMEOUT_MS;
}

static void
ldapconn_settings_clear(struct ldapconn_settings *cfg)
{
	for (size_t i = 0; i < cfg->uri_count; i++)
		free((char *)cfg->uris[i]);
	free((char **)cfg->uris);
	free((char *)cfg->bind_dn);
	explicit_bzero((char *)cfg->bind_password, strlen(cfg->bind_password));
	free((char *)cfg->bind_password);
	free((char *)cfg->tls_ca_file);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- state and errors --------------------------------------------------- */

/* The one place the state changes.  Each state is logged at info the first
 * time it is entered after start or READY; the same state entered again
 * while retrying is logged at debug, so a dead server costs one info line
 * and one warning, not a line per retry. */
static void
ldapconn_set_state(struct ldapconn *lc, enum ldapconn_state state)
{
	unsigned bit = 1u << state;
	enum log_level level = LOG_LEVEL_DEBUG;

	if (state == lc->state)
		return;
	if (state == LDAPCONN_READY || (lc->logged_states & bit) == 0)
		level = LOG_LEVEL_INFO;
	lc->logged_states = state == LDAPCONN_READY ? 0
	                                            : lc->logged_states | bit;
	lc->state = state;
	lc->since = time(NULL);
	if (state == LDAPCONN_READY)
		log_at(level, LDAPCONN_LOG, "state=ready uri=%s vendor=\"%s\"",
		    lc->server, lc->info.vendor);
	else if (state == LDAPCONN_BACKOFF)
		log_at(level, LDAPCONN_LOG,
		    "state=backoff retry_in_ms=%u retries=%u", lc->retry_ms,
		    lc->retries);
	else
		log_at(level, LDAPCONN_LOG, "state=%s uri=%s",
		    ldapconn_state_names[state], lc->server);
	if (lc->state_cb != NULL)
		lc->state_cb(lc, state, lc->arg);
}

/* "Invalid credentials (49): <diagnostic message>".  With ld, the
 * handle's own message: the TLS library's after a failed handshake, the
 * server's after a failed operation. */
static void
ldapconn_describe(char *buf, size_t size, int rc, const char *diag, LDAP *ld)
{
	char *ldiag = NULL;

	if (ld != NULL)
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &ldiag);
	if (ldiag != NULL)
		diag = ldiag;
	if (diag != NULL && *diag != '\0')
		snprintf(buf, size, "%s (%d): %s", ldap_err2string(rc), rc,
		    diag);
	else
		snprintf(buf, size, "%s (%d)", ldap_err2string(rc), rc);
	ldap_memfree(ldiag);
}

/* Record "<uri>: <what>" as the last error; warn only when it differs from
 * this URI's previous failure. */
static void
ldapconn_record_error(struct ldapconn *lc, const char *what)
{
	struct ds_error none, *prev = &none;
	enum log_level level = LOG_LEVEL_WARNING;

	snprintf(none.msg, sizeof(none.msg), "%s", lc->last_error);
	if (lc->uri_index < lc->cfg.uri_count)
		prev = &lc->uri_err[lc->uri_index];
	snprintf(lc->last_error, sizeof(lc->last_error), "%s: %s", lc->server,
	    what);
	lc->last_error_at = time(NULL);
	if (strcmp(prev->msg, lc->last_error) == 0)
		level = LOG_LEVEL_DEBUG;
	else
		snprintf(prev->msg, sizeof(prev->msg), "%s", lc->last_error);
	log_at(level, LDAPCONN_LOG, "error=\"%s\"", lc->last_error);
}

/* ---- operations table ---------------------------------------------------- */

static void
ldapconn_op_add(struct ldapconn *lc, int msgid, enum ldapconn_op_kind kind,
    ldapconn_entry_cb entry_cb, ldapconn_done_cb done_cb, void *arg)
{
	struct ldapconn_op *op = ds_calloc(1, sizeof(*op));

	op->msgid = msgid;
	op->kind = kind;
	op->entry_cb = entry_cb;
	op->done_cb = done_cb;
	op->arg = arg;
	op->next = lc->ops;
	lc->ops = op;
}

/* The operation for msgid, or NULL; take also unlinks it (caller frees). */
static struct ldapconn_op *
ldapconn_op_find(struct ldapconn *lc, int msgid, bool take)
{
	for (struct ldapconn_op **pp = &lc->ops; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->msgid == msgid) {
			struct ldapconn_op *op = *pp;

			if (take)
				*pp = op->next;
			return op;
		}
	return NULL;
}

/* ---- tearing down ------------------------------------------------------- */

static void
ldapconn_drop_socket(struct ldapconn *lc)
{
	/* Events go first: the descriptor must not be closed under them. */
	if (lc->ev_read != NULL)
		event_free(lc->ev_read);
	if (lc->ev_write != NULL)
		event_free(lc->ev_write);
	lc->ev_read = lc->ev_write = NULL;
	if (lc->ld != NULL) {
		/* Only sends the UnbindRequest (RFC 4511 §4.3) and closes the
		 * descriptor ldap_init_fd() took over; never waits. */
		ldap_unbind_ext(lc->ld, NULL, NULL);
		lc->ld = NULL;
	} else if (lc->fd >= 0) {
		close(lc->fd);
	}
	lc->fd = -1;
}

/* Close the attempt or connection; every caller's pending operation gets
 * its done callback (exactly once) with LDAP_SERVER_DOWN and why. */
static void
ldapconn_close(struct ldapconn *lc, const char *why)
{
	struct ldapconn_op *op;

	ldapconn_drop_socket(lc);
	if (lc->ai_list != NULL)
		freeaddrinfo(lc->ai_list);
	lc->ai_list = lc->ai_next = NULL;
	lc->broken = false;
	evtimer_del(lc->ev_timer);
	/* Pop one at a time: a callback may call ldapconn_free(), which only
	 * marks us doomed while we are on the stack. */
	while ((op = lc->ops) != NULL) {
		lc->ops = op->next;
		if (op->done_cb != NULL)
			op->done_cb(LDAP_SERVER_DOWN, why, op->arg);
		else if (op->done_ext_cb != NULL)
			op->done_ext_cb(LDAP_SERVER_DOWN, why, NULL, op->arg);
		free(op);
	}
}

static void
ldapconn_arm_timer(struct ldapconn *lc, unsigned ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
		(suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(lc->ev_timer, &tv);
}

/* Every URI failed: wait, then start again from the first. */
static void
ldapconn_all_failed(struct ldapconn *lc)
{
	lc->retry_ms = backoff_next_ms_random(&lc->backoff);
	ldapconn_arm_timer(lc, lc->retry_ms);
	ldapconn_set_state(lc, LDAPCONN_BACKOFF);
}

/* The current attempt failed: record why, then try the next URI. */
static void
ldapconn_fail(struct ldapconn *lc, const char *fmt, ...)
{
	char what[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	lc->retries++;
	ldapconn_record_error(lc, what);
	ldapconn_close(lc, "connection lost");
	if (lc->doomed)
		return;
	if (lc->uri_index + 1 < lc->cfg.uri_count)
		ldapconn_attempt(lc, lc->uri_index + 1);
	else
		ldapconn_all_failed(lc);
}

/* The connection is unusable: read error or EOF (why = NULL: libldap's
 * result code says which), failed send, notice of disconnection.  During
 * the handshake that fails the attempt; a READY connection fails its
 * operations and reconnects, first URI first.  (Fail-back from a later
 * URI to a recovered earlier one while READY is not done yet: we stay
 * until the connection drops.) */
static void
ldapconn_broken(struct ldapconn *lc, const char *why)
{
	int rc = LDAP_SERVER_DOWN;
	char text[300], what[400];

	if (why == NULL) {
		if (lc->ld != NULL)
			ldap_get_option(lc->ld, LDAP_OPT_RESULT_CODE, &rc);
		ldapconn_describe(text, sizeof(text), rc, NULL, NULL);
		why = text;
	}
	if (lc->state != LDAPCONN_READY) {
		ldapconn_fail(lc, "%s: %s", lc->step, why);
		return;
	}
	snprintf(what, sizeof(what), "connection lost: %s", why);
	ldapconn_record_error(lc, what);
	ldapconn_close(lc, "connection lost");
	if (!lc->doomed)
		ldapconn_attempt(lc, 0);
}

/* ---- reading results ----------------------------------------------------- */

static void
ldapconn_read_rootdse(struct ldapconn *lc, const struct ldapconn_entry *e)
{
	struct ldapconn_server_info *si = &lc->next_info;
	const char *name = ldapconn_entry_first(e, "vendorName");
	const char *version = ldapconn_entry_first(e, "vendorVersion");
	const char *nc = ldapconn_entry_first(e, "defaultNamingContext");

	/* RFC 3045 vendorName is optional; OpenLDAP and AD omit it, but say
	 * who they are in other root DSE values. */
	if (name == NULL &&
	    ldapconn_entry_has(e, "objectClass", "OpenLDAProotDSE"))
		name = "OpenLDAP";
	else if (name == NULL && ldapconn_entry_has(e, "supportedCapabilities",
	                             OID_AD_CAPABILITY))
		name = "Active Directory";
	snprintf(si->vendor, sizeof(si->vendor), "%s%s%s", name ? name : "",
	    name && version ? " " : "", name && version ? version : "");
	si->syncrepl = ldapconn_entry_has(e, "supportedControl", OID_SYNCREPL);
	si->ad_dirsync = ldapconn_entry_has(e, "supportedControl",
	    OID_AD_DIRSYNC);
	si->paged_results = ldapconn_entry_has(e, "supportedControl",
	    OID_PAGED);
	if (nc == NULL)
		nc = ldapconn_entry_first(e, "namingContexts");
	snprintf(si->naming_context, sizeof(si->naming_context), "%s",
	    nc ? nc : "");
}

static void
ldapconn_on_entry(struct ldapconn *lc, struct ldapconn_op *op, LDAPMessage *msg)
{
	struct ldapconn_entry *e = ldapconn_entry_new(lc->ld, msg);

	if (e == NULL) {
		log_obj_warning(LDAPCONN_LOG,
		    "entry skipped msgid=%d error=\"cannot decode or out of memory\"",
		    op->msgid);
		return;
	}
	if (op->kind == LDAPCONN_OP_ROOTDSE)
		ldapconn_read_rootdse(lc, e);
	else if (op->kind == LDAPCONN_OP_SEARCH && op->entry_cb != NULL)
		op->entry_cb(e, op->arg);
	ldapconn_entry_free(e);
}

/* ---- the handshake: StartTLS, bind, root DSE ----------------------------- */

/* After sending: libldap may already hold the answer (its TLS layer reads
 * whole records, more than the message it was asked for), and the kernel
 * will never report those bytes readable again - so run ldap_result()
 * once from the loop without waiting for EV_READ.  A request the socket
 * could not take whole stays queued in libldap with LDAP_BUSY (request.c,
 * ldap_int_flush_request) and is written by later ldap_result() calls
 * that find the socket writable: watch for that (ldapconn_on_writable). */
static void
ldapconn_kick(struct ldapconn *lc)
{
	int rc = LDAP_SUCCESS;

	event_active(lc->ev_read, EV_READ, 0);
	ldap_get_option(lc->ld, LDAP_OPT_RESULT_CODE, &rc);
	if (rc == LDAP_BUSY) {
		log_obj_debug(LDAPCONN_LOG, "request partly written");
		event_add(lc->ev_write, NULL);
	}
}

/* Track a handshake request just sent, bounded by the network timeout. */
static void
ldapconn_handshake_sent(struct ldapconn *lc, int rc, int msgid,
    enum ldapconn_op_kind kind)
{
	char text[300];

	if (rc != LDAP_SUCCESS) {
		ldapconn_describe(text, sizeof(text), rc, NULL, lc->ld);
		ldapconn_fail(lc, "%s: %s", lc->step, text);
		return;
	}
	ldapconn_op_add(lc, msgid, kind, NULL, NULL, NULL);
	ldapconn_arm_timer(lc, lc->cfg.network_timeout_ms);
	ldapconn_kick(lc);
}

static void
ldapconn_send_rootdse(struct ldapconn *lc)
{
	static const char *const attrs[] = { "vendorName", "vendorVersion",
		"supportedControl", "namingContexts", "defaultNamingContext",
		"supportedExtension", "supportedCapabilities", "objectClass",
		NULL };
	int msgid = -1, rc;

	lc->step = "rootdse";
	memset(&lc->next_info, 0, sizeof(lc->next_info));
	rc = ldap_search_ext(lc->ld, "", LDAP_SCOPE_BASE, "(objectClass=*)",
	    (char **)attrs, 0, NULL, NULL, NULL, LDAP_NO_LIMIT, &msgid);
	ldapconn_handshake_sent(lc, rc, msgid, LDAPCONN_OP_ROOTDSE);
}

static void
ldapconn_send_bind(struct ldapconn *lc)
{
	struct berval cred = { 0, (char *)"" };
	const char *dn = lc->cfg.bind_dn;
	int msgid = -1, rc;

	lc->step = "bind";
	ldapconn_set_state(lc, LDAPCONN_BINDING);
	if (lc->cfg.sasl_external) {
		/* RFC 4422 appendix A: the initial response is the authzid;
		 * an empty one (present, or slapd answers saslBindInProgress
		 * and waits for it) means the identity the transport
		 * established - ldapi peer credentials or a TLS client
		 * certificate.  bind_dn is not used. */
		rc = ldap_sasl_bind(lc->ld, NULL, "EXTERNAL", &cred, NULL, NULL,
		    &msgid);
	} else {
		/* An empty DN binds anonymously (RFC 4513 §5.1.1); a DN with an
		 * empty password is an unauthenticated bind the server will
		 * normally refuse (§5.1.2), which says so more clearly than we
		 * could. */
		if (*dn != '\0') {
			cred.bv_val = (char *)lc->cfg.bind_password;
			cred.bv_len = strlen(cred.bv_val);
		}
		rc = ldap_sasl_bind(lc->ld, dn, LDAP_SASL_SIMPLE, &cred, NULL,
		    NULL, &msgid);
	}
	ldapconn_handshake_sent(lc, rc, msgid, LDAPCONN_OP_BIND);
}

/* The one bounded wait: the handshake, at most network_timeout. */
static int
ldapconn_install_tls(struct ldapconn *lc)
{
	const char *ca = lc->cfg.tls_ca_file;
	char text[300];
	int fd = -1, rc;

	lc->step = "tls";
	lc->io.deadline = ds_monotonic_ms() + lc->cfg.network_timeout_ms;
	lc->io.bounded = true;
	lc->io.timed_out = false;
	rc = ldap_install_tls(lc->ld);
	lc->io.bounded = false;
	/* libevent caches the time per loop pass: without this, timers armed
	 * next (the backoff) would count from before the handshake. */
	event_base_update_cache_time(lc->base);
	/* libldap built with LDAP_USE_NON_BLOCKING_TLS leaves the socket
	 * blocking afterwards; a half-received record would then block the
	 * loop in ldap_result(). */
	if (ldap_get_option(lc->ld, LDAP_OPT_DESC, &fd) == LDAP_OPT_SUCCESS &&
	    fd >= 0)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (rc == LDAP_SUCCESS)
		return 0;
	if (lc->io.timed_out) {
		ldapconn_fail(lc, "tls: handshake timed out after %u ms",
		    lc->cfg.network_timeout_ms);
		return -1;
	}
	/* GnuTLS verification failures reach us as "(unknown error code)":
	 * name what to check. */
	ldapconn_describe(text, sizeof(text), rc, NULL, lc->ld);
	if (!lc->cfg.tls_verify) {
		ldapconn_fail(lc, "tls: %s", text);
		return -1;
	}
	if (*ca == '\0')
		ca = "the system trust store";
	ldapconn_fail(lc,
	    "tls: %s (is the server certificate signed by a CA "
	    "in %s and issued for \"%s\"?)",
	    text, ca, lc->host);
	return -1;
}

static void
ldapconn_send_starttls(struct ldapconn *lc)
{
	int msgid = -1, rc;

	lc->step = "starttls";
	rc = ldap_extended_operation(lc->ld, LDAP_EXOP_START_TLS, NULL, NULL,
	    NULL, &msgid);
	ldapconn_handshake_sent(lc, rc, msgid, LDAPCONN_OP_STARTTLS);
}

static void
ldapconn_ready(struct ldapconn *lc)
{
	evtimer_del(lc->ev_timer);
	lc->info = lc->next_info;
	lc->have_info = true;
	lc->retries = 0;
	backoff_reset(&lc->backoff);
	for (size_t i = 0; i < lc->cfg.uri_count; i++)
		lc->uri_err[i].msg[0] = '\0';
	ldapconn_set_state(lc, LDAPCONN_READY);
}

/* A handshake request finished with rc and the server's diagnostic. */
static void
ldapconn_on_handshake_done(struct ldapconn *lc, enum ldapconn_op_kind kind,
    int rc, const char *diag)
{
	char text[300];

	evtimer_del(lc->ev_timer);
	ldapconn_describe(text, sizeof(text), rc, diag, NULL);
	if (kind == LDAPCONN_OP_ROOTDSE) {
		/* Servers may hide the root DSE from some identities; the
		 * connection is still usable, the mirror just learns less. */
		if (rc != LDAP_SUCCESS)
			log_obj_warning(LDAPCONN_LOG,
			    "root DSE unreadable uri=%s error=\"%s\"",
			    lc->server, text);
		ldapconn_ready(lc);
	} else if (rc != LDAP_SUCCESS) {
		ldapconn_fail(lc, "%s: %s", lc->step, text);
	} else if (kind == LDAPCONN_OP_STARTTLS) {
		if (ldapconn_install_tls(lc) == 0)
			ldapconn_send_bind(lc);
	} else {
		ldapconn_send_rootdse(lc);
	}
}

/* A final response (not an entry or reference) for op. */
static void
ldapconn_on_result(struct ldapconn *lc, struct ldapconn_op *op,
    LDAPMessage *msg)
{
	char *diag = NULL;
	char text[DS_ERRLEN];
	int rc = LDAP_OTHER, prc;
	struct ldapconn_controls ctrls = { NULL };

	prc = ldap_parse_result(lc->ld, msg, &rc, NULL, &diag, NULL,
	    &ctrls.ctrls, 0);
	if (prc != LDAP_SUCCESS)
		rc = prc;
	ldapconn_op_find(lc, op->msgid, true);
	if (op->kind == LDAPCONN_OP_SEARCH) {
		ldapconn_describe(text, sizeof(text), rc, diag, NULL);
		if (op->done_cb != NULL)
			op->done_cb(rc, text, op->arg);
		else if (op->done_ext_cb != NULL)
			op->done_ext_cb(rc, text, &ctrls, op->arg);
	} else {
		ldapconn_on_handshake_done(lc, op->kind, rc, diag);
	}
	if (ctrls.ctrls != NULL)
		ldap_controls_free(ctrls.ctrls);
	ldap_memfree(diag);
	free(op);
}

/* RFC 4511 §4.13: an IntermediateResponse (RFC 4533's Sync Info). */
static void
ldapconn_on_intermediate(struct ldapconn *lc, struct ldapconn_op *op,
    LDAPMessage *msg)
{
	char *oid = NULL;
	struct berval *data = NULL;

	if (op->intermediate_cb == NULL)
		return;
	if (ldap_parse_intermediate(lc->ld, msg, &oid, &data, NULL, 0) !=
	    LDAP_SUCCESS) {
		log_obj_warning(LDAPCONN_LOG,
		    "undecodable intermediate response msgid=%d", op->msgid);
		return;
	}
	op->intermediate_cb(oid, data ? data->bv_val : NULL,
	    data ? data->bv_len : 0, op->arg);
	ldap_memfree(oid);
	ber_bvfree(data);
}

/* RFC 4511 §4.4: message id 0 is an unsolicited notification; the only
 * one defined, Notice of Disconnection, means the server is closing. */
static void
ldapconn_on_unsolicited(struct ldapconn *lc, LDAPMessage *msg)
{
	char *diag = NULL;
	char text[300], what[350];
	int rc = LDAP_UNAVAILABLE;

	ldap_parse_result(lc->ld, msg, &rc, NULL, &diag, NULL, NULL, 0);
	ldapconn_describe(text, sizeof(text), rc, diag, NULL);
	ldap_memfree(diag);
	snprintf(what, sizeof(what), "notice of disconnection: %s", text);
	ldapconn_broken(lc, what);
}

static void
ldapconn_dispatch(struct ldapconn *lc, LDAPMessage *msg)
{
	int msgid = ldap_msgid(msg);
	int type = ldap_msgtype(msg);
	struct ldapconn_op *op = ldapconn_op_find(lc, msgid, false);

	if (msgid == 0)
		ldapconn_on_unsolicited(lc, msg);
	else if (op == NULL)
		log_obj_debug(LDAPCONN_LOG,
		    "unexpected message msgid=%d type=%d", msgid, type);
	else if (type == LDAP_RES_SEARCH_ENTRY)
		ldapconn_on_entry(lc, op, msg);
	else if (type == LDAP_RES_INTERMEDIATE)
		ldapconn_on_intermediate(lc, op, msg);
	else if (type != LDAP_RES_SEARCH_REFERENCE)
		ldapconn_on_result(lc, op, msg);
	/* References are ignored: referrals are off, we never chase them. */
	ldap_msgfree(msg);
}

/* Collect every complete message libldap can give without waiting: it
 * reads the socket (and its own buffers) with a zero-timeout poll. */
static void
ldapconn_on_readable(struct ldapconn *lc)
{
	struct timeval zero = { 0, 0 };
	LDAPMessage *msg;
	int rc;

	if (lc->broken) {
		ldapconn_broken(lc, NULL);
		return;
	}
	for (int n = 0; lc->ld != NULL && !lc->doomed; n++) {
		if (lc->reading_paused)
			return;
		if (n == LDAPCONN_BATCH) {
			event_active(lc->ev_read, EV_READ, 0);
			return;
		}
		msg = NULL;
		rc = ldap_result(lc->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &zero,
		    &msg);
		if (rc == 0) {
			/* Drained: let a batching caller write now rather
			 * than wait for a batch that will not fill. */
			if (n > 0 && lc->idle_cb != NULL)
				lc->idle_cb(lc->idle_arg);
			return;
		}
		if (rc < 0) {
			/* -1 also covers EOF: libldap reports it as
			 * LDAP_SERVER_DOWN. */
			ldapconn_broken(lc, NULL);
			return;
		}
		ldapconn_dispatch(lc, msg);
	}
}

/* ---- opening the socket ------------------------------------------------ */

static void ldapconn_read_cb(evutil_socket_t fd, short what, void *arg);
static void ldapconn_write_cb(evutil_socket_t fd, short what, void *arg);

/* The socket is connected: give it to libldap and start the handshake. */
static void
ldapconn_on_connected(struct ldapconn *lc)
{
	struct timeval tv = { (time_t)(lc->cfg.network_timeout_ms / 1000),
		(suseconds_t)(lc->cfg.network_timeout_ms % 1000) * 1000 };
	int version = LDAP_VERSION3, require, zero = 0, fd = -1, rc;
	const char *ca = lc->cfg.tls_ca_file;
	Sockbuf *sb = NULL;
	char text[300];

	evtimer_del(lc->ev_timer);
	if (lc->ai_list != NULL)
		freeaddrinfo(lc->ai_list);
	lc->ai_list = lc->ai_next = NULL;
	lc->step = "init";
	rc = ldap_init_fd(lc->fd, lc->proto, lc->server, &lc->ld);
	if (rc != LDAP_SUCCESS) {
		ldapconn_describe(text, sizeof(text), rc, NULL, NULL);
		ldapconn_fail(lc, "init: %s", text);
		return;
	}
	lc->fd = -1; /* libldap closes it on unbind */
	/* LDAP_OPT_TIMEOUT only bounds synchronous calls, which we do not
	 * make; set anyway so a future one cannot hang forever. */
	if (ldap_set_option(lc->ld, LDAP_OPT_PROTOCOL_VERSION, &version) ||
	    ldap_set_option(lc->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) ||
	    ldap_set_option(lc->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) ||
	    ldap_set_option(lc->ld, LDAP_OPT_TIMEOUT, &tv) ||
	    ldap_get_option(lc->ld, LDAP_OPT_DESC, &fd) || fd < 0) {
		ldapconn_fail(lc, "init: cannot set connection options");
		return;
	}
	lc->ev_read = event_new(lc->base, fd, EV_READ | EV_PERSIST,
	    ldapconn_read_cb, lc);
	event_add(lc->ev_read, NULL);
	if (ldap_get_option(lc->ld, LDAP_OPT_SOCKBUF, &sb) ||
	    ber_sockbuf_add_io(sb, &ldapconn_io_layer,
	        LBER_SBIOD_LEVEL_PROVIDER + 1, &lc->io) < 0) {
		ldapconn_fail(lc, "init: cannot add our Sockbuf layer");
		return;
	}
	if (lc->tls) {
		/* Per-handle TLS settings take effect in a new context. */
		require = lc->cfg.tls_verify ? LDAP_OPT_X_TLS_DEMAND
		                             : LDAP_OPT_X_TLS_NEVER;
		rc = LDAP_OPT_SUCCESS;
		if (*ca != '\0')
			rc = ldap_set_option(lc->ld, LDAP_OPT_X_TLS_CACERTFILE,
			    ca);
		rc |= ldap_set_option(lc->ld, LDAP_OPT_X_TLS_REQUIRE_CERT,
		    &require);
		rc |= ldap_set_option(lc->ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
		if (rc != LDAP_OPT_SUCCESS) {
			ldapconn_fail(lc,
			    "tls: cannot create a TLS context "
			    "(tls_ca_file \"%s\")",
			    ca);
			return;
		}
	}
	if (lc->ldaps) {
		if (ldapconn_install_tls(lc) == 0)
			ldapconn_send_bind(lc);
	} else if (lc->tls) {
		ldapconn_send_starttls(lc);
	} else {
		ldapconn_send_bind(lc);
	}
}

/* Connect a non-blocking socket to the next resolved address.  0 when a
 * connect is under way (completion arrives on ev_write), -1 with err when
 * no address is left. */
static int
ldapconn_connect_next(struct ldapconn *lc, int last_errno, struct ds_error *err)
{
	struct addrinfo *ai;
	int on = 1;

	while ((ai = lc->ai_next) != NULL) {
		lc->ai_next = ai->ai_next;
		lc->fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (lc->fd < 0) {
			last_errno = errno;
			continue;
		}
		/* What libldap sets on sockets it opens itself (os-ip.c). */
		if (ai->ai_family != AF_UNIX) {
			setsockopt(lc->fd, SOL_SOCKET, SO_KEEPALIVE, &on,
			    sizeof(on));
			setsockopt(lc->fd, IPPROTO_TCP, TCP_NODELAY, &on,
			    sizeof(on));
		}
		if (connect(lc->fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    errno == EINPROGRESS) {
			lc->ev_write = event_new(lc->base, lc->fd, EV_WRITE,
			    ldapconn_write_cb, lc);
			event_add(lc->ev_write, NULL);
			ldapconn_arm_timer(lc, lc->cfg.network_timeout_ms);
			return 0;
		}
		last_errno = errno;
		ldapconn_drop_socket(lc);
	}
	return ds_error_set(err, "connect: %s", strerror(last_errno));
}

/* EV_WRITE on a connecting socket: did it work?  (SO_ERROR, as connect(2)
 * describes for EINPROGRESS.) */
static void
ldapconn_on_connect_done(struct ldapconn *lc)
{
	struct ds_error err;
	socklen_t len = sizeof(int);
	int soerr = 0;

	if (getsockopt(lc->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr == 0) {
		ldapconn_on_connected(lc);
		return;
	}
	ldapconn_drop_socket(lc);
	if (ldapconn_connect_next(lc, soerr, &err) < 0)
		ldapconn_fail(lc, "%s", err.msg);
}

/* Resolve host:port for ldap:// and ldaps://.  Numeric hosts skip the
 * resolver.  A name goes through getaddrinfo(), which blocks the loop for
 * the resolver's time: acceptable at connect time for now, bounded by
 * resolv.conf's timeouts; evdns_getaddrinfo() would make it asynchronous
 * at the cost of ignoring nsswitch.conf. */
static int
ldapconn_resolve(struct ldapconn *lc, const char *host, int port,
    struct ds_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	char service[16];
	int rc;

	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(host, service, &hints, &lc->ai_list);
	if (rc == EAI_NONAME) {
		hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
		rc = getaddrinfo(host, service, &hints, &lc->ai_list);
		event_base_update_cache_time(lc->base); /* see install_tls */
	}
	if (rc != 0) {
		lc->ai_list = NULL;
		return ds_error_set(err, "resolve: %s: %s", host,
		    gai_strerror(rc));
	}
	lc->ai_next = lc->ai_list;
	return 0;
}

/* ldapi://: the decoded host part is the socket path.  libldap's default
 * path (LDAPI_SOCK) is not public, so the URI must name one. */
static int
ldapconn_resolve_unix(struct ldapconn *lc, const char *path,
    struct ds_error *err)
{
	struct sockaddr_un *sun = &lc->unix_addr;

	if (path == NULL || path[0] != '/')
		return ds_error_set(err,
		    "ldapi URI needs an absolute socket "
		    "path, e.g. ldapi://%%2Frun%%2Fslapd%%2Fldapi");
	if (strlen(path) >= sizeof(sun->sun_path))
		return ds_error_set(err, "ldapi socket path too long");
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	/* A one-address list of our own: ai_list stays NULL, so nothing is
	 * handed to freeaddrinfo(). */
	memset(&lc->unix_ai, 0, sizeof(lc->unix_ai));
	lc->unix_ai.ai_family = AF_UNIX;
	lc->unix_ai.ai_socktype = SOCK_STREAM;
	lc->unix_ai.ai_addr = (struct sockaddr *)sun;
	lc->unix_ai.ai_addrlen = sizeof(*sun);
	lc->ai_next = &lc->unix_ai;
	return 0;
}

static int
ldapconn_open(struct ldapconn *lc, struct ds_error *err)
{
	LDAPURLDesc *lud = NULL;
	const char *scheme, *host;
	int rc, port;

	rc = ldap_url_parse(lc->server, &lud);
	if (rc == LDAP_URL_ERR_BADSCHEME)
		return ds_error_set(err, "invalid URI: the scheme must be "
		                         "ldap://, ldaps:// or ldapi://");
	if (rc != LDAP_URL_SUCCESS)
		return ds_error_set(err,
		    "invalid URI (ldap_url_parse error %d)", rc);
	scheme = lud->lud_scheme;
	/* An empty host means localhost, as for libldap itself. */
	host = lud->lud_host != NULL && *lud->lud_host ? lud->lud_host
	                                               : "localhost";
	snprintf(lc->host, sizeof(lc->host), "%s", host);
	lc->ldaps = strcasecmp(scheme, "ldaps") == 0;
	if (strcasecmp(scheme, "ldapi") == 0) {
		/* StartTLS over a local socket protects nothing; SASL
		 * EXTERNAL uses the peer credentials instead. */
		lc->proto = LDAP_PROTO_IPC;
		lc->tls = false;
		rc = ldapconn_resolve_unix(lc, lud->lud_host, err);
	} else if (lc->ldaps || strcasecmp(scheme, "ldap") == 0) {
		lc->proto = LDAP_PROTO_TCP;
		lc->tls = lc->ldaps || lc->cfg.starttls;
		port = lc->ldaps ? LDAPS_PORT : LDAP_PORT;
		rc = ldapconn_resolve(lc, host,
		    lud->lud_port ? lud->lud_port : port, err);
	} else {
		rc = ds_error_set(err, "unsupported scheme \"%s\"", scheme);
	}
	ldap_free_urldesc(lud);
	if (rc < 0)
		return rc;
	return ldapconn_connect_next(lc, ECONNREFUSED, err);
}

/* Start trying URI number index (its failure moves on to the next). */
static void
ldapconn_attempt(struct ldapconn *lc, size_t index)
{
	struct ds_error err;

	lc->uri_index = index;
	if (index >= lc->cfg.uri_count) {
		snprintf(lc->server, sizeof(lc->server), "%s", "");
		lc->retries++;
		ldapconn_record_error(lc, "no LDAP URI configured");
		ldapconn_all_failed(lc);
		return;
	}
	snprintf(lc->server, sizeof(lc->server), "%s", lc->cfg.uris[index]);
	lc->step = "connect";
	if (lc->state == LDAPCONN_CONNECTING)
		log_obj_debug(LDAPCONN_LOG, "trying uri=%s", lc->server);
	ldapconn_set_state(lc, LDAPCONN_CONNECTING);
	if (ldapconn_open(lc, &err) < 0)
		ldapconn_fail(lc, "%s", err.msg);
}

/* ---- event callbacks: take arg, call one handler ------------------------ */

static void
ldapconn_leave(struct ldapconn *lc)
{
	if (--lc->depth == 0 && lc->doomed)
		ldapconn_destroy(lc);
}

static void
ldapconn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ldapconn *lc = arg;

	lc->depth++;
	ldapconn_on_readable(lc);
	ldapconn_leave(lc);
}

/* The socket took more of a partly written request (libldap flushes it
 * inside ldap_result() when the socket is writable): watch again while
 * that makes progress; a wake-up that wrote nothing means it is done. */
static void
ldapconn_on_writable(struct ldapconn *lc)
{
	unsigned long long before = lc->io.written;

	ldapconn_on_readable(lc);
	if (lc->io.written != before && lc->ld != NULL && !lc->doomed)
		event_add(lc->ev_write, NULL);
}

/* ev_write serves the connect, then flushing a partly written request. */
static void
ldapconn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ldapconn *lc = arg;

	lc->depth++;
	if (lc->ld == NULL)
		ldapconn_on_connect_done(lc);
	else
		ldapconn_on_writable(lc);
	ldapconn_leave(lc);
}

static void
ldapconn_on_timer(struct ldapconn *lc)
{
	if (lc->state == LDAPCONN_BACKOFF)
		ldapconn_attempt(lc, 0);
	else if (lc->state == LDAPCONN_CONNECTING ||
	         lc->state == LDAPCONN_BINDING)
		ldapconn_fail(lc, "%s: timed out after %u ms", lc->step,
		    lc->cfg.network_timeout_ms);
}

static void
ldapconn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ldapconn *lc = arg;

	lc->depth++;
	ldapconn_on_timer(lc);
	ldapconn_leave(lc);
}

/* ---- public ------------------------------------------------------------ */

struct ldapconn *
ldapconn_new(struct event_base *base, const struct ldapconn_settings *settings,
    ldapconn_state_cb state_cb, void *arg)
{
	struct ldapconn *lc = ds_calloc(1, sizeof(*lc));

	lc->base = base;
	ldapconn_settings_copy(&lc->cfg, settings);
	lc->uri_err = ds_calloc(lc->cfg.uri_count, sizeof(*lc->uri_err));
	lc->state_cb = state_cb;
	lc->arg = arg;
	lc->state = LDAPCONN_IDLE;
	lc->since = time(NULL);
	lc->fd = -1;
	backoff_init(&lc->backoff, lc->cfg.backoff_min_ms,
	    lc->cfg.backoff_max_ms);
	lc->ev_timer = evtimer_new(base, ldapconn_timer_cb, lc);
	if (lc->ev_timer == NULL)
		fatal("ldapconn: cannot create timer event");
	return lc;
}

void
ldapconn_start(struct ldapconn *lc)
{
	if (lc->state != LDAPCONN_IDLE || lc->doomed)
		return;
	lc->depth++;
	ldapconn_attempt(lc, 0);
	ldapconn_leave(lc);
}

void
ldapconn_reconfigure(struct ldapconn *lc,
    const struct ldapconn_settings *settings)
{
	unsigned attempt = lc->backoff.attempt;

	ldapconn_settings_clear(&lc->cfg);
	ldapconn_settings_copy(&lc->cfg, settings);
	free(lc->uri_err);
	lc->uri_err = ds_calloc(lc->cfg.uri_count, sizeof(*lc->uri_err));
	backoff_init(&lc->backoff, lc->cfg.backoff_min_ms,
	    lc->cfg.backoff_max_ms);
	lc->backoff.attempt = attempt;
}

static void
ldapconn_destroy(struct ldapconn *lc)
{
	lc->depth++; /* callbacks below may call ldapconn_free() again */
	ldapconn_close(lc, "connection closed");
	event_free(lc->ev_timer);
	ldapconn_settings_clear(&lc->cfg);
	free(lc->uri_err);
	free(lc);
}

void
ldapconn_free(struct ldapconn *lc)
{
	if (lc == NULL || lc->doomed)
		return;
	lc->doomed = true;
	lc->state_cb = NULL;
	/* Called from one of our callbacks: finish when the stack unwinds. */
	if (lc->depth == 0)
		ldapconn_destroy(lc);
}

enum ldapconn_state
ldapconn_get_state(const struct ldapconn *lc)
{
	return lc->state;
}

const char *
ldapconn_state_name(enum ldapconn_state state)
{
	if ((size_t)state >= DS_ARRAY_SIZE(ldapconn_state_names))
		return "unknown";
	return ldapconn_state_names[state];
}

void
ldapconn_get_status(const struct ldapconn *lc, struct connstatus *out)
{
	memset(out, 0, sizeof(*out));
	out->name = "ldap";
	out->state = ldapconn_state_name(lc->state);
	snprintf(out->server, sizeof(out->server), "%s", lc->server);
	out->since = lc->since;
	out->retries = lc->retries;
	snprintf(out->last_error, sizeof(out->last_error), "%s",
	    lc->last_error);
	out->last_error_at = lc->last_error_at;
}

const struct ldapconn_server_info *
ldapconn_get_server_info(const struct ldapconn *lc)
{
	return lc->have_info ? &lc->info : NULL;
}


static int
ldapconn_send_search(struct ldapconn *lc, const struct ldapconn_search_req *req,
    int *msgid)
{
	static const int scopes[] = {
		[LDAPCONN_SCOPE_BASE] = LDAP_SCOPE_BASE,
		[LDAPCONN_SCOPE_ONE] = LDAP_SCOPE_ONELEVEL,
		[LDAPCONN_SCOPE_SUB] = LDAP_SCOPE_SUBTREE,
	};
	LDAPControl ctrls[4], *ctrlp[5];
	char text[300];
	int rc;

	if (lc->state != LDAPCONN_READY || lc->ld == NULL || lc->broken ||
	    lc->doomed || (size_t)req->scope >= DS_ARRAY_SIZE(scopes) ||
	    req->control_count > DS_ARRAY_SIZE(ctrls))
		return -1;
	for (size_t i = 0; i < req->control_count; i++) {
		ctrls[i] = (LDAPControl){
			.ldctl_oid = (char *)req->controls[i].oid,
			.ldctl_value = { .bv_len = req->controls[i].len,
				.bv_val = (char *)req->controls[i].value },
			.ldctl_iscritical = req->controls[i].critical ? 1 : 0,
		};
		ctrlp[i] = &ctrls[i];
	}
	ctrlp[req->control_count] = NULL;
	rc = ldap_search_ext(lc->ld, req->base != NULL ? req->base : "",
	    scopes[req->scope], req->filter, (char **)req->attrs, 0,
	    req->control_count ? ctrlp : NULL, NULL, NULL, LDAP_NO_LIMIT, msgid);
	if (rc == LDAP_BUSY) {
		/* libldap writes one request at a time (request.c): an
		 * earlier one is still waiting for the socket. */
		log_obj_debug(LDAPCONN_LOG, "search not sent: %s",
		    "an earlier request is still being written");
		return -1;
	}
	if (rc != LDAP_SUCCESS) {
		ldapconn_describe(text, sizeof(text), rc, NULL, lc->ld);
		log_obj_warning(LDAPCONN_LOG,
		    "search not sent base=\"%s\" filter=\"%s\" error=\"%s\"",
		    req->base ? req->base : "", req->filter ? req->filter : "", text);
		/* A failed send means the connection is gone; let the read
		 * handler tear it down, not the caller's stack. */
		if (rc == LDAP_SERVER_DOWN) {
			lc->broken = true;
			event_active(lc->ev_read, EV_READ, 0);
		}
		return -1;
	}
	return 0;
}

int
ldapconn_search(struct ldapconn *lc, const char *base,
    enum ldapconn_scope scope, const char *filter, const char *const *attrs,
    ldapconn_entry_cb entry_cb, ldapconn_done_cb done_cb, void *arg)
{
	struct ldapconn_search_req req = { .base = base, .scope = scope,
		.filter = filter, .attrs = attrs };
	int msgid = -1;

	if (ldapconn_send_search(lc, &req, &msgid) < 0)
		return -1;
	ldapconn_op_add(lc, msgid, LDAPCONN_OP_SEARCH, entry_cb, done_cb, arg);
	ldapconn_kick(lc);
	return 0;
}

int
ldapconn_search_ext(struct ldapconn *lc, const struct ldapconn_search_req *req,
    const struct ldapconn_search_cbs *cbs, void *arg, unsigned *op_id)
{
	struct ldapconn_op *op;
	int msgid = -1;

	if (ldapconn_send_search(lc, req, &msgid) < 0)
		return -1;
	ldapconn_op_add(lc, msgid, LDAPCONN_OP_SEARCH, cbs->entry, NULL, arg);
	op = ldapconn_op_find(lc, msgid, false);
	op->intermediate_cb = cbs->intermediate;
	op->done_ext_cb = cbs->done;
	*op_id = (unsigned)msgid;
	ldapconn_kick(lc);
	return 0;
}

void
ldapconn_abandon(struct ldapconn *lc, unsigned op_id)
{
	struct ldapconn_op *op;

	if (op_id == 0 || (op = ldapconn_op_find(lc, (int)op_id, true)) == NULL)
		return;
	/* RFC 4511 §4.11: no response; late messages for the id are dropped
	 * by the dispatcher as unexpected. */
	if (lc->ld != NULL && !lc->broken)
		ldap_abandon_ext(lc->ld, (int)op_id, NULL, NULL);
	free(op);
}

void
ldapconn_set_reading(struct ldapconn *lc, bool on)
{
	if (lc->reading_paused == !on)
		return;
	lc->reading_paused = !on;
	if (lc->ev_read == NULL)
		return;
	/* Paused: stop watching, or a socket that stays readable would wake
	 * the loop again and again for nothing.  Resuming: libldap may
	 * already hold complete messages the kernel will not report readable
	 * again, so run the handler once. */
	if (!on) {
		event_del(lc->ev_read);
		return;
	}
	event_add(lc->ev_read, NULL);
	event_active(lc->ev_read, EV_READ, 0);
}

void
ldapconn_set_idle_cb(struct ldapconn *lc, void (*cb)(void *arg), void *arg)
{
	lc->idle_cb = cb;
	lc->idle_arg = arg;
}

const char *
ldapconn_bind_identity(const struct ldapconn *lc)
{
	if (lc->cfg.sasl_external)
		return "sasl:EXTERNAL";
	return lc->cfg.bind_dn;
}
