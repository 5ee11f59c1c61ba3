/* test_config.c - unit tests for the configuration parser (config.h): every
 * value type and default, every error with its "NAME:LINE: message", secret
 * files, config_load(), reload merging and the generated example file. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* The two required options; four lines, so an appended line is line 5. */
#define REQ "[ldap]\nuri = ldap://dir.example\n" \
	"[postgresql]\nconninfo = dbname=dirsync\n"

/* ---- helpers ----------------------------------------------------------- */

static void
dump_diag(const struct config_diag *diag)
{
	for (size_t i = 0; i < diag->count; i++)
		print_error("  diag[%zu]: %s\n", i, diag->msgs[i]);
}

/* want matches got exactly, or as a prefix when it ends with '*'. */
static bool
msg_matches(const char *got, const char *want)
{
	size_t n = strlen(want);

	if (n > 0 && want[n - 1] == '*')
		return strncmp(got, want, n - 1) == 0;
	return strcmp(got, want) == 0;
}

/* Parse text expecting failure with exactly the messages in want
 * (NULL-terminated), in order; print the difference when not. */
static bool
check_errors(const char *name, const char *text, const char *const *want)
{
	struct config_diag diag = { 0 };
	struct config *cfg = config_parse("t.conf", text, &diag);
	size_t n = 0;
	bool ok;

	while (want[n] != NULL)
		n++;
	ok = cfg == NULL && diag.count == n;
	for (size_t i = 0; ok && i < n; i++)
		ok = msg_matches(diag.msgs[i], want[i]);
	if (!ok) {
		print_error("case '%s': got %s and %zu messages:\n", name,
		    cfg ? "a config" : "NULL", diag.count);
		dump_diag(&diag);
		for (size_t i = 0; i < n; i++)
			print_error("  want[%zu]: %s\n", i, want[i]);
	}
	config_free(cfg);
	config_diag_free(&diag);
	return ok;
}

static void
expect_errors(const char *name, const char *text, const char *const *want)
{
	assert_true(check_errors(name, text, want));
}

/* Parse text that must be valid; fails the test with the messages if not. */
static struct config *
parse_ok(const char *text)
{
	struct config_diag diag = { 0 };
	struct config *cfg = config_parse("t.conf", text, &diag);

	if (cfg == NULL || diag.count != 0) {
		print_error("unexpected diagnostics for:\n%s\n", text);
		dump_diag(&diag);
	}
	assert_non_null(cfg);
	assert_int_equal(diag.count, 0);
	config_diag_free(&diag);
	return cfg;
}

/* parse_ok() of the required options followed by lines. */
static struct config *
parse_ok_lines(const char *lines)
{
	char text[512];

	snprintf(text, sizeof(text), REQ "%s\n", lines);
	return parse_ok(text);
}

/* Every temporary file and directory, removed by cleanup_temp() even
 * when a failed assertion skipped a test's own unlink(). */
static char temp_paths[64][128];
static size_t temp_count;

static void
remember_temp(const char *path)
{
	if (temp_count < DS_ARRAY_SIZE(temp_paths))
		snprintf(temp_paths[temp_count++], sizeof(temp_paths[0]), "%s",
		    path);
}

static int
cleanup_temp(void **state)
{
	while (temp_count > 0) {
		const char *path = temp_paths[--temp_count];

		if (unlink(path) < 0 && errno == EISDIR)
			rmdir(path);
	}
	return 0;
}

static void
make_dir(char *path, size_t size)
{
	snprintf(path, size, "/tmp/dirsync-test-XXXXXX");
	assert_non_null(mkdtemp(path));
	remember_temp(path);
}

