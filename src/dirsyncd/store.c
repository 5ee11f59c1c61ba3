/* store.c - the directory mirror's batched writer (see store.h): one
 * batch becomes one transaction of a handful of statements, each a call
 * of a dir_store_* function (schema/pg/, most in 002_mirror.sql) that
 * receives the batch's rows as text-array parameters; an initial load
 * into an empty mirror stages its batches instead (004, 007, 008).
 *
 * It must never block, never send one statement per entry, never run a
 * pass over a whole table per batch (only at the end of a refresh), and
 * never commit a cookie without the changes it covers. */
#include "store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pgconn.h"
#include "store_params.h"

#define STORE_OBJ "mirror=store"
#define STORE_MAX_STEPS 16

/* Writes failed on SQL errors in a row before the session is replaced. */
#define STORE_FAILURES_NEW_SESSION 3

/* ---- SQL ------------------------------------------------------------- */

/* The batch statements are functions of schema/pg/ (002_mirror.sql and
 * the later migrations named at each), which explain them; each takes
 * the batch as parallel text arrays and passes its count through
 * dir_store_tally(). */
static const char sql_upsert_users[] =
    "SELECT * FROM dir_store_upsert_users($1, $2, $3, $4, $5, $6, $7, $8, "
    "$9, $10, $11, $12, $13, $14)";
static const char sql_upsert_groups[] =
    "SELECT * FROM dir_store_upsert_groups($1, $2, $3, $4, $5, $6)";
static const char sql_members[] =
    "SELECT dir_store_set_members($1, $2, $3, $4)";
static const char sql_delete[] = "SELECT dir_store_delete($1, $2)";
static const char sql_member_changes[] =
    "SELECT dir_store_member_changes($1, $2, $3, $4)";
/* Deletions outside a refresh, under the guard (006_persist_guard.sql). */
static const char sql_persist_delete[] =
    "SELECT * FROM dir_store_persist_delete($1, $2, $3, $4, $5)";
static const char sql_present[] = "SELECT dir_store_present($1, $2)";
static const char sql_refresh_end[] =
    "SELECT * FROM dir_store_refresh_end($1, $2, $3)";
/* The initial load of an empty mirror (004_initial_load.sql, 007). */
static const char sql_bulk_finish[] =
    "SELECT * FROM dir_store_bulk_finish($1)";
/* A whole batch staged in one statement (008_stage_batch.sql). */
static const char sql_stage_batch[] =
    "SELECT dir_store_stage_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
    "$11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, "
    "$25)";
static const char sql_confirm[] =
    "SELECT * FROM dir_store_confirm_deletes($1)";

static const char sql_state_ensure[] =
    "WITH i AS (INSERT INTO dir_sync_state (source, server_id, base_dn, "
    "method) VALUES ($1, $2, $3, $4) ON CONFLICT (source) DO NOTHING "
    "RETURNING 1) SELECT count(*) FROM i";

/* A cookie (and a polling high-water mark) is only valid for the server,
 * base and method that produced it: a change discards them.  Returns why
 * (NULL: nothing changed), the old server, whether a cookie was there,
 * and the state as it now is. */
static const char sql_state_sync[] =
    "WITH o AS (SELECT * FROM dir_sync_state WHERE source = $1 FOR UPDATE), "
    "u AS (UPDATE dir_sync_state s SET server_id = $2, base_dn = $3, "
    "method = $4, cookie = NULL, high_water = NULL, updated_at = now() "
    "FROM o WHERE s.source = o.source AND (o.server_id, o.base_dn, "
    "o.method) IS DISTINCT FROM ($2, $3, $4) RETURNING 1) "
    "SELECT CASE WHEN NOT EXISTS (SELECT FROM u) THEN NULL WHEN "
    "o.server_id <> $2 THEN 'server-changed' WHEN o.base_dn <> $3 THEN "
    "'base-changed' ELSE 'method-changed' END, o.server_id, "
    "o.cookie IS NOT NULL, CASE WHEN NOT EXISTS (SELECT FROM u) THEN "
    "encode(o.cookie, 'hex') END, o.refresh_gen, o.delete_guard_count, "
    "extract(epoch FROM o.delete_guard_since)::bigint FROM o";

/* Whether a full refresh may be loaded in bulk: nothing mirrored yet.
 * A new start also gives up the lock of a load it abandoned. */
static const char sql_state_empty[] =
    "SELECT NOT EXISTS (SELECT FROM dir_user) AND NOT EXISTS (SELECT FROM "
    "dir_group) AND NOT EXISTS (SELECT FROM dir_group_member), "
    "dir_stage_release()";

static const char sql_counts[] =
    "SELECT (SELECT count(*) FROM dir_user), (SELECT count(*) FROM "
    "dir_group), (SELECT count(*) FROM dir_group_member), (SELECT count(*) "
    "FROM dir_user WHERE manager_dn IS NOT NULL AND manager_id IS NULL)";

/* ---- operations -------------------------------------------------------- */

