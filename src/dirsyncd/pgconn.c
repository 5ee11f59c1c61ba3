/* pgconn.c - the daemon's one asynchronous PostgreSQL connection (see
 * pgconn.h): connect, queue, send, read and reconnect, all driven by
 * libevent.  It must never block the loop: no PQexec, no PQconnectdb, and
 * PQgetResult only once PQisBusy says the whole result is buffered. */
#include "pgconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "backoff.h"
#include "log.h"

#define PGCONN_OBJ "conn=postgresql"

/* One queued statement; sql and params are private copies. */
struct pgquery {
	struct pgquery *next;
	char *sql;
	int nparams;
	char **params;
	pgconn_result_cb cb;
	void *arg;
};

struct pgresult {
	PGresult *res;        /* NULL for a client-side failure */
	bool ok;
	const char *error;    /* "" when ok */
	const char *sqlstate; /* "" when none */
};

struct pgconn {
	struct event_base *base;
	char *conninfo;
	char *password;
	unsigned connect_timeout_ms;
	struct backoff backoff;
	pgconn_state_cb state_cb;
	void *arg;

	enum pgconn_state state;
	time_t since;
	PGconn *conn;
	/* Bumped each time conn is closed: a handler that called out to user
	 * code compares it to learn whether the connection it was working on
	 * is gone (a callback may queue, fail or reconfigure). */
	unsigned gen;
	unsigned depth;           /* user callbacks currently running */
	bool closing;             /* inside pgconn_free() */

	struct event *ev_sock;    /* CONNECTING: one-shot; READY: read, persist */
	struct event *ev_write;   /* READY: added while PQflush returns 1 */
	bool flushing;
	struct event *ev_timeout; /* CONNECTING: connect_timeout_ms */
	struct event *ev_retry;   /* BACKOFF: time of the next attempt */
	struct event *ev_kick;    /* made active to send queued queries */
	struct event *ev_restart; /* made active by pgconn_restart() */
	char restart_why[256];

	struct pgquery *inflight; /* sent, results not complete */
	struct pgquery *head;     /* queued, FIFO */
	struct pgquery **tailp;
	PGresult *res_last;       /* in-flight query's latest good result */
	PGresult *res_fail;       /* its first failed result */

	char server[256];
	unsigned retries;
	unsigned retry_ms;
	bool err_repeat;          /* this failure repeats the previous one */
	char server_said[256];    /* a FATAL the server sent while idle */
	char last_error[512];
	time_t last_error_at;
};

static const char *const pgconn_state_names[] = {
	[PGCONN_IDLE] = "idle",
	[PGCONN_CONNECTING] = "connecting",
	[PGCONN_READY] = "ready",
	[PGCONN_BACKOFF] = "backoff",
};

static void pgconn_connect(struct pgconn *pg);
static void pgconn_dispatch(struct pgconn *pg);
static void pgconn_drop(struct pgconn *pg, const char *why);

const char *
pgconn_state_name(enum pgconn_state state)
{
	if ((size_t)state >= DS_ARRAY_SIZE(pgconn_state_names))
		return "unknown";
	return pgconn_state_names[state];
}

/* libpq messages end in "\n" and continue on tab-indented lines; fold
 * them into one line for the log and the status socket. */
