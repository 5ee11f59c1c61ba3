/* store.c - the directory mirror's batched writer (see store.h): one
 * batch becomes one transaction of a handful of statements, each a call
 * of a dir_store_* function (schema/pg/002_mirror.sql) that receives the
 * batch's rows as text-array parameters.
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

#define STORE_OBJ "mirror=store"
#define STORE_MAX_STEPS 16

/* ---- SQL ------------------------------------------------------------- */

/* The batch statements are functions of schema/pg/002_mirror.sql, which
 * explains them; each takes the batch as parallel text arrays and passes
 * its count through dir_store_tally(). */
static const char sql_upsert_users[] =
    "SELECT * FROM dir_store_upsert_users($1, $2, $3, $4, $5, $6, $7, $8, "
    "$9, $10, $11, $12, $13, $14)";
static const char sql_upsert_groups[] =
    "SELECT * FROM dir_store_upsert_groups($1, $2, $3, $4, $5, $6)";
static const char sql_members[] =
    "SELECT dir_store_set_members($1, $2, $3, $4)";
static const char sql_delete[] = "SELECT dir_store_delete($1, $2)";
static const char sql_present[] = "SELECT dir_store_present($1, $2)";
static const char sql_refresh_end[] =
    "SELECT * FROM dir_store_refresh_end($1, $2, $3)";
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
	STORE_STEP_DELETE,       /* delete, or mark deleted in a refresh */
	STORE_STEP_PRESENT,      /* presence marks */
	STORE_STEP_REFRESH_END,  /* deletions of the refresh, or the guard */
	STORE_STEP_CONFIRM,      /* held-back deletions */
	STORE_STEP_FINISH,       /* check every step ran, cookie, NOTIFY */
	STORE_STEP_COMMIT,
	STORE_STEP_STATE_ENSURE, /* create the source's row if missing */
	STORE_STEP_STATE_SYNC,   /* read it; discard another server's cookie */
	STORE_STEP_COUNTS,
};

static const char *const store_step_names[] = {
	[STORE_STEP_BEGIN] = "begin",
	[STORE_STEP_START] = "start",
	[STORE_STEP_USERS] = "upsert_users",
	[STORE_STEP_GROUPS] = "upsert_groups",
	[STORE_STEP_MEMBERS] = "members",
	[STORE_STEP_DELETE] = "delete",
	[STORE_STEP_PRESENT] = "present",
	[STORE_STEP_REFRESH_END] = "refresh_end",
	[STORE_STEP_CONFIRM] = "confirm_deletes",
	[STORE_STEP_FINISH] = "finish",
	[STORE_STEP_COMMIT] = "commit",
	[STORE_STEP_STATE_ENSURE] = "state_ensure",
	[STORE_STEP_STATE_SYNC] = "state_sync",
	[STORE_STEP_COUNTS] = "counts",
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
	enum store_refresh_op refresh;
	struct store_write_report report;
	struct store_state state;
	struct store_counts counts;
};

struct store {
	struct pgconn *pg;
	char *source;
	char *method;
	double max_delete_ratio;
	struct store_op *ops;    /* in flight, newest first */
	struct store_op *write;  /* the write in flight, if any */
};

/* ---- array literals ---------------------------------------------------- */

/* One growing buffer: doubling keeps appends amortised O(1).  Its size
 * follows the batch, so running out of memory fails the write instead
 * of aborting the daemon. */
