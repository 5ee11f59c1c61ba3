/* ldapconn_failback.c - fail-back for the ldapconn module.  While READY on
 * a later URI, every failback_interval a probe - an ldapconn of its own
 * over the more preferred URIs, running the same connect, TLS, bind and
 * root DSE steps - tries them in the background; when it reaches READY,
 * its connection replaces the live one.  It never touches the live
 * connection before that and never waits: a probe is as asynchronous
 * (and as bounded by network_timeout) as any other attempt.
 *
 * A probe differs from the live connection in three ways only: its log
 * lines are debug (conn=ldap-probe), it tries each URI once and reports
 * BACKOFF instead of backing off (ldapconn_all_failed), and its state
 * callback is ldapconn_probe_state_cb() below. */
#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <ldap.h>

#include "ldapconn_internal.h"

static void ldapconn_failback_timer_cb(evutil_socket_t fd, short what,
    void *arg);

/* Free the running probe, if any.  From inside the probe's own callback
 * it finishes when the probe's stack unwinds (ldapconn_free). */
static void
ldapconn_probe_stop(struct ldapconn *lc)
{
	struct ldapconn *p = lc->probe;

	if (p == NULL)
		return;
	lc->probe = NULL;
	ldapconn_free(p);
}

static bool
ldapconn_failback_due(const struct ldapconn *lc)
{
	return lc->parent == NULL && !lc->doomed &&
	       lc->state == LDAPCONN_READY && lc->uri_index > 0 &&
	       lc->cfg.failback_interval_ms > 0;
}

/* Probe again in failback_interval, if fail-back applies. */
static void
ldapconn_failback_arm(struct ldapconn *lc)
{
	unsigned ms = lc->cfg.failback_interval_ms;
	struct timeval tv = { (time_t)(ms / 1000),
		(suseconds_t)(ms % 1000) * 1000 };

	if (!ldapconn_failback_due(lc) || lc->probe != NULL)
		return;
	if (lc->ev_failback == NULL) {
		lc->ev_failback = evtimer_new(lc->base,
		    ldapconn_failback_timer_cb, lc);
		if (lc->ev_failback == NULL)
			fatal("ldapconn: cannot create timer event");
	}
	evtimer_add(lc->ev_failback, &tv);
}

void
ldapconn_failback_update(struct ldapconn *lc)
{
	if (lc->parent != NULL)
		return;
	if (lc->ev_failback != NULL)
		evtimer_del(lc->ev_failback);
	ldapconn_probe_stop(lc);
	ldapconn_failback_arm(lc);
}

/* Take over the probe's bound connection: its libldap handle, the
 * Sockbuf layer state that handle points to, and new events on its
 * descriptor with lc as their argument.  lc's own socket is closed. */
static void
ldapconn_take_connection(struct ldapconn *lc, struct ldapconn *p)
{
	struct ldapconn_io *io = lc->io;
	int fd = -1;

	lc->io = p->io;
	p->io = io;
	lc->ld = p->ld;
	p->ld = NULL;
	lc->proto = p->proto;
	lc->ldaps = p->ldaps;
	lc->tls = p->tls;
	snprintf(lc->host, sizeof(lc->host), "%s", p->host);
	ldapconn_drop_socket(p); /* only its events: ld is ours, fd is -1 */
	ldap_get_option(lc->ld, LDAP_OPT_DESC, &fd);
	lc->ev_read = event_new(lc->base, fd, EV_READ | EV_PERSIST,
	    ldapconn_read_cb, lc);
	lc->ev_write = event_new(lc->base, fd, EV_WRITE, ldapconn_write_cb, lc);
	if (lc->ev_read == NULL || lc->ev_write == NULL)
		fatal("ldapconn: cannot create socket events");
	event_add(lc->ev_read, NULL);
	/* libldap may hold bytes it read for the probe (a Notice of
	 * Disconnection) that the kernel will not report again. */
	event_active(lc->ev_read, EV_READ, 0);
}

