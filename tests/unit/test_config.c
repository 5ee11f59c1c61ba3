/* test_config.c - unit tests for the configuration parser (config.h): every
 * value type and default, every error with its "NAME:LINE: message", secret
 * files, config_load(), reload merging, the generated example file, and a
 * small fuzz (every truncation, byte and line mutations, random texts). */
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

/* ---- fuzz -------------------------------------------------------------- */

/* The parser reads a file an administrator edits by hand, and `dirsyncd
 * -t` shows its messages as they are.  Whatever the text, it must not
 * crash or leak, it must never reject a file without saying why, and
 * every message must point into the file as "NAME:LINE: ".  The inputs
 * are mutations of two valid files plus random texts, all drawn from a
 * fixed LCG (each test its own seed, so adding rounds to one test does
 * not change the inputs of another): a failure reproduces. */

/* Bytes the parser looks at, or that break its assumptions: structure
 * ('[', ']', '=', both comment characters, line ends, quotes, escapes,
 * blanks), the value syntaxes (digits, '%', duration units and a unit it
 * does not know, '/', '-'), control bytes, 0xff and halves of UTF-8
 * sequences (0xc3 0xa9 is "é", 0xe2 0x82 0xac is "€"; alone, invalid).
 * No NUL: config_parse() takes a C string, where a NUL is a truncation,
 * and test_fuzz_truncations() has every one; 0x01 and 0x7f stand in. */
static const unsigned char fuzz_alphabet[] = {
	'[', ']', '=', '#', ';', '\n', '\r', '\\', '"', ' ', '\t', 0xff,
	0xc3, 0xa9, 0xe2, 0x82, 0xac, '0', '1', '7', '9', '%', 'k', 'm',
	's', 'h', 'd', '/', '-', 0x01, 0x7f,
};

#define FUZZ_NAME "fuzz.conf"

/* The LCG of test_normalize_random (test_escape.c): 16 bits a draw. */
static uint32_t
fuzz_rand(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16;
}

static unsigned char
fuzz_byte(uint32_t *seed)
{
	return fuzz_alphabet[fuzz_rand(seed) % sizeof(fuzz_alphabet)];
}

/* The input as a C literal (octal escapes cannot swallow the next
 * character), to paste into fuzz_found[] when a check fails. */
static void
fuzz_print_input(const char *text)
{
	print_error("input: \"");
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p == '\n')
			print_error("\\n%s", p[1] ? "\"\n    \"" : "");
		else if (*p == '"' || *p == '\\')
			print_error("\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			print_error("\\%03o", *p);
		else
			print_error("%c", *p);
	}
	print_error("\"\n");
}

/* Whether msg starts with "fuzz.conf:LINE: " and says something, LINE
 * being a line of the file (1 to lines). */
static bool
fuzz_msg_ok(const char *msg, unsigned lines)
{
	const char *p = msg + strlen(FUZZ_NAME ":");
	unsigned long line = 0;

	if (strncmp(msg, FUZZ_NAME ":", strlen(FUZZ_NAME ":")) != 0)
		return false;
	if (*p < '1' || *p > '9')
		return false;
	/* Stop once past lines, so that a long number cannot overflow. */
	while (*p >= '0' && *p <= '9' && line <= lines)
		line = line * 10 + (unsigned long)(*p++ - '0');
	return line <= lines && p[0] == ':' && p[1] == ' ' && p[2] != '\0';
}

/* Parse the first len bytes of text (a copy of exactly that size, so
 * that ASan sees any read past its end) and check the verdict; returns
 * whether it was accepted. */
