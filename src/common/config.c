/* config.c - the option table and the parser built on it (config.h).
 * The parser never exits and never touches the running configuration:
 * it builds a new struct and hands it over only when the file is valid. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "log.h"

#define CONFIG_MAX_FILE (1024 * 1024)
#define CONFIG_MAX_SECRET 4096
#define OFF(f) offsetof(struct config, f)
#define DAY_MS (24UL * 3600 * 1000)

static const char *const log_levels[] = { "", "error", "warning", "info",
	"debug", NULL };
static const char *const log_targets[] = { "auto", "stderr", "syslog",
	"journal", NULL };
static const char *const sasl_mechs[] = { "none", "EXTERNAL", "GSSAPI",
	NULL };
const char *const config_mirror_profiles[] = { "openldap", "389ds", "ad",
	NULL };
const char *const config_mirror_modes[] = { "auto", "syncrepl", "dirsync",
	"usn", "timestamp", NULL };

#define ATTR_OPTION(field, what) \
	{ .section = "attributes", .name = #field, .type = CONFIG_STRING, \
	  .offset = OFF(attr_##field), .def = "", .reloadable = false, \
	  .help = what "; empty keeps the profile's choice" }

static const struct config_option config_table[] = {
	{ .section = "log", .name = "level", .type = CONFIG_ENUM,
	  .offset = OFF(log_level), .def = "info", .choices = log_levels,
	  .reloadable = true,
	  .help = "least important messages logged: error, warning, info or debug" },
	{ .section = "log", .name = "target", .type = CONFIG_ENUM,
	  .offset = OFF(log_target), .def = "auto", .choices = log_targets,
	  .reloadable = true,
	  .help = "where lines go: auto (journal when JOURNAL_STREAM is set, else stderr), stderr, syslog or journal" },

	{ .section = "ldap", .name = "uri", .type = CONFIG_STRLIST,
	  .offset = OFF(ldap_uri), .aux_offset = OFF(ldap_uri_count),
	  .def = NULL, .reloadable = true,
	  .help = "directory servers tried in order (ldap://, ldaps://, ldapi://), space-separated" },
	{ .section = "ldap", .name = "bind_dn", .type = CONFIG_STRING,
	  .offset = OFF(ldap_bind_dn), .def = "", .reloadable = true,
	  .help = "DN to bind as; empty binds anonymously (or as the SASL identity)" },
	{ .section = "ldap", .name = "bind_password_file", .type = CONFIG_SECRET_FILE,
	  .offset = OFF(ldap_bind_password_file),
	  .aux_offset = OFF(ldap_bind_password), .def = "", .reloadable = true,
	  .help = "file holding the bind password; must not be readable by others" },
	{ .section = "ldap", .name = "sasl_mech", .type = CONFIG_ENUM,
	  .offset = OFF(ldap_sasl_mech), .def = "none", .choices = sasl_mechs,
	  .reloadable = true,
	  .help = "none for a simple bind, EXTERNAL for SASL EXTERNAL (ldapi:// or client certificates), GSSAPI for Kerberos with the keytab option" },
	{ .section = "ldap", .name = "keytab", .type = CONFIG_PATH,
	  .offset = OFF(ldap_keytab), .def = "", .reloadable = true,
	  .help = "sasl_mech GSSAPI: client keytab whose first principal binds; must not be readable by others" },
	{ .section = "ldap", .name = "starttls", .type = CONFIG_BOOL,
	  .offset = OFF(ldap_starttls), .def = "no", .reloadable = true,
	  .help = "send StartTLS on ldap:// connections and fail if it is refused" },
	{ .section = "ldap", .name = "tls_ca_file", .type = CONFIG_PATH,
	  .offset = OFF(ldap_tls_ca_file), .def = "", .reloadable = true,
	  .help = "CA certificates (PEM) for verifying the server; empty uses the system store" },
	{ .section = "ldap", .name = "tls_verify", .type = CONFIG_BOOL,
	  .offset = OFF(ldap_tls_verify), .def = "yes", .reloadable = true,
	  .help = "verify the server certificate and host name; turn off only for tests" },
	{ .section = "ldap", .name = "network_timeout", .type = CONFIG_DURATION,
	  .offset = OFF(ldap_network_timeout_ms), .def = "10s",
	  .min = 100, .max = 600000, .reloadable = true,
	  .help = "limit for connecting and for the TLS handshake" },
	{ .section = "ldap", .name = "failback_interval", .type = CONFIG_DURATION,
	  .offset = OFF(ldap_failback_interval_ms), .def = "60s",
	  .min = 0, .max = DAY_MS, .reloadable = true,
	  .help = "while connected to a later uri, how often to try the earlier ones and switch back to the first that works; 0 stays until the server fails" },

	{ .section = "postgresql", .name = "conninfo", .type = CONFIG_STRING,
	  .offset = OFF(pg_conninfo), .def = NULL, .reloadable = true,
	  .help = "libpq connection string or URI, without the password" },
	{ .section = "postgresql", .name = "password_file", .type = CONFIG_SECRET_FILE,
	  .offset = OFF(pg_password_file), .aux_offset = OFF(pg_password),
	  .def = "", .reloadable = true,
	  .help = "file holding the database password; must not be readable by others" },
	{ .section = "postgresql", .name = "connect_timeout", .type = CONFIG_DURATION,
	  .offset = OFF(pg_connect_timeout_ms), .def = "10s",
	  .min = 100, .max = 600000, .reloadable = true,
	  .help = "limit for establishing a database connection" },

	{ .section = "status", .name = "socket", .type = CONFIG_PATH,
	  .offset = OFF(status_socket), .def = "/run/dirsync/status.sock",
	  .reloadable = false,
	  .help = "path of the status socket that dirsyncctl reads" },
	{ .section = "status", .name = "mode", .type = CONFIG_OCTAL,
	  .offset = OFF(status_mode), .def = "0660", .min = 0, .max = 0777,
	  .reloadable = false,
	  .help = "file mode of the status socket" },
	{ .section = "status", .name = "group", .type = CONFIG_STRING,
	  .offset = OFF(status_group), .def = "", .reloadable = false,
	  .help = "group owning the status socket; empty keeps the daemon's own group" },
	{ .section = "status", .name = "client_timeout", .type = CONFIG_DURATION,
	  .offset = OFF(status_client_timeout_ms), .def = "2s",
	  .min = 10, .max = 60000, .reloadable = true,
	  .help = "a status client that has not sent its command by then is cut off" },

	{ .section = "mirror", .name = "profile", .type = CONFIG_ENUM,
	  .offset = OFF(mirror_profile), .def = "openldap",
	  .choices = config_mirror_profiles, .reloadable = false,
	  .help = "attribute map and object classes of the server kind: openldap, 389ds or ad" },
	{ .section = "mirror", .name = "mode", .type = CONFIG_ENUM,
	  .offset = OFF(mirror_mode), .def = "auto", .choices = config_mirror_modes,
	  .reloadable = false,
	  .help = "how changes are read: auto (the best the server offers: syncrepl, then dirsync, then usn, then timestamp), syncrepl (RFC 4533), dirsync (AD DirSync control), usn (uSNChanged or 389-ds entryUSN polling) or timestamp (modifyTimestamp polling)" },
	{ .section = "mirror", .name = "base", .type = CONFIG_STRING,
	  .offset = OFF(mirror_base), .def = "", .reloadable = false,
	  .help = "subtree mirrored; empty uses the server's naming context" },
	{ .section = "mirror", .name = "user_base", .type = CONFIG_STRING,
	  .offset = OFF(mirror_user_base), .def = "", .reloadable = false,
	  .help = "only users at or under this DN are mirrored (it must lie inside base); empty: every user of base" },
	{ .section = "mirror", .name = "group_base", .type = CONFIG_STRING,
	  .offset = OFF(mirror_group_base), .def = "", .reloadable = false,
	  .help = "only groups at or under this DN are mirrored (it must lie inside base); empty: every group of base" },
	{ .section = "mirror", .name = "user_filter", .type = CONFIG_STRING,
	  .offset = OFF(mirror_user_filter), .def = "", .reloadable = false,
	  .help = "LDAP filter selecting users; empty means (objectClass=<user_object_class>)" },
	{ .section = "mirror", .name = "group_filter", .type = CONFIG_STRING,
	  .offset = OFF(mirror_group_filter), .def = "", .reloadable = false,
	  .help = "LDAP filter selecting groups; empty means (objectClass=<group_object_class>)" },
	{ .section = "mirror", .name = "max_delete_ratio", .type = CONFIG_PERCENT,
	  .offset = OFF(mirror_max_delete_percent), .def = "10%", .min = 0,
	  .max = 100, .reloadable = true,
	  .help = "a sync that would delete more than this share of the mirrored users waits for dirsyncctl sync --confirm-deletes" },
	{ .section = "mirror", .name = "delete_guard_window", .type = CONFIG_DURATION,
	  .offset = OFF(mirror_delete_guard_window_ms), .def = "1h",
	  .min = 1000, .max = 7 * DAY_MS, .reloadable = true,
	  .help = "deletions outside a refresh (persist mode, tombstones) add up over this window; the batch that takes them above max_delete_ratio is held back too" },
	{ .section = "mirror", .name = "batch_size", .type = CONFIG_UINT,
	  .offset = OFF(mirror_batch_size), .def = "2000", .min = 1,
	  .max = 100000, .reloadable = false,
	  .help = "most rows (entries, deletions, presence marks) written to PostgreSQL in one transaction" },
	{ .section = "mirror", .name = "poll_interval", .type = CONFIG_DURATION,
	  .offset = OFF(mirror_poll_interval_ms), .def = "5s",
	  .min = 100, .max = 3600000, .reloadable = false,
	  .help = "dirsync, usn and timestamp modes: pause between the end of one poll and the start of the next" },
	{ .section = "mirror", .name = "reconcile_interval", .type = CONFIG_DURATION,
	  .offset = OFF(mirror_reconcile_interval_ms), .def = "1h",
	  .min = 1000, .max = 7 * DAY_MS, .reloadable = false,
	  .help = "dirsync, usn and timestamp modes: how often a full paged search replaces a poll, finding deletions and entries that left the filter" },
	{ .section = "mirror", .name = "page_size", .type = CONFIG_UINT,
	  .offset = OFF(mirror_page_size), .def = "500", .min = 1,
	  .max = 100000, .reloadable = false,
	  .help = "entries per page of the paged searches (RFC 2696); Active Directory caps it at its MaxPageSize (1000)" },
	{ .section = "mirror", .name = "range_size", .type = CONFIG_UINT,
	  .offset = OFF(mirror_range_size), .def = "0", .min = 0,
	  .max = 100000, .reloadable = false,
	  .help = "ask for group members in ranges of this many values (member;range=0-N); 0 only completes the ranges the server cuts by itself" },
	{ .section = "mirror", .name = "timestamp_overlap", .type = CONFIG_DURATION,
	  .offset = OFF(mirror_timestamp_overlap_ms), .def = "5s",
	  .min = 0, .max = 3600000, .reloadable = false,
	  .help = "timestamp mode: each poll also reads entries changed this long before the last mark (replication delay between servers); entries found unchanged are not written again" },

	ATTR_OPTION(unique_id, "attribute holding the permanent id of an entry"),
	ATTR_OPTION(login, "attribute holding the login name"),
	ATTR_OPTION(login_alt, "attribute holding a second login name"),
	ATTR_OPTION(full_name, "attribute holding the full name"),
	ATTR_OPTION(given_name, "attribute holding the given name"),
	ATTR_OPTION(surname, "attribute holding the surname"),
	ATTR_OPTION(email, "attribute holding the email address"),
	ATTR_OPTION(manager, "attribute holding the manager's DN"),
	ATTR_OPTION(member, "attribute of groups holding member DNs"),
	ATTR_OPTION(user_type, "attribute holding the user type"),
	ATTR_OPTION(disabled, "attribute marking a disabled account"),
	ATTR_OPTION(user_object_class, "object class of users"),
	ATTR_OPTION(group_object_class, "object class of groups"),

	{ .section = "retry", .name = "backoff_min", .type = CONFIG_DURATION,
	  .offset = OFF(retry_backoff_min_ms), .def = "1s",
	  .min = 10, .max = 3600000, .reloadable = true,
	  .help = "first delay before reconnecting to a failed server" },
	{ .section = "retry", .name = "backoff_max", .type = CONFIG_DURATION,
	  .offset = OFF(retry_backoff_max_ms), .def = "60s",
	  .min = 10, .max = 3600000, .reloadable = true,
	  .help = "longest delay between reconnection attempts (doubling from backoff_min, with jitter)" },
};

const struct config_option *
config_options(size_t *count)
{
	*count = DS_ARRAY_SIZE(config_table);
	return config_table;
}

/* ---- diagnostics ------------------------------------------------------ */