/* A temporary file in /tmp holding content with the given mode. */
static void
make_file(char *path, size_t size, const char *content, size_t len,
    mode_t mode)
{
	int fd;

	snprintf(path, size, "/tmp/dirsync-test-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	remember_temp(path);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void
make_secret(char *path, size_t size, const char *content, mode_t mode)
{
	make_file(path, size, content, strlen(content), mode);
}

/* ---- valid files, types and defaults --------------------------------- */

static void
test_defaults(void **state)
{
	struct config *cfg = parse_ok(REQ);

	assert_string_equal(cfg->path, "t.conf");
	assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg->log_target, LOG_TARGET_AUTO);
	assert_int_equal(cfg->ldap_uri_count, 1);
	assert_string_equal(cfg->ldap_uri[0], "ldap://dir.example");
	assert_null(cfg->ldap_uri[1]);
	assert_string_equal(cfg->ldap_bind_dn, "");
	assert_string_equal(cfg->ldap_bind_password, "");
	assert_string_equal(cfg->ldap_bind_password_file, "");
	assert_int_equal(cfg->ldap_sasl_mech, CONFIG_SASL_NONE);
	assert_false(cfg->ldap_starttls);
	assert_string_equal(cfg->ldap_tls_ca_file, "");
	assert_true(cfg->ldap_tls_verify);
	assert_int_equal(cfg->ldap_network_timeout_ms, 10000);
	assert_int_equal(cfg->ldap_failback_interval_ms, 60000);
	assert_string_equal(cfg->pg_conninfo, "dbname=dirsync");
	assert_string_equal(cfg->pg_password, "");
	assert_string_equal(cfg->pg_password_file, "");
	assert_int_equal(cfg->pg_connect_timeout_ms, 10000);
	assert_string_equal(cfg->status_socket,
	    "/run/dirsync/status.sock");
	assert_int_equal(cfg->status_socket[0], '/');
	assert_int_equal(cfg->status_mode, 0660);
	assert_string_equal(cfg->status_group, "");
	assert_int_equal(cfg->status_client_timeout_ms, 2000);
	assert_int_equal(cfg->retry_backoff_min_ms, 1000);
	assert_int_equal(cfg->retry_backoff_max_ms, 60000);
	assert_int_equal(cfg->mirror_mode, CONFIG_MIRROR_AUTO);
	assert_int_equal(cfg->mirror_poll_interval_ms, 5000);
	assert_int_equal(cfg->mirror_reconcile_interval_ms, 3600000);
	assert_int_equal(cfg->mirror_page_size, 500);
	assert_int_equal(cfg->mirror_range_size, 0);
	assert_int_equal(cfg->mirror_timestamp_overlap_ms, 5000);
	config_free(cfg);
}

/* The polling options of [mirror]: values, units and limits. */
static void
test_mirror_poll_options(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok_lines("[mirror]\nmode = usn\npoll_interval = 250ms\n"
	    "reconcile_interval = 2h\npage_size = 1000\nrange_size = 1500\n"
	    "timestamp_overlap = 0");
	assert_int_equal(cfg->mirror_mode, CONFIG_MIRROR_USN);
	assert_string_equal(config_mirror_modes[cfg->mirror_mode], "usn");
	assert_int_equal(cfg->mirror_poll_interval_ms, 250);
	assert_int_equal(cfg->mirror_reconcile_interval_ms, 7200000);
	assert_int_equal(cfg->mirror_page_size, 1000);
	assert_int_equal(cfg->mirror_range_size, 1500);
	assert_int_equal(cfg->mirror_timestamp_overlap_ms, 0);
	config_free(cfg);
	cfg = parse_ok_lines("[mirror]\nmode = timestamp\nreconcile_interval = 7d");
	assert_int_equal(cfg->mirror_mode, CONFIG_MIRROR_TIMESTAMP);
	config_free(cfg);
	cfg = parse_ok_lines("[mirror]\nmode = dirsync");
	assert_int_equal(cfg->mirror_mode, CONFIG_MIRROR_DIRSYNC);
	config_free(cfg);
}

static void
test_every_field(void **state)
{
	static const char text[] =
	    "# comment\n"
	    "; another comment\n"
	    "\n"
	    "[log]\n"
	    "level = debug\n"
	    "target = journal\n"
	    "  [ ldap ]  \n"
	    "uri = ldap://a.example  ldaps://b.example\tldapi://%2Frun%2Fs\n"
	    "bind_dn = \"cn=sync \\\"svc\\\",ou=a\\\\b,dc=example\"\n"
	    "sasl_mech = EXTERNAL\n"
	    "\tstarttls=YES\n"
	    "tls_ca_file = /etc/ssl/ca.pem\n"
	    "tls_verify = off\n"
	    "network_timeout = 250ms\n"
	    "\t\n"
	    "[postgresql]\n"
	    "conninfo = host=db port=5432 dbname=dirsync\n"
	    "connect_timeout = 5m\n"
	    "[status]\n"
	    "socket = /run/dirsync/s.sock\n"
	    "mode = 0600\n"
	    "group = \"dir sync\"\n"
	    "client_timeout = 3s\n"
	    "[retry]\n"
	    "backoff_min = 30\n"
	    "backoff_max = 1h\n";
	struct config *cfg = parse_ok(text);

	assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg->log_target, LOG_TARGET_JOURNAL);
	assert_int_equal(cfg->ldap_uri_count, 3);
	assert_string_equal(cfg->ldap_uri[0], "ldap://a.example");
	assert_string_equal(cfg->ldap_uri[1], "ldaps://b.example");
	assert_string_equal(cfg->ldap_uri[2], "ldapi://%2Frun%2Fs");
	assert_null(cfg->ldap_uri[3]);
	assert_string_equal(cfg->ldap_bind_dn,
	    "cn=sync \"svc\",ou=a\\b,dc=example");
	assert_int_equal(cfg->ldap_sasl_mech, CONFIG_SASL_EXTERNAL);
	assert_true(cfg->ldap_starttls);
	assert_string_equal(cfg->ldap_tls_ca_file, "/etc/ssl/ca.pem");
	assert_false(cfg->ldap_tls_verify);
	assert_int_equal(cfg->ldap_network_timeout_ms, 250);
	assert_string_equal(cfg->pg_conninfo,
	    "host=db port=5432 dbname=dirsync");
	assert_int_equal(cfg->pg_connect_timeout_ms, 300000);
	assert_string_equal(cfg->status_socket, "/run/dirsync/s.sock");
	assert_int_equal(cfg->status_mode, 0600);
	assert_string_equal(cfg->status_group, "dir sync");
	assert_int_equal(cfg->status_client_timeout_ms, 3000);
	assert_int_equal(cfg->retry_backoff_min_ms, 30000);
	assert_int_equal(cfg->retry_backoff_max_ms, 3600000);
	config_free(cfg);
}

static void
test_crlf_and_no_trailing_newline(void **state)
{
	struct config *cfg = parse_ok("[ldap]\r\nuri = ldap://a\r\n"
	    "[postgresql]\r\nconninfo = dbname=x\r\n[log]\r\nlevel = error");

	assert_string_equal(cfg->ldap_uri[0], "ldap://a");
	assert_string_equal(cfg->pg_conninfo, "dbname=x");
	assert_int_equal(cfg->log_level, LOG_LEVEL_ERROR);
	config_free(cfg);
}

static void
test_quoted_values(void **state)
{
	static const struct {
		const char *value;
		const char *want;
	} cases[] = {
		{ "\"\"", "" },
		{ "\"  spaced  \"", "  spaced  " },
		{ "\"a\\\"b\"", "a\"b" },
		{ "\"a\\\\b\"", "a\\b" },
		{ "\"\\\\\\\"\"", "\\\"" },
		{ "\"# not a comment\"", "# not a comment" },
		{ "plain \"inner\" quotes", "plain \"inner\" quotes" },
	};

	for (size_t i = 0; i < DS_ARRAY_SIZE(cases); i++) {
		char text[256];
		struct config *cfg;

		snprintf(text, sizeof(text), REQ "[status]\ngroup = %s\n",
		    cases[i].value);
		cfg = parse_ok(text);
		assert_string_equal(cfg->status_group, cases[i].want);
		config_free(cfg);
	}
}

