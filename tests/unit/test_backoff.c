/* test_backoff.c - unit tests for the reconnect backoff (backoff.h): exact
 * sequences for fixed randomness, the jitter bounds, the cap, reset, bad
 * bounds and a saturating attempt counter. */
#include "backoff.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The un-jittered step for attempt a: min doubling, capped at max. */
static uint64_t
expected_step(unsigned min, unsigned max, unsigned a)
{
	uint64_t step = min;

	while (a-- > 0 && step < max)
		step *= 2;
	return step > max ? max : step;
}

static void
assert_in_jitter(unsigned delay, uint64_t step)
{
	/* Equal jitter: the fixed half, plus up to the other half. */
	assert_in_range(delay, step - step / 2, step);
}

static void
test_sequences(void **state)
{
	static const struct {
		const char *name;
		uint32_t rnd;
		unsigned want[8];
	} cases[] = {
		/* rnd = 0: exactly the fixed half of each step. */
		{ "rnd=0", 0, { 50, 100, 200, 400, 500, 500, 500, 500 } },
		/* UINT32_MAX % (half + 1): 0, 67, 99, 254, 6, 6, 6, 6. */
		{ "rnd=UINT32_MAX", UINT32_MAX,
		  { 50, 167, 299, 654, 506, 506, 506, 506 } },
	};

	for (size_t c = 0; c < NELEM(cases); c++) {
		struct backoff b;

		backoff_init(&b, 100, 1000);
		for (unsigned a = 0; a < NELEM(cases[c].want); a++) {
			unsigned d = backoff_next_ms(&b, cases[c].rnd);

			if (d != cases[c].want[a])
				print_error("%s attempt %u: %u\n",
				    cases[c].name, a, d);
			assert_int_equal(d, cases[c].want[a]);
			assert_in_jitter(d, expected_step(100, 1000, a));
			assert_int_equal(b.attempt, a + 1);
		}
	}
}

/* rnd == half reaches the top of the range: the full step, doubling up
 * to the cap. */
static void
test_upper_bound_reached(void **state)
{
	static const unsigned want[] = { 100, 200, 400, 800, 1000, 1000 };
	struct backoff b;

	backoff_init(&b, 100, 1000);
	for (unsigned a = 0; a < NELEM(want); a++) {
		uint32_t half = (uint32_t)(expected_step(100, 1000, a) / 2);

		assert_int_equal(backoff_next_ms(&b, half), want[a]);
	}
}

static void
test_jitter_bounds(void **state)
{
	static const struct {
		unsigned min, max;
	} bounds[] = {
		{ 100, 1000 }, { 1, 1 }, { 3, 7 }, { 10, 3600000 },
		{ 1000, 60000 }, { 7, 7 }, { 1, UINT_MAX },
	};
	uint32_t rnd = 12345;

	for (size_t c = 0; c < NELEM(bounds); c++) {
		struct backoff b;

		backoff_init(&b, bounds[c].min, bounds[c].max);
		for (unsigned a = 0; a < 80; a++) {
			uint64_t step = expected_step(bounds[c].min,
			    bounds[c].max, a);

			rnd = rnd * 1103515245u + 12345u;
			assert_in_jitter(backoff_next_ms(&b, rnd), step);
		}
	}
}

static void
test_reset(void **state)
{
	struct backoff b;

	backoff_init(&b, 100, 1000);
	for (int i = 0; i < 5; i++)
		(void)backoff_next_ms(&b, 0);
	assert_int_equal(backoff_next_ms(&b, 0), 500);
	backoff_reset(&b);
	assert_int_equal(b.attempt, 0);
	assert_int_equal(backoff_next_ms(&b, 0), 50);
	assert_int_equal(backoff_next_ms(&b, 0), 100);
	assert_int_equal(b.min_ms, 100);
	assert_int_equal(b.max_ms, 1000);
}

static void
test_bad_bounds(void **state)
{
	static const struct {
		unsigned min, max;
		unsigned want_min, want_max;
		unsigned want[4]; /* delays with rnd = 0 */
	} cases[] = {
		/* min 0 would never grow: it becomes 1. */
		{ 0, 1000, 1, 1000, { 1, 1, 2, 4 } },
		{ 0, 0, 1, 1, { 1, 1, 1, 1 } },
		/* max < min: max is raised to min, a constant step. */
		{ 500, 100, 500, 500, { 250, 250, 250, 250 } },
		{ 100, 100, 100, 100, { 50, 50, 50, 50 } },
	};

	for (size_t c = 0; c < NELEM(cases); c++) {
		struct backoff b;

		backoff_init(&b, cases[c].min, cases[c].max);
		assert_int_equal(b.min_ms, cases[c].want_min);
		assert_int_equal(b.max_ms, cases[c].want_max);
		assert_int_equal(b.attempt, 0);
		for (unsigned a = 0; a < NELEM(cases[c].want); a++)
			assert_int_equal(backoff_next_ms(&b, 0),
			    cases[c].want[a]);
	}
}

static void
test_saturation(void **state)
{
	static const struct {
		unsigned min, max;
	} bounds[] = {
		{ 100, 1000 }, { 1, UINT_MAX }, { UINT_MAX, UINT_MAX },
		{ UINT_MAX / 2 + 1, UINT_MAX },
	};

	for (size_t c = 0; c < NELEM(bounds); c++) {
		struct backoff b;
		unsigned last = 0;

		backoff_init(&b, bounds[c].min, bounds[c].max);
		for (int i = 0; i < 100; i++) {
			unsigned lo = backoff_next_ms(&b, 0);
			unsigned attempt = b.attempt;
			unsigned hi;

			/* The same attempt again with the largest jitter. */
			b.attempt--;
			hi = backoff_next_ms(&b, UINT32_MAX);
			assert_int_equal(b.attempt, attempt);
			assert_true(lo <= hi);
			assert_true(hi <= bounds[c].max);
			assert_true(lo >= last); /* never shrinks */
			assert_true(b.attempt <= 64);
			last = lo;
		}
		/* Saturated: still the capped step. */
		assert_int_equal(last, bounds[c].max - bounds[c].max / 2);
		assert_true(b.attempt > 0);
	}
	{
		struct backoff b;

		backoff_init(&b, UINT_MAX, UINT_MAX);
		for (int i = 0; i < 100; i++)
			assert_int_equal(backoff_next_ms(&b, UINT32_MAX),
			    UINT_MAX);
	}
}

static void
test_random(void **state)
{
	struct backoff b;

	backoff_init(&b, 100, 1000);
	for (unsigned a = 0; a < 50; a++)
		assert_in_jitter(backoff_next_ms_random(&b),
		    expected_step(100, 1000, a));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequences),
		cmocka_unit_test(test_upper_bound_reached),
		cmocka_unit_test(test_jitter_bounds),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_bad_bounds),
		cmocka_unit_test(test_saturation),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
