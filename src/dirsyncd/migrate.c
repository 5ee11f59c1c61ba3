/* migrate.c - brings the database schema up to this binary's version
 * (migrate.h) with a chain of asynchronous queries on pgconn.  It must
 * never change a database that is newer than the binary, and never apply
 * a migration outside the transaction that also records it. */
#include "migrate.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgconn.h"
#include "schema_sql.h"

#define MIGRATE_OBJ "migrate"

/* The session advisory lock key: "dirsync" in ASCII read as a number.  A
 * literal, not hashtext('...'), whose value PostgreSQL does not promise
 * to keep across major versions: daemons of different builds must agree
 * on it. */
#define MIGRATE_LOCK_KEY "28263437955591779"

/* Session advisory locks stack: a run reset while its lock request was
 * still in flight on a live connection would leave one hold behind that
 * no unlock matches, and every other daemon would wait forever.  So the
 * lock is only taken when this session does not hold it already (a
 * bigint key shows in pg_locks as classid = high, objid = low half).
 * The same query reads the database's encoding (migrate_check_encoding). */
#define MIGRATE_LOCK_SQL \
	"SELECT current_setting('server_encoding'), " \
	"(SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ") WHERE NOT EXISTS (" \
	"SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted " \
	"AND pid = pg_backend_pid() AND objsubid = 1 " \
	"AND (classid::bigint << 32 | objid::bigint) = " MIGRATE_LOCK_KEY "))"

/* Where the chain of queries is; the public state says how a run ended. */
enum migrate_step {
	MIGRATE_STEP_NONE = 0, /* no query of this run outstanding */
	MIGRATE_STEP_LOCK,     /* pg_advisory_lock: waits (in the server, not
	                          here) while another daemon migrates */
	MIGRATE_STEP_TABLE,    /* create schema_version if it is missing */
	MIGRATE_STEP_VERSION,  /* reading max(version) */
	MIGRATE_STEP_APPLY,    /* one migration plus its schema_version row,
	                          in one transaction */
	MIGRATE_STEP_ROLLBACK, /* ending the transaction a failure aborted */
	MIGRATE_STEP_UNLOCK,   /* pg_advisory_unlock; then report outcome */
};

struct migrate {
	struct pgconn *pg;
	migrate_done_cb cb;
	void *arg;
	enum migrate_state state;
	enum migrate_step step;
	enum migrate_state outcome; /* reported once the lock is released */
	size_t next;                /* schema_migrations index being applied */
	int db_version;             /* -1 until read */
	unsigned applied;           /* since the process started */
	unsigned applied_run;       /* in the current run */
	/* pgconn runs every callback exactly once, in FIFO order, even when
	 * the connection is lost or freed.  A reset run's answer therefore
	 * still arrives, always before any answer of a later run: count
	 * them and swallow them. */
	bool pending;               /* a query of this run is outstanding */
	unsigned stale;             /* answers of reset runs still to come */
	bool orphaned;              /* freed by the owner; last answer frees */
	char last_error[512];
};

static const char *const migrate_state_names[] = {
	[MIGRATE_IDLE] = "idle",
	[MIGRATE_RUNNING] = "running",
	[MIGRATE_DONE] = "done",
	[MIGRATE_TOO_NEW] = "too-new",
	[MIGRATE_FAILED] = "failed",
};

static const char *const migrate_step_names[] = {
	[MIGRATE_STEP_NONE] = "none",
	[MIGRATE_STEP_LOCK] = "lock",
	[MIGRATE_STEP_TABLE] = "create_table",
	[MIGRATE_STEP_VERSION] = "read_version",
	[MIGRATE_STEP_APPLY] = "apply",
	[MIGRATE_STEP_ROLLBACK] = "rollback",
	[MIGRATE_STEP_UNLOCK] = "unlock",
};

static void migrate_on_result(const struct pgresult *res, void *arg);

const char *
migrate_state_name(enum migrate_state state)
{
	if ((size_t)state >= DS_ARRAY_SIZE(migrate_state_names))
		return "unknown";
	return migrate_state_names[state];
}