/* The probe is READY on a preferred URI: replace the live connection the
 * way a lost one is replaced - the state callback sees CONNECTING, then
 * READY on the new URI, and operations still pending end with
 * LDAP_SERVER_DOWN - but with the probe's connection instead of a new
 * attempt.  Unlike a loss, the state changes first: users stop (abandon)
 * their work as for any state change instead of seeing it fail. */
static void
ldapconn_failback_adopt(struct ldapconn *lc, struct ldapconn *p)
{
	char from[sizeof(lc->server)];

	lc->probe = NULL; /* ours now: the state changes below keep it */
	lc->depth++;
	snprintf(from, sizeof(from), "%s", lc->server);
	lc->failbacks++;
	log_obj_info(LDAPCONN_LOG, "failing back to %s from=%s failbacks=%u",
	    p->server, from, lc->failbacks);
	lc->uri_index = p->uri_index; /* the probe's URIs are our first */
	snprintf(lc->server, sizeof(lc->server), "%s", p->server);
	ldapconn_set_state(lc, LDAPCONN_CONNECTING);
	if (!lc->doomed)
		ldapconn_close(lc, "connection closed: failing back to a "
		                   "preferred server");
	if (!lc->doomed) {
		ldapconn_take_connection(lc, p);
		lc->next_info = p->info;
		ldapconn_ready(lc); /* arms the next probe if still not first */
	}
	ldapconn_free(p);
	ldapconn_leave(lc);
}

static void
ldapconn_probe_state_cb(struct ldapconn *p, enum ldapconn_state state,
    void *arg)
{
	struct ldapconn *lc = arg;

	if (p != lc->probe)
		return;
	if (state == LDAPCONN_READY) {
		ldapconn_failback_adopt(lc, p);
	} else if (state == LDAPCONN_BACKOFF) {
		/* Expected while the preferred server is down: debug only,
		 * and the live connection's status stays as it is. */
		log_obj_debug(LDAPCONN_PROBE_LOG,
		    "no preferred uri usable, staying on uri=%s error=\"%s\"",
		    lc->server, p->last_error);
		ldapconn_probe_stop(lc);
		ldapconn_failback_arm(lc);
	}
}

/* Probe URIs 0 .. uri_index-1: a second ldapconn that stops at the first
 * that works.  After a reload uri_index may equal uri_count (the live
 * URI is no longer listed): then every listed URI is preferred. */
static void
ldapconn_probe_start(struct ldapconn *lc)
{
	struct ldapconn_settings s = lc->cfg;
	struct ldapconn *p;

	s.uri_count = lc->uri_index;
	s.failback_interval_ms = 0;
	p = ldapconn_new(lc->base, &s, ldapconn_probe_state_cb, lc);
	p->parent = lc;
	lc->probe = p;
	log_obj_debug(LDAPCONN_PROBE_LOG, "probing uris=%zu first=%s",
	    s.uri_count, s.uris[0]);
	ldapconn_start(p);
}

static void
ldapconn_failback_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ldapconn *lc = arg;

	(void)fd;
	(void)what;
	lc->depth++;
	if (ldapconn_failback_due(lc) && lc->probe == NULL)
		ldapconn_probe_start(lc);
	ldapconn_leave(lc);
}

void
ldapconn_failback_reconfigure(struct ldapconn *lc)
{
	if (lc->parent != NULL)
		return;
	/* The live URI's place in the new list decides what is preferred. */
	if (lc->state == LDAPCONN_READY) {
		size_t i;

		for (i = 0; i < lc->cfg.uri_count; i++)
			if (strcmp(lc->cfg.uris[i], lc->server) == 0)
				break;
		lc->uri_index = i;
	}
	ldapconn_failback_update(lc);
}

void
ldapconn_failback_free(struct ldapconn *lc)
{
	ldapconn_probe_stop(lc);
	if (lc->ev_failback != NULL)
		event_free(lc->ev_failback);
	lc->ev_failback = NULL;
}