static void
pgconn_oneline(char *dst, size_t size, const char *src)
{
	size_t n = 0;
	bool gap = false;

	for (; src != NULL && *src != '\0'; src++) {
		if (*src == '\n' || *src == '\r' || *src == '\t') {
			gap = n > 0;
			continue;
		}
		bool sp = gap && dst[n - 1] != ' ';

		if (n + sp + 1 >= size)
			break;
		if (sp)
			dst[n++] = ' ';
		gap = false;
		dst[n++] = *src;
	}
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

/* What the status socket shows before libpq has told us the host it
 * tries: host:port/dbname from the conninfo, never the password. */
static void
pgconn_render_conninfo(char *dst, size_t size, const char *conninfo)
{
	PQconninfoOption *opts, *o;
	const char *host = NULL, *port = NULL, *db = NULL;
	char *errmsg = NULL;

	/* A bare word is a database name (expand_dbname only expands
	 * strings with '=' or a URI prefix). */
	if (strchr(conninfo, '=') == NULL &&
	    strncmp(conninfo, "postgresql://", 13) != 0 &&
	    strncmp(conninfo, "postgres://", 11) != 0) {
		snprintf(dst, size, "(default host)/%s", conninfo);
		return;
	}
	opts = PQconninfoParse(conninfo, &errmsg);
	if (opts == NULL) {
		PQfreemem(errmsg);
		snprintf(dst, size, "(invalid conninfo)");
		return;
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || *o->val == '\0')
			continue;
		if (strcmp(o->keyword, "host") == 0 ||
		    (strcmp(o->keyword, "hostaddr") == 0 && host == NULL))
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
	}
	snprintf(dst, size, "%s%s%s%s%s", host ? host : "(default host)",
	    port ? ":" : "", port ? port : "", db ? "/" : "", db ? db : "");
	PQconninfoFree(opts);
}

/* Record the host libpq is trying (it may walk a list of hosts). */
static void
pgconn_note_server(struct pgconn *pg)
{
	const char *host, *port, *db;

	if (pg->conn == NULL || (host = PQhost(pg->conn)) == NULL ||
	    *host == '\0')
		return;
	port = PQport(pg->conn);
	db = PQdb(pg->conn);
	snprintf(pg->server, sizeof(pg->server), "%s:%s/%s", host,
	    port ? port : "", db ? db : "");
}

/* The one place the state changes: log the transition once and tell the
 * owner.  Retries are logged at debug so a long outage costs one warning
 * per distinct error, not one per attempt. */
static void
pgconn_set_state(struct pgconn *pg, enum pgconn_state state)
{
	enum log_level level;

	pg->state = state;
	pg->since = time(NULL);
	switch (state) {
	case PGCONN_IDLE:
		log_obj_info(PGCONN_OBJ, "state=idle");
		break;
	case PGCONN_CONNECTING:
		level = pg->retries == 0 ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG;
		log_at(level, PGCONN_OBJ, "state=connecting server=%s attempt=%u",
		    pg->server, pg->retries + 1);
		break;
	case PGCONN_READY:
		log_obj_info(PGCONN_OBJ, "state=ready server=%s version=\"%s\" "
		    "failed_attempts=%u", pg->server,
		    PQparameterStatus(pg->conn, "server_version") ?
		    PQparameterStatus(pg->conn, "server_version") : "?",
		    pg->retries);
		pg->retries = 0;
		break;
	case PGCONN_BACKOFF:
		level = pg->err_repeat ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING;
		log_at(level, PGCONN_OBJ, "state=backoff server=%s retries=%u "
		    "retry_in_ms=%u err=\"%s\"", pg->server, pg->retries,
		    pg->retry_ms, pg->last_error);
		break;
	}
	if (pg->state_cb != NULL && !pg->closing) {
		pg->depth++;
		pg->state_cb(pg, state, pg->arg);
		pg->depth--;
	}
}

static void
pgquery_free(struct pgquery *q)
{
	for (int i = 0; i < q->nparams; i++)
		free(q->params[i]);
	free(q->params);
	free(q->sql);
	free(q);
}

static void
pgconn_call_result(struct pgconn *pg, struct pgquery *q,
    const struct pgresult *res)
{
	pg->depth++;
	q->cb(res, q->arg);
	pg->depth--;
}

/* Run each query's callback with a client-side failure, in FIFO order.
 * The list is already detached, so a callback that queues (and gets -1)
 * or inspects the connection sees a consistent object. */
static void
pgconn_fail_queries(struct pgconn *pg, struct pgquery *list, const char *why)
{
	struct pgresult res = { .res = NULL, .ok = false, .error = why,
	    .sqlstate = "" };

	while (list != NULL) {
		struct pgquery *q = list;

		list = q->next;
		pgconn_call_result(pg, q, &res);
		pgquery_free(q);
	}
}

/* Close the socket and forget the connection; returns the queries that
 * were in flight or queued (in flight first) for the caller to fail.
 * Events go before PQfinish so libevent never watches a closed fd. */