struct store_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void
store_buf_add(struct store_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Appends one element of an array literal: "..." with \ and " escaped
 * (the array parser's quoting, which also protects commas, braces,
 * spaces and the word NULL), or a bare NULL for a NULL pointer.  The
 * first element opens the literal; store_arr_end() closes it. */
static void
store_arr_add(struct store_buf *b, const char *s)
{
	store_buf_add(b, b->len == 0 ? "{" : ",", 1);
	if (s == NULL) {
		store_buf_add(b, "NULL", 4);
		return;
	}
	store_buf_add(b, "\"", 1);
	while (*s != '\0') {
		size_t run = strcspn(s, "\\\"");

		store_buf_add(b, s, run);
		s += run;
		if (*s == '\0')
			break;
		store_buf_add(b, "\\", 1);
		store_buf_add(b, s++, 1);
	}
	store_buf_add(b, "\"", 1);
}

/* The finished literal (malloc'd), or NULL when memory ran out. */
static char *
store_arr_end(struct store_buf *b)
{
	store_buf_add(b, b->len == 0 ? "{}" : "}", b->len == 0 ? 2 : 1);
	if (!b->oom)
		return b->p;
	free(b->p);
	return NULL;
}

/* A text[] literal of the char * found at offset within each of n
 * records stride bytes apart: plain string arrays (stride sizeof(char
 * *), offset 0) and one field of a struct array alike. */
static char *
store_array(const void *base, size_t n, size_t stride, size_t offset)
{
	struct store_buf b = { 0 };

	for (size_t i = 0; i < n; i++) {
		const char *s;

		memcpy(&s, (const char *)base + i * stride + offset, sizeof(s));
		store_arr_add(&b, s);
	}
	return store_arr_end(&b);
}

/* bytea in its hex text form, \x..., for a text parameter. */
static char *
store_hex(const unsigned char *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(2 * len + 3), *p = s;

	if (s == NULL)
		return NULL;
	*p++ = '\\';
	*p++ = 'x';
	for (size_t i = 0; i < len; i++) {
		*p++ = digits[data[i] >> 4];
		*p++ = digits[data[i] & 15];
	}
	*p = '\0';
	return s;
}

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
		op->guard_tripped = store_value_bool(res, 2);
		r->guard_count = op->guard_tripped ? store_value_u(res, 0) : 0;
		op->guard_total = store_value_u(res, 1);
		r->deleted += store_value_u(res, 3);
		break;
	case STORE_STEP_FINISH:
		op->changed = store_value_ll(res, 0);
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
	} else {
		r->result = op->guard_tripped ? STORE_GUARD_TRIPPED : STORE_OK;
		if (op->guard_tripped)
			log_obj_warning(STORE_OBJ, "delete guard tripped: %u of "
			    "%u users (%.1f%%) would be deleted; run dirsyncctl "
			    "sync --confirm-deletes", r->guard_count,
			    op->guard_total, 100.0 * r->guard_count /
			    op->guard_total);
		if (op->parked > 0)
			log_obj_info(STORE_OBJ, "parked %u stale rows whose DN "
			    "another entry now holds", op->parked);
		log_obj_debug(STORE_OBJ, "batch committed source=%s refresh=%s "
		    "users=%u groups=%u deleted=%u present=%u changed=%lld "
		    "ms=%ld", store_src(op), store_refresh_names[op->refresh],
		    r->users_written, r->groups_written, r->deleted,
		    r->marked_present, op->changed, store_elapsed_ms(op));
	}
	if (op->s != NULL && op->cb.write != NULL)
		op->cb.write(r, op->arg);
}

/* The text fields of a store_user, in the order of sql_upsert_users'
 * parameters $2..$13 (uid is the login).  Also what reset frees. */
static const size_t store_user_fields[] = {
	offsetof(struct store_user, id),
	offsetof(struct store_user, dn),
	offsetof(struct store_user, dn_norm),
	offsetof(struct store_user, login),
	offsetof(struct store_user, login_alt),
	offsetof(struct store_user, full_name),
	offsetof(struct store_user, given_name),
	offsetof(struct store_user, surname),
	offsetof(struct store_user, email),
	offsetof(struct store_user, manager_dn),
	offsetof(struct store_user, manager_dn_norm),
	offsetof(struct store_user, user_type),
};
#define STORE_NUSER DS_ARRAY_SIZE(store_user_fields)