static void config_diag_add(struct config_diag *diag, const char *fmt, ...)
    DS_PRINTF(2, 3);

static void
config_diag_add(struct config_diag *diag, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (diag == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	diag->msgs = ds_realloc(diag->msgs, (diag->count + 1) * sizeof(char *));
	diag->msgs[diag->count++] = ds_strdup(buf);
}

void
config_diag_free(struct config_diag *diag)
{
	if (diag == NULL)
		return;
	for (size_t i = 0; i < diag->count; i++)
		free(diag->msgs[i]);
	free(diag->msgs);
	diag->msgs = NULL;
	diag->count = 0;
}

/* ---- value parsers: each returns 0 or -1 with why in err ------------- */

int
config_parse_duration(const char *text, unsigned long *ms)
{
	static const struct { const char *suffix; unsigned long mult; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", DAY_MS }, { "", 1000 },
	};
	char *end;
	unsigned long long v;

	if (text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0)
		return -1;
	for (size_t i = 0; i < DS_ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (v > UINT32_MAX / units[i].mult)
			return -1;
		*ms = (unsigned long)(v * units[i].mult);
		return 0;
	}
	return -1;
}

static int
config_parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < DS_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int
config_parse_ulong(const char *text, int base, unsigned long *out)
{
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	*out = strtoul(text, &end, base);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

/* Split on spaces into a NULL-terminated vector. */
static char **
config_split_words(const char *text, size_t *count)
{
	char **v = NULL;
	size_t n = 0;
	const char *p = text;

	while (*p) {
		const char *start;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		v = ds_realloc(v, (n + 2) * sizeof(char *));
		v[n] = ds_calloc(1, (size_t)(p - start) + 1);
		memcpy(v[n], start, (size_t)(p - start));
		v[++n] = NULL;
	}
	*count = n;
	return v;
}

static void
config_free_words(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* Open a file that holds a secret (a password, a keytab): a regular file
 * others may not read.  Returns the descriptor, or -1 with err. */
static int
config_open_private(const char *path, struct ds_error *err)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ds_error_set(err, "cannot open %s: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ds_error_set(err, "%s is not a regular file", path);
	}
	if (st.st_mode & (S_IROTH | S_IWOTH | S_IXOTH)) {
		close(fd);
		return ds_error_set(err,
		    "%s is readable by others (mode %04o); run chmod o-rwx on it",
		    path, (unsigned)(st.st_mode & 07777));
	}
	return fd;
}

/* Read a secret file, refusing one that others may read: a password in
 * a world-readable file is already leaked, and starting anyway would
 * hide that.  The trailing newline editors add is dropped. */
static int
config_read_secret(const char *path, char **out, struct ds_error *err)
{
	char buf[CONFIG_MAX_SECRET + 1];
	ssize_t n;
	int fd;

	fd = config_open_private(path, err);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return ds_error_set(err, "cannot read %s: %s", path,
		    strerror(errno));
	if (n > CONFIG_MAX_SECRET)
		return ds_error_set(err, "%s is larger than %d bytes", path,
		    CONFIG_MAX_SECRET);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (memchr(buf, '\0', (size_t)n) != NULL)
		return ds_error_set(err, "%s contains a NUL byte", path);
	*out = ds_strdup(buf);
	return 0;
}

static void
config_format_ms(char *buf, size_t size, unsigned long ms)
{
	if (ms % DAY_MS == 0 && ms)
		snprintf(buf, size, "%lud", ms / DAY_MS);
	else if (ms % 3600000 == 0 && ms)
		snprintf(buf, size, "%luh", ms / 3600000);
	else if (ms % 60000 == 0 && ms)
		snprintf(buf, size, "%lum", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, size, "%lus", ms / 1000);
	else
		snprintf(buf, size, "%lums", ms);
}

/* Store text into the field of opt; on failure explain in err. */
static int
config_set(struct config *cfg, const struct config_option *opt,
    const char *text, struct ds_error *err)
{
	char *base = (char *)cfg;
	unsigned long v;
	char lo[32], hi[32];

	switch (opt->type) {
	case CONFIG_STRING:
		free(*(char **)(base + opt->offset));
		*(char **)(base + opt->offset) = ds_strdup(text);
		return 0;
	case CONFIG_PATH:
	case CONFIG_SECRET_FILE:
		if (text[0] != '\0' && text[0] != '/')
			return ds_error_set(err, "'%s' is not an absolute path",
			    text);
		free(*(char **)(base + opt->offset));
		*(char **)(base + opt->offset) = ds_strdup(text);
		return 0;
	case CONFIG_STRLIST: {
		size_t n;
		char **words = config_split_words(text, &n);

		if (n == 0) {
			config_free_words(words);
			return ds_error_set(err, "needs at least one value");
		}
		config_free_words(*(char ***)(base + opt->offset));
		*(char ***)(base + opt->offset) = words;
		*(size_t *)(base + opt->aux_offset) = n;
		return 0;
	}
	case CONFIG_BOOL:
		if (config_parse_bool(text, (bool *)(base + opt->offset)) < 0)
			return ds_error_set(err,
			    "'%s' is not a boolean (use yes or no)", text);
		return 0;
	case CONFIG_ENUM:
		for (size_t i = 0; opt->choices[i]; i++) {
			if (opt->choices[i][0] != '\0' &&
			    strcmp(text, opt->choices[i]) == 0) {
				*(int *)(base + opt->offset) = (int)i;
				return 0;
			}
		}
		{
			char list[256] = "";
			for (size_t i = 0; opt->choices[i]; i++) {
				if (opt->choices[i][0] == '\0')
					continue;
				if (list[0])
					strncat(list, ", ", sizeof(list) - strlen(list) - 1);
				strncat(list, opt->choices[i], sizeof(list) - strlen(list) - 1);
			}
			return ds_error_set(err, "'%s' is not one of: %s", text, list);
		}
	case CONFIG_UINT:
	case CONFIG_OCTAL:
	case CONFIG_DURATION:
	case CONFIG_PERCENT:
		break;
	}

	if (opt->type == CONFIG_PERCENT) {
		char num[32];
		size_t n = strlen(text);

		if (n > 0 && text[n - 1] == '%')
			n--;
		if (n == 0 || n >= sizeof(num))
			return ds_error_set(err, "'%s' is not a percentage like 10%%", text);
		memcpy(num, text, n);
		num[n] = '\0';
		if (config_parse_ulong(num, 10, &v) < 0)
			return ds_error_set(err, "'%s' is not a percentage like 10%%", text);
		snprintf(lo, sizeof(lo), "%lu%%", opt->min);
		snprintf(hi, sizeof(hi), "%lu%%", opt->max);
	} else if (opt->type == CONFIG_DURATION) {
		if (config_parse_duration(text, &v) < 0)
			return ds_error_set(err,
			    "'%s' is not a duration (like 250ms, 30s, 5m, 1h)", text);
		config_format_ms(lo, sizeof(lo), opt->min);
		config_format_ms(hi, sizeof(hi), opt->max);
	} else {
		int base_n = opt->type == CONFIG_OCTAL ? 8 : 10;
		if (config_parse_ulong(text, base_n, &v) < 0)
			return ds_error_set(err, "'%s' is not %s", text,
			    base_n == 8 ? "an octal mode like 0660" : "a number");
		snprintf(lo, sizeof(lo), base_n == 8 ? "%04lo" : "%lu", opt->min);
		snprintf(hi, sizeof(hi), base_n == 8 ? "%04lo" : "%lu", opt->max);
	}
	if (v < opt->min || v > opt->max)
		return ds_error_set(err, "'%s' is out of range (%s to %s)", text,
		    lo, hi);
	*(unsigned *)(base + opt->offset) = (unsigned)v;
	return 0;
}

static const struct config_option *
config_find(const char *section, const char *name)
{
	for (size_t i = 0; i < DS_ARRAY_SIZE(config_table); i++)
		if (strcmp(config_table[i].section, section) == 0 &&
		    strcmp(config_table[i].name, name) == 0)
			return &config_table[i];
	return NULL;
}

static bool
config_section_known(const char *section)
{
	for (size_t i = 0; i < DS_ARRAY_SIZE(config_table); i++)
		if (strcmp(config_table[i].section, section) == 0)
			return true;
	return false;
}

/* ---- the line parser ------------------------------------------------- */

struct config_parser {
	const char *name;           /* file name for messages */
	struct config *cfg;
	struct config_diag *diag;
	unsigned errors;
	char section[64];           /* "" before the first header */
	unsigned section_line;
	unsigned last_line;
	bool skip_secrets;          /* config_load_public() */
	unsigned seen[DS_ARRAY_SIZE(config_table)]; /* line where set, 0 = not */
};

static char *
config_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

static void config_error(struct config_parser *p, unsigned line,
    const char *fmt, ...) DS_PRINTF(3, 4);

static void
config_error(struct config_parser *p, unsigned line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	config_diag_add(p->diag, "%s:%u: %s", p->name, line, msg);
	p->errors++;
}

/* Unquote a "..." value in place; returns NULL when malformed. */
static char *
config_unquote(char *v)
{
	char *r, *w;

	if (v[0] != '"')
		return v;
	for (r = v + 1, w = v; *r && *r != '"'; r++) {
		if (*r == '\\') {
			r++;
			if (*r != '"' && *r != '\\')
				return NULL;
		}
		*w++ = *r;
	}
	if (*r != '"' || r[1] != '\0')
		return NULL;
	*w = '\0';
	return v;
}

static void
config_parse_line(struct config_parser *p, char *line, unsigned lineno)
{
	char *s = config_trim(line);
	char *eq, *key, *value;
	const struct config_option *opt;
	struct ds_error err;

	if (*s == '\0' || *s == '#' || *s == ';')
		return;
	if (*s == '[') {
		char *close = strchr(s, ']');
		char *name;

		/* After a bad header, skip its keys quietly: they were
		 * not meant for the previous section, and one error per
		 * header is enough. */
		if (close == NULL || close[1] != '\0') {
			config_error(p, lineno, "malformed section header '%s'", s);
			p->section[0] = '\0';
			p->section_line = lineno;
			return;
		}
		*close = '\0';
		name = config_trim(s + 1);
		if (!config_section_known(name)) {
			config_error(p, lineno, "unknown section [%s]", name);
			p->section[0] = '\0';
			p->section_line = lineno;
			return;
		}
		snprintf(p->section, sizeof(p->section), "%s", name);
		p->section_line = lineno;
		return;
	}
	eq = strchr(s, '=');
	if (eq == NULL) {
		config_error(p, lineno, "expected 'key = value' or '[section]', got '%s'", s);
		return;
	}
	*eq = '\0';
	key = config_trim(s);
	value = config_trim(eq + 1);
	if (p->section[0] == '\0') {
		if (p->section_line == 0 && *key)
			config_error(p, lineno, "'%s' is outside any known section", key);
		return;
	}
	opt = config_find(p->section, key);
	if (opt == NULL) {
		config_error(p, lineno, "unknown key '%s' in section [%s]", key,
		    p->section);
		return;
	}
	if (p->seen[opt - config_table]) {
		config_error(p, lineno, "%s.%s is already set on line %u",
		    opt->section, opt->name, p->seen[opt - config_table]);
		return;
	}
	p->seen[opt - config_table] = lineno;
	if (config_unquote(value) == NULL) {
		config_error(p, lineno, "%s.%s: unterminated or malformed quoted value",
		    opt->section, opt->name);
		return;
	}
	if (config_set(p->cfg, opt, value, &err) < 0)
		config_error(p, lineno, "%s.%s: %s", opt->section, opt->name, err.msg);
}

static void
config_apply_defaults(struct config *cfg)
{
	struct ds_error err;

	for (size_t i = 0; i < DS_ARRAY_SIZE(config_table); i++) {
		const struct config_option *opt = &config_table[i];

		if (opt->def != NULL && config_set(cfg, opt, opt->def, &err) < 0)
			fatal("default of %s.%s is invalid: %s", opt->section,
			    opt->name, err.msg);
	}
}

/* Line where section.name was set, or the last line when it was not. */
static unsigned
config_seen_line(const struct config_parser *p, const char *section,
    const char *name)
{
	const struct config_option *opt = config_find(section, name);

	return opt && p->seen[opt - config_table] ? p->seen[opt - config_table]
	                                         : p->last_line;
}

/* sasl_mech GSSAPI: a keytab, private like a password file (checked
 * here, read by the Kerberos library at bind time), and no password. */
static void
config_check_gssapi(struct config_parser *p)
{
	const struct config *cfg = p->cfg;
	struct ds_error err;
	int fd;

	if (cfg->ldap_sasl_mech != CONFIG_SASL_GSSAPI) {
		if (cfg->ldap_keytab[0] != '\0')
			config_error(p, config_seen_line(p, "ldap", "keytab"),
			    "ldap.keytab is set but ldap.sasl_mech is not GSSAPI");
		return;
	}
	if (cfg->ldap_bind_password_file[0] != '\0')
		config_error(p, config_seen_line(p, "ldap", "bind_password_file"),
		    "ldap.sasl_mech GSSAPI takes no password; remove ldap.bind_password_file");
	if (cfg->ldap_keytab[0] == '\0') {
		config_error(p, config_seen_line(p, "ldap", "sasl_mech"),
		    "ldap.sasl_mech GSSAPI needs ldap.keytab");
		return;
	}
	if (p->skip_secrets)
		return;
	fd = config_open_private(cfg->ldap_keytab, &err);
	if (fd < 0)
		config_error(p, config_seen_line(p, "ldap", "keytab"),
		    "ldap.keytab: %s", err.msg);
	else
		close(fd);
}

/* Checks that need the whole file: required keys, secrets, relations. */
static void
config_finish(struct config_parser *p)
{
	unsigned last_line = p->last_line;
	struct config *cfg = p->cfg;
	struct ds_error err;

	for (size_t i = 0; i < DS_ARRAY_SIZE(config_table); i++) {
		const struct config_option *opt = &config_table[i];
		char **text, **path, **secret;

		text = (char **)((char *)cfg + opt->offset);
		if (opt->def == NULL && !p->seen[i])
			config_error(p, last_line, "missing required option %s.%s (%s)",
			    opt->section, opt->name, opt->help);
		/* A required option whose line was rejected (a malformed quoted
		 * value) has no value at all: its error is already reported. */
		else if (opt->def == NULL && opt->type == CONFIG_STRING &&
		    *text != NULL && **text == '\0')
			config_error(p, p->seen[i], "%s.%s: needs a value (%s)",
			    opt->section, opt->name, opt->help);
		if (opt->type != CONFIG_SECRET_FILE)
			continue;
		path = text;
		secret = (char **)((char *)cfg + opt->aux_offset);
		if ((*path)[0] == '\0' || p->skip_secrets) {
			*secret = ds_strdup("");
			continue;
		}
		if (config_read_secret(*path, secret, &err) < 0)
			config_error(p, p->seen[i], "%s.%s: %s", opt->section,
			    opt->name, err.msg);
	}
	if (cfg->retry_backoff_max_ms < cfg->retry_backoff_min_ms)
		config_error(p, config_seen_line(p, "retry", "backoff_max"),
		    "retry.backoff_max is shorter than retry.backoff_min");
	/* The path, not the contents: the secret is NULL when it could not
	 * be read, and "" when config_load_public() skipped it. */
	if (cfg->ldap_bind_password_file[0] && cfg->ldap_bind_dn[0] == '\0')
		config_error(p, config_seen_line(p, "ldap", "bind_password_file"),
		    "ldap.bind_password_file is set but ldap.bind_dn is empty");
	if (cfg->ldap_sasl_mech == CONFIG_SASL_EXTERNAL &&
	    cfg->ldap_bind_password_file[0] != '\0')
		config_error(p, config_seen_line(p, "ldap", "sasl_mech"),
		    "ldap.sasl_mech EXTERNAL takes no password; remove ldap.bind_password_file");
	config_check_gssapi(p);
}

static struct config *
config_parse_text(const char *name, const char *text, bool skip_secrets,
    struct config_diag *diag)
{
	struct config_parser p = { .name = name, .diag = diag,
		.skip_secrets = skip_secrets };
	char *copy = ds_strdup(text);
	char *line = copy;
	unsigned lineno = 0;

	p.cfg = ds_calloc(1, sizeof(*p.cfg));
	p.cfg->path = ds_strdup(name);
	config_apply_defaults(p.cfg);
	while (line != NULL) {
		char *next = strchr(line, '\n');

		if (next != NULL)
			*next++ = '\0';
		else if (*line == '\0')
			break;  /* the text ended with a newline */
		lineno++;
		config_parse_line(&p, line, lineno);
		line = next;
	}
	free(copy);
	p.last_line = lineno ? lineno : 1;
	config_finish(&p);
	p.cfg->option_lines = ds_calloc(DS_ARRAY_SIZE(config_table), sizeof(unsigned));
	memcpy(p.cfg->option_lines, p.seen, sizeof(p.seen));
	if (p.errors) {
		config_free(p.cfg);
		return NULL;
	}
	return p.cfg;
}

struct config *
config_parse(const char *name, const char *text, struct config_diag *diag)
{
	return config_parse_text(name, text, false, diag);
}

static struct config *
config_load_file(const char *path, bool skip_secrets, struct config_diag *diag)
{
	FILE *f;
	char *text;
	size_t n;
	struct config *cfg;

	f = fopen(path, "re");
	if (f == NULL) {
		config_diag_add(diag, "%s:0: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	text = malloc(CONFIG_MAX_FILE + 1);
	if (text == NULL) {
		fclose(f);
		config_diag_add(diag, "%s:0: out of memory", path);
		return NULL;
	}
	n = fread(text, 1, CONFIG_MAX_FILE + 1, f);
	if (ferror(f) || n > CONFIG_MAX_FILE) {
		config_diag_add(diag, "%s:0: %s", path, ferror(f) ?
		    "read error" : "larger than 1 MiB");
		fclose(f);
		free(text);
		return NULL;
	}
	fclose(f);
	text[n] = '\0';
	if (memchr(text, '\0', n) != NULL) {
		config_diag_add(diag, "%s:0: contains a NUL byte", path);
		free(text);
		return NULL;
	}
	cfg = config_parse_text(path, text, skip_secrets, diag);
	free(text);
	return cfg;
}

struct config *
config_load(const char *path, struct config_diag *diag)
{
	return config_load_file(path, false, diag);
}

struct config *
config_load_public(const char *path, struct config_diag *diag)
{
	return config_load_file(path, true, diag);
}

/* ---- reload ------------------------------------------------------------ */

static bool
config_value_equal(const struct config *a, const struct config *b,
    const struct config_option *opt)
{
	const char *pa = (const char *)a + opt->offset;
	const char *pb = (const char *)b + opt->offset;

	switch (opt->type) {
	case CONFIG_STRING:
	case CONFIG_PATH:
	case CONFIG_SECRET_FILE:
		return strcmp(*(char *const *)pa, *(char *const *)pb) == 0;
	case CONFIG_STRLIST: {
		char *const *va = *(char **const *)pa, *const *vb = *(char **const *)pb;
		for (; *va && *vb; va++, vb++)
			if (strcmp(*va, *vb) != 0)
				return false;
		return *va == NULL && *vb == NULL;
	}
	case CONFIG_BOOL:
		return *(const bool *)pa == *(const bool *)pb;
	case CONFIG_ENUM:
		return *(const int *)pa == *(const int *)pb;
	case CONFIG_UINT:
	case CONFIG_OCTAL:
	case CONFIG_DURATION:
	case CONFIG_PERCENT:
		return *(const unsigned *)pa == *(const unsigned *)pb;
	}
	return false;
}

void
config_merge_reload(struct config *next, const struct config *old,
    struct config_diag *diag)
{
	for (size_t i = 0; i < DS_ARRAY_SIZE(config_table); i++) {
		const struct config_option *opt = &config_table[i];
		char *pn = (char *)next + opt->offset;
		const char *po = (const char *)old + opt->offset;

		if (opt->reloadable || config_value_equal(next, old, opt))
			continue;
		config_diag_add(diag,
		    "%s: %s.%s cannot change while running; keeping the old value until restart",
		    next->path, opt->section, opt->name);
		/* Only strings and scalars are non-reloadable today. */
		switch (opt->type) {
		case CONFIG_STRING:
		case CONFIG_PATH:
			free(*(char **)pn);
			*(char **)pn = ds_strdup(*(char *const *)po);
			break;
		case CONFIG_BOOL:
			*(bool *)pn = *(const bool *)po;
			break;
		case CONFIG_ENUM:
			*(int *)pn = *(const int *)po;
			break;
		case CONFIG_UINT:
		case CONFIG_OCTAL:
		case CONFIG_DURATION:
		case CONFIG_PERCENT:
			*(unsigned *)pn = *(const unsigned *)po;
			break;
		case CONFIG_STRLIST:
		case CONFIG_SECRET_FILE:
			fatal("option %s.%s must be reloadable", opt->section,
			    opt->name);
		}
	}
}

unsigned
config_line_of(const struct config *cfg, const char *section, const char *name)
{
	const struct config_option *opt = config_find(section, name);

	if (opt == NULL || cfg->option_lines == NULL)
		return 0;
	return cfg->option_lines[opt - config_table];
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->option_lines);
	for (size_t i = 0; i < DS_ARRAY_SIZE(config_table); i++) {
		const struct config_option *opt = &config_table[i];
		char *field = (char *)cfg + opt->offset;

		switch (opt->type) {
		case CONFIG_SECRET_FILE: {
			char *secret = *(char **)((char *)cfg + opt->aux_offset);
			if (secret != NULL) {
				/* Do not leave passwords in freed heap. */
				explicit_bzero(secret, strlen(secret));
				free(secret);
			}
		}
			/* fall through */
		case CONFIG_STRING:
		case CONFIG_PATH:
			free(*(char **)field);
			break;
		case CONFIG_STRLIST:
			config_free_words(*(char ***)field);
			break;
		default:
			break;
		}
	}
	free(cfg->path);
	free(cfg);
}

/* ---- the example file ------------------------------------------------ */

static const char *
config_type_hint(const struct config_option *opt)
{
	switch (opt->type) {
	case CONFIG_STRING: return "text";
	case CONFIG_PATH: return "absolute path";
	case CONFIG_SECRET_FILE: return "absolute path of a secret file";
	case CONFIG_STRLIST: return "space-separated list";
	case CONFIG_BOOL: return "yes or no";
	case CONFIG_UINT: return "number";
	case CONFIG_OCTAL: return "octal mode";
	case CONFIG_DURATION: return "duration";
	case CONFIG_ENUM: return "one of the values named";
	case CONFIG_PERCENT: return "percentage";
	}
	return "";
}

void
config_write_example(FILE *out)
{
	const char *section = "";

	fputs("# dirsync.conf - configuration of dirsyncd (see dirsync.conf(5)).\n"
	      "# Generated by `dirsyncd --print-example-config` from the option table;\n"
	      "# every option is listed with its default.  Lines starting with '#'\n"
	      "# are comments; uncomment and edit what you need.\n", out);
	for (size_t i = 0; i < DS_ARRAY_SIZE(config_table); i++) {
		const struct config_option *opt = &config_table[i];

		if (strcmp(section, opt->section) != 0) {
			section = opt->section;
			fprintf(out, "\n[%s]\n", section);
		}
		fprintf(out, "\n# %s\n# (%s%s)\n", opt->help, config_type_hint(opt),
		    opt->reloadable ? "" : "; needs a restart to change");
		if (opt->def == NULL)
			fprintf(out, "%s = \n", opt->name);
		else
			fprintf(out, "#%s = %s\n", opt->name, opt->def);
	}
}