static void
test_bool_variants(void **state)
{
	static const struct {
		const char *text;
		bool want;
	} cases[] = {
		{ "yes", true }, { "true", true }, { "on", true }, { "1", true },
		{ "YES", true }, { "True", true }, { "\"on\"", true },
		{ "no", false }, { "false", false }, { "off", false },
		{ "0", false }, { "NO", false }, { "Off", false },
	};

	for (size_t i = 0; i < DS_ARRAY_SIZE(cases); i++) {
		char text[256];
		struct config *cfg;

		/* Set both, each to the opposite of its default. */
		snprintf(text, sizeof(text),
		    REQ "[ldap]\nstarttls = %s\ntls_verify = %s\n",
		    cases[i].text, cases[i].text);
		cfg = parse_ok(text);
		assert_int_equal(cfg->ldap_starttls, cases[i].want);
		assert_int_equal(cfg->ldap_tls_verify, cases[i].want);
		config_free(cfg);
	}
}

static void
test_octal_values(void **state)
{
	static const struct {
		const char *text;
		unsigned want;
	} cases[] = {
		{ "0600", 0600 }, { "0660", 0660 }, { "660", 0660 },
		{ "0", 0 }, { "0777", 0777 }, { "00007", 07 },
	};

	for (size_t i = 0; i < DS_ARRAY_SIZE(cases); i++) {
		char text[256];
		struct config *cfg;

		snprintf(text, sizeof(text), REQ "[status]\nmode = %s\n",
		    cases[i].text);
		cfg = parse_ok(text);
		assert_int_equal(cfg->status_mode, cases[i].want);
		config_free(cfg);
	}
}

static void
test_duration_fields(void **state)
{
	static const struct {
		const char *lines;
		size_t offset;
		unsigned want;
	} cases[] = {
		{ "[ldap]\nnetwork_timeout = 250ms",
		  offsetof(struct config, ldap_network_timeout_ms), 250 },
		{ "[ldap]\nnetwork_timeout = 7",
		  offsetof(struct config, ldap_network_timeout_ms), 7000 },
		{ "[ldap]\nnetwork_timeout = \"3s\"",
		  offsetof(struct config, ldap_network_timeout_ms), 3000 },
		{ "[ldap]\nnetwork_timeout = 10m",
		  offsetof(struct config, ldap_network_timeout_ms), 600000 },
		{ "[ldap]\nfailback_interval = 0",
		  offsetof(struct config, ldap_failback_interval_ms), 0 },
		{ "[ldap]\nfailback_interval = 1s",
		  offsetof(struct config, ldap_failback_interval_ms), 1000 },
		{ "[ldap]\nfailback_interval = 1d",
		  offsetof(struct config, ldap_failback_interval_ms), 86400000 },
		{ "[postgresql]\nconnect_timeout = 2s",
		  offsetof(struct config, pg_connect_timeout_ms), 2000 },
		{ "[postgresql]\nconnect_timeout = 100ms",
		  offsetof(struct config, pg_connect_timeout_ms), 100 },
		{ "[status]\nclient_timeout = 1m",
		  offsetof(struct config, status_client_timeout_ms), 60000 },
		{ "[status]\nclient_timeout = 10ms",
		  offsetof(struct config, status_client_timeout_ms), 10 },
		{ "[retry]\nbackoff_max = 1h",
		  offsetof(struct config, retry_backoff_max_ms), 3600000 },
		{ "[retry]\nbackoff_max = 5m",
		  offsetof(struct config, retry_backoff_max_ms), 300000 },
		{ "[retry]\nbackoff_min = 10ms",
		  offsetof(struct config, retry_backoff_min_ms), 10 },
	};

	for (size_t i = 0; i < DS_ARRAY_SIZE(cases); i++) {
		struct config *cfg = parse_ok_lines(cases[i].lines);

		assert_int_equal(*(unsigned *)((char *)cfg + cases[i].offset),
		    cases[i].want);
		config_free(cfg);
	}
}

static void
test_enum_values(void **state)
{
	static const struct {
		const char *lines;
		size_t offset;
		int want;
	} cases[] = {
		{ "[log]\nlevel = error", offsetof(struct config, log_level),
		  LOG_LEVEL_ERROR },
		{ "[log]\nlevel = warning", offsetof(struct config, log_level),
		  LOG_LEVEL_WARNING },
		{ "[log]\nlevel = info", offsetof(struct config, log_level),
		  LOG_LEVEL_INFO },
		{ "[log]\nlevel = debug", offsetof(struct config, log_level),
		  LOG_LEVEL_DEBUG },
		{ "[log]\ntarget = auto", offsetof(struct config, log_target),
		  LOG_TARGET_AUTO },
		{ "[log]\ntarget = stderr", offsetof(struct config, log_target),
		  LOG_TARGET_STDERR },
		{ "[log]\ntarget = syslog", offsetof(struct config, log_target),
		  LOG_TARGET_SYSLOG },
		{ "[log]\ntarget = journal", offsetof(struct config, log_target),
		  LOG_TARGET_JOURNAL },
		{ "[ldap]\nsasl_mech = none",
		  offsetof(struct config, ldap_sasl_mech), CONFIG_SASL_NONE },
		{ "[ldap]\nsasl_mech = EXTERNAL",
		  offsetof(struct config, ldap_sasl_mech), CONFIG_SASL_EXTERNAL },
	};

	for (size_t i = 0; i < DS_ARRAY_SIZE(cases); i++) {
		struct config *cfg = parse_ok_lines(cases[i].lines);

		assert_int_equal(*(int *)((char *)cfg + cases[i].offset),
		    cases[i].want);
		config_free(cfg);
	}
}