/* The statements of one operation, in the order they are queued; the
 * operation moves through them as pgconn hands back the results. */
enum store_step {
	STORE_STEP_BEGIN = 0,    /* BEGIN */
	STORE_STEP_START,        /* lock the state row, new gen if asked */
	STORE_STEP_USERS,        /* upsert users, park stale DNs */
	STORE_STEP_GROUPS,       /* upsert groups, park stale DNs */
	STORE_STEP_MEMBERS,      /* member lists of the batch's groups */
	STORE_STEP_DELETE,       /* mark deleted in a refresh */
	STORE_STEP_PERSIST_DELETE, /* delete outside one, or hold back */
	STORE_STEP_PRESENT,      /* presence marks */
	STORE_STEP_REFRESH_END,  /* deletions of the refresh, or the guard */
	STORE_STEP_CONFIRM,      /* held-back deletions */
	STORE_STEP_FINISH,       /* check every step ran, cookie, NOTIFY */
	STORE_STEP_COMMIT,
	STORE_STEP_STATE_ENSURE, /* create the source's row if missing */
	STORE_STEP_STATE_SYNC,   /* read it; discard another server's cookie */
	STORE_STEP_COUNTS,
	STORE_STEP_STATE_EMPTY,  /* is the mirror empty (bulk load) */
	STORE_STEP_STAGE_BATCH,  /* bulk: a batch into the staging tables */
	STORE_STEP_BULK_FINISH,  /* bulk: staging into the mirror */
	STORE_STEP_MEMBER_CHANGES,  /* member values added and removed */
};

static const char *const store_step_names[] = {
	[STORE_STEP_BEGIN] = "begin",
	[STORE_STEP_START] = "start",
	[STORE_STEP_USERS] = "upsert_users",
	[STORE_STEP_GROUPS] = "upsert_groups",
	[STORE_STEP_MEMBERS] = "members",
	[STORE_STEP_DELETE] = "delete",
	[STORE_STEP_PERSIST_DELETE] = "persist_delete",
	[STORE_STEP_PRESENT] = "present",
	[STORE_STEP_REFRESH_END] = "refresh_end",
	[STORE_STEP_CONFIRM] = "confirm_deletes",
	[STORE_STEP_FINISH] = "finish",
	[STORE_STEP_COMMIT] = "commit",
	[STORE_STEP_STATE_ENSURE] = "state_ensure",
	[STORE_STEP_STATE_SYNC] = "state_sync",
	[STORE_STEP_COUNTS] = "counts",
	[STORE_STEP_STATE_EMPTY] = "state_empty",
	[STORE_STEP_STAGE_BATCH] = "stage_batch",
	[STORE_STEP_BULK_FINISH] = "bulk_finish",
	[STORE_STEP_MEMBER_CHANGES] = "member_changes",
};

static const char *const store_refresh_names[] = {
	[STORE_REFRESH_NONE] = "none",
	[STORE_REFRESH_BEGIN] = "begin",
	[STORE_REFRESH_CONTINUE] = "continue",
	[STORE_REFRESH_END_PRESENT] = "end-present",
	[STORE_REFRESH_END_DELETE] = "end-delete",
};

enum store_op_kind {
	STORE_OP_WRITE,
	STORE_OP_LOAD,
	STORE_OP_CONFIRM,
	STORE_OP_COUNTS,
};

/* One operation in flight.  pgconn runs each callback exactly once, in
 * queue order, so the op knows which step an answer belongs to by
 * counting; it frees itself after the last one.  s becomes NULL when the
 * store is freed first: the answers still arrive and are swallowed. */
struct store_op {
	struct store_op *next;
	struct store *s;
	struct pgconn *pg;
	enum store_op_kind kind;
	enum store_step steps[STORE_MAX_STEPS];
	unsigned nsteps, ndone;
	bool failed;             /* the first failure is in error */
	bool lost;               /* ... and it was the connection */
	char error[sizeof(((struct store_write_report *)0)->error)];
	union {
		store_write_cb write;
		store_state_cb state;
		store_done_cb done;
		store_counts_cb counts;
	} cb;                    /* by kind */
	void *arg;
	struct timespec t0;
	long long changed;       /* rows changed, from dir_store_finish */
	unsigned parked, guard_total;
	bool guard_tripped;
	bool guard_checked;      /* a step that can trip the guard ran */
	enum store_refresh_op refresh;
	bool bulk;               /* a batch of an initial load in bulk */
	bool bulk_end;           /* ... the one that moves it into the mirror */
	unsigned bulk_members;
	struct store_write_report report;
	struct store_state state;
	struct store_counts counts;
};

