/* schema_sql.h - the migrations of schema/pg/, embedded at build time by
 * scripts/embed-sql.sh into schema_sql.c (generated, not in git). */
#ifndef DS_SCHEMA_SQL_H
#define DS_SCHEMA_SQL_H

#include <stddef.h>

struct schema_migration {
	int version;          /* NNN from the file name */
	const char *name;     /* the file name */
	const char *sql;      /* the file's text */
};

/* Sorted by version, strictly increasing. */
extern const struct schema_migration schema_migrations[];
extern const size_t schema_migration_count;

#endif