static void
test_parse_duration(void **state)
{
	static const struct {
		const char *text;
		int rc;
		unsigned long ms;
	} cases[] = {
		{ "250ms", 0, 250 },
		{ "2s", 0, 2000 },
		{ "5m", 0, 300000 },
		{ "1h", 0, 3600000 },
		{ "2d", 0, 172800000 },
		{ "7", 0, 7000 },
		{ "0", 0, 0 },
		{ "0ms", 0, 0 },
		{ "007s", 0, 7000 },
		{ "4294967295ms", 0, 4294967295UL },
		{ "4294967s", 0, 4294967000UL },
		{ "49d", 0, 49UL * 86400000 },
		{ "4294967296ms", -1, 0 },
		{ "4294968s", -1, 0 },
		{ "4294968", -1, 0 },
		{ "50d", -1, 0 },
		{ "99999999999999999999999", -1, 0 },
		{ "", -1, 0 },
		{ "s", -1, 0 },
		{ "ms", -1, 0 },
		{ "-1s", -1, 0 },
		{ "+1s", -1, 0 },
		{ " 1s", -1, 0 },
		{ "1s ", -1, 0 },
		{ "1 s", -1, 0 },
		{ "1.5s", -1, 0 },
		{ "1S", -1, 0 },
		{ "1sec", -1, 0 },
		{ "1w", -1, 0 },
		{ "1h30m", -1, 0 },
		{ "0x10", -1, 0 },
	};

	for (size_t i = 0; i < DS_ARRAY_SIZE(cases); i++) {
		unsigned long ms = 12345;
		int rc = config_parse_duration(cases[i].text, &ms);

		if (rc != cases[i].rc)
			print_error("case '%s': rc %d\n", cases[i].text, rc);
		assert_int_equal(rc, cases[i].rc);
		if (rc == 0)
			assert_int_equal(ms, cases[i].ms);
		else
			assert_int_equal(ms, 12345); /* untouched on error */
	}
}

/* ---- errors ------------------------------------------------------------ */

struct error_case {
	const char *name;
	const char *text;
	const char *want[6]; /* NULL-terminated; '*' at the end = prefix */
};

static const struct error_case error_cases[] = {
	{ "unknown section", REQ "[nosuch]\nfoo = 1\nbar = 2\n",
	  { "t.conf:5: unknown section [nosuch]" } },
	{ "unknown section, then a known one",
	  REQ "[nosuch]\nfoo = 1\n[status]\nnope = 1\n",
	  { "t.conf:5: unknown section [nosuch]",
	    "t.conf:8: unknown key 'nope' in section [status]" } },
	{ "unknown key", REQ "[log]\nverbosity = 3\n",
	  { "t.conf:6: unknown key 'verbosity' in section [log]" } },
	{ "key outside a section", "level = debug\n" REQ,
	  { "t.conf:1: 'level' is outside any known section" } },
	{ "duplicate key",
	  "[ldap]\nuri = ldap://a\nbind_dn = cn=x\nuri = ldap://b\n"
	  "[postgresql]\nconninfo = x\n",
	  { "t.conf:4: ldap.uri is already set on line 2" } },
	{ "duplicate key in a repeated section", REQ "[ldap]\nuri = ldap://b\n",
	  { "t.conf:6: ldap.uri is already set on line 2" } },
	{ "malformed section header", REQ "[status\nmode = 0600\n",
	  { "t.conf:5: malformed section header '[status'" } },
	{ "text after a section header", REQ "[status] x\n",
	  { "t.conf:5: malformed section header '[status] x'" } },
	{ "line without '='", REQ "[log]\nlevel debug\n",
	  { "t.conf:6: expected 'key = value' or '[section]', got 'level debug'" } },
	{ "bad bool", REQ "[ldap]\nstarttls = maybe\n",
	  { "t.conf:6: ldap.starttls: 'maybe' is not a boolean (use yes or no)" } },
	{ "empty bool", REQ "[ldap]\ntls_verify =\n",
	  { "t.conf:6: ldap.tls_verify: '' is not a boolean (use yes or no)" } },
	{ "bad duration", REQ "[ldap]\nnetwork_timeout = 10sec\n",
	  { "t.conf:6: ldap.network_timeout: '10sec' is not a duration (like 250ms, 30s, 5m, 1h)" } },
	{ "negative duration", REQ "[postgresql]\nconnect_timeout = -1s\n",
	  { "t.conf:6: postgresql.connect_timeout: '-1s' is not a duration (like 250ms, 30s, 5m, 1h)" } },
	{ "duration overflowing 32 bits", REQ "[retry]\nbackoff_max = 50d\n",
	  { "t.conf:6: retry.backoff_max: '50d' is not a duration (like 250ms, 30s, 5m, 1h)" } },
	{ "duration below min", REQ "[ldap]\nnetwork_timeout = 50ms\n",
	  { "t.conf:6: ldap.network_timeout: '50ms' is out of range (100ms to 10m)" } },
	{ "duration above max", REQ "[status]\nclient_timeout = 2m\n",
	  { "t.conf:6: status.client_timeout: '2m' is out of range (10ms to 1m)" } },
	{ "duration in days above max", REQ "[retry]\nbackoff_max = 2d\n",
	  { "t.conf:6: retry.backoff_max: '2d' is out of range (10ms to 1h)" } },
	{ "bad octal", REQ "[status]\nmode = 0689\n",
	  { "t.conf:6: status.mode: '0689' is not an octal mode like 0660" } },
	{ "octal given as words", REQ "[status]\nmode = rw-rw----\n",
	  { "t.conf:6: status.mode: 'rw-rw----' is not an octal mode like 0660" } },
	{ "octal out of range", REQ "[status]\nmode = 01777\n",
	  { "t.conf:6: status.mode: '01777' is out of range (0000 to 0777)" } },
	{ "bad enum", REQ "[log]\nlevel = verbose\n",
	  { "t.conf:6: log.level: 'verbose' is not one of: error, warning, info, debug" } },
	{ "enum is case-sensitive", REQ "[ldap]\nsasl_mech = external\n",
	  { "t.conf:6: ldap.sasl_mech: 'external' is not one of: none, EXTERNAL, GSSAPI" } },
	{ "relative path", REQ "[status]\nsocket = run/dirsync.sock\n",
	  { "t.conf:6: status.socket: 'run/dirsync.sock' is not an absolute path" } },
	{ "relative secret path", REQ "[postgresql]\npassword_file = pw.txt\n",
	  { "t.conf:6: postgresql.password_file: 'pw.txt' is not an absolute path" } },
	{ "unterminated quote", REQ "[ldap]\nbind_dn = \"cn=x\n",
	  { "t.conf:6: ldap.bind_dn: unterminated or malformed quoted value" } },
	{ "quote ending in a backslash", REQ "[ldap]\nbind_dn = \"cn=x\\\"\n",
	  { "t.conf:6: ldap.bind_dn: unterminated or malformed quoted value" } },
	{ "unknown escape in quotes", REQ "[ldap]\nbind_dn = \"a\\tb\"\n",
	  { "t.conf:6: ldap.bind_dn: unterminated or malformed quoted value" } },
	{ "text after the closing quote", REQ "[ldap]\nbind_dn = \"a\" b\n",
	  { "t.conf:6: ldap.bind_dn: unterminated or malformed quoted value" } },
	{ "empty list", "[ldap]\nuri =\n[postgresql]\nconninfo = x\n",
	  { "t.conf:2: ldap.uri: needs at least one value" } },
	{ "list of blanks", "[ldap]\nuri = \"  \"\n[postgresql]\nconninfo = x\n",
	  { "t.conf:2: ldap.uri: needs at least one value" } },
	{ "missing required options", "[log]\nlevel = debug\n",
	  { "t.conf:2: missing required option ldap.uri (*",
	    "t.conf:2: missing required option postgresql.conninfo (*" } },
	{ "missing required options, no final newline", "[log]\nlevel = debug",
	  { "t.conf:2: missing required option ldap.uri (*",
	    "t.conf:2: missing required option postgresql.conninfo (*" } },
	{ "missing required options, empty file", "",
	  { "t.conf:1: missing required option ldap.uri (*",
	    "t.conf:1: missing required option postgresql.conninfo (*" } },
	{ "missing one required option", "[ldap]\nuri = ldap://a\n\n\n",
	  { "t.conf:4: missing required option postgresql.conninfo (*" } },
	{ "backoff_max < backoff_min",
	  REQ "[retry]\nbackoff_min = 2m\nbackoff_max = 1m\n",
	  { "t.conf:7: retry.backoff_max is shorter than retry.backoff_min" } },
	{ "backoff_min above the default backoff_max",
	  REQ "[retry]\nbackoff_min = 2m\n",
	  { "t.conf:6: retry.backoff_max is shorter than retry.backoff_min" } },
	{ "every error is collected",
	  "[log]\nlevel = loud\n[ldap]\nstarttls = perhaps\n[status]\n"
	  "mode = 9\n",
	  { "t.conf:2: log.level: 'loud' is not one of: *",
	    "t.conf:4: ldap.starttls: 'perhaps' is not a boolean*",
	    "t.conf:6: status.mode: '9' is not an octal mode like 0660",
	    "t.conf:6: missing required option ldap.uri (*",
	    "t.conf:6: missing required option postgresql.conninfo (*" } },
};

