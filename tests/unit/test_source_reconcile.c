/* test_source_reconcile.c - the pure parts of the shared reconcile
 * helper: source_entry_id() on objectGUID octets, entryUUID and
 * nsUniqueId text and hostile values (table-driven), and the clock
 * (an interval of 0 is never due; a fresh clock is not due). */
#include "source_reconcile.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ldapconn.h"

struct id_case {
	const char *value;
	size_t len;       /* 0: strlen(value) */
	const char *want; /* NULL: not an id */
};

static const struct id_case id_cases[] = {
	/* objectGUID: 16 octets, [MS-DTYP] 2.3.4.2 (first three fields
	 * little-endian). */
	{ "\x37\x3b\xa0\xa4\x5d\xe5\x36\x46\xbc\x36\x0a\x12\xd8\xf9\x1d\x00",
	    16, "a4a03b37-e55d-4636-bc36-0a12d8f91d00" },
	/* entryUUID (RFC 4530), upper case and braces tolerated. */
	{ "5a1b2c3d-0000-4111-8222-0123456789ab", 0,
	    "5a1b2c3d-0000-4111-8222-0123456789ab" },
	{ "{5A1B2C3D-0000-4111-8222-0123456789AB}", 0,
	    "5a1b2c3d-0000-4111-8222-0123456789ab" },
	/* 389-ds nsUniqueId: four groups of 8. */
	{ "5a1b2c3d-00004111-82220123-456789ab", 0,
	    "5a1b2c3d-0000-4111-8222-0123456789ab" },
	/* Not ids. */
	{ "5a1b2c3d-0000-4111-8222-0123456789a", 0, NULL },      /* 31 digits */
	{ "5a1b2c3d-0000-4111-8222-0123456789abc", 0, NULL },    /* 33 */
	{ "5a1b2c3d-0000-4111-8222-0123456789ag", 0, NULL },     /* not hex */
	{ "5a1b2c3d 0000-4111-8222-0123456789ab", 0, NULL },     /* space */
	{ "5a1b2c3d-0000-4111-8222-01234567\0009ab", 36, NULL }, /* NUL */
	{ "", 0, NULL },
	{ "\x37\x3b\xa0\xa4\x5d\xe5\x36\x46\xbc\x36\x0a\x12\xd8\xf9\x1d", 15,
	    NULL },
};

static void
test_entry_id_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(id_cases) / sizeof(id_cases[0]); i++) {
		const struct id_case *c = &id_cases[i];
		struct ldapconn_entry *e = ldapconn_entry_new("CN=x,DC=test");
		size_t len = c->len ? c->len : strlen(c->value);
		char out[ATTRMAP_GUID_TEXT_LEN] = "";
		bool ok;

		assert_non_null(e);
		assert_int_equal(ldapconn_entry_add_value(e, "uid", c->value,
		                     len),
		    0);
		ok = source_entry_id(e, "uid", out);
		if (c->want == NULL) {
			if (ok)
				fail_msg("case %zu: took \"%s\" as an id", i,
				    out);
		} else {
			if (!ok)
				fail_msg("case %zu: not an id", i);
			assert_string_equal(out, c->want);
		}
		ldapconn_entry_free(e);
	}
}

static void
test_entry_id_missing(void **state)
{
	struct ldapconn_entry *e = ldapconn_entry_new("CN=x,DC=test");
	char out[ATTRMAP_GUID_TEXT_LEN];

	(void)state;
	assert_non_null(e);
	assert_false(source_entry_id(e, "objectGUID", out));
	ldapconn_entry_free(e);
}

static void
test_clock(void **state)
{
	struct source_reconcile r;

	(void)state;
	source_reconcile_init(&r, 0);
	assert_false(source_reconcile_due(&r)); /* 0: never */
	assert_false(source_reconcile_running(&r));
	source_reconcile_cancel(&r); /* nothing runs: no-op */
	source_reconcile_init(&r, 3600 * 1000);
	assert_false(source_reconcile_due(&r)); /* one interval after start */
	r.last_ms -= 3600 * 1000;
	assert_true(source_reconcile_due(&r));
	source_reconcile_postpone(&r);
	assert_false(source_reconcile_due(&r));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_id_table),
		cmocka_unit_test(test_entry_id_missing),
		cmocka_unit_test(test_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
