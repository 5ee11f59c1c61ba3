/* ldapconn.c - the daemon's one asynchronous LDAP connection (ldapconn.h):
 * its state, errors and operations, reading results, and the public API.
 * It hands every socket to libldap with ldap_init_fd() (ldapconn_connect.c)
 * and drives every request from libevent.  It must never wait on the
 * server (the TLS handshake in ldap_install_tls() is the one bounded
 * exception); only the ldapconn files include ldap.h.
 *
 * Unbinding a handle whose peer has gone writes to a dead socket: the
 * process must ignore SIGPIPE (the daemon's main does, like every daemon). */
#include "ldapconn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <ldap.h>

#include "ldapconn_internal.h"

/* Used when the setting is 0: libldap treats a zero network timeout as
 * "give up at once", which would make every TLS handshake fail. */
#define LDAPCONN_DEFAULT_TIMEOUT_MS 10000
/* Messages handled per wake-up before yielding to the loop, so a large
 * search cannot starve PostgreSQL or the status socket. */
#define LDAPCONN_BATCH 256

static const char *const ldapconn_state_names[] = {
	[LDAPCONN_IDLE] = "idle",
	[LDAPCONN_CONNECTING] = "connecting",
	[LDAPCONN_BINDING] = "binding",
	[LDAPCONN_READY] = "ready",
	[LDAPCONN_BACKOFF] = "backoff",
};

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
	dst->keytab = ds_strdup(src->keytab ? src->keytab : "");
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
	free((char *)cfg->keytab);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- state and errors --------------------------------------------------- */

/* The one place the state changes.  Each state is logged at info the first
 * time it is entered after start or READY; the same state entered again
 * while retrying is logged at debug, so a dead server costs one info line
 * and one warning, not a line per retry.  A fail-back probe logs only at
 * debug: its parent says what matters. */
void
ldapconn_set_state(struct ldapconn *lc, enum ldapconn_state state)
{
	unsigned bit = 1u << state;
	enum log_level level = LOG_LEVEL_DEBUG;
	const char *obj = LDAPCONN_OBJ(lc);

	if (state == lc->state)
		return;
	if ((state == LDAPCONN_READY || (lc->logged_states & bit) == 0) &&
	    lc->parent == NULL)
		level = LOG_LEVEL_INFO;
	lc->logged_states = state == LDAPCONN_READY ? 0
	                                            : lc->logged_states | bit;
	lc->state = state;
	lc->since = time(NULL);
	if (state == LDAPCONN_READY)
		log_at(level, obj, "state=ready uri=%s vendor=\"%s\"",
		    lc->server, lc->info.vendor);
	else if (state == LDAPCONN_BACKOFF && lc->parent == NULL)
		log_at(level, obj, "state=backoff retry_in_ms=%u retries=%u",
		    lc->retry_ms, lc->retries);
	else
		log_at(level, obj, "state=%s uri=%s",
		    ldapconn_state_names[state], lc->server);
	ldapconn_failback_update(lc);
	if (lc->state_cb != NULL)
		lc->state_cb(lc, state, lc->arg);
}

/* "Invalid credentials (49): <diagnostic message>".  With ld, the
 * handle's own message: the TLS library's after a failed handshake, the
 * server's after a failed operation. */
void
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
 * this URI's previous failure (a probe's failures are debug). */
void
ldapconn_record_error(struct ldapconn *lc, const char *what)
{
	struct ds_error none, *prev = &none;
	enum log_level level = lc->parent != NULL ? LOG_LEVEL_DEBUG
	                                          : LOG_LEVEL_WARNING;

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
	log_at(level, LDAPCONN_OBJ(lc), "error=\"%s\"", lc->last_error);
}

/* ---- operations table ---------------------------------------------------- */

struct ldapconn_op *
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
	return op;
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

void
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
void
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
		else if (op->kind == LDAPCONN_OP_ROOTDSE_READ)
			ldapconn_rootdse_done(lc, op, false);
		free(op);
	}
}