static struct pgquery *
pgconn_close(struct pgconn *pg)
{
	struct pgquery *list;

	if (pg->ev_sock != NULL)
		event_free(pg->ev_sock);
	if (pg->ev_write != NULL)
		event_free(pg->ev_write);
	pg->ev_sock = pg->ev_write = NULL;
	pg->flushing = false;
	evtimer_del(pg->ev_timeout);
	evtimer_del(pg->ev_retry);
	event_del(pg->ev_kick);
	PQfinish(pg->conn);
	pg->conn = NULL;
	pg->server_said[0] = '\0';
	pg->gen++;
	PQclear(pg->res_last);
	PQclear(pg->res_fail);
	pg->res_last = pg->res_fail = NULL;
	if (pg->inflight != NULL) {
		pg->inflight->next = pg->head;
		list = pg->inflight;
	} else {
		list = pg->head;
	}
	pg->inflight = pg->head = NULL;
	pg->tailp = &pg->head;
	return list;
}

/* The attempt failed or the connection broke: fail every query, wait
 * with backoff, try again.  why may point into the PGconn, so it is
 * copied before the connection is closed. */
static void
pgconn_drop(struct pgconn *pg, const char *why)
{
	char err[sizeof(pg->last_error)];
	char msg[sizeof(err) + 64];
	struct pgquery *list;
	struct timeval tv;

	pgconn_oneline(err, sizeof(err), why);
	if (err[0] == '\0')
		snprintf(err, sizeof(err), "unknown error");
	list = pgconn_close(pg);
	pg->err_repeat = pg->retries > 0 && strcmp(err, pg->last_error) == 0;
	memcpy(pg->last_error, err, sizeof(err));
	pg->last_error_at = time(NULL);
	pg->retries++;
	pg->retry_ms = backoff_next_ms_random(&pg->backoff);
	tv.tv_sec = pg->retry_ms / 1000;
	tv.tv_usec = (pg->retry_ms % 1000) * 1000;
	evtimer_add(pg->ev_retry, &tv);
	/* State first, then the queries: a query's owner that looks at the
	 * connection from its failure callback sees it is not READY and can
	 * tell a lost connection from an SQL error. */
	pgconn_set_state(pg, PGCONN_BACKOFF);
	snprintf(msg, sizeof(msg), "connection to server lost: %s", err);
	pgconn_fail_queries(pg, list, msg);
}

/* ---- connecting ----------------------------------------------------- */

static void pgconn_on_connect_io(evutil_socket_t fd, short what, void *arg);
static void pgconn_on_read(evutil_socket_t fd, short what, void *arg);
static void pgconn_on_write(evutil_socket_t fd, short what, void *arg);

static char *pgconn_format_error(const PGresult *r, const char *sql);

/* FATAL and PANIC end the session: what the server said last. */
static bool
pgconn_is_fatal(const PGresult *r)
{
	const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);

	return sev != NULL && (strcmp(sev, "FATAL") == 0 ||
	    strcmp(sev, "PANIC") == 0);
}

/* Routine notices ("relation already exists, skipping") go to debug, a
 * server WARNING to warning; left alone, libpq would print to stderr.
 * libpq also hands over here the FATAL a server sends to an idle session
 * before closing it (shutdown, idle timeout): keep it for the drop. */
static void
pgconn_on_notice(void *arg, const PGresult *res)
{
	struct pgconn *pg = arg;
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	enum log_level level = LOG_LEVEL_DEBUG;

	if (pgconn_is_fatal(res)) {
		char *text = pgconn_format_error(res, "");

		snprintf(pg->server_said, sizeof(pg->server_said), "%s", text);
		free(text);
	}
	if (sev != NULL && strcmp(sev, "WARNING") == 0)
		level = LOG_LEVEL_WARNING;
	log_at(level, PGCONN_OBJ, "server_notice severity=%s msg=\"%s\"",
	    sev ? sev : "?", msg ? msg : "");
}

/* Wait for what PQconnectPoll asked for.  The socket may differ from the
 * previous poll (libpq moves on to the next host or address), so the
 * event is made anew each time. */
