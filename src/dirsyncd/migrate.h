/* migrate.h - brings the database schema up to the version this binary
 * was built with, each time the PostgreSQL connection becomes ready.
 *
 * The migrations are schema/pg/NNN_name.sql, embedded into the binary at
 * build time (schema_sql.h) so binary and schema always agree.  A run
 * takes a session advisory lock (so two daemons starting together never
 * both migrate), creates schema_version if needed, applies each missing
 * migration in its own transaction together with its schema_version row,
 * and releases the lock.  A database whose version is newer than the
 * binary is refused (MIGRATE_TOO_NEW) and nothing is changed.
 *
 * Usage: migrate_new(), then migrate_start() whenever pgconn reaches
 * READY; the done callback runs once per start, unless the connection is
 * lost first: then the run goes back to MIGRATE_IDLE without a callback
 * (the server rolled back and released the lock) and the owner starts it
 * again on the next READY.  Event-loop thread only. */
#ifndef DS_MIGRATE_H
#define DS_MIGRATE_H

struct pgconn;
struct migrate;

enum migrate_state {
	MIGRATE_IDLE = 0,  /* not run on this connection yet */
	MIGRATE_RUNNING,   /* lock taken or being taken, applying */
	MIGRATE_DONE,      /* database at the binary's version */
	MIGRATE_TOO_NEW,   /* database newer than this binary: refused */
	MIGRATE_FAILED,    /* a migration failed (see last error) */
};

typedef void (*migrate_done_cb)(struct migrate *m, enum migrate_state result,
    void *arg);

struct migrate *migrate_new(struct pgconn *pg, migrate_done_cb cb, void *arg);
void migrate_start(struct migrate *m);
/* Forget progress after the connection was lost (next start reruns). */
void migrate_reset(struct migrate *m);
/* Safe while a query is outstanding: the memory is released when
 * pgconn runs its callback. */
void migrate_free(struct migrate *m);

enum migrate_state migrate_get_state(const struct migrate *m);
const char *migrate_state_name(enum migrate_state state);
/* Version found in (or brought to) the database; -1 before known. */
int migrate_db_version(const struct migrate *m);
/* Highest version embedded in this binary. */
int migrate_binary_version(void);
/* Migrations this process applied since start. */
unsigned migrate_applied_count(const struct migrate *m);
/* "" if none. */
const char *migrate_last_error(const struct migrate *m);

#endif