static bool
fuzz_check(const char *text, size_t len)
{
	struct config_diag diag = { 0 };
	struct config *cfg;
	char *copy = malloc(len + 1);
	unsigned lines = 0;
	bool ok = true, accepted;

	assert_non_null(copy);
	memcpy(copy, text, len);
	copy[len] = '\0';
	assert_null(memchr(copy, '\0', len));
	/* Lines as the parser counts them: a last line without a newline
	 * counts, and an empty file's problems are on line 1. */
	for (size_t i = 0; i < len; i++)
		lines += copy[i] == '\n';
	if (len > 0 && copy[len - 1] != '\n')
		lines++;
	if (lines == 0)
		lines = 1;

	cfg = config_parse(FUZZ_NAME, copy, &diag);
	accepted = cfg != NULL;
	if (cfg == NULL && diag.count == 0) {
		print_error("rejected without a message\n");
		ok = false;
	}
	if (cfg != NULL && diag.count != 0) {
		print_error("accepted, yet with messages\n");
		ok = false;
	}
	for (size_t i = 0; i < diag.count; i++) {
		if (!fuzz_msg_ok(diag.msgs[i], lines)) {
			print_error("message %zu is not \"" FUZZ_NAME ":LINE: ...\" "
			    "with LINE in 1..%u\n", i, lines);
			ok = false;
		}
	}
	if (cfg != NULL) {
		const struct config_option *opts;
		size_t n;

		/* What the daemon relies on in a config it was given. */
		if (cfg->ldap_uri == NULL || cfg->ldap_uri_count == 0 ||
		    cfg->ldap_uri[cfg->ldap_uri_count] != NULL ||
		    cfg->pg_conninfo == NULL || cfg->pg_conninfo[0] == '\0' ||
		    cfg->ldap_bind_password == NULL || cfg->pg_password == NULL) {
			print_error("accepted with a required value missing\n");
			ok = false;
		}
		/* option_lines, not config_line_of(): no lookup by name
		 * for each of the thousands of accepted inputs. */
		opts = config_options(&n);
		for (size_t i = 0; i < n; i++) {
			if (cfg->option_lines[i] > lines) {
				print_error("%s.%s set on line %u of %u\n",
				    opts[i].section, opts[i].name,
				    cfg->option_lines[i], lines);
				ok = false;
			}
		}
	}
	if (!ok) {
		dump_diag(&diag);
		fuzz_print_input(copy);
	}
	config_free(cfg);
	config_diag_free(&diag);
	free(copy);
	assert_true(ok);
	return accepted;
}

/* The first from in text (which is freed) replaced by to, in a new
 * string. */
static char *
replace_once(char *text, const char *from, const char *to)
{
	char *hit = strstr(text, from);
	size_t n = strlen(text), from_n = strlen(from), to_n = strlen(to);
	size_t pre;
	char *out;

	if (hit == NULL)
		fail_msg("no '%s' in the text", from);
	pre = (size_t)(hit - text);
	out = malloc(n - from_n + to_n + 1);
	assert_non_null(out);
	memcpy(out, text, pre);
	memcpy(out + pre, to, to_n);
	memcpy(out + pre + to_n, hit + from_n, n - pre - from_n + 1);
	free(text);
	return out;
}

/* Seed 0 sets most options the way a deployment against Active
 * Directory would, with both comment styles, blank lines, quoting, CRLF
 * on one line, a blank-padded header and a bind password file; seed 1 is
 * the generated example with its required options filled in (conninfo
 * quoted) and a GSSAPI keytab, so that most of it is comments.  Both
 * name one real private file, so that the secret checks run on every
 * input; the mutations turn its path into paths that do not exist,
 * directories and relative paths.  Only the six characters mkstemp()
 * picks differ from run to run; they decide no more than which few
 * replacements leave the path unchanged.  A second secret
 * (postgresql.password_file) would add little but system calls, a
 * third of the run time. */
struct fuzz_seeds {
	char secret[64];
	char *text[2];
	size_t len[2];
};