static int
pgconn_wait_socket(struct pgconn *pg, PostgresPollingStatusType st)
{
	evutil_socket_t fd = PQsocket(pg->conn);
	short what = st == PGRES_POLLING_READING ? EV_READ : EV_WRITE;

	if (pg->ev_sock != NULL)
		event_free(pg->ev_sock);
	pg->ev_sock = NULL;
	if (fd < 0) {
		pgconn_drop(pg, "libpq has no socket to wait on");
		return -1;
	}
	pg->ev_sock = event_new(pg->base, fd, what, pgconn_on_connect_io, pg);
	if (pg->ev_sock == NULL || event_add(pg->ev_sock, NULL) != 0) {
		pgconn_drop(pg, "cannot watch the socket");
		return -1;
	}
	return 0;
}

static void
pgconn_connected(struct pgconn *pg)
{
	evutil_socket_t fd = PQsocket(pg->conn);

	evtimer_del(pg->ev_timeout);
	if (pg->ev_sock != NULL)
		event_free(pg->ev_sock);
	pg->ev_sock = NULL;
	if (PQsetnonblocking(pg->conn, 1) != 0) {
		pgconn_drop(pg, PQerrorMessage(pg->conn));
		return;
	}
	pg->ev_sock = event_new(pg->base, fd, EV_READ | EV_PERSIST,
	    pgconn_on_read, pg);
	pg->ev_write = event_new(pg->base, fd, EV_WRITE | EV_PERSIST,
	    pgconn_on_write, pg);
	if (pg->ev_sock == NULL || pg->ev_write == NULL ||
	    event_add(pg->ev_sock, NULL) != 0) {
		pgconn_drop(pg, "cannot watch the socket");
		return;
	}
	pgconn_note_server(pg);
	backoff_reset(&pg->backoff);
	pgconn_set_state(pg, PGCONN_READY);
}

static void
pgconn_handle_connect_poll(struct pgconn *pg)
{
	PostgresPollingStatusType st = PQconnectPoll(pg->conn);

	pgconn_note_server(pg);
	switch (st) {
	case PGRES_POLLING_READING:
	case PGRES_POLLING_WRITING:
		(void)pgconn_wait_socket(pg, st);
		break;
	case PGRES_POLLING_OK:
		pgconn_connected(pg);
		break;
	default:
		pgconn_drop(pg, PQerrorMessage(pg->conn));
		break;
	}
}

/* Start one attempt.  The conninfo goes in as dbname with expand_dbname
 * so both "host=... dbname=..." and URIs work; keywords after it override
 * what it expands to, so the configured password beats one in the
 * conninfo.  Every string the daemon sends is UTF-8 (what LDAP speaks),
 * whatever PGCLIENTENCODING or the database's default says. */
static void
pgconn_connect(struct pgconn *pg)
{
	const char *keys[5], *vals[5];
	int n = 0;

	keys[n] = "dbname";
	vals[n++] = pg->conninfo;
	if (pg->password[0] != '\0') {
		keys[n] = "password";
		vals[n++] = pg->password;
	}
	keys[n] = "fallback_application_name";
	vals[n++] = "dirsyncd";
	keys[n] = "client_encoding";
	vals[n++] = "UTF8";
	keys[n] = vals[n] = NULL;

	pgconn_render_conninfo(pg->server, sizeof(pg->server), pg->conninfo);
	pg->conn = PQconnectStartParams(keys, vals, 1);
	if (pg->conn == NULL) {
		pgconn_drop(pg, "out of memory");
		return;
	}
	PQsetNoticeReceiver(pg->conn, pgconn_on_notice, pg);
	pgconn_note_server(pg);
	if (PQstatus(pg->conn) == CONNECTION_BAD) {
		pgconn_drop(pg, PQerrorMessage(pg->conn));
		return;
	}
	/* libpq has no timer of its own in asynchronous mode. */
	if (pg->connect_timeout_ms > 0) {
		struct timeval tv = {
			.tv_sec = pg->connect_timeout_ms / 1000,
			.tv_usec = (pg->connect_timeout_ms % 1000) * 1000,
		};
		evtimer_add(pg->ev_timeout, &tv);
	}
	/* Before the first PQconnectPoll, act as if it asked to write. */
	if (pgconn_wait_socket(pg, PGRES_POLLING_WRITING) < 0)
		return;
	pgconn_set_state(pg, PGCONN_CONNECTING);
}

