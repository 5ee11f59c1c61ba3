/* test_ad_proto.c - the DirSync control codec: exact request bytes, round
 * trips, a response captured from Samba 4.17, hand-written malformed
 * values, a small fuzz (every truncation, byte mutations, random bytes)
 * that must never crash, leak or succeed on a truncated value, and the
 * incremental-value attribute descriptions.  Run it under ASan/UBSan. */
#include "ad_proto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The response control value Samba 4.17 sent for a first DirSync search
 * of DC=dsx,DC=test (MoreResults 0, a 108-octet "MSDS" cookie). */
static const unsigned char samba_response[] = {
	0x30, 0x74, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x04, 0x6c, 0x4d, 0x53,
	0x44, 0x53, 0x03, 0x00, 0x00, 0x00, 0x80, 0x6e, 0x49, 0xfc, 0x41, 0x7d,
	0xdd, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x28, 0x00,
	0x00, 0x00, 0x97, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x97, 0x0f, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0xb0, 0x94, 0xa2, 0x7e, 0x2c, 0x82, 0xf8, 0x4c, 0x83, 0xad,
	0xb2, 0x43, 0x5b, 0xc3, 0xcd, 0xa4, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb0, 0x94,
	0xa2, 0x7e, 0x2c, 0x82, 0xf8, 0x4c, 0x83, 0xad, 0xb2, 0x43, 0x5b, 0xc3,
	0xcd, 0xa4, 0x97, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static void
test_request_bytes(void **state)
{
	/* Flags 0x80000000 go out as the 4-octet INTEGER 80 00 00 00. */
	static const unsigned char want[] = { 0x30, 0x0b, 0x02, 0x04, 0x80, 0x00,
		0x00, 0x00, 0x02, 0x01, 0x00, 0x04, 0x00 };
	unsigned char *out;
	size_t len;
	struct ds_error err;

	(void)state;
	assert_int_equal(ad_proto_dirsync_request_encode(
	    AD_PROTO_DIRSYNC_INCREMENTAL_VALUES, 0, NULL, 0, &out, &len, &err), 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(out, want, len);
	free(out);
}

static void
test_request_round_trip(void **state)
{
	static const uint32_t flags[] = { 0, 1, 0x800, 0x7fffffffu, 0x80000000u,
		0x80000001u, 0xffffffffu };
	static const uint32_t sizes[] = { 0, 1, 127, 128, 1048576, 0xffffffffu };
	unsigned char cookie[300];

	(void)state;
	for (size_t i = 0; i < sizeof(cookie); i++)
		cookie[i] = (unsigned char)(i * 7);
	for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
			for (size_t c = 0; c <= sizeof(cookie); c += 150) {
				struct ad_proto_dirsync_request r;
				struct ds_error err;
				unsigned char *out;
				size_t len;

				assert_int_equal(ad_proto_dirsync_request_encode(flags[f],
				    sizes[s], cookie, c, &out, &len, &err), 0);
				assert_int_equal(ad_proto_dirsync_request_decode(out, len,
				    &r, &err), 0);
				assert_int_equal(r.flags, flags[f]);
				assert_int_equal(r.max_bytes, sizes[s]);
				assert_int_equal(r.cookie_len, c);
				if (c)
					assert_memory_equal(r.cookie, cookie, c);
				ad_proto_dirsync_request_free(&r);
				free(out);
			}
}

static void
test_request_cookie_max(void **state)
{
	unsigned char *out = (unsigned char *)"x";
	size_t len = 1;
	struct ds_error err;

	(void)state;
	assert_int_equal(ad_proto_dirsync_request_encode(0, 0, "x",
	    AD_PROTO_COOKIE_MAX + 1, &out, &len, &err), -1);
	assert_null(out);
	assert_non_null(strstr(err.msg, "cookie"));
}

static void
test_response_samba(void **state)
{
	struct ad_proto_dirsync_response r;
	struct ds_error err;

	(void)state;
	assert_int_equal(ad_proto_dirsync_response_decode(samba_response,
	    sizeof(samba_response), &r, &err), 0);
	assert_false(r.more);
	assert_int_equal(r.cookie_len, 108);
	assert_memory_equal(r.cookie, "MSDS", 4);
	assert_int_equal(r.cookie[108], 0);
	ad_proto_dirsync_response_free(&r);
	ad_proto_dirsync_response_free(&r);
	ad_proto_dirsync_response_free(NULL);
}

static void
test_response_round_trip(void **state)
{
	(void)state;
	for (int more = 0; more < 2; more++)
		for (size_t c = 0; c < 2000; c += 999) {
			unsigned char *cookie = malloc(c + 1), *out;
			struct ad_proto_dirsync_response r;
			struct ds_error err;
			size_t len;

			for (size_t i = 0; i < c; i++)
				cookie[i] = (unsigned char)(i ^ 0x5a);
			assert_int_equal(ad_proto_dirsync_response_encode(more, cookie, c,
			    &out, &len, &err), 0);
			assert_int_equal(ad_proto_dirsync_response_decode(out, len, &r,
			    &err), 0);
			assert_int_equal(r.more, more);
			assert_int_equal(r.cookie_len, c);
			assert_non_null(r.cookie);
			if (c)
				assert_memory_equal(r.cookie, cookie, c);
			ad_proto_dirsync_response_free(&r);
			free(out);
			free(cookie);
		}
}

/* A non-zero MoreResults of any width up to 4 octets means more. */
static void
test_response_more_values(void **state)
{
	static const unsigned char v[] = { 0x30, 0x0b, 0x02, 0x04, 0x00, 0x00,
		0x01, 0x00, 0x02, 0x01, 0x00, 0x04, 0x00 };
	struct ad_proto_dirsync_response r;
	struct ds_error err;

	(void)state;
	assert_int_equal(ad_proto_dirsync_response_decode(v, sizeof(v), &r, &err), 0);
	assert_true(r.more);
	assert_int_equal(r.cookie_len, 0);
	assert_non_null(r.cookie);
	ad_proto_dirsync_response_free(&r);
}

static void
expect_bad(const unsigned char *v, size_t len, const char *needle)
{
	struct ad_proto_dirsync_response r;
	struct ds_error err;

	err.msg[0] = '\0';
	assert_int_equal(ad_proto_dirsync_response_decode(v, len, &r, &err), -1);
	assert_null(r.cookie);
	assert_int_equal(r.cookie_len, 0);
	if (needle != NULL && strstr(err.msg, needle) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err.msg, needle);
}

static void
test_response_malformed(void **state)
{
	/* clang-format off */
	static const unsigned char set[] = { 0x31, 0x08, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x04, 0x00 };
	static const unsigned char trailing[] = { 0x30, 0x08, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x04, 0x00, 0x00 };
	static const unsigned char inner_trailing[] = { 0x30, 0x0a, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x04, 0x00, 0x05, 0x00 };
	static const unsigned char wide_int[] = { 0x30, 0x0c, 0x02, 0x05, 0x00, 0x80, 0x00, 0x00, 0x00, 0x02, 0x01, 0x00, 0x04, 0x00 };
	static const unsigned char empty_int[] = { 0x30, 0x07, 0x02, 0x00, 0x02, 0x01, 0x00, 0x04, 0x00 };
	static const unsigned char no_cookie[] = { 0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00 };
	static const unsigned char cookie_tag[] = { 0x30, 0x08, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x05, 0x00 };
	static const unsigned char long_cookie[] = { 0x30, 0x08, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x04, 0x05 };
	static const unsigned char seq_short[] = { 0x30, 0x20, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x04, 0x00 };
	static const unsigned char indefinite[] = { 0x30, 0x80, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00 };
	static const unsigned char huge_len[] = { 0x30, 0x84, 0xff, 0xff, 0xff, 0xf0, 0x02, 0x01, 0x00 };
	/* clang-format on */

	(void)state;
	expect_bad(NULL, 0, "empty");
	expect_bad(set, sizeof(set), "SEQUENCE");
	expect_bad(trailing, sizeof(trailing), "SEQUENCE");
	expect_bad(inner_trailing, sizeof(inner_trailing), "after the cookie");
	expect_bad(wide_int, sizeof(wide_int), "MoreResults");
	expect_bad(empty_int, sizeof(empty_int), "MoreResults");
	expect_bad(no_cookie, sizeof(no_cookie), "cookie");
	expect_bad(cookie_tag, sizeof(cookie_tag), "cookie");
	expect_bad(long_cookie, sizeof(long_cookie), NULL);
	expect_bad(seq_short, sizeof(seq_short), "SEQUENCE");
	expect_bad(indefinite, sizeof(indefinite), NULL);
	expect_bad(huge_len, sizeof(huge_len), NULL);
}

/* ---- fuzz ------------------------------------------------------------- */

static volatile unsigned fuzz_sink;

static void
fuzz_one(const unsigned char *v, size_t len)
{
	struct ad_proto_dirsync_response r;
	struct ad_proto_dirsync_request q;
	struct ds_error err;

	/* The decoder may get a copy that ends exactly at len. */
	unsigned char *copy = malloc(len ? len : 1);

	memcpy(copy, v, len);
	if (ad_proto_dirsync_response_decode(copy, len, &r, &err) == 0) {
		fuzz_sink += r.cookie_len + (r.cookie_len ? r.cookie[0] : 0);
		ad_proto_dirsync_response_free(&r);
	}
	if (ad_proto_dirsync_request_decode(copy, len, &q, &err) == 0) {
		fuzz_sink += q.cookie_len + q.flags;
		ad_proto_dirsync_request_free(&q);
	}
	free(copy);
}

static void
test_fuzz_truncations(void **state)
{
	(void)state;
	for (size_t n = 0; n < sizeof(samba_response); n++) {
		struct ad_proto_dirsync_response r;
		struct ds_error err;

		assert_int_equal(ad_proto_dirsync_response_decode(samba_response, n,
		    &r, &err), -1);
		fuzz_one(samba_response, n);
	}
}

static void
test_fuzz_mutations(void **state)
{
	unsigned char v[sizeof(samba_response) + 4];

	(void)state;
	srand(4242);
	for (size_t i = 0; i < sizeof(samba_response); i++)
		for (unsigned b = 0; b < 256; b += 17) {
			memcpy(v, samba_response, sizeof(samba_response));
			v[i] = (unsigned char)b;
			fuzz_one(v, sizeof(samba_response));
		}
	for (int round = 0; round < 20000; round++) {
		size_t len = sizeof(samba_response);

		memcpy(v, samba_response, len);
		for (int k = rand() % 4 + 1; k > 0; k--)
			v[(size_t)rand() % len] = (unsigned char)rand();
		if (rand() % 3 == 0)
			len = (size_t)rand() % (len + 1);
		fuzz_one(v, len);
	}
}

static void
test_fuzz_random(void **state)
{
	unsigned char v[64];

	(void)state;
	srand(777);
	for (int round = 0; round < 50000; round++) {
		size_t len = (size_t)rand() % sizeof(v);

		for (size_t i = 0; i < len; i++)
			v[i] = (unsigned char)rand();
		if (len > 0 && rand() % 2)
			v[0] = 0x30;
		fuzz_one(v, len);
	}
}

/* ---- attribute descriptions ------------------------------------------ */

static void
test_attrdesc(void **state)
{
	static const struct {
		const char *desc, *name;
		enum ad_proto_change incr, whole;
		unsigned long lo, hi;
		bool star;
	} ok[] = {
		{ "member", "member", AD_PROTO_CHANGE_WHOLE, AD_PROTO_CHANGE_WHOLE, 0, 0, false },
		{ "member;range=1-1", "member", AD_PROTO_CHANGE_ADDED, AD_PROTO_CHANGE_CHUNK, 1, 1, false },
		{ "Member;Range=0-0", "Member", AD_PROTO_CHANGE_REMOVED, AD_PROTO_CHANGE_CHUNK, 0, 0, false },
		{ "member;RANGE=0-1499", "member", AD_PROTO_CHANGE_CHUNK, AD_PROTO_CHANGE_CHUNK, 0, 1499, false },
		{ "member;range=1500-*", "member", AD_PROTO_CHANGE_CHUNK, AD_PROTO_CHANGE_CHUNK, 1500, 0, true },
		{ "member;range=1-*", "member", AD_PROTO_CHANGE_CHUNK, AD_PROTO_CHANGE_CHUNK, 1, 0, true },
		{ "cn;lang-de", "cn;lang-de", AD_PROTO_CHANGE_WHOLE, AD_PROTO_CHANGE_WHOLE, 0, 0, false },
		{ "cn;range=1-1;lang-de", "cn;lang-de", AD_PROTO_CHANGE_ADDED, AD_PROTO_CHANGE_CHUNK, 1, 1, false },
		{ "1.2.840.113556.1.2.102;range=0-0", "1.2.840.113556.1.2.102", AD_PROTO_CHANGE_REMOVED, AD_PROTO_CHANGE_CHUNK, 0, 0, false },
	};
	static const char *const bad[] = { "", ";range=1-1", "member;", "member;;x",
		"member;range=2-1", "member;range=", "member;range=-1", "member;range=1-",
		"member;range=a-b", "member;range=1-1x", "member;range=1-1;range=0-0",
		"member;range=99999999999999999999999-1", "member;range=1-*x",
		"member;range= 1-1" };
	struct ad_proto_attrdesc d;
	struct ds_error err;
	char longname[300];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (ad_proto_attrdesc_parse(ok[i].desc, &d, &err) != 0)
			fail_msg("%s: %s", ok[i].desc, err.msg);
		assert_string_equal(d.name, ok[i].name);
		assert_int_equal(ad_proto_attrdesc_change(&d, true), ok[i].incr);
		assert_int_equal(ad_proto_attrdesc_change(&d, false), ok[i].whole);
		if (d.ranged) {
			assert_int_equal(d.lo, ok[i].lo);
			assert_int_equal(d.hi_star, ok[i].star);
			if (!d.hi_star)
				assert_int_equal(d.hi, ok[i].hi);
		}
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ad_proto_attrdesc_parse(bad[i], &d, &err) != -1)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_string_equal(d.name, "");
	}
	assert_int_equal(ad_proto_attrdesc_parse(NULL, &d, &err), -1);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(ad_proto_attrdesc_parse(longname, &d, &err), -1);
	assert_non_null(strstr(err.msg, "too long"));
	longname[127] = '\0';
	assert_int_equal(ad_proto_attrdesc_parse(longname, &d, &err), 0);
	longname[128] = '\0';
	longname[127] = 'a';
	assert_int_equal(ad_proto_attrdesc_parse(longname, &d, &err), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_bytes),
		cmocka_unit_test(test_request_round_trip),
		cmocka_unit_test(test_request_cookie_max),
		cmocka_unit_test(test_response_samba),
		cmocka_unit_test(test_response_round_trip),
		cmocka_unit_test(test_response_more_values),
		cmocka_unit_test(test_response_malformed),
		cmocka_unit_test(test_fuzz_truncations),
		cmocka_unit_test(test_fuzz_mutations),
		cmocka_unit_test(test_fuzz_random),
		cmocka_unit_test(test_attrdesc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