struct store {
	struct pgconn *pg;
	char *source;
	char *method;
	double max_delete_ratio;
	unsigned delete_window_ms; /* persist deletions counted over this */
	/* Writes that failed on an SQL error in a row: past a few, the
	 * session itself may be the cause (a statement_timeout set for the
	 * role and since reset applies until it ends), so it is replaced. */
	unsigned failed_in_row;
	/* The pending guard's count when it was last logged, 0 for none:
	 * deletions that join a guard already waiting are logged as news,
	 * not as a new alarm. */
	unsigned guard_logged;
	struct store_op *ops;    /* in flight, newest first */
	struct store_op *write;  /* the write in flight, if any */
	/* The initial load in bulk (004_initial_load.sql): a full refresh
	 * is staged when the last state loaded had no cookie and an empty
	 * mirror (eligible); bulk while one is being staged; bulk_ord
	 * numbers its rows; the latest cookie a staged batch brought waits
	 * for the end.  A load that failed on an SQL error is not tried
	 * again (disabled): the batch path takes over. */
	bool bulk_eligible, bulk, bulk_disabled;
	bool deletes_remove_memberships;
	long long bulk_ord;
	char *bulk_cookie;       /* hex text, or NULL */
};

/* ---- the operation machinery --------------------------------------------- */

static void store_on_result(const struct pgresult *res, void *arg);

/* The caller sets op->cb. */
static struct store_op *
store_op_new(struct store *s, enum store_op_kind kind, void *arg)
{
	struct store_op *op = ds_calloc(1, sizeof(*op));

	op->s = s;
	op->pg = s->pg;
	op->kind = kind;
	op->arg = arg;
	clock_gettime(CLOCK_MONOTONIC, &op->t0);
	op->next = s->ops;
	s->ops = op;
	return op;
}

/* Queue one statement of op.  The caller checked that the connection is
 * READY, and nothing between here and the loop can change that, so
 * pgconn cannot refuse: if it does, the transaction would be left open
 * under the other modules' queries, and that is worse than stopping. */
static void
store_send(struct store_op *op, enum store_step step, const char *sql,
    int nparams, const char *const *params)
{
	if (op->nsteps == STORE_MAX_STEPS)
		fatal("store: too many statements in one operation");
	if (pgconn_query(op->pg, sql, nparams, params, store_on_result, op) != 0)
		fatal("store: pgconn refused step %s on a ready connection",
		    store_step_names[step]);
	op->steps[op->nsteps++] = step;
}

static void
store_unlink(struct store_op *op)
{
	struct store_op **pp;

	if (op->s == NULL)
		return;
	for (pp = &op->s->ops; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == op) {
			*pp = op->next;
			break;
		}
	}
	if (op->s->write == op)
		op->s->write = NULL;
}

static long long
store_value_ll(const struct pgresult *res, int col)
{
	const char *v = pgresult_value(res, 0, col);

	return v != NULL ? strtoll(v, NULL, 10) : 0;
}

static unsigned
store_value_u(const struct pgresult *res, int col)
{
	long long v = store_value_ll(res, col);

	return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (unsigned)v;
}

static bool
store_value_bool(const struct pgresult *res, int col)
{
	const char *v = pgresult_value(res, 0, col);

	return v != NULL && strcmp(v, "t") == 0;
}

static const char *
store_src(const struct store_op *op)
{
	return op->s != NULL ? op->s->source : "?";
}

/* Remember the first failure only: after it, every statement of the
 * transaction fails with "current transaction is aborted", which says
 * nothing.  pgconn leaves READY before it fails the queries of a lost
 * connection, which tells a dropped session from an SQL error.  A lost
 * connection usually means the server rolled back, but a COMMIT that
 * reached it just before may have committed: the owner reloads the
 * state after reconnecting, and writing the batch again is harmless. */
static void
store_note_failure(struct store_op *op, enum store_step step,
    const struct pgresult *res)
{
	if (op->failed)
		return;
	op->failed = true;
	op->lost = pgconn_get_state(op->pg) != PGCONN_READY;
	if (op->lost)
		snprintf(op->error, sizeof(op->error), "connection lost: %s",
		    pgresult_error(res));
	else
		snprintf(op->error, sizeof(op->error), "step %s: %s",
		    store_step_names[step], pgresult_error(res));
}

/* ---- store_write -------------------------------------------------------- */

static void
store_handle_write_step(struct store_op *op, enum store_step step,
    const struct pgresult *res)
{
	struct store_write_report *r = &op->report;

	switch (step) {
	case STORE_STEP_USERS:
		r->users_written = store_value_u(res, 0);
		op->parked += store_value_u(res, 1);
		break;
	case STORE_STEP_GROUPS:
		r->groups_written = store_value_u(res, 0);
		op->parked += store_value_u(res, 1);
		break;
	case STORE_STEP_DELETE:
		r->deleted += store_value_u(res, 0);
		break;
	case STORE_STEP_PRESENT:
		r->marked_present = store_value_u(res, 0);
		break;
	case STORE_STEP_REFRESH_END:
		op->guard_checked = true;
		op->guard_tripped = store_value_bool(res, 2);
		r->guard_count = op->guard_tripped ? store_value_u(res, 0) : 0;
		op->guard_total = store_value_u(res, 1);
		r->deleted += store_value_u(res, 3);
		break;
	case STORE_STEP_PERSIST_DELETE:
		op->guard_checked = true;
		op->guard_tripped = store_value_bool(res, 0);
		r->guard_count = op->guard_tripped ? store_value_u(res, 1) : 0;
		op->guard_total = store_value_u(res, 2);
		r->deleted += store_value_u(res, 3);
		break;
	case STORE_STEP_FINISH:
		op->changed = store_value_ll(res, 0);
		break;
	case STORE_STEP_BULK_FINISH:
		r->users_written = store_value_u(res, 0);
		r->groups_written = store_value_u(res, 1);
		op->bulk_members = store_value_u(res, 2);
		break;
	default:
		break;
	}
}

