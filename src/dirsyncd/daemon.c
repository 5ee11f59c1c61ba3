/* daemon.c - wires the modules together inside one libevent loop:
 * signals, reload, connection state changes, the maintenance timer and
 * the status socket's answers.  Callbacks here stay short and hand off to
 * the named functions below; no module is reached except through its
 * header. */
#include "daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "ldapconn.h"
#include "log.h"
#include "migrate.h"
#include "mirror.h"
#include "pgconn.h"
#include "sdnotify.h"
#include "status.h"
#include "status_doc.h"
#include "status_proto.h"
#include "xmlout.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

/* ---- settings derived from the configuration ------------------------- */

static void
daemon_pg_settings(const struct config *cfg, struct pgconn_settings *s)
{
	*s = (struct pgconn_settings){
		.conninfo = cfg->pg_conninfo,
		.password = cfg->pg_password,
		.connect_timeout_ms = cfg->pg_connect_timeout_ms,
		.backoff_min_ms = cfg->retry_backoff_min_ms,
		.backoff_max_ms = cfg->retry_backoff_max_ms,
	};
}

static void
daemon_ldap_settings(const struct config *cfg, struct ldapconn_settings *s)
{
	*s = (struct ldapconn_settings){
		.uris = (const char *const *)cfg->ldap_uri,
		.uri_count = cfg->ldap_uri_count,
		.bind_dn = cfg->ldap_bind_dn,
		.bind_password = cfg->ldap_bind_password,
		.sasl_external = cfg->ldap_sasl_mech == CONFIG_SASL_EXTERNAL,
		.sasl_gssapi = cfg->ldap_sasl_mech == CONFIG_SASL_GSSAPI,
		.keytab = cfg->ldap_keytab,
		.starttls = cfg->ldap_starttls,
		.tls_ca_file = cfg->ldap_tls_ca_file,
		.tls_verify = cfg->ldap_tls_verify,
		.network_timeout_ms = cfg->ldap_network_timeout_ms,
		.backoff_min_ms = cfg->retry_backoff_min_ms,
		.backoff_max_ms = cfg->retry_backoff_max_ms,
		.failback_interval_ms = cfg->ldap_failback_interval_ms,
	};
}

static void
daemon_apply_logging(const struct config *cfg)
{
	log_set_level((enum log_level)cfg->log_level);
	log_set_target((enum log_target)cfg->log_target);
}

/* ---- status socket ------------------------------------------------------ */

static void
daemon_snapshot(const struct daemon *d, struct status_snapshot *s,
    struct connstatus conns[2], struct mirror_status *ms,
    struct status_sync *sync)
{
	ldapconn_get_status(d->ldap, &conns[0]);
	pgconn_get_status(d->pg, &conns[1]);
	mirror_get_status(d->mirror, ms);
	*sync = (struct status_sync){
		.mode = ms->mode, .mode_reason = ms->mode_reason,
		.phase = ms->phase, .phase_since = ms->phase_since,
		.server = ms->server, .base = ms->base, .users = ms->users,
		.groups = ms->groups, .memberships = ms->memberships,
		.dangling_managers = ms->dangling_managers,
		.last_change = ms->last_change, .cookie_saved = ms->cookie_saved,
		.lag = ms->lag, .entries_received = ms->entries_received,
		.batches_written = ms->batches_written,
		.guard_count = ms->guard_count, .last_error = ms->last_error,
		.last_error_at = ms->last_error_at,
	};
	*s = (struct status_snapshot){
		.version = PACKAGE_VERSION,
		.pid = (long)getpid(),
		.started = d->started,
		.now = time(NULL),
		.config_path = d->cfg->path,
		.config_generation = d->config_generation,
		.config_loaded = d->config_loaded,
		.schema_state = migrate_state_name(migrate_get_state(d->migrate)),
		.schema_version = migrate_db_version(d->migrate),
		.schema_binary_version = migrate_binary_version(),
		.schema_applied = migrate_applied_count(d->migrate),
		.schema_error = migrate_last_error(d->migrate),
		.conns = conns,
		.nconns = 2,
		.sync = sync,
	};
}

static void
daemon_status_handler(const char *command, struct xmlout *out, void *arg)
{
	struct daemon *d = arg;
	struct status_snapshot snap;
	struct connstatus conns[2];
	struct mirror_status ms;
	struct status_sync sync;
	struct ds_error err;
	char msg[STATUS_MAX_REQUEST + 128];

	daemon_snapshot(d, &snap, conns, &ms, &sync);
	if (strcmp(command, STATUS_CMD_STATUS) == 0) {
		status_doc_render_status(out, &snap);
	} else if (strcmp(command, STATUS_CMD_HEALTH) == 0) {
		status_doc_render_health(out, &snap);
	} else if (strcmp(command, STATUS_CMD_SYNC) == 0) {
		status_doc_render_sync(out, &snap);
	} else if (strcmp(command, STATUS_CMD_CONFIRM_DELETES) == 0) {
		bool ok = mirror_confirm_deletes(d->mirror, &err) == 0;

		if (ok)
			log_info("delete guard released by an operator (confirm-deletes)");
		status_doc_render_result(out, ok, ok ?
		    "held-back deletions are being applied" : err.msg);
	} else {
		snprintf(msg, sizeof(msg),
		    "unknown command '%s'; known commands: status, health, sync, confirm-deletes",
		    command);
		status_doc_render_error(out, "unknown-command", msg);
	}
}