static void
fuzz_seeds_make(struct fuzz_seeds *s)
{
	static const char fmt[] =
	    "# dirsync.conf for example.com\n"
	    "; mirrors AD into PostgreSQL\n"
	    "\n"
	    "[log]\n"
	    "level = debug\n"
	    "target = stderr\n"
	    "\n"
	    "[ldap]\n"
	    "uri = ldaps://dc1.example.com ldaps://dc2.example.com\n"
	    "bind_dn = \"CN=dirsync svc,OU=Service Accounts,DC=example,DC=com\"\n"
	    "bind_password_file = %s\n"
	    "starttls = no\n"
	    "tls_ca_file = /etc/ssl/certs/ca.pem\n"
	    "tls_verify = yes\n"
	    "network_timeout = 250ms\n"
	    "failback_interval = 5m\r\n"
	    "\n"
	    "[postgresql]\n"
	    "conninfo = host=db.example.com port=5432 dbname=dirsync\n"
	    "connect_timeout = 10\n"
	    "\n"
	    "[status]\n"
	    "socket = /run/dirsync/status.sock\n"
	    "mode = 0660\n"
	    "group = \"dir sync\"\n"
	    "client_timeout = 2s\n"
	    "\n"
	    "[mirror]\n"
	    "profile = ad\n"
	    "mode = dirsync\n"
	    "base = DC=example,DC=com\n"
	    "user_base = OU=People,DC=example,DC=com\n"
	    "user_filter = (&(objectClass=user)(!(objectClass=computer)))\n"
	    "max_delete_ratio = 15%%\n"
	    "delete_guard_window = 1h\n"
	    "batch_size = 2000\n"
	    "poll_interval = 5s\n"
	    "reconcile_interval = 1d\n"
	    "page_size = 1000\n"
	    "range_size = 1500\n"
	    "timestamp_overlap = 30s\n"
	    "\n"
	    "  [ attributes ]\n"
	    "\tlogin = sAMAccountName\n"
	    "email=mail\n"
	    "\n"
	    "[retry]\n"
	    "backoff_min = 1s\n"
	    "backoff_max = 1h\n";
	char keytab[128];
	int n;

	make_secret(s->secret, sizeof(s->secret), "s3cret\n", 0600);
	n = snprintf(NULL, 0, fmt, s->secret);
	assert_true(n > 0);
	s->text[0] = malloc((size_t)n + 1);
	assert_non_null(s->text[0]);
	snprintf(s->text[0], (size_t)n + 1, fmt, s->secret);

	snprintf(keytab, sizeof(keytab), "\nkeytab = %s\n", s->secret);
	s->text[1] = example_text();
	s->text[1] = replace_once(s->text[1], "\n#level = info\n",
	    "\nlevel = warning\n");
	s->text[1] = replace_once(s->text[1], "\nuri = \n",
	    "\nuri = ldap://ldap1.example ldap://ldap2.example\n");
	s->text[1] = replace_once(s->text[1], "\n#sasl_mech = none\n",
	    "\nsasl_mech = GSSAPI\n");
	s->text[1] = replace_once(s->text[1], "\n#keytab = \n", keytab);
	s->text[1] = replace_once(s->text[1], "\nconninfo = \n",
	    "\nconninfo = \"host=db.example dbname=dirsync\"\n");
	s->text[1] = replace_once(s->text[1], "\n#profile = openldap\n",
	    "\nprofile = 389ds\n");
	s->text[1] = replace_once(s->text[1], "\n#max_delete_ratio = 10%\n",
	    "\nmax_delete_ratio = 5%\n");
	for (int k = 0; k < 2; k++) {
		s->len[k] = strlen(s->text[k]);
		/* Mutations of an invalid file would test little. */
		config_free(parse_ok(s->text[k]));
	}
}

static void
fuzz_seeds_free(struct fuzz_seeds *s)
{
	free(s->text[0]);
	free(s->text[1]);
	unlink(s->secret);
}

static void
test_fuzz_truncations(void **state)
{
	struct fuzz_seeds s;
	unsigned accepted = 0;

	(void)state;
	fuzz_seeds_make(&s);
	for (int k = 0; k < 2; k++) {
		for (size_t n = 0; n <= s.len[k]; n++) {
			char *copy = malloc(n + 1);
			struct config *cfg;
			bool ok = fuzz_check(s.text[k], n);

			/* Without diagnostics, the same verdict. */
			assert_non_null(copy);
			memcpy(copy, s.text[k], n);
			copy[n] = '\0';
			cfg = config_parse(FUZZ_NAME, copy, NULL);
			assert_true((cfg != NULL) == ok);
			config_free(cfg);
			free(copy);
			accepted += ok;
		}
	}
	/* At least each whole seed, and cuts inside its last value. */
	assert_true(accepted > 2);
	fuzz_seeds_free(&s);
}