static void
pgconn_on_connect_io(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *pg = arg;

	if (pg->state == PGCONN_CONNECTING)
		pgconn_handle_connect_poll(pg);
}

static void
pgconn_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *pg = arg;
	char why[64];

	if (pg->state != PGCONN_CONNECTING)
		return;
	snprintf(why, sizeof(why), "timeout expired after %u ms",
	    pg->connect_timeout_ms);
	pgconn_drop(pg, why);
}

static void
pgconn_on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *pg = arg;

	if (pg->state == PGCONN_BACKOFF)
		pgconn_connect(pg);
}

static void
pgconn_on_restart(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *pg = arg;

	(void)fd;
	(void)what;
	if (pg->state == PGCONN_READY || pg->state == PGCONN_CONNECTING)
		pgconn_drop(pg, pg->restart_why);
}

void
pgconn_restart(struct pgconn *pg, const char *why)
{
	if (pg->state != PGCONN_READY && pg->state != PGCONN_CONNECTING)
		return;
	log_obj_info(PGCONN_OBJ, "new session reason=\"%s\"", why);
	snprintf(pg->restart_why, sizeof(pg->restart_why), "%s", why);
	event_active(pg->ev_restart, 0, 0);
}

/* ---- results -------------------------------------------------------- */

static bool
pgconn_result_good(const PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ||
	    st == PGRES_EMPTY_QUERY;
}

/* Line (1-based) of the character at pos (1-based, counted in
 * characters as the server does) in sql: migrations are long
 * multi-statement strings, and "position 4711" helps nobody. */
static int
pgconn_line_of(const char *sql, long pos)
{
	long chars = 0;
	int line = 1;

	for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
		if ((*p & 0xc0) == 0x80)
			continue; /* UTF-8 continuation byte */
		if (++chars >= pos)
			break;
		if (*p == '\n')
			line++;
	}
	return line;
}

/* One line a person can act on: severity, message, detail, hint, the
 * SQLSTATE and where in the statement.  Caller frees. */
static char *
pgconn_format_error(const PGresult *r, const char *sql)
{
	const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY);
	const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return ds_strdup("out of memory formatting the server's error");
	if (primary != NULL)
		fprintf(f, "%s:  %s", sev ? sev : "ERROR", primary);
	else if (*PQresultErrorMessage(r) != '\0')
		fputs(PQresultErrorMessage(r), f);
	else
		fputs(PQresStatus(PQresultStatus(r)), f);
	if (detail != NULL)
		fprintf(f, " DETAIL: %s", detail);
	if (hint != NULL)
		fprintf(f, " HINT: %s", hint);
	if (state != NULL)
		fprintf(f, " (SQLSTATE %s)", state);
	if (pos != NULL && strchr(sql, '\n') != NULL)
		fprintf(f, " at line %d of the statement",
		    pgconn_line_of(sql, strtol(pos, NULL, 10)));
	if (fclose(f) != 0 || buf == NULL) {
		free(buf);
		return ds_strdup("out of memory formatting the server's error");
	}
	pgconn_oneline(buf, len + 1, buf);
	return buf;
}

/* Keep the last good result and the first failed one of the in-flight
 * query; returns -1 if the connection was dropped. */
static int
pgconn_keep_result(struct pgconn *pg, PGresult *r)
{
	switch (PQresultStatus(r)) {
	case PGRES_COPY_IN:
	case PGRES_COPY_OUT:
	case PGRES_COPY_BOTH:
		/* The API has no way to feed or drain COPY data, and libpq
		 * stays in COPY state until it is done: only a new
		 * connection gets out of it. */
		PQclear(r);
		pgconn_drop(pg, "COPY is not supported by pgconn");
		return -1;
	default:
		break;
	}
	if (pgconn_result_good(r)) {
		PQclear(pg->res_last);
		pg->res_last = r;
	} else if (pg->res_fail == NULL) {
		pg->res_fail = r;
	} else {
		PQclear(r);
	}
	return 0;
}