void
ldapconn_arm_timer(struct ldapconn *lc, unsigned ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
		(suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(lc->ev_timer, &tv);
}

/* Every URI failed: wait, then start again from the first.  A probe
 * does not wait: it reports BACKOFF to its parent, which frees it. */
void
ldapconn_all_failed(struct ldapconn *lc)
{
	if (lc->parent != NULL) {
		lc->retry_ms = 0;
		ldapconn_set_state(lc, LDAPCONN_BACKOFF);
		return;
	}
	lc->retry_ms = backoff_next_ms_random(&lc->backoff);
	ldapconn_arm_timer(lc, lc->retry_ms);
	ldapconn_set_state(lc, LDAPCONN_BACKOFF);
}

/* The current attempt failed: record why, then try the next URI. */
void
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
 * operations and reconnects, first URI first.  (A READY connection on a
 * later URI moves to a recovered earlier one through a probe:
 * ldapconn_failback.c.) */
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
ldapconn_on_entry(struct ldapconn *lc, struct ldapconn_op *op, LDAPMessage *msg)
{
	struct ldapconn_entry *e = ldapconn_entry_from_msg(lc->ld, msg);

	if (e == NULL) {
		log_at(lc->parent != NULL ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING,
		    LDAPCONN_OBJ(lc),
		    "entry skipped msgid=%d error=\"cannot decode or out of memory\"",
		    op->msgid);
		return;
	}
	if (op->kind == LDAPCONN_OP_ROOTDSE) {
		ldapconn_rootdse_parse(&lc->next_info, e);
	} else if (op->kind == LDAPCONN_OP_ROOTDSE_READ) {
		ldapconn_rootdse_parse(op->dse_info, e);
		op->dse_seen = true;
	} else if (op->kind == LDAPCONN_OP_SEARCH && op->entry_cb != NULL) {
		op->entry_cb(e, op->arg);
	}
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
void
ldapconn_kick(struct ldapconn *lc)
{
	int rc = LDAP_SUCCESS;

	event_active(lc->ev_read, EV_READ, 0);
	ldap_get_option(lc->ld, LDAP_OPT_RESULT_CODE, &rc);
	if (rc == LDAP_BUSY) {
		log_obj_debug(LDAPCONN_OBJ(lc), "request partly written");
		event_add(lc->ev_write, NULL);
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

	if (op->kind == LDAPCONN_OP_SASL_BIND) {
		/* libldap's SASL state machine reads the message itself. */
		ldapconn_op_find(lc, op->msgid, true);
		ldapconn_sasl_on_result(lc, msg);
		free(op);
		return;
	}
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
	} else if (op->kind == LDAPCONN_OP_ROOTDSE_READ) {
		/* The caller hears !ok and decides how loud to be. */
		if (rc != LDAP_SUCCESS) {
			ldapconn_describe(text, sizeof(text), rc, diag, NULL);
			log_obj_debug(LDAPCONN_LOG,
			    "root DSE re-read failed uri=%s error=\"%s\"",
			    lc->server, text);
		}
		ldapconn_rootdse_done(lc, op,
		    rc == LDAP_SUCCESS && op->dse_seen);
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
		log_obj_debug(LDAPCONN_OBJ(lc),
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

/* ---- event callbacks: take arg, call one handler ------------------------ */

void
ldapconn_leave(struct ldapconn *lc)
{
	if (--lc->depth == 0 && lc->doomed)
		ldapconn_destroy(lc);
}

void
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
	unsigned long long before = lc->io->written;

	ldapconn_on_readable(lc);
	if (lc->io->written != before && lc->ld != NULL && !lc->doomed)
		event_add(lc->ev_write, NULL);
}

/* ev_write serves the connect, then flushing a partly written request. */
void
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
	lc->io = ds_calloc(1, sizeof(*lc->io));
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
	ldapconn_failback_reconfigure(lc);
}

static void
ldapconn_destroy(struct ldapconn *lc)
{
	lc->depth++; /* callbacks below may call ldapconn_free() again */
	ldapconn_failback_free(lc);
	ldapconn_close(lc, "connection closed");
	event_free(lc->ev_timer);
	ldapconn_settings_clear(&lc->cfg);
	free(lc->uri_err);
	free(lc->io);
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
	out->failbacks = lc->failbacks;
	snprintf(out->last_error, sizeof(out->last_error), "%s",
	    lc->last_error);
	out->last_error_at = lc->last_error_at;
	snprintf(out->bind, sizeof(out->bind), "%s",
	    ldapconn_bind_identity(lc));
}

const struct ldapconn_server_info *
ldapconn_get_server_info(const struct ldapconn *lc)
{
	return lc->have_info ? &lc->info : NULL;
}

int
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
	free(op->dse_info);
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
	if (lc->cfg.sasl_gssapi)
		return ldapconn_sasl_identity(lc);
	return lc->cfg.bind_dn;
}