static long
store_elapsed_ms(const struct store_op *op)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)((t1.tv_sec - op->t0.tv_sec) * 1000 +
	    (t1.tv_nsec - op->t0.tv_nsec) / 1000000);
}

/* After a write of an initial load in bulk: the load goes on, is over,
 * or failed.  A lost connection lets the next one try again (the mirror
 * restarts, finds the mirror still empty and stages afresh); an SQL error
 * would likely repeat, so the batch path takes over for good. */
static void
store_bulk_done(struct store_op *op)
{
	struct store *s = op->s;

	if (s == NULL || !op->bulk || (!op->failed && !op->bulk_end))
		return;
	s->bulk = s->bulk_eligible = false;
	free(s->bulk_cookie);
	s->bulk_cookie = NULL;
	if (!op->failed) {
		log_obj_info(STORE_OBJ, "initial load committed source=%s "
		    "users=%u groups=%u memberships=%u final_ms=%ld",
		    s->source, op->report.users_written,
		    op->report.groups_written, op->bulk_members,
		    store_elapsed_ms(op));
	} else if (!op->lost && !s->bulk_disabled) {
		s->bulk_disabled = true;
		log_obj_warning(STORE_OBJ, "initial load in bulk failed; "
		    "loading batch by batch from now on source=%s err=\"%s\"",
		    s->source, op->error);
	}
}

/* A warning when a guard trips (again after a restart: the daemon says
 * once more what it is waiting for); while it waits, each batch whose
 * deletions join it gets an info line with the new total. */
static void
store_log_guard(struct store_op *op)
{
	const struct store_write_report *r = &op->report;
	unsigned before = op->s != NULL ? op->s->guard_logged : 0;
	double pct = op->guard_total ? 100.0 * r->guard_count /
	    op->guard_total : 100.0;

	if (before == 0)
		log_obj_warning(STORE_OBJ, "delete guard tripped: %u of %u "
		    "users (%.1f%%) would be deleted; run dirsyncctl sync "
		    "--confirm-deletes", r->guard_count, op->guard_total, pct);
	else if (r->guard_count > before)
		log_obj_info(STORE_OBJ, "delete guard: %u more users held "
		    "back, %u of %u (%.1f%%) in all", r->guard_count - before,
		    r->guard_count, op->guard_total, pct);
	if (op->s != NULL)
		op->s->guard_logged = r->guard_count;
}

/* A guard still waiting at start-up is said again, once: whoever
 * restarted the daemon may not have seen the first warning. */
static void
store_log_pending_guard(struct store *s, const struct store_state *st)
{
	char since[32] = "?";
	time_t t = (time_t)st->guard_since;
	struct tm tm;

	if (st->guard_count == 0 || s->guard_logged == st->guard_count)
		return;
	if (t > 0 && gmtime_r(&t, &tm) != NULL)
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	log_obj_warning(STORE_OBJ, "delete guard pending since %s: %u users "
	    "held back from deletion source=%s; run dirsyncctl sync "
	    "--confirm-deletes", since, st->guard_count, s->source);
	s->guard_logged = st->guard_count;
}

static void
store_report_write(struct store_op *op)
{
	struct store_write_report *r = &op->report;

	if (op->failed) {
		r->result = STORE_FAILED;
		r->users_written = r->groups_written = r->deleted = 0;
		r->marked_present = r->guard_count = 0;
		snprintf(r->error, sizeof(r->error), "%s", op->error);
		log_at(op->lost ? LOG_LEVEL_WARNING : LOG_LEVEL_ERROR, STORE_OBJ,
		    "batch rolled back source=%s err=\"%s\"", store_src(op),
		    r->error);
		if (op->s != NULL && !op->lost &&
		    ++op->s->failed_in_row >= STORE_FAILURES_NEW_SESSION) {
			op->s->failed_in_row = 0;
			pgconn_restart(op->s->pg, "batches keep failing; a new "
			    "session may not");
		}
	} else {
		r->result = op->guard_tripped ? STORE_GUARD_TRIPPED : STORE_OK;
		if (op->s != NULL)
			op->s->failed_in_row = 0;
		if (op->guard_tripped)
			store_log_guard(op);
		else if (op->guard_checked && op->s != NULL)
			op->s->guard_logged = 0;
		if (op->parked > 0)
			log_obj_info(STORE_OBJ, "parked %u stale rows whose DN "
			    "another entry now holds", op->parked);
		log_obj_debug(STORE_OBJ, "batch committed source=%s refresh=%s "
		    "users=%u groups=%u deleted=%u present=%u changed=%lld "
		    "ms=%ld", store_src(op), store_refresh_names[op->refresh],
		    r->users_written, r->groups_written, r->deleted,
		    r->marked_present, op->changed, store_elapsed_ms(op));
	}
	store_bulk_done(op);
	if (op->s != NULL && op->cb.write != NULL)
		op->cb.write(r, op->arg);
}

