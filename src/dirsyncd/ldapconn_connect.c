/* ldapconn_connect.c - one connection attempt of the ldapconn module:
 * from a URI to a non-blocking socket handed to libldap, then StartTLS or
 * the ldaps handshake, the bind and the root DSE, each step bounded by
 * network_timeout.  It never waits on the server, except inside the TLS
 * handshake (bounded, see ldapconn_io.c). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <ldap.h>
#include <openldap.h> /* ldap_init_fd(), LDAP_PROTO_*: public since 2.4 */

#include "ldapconn_internal.h"

/* ---- the handshake: StartTLS, bind, root DSE ----------------------------- */

/* Track a handshake request just sent, bounded by the network timeout. */
void
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

void
ldapconn_send_rootdse(struct ldapconn *lc)
{
	int msgid = -1, rc;

	lc->step = "rootdse";
	memset(&lc->next_info, 0, sizeof(lc->next_info));
	rc = ldap_search_ext(lc->ld, "", LDAP_SCOPE_BASE, "(objectClass=*)",
	    (char **)ldapconn_rootdse_attrs, 0, NULL, NULL, NULL, LDAP_NO_LIMIT,
	    &msgid);
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
	if (lc->cfg.sasl_gssapi) {
		ldapconn_sasl_start(lc);
		return;
	}
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
	lc->io->deadline = ds_monotonic_ms() + lc->cfg.network_timeout_ms;
	lc->io->bounded = true;
	lc->io->timed_out = false;
	rc = ldap_install_tls(lc->ld);
	lc->io->bounded = false;
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
	if (lc->io->timed_out) {
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

/* The attempt is complete: next_info becomes info, retries are over. */
void
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
void
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
			log_at(lc->parent != NULL ? LOG_LEVEL_DEBUG
			                          : LOG_LEVEL_WARNING,
			    LDAPCONN_OBJ(lc),
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

/* ---- opening the socket ------------------------------------------------ */

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
	        LBER_SBIOD_LEVEL_PROVIDER + 1, lc->io) < 0) {
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
void
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
void
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
		log_obj_debug(LDAPCONN_OBJ(lc), "trying uri=%s", lc->server);
	ldapconn_set_state(lc, LDAPCONN_CONNECTING);
	if (ldapconn_open(lc, &err) < 0)
		ldapconn_fail(lc, "%s", err.msg);
}
