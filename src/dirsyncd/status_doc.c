/* status_doc.c - renders status snapshots as XML (status_doc.h).  Knows
 * the document layout and nothing about sockets or modules. */
#include "status_doc.h"

#include <stdio.h>
#include <string.h>

#include "status_proto.h"
#include "xmlout.h"

static void
status_doc_open(struct xmlout *x)
{
	xmlout_start(x, "dirsync");
	xmlout_attrf(x, "protocol", "%d", STATUS_PROTO_VERSION);
}

static void
status_doc_render_error_body(struct xmlout *x, const char *code,
    const char *message)
{
	xmlout_start(x, "error");
	xmlout_attr(x, "code", code);
	xmlout_text(x, message);
	xmlout_end(x);
}

static void
status_doc_connection(struct xmlout *x, const struct connstatus *c)
{
	xmlout_start(x, "connection");
	xmlout_attr(x, "name", c->name);
	xmlout_attr(x, "state", c->state);
	xmlout_attr(x, "server", c->server);
	xmlout_attr_time(x, "since", c->since);
	xmlout_attrf(x, "retries", "%u", c->retries);
	if (c->failbacks > 0)
		xmlout_attrf(x, "failbacks", "%u", c->failbacks);
	if (c->bind[0] != '\0')
		xmlout_attr(x, "bind", c->bind);
	if (c->last_error[0] != '\0') {
		xmlout_start(x, "last-error");
		xmlout_attr_time(x, "at", c->last_error_at);
		xmlout_text(x, c->last_error);
		xmlout_end(x);
	}
	xmlout_end(x);
}

static void
status_doc_count(struct xmlout *x, const char *name, long long n)
{
	if (n >= 0)
		xmlout_attrf(x, name, "%lld", n);
}

static void
status_doc_sync(struct xmlout *x, const struct status_sync *y, time_t now)
{
	xmlout_start(x, "sync");
	xmlout_attr(x, "mode", y->mode);
	if (y->mode_reason != NULL && y->mode_reason[0] != '\0')
		xmlout_attr(x, "mode-reason", y->mode_reason);
	xmlout_attr(x, "phase", y->phase);
	xmlout_attr_time(x, "since", y->phase_since);
	xmlout_attr(x, "server", y->server);
	xmlout_attr(x, "base", y->base);
	status_doc_count(x, "users", y->users);
	status_doc_count(x, "groups", y->groups);
	status_doc_count(x, "memberships", y->memberships);
	status_doc_count(x, "dangling-managers", y->dangling_managers);
	xmlout_attr_time(x, "last-change", y->last_change);
	xmlout_attr_time(x, "cookie-saved", y->cookie_saved);
	if (y->cookie_saved)
		xmlout_attrf(x, "cookie-age", "%lld",
		    (long long)(now > y->cookie_saved ? now - y->cookie_saved : 0));
	xmlout_attrf(x, "lag", "%.0f", y->lag);
	xmlout_attrf(x, "entries", "%lu", y->entries_received);
	xmlout_attrf(x, "batches", "%lu", y->batches_written);
	xmlout_attrf(x, "guard", "%u", y->guard_count);
	if (y->last_error != NULL && y->last_error[0] != '\0') {
		xmlout_start(x, "last-error");
		xmlout_attr_time(x, "at", y->last_error_at);
		xmlout_text(x, y->last_error);
		xmlout_end(x);
	}
	xmlout_end(x);
}

void
status_doc_render_sync(struct xmlout *x, const struct status_snapshot *s)
{
	status_doc_open(x);
	if (s->sync != NULL)
		status_doc_sync(x, s->sync, s->now);
	else
		status_doc_render_error_body(x, "not-running",
		    "the directory mirror is not running");
	xmlout_end(x);
}

void
status_doc_render_result(struct xmlout *x, bool ok, const char *message)
{
	status_doc_open(x);
	xmlout_start(x, "result");
	xmlout_attr(x, "ok", ok ? "true" : "false");
	xmlout_text(x, message);
	xmlout_end(x);
	xmlout_end(x);
}

void
status_doc_render_status(struct xmlout *x, const struct status_snapshot *s)
{
	status_doc_open(x);

	xmlout_start(x, "daemon");
	xmlout_attr(x, "version", s->version);
	xmlout_attrf(x, "pid", "%ld", s->pid);
	xmlout_attr_time(x, "started", s->started);
	xmlout_attrf(x, "uptime", "%lld",
	    (long long)(s->now >= s->started ? s->now - s->started : 0));
	xmlout_end(x);

	xmlout_start(x, "config");
	xmlout_attr(x, "path", s->config_path);
	xmlout_attrf(x, "generation", "%u", s->config_generation);
	xmlout_attr_time(x, "loaded", s->config_loaded);
	xmlout_end(x);

	xmlout_start(x, "schema");
	xmlout_attr(x, "state", s->schema_state);
	xmlout_attrf(x, "version", "%d", s->schema_version);
	xmlout_attrf(x, "binary-version", "%d", s->schema_binary_version);
	xmlout_attrf(x, "applied", "%u", s->schema_applied);
	if (s->schema_error != NULL && s->schema_error[0] != '\0')
		xmlout_text_element(x, "last-error", s->schema_error);
	xmlout_end(x);

	for (size_t i = 0; i < s->nconns; i++)
		status_doc_connection(x, &s->conns[i]);
	if (s->sync != NULL)
		status_doc_sync(x, s->sync, s->now);
	xmlout_end(x);
}

bool
status_doc_healthy(const struct status_snapshot *s, char *why, size_t size)
{
	char dummy[8];

	if (why == NULL) {
		why = dummy;
		size = sizeof(dummy);
	}
	for (size_t i = 0; i < s->nconns; i++) {
		if (strcmp(s->conns[i].state, "ready") != 0) {
			snprintf(why, size, "%s is %s%s%s", s->conns[i].name,
			    s->conns[i].state, s->conns[i].last_error[0] ? ": " : "",
			    s->conns[i].last_error);
			return false;
		}
	}
	if (s->sync != NULL && (strcmp(s->sync->phase, "failed") == 0 ||
	    strcmp(s->sync->phase, "backoff") == 0)) {
		snprintf(why, size, "directory mirror is %s: %s", s->sync->phase,
		    s->sync->last_error && s->sync->last_error[0] ?
		    s->sync->last_error : "no reason recorded");
		return false;
	}
	if (s->sync != NULL && s->sync->guard_count > 0) {
		snprintf(why, size,
		    "directory mirror holds back the deletion of %u users; "
		    "check the directory, then run dirsyncctl sync --confirm-deletes",
		    s->sync->guard_count);
		return false;
	}
	if (strcmp(s->schema_state, "done") != 0) {
		snprintf(why, size, "schema is %s%s%s", s->schema_state,
		    s->schema_error && s->schema_error[0] ? ": " : "",
		    s->schema_error ? s->schema_error : "");
		return false;
	}
	snprintf(why, size, "ok");
	return true;
}

void
status_doc_render_health(struct xmlout *x, const struct status_snapshot *s)
{
	char why[768];
	bool ok = status_doc_healthy(s, why, sizeof(why));

	status_doc_open(x);
	xmlout_start(x, "health");
	xmlout_attr(x, "ok", ok ? "true" : "false");
	xmlout_text(x, why);
	xmlout_end(x);
	xmlout_end(x);
}

void
status_doc_render_error(struct xmlout *x, const char *code, const char *message)
{
	status_doc_open(x);
	status_doc_render_error_body(x, code, message);
	xmlout_end(x);
}