/* Deletions outside a refresh go through the guard of
 * 006_persist_guard.sql, counted over delete_window_ms; on Active
 * Directory they also take the links that name the entries gone. */
static void
store_queue_persist_delete(struct store_op *op, const struct store_params *p)
{
	char ratio[32], window[32];
	const char *v[5] = { op->s->source, p->deleted, ratio, window, NULL };

	snprintf(ratio, sizeof(ratio), "%.17g", op->s->max_delete_ratio);
	snprintf(window, sizeof(window), "%.3f", op->s->delete_window_ms / 1000.0);
	if (op->s->deletes_remove_memberships)
		v[4] = p->deleted_gone;
	store_send(op, STORE_STEP_PERSIST_DELETE, sql_persist_delete, 5, v);
}

static void
store_queue_rows(struct store_op *op, const struct store_batch *b,
    struct store_params *p)
{
	const char *src = op->s->source;
	const char *v[STORE_NUSER + 2] = { src };
	bool refresh = b->refresh != STORE_REFRESH_NONE;

	if (b->user_count > 0) {
		memcpy(&v[1], p->user, sizeof(p->user));
		store_send(op, STORE_STEP_USERS, sql_upsert_users,
		    STORE_NUSER + 2, v);
	}
	if (b->group_count > 0) {
		memcpy(&v[1], p->group, sizeof(p->group));
		store_send(op, STORE_STEP_GROUPS, sql_upsert_groups,
		    STORE_NGROUP + 1, v);
		v[0] = p->member_groups;
		memcpy(&v[1], p->members, sizeof(p->members));
		store_send(op, STORE_STEP_MEMBERS, sql_members, 4, v);
	}
	if (b->member_change_count > 0) {
		memcpy(v, p->changes, sizeof(p->changes));
		store_send(op, STORE_STEP_MEMBER_CHANGES, sql_member_changes, 4,
		    v);
	}
	if (b->deleted_count > 0 && refresh) {
		v[0] = p->deleted;
		v[1] = "t";
		store_send(op, STORE_STEP_DELETE, sql_delete, 2, v);
	} else if (b->deleted_count > 0) {
		store_queue_persist_delete(op, p);
	}
	if (b->present_count > 0) {
		v[0] = src;
		v[1] = p->present;
		store_send(op, STORE_STEP_PRESENT, sql_present, 2, v);
	}
}

static void
store_queue_end(struct store_op *op, const struct store_batch *b)
{
	char ratio[32];
	const char *v[3] = { op->s->source, "present", ratio };

	if (b->refresh != STORE_REFRESH_END_PRESENT &&
	    b->refresh != STORE_REFRESH_END_DELETE)
		return;
	if (b->refresh == STORE_REFRESH_END_DELETE)
		v[1] = "delete";
	snprintf(ratio, sizeof(ratio), "%.17g", op->s->max_delete_ratio);
	store_send(op, STORE_STEP_REFRESH_END, sql_refresh_end, 3, v);
}

/* BEGIN and dir_store_begin() open, dir_store_finish() and COMMIT
 * close; the statements between each tally once, and finish refuses
 * the cookie unless all of them ran.  All of it is queued at once: the
 * connection is shared, and FIFO order then keeps every other module's
 * query out of the transaction.  A failed statement aborts it; the
 * queued COMMIT of an aborted transaction is a ROLLBACK (PostgreSQL
 * answers it with that tag), so it always ends here. */
static void
store_queue_open(struct store_op *op, bool new_refresh)
{
	const char *v[2] = { op->s->source, new_refresh ? "t" : "f" };

	store_send(op, STORE_STEP_BEGIN, "BEGIN", 0, NULL);
	store_send(op, STORE_STEP_START, "SELECT dir_store_begin($1, $2)", 2,
	    v);
}

static void
store_queue_close(struct store_op *op, const char *cookie, bool set_cookie)
{
	char steps[16];
	const char *v[4] = { op->s->source, steps, set_cookie ? "t" : "f",
	    cookie };

	snprintf(steps, sizeof(steps), "%u", op->nsteps - 2);
	store_send(op, STORE_STEP_FINISH, "SELECT dir_store_finish($1, "
	    "$2::int, $3::boolean, $4::bytea)", 4, v);
	store_send(op, STORE_STEP_COMMIT, "COMMIT", 0, NULL);
}