static void
test_errors(void **state)
{
	unsigned failed = 0;

	/* Run every case before failing, to see all differences at once. */
	for (size_t i = 0; i < DS_ARRAY_SIZE(error_cases); i++)
		failed += !check_errors(error_cases[i].name,
		    error_cases[i].text, error_cases[i].want);
	assert_int_equal(failed, 0);
}

static void
test_missing_required_names_help(void **state)
{
	const struct config_option *opts;
	size_t n;
	char want[2][512];
	const char *wantv[3] = { want[0], want[1], NULL };
	size_t k = 0;

	/* The message quotes the option's help line from the table. */
	opts = config_options(&n);
	for (size_t i = 0; i < n; i++) {
		if (opts[i].def != NULL)
			continue;
		assert_true(k < 2);
		snprintf(want[k++], sizeof(want[0]),
		    "t.conf:1: missing required option %s.%s (%s)",
		    opts[i].section, opts[i].name, opts[i].help);
	}
	assert_int_equal(k, 2);
	expect_errors("required", "[log]", wantv);
}

static void
test_diag_null_is_allowed(void **state)
{
	assert_null(config_parse("t.conf", "[nosuch]\n", NULL));
}

/* ---- secret files ------------------------------------------------------ */

static void
test_secret_read(void **state)
{
	static const struct {
		const char *content;
		const char *want;
	} cases[] = {
		{ "s3cret\n", "s3cret" },
		{ "s3cret", "s3cret" },
		{ "pw\r\n", "pw" },
		{ "two words\n\n", "two words" },
		{ " keep spaces \n", " keep spaces " },
		{ "", "" },
	};

	for (size_t i = 0; i < DS_ARRAY_SIZE(cases); i++) {
		char path[64], text[512];
		struct config *cfg;

		make_secret(path, sizeof(path), cases[i].content, 0600);
		snprintf(text, sizeof(text),
		    "[ldap]\nuri = ldap://a\nbind_dn = cn=sync\n"
		    "bind_password_file = %s\n"
		    "[postgresql]\nconninfo = x\npassword_file = %s\n",
		    path, path);
		cfg = parse_ok(text);
		assert_string_equal(cfg->ldap_bind_password, cases[i].want);
		assert_string_equal(cfg->ldap_bind_password_file, path);
		assert_string_equal(cfg->pg_password, cases[i].want);
		assert_string_equal(cfg->pg_password_file, path);
		config_free(cfg);
		unlink(path);
	}
}

static void
test_secret_modes(void **state)
{
	static const struct {
		mode_t mode;
		bool ok;
	} cases[] = {
		{ 0600, true }, { 0400, true }, { 0640, true }, { 0660, true },
		{ 0644, false }, { 0604, false }, { 0602, false },
		{ 0601, false }, { 0666, false }, { 0777, false },
	};

	for (size_t i = 0; i < DS_ARRAY_SIZE(cases); i++) {
		char path[64], text[256], want[512];
		const char *wantv[2] = { want, NULL };

		make_secret(path, sizeof(path), "pw\n", cases[i].mode);
		snprintf(text, sizeof(text),
		    REQ "[postgresql]\npassword_file = %s\n", path);
		if (cases[i].ok) {
			struct config *cfg = parse_ok(text);
			assert_string_equal(cfg->pg_password, "pw");
			config_free(cfg);
		} else {
			snprintf(want, sizeof(want),
			    "t.conf:6: postgresql.password_file: %s is readable "
			    "by others (mode %04o); run chmod o-rwx on it",
			    path, (unsigned)cases[i].mode);
			expect_errors("mode", text, wantv);
		}
		unlink(path);
	}
}

