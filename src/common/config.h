/* config.h - the configuration file: one declarative option table drives
 * the parser, `dirsyncd -t`, conf/dirsync.conf.example and the option list
 * checked against man/dirsync.conf.5, so they cannot disagree.
 *
 * Format (see dirsync.conf(5)): INI-style `[section]` headers and
 * `key = value` lines; full-line comments start with '#' or ';'; a value
 * may be double-quoted (\" and \\ escapes) to keep spaces.  Lists are
 * space-separated.  Secrets are never inline: `*_file` options name a file
 * that must not be readable by others.
 *
 * Usage: config_load() parses into a fresh struct and returns it only when
 * the whole file is valid; otherwise it returns NULL and every problem is
 * in the diagnostics as "FILE:LINE: message".  On reload, parse the new
 * file, then config_merge_reload() keeps the options that cannot change
 * at run time, and swap the pointer.  The parser never exits. */
#ifndef DS_CONFIG_H
#define DS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "compat.h"

enum config_sasl_mech {
	CONFIG_SASL_NONE = 0,   /* simple bind (or anonymous without bind_dn) */
	CONFIG_SASL_EXTERNAL,   /* SASL EXTERNAL, e.g. over ldapi:// */
	CONFIG_SASL_GSSAPI,     /* SASL GSSAPI (Kerberos) with ldap_keytab */
};

enum config_mirror_mode {
	CONFIG_MIRROR_AUTO = 0,   /* the best the server offers */
	CONFIG_MIRROR_SYNCREPL,   /* RFC 4533 refreshAndPersist */
	CONFIG_MIRROR_DIRSYNC,    /* AD DirSync control */
	CONFIG_MIRROR_USN,        /* uSNChanged / entryUSN polling */
	CONFIG_MIRROR_TIMESTAMP,  /* modifyTimestamp polling */
};

/* Mode names, in enum config_mirror_mode order, NULL-terminated. */
extern const char *const config_mirror_modes[];

/* Profile names, in the order of the [mirror] profile choices. */
extern const char *const config_mirror_profiles[];

struct config {
	char *path;
	unsigned *option_lines;   /* per config_options() entry; 0 = default */

	/* [log] */
	int log_level;            /* enum log_level */
	int log_target;           /* enum log_target */

	/* [ldap] */
	char **ldap_uri;          /* NULL-terminated, at least one */
	size_t ldap_uri_count;
	char *ldap_bind_dn;       /* "" = anonymous (or SASL identity) */
	char *ldap_bind_password; /* contents of bind_password_file, or "" */
	char *ldap_bind_password_file;
	int ldap_sasl_mech;       /* enum config_sasl_mech */
	char *ldap_keytab;        /* GSSAPI: client keytab; "" otherwise */
	bool ldap_starttls;
	char *ldap_tls_ca_file;   /* "" = system default CAs */
	bool ldap_tls_verify;     /* verify server certificates (default on) */
	unsigned ldap_network_timeout_ms;
	unsigned ldap_failback_interval_ms; /* 0 = never fail back */

	/* [postgresql] */
	char *pg_conninfo;        /* libpq connection string or URI */
	char *pg_password;        /* contents of password_file, or "" */
	char *pg_password_file;
	unsigned pg_connect_timeout_ms;

	/* [status] */
	char *status_socket;
	unsigned status_mode;     /* octal file mode of the socket */
	char *status_group;       /* "" = the daemon's own group */
	unsigned status_client_timeout_ms;

	/* [mirror] */
	int mirror_profile;       /* index into the profile names */
	int mirror_mode;          /* enum config_mirror_mode */
	char *mirror_base;        /* "" = the server's naming context */
	char *mirror_user_base;   /* "" = all of mirror_base */
	char *mirror_group_base;  /* "" = all of mirror_base */
	char *mirror_user_filter; /* "" = (objectClass=<user class>) */
	char *mirror_group_filter;
	unsigned mirror_max_delete_percent;
	unsigned mirror_delete_guard_window_ms; /* persist deletions add up */
	unsigned mirror_batch_size;
	unsigned mirror_poll_interval_ms;      /* usn, timestamp */
	unsigned mirror_reconcile_interval_ms; /* usn, timestamp: full search */
	unsigned mirror_page_size;             /* RFC 2696 page size */
	unsigned mirror_range_size;            /* 0 = server's ranges only */
	unsigned mirror_timestamp_overlap_ms;