/* ---- the initial load in bulk (schema/pg/004_initial_load.sql) -------- */

/* The batch's rows appended to the staging tables in one statement (see
 * 008_stage_batch.sql for why not several), numbered on from the
 * previous batch's: the order decides which sending of an id wins.
 * Presence marks mean nothing here (the mirror was empty).  Sent alone,
 * PostgreSQL runs it as a transaction of its own; after a BEGIN it opens
 * the store's transaction, as dir_store_begin() does. */
static void
store_queue_stage_batch(struct store_op *op, const struct store_batch *b,
    const struct store_params *p)
{
	struct store *s = op->s;
	char ord[32];
	const char *v[3 + STORE_NUSER + 1 + STORE_NGROUP + 3 + 1] = {
		s->source, b->refresh == STORE_REFRESH_BEGIN ? "t" : "f", ord,
	};
	size_t i = 3;

	if (b->refresh == STORE_REFRESH_BEGIN)
		s->bulk_ord = 1;
	snprintf(ord, sizeof(ord), "%lld", s->bulk_ord);
	for (size_t k = 0; k < DS_ARRAY_SIZE(p->user); k++)
		v[i++] = p->user[k];
	for (size_t k = 0; k < DS_ARRAY_SIZE(p->group); k++)
		v[i++] = p->group[k];
	for (size_t k = 0; k < DS_ARRAY_SIZE(p->members); k++)
		v[i++] = p->members[k];
	v[i++] = p->deleted;
	store_send(op, STORE_STEP_STAGE_BATCH, sql_stage_batch, (int)i, v);
	s->bulk_ord += (long long)(b->user_count + b->group_count +
	    b->deleted_count);
}

/* A batch of a bulk load: staged in a short transaction of its own; the
 * refresh's last batch also moves everything into the mirror and stores
 * the cookie, in one transaction.  Until then no cookie is stored (it
 * waits in the store): a crash before the end finds no cookie and an
 * empty mirror, and starts the load again. */
static void
store_queue_bulk(struct store_op *op, const struct store_batch *b,
    struct store_params *p)
{
	struct store *s = op->s;
	const char *v[1] = { s->source };

	op->bulk = true;
	s->bulk = true;
	if (p->cookie != NULL) {
		free(s->bulk_cookie);
		s->bulk_cookie = p->cookie;
		p->cookie = NULL;
	}
	if (b->refresh != STORE_REFRESH_END_PRESENT &&
	    b->refresh != STORE_REFRESH_END_DELETE) {
		store_queue_stage_batch(op, b, p);
		return;
	}
	store_send(op, STORE_STEP_BEGIN, "BEGIN", 0, NULL);
	store_queue_stage_batch(op, b, p);
	op->bulk_end = true;
	store_send(op, STORE_STEP_BULK_FINISH, sql_bulk_finish, 1, v);
	store_queue_close(op, s->bulk_cookie, s->bulk_cookie != NULL);
}

/* A group's member list by difference cannot be staged: the staging
 * tables hold whole lists. */
static bool
store_has_member_changes(const struct store_batch *b)
{
	if (b->member_change_count > 0)
		return true;
	for (size_t i = 0; i < b->group_count; i++)
		if (b->groups[i].keep_members)
			return true;
	return false;
}

/* Whether b belongs to a bulk load: one being staged, or one b would
 * start. */
static bool
store_may_bulk(const struct store *s, const struct store_batch *b)
{
	return s->bulk || (b->refresh == STORE_REFRESH_BEGIN &&
	    s->bulk_eligible && !s->bulk_disabled);
}

/* store_may_bulk(), saying so when b starts the load. */
static bool
store_is_bulk(struct store *s, const struct store_batch *b)
{
	if (!store_may_bulk(s, b))
		return false;
	if (!s->bulk)
		log_obj_info(STORE_OBJ, "initial sync into an empty mirror: "
		    "staging it and loading it in one transaction at the end "
		    "source=%s", s->source);
	return true;
}