static void
test_secret_refused_mentions_path(void **state)
{
	char path[64], text[256];
	struct config_diag diag = { 0 };
	struct config *cfg;

	make_secret(path, sizeof(path), "pw\n", 0644);
	snprintf(text, sizeof(text),
	    REQ "[postgresql]\npassword_file = %s\n", path);
	cfg = config_parse("t.conf", text, &diag);
	unlink(path);
	assert_null(cfg);
	assert_int_equal(diag.count, 1);
	assert_non_null(strstr(diag.msgs[0], "readable by others"));
	assert_non_null(strstr(diag.msgs[0], path));
	assert_true(strncmp(diag.msgs[0], "t.conf:6: ", 10) == 0);
	config_diag_free(&diag);
}

static void
test_secret_unusable_files(void **state)
{
	char dir[64], lnk[128], missing[128], big[64], nul[64];
	char text[1024], want[6][512];
	char *bigbuf;

	make_dir(dir, sizeof(dir));
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	snprintf(lnk, sizeof(lnk), "%s/link", dir);
	bigbuf = malloc(5000);
	assert_non_null(bigbuf);
	memset(bigbuf, 'a', 5000);
	make_file(big, sizeof(big), bigbuf, 5000, 0600);
	free(bigbuf);
	make_file(nul, sizeof(nul), "a\0b", 3, 0600);
	assert_int_equal(symlink(big, lnk), 0);
	remember_temp(lnk);

	/* One parse per file: a key may appear once, and both secret
	 * options are checked by the same code. */
	snprintf(want[0], sizeof(want[0]),
	    "t.conf:6: postgresql.password_file: cannot open %s: %s", missing,
	    strerror(ENOENT));
	snprintf(want[1], sizeof(want[1]),
	    "t.conf:6: postgresql.password_file: %s is not a regular file", dir);
	snprintf(want[2], sizeof(want[2]),
	    "t.conf:6: postgresql.password_file: cannot open %s: %s", lnk,
	    strerror(ELOOP));
	snprintf(want[3], sizeof(want[3]),
	    "t.conf:6: postgresql.password_file: %s is larger than 4096 bytes",
	    big);
	snprintf(want[4], sizeof(want[4]),
	    "t.conf:6: postgresql.password_file: %s contains a NUL byte", nul);
	{
		const char *paths[] = { missing, dir, lnk, big, nul };

		for (size_t i = 0; i < DS_ARRAY_SIZE(paths); i++) {
			const char *wantv[2] = { want[i], NULL };

			snprintf(text, sizeof(text),
			    REQ "[postgresql]\npassword_file = %s\n", paths[i]);
			expect_errors(paths[i], text, wantv);
		}
	}
	unlink(lnk);
	unlink(big);
	unlink(nul);
	rmdir(dir);
}

static void
test_secret_relations(void **state)
{
	char good[64], bad[64], text[512], want[2][512];

	make_secret(good, sizeof(good), "pw\n", 0600);
	make_secret(bad, sizeof(bad), "pw\n", 0644);

	/* bind_password_file without bind_dn, at the bind_password_file line. */
	snprintf(text, sizeof(text), "[ldap]\nuri = ldap://a\n"
	    "bind_password_file = %s\n[postgresql]\nconninfo = x\n", good);
	{
		const char *wantv[] = { "t.conf:3: ldap.bind_password_file is set but ldap.bind_dn is empty", NULL };
		expect_errors("no bind_dn", text, wantv);
	}

	/* An empty password file is still a password file. */
	{
		char empty[64];
		const char *wantv[] = { "t.conf:3: ldap.bind_password_file is set but ldap.bind_dn is empty", NULL };

		make_secret(empty, sizeof(empty), "", 0600);
		snprintf(text, sizeof(text), "[ldap]\nuri = ldap://a\n"
		    "bind_password_file = %s\n[postgresql]\nconninfo = x\n",
		    empty);
		expect_errors("empty secret, no bind_dn", text, wantv);
		unlink(empty);
	}

	/* An unreadable bind password: both problems, no crash. */
	snprintf(text, sizeof(text), "[ldap]\nuri = ldap://a\n"
	    "bind_password_file = %s\n[postgresql]\nconninfo = x\n", bad);
	snprintf(want[0], sizeof(want[0]),
	    "t.conf:3: ldap.bind_password_file: %s is readable by others*", bad);
	snprintf(want[1], sizeof(want[1]),
	    "t.conf:3: ldap.bind_password_file is set but ldap.bind_dn is empty");
	{
		const char *wantv[] = { want[0], want[1], NULL };
		expect_errors("unreadable, no bind_dn", text, wantv);
	}
	snprintf(text, sizeof(text), "[ldap]\nuri = ldap://a\nbind_dn = cn=x\n"
	    "bind_password_file = %s\n[postgresql]\nconninfo = x\n", bad);
	snprintf(want[0], sizeof(want[0]),
	    "t.conf:4: ldap.bind_password_file: %s is readable by others*", bad);
	{
		const char *wantv[] = { want[0], NULL };
		expect_errors("unreadable, with bind_dn", text, wantv);
	}

	/* SASL EXTERNAL takes no password: reported at the sasl_mech line. */
	snprintf(text, sizeof(text), "[ldap]\nuri = ldapi://\n"
	    "sasl_mech = EXTERNAL\nbind_dn = cn=x\nbind_password_file = %s\n"
	    "[postgresql]\nconninfo = x\n", good);
	{
		const char *wantv[] = { "t.conf:3: ldap.sasl_mech EXTERNAL takes no password; remove ldap.bind_password_file", NULL };
		expect_errors("EXTERNAL with password", text, wantv);
	}

	/* GSSAPI: the keytab is checked like a password file, at its line;
	 * no password; a keytab needs GSSAPI. */
	snprintf(text, sizeof(text), "[ldap]\nuri = ldap://a\n"
	    "sasl_mech = GSSAPI\nkeytab = %s\n[postgresql]\nconninfo = x\n",
	    bad);
	snprintf(want[0], sizeof(want[0]),
	    "t.conf:4: ldap.keytab: %s is readable by others*", bad);
	{
		const char *wantv[] = { want[0], NULL };
		expect_errors("GSSAPI, keytab readable by others", text, wantv);
	}
	snprintf(text, sizeof(text), "[ldap]\nuri = ldap://a\n"
	    "sasl_mech = GSSAPI\n[postgresql]\nconninfo = x\n");
	{
		const char *wantv[] = { "t.conf:3: ldap.sasl_mech GSSAPI needs ldap.keytab", NULL };
		expect_errors("GSSAPI without keytab", text, wantv);
	}
	snprintf(text, sizeof(text), "[ldap]\nuri = ldap://a\n"
	    "sasl_mech = GSSAPI\nkeytab = %s\nbind_dn = cn=x\n"
	    "bind_password_file = %s\n[postgresql]\nconninfo = x\n", good,
	    good);
	{
		const char *wantv[] = { "t.conf:6: ldap.sasl_mech GSSAPI takes no password; remove ldap.bind_password_file", NULL };
		expect_errors("GSSAPI with password", text, wantv);
	}
	snprintf(text, sizeof(text), "[ldap]\nuri = ldap://a\nkeytab = %s\n"
	    "[postgresql]\nconninfo = x\n", good);
	{
		const char *wantv[] = { "t.conf:3: ldap.keytab is set but ldap.sasl_mech is not GSSAPI", NULL };
		expect_errors("keytab without GSSAPI", text, wantv);
	}
	snprintf(text, sizeof(text), "[ldap]\nuri = ldap://a\n"
	    "sasl_mech = GSSAPI\nkeytab = %s\n[postgresql]\nconninfo = x\n",
	    good);
	{
		struct config_diag diag = { 0 };
		struct config *cfg = config_parse("t.conf", text, &diag);

		assert_non_null(cfg);
		assert_int_equal(cfg->ldap_sasl_mech, CONFIG_SASL_GSSAPI);
		assert_string_equal(cfg->ldap_keytab, good);
		config_free(cfg);
		config_diag_free(&diag);
	}
	unlink(good);
	unlink(bad);
}