int
migrate_binary_version(void)
{
	if (schema_migration_count == 0)
		return 0;
	return schema_migrations[schema_migration_count - 1].version;
}

/* The one place the state changes.  A finished run (DONE, TOO_NEW,
 * FAILED) is reported to the owner last: the callback may free m. */
static void
migrate_set_state(struct migrate *m, enum migrate_state state)
{
	m->state = state;
	switch (state) {
	case MIGRATE_IDLE:
		log_obj_debug(MIGRATE_OBJ, "state=idle");
		return;
	case MIGRATE_RUNNING:
		log_obj_debug(MIGRATE_OBJ, "state=running binary_version=%d",
		    migrate_binary_version());
		return;
	case MIGRATE_DONE:
		if (m->applied_run == 0)
			log_obj_info(MIGRATE_OBJ, "schema up to date version=%d",
			    m->db_version);
		else
			log_obj_info(MIGRATE_OBJ, "state=done version=%d "
			    "applied=%u", m->db_version, m->applied_run);
		break;
	case MIGRATE_TOO_NEW:
	case MIGRATE_FAILED:
		log_obj_error(MIGRATE_OBJ, "state=%s err=\"%s\"",
		    migrate_state_name(state), m->last_error);
		break;
	}
	if (m->cb != NULL)
		m->cb(m, state, m->arg);
}

/* The connection went away (or was never READY): the server rolled back
 * any open transaction and dropped the session lock, so forgetting the
 * run is safe; the owner starts it again on the next READY. */
static void
migrate_interrupt(struct migrate *m, const char *why)
{
	log_obj_info(MIGRATE_OBJ, "interrupted step=%s err=\"%s\"; it runs "
	    "again when the connection is back", migrate_step_names[m->step],
	    why);
	m->step = MIGRATE_STEP_NONE;
	migrate_set_state(m, MIGRATE_IDLE);
}

static void
migrate_send(struct migrate *m, enum migrate_step step, const char *sql)
{
	m->step = step;
	log_obj_debug(MIGRATE_OBJ, "step=%s", migrate_step_names[step]);
	if (pgconn_query(m->pg, sql, 0, NULL, migrate_on_result, m) != 0) {
		migrate_interrupt(m, "connection not ready");
		return;
	}
	m->pending = true;
}

/* The outcome is known: release the lock, then report it. */
static void
migrate_finish(struct migrate *m, enum migrate_state outcome)
{
	m->outcome = outcome;
	migrate_send(m, MIGRATE_STEP_UNLOCK,
	    "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")");
}

/* "BEGIN; " shares the file's first line, so the line numbers the server
 * reports in an error are the file's own.  The ";" after the file stands
 * on its own line in case the file ends in a "--" comment.  The name is
 * a file name from the build, quoted all the same. */
static char *
migrate_build_apply(const struct schema_migration *mig)
{
	size_t size = strlen(mig->sql) + 2 * strlen(mig->name) + 128;
	char *sql = malloc(size), *quoted = malloc(2 * strlen(mig->name) + 1);
	char *q = quoted;

	if (sql == NULL || quoted == NULL) {
		free(sql);
		free(quoted);
		return NULL;
	}
	for (const char *p = mig->name; *p; p++) {
		if (*p == '\'')
			*q++ = '\'';
		*q++ = *p;
	}
	*q = '\0';
	snprintf(sql, size, "BEGIN; %s\n;\nINSERT INTO schema_version "
	    "(version, name) VALUES (%d, '%s');\nCOMMIT;", mig->sql,
	    mig->version, quoted);
	free(quoted);
	return sql;
}

/* Send the first migration newer than the database, or finish. */
static void
migrate_apply_next(struct migrate *m)
{
	char *sql;

	while (m->next < schema_migration_count &&
	    schema_migrations[m->next].version <= m->db_version)
		m->next++;
	if (m->next == schema_migration_count) {
		migrate_finish(m, MIGRATE_DONE);
		return;
	}
	sql = migrate_build_apply(&schema_migrations[m->next]);
	if (sql == NULL) {
		snprintf(m->last_error, sizeof(m->last_error),
		    "out of memory building migration %s",
		    schema_migrations[m->next].name);
		migrate_finish(m, MIGRATE_FAILED);
		return;
	}
	migrate_send(m, MIGRATE_STEP_APPLY, sql);
	free(sql);
}