static void
test_fuzz_replacements(void **state)
{
	struct fuzz_seeds s;
	uint32_t seed = 20240601;
	unsigned accepted = 0;
	char *v;

	(void)state;
	fuzz_seeds_make(&s);
	/* Every byte of seed 0 with every byte of the alphabet. */
	v = malloc(s.len[0] + 1);
	assert_non_null(v);
	for (size_t i = 0; i < s.len[0]; i++) {
		for (size_t b = 0; b < sizeof(fuzz_alphabet); b++) {
			memcpy(v, s.text[0], s.len[0]);
			v[i] = (char)fuzz_alphabet[b];
			accepted += fuzz_check(v, s.len[0]);
		}
	}
	free(v);
	/* Seed 1 is mostly comments, where most replacements change
	 * nothing: one or two random bytes of it, a few thousand times. */
	v = malloc(s.len[1] + 1);
	assert_non_null(v);
	for (int round = 0; round < 4000; round++) {
		memcpy(v, s.text[1], s.len[1]);
		for (int k = fuzz_rand(&seed) % 2 + 1; k > 0; k--)
			v[fuzz_rand(&seed) % s.len[1]] = (char)fuzz_byte(&seed);
		accepted += fuzz_check(v, s.len[1]);
	}
	free(v);
	/* Replacing inside comments, values of text options or blanks keeps
	 * the file valid: the success path (and config_free) gets its share. */
	assert_true(accepted > 1000);
	fuzz_seeds_free(&s);
}

static void
test_fuzz_insertions_deletions(void **state)
{
	struct fuzz_seeds s;
	uint32_t seed = 7;
	char *v;

	(void)state;
	fuzz_seeds_make(&s);
	/* The random rounds below insert at most four bytes. */
	v = malloc(s.len[0] + s.len[1] + 8);
	assert_non_null(v);
	/* Seed 0 without each of its bytes, and with bytes of the alphabet
	 * inserted before each of its bytes and at its end: at each place a
	 * quarter of the alphabet, the next quarter at the next place, so
	 * that every byte is tried at every fourth place; the full product,
	 * as test_fuzz_replacements() has it, would double the run time. */
	for (size_t i = 0; i < s.len[0]; i++) {
		memcpy(v, s.text[0], i);
		memcpy(v + i, s.text[0] + i + 1, s.len[0] - i - 1);
		fuzz_check(v, s.len[0] - 1);
	}
	for (size_t i = 0; i <= s.len[0]; i++) {
		for (size_t b = i % 4; b < sizeof(fuzz_alphabet); b += 4) {
			memcpy(v, s.text[0], i);
			v[i] = (char)fuzz_alphabet[b];
			memcpy(v + i + 1, s.text[0] + i, s.len[0] - i);
			fuzz_check(v, s.len[0] + 1);
		}
	}
	/* Up to four edits at once, on either seed. */
	for (int round = 0; round < 4000; round++) {
		int k = round % 2;
		size_t len = s.len[k];

		memcpy(v, s.text[k], len);
		for (int e = fuzz_rand(&seed) % 4 + 1; e > 0; e--) {
			size_t at = fuzz_rand(&seed) % (len + 1);

			switch (fuzz_rand(&seed) % 3) {
			case 0:
				if (at < len)
					v[at] = (char)fuzz_byte(&seed);
				break;
			case 1:
				memmove(v + at + 1, v + at, len - at);
				v[at] = (char)fuzz_byte(&seed);
				len++;
				break;
			default:
				if (at < len) {
					memmove(v + at, v + at + 1, len - at - 1);
					len--;
				}
				break;
			}
		}
		fuzz_check(v, len);
	}
	free(v);
	fuzz_seeds_free(&s);
}

#define FUZZ_MAX_LINES 512

/* A seed cut into lines, each with its newline. */
struct fuzz_lines {
	const char *start[FUZZ_MAX_LINES];
	size_t len[FUZZ_MAX_LINES];
	size_t count;
};

