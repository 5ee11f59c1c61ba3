/* store_params.h - inside the store: a batch turned into the parameters
 * of the dir_store_* functions (schema/pg/002_mirror.sql and
 * 004_initial_load.sql), one PostgreSQL array literal per column, so a
 * batch of any size is a handful of statements.  Used by store.c only. */
#ifndef DS_STORE_PARAMS_H
#define DS_STORE_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include "store.h"

/* The text columns of a user (id .. user_type, the order of the SQL
 * functions' parameters) and of a group (id .. description). */
#define STORE_NUSER 12
#define STORE_NGROUP 5
/* How much of the first repaired value the log shows. */
#define STORE_REPAIRED_SHOWN 96

/* Every parameter of one write, built before anything is queued so that
 * running out of memory leaves nothing half sent.  pgconn copies what
 * it queues: all of it is freed when store_write() returns.  NULL where
 * the batch has no rows of that kind. */
struct store_params {
	char *user[STORE_NUSER + 1];   /* + disabled */
	char *group[STORE_NGROUP];
	char *member_groups;           /* groups whose lists are set */
	char *members[3];              /* group id, dn, dn_norm per member */
	char *changes[4];              /* group id, dn, dn_norm, add */
	char *deleted, *present, *cookie;
	char *deleted_gone;            /* deleted, not just out of view */
	bool oom;                      /* something could not be built */
	/* Values that were not valid UTF-8: each bad byte became U+FFFD. */
	unsigned repaired;
	char first_repaired[STORE_REPAIRED_SHOWN]; /* the first, as sent */
};

void store_params_build(struct store_params *p, const struct store_batch *b);
void store_params_free(struct store_params *p);

/* bytea in its hex text form, \x..., for a text parameter; NULL when out
 * of memory. */
char *store_hex(const unsigned char *data, size_t len);

#endif
