/* test_ldapfetch.c - the pure parts of ldapfetch (range options, RFC 2696
 * control values) and the entry builder it assembles ranges with
 * (ldapconn_entry_new/_add_value/_dup).  Table-driven; never needs a
 * server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ldapconn.h"
#include "ldapfetch.h"

struct range_case {
	const char *desc, *attr;
	bool ok;
	unsigned lo, hi;
};

static const struct range_case range_cases[] = {
	{ "member;range=0-1499", "member", true, 0, 1499 },
	{ "member;range=1500-*", "member", true, 1500, UINT_MAX },
	{ "Member;Range=3000-4499", "member", true, 3000, 4499 },
	{ "member;RANGE=0-*", "MEMBER", true, 0, UINT_MAX },
	{ "member;binary;range=5-9", "member", true, 5, 9 },
	{ "member;range=5-9;binary", "member", true, 5, 9 },
	{ "member;range=7-7", "member", true, 7, 7 },
	/* Not a range of that attribute. */
	{ "member", "member", false, 0, 0 },
	{ "memberOf;range=0-10", "member", false, 0, 0 },
	{ "member;range=0-10", "memberOf", false, 0, 0 },
	{ "members;range=0-10", "member", false, 0, 0 },
	{ "member;binary", "member", false, 0, 0 },
	{ "", "member", false, 0, 0 },
	{ "member;range=0-10", "", false, 0, 0 },
	/* Malformed. */
	{ "member;range=", "member", false, 0, 0 },
	{ "member;range=-5", "member", false, 0, 0 },
	{ "member;range=5", "member", false, 0, 0 },
	{ "member;range=5-", "member", false, 0, 0 },
	{ "member;range=9-5", "member", false, 0, 0 },
	{ "member;range=a-5", "member", false, 0, 0 },
	{ "member;range=0-5x", "member", false, 0, 0 },
	{ "member;range=0-*x", "member", false, 0, 0 },
	{ "member;range=0-99999999999999999999", "member", false, 0, 0 },
	{ "member;range=4294967295-*", "member", false, 0, 0 },
	{ "member;range=+1-5", "member", false, 0, 0 },
};

static void
test_parse_range(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(range_cases) / sizeof(*range_cases); i++) {
		const struct range_case *c = &range_cases[i];
		unsigned lo = 12345, hi = 12345;
		bool ok = ldapfetch_parse_range(c->desc, c->attr, &lo, &hi);

		if (ok != c->ok)
			fail_msg("case %zu \"%s\" / \"%s\": got %d", i, c->desc,
			    c->attr, ok);
		if (ok) {
			assert_int_equal(lo, c->lo);
			assert_int_equal(hi, c->hi);
		}
	}
}

/* RFC 2696 values: a round trip, the known encoding, and garbage. */
static void
test_paged_values(void **state)
{
	static const unsigned char want_empty[] = { 0x30, 0x06, 0x02, 0x02,
		0x01, 0xf4, 0x04, 0x00 };   /* { 500, "" } */
	void *val, *cookie;
	size_t len, clen;

	(void)state;
	assert_int_equal(ldapfetch_paged_encode(500, NULL, 0, &val, &len), 0);
	assert_int_equal(len, sizeof(want_empty));
	assert_memory_equal(val, want_empty, len);
	assert_int_equal(ldapfetch_paged_decode(val, len, &cookie, &clen), 0);
	assert_null(cookie);
	assert_int_equal(clen, 0);
	free(val);

	assert_int_equal(ldapfetch_paged_encode(1000, "\x00\x01opaque", 8,
	    &val, &len), 0);
	assert_int_equal(ldapfetch_paged_decode(val, len, &cookie, &clen), 0);
	assert_int_equal(clen, 8);
	assert_memory_equal(cookie, "\x00\x01opaque", 8);
	free(cookie);

	/* Truncated, trailing bytes, wrong tag, empty. */
	assert_int_equal(ldapfetch_paged_decode(val, len - 1, &cookie, &clen), -1);
	{
		unsigned char *longer = malloc(len + 1);

		memcpy(longer, val, len);
		longer[len] = 0;
		assert_int_equal(ldapfetch_paged_decode(longer, len + 1, &cookie,
		    &clen), -1);
		longer[0] = 0x31;
		assert_int_equal(ldapfetch_paged_decode(longer, len, &cookie,
		    &clen), -1);
		free(longer);
	}
	assert_int_equal(ldapfetch_paged_decode(val, 0, &cookie, &clen), -1);
	assert_int_equal(ldapfetch_paged_decode("\x30\x03\x02\x01\x05", 5,
	    &cookie, &clen), -1);   /* no cookie element */
	free(val);
}