/* The in-flight query has all its results: hand the right one over. */
static void
pgconn_complete(struct pgconn *pg)
{
	struct pgquery *q = pg->inflight;
	PGresult *r = pg->res_fail != NULL ? pg->res_fail : pg->res_last;
	struct pgresult res = { .res = r, .ok = true, .error = "",
	    .sqlstate = "" };
	char *err = NULL;

	/* Detach first: the callback may queue the next query. */
	if (pg->res_fail != NULL)
		PQclear(pg->res_last);
	pg->inflight = NULL;
	pg->res_last = pg->res_fail = NULL;
	if (r == NULL) {
		res.ok = false;
		res.error = "no result from server";
	} else if (!pgconn_result_good(r)) {
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

		res.ok = false;
		res.error = err = pgconn_format_error(r, q->sql);
		res.sqlstate = state ? state : "";
	}
	log_obj_debug(PGCONN_OBJ, "query done ok=%d rows=%d", res.ok,
	    r ? PQntuples(r) : 0);
	pgconn_call_result(pg, q, &res);
	free(err);
	PQclear(r);
	pgquery_free(q);
}

/* ---- sending and reading -------------------------------------------- */

/* Push buffered output.  While libpq still holds data (1), the socket is
 * watched for writability too; -1 means the connection was dropped. */
static int
pgconn_flush(struct pgconn *pg)
{
	int rc = PQflush(pg->conn);

	if (rc < 0) {
		pgconn_drop(pg, PQerrorMessage(pg->conn));
		return -1;
	}
	if (rc == 1 && !pg->flushing) {
		log_obj_debug(PGCONN_OBJ, "output pending, waiting to write");
		event_add(pg->ev_write, NULL);
	} else if (rc == 0 && pg->flushing) {
		event_del(pg->ev_write);
	}
	pg->flushing = rc == 1;
	return 0;
}

/* Send the next queued query if none is in flight. */
static void
pgconn_dispatch(struct pgconn *pg)
{
	while (pg->state == PGCONN_READY && pg->inflight == NULL &&
	    pg->head != NULL) {
		struct pgquery *q = pg->head;
		unsigned gen = pg->gen;
		char err[512];
		int ok;

		pg->head = q->next;
		if (pg->head == NULL)
			pg->tailp = &pg->head;
		q->next = NULL;
		pg->inflight = q;
		if (q->nparams == 0)
			ok = PQsendQuery(pg->conn, q->sql);
		else
			ok = PQsendQueryParams(pg->conn, q->sql, q->nparams,
			    NULL, (const char *const *)q->params, NULL, NULL, 0);
		if (ok) {
			(void)pgconn_flush(pg);
			return;
		}
		if (PQstatus(pg->conn) != CONNECTION_OK) {
			pgconn_drop(pg, PQerrorMessage(pg->conn));
			return;
		}
		/* Refused by libpq itself (bad query string): only this
		 * query fails, the connection is fine. */
		pgconn_oneline(err, sizeof(err), PQerrorMessage(pg->conn));
		pg->inflight = NULL;
		pgconn_fail_queries(pg, q, err);
		if (pg->gen != gen)
			return;
	}
}

/* The connection broke.  A server that closes on purpose says why first
 * (FATAL 57P01 on shutdown, 57P05 idle timeout): that beats libpq's
 * "server closed the connection unexpectedly". */
static void
pgconn_drop_broken(struct pgconn *pg)
{
	char *why = NULL;

	if (pg->res_fail != NULL && pg->inflight != NULL &&
	    pgconn_is_fatal(pg->res_fail))
		why = pgconn_format_error(pg->res_fail, pg->inflight->sql);
	else if (pg->server_said[0] != '\0')
		why = ds_strdup(pg->server_said);
	pgconn_drop(pg, why != NULL ? why : PQerrorMessage(pg->conn));
	free(why);
}