/* ---- config_load ------------------------------------------------------- */

static void
test_load_file(void **state)
{
	char path[64], want[256];
	struct config_diag diag = { 0 };
	struct config *cfg;

	make_secret(path, sizeof(path), REQ "[log]\nlevel = warning\n", 0644);
	cfg = config_load(path, &diag);
	assert_non_null(cfg);
	assert_int_equal(diag.count, 0);
	assert_string_equal(cfg->path, path);
	assert_int_equal(cfg->log_level, LOG_LEVEL_WARNING);
	config_free(cfg);
	unlink(path);

	/* Messages name the file. */
	make_secret(path, sizeof(path), REQ "[log]\nlevel = loud\n", 0644);
	assert_null(config_load(path, &diag));
	assert_int_equal(diag.count, 1);
	snprintf(want, sizeof(want), "%s:6: log.level: 'loud' is not one of*",
	    path);
	assert_true(msg_matches(diag.msgs[0], want));
	config_diag_free(&diag);
	unlink(path);
}

static void
test_load_unreadable(void **state)
{
	char dir[64], path[128], want[256];
	struct config_diag diag = { 0 };

	make_dir(dir, sizeof(dir));

	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	assert_null(config_load(path, &diag));
	assert_int_equal(diag.count, 1);
	snprintf(want, sizeof(want), "%s:0: cannot open: %s", path,
	    strerror(ENOENT));
	assert_string_equal(diag.msgs[0], want);
	config_diag_free(&diag);

	assert_null(config_load_public(path, &diag));
	assert_int_equal(diag.count, 1);
	assert_string_equal(diag.msgs[0], want);
	config_diag_free(&diag);

	/* A directory opens but cannot be read. */
	assert_null(config_load(dir, &diag));
	assert_int_equal(diag.count, 1);
	snprintf(want, sizeof(want), "%s:0: read error", dir);
	assert_string_equal(diag.msgs[0], want);
	config_diag_free(&diag);
	rmdir(dir);

	/* A NUL byte would silently cut the file short. */
	make_file(path, sizeof(path), REQ "\0[log]\n", sizeof(REQ "\0[log]\n") - 1,
	    0644);
	assert_null(config_load(path, &diag));
	assert_int_equal(diag.count, 1);
	snprintf(want, sizeof(want), "%s:0: contains a NUL byte", path);
	assert_string_equal(diag.msgs[0], want);
	config_diag_free(&diag);
	unlink(path);
}

static void
test_load_public_skips_secrets(void **state)
{
	char secret[64], conf[64], text[256];
	struct config_diag diag = { 0 };
	struct config *cfg;

	make_secret(secret, sizeof(secret), "pw\n", 0644);
	snprintf(text, sizeof(text), REQ "[postgresql]\npassword_file = %s\n"
	    "[status]\nsocket = /run/x.sock\n", secret);
	make_secret(conf, sizeof(conf), text, 0644);

	cfg = config_load_public(conf, &diag);
	assert_non_null(cfg);
	assert_int_equal(diag.count, 0);
	assert_string_equal(cfg->status_socket, "/run/x.sock");
	assert_string_equal(cfg->pg_password_file, secret);
	assert_string_equal(cfg->pg_password, "");
	config_free(cfg);

	/* The daemon's config_load() refuses the same file. */
	assert_null(config_load(conf, &diag));
	assert_int_equal(diag.count, 1);
	assert_non_null(strstr(diag.msgs[0], "readable by others"));
	config_diag_free(&diag);
	unlink(conf);
	unlink(secret);
}