/* The builder: many values (block moves), binary values, exact names. */
static void
test_entry_builder(void **state)
{
	struct ldapconn_entry *e, *d;
	const char *vals[3];
	char buf[64];

	(void)state;
	e = ldapconn_entry_new("cn=big,ou=groups,dc=example,dc=com");
	assert_non_null(e);
	assert_int_equal(ldapconn_entry_attr_count(e), 0);
	assert_int_equal(ldapconn_entry_add_value(e, "cn", "big", 3), 0);
	for (unsigned i = 0; i < 12000; i++) {
		snprintf(buf, sizeof(buf), "uid=user%05u,ou=people,dc=example,dc=com", i);
		assert_int_equal(ldapconn_entry_add_value(e, "member", buf,
		    strlen(buf)), 0);
	}
	assert_int_equal(ldapconn_entry_add_value(e, "objectGUID",
	    "\x01\x00\x02\x00\xff\xfe\x00\x00\x01\x00\x02\x00\xff\xfe\x00\x00", 16), 0);
	assert_int_equal(ldapconn_entry_add_value(e, "member;range=0-1", "x", 1), 0);
	assert_string_equal(ldapconn_entry_dn(e), "cn=big,ou=groups,dc=example,dc=com");
	assert_int_equal(ldapconn_entry_attr_count(e), 4);
	assert_string_equal(ldapconn_entry_attr_name(e, 0), "cn");
	assert_string_equal(ldapconn_entry_attr_name(e, 1), "member");
	assert_string_equal(ldapconn_entry_attr_name(e, 3), "member;range=0-1");
	assert_null(ldapconn_entry_attr_name(e, 4));
	/* "member" is exactly member, not its ranged sibling. */
	assert_int_equal(ldapconn_entry_values(e, "MEMBER", vals, 3), 12000);
	assert_string_equal(vals[0], "uid=user00000,ou=people,dc=example,dc=com");
	assert_string_equal(vals[2], "uid=user00002,ou=people,dc=example,dc=com");
	assert_int_equal(ldapconn_entry_values(e, "member;range=0-1", vals, 1), 1);
	assert_string_equal(vals[0], "x");
	assert_int_equal(ldapconn_entry_value_len(e, "objectGUID", 0), 16);

	d = ldapconn_entry_dup(e);
	ldapconn_entry_free(e);
	assert_non_null(d);
	{
		const char **all = malloc(12000 * sizeof(*all));

		assert_int_equal(ldapconn_entry_values(d, "member", all, 12000), 12000);
		for (unsigned i = 0; i < 12000; i += 997) {
			snprintf(buf, sizeof(buf), "uid=user%05u,ou=people,dc=example,dc=com", i);
			assert_string_equal(all[i], buf);
		}
		assert_string_equal(all[11999], "uid=user11999,ou=people,dc=example,dc=com");
		free(all);
	}
	assert_int_equal(ldapconn_entry_values(d, "objectGUID", vals, 1), 1);
	assert_memory_equal(vals[0], "\x01\x00\x02\x00\xff\xfe\x00\x00", 8);
	assert_int_equal(ldapconn_entry_value_len(d, "objectGUID", 0), 16);
	/* Empty values and a value with a NUL inside keep their lengths. */
	assert_int_equal(ldapconn_entry_add_value(d, "description", "", 0), 0);
	assert_int_equal(ldapconn_entry_add_value(d, "description", "a\0b", 3), 0);
	assert_int_equal(ldapconn_entry_value_len(d, "description", 0), 0);
	assert_int_equal(ldapconn_entry_value_len(d, "description", 1), 3);
	ldapconn_entry_free(d);
	ldapconn_entry_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_range),
		cmocka_unit_test(test_paged_values),
		cmocka_unit_test(test_entry_builder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