static const size_t store_group_fields[] = {
	offsetof(struct store_group, id),
	offsetof(struct store_group, dn),
	offsetof(struct store_group, dn_norm),
	offsetof(struct store_group, name),
	offsetof(struct store_group, description),
};
#define STORE_NGROUP DS_ARRAY_SIZE(store_group_fields)

/* Every parameter of one write, built before anything is queued so that
 * running out of memory leaves nothing half sent.  pgconn copies what
 * it queues: all of it is freed when store_write() returns. */
struct store_params {
	char *user[STORE_NUSER + 1];   /* + disabled */
	char *group[STORE_NGROUP];
	char *members[3];              /* group id, dn, dn_norm per member */
	char *deleted, *present, *cookie;
	bool oom;
};

static char *
store_param(struct store_params *p, char *s)
{
	if (s == NULL)
		p->oom = true;
	return s;
}

/* The members of the batch's groups, flattened into three parallel
 * arrays: group id, member DN, member DN normalised. */
static void
store_params_members(struct store_params *p, const struct store_batch *b)
{
	struct store_buf m[3] = { { 0 } };

	for (size_t i = 0; i < b->group_count; i++) {
		const struct store_group *g = &b->groups[i];

		for (size_t j = 0; j < g->member_count; j++) {
			store_arr_add(&m[0], g->id);
			store_arr_add(&m[1], g->member_dn[j]);
			store_arr_add(&m[2], g->member_dn_norm[j]);
		}
	}
	for (size_t i = 0; i < 3; i++)
		p->members[i] = store_param(p, store_arr_end(&m[i]));
}

static void
store_params_build(struct store_params *p, const struct store_batch *b)
{
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; b->user_count > 0 && i < STORE_NUSER; i++)
		p->user[i] = store_param(p, store_array(b->users,
		    b->user_count, sizeof(*b->users), store_user_fields[i]));
	if (b->user_count > 0) {
		struct store_buf d = { 0 };

		for (size_t i = 0; i < b->user_count; i++)
			store_arr_add(&d, b->users[i].disabled ? "t" : "f");
		p->user[STORE_NUSER] = store_param(p, store_arr_end(&d));
	}
	for (size_t i = 0; b->group_count > 0 && i < STORE_NGROUP; i++)
		p->group[i] = store_param(p, store_array(b->groups,
		    b->group_count, sizeof(*b->groups), store_group_fields[i]));
	if (b->group_count > 0)
		store_params_members(p, b);
	if (b->deleted_count > 0)
		p->deleted = store_param(p, store_array(b->deleted_ids,
		    b->deleted_count, sizeof(char *), 0));
	if (b->present_count > 0)
		p->present = store_param(p, store_array(b->present_ids,
		    b->present_count, sizeof(char *), 0));
	if (b->cookie_len > 0)
		p->cookie = store_param(p, store_hex(b->cookie, b->cookie_len));
}