/* Take every complete result libpq has buffered, without blocking. */
static void
pgconn_collect(struct pgconn *pg)
{
	unsigned gen = pg->gen;

	while (pg->gen == gen && pg->inflight != NULL &&
	    !PQisBusy(pg->conn)) {
		PGresult *r = PQgetResult(pg->conn);

		if (r != NULL) {
			if (pgconn_keep_result(pg, r) < 0)
				return;
			continue;
		}
		/* The results may end early because the server went away
		 * (e.g. FATAL 57P01 on shutdown): report a lost connection,
		 * not an SQL error, so the owner knows to retry. */
		if (PQstatus(pg->conn) == CONNECTION_BAD)
			break;
		pgconn_complete(pg);
		if (pg->gen == gen)
			pgconn_dispatch(pg);
	}
	if (pg->gen == gen && PQstatus(pg->conn) == CONNECTION_BAD)
		pgconn_drop_broken(pg);
}

static void
pgconn_drain_notifies(struct pgconn *pg)
{
	PGnotify *n;

	/* Nobody LISTENs yet (a later issue wires LISTEN dirsync); free
	 * them so they do not pile up inside libpq. */
	while ((n = PQnotifies(pg->conn)) != NULL) {
		log_obj_debug(PGCONN_OBJ, "notify channel=%s pid=%d",
		    n->relname, n->be_pid);
		PQfreemem(n);
	}
}

static void
pgconn_handle_readable(struct pgconn *pg)
{
	unsigned gen = pg->gen;
	bool broken = !PQconsumeInput(pg->conn);

	pgconn_drain_notifies(pg);
	/* libpq: while output is pending, read-ready means consume, then
	 * flush again (the server may be waiting for us to read). */
	if (!broken && pg->flushing && pgconn_flush(pg) < 0)
		return;
	/* Even when broken: what arrived before the close is still parsed
	 * (libpq keeps the input buffer), and collect drops the conn. */
	pgconn_collect(pg);
	if (broken && pg->gen == gen)
		pgconn_drop_broken(pg);
}

static void
pgconn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *pg = arg;

	if (pg->state == PGCONN_READY)
		pgconn_handle_readable(pg);
}

static void
pgconn_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *pg = arg;

	if (pg->state == PGCONN_READY)
		(void)pgconn_flush(pg);
}

static void
pgconn_on_kick(evutil_socket_t fd, short what, void *arg)
{
	pgconn_dispatch(arg);
}

/* ---- public --------------------------------------------------------- */

static void
pgconn_copy_settings(struct pgconn *pg, const struct pgconn_settings *s)
{
	if (pg->password != NULL)
		explicit_bzero(pg->password, strlen(pg->password));
	free(pg->password);
	free(pg->conninfo);
	pg->conninfo = ds_strdup(s->conninfo ? s->conninfo : "");
	pg->password = ds_strdup(s->password ? s->password : "");
	pg->connect_timeout_ms = s->connect_timeout_ms;
}

struct pgconn *
pgconn_new(struct event_base *base, const struct pgconn_settings *settings,
    pgconn_state_cb state_cb, void *arg)
{
	struct pgconn *pg = ds_calloc(1, sizeof(*pg));

	pg->base = base;
	pg->state_cb = state_cb;
	pg->arg = arg;
	pg->state = PGCONN_IDLE;
	pg->since = time(NULL);
	pg->tailp = &pg->head;
	pgconn_copy_settings(pg, settings);
	backoff_init(&pg->backoff, settings->backoff_min_ms,
	    settings->backoff_max_ms);
	pgconn_render_conninfo(pg->server, sizeof(pg->server), pg->conninfo);
	pg->ev_timeout = evtimer_new(base, pgconn_on_timeout, pg);
	pg->ev_retry = evtimer_new(base, pgconn_on_retry, pg);
	pg->ev_kick = event_new(base, -1, 0, pgconn_on_kick, pg);
	pg->ev_restart = event_new(base, -1, 0, pgconn_on_restart, pg);
	if (pg->ev_timeout == NULL || pg->ev_retry == NULL ||
	    pg->ev_kick == NULL || pg->ev_restart == NULL)
		fatal("pgconn: cannot create events: out of memory");
	return pg;
}

void
pgconn_start(struct pgconn *pg)
{
	if (pg->state == PGCONN_IDLE && !pg->closing)
		pgconn_connect(pg);
}