int
store_write(struct store *s, const struct store_batch *b, store_write_cb cb,
    void *arg)
{
	struct store_params p;
	struct store_op *op;

	if (s->write != NULL || b == NULL ||
	    (size_t)b->refresh >= DS_ARRAY_SIZE(store_refresh_names) ||
	    pgconn_get_state(s->pg) != PGCONN_READY)
		return -1;
	if (s->bulk && b->refresh == STORE_REFRESH_NONE) {
		/* The mirror ends a refresh before anything else: a bug. */
		log_obj_error(STORE_OBJ, "a batch outside the refresh while "
		    "an initial load is being staged source=%s", s->source);
		s->bulk = s->bulk_eligible = false;
		return -1;
	}
	if (store_may_bulk(s, b) && store_has_member_changes(b)) {
		/* Refused once: the mirror starts the refresh again, and
		 * bulk_disabled sends it batch by batch, also after the
		 * mirror reloads the state (which makes it eligible again). */
		log_obj_warning(STORE_OBJ, "member lists by difference in an "
		    "initial sync: loading it batch by batch instead source=%s",
		    s->source);
		s->bulk = s->bulk_eligible = false;
		s->bulk_disabled = true;
		return -1;
	}
	store_params_build(&p, b);
	if (p.oom) {
		store_params_free(&p);
		log_obj_error(STORE_OBJ, "out of memory building a batch of "
		    "%zu rows source=%s", store_batch_size(b), s->source);
		return -1;
	}
	if (p.repaired > 0)
		log_obj_warning(STORE_OBJ, "%u values in this batch are not "
		    "valid UTF-8; each bad byte is stored as U+FFFD "
		    "source=%s first=\"%s\"", p.repaired, s->source,
		    p.first_repaired);
	op = store_op_new(s, STORE_OP_WRITE, arg);
	op->cb.write = cb;
	op->refresh = b->refresh;
	s->write = op;
	if (store_is_bulk(s, b)) {
		store_queue_bulk(op, b, &p);
		store_params_free(&p);
		return 0;
	}
	store_queue_open(op, b->refresh == STORE_REFRESH_BEGIN);
	store_queue_rows(op, b, &p);
	store_queue_end(op, b);
	store_queue_close(op, p.cookie, b->cookie_len > 0 || b->clear_cookie);
	store_params_free(&p);
	return 0;
}

bool
store_busy(const struct store *s)
{
	return s->write != NULL;
}

/* ---- state, confirmation, counts -------------------------------------- */

static void
store_handle_state_step(struct store_op *op, enum store_step step,
    const struct pgresult *res)
{
	struct store_state *st = &op->state;
	const char *hex = pgresult_value(res, 0, 3);

	if (step == STORE_STEP_STATE_ENSURE) {
		st->found = store_value_ll(res, 0) == 0;
		return;
	}
	if (step == STORE_STEP_STATE_EMPTY) {
		st->mirror_empty = store_value_bool(res, 0);
		return;
	}
	if (step != STORE_STEP_STATE_SYNC || pgresult_ntuples(res) == 0)
		return;
	if (pgresult_value(res, 0, 0) != NULL)
		log_obj_info(STORE_OBJ, "cookie discarded reason=%s source=%s "
		    "had_cookie=%s old_server=\"%s\" new_server=\"%s\"",
		    pgresult_value(res, 0, 0), store_src(op),
		    pgresult_value(res, 0, 2), pgresult_value(res, 0, 1),
		    st->server_id);
	if (hex != NULL && *hex != '\0') {
		st->cookie_len = strlen(hex) / 2;
		st->cookie = ds_calloc(1, st->cookie_len);
		for (size_t i = 0; i < st->cookie_len; i++)
			(void)sscanf(hex + 2 * i, "%2hhx", &st->cookie[i]);
	}
	st->refresh_gen = store_value_ll(res, 4);
	st->guard_count = store_value_u(res, 5);
	st->guard_since = store_value_ll(res, 6);
}

/* The callback may not be able to run later (no event base here), so a
 * connection that is not ready is reported at once. */
void
store_load_state(struct store *s, const char *server_id, const char *base_dn,
    store_state_cb cb, void *arg)
{
	const char *v[4] = { s->source, server_id ? server_id : "",
	    base_dn ? base_dn : "", s->method };
	struct store_op *op;

	if (pgconn_get_state(s->pg) != PGCONN_READY) {
		if (cb != NULL)
			cb(false, NULL, "connection not ready", arg);
		return;
	}
	op = store_op_new(s, STORE_OP_LOAD, arg);
	op->cb.state = cb;
	snprintf(op->state.server_id, sizeof(op->state.server_id), "%s", v[1]);
	store_send(op, STORE_STEP_BEGIN, "BEGIN", 0, NULL);
	store_send(op, STORE_STEP_STATE_ENSURE, sql_state_ensure, 4, v);
	store_send(op, STORE_STEP_STATE_SYNC, sql_state_sync, 4, v);
	store_send(op, STORE_STEP_STATE_EMPTY, sql_state_empty, 0, NULL);
	store_send(op, STORE_STEP_COMMIT, "COMMIT", 0, NULL);
}

int
store_confirm_deletes(struct store *s, store_done_cb cb, void *arg)
{
	const char *v[1] = { s->source };
	struct store_op *op;

	if (pgconn_get_state(s->pg) != PGCONN_READY)
		return -1;
	op = store_op_new(s, STORE_OP_CONFIRM, arg);
	op->cb.done = cb;
	store_queue_open(op, false);
	store_send(op, STORE_STEP_CONFIRM, sql_confirm, 1, v);
	store_queue_close(op, NULL, false);
	return 0;
}

int
store_counts(struct store *s, store_counts_cb cb, void *arg)
{
	struct store_op *op;

	if (pgconn_get_state(s->pg) != PGCONN_READY)
		return -1;
	op = store_op_new(s, STORE_OP_COUNTS, arg);
	op->cb.counts = cb;
	store_send(op, STORE_STEP_COUNTS, sql_counts, 0, NULL);
	return 0;
}