/* ---- reload ------------------------------------------------------------ */

static void
test_merge_reload(void **state)
{
	static const char old_text[] = REQ "[status]\nsocket = /run/a.sock\n"
	    "mode = 0600\ngroup = g1\nclient_timeout = 1s\n[log]\nlevel = info\n";
	static const char socket_text[] = REQ "[status]\nsocket = /run/b.sock\n"
	    "mode = 0600\ngroup = g1\nclient_timeout = 5s\n[log]\nlevel = debug\n"
	    "[ldap]\nbind_dn = cn=new\n";
	static const char all_text[] = REQ "[status]\nsocket = /run/b.sock\n"
	    "mode = 0640\ngroup = g2\n";
	struct config_diag diag = { 0 };
	struct config *old, *next;

	old = parse_ok(old_text);

	/* A changed socket: kept, with a warning; the rest is taken. */
	next = parse_ok(socket_text);
	config_merge_reload(next, old, &diag);
	assert_int_equal(diag.count, 1);
	assert_string_equal(diag.msgs[0], "t.conf: status.socket cannot change "
	    "while running; keeping the old value until restart");
	assert_string_equal(next->status_socket, "/run/a.sock");
	assert_int_equal(next->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(next->status_client_timeout_ms, 5000);
	assert_string_equal(next->ldap_bind_dn, "cn=new");
	config_diag_free(&diag);
	config_free(next);

	/* Every non-reloadable option, in table order. */
	next = parse_ok(all_text);
	config_merge_reload(next, old, &diag);
	assert_int_equal(diag.count, 3);
	assert_true(msg_matches(diag.msgs[0], "t.conf: status.socket cannot*"));
	assert_true(msg_matches(diag.msgs[1], "t.conf: status.mode cannot*"));
	assert_true(msg_matches(diag.msgs[2], "t.conf: status.group cannot*"));
	assert_string_equal(next->status_socket, "/run/a.sock");
	assert_int_equal(next->status_mode, 0600);
	assert_string_equal(next->status_group, "g1");
	/* client_timeout is reloadable and fell back to its default. */
	assert_int_equal(next->status_client_timeout_ms, 2000);
	config_diag_free(&diag);
	config_free(next);

	/* The same file again: nothing to say. */
	next = parse_ok(old_text);
	config_merge_reload(next, old, &diag);
	assert_int_equal(diag.count, 0);
	config_free(next);
	config_free(old);
}

/* ---- the example file -------------------------------------------------- */

static char *
example_text(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	config_write_example(f);
	assert_int_equal(fclose(f), 0);
	assert_non_null(buf);
	return buf;
}

static void
test_example_lists_every_option(void **state)
{
	char *text = example_text();
	const struct config_option *opts;
	size_t n;

	opts = config_options(&n);
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		char header[64], set[96], commented[128];
		const char *sec, *end, *hit;

		snprintf(header, sizeof(header), "\n[%s]\n", opts[i].section);
		sec = strstr(text, header);
		if (sec == NULL)
			fail_msg("no %s in the example", header);
		end = strstr(sec + 1, "\n[");
		if (end == NULL)
			end = text + strlen(text);
		snprintf(set, sizeof(set), "\n%s = \n", opts[i].name);
		snprintf(commented, sizeof(commented), "\n#%s = %s\n",
		    opts[i].name, opts[i].def ? opts[i].def : "");
		/* Required options are live lines; the rest show the default. */
		hit = strstr(sec, opts[i].def ? commented : set);
		if (hit == NULL || hit > end)
			fail_msg("%s.%s is not under [%s] in the example",
			    opts[i].section, opts[i].name, opts[i].section);
	}
	free(text);
}

static void
test_example_parses(void **state)
{
	char *text = example_text();
	struct config_diag diag = { 0 };
	struct config *cfg;
	const char *uri = strstr(text, "\nuri = \n");
	const char *conninfo = strstr(text, "\nconninfo = \n");
	unsigned line = 1, line2 = 1;
	char want[128];

	assert_non_null(uri);
	assert_non_null(conninfo);
	for (const char *p = text; p <= uri; p++)
		line += *p == '\n';
	for (const char *p = text; p <= conninfo; p++)
		line2 += *p == '\n';
	/* Only the required options are live, with empty values: each is
	 * reported, at its own line. */
	cfg = config_parse("example", text, &diag);
	if (diag.count != 2)
		dump_diag(&diag);
	assert_null(cfg);
	assert_int_equal(diag.count, 2);
	snprintf(want, sizeof(want), "example:%u: ldap.uri: needs at least one value",
	    line);
	assert_string_equal(diag.msgs[0], want);
	snprintf(want, sizeof(want), "example:%u: postgresql.conninfo: needs a value (",
	    line2);
	assert_memory_equal(diag.msgs[1], want, strlen(want));
	config_diag_free(&diag);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_mirror_poll_options),
		cmocka_unit_test(test_every_field),
		cmocka_unit_test(test_crlf_and_no_trailing_newline),
		cmocka_unit_test(test_quoted_values),
		cmocka_unit_test(test_bool_variants),
		cmocka_unit_test(test_octal_values),
		cmocka_unit_test(test_duration_fields),
		cmocka_unit_test(test_enum_values),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing_required_names_help),
		cmocka_unit_test(test_diag_null_is_allowed),
		cmocka_unit_test(test_secret_read),
		cmocka_unit_test(test_secret_modes),
		cmocka_unit_test(test_secret_refused_mentions_path),
		cmocka_unit_test(test_secret_unusable_files),
		cmocka_unit_test(test_secret_relations),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_unreadable),
		cmocka_unit_test(test_load_public_skips_secrets),
		cmocka_unit_test(test_merge_reload),
		cmocka_unit_test(test_example_lists_every_option),
		cmocka_unit_test(test_example_parses),
	};

	return cmocka_run_group_tests(tests, NULL, cleanup_temp);
}