static void
fuzz_split_lines(const char *text, struct fuzz_lines *l)
{
	l->count = 0;
	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t n = nl ? (size_t)(nl - text) + 1 : strlen(text);

		assert_true(l->count < FUZZ_MAX_LINES);
		l->start[l->count] = text;
		l->len[l->count++] = n;
		text += n;
	}
}

/* Check the file made of the lines order[0..n) of l; buf holds it. */
static void
fuzz_check_lines(const struct fuzz_lines *l, const size_t *order, size_t n,
    char *buf)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		memcpy(buf + len, l->start[order[i]], l->len[order[i]]);
		len += l->len[order[i]];
	}
	fuzz_check(buf, len);
}

static void
test_fuzz_lines(void **state)
{
	static struct fuzz_lines l[2];
	static size_t order[2 * FUZZ_MAX_LINES];
	struct fuzz_seeds s;
	uint32_t seed = 99;
	char *buf;

	(void)state;
	fuzz_seeds_make(&s);
	/* Room for every line twice, the most the operations below make. */
	buf = malloc(2 * s.len[1] + 2 * s.len[0]);
	assert_non_null(buf);
	fuzz_split_lines(s.text[0], &l[0]);
	fuzz_split_lines(s.text[1], &l[1]);

	/* Seed 0: each line deleted, doubled, repeated at the end (in
	 * another section), and each pair of lines swapped. */
	for (size_t i = 0; i < l[0].count; i++) {
		size_t n = 0;

		for (size_t j = 0; j < l[0].count; j++)
			if (j != i)
				order[n++] = j;
		fuzz_check_lines(&l[0], order, n, buf);
		n = 0;
		for (size_t j = 0; j < l[0].count; j++) {
			order[n++] = j;
			if (j == i)
				order[n++] = j;
		}
		fuzz_check_lines(&l[0], order, n, buf);
		for (size_t j = 0; j < l[0].count; j++)
			order[j] = j;
		order[l[0].count] = i;
		fuzz_check_lines(&l[0], order, l[0].count + 1, buf);
		for (size_t j = i + 1; j < l[0].count; j++) {
			for (size_t m = 0; m < l[0].count; m++)
				order[m] = m;
			order[i] = j;
			order[j] = i;
			fuzz_check_lines(&l[0], order, l[0].count, buf);
		}
	}

	/* Both seeds: one to three lines doubled, swapped, dropped or moved
	 * at random. */
	for (int round = 0; round < 3000; round++) {
		const struct fuzz_lines *lk = &l[round % 2];
		size_t n = lk->count;

		for (size_t j = 0; j < n; j++)
			order[j] = j;
		for (int op = fuzz_rand(&seed) % 3 + 1; op > 0; op--) {
			size_t a = fuzz_rand(&seed) % n, b = fuzz_rand(&seed) % n;
			size_t t = order[a];

			switch (fuzz_rand(&seed) % 4) {
			case 0:  /* line a again before line b */
				memmove(order + b + 1, order + b,
				    (n - b) * sizeof(order[0]));
				order[b] = t;
				n++;
				break;
			case 1:
				order[a] = order[b];
				order[b] = t;
				break;
			case 2:
				if (n > 1) {
					memmove(order + a, order + a + 1,
					    (n - a - 1) * sizeof(order[0]));
					n--;
				}
				break;
			default:  /* line a moved before line b */
				memmove(order + a, order + a + 1,
				    (n - a - 1) * sizeof(order[0]));
				memmove(order + b + 1, order + b,
				    (n - 1 - b) * sizeof(order[0]));
				order[b] = t;
				break;
			}
		}
		fuzz_check_lines(lk, order, n, buf);
	}
	free(buf);
	fuzz_seeds_free(&s);
}