	/* [attributes]: overrides of the profile's attribute map; "" keeps
	 * the profile's choice.  Same names as attrmap's fields. */
	char *attr_unique_id, *attr_login, *attr_login_alt, *attr_full_name;
	char *attr_given_name, *attr_surname, *attr_email, *attr_manager;
	char *attr_member, *attr_user_type, *attr_disabled;
	char *attr_user_object_class, *attr_group_object_class;

	/* [retry] */
	unsigned retry_backoff_min_ms;
	unsigned retry_backoff_max_ms;
};

/* Every message the parser produced, each "FILE:LINE: message". */
struct config_diag {
	char **msgs;
	size_t count;
};

enum config_type {
	CONFIG_STRING,      /* free text */
	CONFIG_PATH,        /* absolute path; "" allowed unless required */
	CONFIG_SECRET_FILE, /* path of a secret; the file is read at load */
	CONFIG_STRLIST,     /* space-separated words, at least one */
	CONFIG_BOOL,        /* yes/no, true/false, on/off, 1/0 */
	CONFIG_UINT,        /* decimal integer within min..max */
	CONFIG_OCTAL,       /* file mode such as 0660 */
	CONFIG_DURATION,    /* 250ms, 30s, 5m, 1h; a bare number is seconds */
	CONFIG_ENUM,        /* one of choices[], stored as its index */
	CONFIG_PERCENT,     /* 10% (or 10), stored as the number 0..100 */
};

struct config_option {
	const char *section;
	const char *name;
	enum config_type type;
	size_t offset;              /* of the field in struct config */
	size_t aux_offset;          /* STRLIST: count; SECRET_FILE: contents */
	const char *def;            /* default as text; NULL = required */
	unsigned long min, max;     /* UINT, DURATION (ms), OCTAL */
	const char *const *choices; /* ENUM, NULL-terminated */
	bool reloadable;            /* may change on SIGHUP */
	const char *help;           /* one line for the example and -t */
};

/* The option table; *count receives its length.  Static storage. */
const struct config_option *config_options(size_t *count);

/* Parse path.  Returns a new config owned by the caller, or NULL with
 * every error in diag (which the caller frees with config_diag_free). */
struct config *config_load(const char *path, struct config_diag *diag)
    DS_MUSTCHECK;
/* config_load() for programs that only need the non-secret options
 * (dirsyncctl finding the status socket): *_file secrets are not read. */
struct config *config_load_public(const char *path, struct config_diag *diag)
    DS_MUSTCHECK;
/* Same as config_load, from text in memory; name is used in messages. */
struct config *config_parse(const char *name, const char *text,
    struct config_diag *diag) DS_MUSTCHECK;

/* Copy every non-reloadable option from old into next, appending a
 * warning to diag for each one whose value differed. */
void config_merge_reload(struct config *next, const struct config *old,
    struct config_diag *diag);

/* Line of the file where section.name was set; 0 when it has its default.
 * For checks done outside the parser, so they can say FILE:LINE too. */
unsigned config_line_of(const struct config *cfg, const char *section,
    const char *name);

void config_free(struct config *cfg);
void config_diag_free(struct config_diag *diag);

/* Write the commented example file (every option, its default, its help). */
void config_write_example(FILE *out);

/* Parse a duration ("250ms", "30s", "5m", "1h", "2d", bare seconds) into
 * milliseconds; -1 if malformed or out of range. */
int config_parse_duration(const char *text, unsigned long *ms) DS_MUSTCHECK;

#endif