static void
store_params_free(struct store_params *p)
{
	for (size_t i = 0; i < DS_ARRAY_SIZE(p->user); i++)
		free(p->user[i]);
	for (size_t i = 0; i < DS_ARRAY_SIZE(p->group); i++)
		free(p->group[i]);
	for (size_t i = 0; i < DS_ARRAY_SIZE(p->members); i++)
		free(p->members[i]);
	free(p->deleted);
	free(p->present);
	free(p->cookie);
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
		v[0] = p->group[0];
		memcpy(&v[1], p->members, sizeof(p->members));
		store_send(op, STORE_STEP_MEMBERS, sql_members, 4, v);
	}
	if (b->deleted_count > 0) {
		v[0] = p->deleted;
		v[1] = refresh ? "t" : "f";
		store_send(op, STORE_STEP_DELETE, sql_delete, 2, v);
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
	store_params_build(&p, b);
	if (p.oom) {
		store_params_free(&p);
		log_obj_error(STORE_OBJ, "out of memory building a batch of "
		    "%zu rows source=%s", store_batch_size(b), s->source);
		return -1;
	}
	op = store_op_new(s, STORE_OP_WRITE, arg);
	op->cb.write = cb;
	op->refresh = b->refresh;
	s->write = op;
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
	free(s);
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

/* ---- batches ------------------------------------------------------------ */

static void *
store_grow(void *arr, size_t count, size_t *cap, size_t elem)
{
	if (count < *cap)
		return arr;
	*cap = *cap > 0 ? 2 * *cap : 64;
	return ds_realloc(arr, *cap * elem);
}

struct store_user *
store_batch_add_user(struct store_batch *b)
{
	struct store_user *u;

	b->users = store_grow(b->users, b->user_count, &b->user_cap,
	    sizeof(*b->users));
	u = &b->users[b->user_count++];
	memset(u, 0, sizeof(*u));
	return u;
}

struct store_group *
store_batch_add_group(struct store_batch *b)
{
	struct store_group *g;

	b->groups = store_grow(b->groups, b->group_count, &b->group_cap,
	    sizeof(*b->groups));
	g = &b->groups[b->group_count++];
	memset(g, 0, sizeof(*g));
	return g;
}

static void
store_push_id(char ***ids, size_t *count, size_t *cap, const char *id)
{
	*ids = store_grow(*ids, *count, cap, sizeof(char *));
	(*ids)[(*count)++] = ds_strdup(id);
}

void
store_batch_add_deleted(struct store_batch *b, const char *id)
{
	store_push_id(&b->deleted_ids, &b->deleted_count, &b->deleted_cap, id);
}

void
store_batch_add_present(struct store_batch *b, const char *id)
{
	store_push_id(&b->present_ids, &b->present_count, &b->present_cap, id);
}

void
store_batch_set_cookie(struct store_batch *b, const void *cookie, size_t len)
{
	free(b->cookie);
	b->cookie = NULL;
	b->cookie_len = 0;
	if (cookie == NULL || len == 0)
		return;
	b->cookie = ds_calloc(1, len);
	memcpy(b->cookie, cookie, len);
	b->cookie_len = len;
}

size_t
store_batch_size(const struct store_batch *b)
{
	size_t n = b->user_count + b->group_count + b->deleted_count +
	    b->present_count;

	for (size_t i = 0; i < b->group_count; i++)
		n += b->groups[i].member_count;
	return n;
}

static void
store_free_fields(void *rec, const size_t *offsets, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char **field = (char **)((char *)rec + offsets[i]);

		free(*field);
	}
}

void
store_batch_reset(struct store_batch *b)
{
	for (size_t i = 0; i < b->user_count; i++)
		store_free_fields(&b->users[i], store_user_fields, STORE_NUSER);
	for (size_t i = 0; i < b->group_count; i++) {
		struct store_group *g = &b->groups[i];

		store_free_fields(g, store_group_fields, STORE_NGROUP);
		for (size_t j = 0; j < g->member_count; j++) {
			free(g->member_dn[j]);
			free(g->member_dn_norm[j]);
		}
		free(g->member_dn);
		free(g->member_dn_norm);
	}
	for (size_t i = 0; i < b->deleted_count; i++)
		free(b->deleted_ids[i]);
	for (size_t i = 0; i < b->present_count; i++)
		free(b->present_ids[i]);
	store_batch_set_cookie(b, NULL, 0);
	b->user_count = b->group_count = 0;
	b->deleted_count = b->present_count = 0;
	b->refresh = STORE_REFRESH_NONE;
	b->clear_cookie = false;
}

void
store_batch_free(struct store_batch *b)
{
	if (b == NULL)
		return;
	store_batch_reset(b);
	free(b->users);
	free(b->groups);
	free(b->deleted_ids);
	free(b->present_ids);
	memset(b, 0, sizeof(*b));
}

void
store_state_clear(struct store_state *st)
{
	if (st == NULL)
		return;
	free(st->cookie);
	memset(st, 0, sizeof(*st));
}