static void
test_fuzz_random(void **state)
{
	const struct config_option *opts;
	size_t nopts;
	char text[1024];
	uint32_t seed = 31337;
	unsigned accepted = 0;

	(void)state;
	opts = config_options(&nopts);
	/* Bytes of the alphabet. */
	for (int round = 0; round < 10000; round++) {
		size_t len = fuzz_rand(&seed) % 256;

		for (size_t i = 0; i < len; i++)
			text[i] = (char)fuzz_byte(&seed);
		fuzz_check(text, len);
	}
	/* Words of the format: the table's sections, names and defaults,
	 * whole settings ("[section]" and "name = default" lines), " = ",
	 * newlines and bytes of the alphabet, after the required options
	 * half of the time.  Random bytes seldom get past the section and
	 * key lookups; these reach the value parsers, the duplicate check
	 * and the final checks, and now and then make a valid file. */
	for (int round = 0; round < 10000; round++) {
		size_t len = 0;

		if (fuzz_rand(&seed) % 2) {
			memcpy(text, REQ, strlen(REQ));
			len = strlen(REQ);
		}
		for (int w = fuzz_rand(&seed) % 24; w > 0; w--) {
			const struct config_option *o = &opts[fuzz_rand(&seed) % nopts];
			const char *def = o->def ? o->def : "ldap://a";
			char word[160];
			size_t n;

			switch (fuzz_rand(&seed) % 8) {
			case 0:
				snprintf(word, sizeof(word), "[%s]\n", o->section);
				break;
			case 1:
				snprintf(word, sizeof(word), "%s", o->name);
				break;
			case 2:
				snprintf(word, sizeof(word), "%s", def);
				break;
			case 3:
			case 4:
				snprintf(word, sizeof(word), "\n[%s]\n%s = %s\n",
				    o->section, o->name, def);
				break;
			case 5:
				snprintf(word, sizeof(word), " = ");
				break;
			case 6:
				snprintf(word, sizeof(word), "\n");
				break;
			default:
				word[0] = (char)fuzz_byte(&seed);
				word[1] = '\0';
				break;
			}
			n = strlen(word);
			if (len + n > sizeof(text))
				break;
			memcpy(text + len, word, n);
			len += n;
		}
		accepted += fuzz_check(text, len);
	}
	/* The generator still reaches the end of the parser. */
	assert_true(accepted > 100);
}

/* Inputs the fuzz found, reduced by hand, with the messages they must
 * give; each one failed when it was added. */
static const struct error_case fuzz_found[] = {
	/* postgresql.conninfo is required, so it has no default: a quoted
	 * value that does not parse leaves it NULL, and the check in
	 * config_finish() that a required text is not empty dereferences
	 * it (SIGSEGV; "load of null pointer" under UBSan).  Any seed with
	 * a quoted conninfo meets it on its first truncations. */
	{ "unterminated quoted conninfo",
	  "[ldap]\nuri = ldap://a\n[postgresql]\nconninfo = \"x\n",
	  { "t.conf:4: postgresql.conninfo: unterminated or malformed quoted value" } },
	{ "text after the quoted conninfo",
	  "[ldap]\nuri = ldap://a\n[postgresql]\nconninfo = \"x\" y\n",
	  { "t.conf:4: postgresql.conninfo: unterminated or malformed quoted value" } },
};

static void
test_fuzz_found(void **state)
{
	unsigned failed = 0;

	(void)state;
	for (size_t i = 0; i < DS_ARRAY_SIZE(fuzz_found); i++) {
		fuzz_check(fuzz_found[i].text, strlen(fuzz_found[i].text));
		failed += !check_errors(fuzz_found[i].name, fuzz_found[i].text,
		    fuzz_found[i].want);
	}
	assert_int_equal(failed, 0);
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
		/* The reduced inputs first: when one of them fails, the
		 * fuzz tests after it most likely fail the same way. */
		cmocka_unit_test(test_fuzz_found),
		cmocka_unit_test(test_fuzz_truncations),
		cmocka_unit_test(test_fuzz_replacements),
		cmocka_unit_test(test_fuzz_insertions_deletions),
		cmocka_unit_test(test_fuzz_lines),
		cmocka_unit_test(test_fuzz_random),
	};

	return cmocka_run_group_tests(tests, NULL, cleanup_temp);
}