/* The directory speaks UTF-8.  In a LATIN1 database a name in another
 * script would fail its batch again at every retry, and in a SQL_ASCII
 * one nothing is checked or converted at all: refuse before anything is
 * written, saying what to do.  False when refused. */
static bool
migrate_check_encoding(struct migrate *m, const struct pgresult *res)
{
	const char *enc = pgresult_value(res, 0, 0);

	if (enc != NULL && strcmp(enc, "UTF8") == 0)
		return true;
	snprintf(m->last_error, sizeof(m->last_error),
	    "the database's encoding is %s; dirsync needs UTF8 (CREATE "
	    "DATABASE ... ENCODING 'UTF8' TEMPLATE template0)",
	    enc != NULL ? enc : "unknown");
	migrate_finish(m, MIGRATE_FAILED);
	return false;
}

/* Read max(version) and decide: refuse, apply, or nothing to do. */
static void
migrate_handle_version(struct migrate *m, const struct pgresult *res)
{
	const char *v = pgresult_value(res, 0, 0);
	char *end = NULL;
	long version = v != NULL ? strtol(v, &end, 10) : -1;

	if (v == NULL || *end != '\0' || version < 0 || version > 1000000) {
		snprintf(m->last_error, sizeof(m->last_error),
		    "unexpected schema version \"%s\"", v ? v : "NULL");
		migrate_finish(m, MIGRATE_FAILED);
		return;
	}
	m->db_version = (int)version;
	if (m->db_version > migrate_binary_version()) {
		snprintf(m->last_error, sizeof(m->last_error),
		    "database schema version %d is newer than this dirsyncd "
		    "(knows up to %d); upgrade dirsyncd or restore the database",
		    m->db_version, migrate_binary_version());
		migrate_finish(m, MIGRATE_TOO_NEW);
		return;
	}
	m->next = 0;
	migrate_apply_next(m);
}

static void
migrate_handle_applied(struct migrate *m, const struct pgresult *res)
{
	const struct schema_migration *mig = &schema_migrations[m->next];

	if (!pgresult_ok(res)) {
		snprintf(m->last_error, sizeof(m->last_error),
		    "migration %s (version %d) failed: %s", mig->name,
		    mig->version, pgresult_error(res));
		m->outcome = MIGRATE_FAILED;
		/* The simple protocol skipped the rest of the string, COMMIT
		 * included: the transaction is open and aborted. */
		migrate_send(m, MIGRATE_STEP_ROLLBACK, "ROLLBACK");
		return;
	}
	m->db_version = mig->version;
	m->applied++;
	m->applied_run++;
	log_obj_info(MIGRATE_OBJ, "migration applied version=%d name=%s",
	    mig->version, mig->name);
	m->next++;
	migrate_apply_next(m);
}