static void
store_handle_step(struct store_op *op, enum store_step step,
    const struct pgresult *res)
{
	switch (op->kind) {
	case STORE_OP_WRITE:
		store_handle_write_step(op, step, res);
		break;
	case STORE_OP_LOAD:
		store_handle_state_step(op, step, res);
		break;
	case STORE_OP_CONFIRM:
		if (step == STORE_STEP_CONFIRM) {
			op->guard_tripped = store_value_bool(res, 0);
			op->report.deleted = store_value_u(res, 1);
		}
		break;
	case STORE_OP_COUNTS:
		op->counts.users = store_value_ll(res, 0);
		op->counts.groups = store_value_ll(res, 1);
		op->counts.memberships = store_value_ll(res, 2);
		op->counts.dangling_managers = store_value_ll(res, 3);
		break;
	}
}

/* Every answer is in: tell the owner (unless it freed the store). */
static void
store_complete(struct store_op *op)
{
	bool ok = !op->failed, live = op->s != NULL;
	enum log_level level = op->lost ? LOG_LEVEL_WARNING : LOG_LEVEL_ERROR;

	switch (op->kind) {
	case STORE_OP_WRITE:
		store_report_write(op);
		return;
	case STORE_OP_LOAD:
		if (!ok)
			log_at(level, STORE_OBJ, "loading sync state failed "
			    "source=%s err=\"%s\"", store_src(op), op->error);
		if (ok && live) {
			/* A new start: whatever was being staged is dropped. */
			op->s->bulk = false;
			op->s->bulk_eligible = op->state.mirror_empty &&
			    op->state.cookie == NULL;
			store_log_pending_guard(op->s, &op->state);
		}
		if (live && op->cb.state != NULL)
			op->cb.state(ok, ok ? &op->state : NULL,
			    ok ? "" : op->error, op->arg);
		return;
	case STORE_OP_CONFIRM:
		if (!ok)
			log_at(level, STORE_OBJ, "confirming deletions failed "
			    "source=%s err=\"%s\"", store_src(op), op->error);
		else if (op->guard_tripped)
			log_obj_info(STORE_OBJ, "held-back deletions confirmed "
			    "source=%s deleted=%u", store_src(op),
			    op->report.deleted);
		else
			log_obj_info(STORE_OBJ, "confirm-deletes: no deletions "
			    "were held back source=%s", store_src(op));
		if (ok && live)
			op->s->guard_logged = 0;
		if (live && op->cb.done != NULL)
			op->cb.done(ok, ok ? "" : op->error, op->arg);
		return;
	case STORE_OP_COUNTS:
		if (live && op->cb.counts != NULL)
			op->cb.counts(ok, ok ? &op->counts : NULL, op->arg);
		return;
	}
}

static void
store_on_result(const struct pgresult *res, void *arg)
{
	struct store_op *op = arg;
	enum store_step step = op->steps[op->ndone++];

	if (!pgresult_ok(res))
		store_note_failure(op, step, res);
	else if (!op->failed && op->s != NULL)
		store_handle_step(op, step, res);
	if (op->ndone < op->nsteps)
		return;
	/* Unlinked first: the owner's callback may write again or free
	 * the store. */
	store_unlink(op);
	store_complete(op);
	store_state_clear(&op->state);
	free(op);
}

/* ---- life cycle ---------------------------------------------------------- */

static double
store_clamp_ratio(double ratio)
{
	return ratio > 0 ? (ratio < 1 ? ratio : 1) : 0;
}

struct store *
store_new(struct pgconn *pg, const char *source, const char *method,
    double max_delete_ratio)
{
	struct store *s = ds_calloc(1, sizeof(*s));

	s->pg = pg;
	s->source = ds_strdup(source);
	s->method = ds_strdup(method);
	s->max_delete_ratio = store_clamp_ratio(max_delete_ratio);
	s->delete_window_ms = STORE_DELETE_WINDOW_DEFAULT_MS;
	return s;
}

/* Operations in flight outlive the store: pgconn still runs their
 * callbacks, which then free them without reporting. */
void
store_free(struct store *s)
{
	if (s == NULL)
		return;
	for (struct store_op *op = s->ops; op != NULL; op = op->next)
		op->s = NULL;
	free(s->source);
	free(s->method);
	free(s->bulk_cookie);
	free(s);
}

void
store_set_deletes_remove_memberships(struct store *s, bool on)
{
	s->deletes_remove_memberships = on;
}

void
store_set_method(struct store *s, const char *method)
{
	free(s->method);
	s->method = ds_strdup(method);
}

void
store_set_max_delete_ratio(struct store *s, double ratio)
{
	s->max_delete_ratio = store_clamp_ratio(ratio);
}

void
store_set_delete_window(struct store *s, unsigned ms)
{
	s->delete_window_ms = ms;
}

