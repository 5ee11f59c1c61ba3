/* test_source_select.c - which change source each mode picks for which
 * server, and what happens when kinds are refused.  Table-driven; never
 * needs a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "source_select.h"

enum server { NONE, OPENLDAP, OPENLDAP_NO_SYNCPROV, AD, SAMBA_NO_DIRSYNC, DS389_USN };

static void
server_info(enum server s, struct ldapconn_server_info *info)
{
	memset(info, 0, sizeof(*info));
	switch (s) {
	case NONE:
	case OPENLDAP_NO_SYNCPROV:
		break;
	case OPENLDAP:
		info->syncrepl = true;
		break;
	case AD:
		info->ad_dirsync = true;
		info->is_ad = true;
		snprintf(info->highest_usn, sizeof(info->highest_usn), "12345");
		break;
	case SAMBA_NO_DIRSYNC:
		info->is_ad = true;
		snprintf(info->highest_usn, sizeof(info->highest_usn), "4000");
		break;
	case DS389_USN:
		info->syncrepl = true;
		snprintf(info->last_usn, sizeof(info->last_usn), "-1");
		break;
	}
}

struct select_case {
	const char *mode;
	enum server server;
	bool no_info;            /* root DSE not read */
	unsigned tried;
	const char *want;        /* source name, or NULL */
	const char *why_has;     /* substring of why */
};

static const struct select_case cases[] = {
	{ "auto", OPENLDAP, false, 0, "syncrepl", "1.3.6.1.4.1.4203.1.9.1.1" },
	{ "auto", OPENLDAP_NO_SYNCPROV, false, 0, "timestamp", "modifyTimestamp" },
	{ "auto", AD, false, 0, "dirsync", "1.2.840.113556.1.4.841" },
	{ "auto", AD, false, SOURCE_SELECT_DIRSYNC, "usn", "highestCommittedUSN" },
	{ "auto", AD, false, SOURCE_SELECT_DIRSYNC | SOURCE_SELECT_USN,
	  "timestamp", "refused" },
	{ "auto", SAMBA_NO_DIRSYNC, false, 0, "usn", "highestCommittedUSN" },
	{ "auto", DS389_USN, false, 0, "syncrepl", "RFC 4533" },
	{ "auto", DS389_USN, false, SOURCE_SELECT_SYNCREPL, "usn", "lastusn" },
	{ "auto", NONE, true, 0, "timestamp", "root DSE" },
	{ "auto", OPENLDAP, false, SOURCE_SELECT_SYNCREPL | SOURCE_SELECT_TIMESTAMP,
	  NULL, "every kind" },
	/* Fixed modes take the server's word later (unsupported()). */
	{ "syncrepl", OPENLDAP_NO_SYNCPROV, false, 0, "syncrepl", "configured" },
	{ "usn", OPENLDAP, false, 0, "usn", "configured" },
	{ "timestamp", AD, false, 0, "timestamp", "configured" },
	{ "dirsync", AD, false, 0, "dirsync", "dirsync" },
	{ "usn", OPENLDAP, false, SOURCE_SELECT_USN, NULL, "refused" },
	{ "timestamp", NONE, true, 0, "timestamp", "configured" },
	{ "bogus", OPENLDAP, false, 0, NULL, "unknown mode 'bogus'" },
};

static void
test_select(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const struct select_case *c = &cases[i];
		struct ldapconn_server_info info;
		char why[256];
		const struct source_ops *ops;

		server_info(c->server, &info);
		ops = source_select(c->mode, c->no_info ? NULL : &info, c->tried,
		    why, sizeof(why));
		if (c->want == NULL) {
			if (ops != NULL)
				fail_msg("case %zu (%s): got %s, want none", i,
				    c->mode, ops->name);
		} else if (ops == NULL || strcmp(ops->name, c->want) != 0) {
			fail_msg("case %zu (%s): got %s, want %s (why: %s)", i,
			    c->mode, ops ? ops->name : "none", c->want, why);
		}
		if (strstr(why, c->why_has) == NULL)
			fail_msg("case %zu (%s): why \"%s\" lacks \"%s\"", i,
			    c->mode, why, c->why_has);
	}
}

static void
test_bits(void **state)
{
	(void)state;
	assert_int_equal(source_select_bit(&source_syncrepl_ops), SOURCE_SELECT_SYNCREPL);
	assert_int_equal(source_select_bit(&source_dirsync_ops), SOURCE_SELECT_DIRSYNC);
	assert_int_equal(source_select_bit(&source_usn_ops), SOURCE_SELECT_USN);
	assert_int_equal(source_select_bit(&source_timestamp_ops), SOURCE_SELECT_TIMESTAMP);
	assert_int_equal(source_select_bit(NULL), 0);
	assert_true(source_usn_ops.deletes_remove_memberships);
	assert_false(source_timestamp_ops.deletes_remove_memberships);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_bits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
