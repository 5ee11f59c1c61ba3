/* test_log.c - unit tests for logging (log.h): the line format of every
 * target, escaping of control characters, truncation that never overflows,
 * level names and level filtering. */
#include "log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define TS "2026-11-25T22:30:57.123Z"

static int
setup(void **state)
{
	log_init("dirsyncd");
	log_set_target(LOG_TARGET_STDERR);
	log_set_level(LOG_LEVEL_INFO);
	return 0;
}

static void
test_format_targets(void **state)
{
	static const struct {
		enum log_target target;
		enum log_level level;
		const char *obj;
		const char *msg;
		const char *ts;
		const char *want;
	} cases[] = {
		{ LOG_TARGET_JOURNAL, LOG_LEVEL_INFO, NULL, "hello", TS,
		  "<6>info: hello" },
		{ LOG_TARGET_JOURNAL, LOG_LEVEL_ERROR, NULL, "hello", NULL,
		  "<3>error: hello" },
		{ LOG_TARGET_JOURNAL, LOG_LEVEL_WARNING, "conn=ldap", "down", NULL,
		  "<4>warning: conn=ldap down" },
		{ LOG_TARGET_JOURNAL, LOG_LEVEL_DEBUG, NULL, "x=1", NULL,
		  "<7>debug: x=1" },
		{ LOG_TARGET_JOURNAL, LOG_LEVEL_FATAL, NULL, "bye", NULL,
		  "<2>fatal: bye" },
		{ LOG_TARGET_SYSLOG, LOG_LEVEL_INFO, NULL, "hello", TS,
		  "info: hello" },
		{ LOG_TARGET_SYSLOG, LOG_LEVEL_ERROR, "conn=ldap", "bind failed",
		  NULL, "error: conn=ldap bind failed" },
		{ LOG_TARGET_STDERR, LOG_LEVEL_INFO, "conn=ldap", "ready", NULL,
		  "info: conn=ldap ready" },
		{ LOG_TARGET_STDERR, LOG_LEVEL_WARNING, "", "empty obj", NULL,
		  "warning: empty obj" },
		{ LOG_TARGET_STDERR, LOG_LEVEL_DEBUG, NULL, "", NULL,
		  "debug: " },
	};

	for (size_t i = 0; i < DS_ARRAY_SIZE(cases); i++) {
		char buf[256];
		size_t n = log_format_line(buf, sizeof(buf), cases[i].target,
		    cases[i].level, cases[i].obj, cases[i].msg, cases[i].ts);

		assert_string_equal(buf, cases[i].want);
		assert_int_equal(n, strlen(cases[i].want));
	}
}

static void
test_format_stderr_timestamp(void **state)
{
	char buf[256], want[256];
	size_t n;

	snprintf(want, sizeof(want), TS " dirsyncd[%ld]: info: conn=ldap "
	    "state=ready", (long)getpid());
	n = log_format_line(buf, sizeof(buf), LOG_TARGET_STDERR, LOG_LEVEL_INFO,
	    "conn=ldap", "state=ready", TS);
	assert_string_equal(buf, want);
	assert_int_equal(n, strlen(want));

	snprintf(want, sizeof(want), TS " dirsyncd[%ld]: error: no object",
	    (long)getpid());
	n = log_format_line(buf, sizeof(buf), LOG_TARGET_STDERR,
	    LOG_LEVEL_ERROR, NULL, "no object", TS);
	assert_string_equal(buf, want);
	assert_int_equal(n, strlen(want));
}

