/* test_source_poll.c - the parsers of the polling source
 * (source_poll_internal.h), table-driven: GeneralizedTime as servers send
 * it and as they must not be misread (a sign inside a field, an offset
 * taken for UTC, a field out of range), USN marks up to the one whose
 * successor would overflow, and 389-ds's unsigned lastusn. */
#include "source_poll_internal.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

struct time_case {
	const char *text;
	long long want; /* -1: rejected */
};

static const struct time_case time_cases[] = {
	{ "19700101000000Z", 0 },
	{ "20240102030405Z", 1704164645 },
	/* AD adds a fraction; RFC 4517 allows ',' too. */
	{ "20240102030405.0Z", 1704164645 },
	{ "20240102030405,123Z", 1704164645 },
	/* An offset: the same instant an hour ahead, or half an hour back. */
	{ "20240102040405+0100", 1704164645 },
	{ "20240102023405-0030", 1704164645 },
	{ "20240102040405+01", 1704164645 },
	{ "20241231235960Z", 1735689600 }, /* a leap second: next minute */
	/* Rejected: not 14 digits, a sign or blank inside a field, no zone,
	 * junk after it, fields out of range, before the epoch. */
	{ "", -1 },
	{ "2024010203040Z", -1 },
	{ "202401020304Z", -1 },
	{ "20240102030405", -1 },
	{ "20240102030405z", -1 },
	{ "20240102030405ZZ", -1 },
	{ "20240102030405Z ", -1 },
	{ "2024-102030405Z", -1 },
	{ "2024 102030405Z", -1 },
	{ " 20240102030405Z", -1 },
	{ "+2024010203040Z", -1 },
	{ "20240102030405.Z", -1 },
	{ "20240102030405+1Z", -1 },
	{ "20240102030405+2400", -1 },
	{ "20240102030405+0160", -1 },
	{ "20240102030405+0100Z", -1 },
	{ "20241302030405Z", -1 },
	{ "20240002030405Z", -1 },
	{ "20240100030405Z", -1 },
	{ "20240132030405Z", -1 },
	{ "20240102240405Z", -1 },
	{ "20240102036005Z", -1 },
	{ "20240102030461Z", -1 },
	{ "19700101000000+0100", -1 },
};

static void
test_gentime(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]); i++) {
		long long got = poll_parse_gentime(time_cases[i].text);

		if (got != time_cases[i].want)
			fail_msg("\"%s\": got %lld, want %lld", time_cases[i].text,
			    got, time_cases[i].want);
	}
	assert_int_equal(poll_parse_gentime(NULL), -1);
}

struct ll_case {
	const char *text;
	bool ok;
	long long want;
};

static const struct ll_case ll_cases[] = {
	{ "0", true, 0 },
	{ "12345", true, 12345 },
	{ "-1", true, -1 },
	{ "9223372036854775806", true, LLONG_MAX - 1 },
	/* mark + 1 would overflow, or strtoll clamped an overflow. */
	{ "9223372036854775807", false, 0 },
	{ "9223372036854775808", false, 0 },
	{ "99999999999999999999999", false, 0 },
	{ "-99999999999999999999999", false, 0 },
	{ "", false, 0 },
	{ "-", false, 0 },
	{ "12a", false, 0 },
	{ "12 ", false, 0 },
	{ "0x10", false, 0 },
};

static void
test_mark(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ll_cases) / sizeof(ll_cases[0]); i++) {
		long long got = 42;
		bool ok = poll_parse_ll(ll_cases[i].text, &got);

		if (ok != ll_cases[i].ok || (ok && got != ll_cases[i].want))
			fail_msg("\"%s\": got %s %lld", ll_cases[i].text,
			    ok ? "ok" : "rejected", got);
		if (!ok && got != 42)
			fail_msg("\"%s\": rejected but wrote %lld", ll_cases[i].text,
			    got);
	}
	assert_false(poll_parse_ll(NULL, &(long long){ 0 }));
}

static const struct ll_case lastusn_cases[] = {
	{ "0", true, 0 },
	{ "4711", true, 4711 },
	/* Nothing numbered yet, printed signed or unsigned. */
	{ "-1", true, -1 },
	{ "18446744073709551614", true, -1 },
	{ "18446744073709551615", true, -1 },
	{ "9223372036854775807", true, -1 },
	{ "9223372036854775806", true, LLONG_MAX - 1 },
	{ "", false, 0 },
	{ "-x", false, 0 },
	{ "12a", false, 0 },
};

static void
test_lastusn(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(lastusn_cases) / sizeof(lastusn_cases[0]); i++) {
		long long got = 42;
		bool ok = poll_parse_lastusn(lastusn_cases[i].text, &got);

		if (ok != lastusn_cases[i].ok || (ok && got != lastusn_cases[i].want))
			fail_msg("\"%s\": got %s %lld", lastusn_cases[i].text,
			    ok ? "ok" : "rejected", got);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gentime),
		cmocka_unit_test(test_mark),
		cmocka_unit_test(test_lastusn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
