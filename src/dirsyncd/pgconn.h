/* pgconn.h - the one asynchronous PostgreSQL connection of the daemon, and
 * the only file that includes libpq-fe.h.
 *
 * Usage: pgconn_new() with an event base and settings (copied), then
 * pgconn_start().  The connection is driven entirely by libevent: it
 * connects with PQconnectStartParams/PQconnectPoll, sends with the
 * non-blocking PQsend* calls and flushes/reads when its socket is ready,
 * so no call here ever blocks the loop.  If the server is down or goes
 * away it retries with capped exponential backoff and jitter, logging the
 * state change once (not on every retry).  The state callback runs on
 * every state change; queries can be queued only in PGCONN_READY.
 *
 * Queries run one at a time in FIFO order.  A query's callback runs
 * exactly once: with the result, or with a failed result when the
 * connection is lost first or pgconn_free() is called.  The result is
 * borrowed: valid only during the callback.
 *
 * All functions are called from the event-loop thread only. */
#ifndef DS_PGCONN_H
#define DS_PGCONN_H

#include <stdbool.h>
#include <stddef.h>
#include "compat.h"
#include "connstatus.h"

struct event_base;
struct pgconn;
struct pgresult;

enum pgconn_state {
	PGCONN_IDLE = 0,   /* created, not started (or stopped) */
	PGCONN_CONNECTING, /* PQconnectPoll handshake in progress */
	PGCONN_READY,      /* connected; queries may be queued */
	PGCONN_BACKOFF,    /* last attempt failed; waiting to retry */
};

struct pgconn_settings {
	const char *conninfo;        /* libpq keyword string or URI */
	const char *password;        /* NULL or "" = none / from conninfo */
	unsigned connect_timeout_ms; /* whole handshake, 0 = none */
	unsigned backoff_min_ms;
	unsigned backoff_max_ms;
};

typedef void (*pgconn_state_cb)(struct pgconn *pg, enum pgconn_state state,
    void *arg);
typedef void (*pgconn_result_cb)(const struct pgresult *res, void *arg);

/* Returns a new connection (never NULL); settings are copied. */
struct pgconn *pgconn_new(struct event_base *base,
    const struct pgconn_settings *settings, pgconn_state_cb state_cb,
    void *arg);
void pgconn_start(struct pgconn *pg);
/* New settings take effect at the next connection attempt. */
void pgconn_reconfigure(struct pgconn *pg,
    const struct pgconn_settings *settings);
/* Closes the connection; queued callbacks run with a failed result.
 * Not from inside one of this connection's callbacks (that is refused
 * with fatal()): defer it to the loop instead. */
void pgconn_free(struct pgconn *pg);
/* Ends the session on the next turn of the loop (queued queries fail as
 * on a lost connection) and connects again after the usual backoff: for
 * an owner whose session keeps failing where a new one might not (a role
 * setting such as statement_timeout changed since it began).  Safe from
 * inside a callback; a no-op unless connecting or ready. */
void pgconn_restart(struct pgconn *pg, const char *why);

enum pgconn_state pgconn_get_state(const struct pgconn *pg);
const char *pgconn_state_name(enum pgconn_state state);
void pgconn_get_status(const struct pgconn *pg, struct connstatus *out);

/* Queue a statement.  nparams == 0 uses the simple protocol, so sql may
 * hold several statements (migrations); otherwise params are text values
 * ($1..$n, NULL = SQL NULL), copied.  Returns -1 (and does not call cb)
 * unless the connection is READY. */
int pgconn_query(struct pgconn *pg, const char *sql, int nparams,
    const char *const *params, pgconn_result_cb cb, void *arg) DS_MUSTCHECK;

/* Result accessors; valid only inside the result callback. */
bool pgresult_ok(const struct pgresult *res);
/* "" when ok; else the server's message (or the client-side reason). */
const char *pgresult_error(const struct pgresult *res);
/* Five-character SQLSTATE, or "" when none. */
const char *pgresult_sqlstate(const struct pgresult *res);
int pgresult_ntuples(const struct pgresult *res);
int pgresult_nfields(const struct pgresult *res);
/* NULL for SQL NULL or out of range. */
const char *pgresult_value(const struct pgresult *res, int row, int col);

#endif