static void
test_format_escapes(void **state)
{
	static const struct {
		const char *obj;
		const char *msg;
		const char *want;
	} cases[] = {
		{ NULL, "a\nb", "info: a\\nb" },
		{ NULL, "\x01", "info: \\x01" },
		{ NULL, "tab\there", "info: tab\\x09here" },
		{ NULL, "cr\r", "info: cr\\x0d" },
		{ NULL, "esc\x1b[31m", "info: esc\\x1b[31m" },
		{ NULL, "del\x7f", "info: del\\x7f" },
		{ NULL, "two\n\nlines\n", "info: two\\n\\nlines\\n" },
		{ NULL, "caf\xc3\xa9 \\ \"q\"", "info: caf\xc3\xa9 \\ \"q\"" },
		/* Not UTF-8: shown as \xNN, so the line stays UTF-8 (the
		 * journal shows a line that is not as a blob). */
		{ NULL, "J\xf6rg", "info: J\\xf6rg" },
		{ NULL, "\xc0\x80 \xed\xa0\x80 \xf4\x90\x80\x80",
		    "info: \\xc0\\x80 \\xed\\xa0\\x80 \\xf4\\x90\\x80\\x80" },
		{ NULL, "cut \xe2\x82", "info: cut \\xe2\\x82" },
		{ NULL, "\xe2\x82\xac \xf0\x9f\x98\x80", "info: \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ NULL, "100% sure %s", "info: 100% sure %s" },
		{ "conn=\nldap", "m", "info: conn=\\nldap m" },
		{ "req=\x02", "m\x03", "info: req=\\x02 m\\x03" },
	};

	for (size_t i = 0; i < DS_ARRAY_SIZE(cases); i++) {
		char buf[256];
		size_t n = log_format_line(buf, sizeof(buf), LOG_TARGET_SYSLOG,
		    LOG_LEVEL_INFO, cases[i].obj, cases[i].msg, NULL);

		assert_string_equal(buf, cases[i].want);
		assert_int_equal(n, strlen(cases[i].want));
		assert_null(strchr(buf, '\n'));
	}
}

/* Every buffer size from 0 to past the full line: the result is a
 * NUL-terminated prefix of the full line, as long as fits, and nothing
 * past size is written. */
static void
test_format_truncation(void **state)
{
	static const struct {
		enum log_target target;
		const char *obj;
		const char *msg;
		const char *ts;
	} cases[] = {
		{ LOG_TARGET_STDERR, "conn=ldap", "state=ready server=x", TS },
		{ LOG_TARGET_JOURNAL, "conn=\x01ldap", "a\nb\x02\x03z", NULL },
		{ LOG_TARGET_SYSLOG, "o\n", "\n\n\n\n", NULL },
		{ LOG_TARGET_SYSLOG, NULL, "plain message", NULL },
	};

	for (size_t c = 0; c < DS_ARRAY_SIZE(cases); c++) {
		char full[512];
		size_t full_len = log_format_line(full, sizeof(full),
		    cases[c].target, LOG_LEVEL_WARNING, cases[c].obj,
		    cases[c].msg, cases[c].ts);

		assert_int_equal(full_len, strlen(full));
		for (size_t size = 0; size <= full_len + 2; size++) {
			unsigned char buf[600];
			size_t n, want = size == 0 ? 0
			    : full_len < size - 1 ? full_len : size - 1;

			memset(buf, 0xa5, sizeof(buf));
			n = log_format_line((char *)buf, size, cases[c].target,
			    LOG_LEVEL_WARNING, cases[c].obj, cases[c].msg,
			    cases[c].ts);
			if (n != want)
				print_error("case %zu size %zu: got %zu\n", c,
				    size, n);
			assert_int_equal(n, want);
			for (size_t k = size; k < sizeof(buf); k++)
				assert_int_equal(buf[k], 0xa5);
			if (size == 0)
				continue;
			assert_int_equal(buf[n], '\0');
			assert_int_equal(strlen((char *)buf), n);
			assert_memory_equal(buf, full, n);
		}
	}
}

/* A line cut to its buffer never ends in part of a character: for
 * every size, the result is the longest prefix that is whole UTF-8. */
static void
test_format_truncation_utf8(void **state)
{
	/* "info: " then 2-, 3- and 4-byte characters between letters. */
	static const char msg[] = "a\xc3\xa9" "b\xe2\x82\xac" "c\xf0\x9f\x98\x80" "d";
	char full[64];
	size_t full_len = log_format_line(full, sizeof(full), LOG_TARGET_SYSLOG,
	    LOG_LEVEL_INFO, NULL, msg, NULL);

	assert_string_equal(full, "info: a\xc3\xa9" "b\xe2\x82\xac" "c\xf0\x9f\x98\x80" "d");
	for (size_t size = 1; size <= full_len + 1; size++) {
		char buf[64];
		size_t n = log_format_line(buf, size, LOG_TARGET_SYSLOG,
		    LOG_LEVEL_INFO, NULL, msg, NULL);
		size_t want = size - 1 < full_len ? size - 1 : full_len;

		/* back to the start of a character */
		while (want > 0 && want < full_len &&
		    ((unsigned char)full[want] & 0xc0) == 0x80)
			want--;
		if (n != want)
			fail_msg("size %zu: got %zu bytes, want %zu", size, n, want);
		assert_int_equal(strlen(buf), n);
		assert_memory_equal(buf, full, n);
	}
}

static void
test_format_size_one(void **state)
{
	char buf[2] = { 'x', 'y' };

	assert_int_equal(log_format_line(buf, 1, LOG_TARGET_JOURNAL,
	    LOG_LEVEL_ERROR, "conn=ldap", "msg", NULL), 0);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(buf[1], 'y');
	assert_int_equal(log_format_line(buf, 0, LOG_TARGET_STDERR,
	    LOG_LEVEL_ERROR, NULL, "msg", TS), 0);
	assert_int_equal(buf[0], '\0');
}

static void
test_level_names(void **state)
{
	static const struct {
		enum log_level level;
		const char *name;
	} cases[] = {
		{ LOG_LEVEL_ERROR, "error" },
		{ LOG_LEVEL_WARNING, "warning" },
		{ LOG_LEVEL_INFO, "info" },
		{ LOG_LEVEL_DEBUG, "debug" },
	};
	static const char *const unknown[] = { "", "fatal", "INFO", "Debug",
		"warn", "err", "info ", "verbose" };

	for (size_t i = 0; i < DS_ARRAY_SIZE(cases); i++) {
		assert_string_equal(log_level_name(cases[i].level),
		    cases[i].name);
		assert_int_equal(log_level_parse(cases[i].name),
		    cases[i].level);
		assert_int_equal(log_level_parse(
		    log_level_name(cases[i].level)), cases[i].level);
	}
	assert_string_equal(log_level_name(LOG_LEVEL_FATAL), "fatal");
	assert_string_equal(log_level_name((enum log_level)99), "unknown");
	for (size_t i = 0; i < DS_ARRAY_SIZE(unknown); i++)
		assert_int_equal(log_level_parse(unknown[i]), -1);
}

static void
test_enabled(void **state)
{
	static const enum log_level all[] = { LOG_LEVEL_FATAL, LOG_LEVEL_ERROR,
		LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

	for (size_t set = 0; set < DS_ARRAY_SIZE(all); set++) {
		log_set_level(all[set]);
		for (size_t i = 0; i < DS_ARRAY_SIZE(all); i++)
			assert_int_equal(log_enabled(all[i]), i <= set);
	}
	log_set_level(LOG_LEVEL_INFO);
}

static void
test_set_target(void **state)
{
	char *saved = getenv("JOURNAL_STREAM");

	saved = saved ? strdup(saved) : NULL;
	log_set_target(LOG_TARGET_JOURNAL);
	assert_int_equal(log_get_target(), LOG_TARGET_JOURNAL);
	setenv("JOURNAL_STREAM", "8:1234", 1);
	log_set_target(LOG_TARGET_AUTO);
	assert_int_equal(log_get_target(), LOG_TARGET_JOURNAL);
	unsetenv("JOURNAL_STREAM");
	log_set_target(LOG_TARGET_AUTO);
	assert_int_equal(log_get_target(), LOG_TARGET_STDERR);
	if (saved != NULL)
		setenv("JOURNAL_STREAM", saved, 1);
	free(saved);
	log_set_target(LOG_TARGET_STDERR);
}

static int evaluated;

static int
count_evaluation(void)
{
	return ++evaluated;
}

/* The macros write one line to stderr, and skip formatting (and the
 * evaluation of their arguments) below the level. */
static void
test_write_stderr(void **state)
{
	char path[] = "/tmp/dirsync-test-XXXXXX";
	char out[1024], want[128];
	int fd = mkstemp(path);
	int saved = dup(STDERR_FILENO);
	ssize_t n;

	assert_true(fd >= 0);
	assert_true(saved >= 0);
	unlink(path);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	log_set_target(LOG_TARGET_STDERR);
	log_set_level(LOG_LEVEL_INFO);
	evaluated = 0;
	log_obj_info("conn=ldap", "state=%s n=%d", "ready", 3);
	log_debug("never n=%d", count_evaluation());
	log_obj_debug("conn=ldap", "never n=%d", count_evaluation());
	log_warning("multi\nline");
	dup2(saved, STDERR_FILENO);
	close(saved);
	assert_int_equal(evaluated, 0);

	n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	assert_true(n > 0);
	out[n] = '\0';
	/* "YYYY-MM-DDTHH:MM:SS.mmmZ dirsyncd[pid]: info: ..." */
	assert_int_equal(out[4], '-');
	assert_int_equal(out[10], 'T');
	assert_int_equal(out[19], '.');
	assert_int_equal(out[23], 'Z');
	snprintf(want, sizeof(want), " dirsyncd[%ld]: info: conn=ldap "
	    "state=ready n=3\n", (long)getpid());
	assert_memory_equal(out + 24, want, strlen(want));
	{
		const char *second = out + 24 + strlen(want);

		snprintf(want, sizeof(want), " dirsyncd[%ld]: warning: "
		    "multi\\nline\n", (long)getpid());
		assert_int_equal(strlen(second), 24 + strlen(want));
		assert_string_equal(second + 24, want);
	}
}

/* After a detach, stderr is /dev/null: whatever sets the target later
 * (the daemon's start, a reload) gets syslog instead of stderr or the
 * journal.  Runs last: the detach is for good. */
static void
test_detach_stderr(void **state)
{
	log_set_target(LOG_TARGET_STDERR);
	log_detach_stderr();
	assert_int_equal(log_get_target(), LOG_TARGET_SYSLOG);
	log_set_target(LOG_TARGET_STDERR);
	assert_int_equal(log_get_target(), LOG_TARGET_SYSLOG);
	log_set_target(LOG_TARGET_JOURNAL);
	assert_int_equal(log_get_target(), LOG_TARGET_SYSLOG);
	unsetenv("JOURNAL_STREAM");
	log_set_target(LOG_TARGET_AUTO);
	assert_int_equal(log_get_target(), LOG_TARGET_SYSLOG);
	log_set_target(LOG_TARGET_SYSLOG);
	assert_int_equal(log_get_target(), LOG_TARGET_SYSLOG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_targets),
		cmocka_unit_test(test_format_stderr_timestamp),
		cmocka_unit_test(test_format_escapes),
		cmocka_unit_test(test_format_truncation),
		cmocka_unit_test(test_format_truncation_utf8),
		cmocka_unit_test(test_format_size_one),
		cmocka_unit_test(test_level_names),
		cmocka_unit_test(test_enabled),
		cmocka_unit_test(test_set_target),
		cmocka_unit_test(test_write_stderr),
		cmocka_unit_test(test_detach_stderr),  /* last: for good */
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