/* ---- PostgreSQL and migrations ------------------------------------------ */

/* The mirror runs while LDAP is bound and the schema is current. */
static void
daemon_update_mirror(struct daemon *d)
{
	if (d->stopping || d->mirror == NULL)
		return;
	mirror_update(d->mirror, ldapconn_get_state(d->ldap) == LDAPCONN_READY,
	    pgconn_get_state(d->pg) == PGCONN_READY &&
	    migrate_get_state(d->migrate) == MIGRATE_DONE);
}

static void
daemon_pg_state_changed(struct pgconn *pg, enum pgconn_state state, void *arg)
{
	struct daemon *d = arg;

	(void)pg;
	if (d->stopping)
		return;
	if (state == PGCONN_READY)
		migrate_start(d->migrate);
	else
		migrate_reset(d->migrate);
	daemon_update_mirror(d);
}

static void
daemon_migrate_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	if (migrate_get_state(d->migrate) == MIGRATE_FAILED)
		pgconn_restart(d->pg, "trying the schema migration again");
}

/* A failed migration is not left until the connection happens to drop:
 * it may have failed on the session itself (statement_timeout set for
 * the role, then reset), so it is tried again in a new one. */
static void
daemon_migrate_done(struct migrate *m, enum migrate_state result, void *arg)
{
	struct daemon *d = arg;

	(void)m;
	if (result == MIGRATE_DONE) {
		sdnotify_status("schema version %d", migrate_binary_version());
		backoff_reset(&d->migrate_backoff);
		if (d->migrate_retry != NULL)
			evtimer_del(d->migrate_retry);
	} else if (result == MIGRATE_FAILED && d->migrate_retry != NULL) {
		unsigned ms = backoff_next_ms_random(&d->migrate_backoff);
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

		log_obj_info("migrate", "trying again in a new session in %u ms",
		    ms);
		evtimer_add(d->migrate_retry, &tv);
	}
	daemon_update_mirror(d);
}

static void
daemon_ldap_state_changed(struct ldapconn *lc, enum ldapconn_state state,
    void *arg)
{
	(void)lc;
	(void)state;
	daemon_update_mirror(arg);
}

/* ---- signals and reload ------------------------------------------------ */

static void
daemon_stop(struct daemon *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = true;
	sdnotify_stopping();
	log_info("stopping reason=%s", why);
	/* Nothing is left half-done: a migration in progress is a server-side
	 * transaction that PostgreSQL rolls back when the connection closes,
	 * and every other piece of work is re-derived from the database and
	 * the directory at the next start. */
	event_base_loopbreak(d->base);
}

static void
daemon_log_diag(enum log_level level, const struct config_diag *diag)
{
	for (size_t i = 0; i < diag->count; i++)
		log_at(level, NULL, "%s", diag->msgs[i]);
}

static void
daemon_reload(struct daemon *d)
{
	struct config_diag diag = { 0 };
	struct config *next;
	struct pgconn_settings pgs;
	struct ldapconn_settings ls;

	sdnotify_reloading();
	log_info("reloading config=%s", d->cfg->path);
	next = config_load(d->cfg->path, &diag);
	if (next == NULL) {
		daemon_log_diag(LOG_LEVEL_ERROR, &diag);
		log_error("reload failed config=%s errors=%zu; keeping the old configuration",
		    d->cfg->path, diag.count);
		config_diag_free(&diag);
		sdnotify_ready();
		return;
	}
	config_merge_reload(next, d->cfg, &diag);
	daemon_log_diag(LOG_LEVEL_WARNING, &diag);
	config_diag_free(&diag);

	daemon_apply_logging(next);
	daemon_pg_settings(next, &pgs);
	pgconn_reconfigure(d->pg, &pgs);
	daemon_ldap_settings(next, &ls);
	ldapconn_reconfigure(d->ldap, &ls);
	status_server_set_client_timeout(d->status, next->status_client_timeout_ms);
	mirror_reconfigure(d->mirror, next);
	config_free(d->cfg);
	d->cfg = next;
	d->config_generation++;
	d->config_loaded = time(NULL);
	log_info("reloaded config=%s generation=%u", d->cfg->path,
	    d->config_generation);
	sdnotify_ready();
}