/* One answer of the current run. */
static void
migrate_handle_result(struct migrate *m, const struct pgresult *res)
{
	/* pgconn leaves READY before it fails the queries of a lost
	 * connection, which tells a dropped session from an SQL error. */
	if (!pgresult_ok(res) && pgconn_get_state(m->pg) != PGCONN_READY) {
		migrate_interrupt(m, pgresult_error(res));
		return;
	}
	if (!pgresult_ok(res) && m->step != MIGRATE_STEP_APPLY &&
	    m->step != MIGRATE_STEP_ROLLBACK && m->step != MIGRATE_STEP_UNLOCK) {
		snprintf(m->last_error, sizeof(m->last_error), "step %s: %s",
		    migrate_step_names[m->step], pgresult_error(res));
		if (m->step == MIGRATE_STEP_LOCK) {
			/* No lock to release. */
			m->step = MIGRATE_STEP_NONE;
			migrate_set_state(m, MIGRATE_FAILED);
		} else {
			migrate_finish(m, MIGRATE_FAILED);
		}
		return;
	}
	switch (m->step) {
	case MIGRATE_STEP_LOCK:
		if (!migrate_check_encoding(m, res))
			break;
		/* Not a bare CREATE TABLE IF NOT EXISTS: that needs CREATE on
		 * the schema even when the table exists, and a daemon role
		 * without DDL rights must still start on an up-to-date
		 * database.  The advisory lock rules out a race. */
		migrate_send(m, MIGRATE_STEP_TABLE,
		    "DO $$BEGIN IF to_regclass('schema_version') IS NULL THEN "
		    "CREATE TABLE schema_version (version int PRIMARY KEY, "
		    "name text NOT NULL, "
		    "applied_at timestamptz NOT NULL DEFAULT now()); "
		    "END IF; END$$");
		break;
	case MIGRATE_STEP_TABLE:
		migrate_send(m, MIGRATE_STEP_VERSION,
		    "SELECT coalesce(max(version), 0) FROM schema_version");
		break;
	case MIGRATE_STEP_VERSION:
		migrate_handle_version(m, res);
		break;
	case MIGRATE_STEP_APPLY:
		migrate_handle_applied(m, res);
		break;
	case MIGRATE_STEP_ROLLBACK:
		migrate_finish(m, m->outcome);
		break;
	case MIGRATE_STEP_UNLOCK:
		/* A failed unlock is harmless: the lock ends with the
		 * session.  Report last, m may be freed by the owner. */
		m->step = MIGRATE_STEP_NONE;
		migrate_set_state(m, m->outcome);
		break;
	case MIGRATE_STEP_NONE:
		break;
	}
}

static void
migrate_on_result(const struct pgresult *res, void *arg)
{
	struct migrate *m = arg;

	if (m->stale > 0) {
		m->stale--; /* the answer to a run that was reset */
	} else if (!m->orphaned) {
		m->pending = false;
		/* May report the outcome, and the owner may free m then. */
		migrate_handle_result(m, res);
		return;
	} else {
		m->pending = false;
	}
	if (m->orphaned && m->stale == 0 && !m->pending)
		free(m);
}

struct migrate *
migrate_new(struct pgconn *pg, migrate_done_cb cb, void *arg)
{
	struct migrate *m = ds_calloc(1, sizeof(*m));

	/* The table is generated from sorted file names; a gap in the order
	 * would make migrate_binary_version() lie. */
	for (size_t i = 1; i < schema_migration_count; i++)
		if (schema_migrations[i].version <=
		    schema_migrations[i - 1].version)
			fatal("schema_migrations: %s is out of order",
			    schema_migrations[i].name);
	m->pg = pg;
	m->cb = cb;
	m->arg = arg;
	m->state = MIGRATE_IDLE;
	m->db_version = -1;
	return m;
}

void
migrate_start(struct migrate *m)
{
	if (m->state == MIGRATE_RUNNING) {
		log_obj_debug(MIGRATE_OBJ, "start ignored: already running");
		return;
	}
	m->applied_run = 0;
	m->outcome = MIGRATE_FAILED;
	m->last_error[0] = '\0';
	migrate_set_state(m, MIGRATE_RUNNING);
	migrate_send(m, MIGRATE_STEP_LOCK, MIGRATE_LOCK_SQL);
}

void
migrate_reset(struct migrate *m)
{
	if (m->pending) {
		m->stale++;
		m->pending = false;
	}
	m->step = MIGRATE_STEP_NONE;
	if (m->state != MIGRATE_IDLE)
		migrate_set_state(m, MIGRATE_IDLE);
}

/* Answers still due from pgconn would arrive at freed memory, so with
 * any outstanding the struct lives on until the last one. */
void
migrate_free(struct migrate *m)
{
	if (m == NULL)
		return;
	m->cb = NULL;
	if (m->pending || m->stale > 0) {
		m->orphaned = true;
		return;
	}
	free(m);
}

enum migrate_state
migrate_get_state(const struct migrate *m)
{
	return m->state;
}

int
migrate_db_version(const struct migrate *m)
{
	return m->db_version;
}

unsigned
migrate_applied_count(const struct migrate *m)
{
	return m->applied;
}

const char *
migrate_last_error(const struct migrate *m)
{
	return m->last_error;
}