void
pgconn_reconfigure(struct pgconn *pg, const struct pgconn_settings *settings)
{
	unsigned attempt = pg->backoff.attempt;

	pgconn_copy_settings(pg, settings);
	backoff_init(&pg->backoff, settings->backoff_min_ms,
	    settings->backoff_max_ms);
	pg->backoff.attempt = attempt;
	if (pg->state != PGCONN_READY && pg->state != PGCONN_CONNECTING)
		pgconn_render_conninfo(pg->server, sizeof(pg->server),
		    pg->conninfo);
}

/* Not from inside one of this connection's callbacks: the code that ran
 * the callback would touch freed memory on return, so that is refused
 * loudly rather than left to chance.  Defer it (e.g. event_base_once)
 * instead. */
void
pgconn_free(struct pgconn *pg)
{
	struct pgquery *list;

	if (pg == NULL)
		return;
	if (pg->depth > 0)
		fatal("pgconn_free() called from a pgconn callback");
	pg->closing = true;
	list = pgconn_close(pg);
	if (pg->state != PGCONN_IDLE)
		pgconn_set_state(pg, PGCONN_IDLE);
	pgconn_fail_queries(pg, list, "connection closed");
	event_free(pg->ev_timeout);
	event_free(pg->ev_retry);
	event_free(pg->ev_kick);
	event_free(pg->ev_restart);
	explicit_bzero(pg->password, strlen(pg->password));
	free(pg->password);
	free(pg->conninfo);
	free(pg);
}

enum pgconn_state
pgconn_get_state(const struct pgconn *pg)
{
	return pg->state;
}

void
pgconn_get_status(const struct pgconn *pg, struct connstatus *out)
{
	memset(out, 0, sizeof(*out));
	out->name = "postgresql";
	out->state = pgconn_state_name(pg->state);
	snprintf(out->server, sizeof(out->server), "%s", pg->server);
	out->since = pg->since;
	out->retries = pg->retries;
	snprintf(out->last_error, sizeof(out->last_error), "%s",
	    pg->last_error);
	out->last_error_at = pg->last_error_at;
}

int
pgconn_query(struct pgconn *pg, const char *sql, int nparams,
    const char *const *params, pgconn_result_cb cb, void *arg)
{
	struct pgquery *q;

	/* 65535: the protocol's limit on parameters of one statement. */
	if (pg->state != PGCONN_READY || sql == NULL || cb == NULL ||
	    nparams < 0 || nparams > 65535 || (nparams > 0 && params == NULL))
		return -1;
	q = ds_calloc(1, sizeof(*q));
	q->sql = ds_strdup(sql);
	q->cb = cb;
	q->arg = arg;
	q->nparams = nparams;
	if (nparams > 0) {
		q->params = ds_calloc((size_t)nparams, sizeof(*q->params));
		for (int i = 0; i < nparams; i++)
			q->params[i] = params[i] ? ds_strdup(params[i]) : NULL;
	}
	*pg->tailp = q;
	pg->tailp = &q->next;
	/* Sent from the loop, never from here: a send failure fails every
	 * queued query, and the caller must not see its own and other
	 * callbacks run before pgconn_query() has even returned. */
	if (pg->inflight == NULL)
		event_active(pg->ev_kick, EV_TIMEOUT, 1);
	return 0;
}

bool
pgresult_ok(const struct pgresult *res)
{
	return res->ok;
}

const char *
pgresult_error(const struct pgresult *res)
{
	return res->error;
}

const char *
pgresult_sqlstate(const struct pgresult *res)
{
	return res->sqlstate;
}

int
pgresult_ntuples(const struct pgresult *res)
{
	return res->res != NULL ? PQntuples(res->res) : 0;
}

int
pgresult_nfields(const struct pgresult *res)
{
	return res->res != NULL ? PQnfields(res->res) : 0;
}

const char *
pgresult_value(const struct pgresult *res, int row, int col)
{
	if (res->res == NULL || row < 0 || row >= PQntuples(res->res) ||
	    col < 0 || col >= PQnfields(res->res) ||
	    PQgetisnull(res->res, row, col))
		return NULL;
	return PQgetvalue(res->res, row, col);
}