static void
daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	if (sig == SIGHUP)
		daemon_reload(arg);
	else
		daemon_stop(arg, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- maintenance timer ----------------------------------------------- */

static void
daemon_maintenance(struct daemon *d)
{
	mirror_tick(d->mirror);
}

/* Its own timer at half the interval, as sd_watchdog_enabled(3) advises
 * (a check on the 1 s tick could miss a beat to clock rounding); the
 * ping only comes from a loop that is turning, which is the point. */
static void
daemon_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sdnotify_watchdog();
}

static void
daemon_maintenance_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	daemon_maintenance(arg);
}

/* ---- life cycle ------------------------------------------------------ */

static struct event *
daemon_add_signal(struct daemon *d, int sig)
{
	struct event *ev = evsignal_new(d->base, sig, daemon_signal_cb, d);

	if (ev == NULL || event_add(ev, NULL) < 0)
		fatal("cannot watch signal %d", sig);
	return ev;
}

int
daemon_init(struct daemon *d, struct config *cfg, struct ds_error *err)
{
	struct pgconn_settings pgs;
	struct ldapconn_settings ls;
	struct timeval second = { 1, 0 };

	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	d->config_generation = 1;
	d->config_loaded = d->started = time(NULL);
	daemon_apply_logging(cfg);
	signal(SIGPIPE, SIG_IGN);

	d->base = event_base_new();
	if (d->base == NULL)
		return ds_error_set(err, "cannot create the event loop");
	d->status = status_server_new(d->base, cfg->status_socket,
	    cfg->status_mode, cfg->status_group, cfg->status_client_timeout_ms,
	    daemon_status_handler, d, err);
	if (d->status == NULL)
		return -1;

	d->sig_term = daemon_add_signal(d, SIGTERM);
	d->sig_int = daemon_add_signal(d, SIGINT);
	d->sig_hup = daemon_add_signal(d, SIGHUP);
	d->maintenance = event_new(d->base, -1, EV_PERSIST, daemon_maintenance_cb, d);
	event_add(d->maintenance, &second);
	/* From a second up to the retry maximum, at least a minute: a
	 * migration that fails for good (permissions, encoding) is not
	 * retried in a tight loop. */
	backoff_init(&d->migrate_backoff, 1000,
	    cfg->retry_backoff_max_ms > 60000 ? cfg->retry_backoff_max_ms : 60000);
	d->migrate_retry = evtimer_new(d->base, daemon_migrate_retry_cb, d);
	d->watchdog_usec = sdnotify_watchdog_usec();
	if (d->watchdog_usec) {
		struct timeval half = { (time_t)(d->watchdog_usec / 2 / 1000000),
			(suseconds_t)(d->watchdog_usec / 2 % 1000000) };

		d->watchdog = event_new(d->base, -1, EV_PERSIST, daemon_watchdog_cb, d);
		event_add(d->watchdog, &half);
	}

	daemon_pg_settings(cfg, &pgs);
	d->pg = pgconn_new(d->base, &pgs, daemon_pg_state_changed, d);
	d->migrate = migrate_new(d->pg, daemon_migrate_done, d);
	daemon_ldap_settings(cfg, &ls);
	d->ldap = ldapconn_new(d->base, &ls, daemon_ldap_state_changed, d);
	d->mirror = mirror_new(d->base, cfg, d->ldap, d->pg, err);
	if (d->mirror == NULL)
		return -1;
	return 0;
}

int
daemon_run(struct daemon *d)
{
	log_info("started version=%s pid=%ld config=%s", PACKAGE_VERSION,
	    (long)getpid(), d->cfg->path);
	pgconn_start(d->pg);
	ldapconn_start(d->ldap);
	/* Ready means "serving status": connections come up in the background
	 * and their state is on the status socket. */
	sdnotify_ready();
	sdnotify_status("running");
	if (event_base_dispatch(d->base) < 0) {
		log_error("event loop failed");
		return 1;
	}
	log_info("stopped");
	return 0;
}

void
daemon_cleanup(struct daemon *d)
{
	d->stopping = true;
	status_server_free(d->status);
	/* The mirror's sources and store ride on both connections: free it
	 * before them. */
	mirror_free(d->mirror);
	ldapconn_free(d->ldap);
	/* pgconn_free() fails the queued queries, whose callbacks belong to
	 * migrate: free the connection first, while migrate still exists. */
	pgconn_free(d->pg);
	migrate_free(d->migrate);
	if (d->maintenance)
		event_free(d->maintenance);
	if (d->migrate_retry)
		event_free(d->migrate_retry);
	if (d->watchdog)
		event_free(d->watchdog);
	if (d->sig_term)
		event_free(d->sig_term);
	if (d->sig_int)
		event_free(d->sig_int);
	if (d->sig_hup)
		event_free(d->sig_hup);
	if (d->base)
		event_base_free(d->base);
	config_free(d->cfg);
	memset(d, 0, sizeof(*d));
}
