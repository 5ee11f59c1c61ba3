/* test_syncrepl_proto.c - the RFC 4533 codec: request encoding checked
 * with ber_scanf, every state/done/info variant built with ber_printf,
 * defaults, hand-written malformed values, and a small fuzz (every
 * truncation, byte mutations, random bytes) that must never crash, leak
 * or succeed on a truncated value.  Run it under ASan/UBSan. */
#include "syncrepl_proto.h"

#include <lber.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* clang-format off */
#define UUID_A 0x3d, 0x8b, 0x6e, 0x2a, 0x11, 0x22, 0x43, 0x44, \
	0x95, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc
/* clang-format on */
static const unsigned char uuid_a[16] = { UUID_A };
static const char cookie_a[] =
    "rid=001,csn=20240102030405.123456Z#000000#000#000000";

/* ---- helpers ------------------------------------------------------------ */

static void
ber_ok(int rc)
{
	assert_int_not_equal(rc, -1);
}

struct buf {
	unsigned char *p;
	size_t n;
};

/* Flatten ber into a malloc'd buf the test owns, then free ber. */
static struct buf
take(BerElement *ber)
{
	struct berval *bv = NULL;
	struct buf b;

	assert_int_not_equal(ber_flatten(ber, &bv), -1);
	b.n = bv->bv_len;
	b.p = malloc(b.n ? b.n : 1);
	assert_non_null(b.p);
	memcpy(b.p, bv->bv_val, b.n);
	ber_bvfree(bv);
	ber_free(ber, 1);
	return b;
}

static BerElement *
der(void)
{
	BerElement *ber = ber_alloc_t(LBER_USE_DER);

	assert_non_null(ber);
	return ber;
}

static int
put_cookie(BerElement *ber, const char *cookie)
{
	if (cookie == NULL)
		return 0;
	return ber_printf(ber, "o", cookie, (ber_len_t)strlen(cookie));
}

/* boolean: -1 leaves the element out, 0/1 sends it. */
static int
put_bool(BerElement *ber, int boolean)
{
	if (boolean < 0)
		return 0;
	return ber_printf(ber, "b", (ber_int_t)boolean);
}

static struct buf
enc_state(int state, const unsigned char *uuid, const char *cookie)
{
	BerElement *ber = der();

	ber_ok(ber_printf(ber, "{eo", (ber_int_t)state, (const char *)uuid,
	    (ber_len_t)16));
	ber_ok(put_cookie(ber, cookie));
	ber_ok(ber_printf(ber, "}"));
	return take(ber);
}

static struct buf
enc_done(const char *cookie, int refresh_deletes)
{
	BerElement *ber = der();

	ber_ok(ber_printf(ber, "{"));
	ber_ok(put_cookie(ber, cookie));
	ber_ok(put_bool(ber, refresh_deletes));
	ber_ok(ber_printf(ber, "}"));
	return take(ber);
}

static struct buf
enc_newcookie(const char *cookie)
{
	BerElement *ber = der();

	ber_ok(ber_printf(ber, "to", (ber_tag_t)0x80, cookie,
	    (ber_len_t)strlen(cookie)));
	return take(ber);
}

static struct buf
enc_refresh(ber_tag_t tag, const char *cookie, int refresh_done)
{
	BerElement *ber = der();

	ber_ok(ber_printf(ber, "t{", tag));
	ber_ok(put_cookie(ber, cookie));
	ber_ok(put_bool(ber, refresh_done));
	ber_ok(ber_printf(ber, "}"));
	return take(ber);
}

/* UUID number i of a test set: i in the first four octets, the rest a
 * hash of i, so a swapped or shifted entry cannot go unnoticed. */
static void
gen_uuid(size_t i, unsigned char out[16])
{
	uint32_t x = (uint32_t)i * 2654435761u + 1;

	out[0] = (unsigned char)(i >> 24);
	out[1] = (unsigned char)(i >> 16);
	out[2] = (unsigned char)(i >> 8);
	out[3] = (unsigned char)i;
	for (int k = 4; k < 16; k++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		out[k] = (unsigned char)x;
	}
}

static struct buf
enc_id_set(const char *cookie, int refresh_deletes, size_t n)
{
	BerElement *ber = der();
	unsigned char u[16];

	ber_ok(ber_printf(ber, "t{", (ber_tag_t)0xa3));
	ber_ok(put_cookie(ber, cookie));
	ber_ok(put_bool(ber, refresh_deletes));
	ber_ok(ber_printf(ber, "["));
	for (size_t i = 0; i < n; i++) {
		gen_uuid(i, u);
		ber_ok(ber_printf(ber, "o", (const char *)u, (ber_len_t)16));
	}
	ber_ok(ber_printf(ber, "]}"));
	return take(ber);
}

static void
assert_cookie(const struct syncrepl_proto_cookie *c, const char *want)
{
	if (want == NULL) {
		assert_null(c->val);
		assert_int_equal(c->len, 0);
		return;
	}
	assert_non_null(c->val);
	assert_int_equal(c->len, strlen(want));
	assert_memory_equal(c->val, want, c->len);
	assert_int_equal(c->val[c->len], '\0');
}

static int
all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i] != 0)
			return 0;
	return 1;
}

/* ---- Sync Request Control ----------------------------------------------- */

static void
test_request_no_cookie(void **state)
{
	static const unsigned char want[] = { 0x30, 0x03, 0x0a, 0x01, 0x03 };
	struct ds_error err = { "" };
	unsigned char *out;
	size_t len;
	int rc;

	rc = syncrepl_proto_request_encode(
	    SYNCREPL_PROTO_MODE_REFRESH_AND_PERSIST, NULL, 0, false, &out, &len,
	    &err);
	assert_int_equal(rc, 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(out, want, len);
	free(out);

	/* "No cookie" is the same whether it is NULL or empty. */
	rc = syncrepl_proto_request_encode(
	    SYNCREPL_PROTO_MODE_REFRESH_AND_PERSIST, "", 0, false, &out, &len,
	    &err);
	assert_int_equal(rc, 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(out, want, len);
	free(out);
}

/* Decode a request with liblber itself, as a server would. */
static void
scan_request(const unsigned char *p, size_t n, ber_int_t *mode, char **cookie,
    ber_len_t *cookie_len, ber_int_t *hint)
{
	struct berval bv = { (ber_len_t)n, (char *)p };
	struct berval ck = { 0, NULL };
	BerElement *ber = ber_init(&bv);
	ber_len_t len;

	assert_non_null(ber);
	assert_int_not_equal(ber_scanf(ber, "{e", mode), LBER_ERROR);
	*cookie = NULL;
	*cookie_len = 0;
	*hint = 0;
	if (ber_peek_tag(ber, &len) == LBER_OCTETSTRING) {
		assert_int_not_equal(ber_scanf(ber, "o", &ck), LBER_ERROR);
		*cookie = ck.bv_val;
		*cookie_len = ck.bv_len;
	}
	if (ber_peek_tag(ber, &len) == LBER_BOOLEAN)
		assert_int_not_equal(ber_scanf(ber, "b", hint), LBER_ERROR);
	assert_int_equal(ber_peek_tag(ber, &len), LBER_DEFAULT);
	ber_free(ber, 1);
}

static void
test_request_cookie(void **state)
{
	struct ds_error err = { "" };
	unsigned char *out;
	size_t len;
	ber_int_t mode, hint;
	char *cookie;
	ber_len_t cookie_len;
	int rc;

	rc = syncrepl_proto_request_encode(SYNCREPL_PROTO_MODE_REFRESH_ONLY,
	    cookie_a, strlen(cookie_a), false, &out, &len, &err);
	assert_int_equal(rc, 0);
	scan_request(out, len, &mode, &cookie, &cookie_len, &hint);
	assert_int_equal(mode, 1);
	assert_non_null(cookie);
	assert_int_equal(cookie_len, strlen(cookie_a));
	assert_memory_equal(cookie, cookie_a, cookie_len);
	assert_int_equal(hint, 0);
	/* DER: no reloadHint octets when it is FALSE. */
	assert_int_equal(len, 2 + 3 + 2 + strlen(cookie_a));
	ber_memfree(cookie);
	free(out);
}

static void
test_request_reload_hint(void **state)
{
	static const unsigned char want[] = { 0x30, 0x06, 0x0a, 0x01, 0x01,
		0x01, 0x01, 0xff };
	static const unsigned char bin[] = { 0x00, 0xff, 0x00, 0x41 };
	struct ds_error err = { "" };
	unsigned char *out;
	size_t len;
	ber_int_t mode, hint;
	char *cookie;
	ber_len_t cookie_len;
	int rc;

	/* Without a cookie: mode then BOOLEAN TRUE as DER's 0xFF. */
	rc = syncrepl_proto_request_encode(SYNCREPL_PROTO_MODE_REFRESH_ONLY,
	    NULL, 0, true, &out, &len, &err);
	assert_int_equal(rc, 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(out, want, len);
	free(out);

	/* With a binary cookie: the octets go through untouched. */
	rc = syncrepl_proto_request_encode(
	    SYNCREPL_PROTO_MODE_REFRESH_AND_PERSIST, bin, sizeof(bin), true,
	    &out, &len, &err);
	assert_int_equal(rc, 0);
	scan_request(out, len, &mode, &cookie, &cookie_len, &hint);
	assert_int_equal(mode, 3);
	assert_int_equal(cookie_len, sizeof(bin));
	assert_memory_equal(cookie, bin, sizeof(bin));
	assert_int_not_equal(hint, 0);
	assert_int_equal(out[len - 1], 0xff);
	ber_memfree(cookie);
	free(out);
}

static void
test_request_rejects(void **state)
{
	struct ds_error err = { "" };
	unsigned char *out = (unsigned char *)"x";
	size_t len = 7;
	char *big;
	int rc;

	rc = syncrepl_proto_request_encode((enum syncrepl_proto_mode)2, NULL, 0,
	    false, &out, &len, &err);
	assert_int_equal(rc, -1);
	assert_null(out);
	assert_int_equal(len, 0);
	assert_non_null(strstr(err.msg, "mode 2"));
	rc = syncrepl_proto_request_encode((enum syncrepl_proto_mode)0, NULL, 0,
	    false, &out, &len, &err);
	assert_int_equal(rc, -1);

	big = calloc(1, SYNCREPL_PROTO_COOKIE_MAX + 1);
	assert_non_null(big);
	rc = syncrepl_proto_request_encode(SYNCREPL_PROTO_MODE_REFRESH_ONLY,
	    big, SYNCREPL_PROTO_COOKIE_MAX + 1, false, &out, &len, &err);
	assert_int_equal(rc, -1);
	assert_null(out);
	assert_non_null(strstr(err.msg, "cookie"));
	rc = syncrepl_proto_request_encode(SYNCREPL_PROTO_MODE_REFRESH_ONLY,
	    big, SYNCREPL_PROTO_COOKIE_MAX, false, &out, &len, &err);
	assert_int_equal(rc, 0);
	free(out);
	free(big);
}

/* ---- Sync State Control -------------------------------------------------- */

static void
test_state_variants(void **state)
{
	struct ds_error err = { "" };
	struct syncrepl_proto_state_value v;
	struct buf b;
	int rc;

	for (int s = 0; s <= 3; s++) {
		for (int with_cookie = 0; with_cookie <= 1; with_cookie++) {
			const char *ck = with_cookie ? cookie_a : NULL;

			b = enc_state(s, uuid_a, ck);
			rc = syncrepl_proto_state_decode(b.p, b.n, &v, &err);
			assert_int_equal(rc, 0);
			assert_int_equal(v.state, s);
			assert_memory_equal(v.uuid, uuid_a, 16);
			assert_cookie(&v.cookie, ck);
			syncrepl_proto_state_free(&v);
			assert_true(all_zero(&v, sizeof(v)));
			free(b.p);
		}
	}

	/* A present but empty cookie stays present. */
	b = enc_state(SYNCREPL_PROTO_STATE_ADD, uuid_a, "");
	rc = syncrepl_proto_state_decode(b.p, b.n, &v, &err);
	assert_int_equal(rc, 0);
	assert_cookie(&v.cookie, "");
	syncrepl_proto_state_free(&v);
	free(b.p);
}

struct bad {
	const char *name;
	const unsigned char *p;
	size_t n;
	const char *want; /* substring of the error */
};

/* clang-format off */
#define BAD(name, want, ...) \
	{ name, (const unsigned char[]){ __VA_ARGS__ }, \
	  sizeof((const unsigned char[]){ __VA_ARGS__ }), want }

static const struct bad bad_state[] = {
	BAD("SET, not SEQUENCE", "SEQUENCE at offset 0: tag 0x31, want 0x30",
	    0x31, 0x03, 0x0a, 0x01, 0x01),
	BAD("length past the end", "SEQUENCE at offset 0: truncated",
	    0x30, 0x20, 0x0a, 0x01, 0x01),
	BAD("indefinite length", "indefinite",
	    0x30, 0x80, 0x0a, 0x01, 0x01, 0x00, 0x00),
	BAD("9-octet length", "truncated",
	    0x30, 0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0),
	BAD("huge length", "truncated",
	    0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
	BAD("lone tag", "truncated", 0x30),
	BAD("empty SEQUENCE", "state at offset 2: missing", 0x30, 0x00),
	BAD("0-octet state", "0-octet ENUMERATED",
	    0x30, 0x14, 0x0a, 0x00, 0x04, 0x10, UUID_A),
	BAD("5-octet state", "5-octet ENUMERATED",
	    0x30, 0x19, 0x0a, 0x05, 0, 0, 0, 0, 1, 0x04, 0x10, UUID_A),
	BAD("state 4", "state at offset 2: 4 is not",
	    0x30, 0x15, 0x0a, 0x01, 0x04, 0x04, 0x10, UUID_A),
	BAD("state -1", "-1 is not",
	    0x30, 0x15, 0x0a, 0x01, 0xff, 0x04, 0x10, UUID_A),
	BAD("state as INTEGER", "tag 0x02, want 0x0a",
	    0x30, 0x15, 0x02, 0x01, 0x01, 0x04, 0x10, UUID_A),
	BAD("no entryUUID", "entryUUID at offset 5: missing",
	    0x30, 0x03, 0x0a, 0x01, 0x01),
	BAD("empty entryUUID (back-sql)", "entryUUID at offset 5: 0 octets",
	    0x30, 0x05, 0x0a, 0x01, 0x01, 0x04, 0x00),
	BAD("15-octet entryUUID", "15 octets, want 16",
	    0x30, 0x14, 0x0a, 0x01, 0x01, 0x04, 0x0f,
	    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
	BAD("17-octet entryUUID", "17 octets, want 16",
	    0x30, 0x16, 0x0a, 0x01, 0x01, 0x04, 0x11, UUID_A, 0x00),
	BAD("constructed entryUUID", "tag 0x24, want 0x04",
	    0x30, 0x17, 0x0a, 0x01, 0x01, 0x24, 0x12, 0x04, 0x10, UUID_A),
	BAD("entryUUID past the SEQUENCE", "run past the end",
	    0x30, 0x05, 0x0a, 0x01, 0x01, 0x04, 0x10, UUID_A),
	BAD("cookie with a context tag", "unexpected element (tag 0x80)",
	    0x30, 0x18, 0x0a, 0x01, 0x01, 0x04, 0x10, UUID_A,
	    0x80, 0x01, 0x41),
	BAD("two cookies", "unexpected element (tag 0x04)",
	    0x30, 0x1b, 0x0a, 0x01, 0x01, 0x04, 0x10, UUID_A,
	    0x04, 0x01, 0x41, 0x04, 0x01, 0x42),
	BAD("trailing octet", "offset 23: 1 octets after its end",
	    0x30, 0x15, 0x0a, 0x01, 0x01, 0x04, 0x10, UUID_A, 0x00),
	BAD("two values", "after its end",
	    0x30, 0x15, 0x0a, 0x01, 0x01, 0x04, 0x10, UUID_A,
	    0x30, 0x15, 0x0a, 0x01, 0x01, 0x04, 0x10, UUID_A),
	BAD("cookie truncated", "offset 23: element truncated",
	    0x30, 0x19, 0x0a, 0x01, 0x01, 0x04, 0x10, UUID_A,
	    0x04, 0x05, 0x41, 0x42),
};
/* clang-format on */

static void
test_state_malformed(void **state)
{
	struct ds_error err;
	struct syncrepl_proto_state_value v;
	int rc;

	for (size_t i = 0; i < DS_ARRAY_SIZE(bad_state); i++) {
		const struct bad *t = &bad_state[i];

		memset(&err, 0, sizeof(err));
		memset(&v, 0xa5, sizeof(v));
		if (syncrepl_proto_state_decode(t->p, t->n, &v, &err) != -1)
			fail_msg("%s: decoded", t->name);
		if (strstr(err.msg, t->want) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\"", t->name,
			    err.msg, t->want);
		assert_true(all_zero(&v, sizeof(v)));
		assert_non_null(strstr(err.msg, "syncStateValue"));
	}

	memset(&err, 0, sizeof(err));
	rc = syncrepl_proto_state_decode(NULL, 0, &v, &err);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err.msg, "empty value"));
	rc = syncrepl_proto_state_decode("", 0, &v, NULL);
	assert_int_equal(rc, -1);
}

/* ---- Sync Done Control --------------------------------------------------- */

static void
test_done_variants(void **state)
{
	static const struct {
		const char *cookie;
		int sent; /* -1: refreshDeletes absent */
		bool want;
	} cases[] = {
		{ NULL, -1, false }, /* {} : the DEFAULT FALSE */
		{ cookie_a, -1, false },
		{ cookie_a, 1, true },
		{ NULL, 1, true },
		{ cookie_a, 0, false }, /* DEFAULT sent explicitly (BER) */
		{ "", -1, false },
	};
	struct ds_error err = { "" };
	struct syncrepl_proto_done_value v;
	int rc;

	for (size_t i = 0; i < DS_ARRAY_SIZE(cases); i++) {
		struct buf b = enc_done(cases[i].cookie, cases[i].sent);

		rc = syncrepl_proto_done_decode(b.p, b.n, &v, &err);
		assert_int_equal(rc, 0);
		assert_cookie(&v.cookie, cases[i].cookie);
		assert_int_equal(v.refresh_deletes, cases[i].want);
		syncrepl_proto_done_free(&v);
		free(b.p);
	}
}

/* clang-format off */
static const struct bad bad_done[] = {
	BAD("not a SEQUENCE", "tag 0x04, want 0x30", 0x04, 0x00),
	BAD("BOOLEAN before cookie", "unexpected element (tag 0x04)",
	    0x30, 0x06, 0x01, 0x01, 0xff, 0x04, 0x01, 0x41),
	BAD("2-octet BOOLEAN", "refreshDeletes at offset 2: 2-octet BOOLEAN",
	    0x30, 0x04, 0x01, 0x02, 0xff, 0xff),
	BAD("0-octet BOOLEAN", "0-octet BOOLEAN", 0x30, 0x02, 0x01, 0x00),
	BAD("ENUMERATED refreshDeletes", "unexpected element (tag 0x0a)",
	    0x30, 0x03, 0x0a, 0x01, 0x01),
	BAD("trailing octet", "1 octets after its end", 0x30, 0x00, 0x00),
	BAD("cookie past the SEQUENCE", "run past the end",
	    0x30, 0x02, 0x04, 0x02, 0x41, 0x42),
};
/* clang-format on */

static void
test_done_malformed(void **state)
{
	struct ds_error err;
	struct syncrepl_proto_done_value v;

	for (size_t i = 0; i < DS_ARRAY_SIZE(bad_done); i++) {
		const struct bad *t = &bad_done[i];

		memset(&err, 0, sizeof(err));
		memset(&v, 0xa5, sizeof(v));
		if (syncrepl_proto_done_decode(t->p, t->n, &v, &err) != -1)
			fail_msg("%s: decoded", t->name);
		if (strstr(err.msg, t->want) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\"", t->name,
			    err.msg, t->want);
		assert_non_null(strstr(err.msg, "syncDoneValue"));
		assert_true(all_zero(&v, sizeof(v)));
	}
}

/* ---- Sync Info Message --------------------------------------------------- */

static void
test_info_new_cookie(void **state)
{
	struct ds_error err = { "" };
	struct syncrepl_proto_info_value v;
	struct buf b = enc_newcookie(cookie_a);
	int rc;

	assert_int_equal(b.p[0], 0x80);
	rc = syncrepl_proto_info_decode(b.p, b.n, SYNCREPL_PROTO_UUIDS_MAX, &v,
	    &err);
	assert_int_equal(rc, 0);
	assert_int_equal(v.kind, SYNCREPL_PROTO_INFO_NEW_COOKIE);
	assert_cookie(&v.cookie, cookie_a);
	assert_false(v.refresh_done);
	assert_false(v.refresh_deletes);
	assert_null(v.uuids);
	syncrepl_proto_info_free(&v);
	free(b.p);

	b = enc_newcookie("");
	rc = syncrepl_proto_info_decode(b.p, b.n, SYNCREPL_PROTO_UUIDS_MAX, &v,
	    &err);
	assert_int_equal(rc, 0);
	assert_cookie(&v.cookie, "");
	syncrepl_proto_info_free(&v);
	free(b.p);
}

static void
test_info_refresh(void **state)
{
	static const struct {
		ber_tag_t tag;
		enum syncrepl_proto_info_kind kind;
		const char *cookie;
		int sent; /* -1: refreshDone absent */
		bool want;
	} cases[] = {
		{ 0xa1, SYNCREPL_PROTO_INFO_REFRESH_DELETE, NULL, -1, true },
		{ 0xa1, SYNCREPL_PROTO_INFO_REFRESH_DELETE, cookie_a, -1,
		    true },
		{ 0xa1, SYNCREPL_PROTO_INFO_REFRESH_DELETE, cookie_a, 0,
		    false },
		{ 0xa1, SYNCREPL_PROTO_INFO_REFRESH_DELETE, NULL, 1, true },
		{ 0xa2, SYNCREPL_PROTO_INFO_REFRESH_PRESENT, NULL, -1, true },
		{ 0xa2, SYNCREPL_PROTO_INFO_REFRESH_PRESENT, cookie_a, -1,
		    true },
		{ 0xa2, SYNCREPL_PROTO_INFO_REFRESH_PRESENT, NULL, 0, false },
		{ 0xa2, SYNCREPL_PROTO_INFO_REFRESH_PRESENT, cookie_a, 1,
		    true },
	};
	struct ds_error err = { "" };
	struct syncrepl_proto_info_value v;
	int rc;

	for (size_t i = 0; i < DS_ARRAY_SIZE(cases); i++) {
		struct buf b = enc_refresh(cases[i].tag, cases[i].cookie,
		    cases[i].sent);

		assert_int_equal(b.p[0], cases[i].tag);
		rc = syncrepl_proto_info_decode(b.p, b.n,
		    SYNCREPL_PROTO_UUIDS_MAX, &v, &err);
		assert_int_equal(rc, 0);
		assert_int_equal(v.kind, cases[i].kind);
		assert_cookie(&v.cookie, cases[i].cookie);
		assert_int_equal(v.refresh_done, cases[i].want);
		assert_false(v.refresh_deletes);
		assert_null(v.uuids);
		assert_int_equal(v.uuid_count, 0);
		syncrepl_proto_info_free(&v);
		free(b.p);
	}
}

static void
check_id_set(const struct buf *b, const char *cookie, bool deletes, size_t n)
{
	struct ds_error err = { "" };
	struct syncrepl_proto_info_value v;
	unsigned char u[16];
	int rc;

	rc = syncrepl_proto_info_decode(b->p, b->n, SYNCREPL_PROTO_UUIDS_MAX,
	    &v, &err);
	assert_int_equal(rc, 0);
	assert_int_equal(v.kind, SYNCREPL_PROTO_INFO_SYNC_ID_SET);
	assert_cookie(&v.cookie, cookie);
	assert_int_equal(v.refresh_deletes, deletes);
	assert_false(v.refresh_done);
	assert_int_equal(v.uuid_count, n);
	if (n == 0)
		assert_null(v.uuids);
	for (size_t i = 0; i < n; i++) {
		gen_uuid(i, u);
		assert_memory_equal(v.uuids[i], u, 16);
	}
	syncrepl_proto_info_free(&v);
	assert_true(all_zero(&v, sizeof(v)));
}

static void
test_info_id_set(void **state)
{
	struct buf b;

	b = enc_id_set(cookie_a, 1, 3);
	check_id_set(&b, cookie_a, true, 3);
	free(b.p);
	/* refreshDeletes absent: DEFAULT FALSE (present UUIDs). */
	b = enc_id_set(NULL, -1, 3);
	check_id_set(&b, NULL, false, 3);
	free(b.p);
	b = enc_id_set(NULL, 0, 1);
	check_id_set(&b, NULL, false, 1);
	free(b.p);
	/* An empty SET OF is valid and allocates nothing. */
	b = enc_id_set(cookie_a, 1, 0);
	check_id_set(&b, cookie_a, true, 0);
	free(b.p);
	/* slapd's batch size. */
	b = enc_id_set(NULL, -1, 100);
	check_id_set(&b, NULL, false, 100);
	free(b.p);
}

static void
test_info_id_set_10000(void **state)
{
	struct buf b = enc_id_set(cookie_a, 1, 10000);

	/* 4 header + cookie + BOOLEAN + SET header + 10000 * 18 */
	assert_true(b.n > (size_t)10000 * 18);
	check_id_set(&b, cookie_a, true, 10000);
	free(b.p);
}

static void
test_info_id_set_bounds(void **state)
{
	struct ds_error err = { "" };
	struct syncrepl_proto_info_value v;
	struct buf b = enc_id_set(NULL, -1, 6);
	struct buf e = enc_id_set(NULL, -1, 0);
	int rc;

	rc = syncrepl_proto_info_decode(b.p, b.n, 6, &v, &err);
	assert_int_equal(rc, 0);
	assert_int_equal(v.uuid_count, 6);
	syncrepl_proto_info_free(&v);
	rc = syncrepl_proto_info_decode(b.p, b.n, 5, &v, &err);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err.msg, "more than 5 UUIDs"));
	assert_true(all_zero(&v, sizeof(v)));
	rc = syncrepl_proto_info_decode(b.p, b.n, 0, &v, &err);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err.msg, "more than 0 UUIDs"));
	rc = syncrepl_proto_info_decode(e.p, e.n, 0, &v, &err);
	assert_int_equal(rc, 0);
	assert_int_equal(v.uuid_count, 0);
	syncrepl_proto_info_free(&v);
	free(b.p);
	free(e.p);
}

/* BER allows long-form lengths where short ones would do; the array is
 * sized from the SET's length and must still hold every UUID. */
static void
test_info_id_set_long_lengths(void **state)
{
	enum {
		N = 40
	};
	unsigned char p[4 + 4 + N * 19];
	unsigned char u[16];
	struct ds_error err = { "" };
	struct syncrepl_proto_info_value v;
	size_t o = 0;
	int rc;

	p[o++] = 0xa3;
	p[o++] = 0x82;
	p[o++] = (unsigned char)((4 + N * 19) >> 8);
	p[o++] = (unsigned char)(4 + N * 19);
	p[o++] = 0x31;
	p[o++] = 0x82;
	p[o++] = (unsigned char)((N * 19) >> 8);
	p[o++] = (unsigned char)(N * 19);
	for (size_t i = 0; i < N; i++) {
		p[o++] = 0x04;
		p[o++] = 0x81;
		p[o++] = 0x10;
		gen_uuid(i, u);
		memcpy(p + o, u, 16);
		o += 16;
	}
	assert_int_equal(o, sizeof(p));
	rc = syncrepl_proto_info_decode(p, o, SYNCREPL_PROTO_UUIDS_MAX, &v,
	    &err);
	assert_int_equal(rc, 0);
	assert_int_equal(v.uuid_count, N);
	gen_uuid(N - 1, u);
	assert_memory_equal(v.uuids[N - 1], u, 16);
	syncrepl_proto_info_free(&v);
}

/* clang-format off */
static const struct bad bad_info[] = {
	BAD("unknown CHOICE [4]", "CHOICE at offset 0: tag 0xa4 is none of",
	    0xa4, 0x00),
	BAD("universal SEQUENCE", "tag 0x30 is none of", 0x30, 0x00),
	BAD("constructed [0]", "tag 0xa0 is none of",
	    0xa0, 0x03, 0x04, 0x01, 0x41),
	BAD("primitive [1]", "tag 0x81 is none of", 0x81, 0x00),
	BAD("multi-octet tag", "is none of", 0xbf, 0x81, 0x00, 0x00),
	BAD("[0] truncated", "CHOICE at offset 0: truncated",
	    0x80, 0x05, 0x41),
	BAD("[0] then garbage", "1 octets after its end",
	    0x80, 0x01, 0x41, 0x00),
	BAD("[1] 0-octet refreshDone", "refreshDone at offset 2: 0-octet",
	    0xa1, 0x02, 0x01, 0x00),
	BAD("[1] unknown element", "unexpected element (tag 0x02)",
	    0xa1, 0x03, 0x02, 0x01, 0x01),
	BAD("[2] refreshDone before cookie", "unexpected element (tag 0x04)",
	    0xa2, 0x06, 0x01, 0x01, 0x00, 0x04, 0x01, 0x41),
	BAD("[2] cookie tagged [0]", "unexpected element (tag 0x80)",
	    0xa2, 0x03, 0x80, 0x01, 0x41),
	BAD("[1] cookie runs past [1]", "cookie at offset 2: 1 octets run",
	    0xa1, 0x01, 0x04, 0x01, 0x41),
	BAD("[3] cookie runs past [3]", "cookie at offset 2: 1 octets run",
	    0xa3, 0x01, 0x04, 0x01, 0x41),
	BAD("[3] without syncUUIDs", "syncUUIDs at offset 2: missing",
	    0xa3, 0x00),
	BAD("[3] cookie only", "syncUUIDs at offset 5: missing",
	    0xa3, 0x03, 0x04, 0x01, 0x41),
	BAD("[3] SEQUENCE, not SET", "syncUUIDs at offset 2: tag 0x30",
	    0xa3, 0x02, 0x30, 0x00),
	BAD("[3] 15-octet syncUUID (old 389-ds)",
	    "syncUUID at offset 4: 15 octets, want 16",
	    0xa3, 0x13, 0x31, 0x11, 0x04, 0x0f,
	    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
	BAD("[3] empty syncUUID", "syncUUID at offset 22: 0 octets",
	    0xa3, 0x16, 0x31, 0x14, 0x04, 0x10, UUID_A, 0x04, 0x00),
	BAD("[3] syncUUID tagged [0]", "syncUUID at offset 4: tag 0x80",
	    0xa3, 0x14, 0x31, 0x12, 0x80, 0x10, UUID_A),
	BAD("[3] syncUUID runs past the SET", "run past the end",
	    0xa3, 0x14, 0x31, 0x11, 0x04, 0x10, UUID_A),
	BAD("[3] SET runs past [3]", "syncUUIDs at offset 2: 18 octets run",
	    0xa3, 0x02, 0x31, 0x12, 0x04, 0x10, UUID_A),
	BAD("[3] element after the SET", "unexpected element (tag 0x01)",
	    0xa3, 0x05, 0x31, 0x00, 0x01, 0x01, 0xff),
	BAD("[3] SET claims 2 GB", "syncUUIDs at offset 2: truncated",
	    0xa3, 0x06, 0x31, 0x84, 0x7f, 0xff, 0xff, 0xff),
	BAD("[3] SET truncated mid-UUID", "truncated",
	    0xa3, 0x0a, 0x31, 0x12, 0x04, 0x10, 1, 2, 3, 4, 5, 6),
};
/* clang-format on */

static void
test_info_malformed(void **state)
{
	struct ds_error err;
	struct syncrepl_proto_info_value v;

	for (size_t i = 0; i < DS_ARRAY_SIZE(bad_info); i++) {
		const struct bad *t = &bad_info[i];

		memset(&err, 0, sizeof(err));
		memset(&v, 0xa5, sizeof(v));
		if (syncrepl_proto_info_decode(t->p, t->n,
		        SYNCREPL_PROTO_UUIDS_MAX, &v, &err) != -1)
			fail_msg("%s: decoded", t->name);
		if (strstr(err.msg, t->want) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\"", t->name,
			    err.msg, t->want);
		assert_non_null(strstr(err.msg, "syncInfoValue"));
		assert_true(all_zero(&v, sizeof(v)));
	}
}

/* Cookies up to SYNCREPL_PROTO_COOKIE_MAX are kept, longer ones refused
 * by every decoder. */
static void
test_cookie_max(void **state)
{
	struct ds_error err = { "" };
	struct syncrepl_proto_state_value sv;
	struct syncrepl_proto_done_value dv;
	struct syncrepl_proto_info_value iv;
	char *big = malloc(SYNCREPL_PROTO_COOKIE_MAX + 2);
	struct buf b;
	int rc;

	assert_non_null(big);
	memset(big, 'c', SYNCREPL_PROTO_COOKIE_MAX + 1);
	for (size_t extra = 0; extra <= 1; extra++) {
		int want = extra ? -1 : 0;

		big[SYNCREPL_PROTO_COOKIE_MAX] = 'c';
		big[SYNCREPL_PROTO_COOKIE_MAX + extra] = '\0';
		b = enc_state(1, uuid_a, big);
		rc = syncrepl_proto_state_decode(b.p, b.n, &sv, &err);
		assert_int_equal(rc, want);
		syncrepl_proto_state_free(&sv);
		free(b.p);
		b = enc_done(big, -1);
		rc = syncrepl_proto_done_decode(b.p, b.n, &dv, &err);
		assert_int_equal(rc, want);
		syncrepl_proto_done_free(&dv);
		free(b.p);
		b = enc_newcookie(big);
		rc = syncrepl_proto_info_decode(b.p, b.n,
		    SYNCREPL_PROTO_UUIDS_MAX, &iv, &err);
		assert_int_equal(rc, want);
		if (want == 0)
			assert_int_equal(iv.cookie.len,
			    SYNCREPL_PROTO_COOKIE_MAX);
		else
			assert_non_null(strstr(err.msg, "more than"));
		syncrepl_proto_info_free(&iv);
		free(b.p);
	}
	free(big);
}

/* ---- fuzz: truncations, mutations, random bytes -------------------------- */

enum kind {
	K_STATE,
	K_DONE,
	K_INFO
};

static volatile unsigned fuzz_sink;

/* Decode with the decoder for kind; check the contract either way. */
static int
decode_any(enum kind k, const void *p, size_t n)
{
	struct ds_error err;
	struct syncrepl_proto_state_value sv;
	struct syncrepl_proto_done_value dv;
	struct syncrepl_proto_info_value iv;
	int rc = -1;

	err.msg[0] = '\0';
	switch (k) {
	case K_STATE:
		rc = syncrepl_proto_state_decode(p, n, &sv, &err);
		if (rc == 0)
			assert_true(sv.state <= SYNCREPL_PROTO_STATE_DELETE);
		else
			assert_true(all_zero(&sv, sizeof(sv)));
		syncrepl_proto_state_free(&sv);
		break;
	case K_DONE:
		rc = syncrepl_proto_done_decode(p, n, &dv, &err);
		if (rc != 0)
			assert_true(all_zero(&dv, sizeof(dv)));
		syncrepl_proto_done_free(&dv);
		break;
	case K_INFO:
		rc = syncrepl_proto_info_decode(p, n, 1000, &iv, &err);
		if (rc == 0) {
			assert_true(iv.uuid_count <= n / 18);
			assert_true(
			    iv.kind == SYNCREPL_PROTO_INFO_SYNC_ID_SET ||
			    iv.uuid_count == 0);
			/* Read every UUID so ASan checks the array. */
			for (size_t i = 0; i < iv.uuid_count; i++)
				fuzz_sink += iv.uuids[i][0] + iv.uuids[i][15];
		} else {
			assert_true(all_zero(&iv, sizeof(iv)));
		}
		syncrepl_proto_info_free(&iv);
		break;
	}
	assert_true(rc == 0 || rc == -1);
	if (rc == -1)
		assert_true(err.msg[0] != '\0');
	return rc;
}

struct sample {
	enum kind kind;
	struct buf b;
};

static size_t
corpus(struct sample *s)
{
	size_t n = 0;

	s[n++] = (struct sample){ K_STATE, enc_state(0, uuid_a, NULL) };
	s[n++] = (struct sample){ K_STATE, enc_state(3, uuid_a, cookie_a) };
	s[n++] = (struct sample){ K_DONE, enc_done(NULL, -1) };
	s[n++] = (struct sample){ K_DONE, enc_done(cookie_a, 1) };
	s[n++] = (struct sample){ K_INFO, enc_newcookie(cookie_a) };
	s[n++] = (struct sample){ K_INFO, enc_refresh(0xa1, cookie_a, 0) };
	s[n++] = (struct sample){ K_INFO, enc_refresh(0xa2, NULL, -1) };
	s[n++] = (struct sample){ K_INFO, enc_id_set(cookie_a, 1, 5) };
	s[n++] = (struct sample){ K_INFO, enc_id_set(NULL, -1, 0) };
	s[n++] = (struct sample){ K_INFO, enc_id_set(NULL, 0, 200) };
	return n;
}

/* Every proper prefix of a value is malformed (the outer length is
 * definite), and so is the value with one octet more. */
static void
test_fuzz_truncations(void **state)
{
	struct sample s[16];
	size_t n = corpus(s);

	for (size_t i = 0; i < n; i++) {
		unsigned char *p = s[i].b.p;
		unsigned char *longer = malloc(s[i].b.n + 1);

		assert_int_equal(decode_any(s[i].kind, p, s[i].b.n), 0);
		for (size_t cut = 0; cut < s[i].b.n; cut++) {
			/* A fresh allocation of exactly cut octets, so ASan
			 * sees any read past the end. */
			unsigned char *t = malloc(cut ? cut : 1);

			memcpy(t, p, cut);
			assert_int_equal(decode_any(s[i].kind, t, cut), -1);
			free(t);
		}
		assert_non_null(longer);
		memcpy(longer, p, s[i].b.n);
		longer[s[i].b.n] = 0;
		assert_int_equal(decode_any(s[i].kind, longer, s[i].b.n + 1),
		    -1);
		free(longer);
		/* A value fed to the wrong decoder is just malformed. */
		decode_any((s[i].kind + 1) % 3, p, s[i].b.n);
		decode_any((s[i].kind + 2) % 3, p, s[i].b.n);
	}
	/* The big one: a few cuts, including mid-UUID and mid-header. */
	{
		struct buf big = enc_id_set(cookie_a, 1, 10000);
		static const size_t cuts[] = { 1, 2, 3, 5, 60, 61, 100, 4096,
			90001, 180000 };

		for (size_t i = 0; i < DS_ARRAY_SIZE(cuts); i++) {
			assert_true(cuts[i] < big.n);
			assert_int_equal(decode_any(K_INFO, big.p, cuts[i]),
			    -1);
			assert_int_equal(decode_any(K_INFO, big.p,
			                     big.n - cuts[i]),
			    -1);
		}
		free(big.p);
	}
	for (size_t i = 0; i < n; i++)
		free(s[i].b.p);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

/* Octets that mean something to a BER reader, to reach deeper paths
 * than uniform noise does. */
static unsigned char
interesting(void)
{
	static const unsigned char v[] = { 0x00, 0x01, 0x02, 0x04, 0x0a, 0x10,
		0x11, 0x12, 0x1f, 0x24, 0x30, 0x31, 0x7f, 0x80, 0x81, 0x82,
		0x84, 0x88, 0x89, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xff };

	return v[rng() % sizeof(v)];
}

/* Each octet of each sample replaced by several values, then random
 * multi-point mutations (replace, insert, delete) of random samples. */
static void
test_fuzz_mutations(void **state)
{
	struct sample s[16];
	size_t n = corpus(s);
	unsigned char t[8192];

	for (size_t i = 0; i < n; i++) {
		for (size_t pos = 0; pos < s[i].b.n && pos < 64; pos++) {
			static const unsigned char with[] = { 0x00, 0x01, 0x7f,
				0x80, 0x81, 0x84, 0xff };

			for (size_t w = 0; w < sizeof(with); w++) {
				memcpy(t, s[i].b.p, s[i].b.n);
				t[pos] = with[w];
				decode_any(s[i].kind, t, s[i].b.n);
				t[pos] = s[i].b.p[pos] ^ 0x20;
				decode_any(s[i].kind, t, s[i].b.n);
			}
		}
	}
	for (int iter = 0; iter < 30000; iter++) {
		struct sample *x = &s[rng() % n];
		size_t len = x->b.n;
		int edits = 1 + (int)(rng() % 4);

		assert_true(len + 8 <= sizeof(t));
		memcpy(t, x->b.p, len);
		for (int e = 0; e < edits && len > 0; e++) {
			size_t at = rng() % len;

			switch (rng() % 3) {
			case 0:
				t[at] = rng() % 2 ? interesting()
				                  : (unsigned char)rng();
				break;
			case 1:
				memmove(t + at + 1, t + at, len - at);
				t[at] = interesting();
				len++;
				break;
			default:
				memmove(t + at, t + at + 1, len - at - 1);
				len--;
				break;
			}
		}
		decode_any(x->kind, t, len);
	}
	for (size_t i = 0; i < n; i++)
		free(s[i].b.p);
}

static void
test_fuzz_random(void **state)
{
	for (int iter = 0; iter < 40000; iter++) {
		size_t len = 1 + rng() % 48;
		unsigned char *p = malloc(len);

		for (size_t i = 0; i < len; i++)
			p[i] = rng() % 3 ? interesting() : (unsigned char)rng();
		/* Start like a real value half the time. */
		if (rng() % 2)
			p[0] = (unsigned char[]){ 0x30, 0x80, 0xa1, 0xa2,
				0xa3 }[rng() % 5];
		decode_any(K_STATE, p, len);
		decode_any(K_DONE, p, len);
		decode_any(K_INFO, p, len);
		free(p);
	}
}

/* ---- UUID text ------------------------------------------------------------ */

static void
test_uuid_format(void **state)
{
	static const unsigned char zero[16];
	char out[SYNCREPL_PROTO_UUID_STRLEN];

	syncrepl_proto_uuid_format(uuid_a, out);
	assert_string_equal(out, "3d8b6e2a-1122-4344-9566-778899aabbcc");
	syncrepl_proto_uuid_format(zero, out);
	assert_string_equal(out, "00000000-0000-0000-0000-000000000000");
}

static void
test_uuid_parse(void **state)
{
	static const char *const bad[] = {
		"",
		"3d8b6e2a",
		"3d8b6e2a-1122-4344-9566-778899aabbc",   /* 35 */
		"3d8b6e2a-1122-4344-9566-778899aabbccd", /* 37 */
		"3d8b6e2a-1122-4344-9566-778899aabbcc ",
		"3d8b6e2a11224344-9566-778899aabbcc----",
		"3d8b6e2a-1122-4344-9566_778899aabbcc",
		"3d8b6e2a-1122-4344-95-66778899aabbcc",
		"3d8b6e2g-1122-4344-9566-778899aabbcc",
		"3d8b6e2a-1122-4344-9566-778899aabbc\x01",
		"+d8b6e2a-1122-4344-9566-778899aabbcc",
		"3d8b6e2a-1122-4344-9566-778899aa\303\251cc",
		"{3d8b6e2a-1122-4344-9566-778899aabbcc}",
		"3d8b6e2a1122434495667788 99aabbcc",
	};
	struct ds_error err;
	unsigned char u[16], v[16];
	char out[SYNCREPL_PROTO_UUID_STRLEN];
	int rc;

	rc = syncrepl_proto_uuid_parse("3d8b6e2a-1122-4344-9566-778899aabbcc",
	    u, &err);
	assert_int_equal(rc, 0);
	assert_memory_equal(u, uuid_a, 16);
	/* Upper case parses too (it formats back lower). */
	rc = syncrepl_proto_uuid_parse("3D8B6E2A-1122-4344-9566-778899AABBCC",
	    u, &err);
	assert_int_equal(rc, 0);
	assert_memory_equal(u, uuid_a, 16);

	for (size_t i = 0; i < DS_ARRAY_SIZE(bad); i++) {
		memset(u, 0x5a, sizeof(u));
		memset(&err, 0, sizeof(err));
		if (syncrepl_proto_uuid_parse(bad[i], u, &err) != -1)
			fail_msg("parsed \"%s\"", bad[i]);
		assert_true(err.msg[0] != '\0');
		for (size_t k = 0; k < 16; k++)
			assert_int_equal(u[k], 0x5a);
	}
	rc = syncrepl_proto_uuid_parse(NULL, u, &err);
	assert_int_equal(rc, -1);
	rc = syncrepl_proto_uuid_parse("x", u, NULL);
	assert_int_equal(rc, -1);

	/* Round trip. */
	for (size_t i = 0; i < 1000; i++) {
		gen_uuid(i * 7919, v);
		syncrepl_proto_uuid_format(v, out);
		assert_int_equal(strlen(out), 36);
		rc = syncrepl_proto_uuid_parse(out, u, &err);
		assert_int_equal(rc, 0);
		assert_memory_equal(u, v, 16);
	}
}

static void
test_names_and_free(void **state)
{
	static const char *const states[] = { "present", "add", "modify",
		"delete", "unknown" };
	static const char *const kinds[] = { "newcookie", "refreshDelete",
		"refreshPresent", "syncIdSet", "unknown" };
	struct syncrepl_proto_info_value iv;

	for (int i = 0; i < 5; i++) {
		enum syncrepl_proto_state st = (enum syncrepl_proto_state)i;
		enum syncrepl_proto_info_kind k =
		    (enum syncrepl_proto_info_kind)i;

		assert_string_equal(syncrepl_proto_state_name(st), states[i]);
		assert_string_equal(syncrepl_proto_info_kind_name(k), kinds[i]);
	}

	syncrepl_proto_state_free(NULL);
	syncrepl_proto_done_free(NULL);
	syncrepl_proto_info_free(NULL);
	memset(&iv, 0, sizeof(iv));
	syncrepl_proto_info_free(&iv);
	syncrepl_proto_info_free(&iv);
}

/* Which cookies name a state to resume from: OpenLDAP's only with a
 * CSN (parallel writers make syncprov send a bare rid=000), anything
 * else as it is. */
static void
test_cookie_names_state(void **state)
{
	static const struct {
		const char *cookie;
		bool want;
	} t[] = {
		{ "rid=001,csn=20240102030405.123456Z#000000#000#000000", true },
		{ "rid=000,sid=001,csn=20240102030405.123456Z#000000#001#000000", true },
		{ "rid=000,csn=20240102030405.1Z#000000#000#000000;20240102030406.1Z#000000#001#000000", true },
		{ "rid=000", false },
		{ "rid=000,sid=001", false },
		{ "rid=000,csn=", false },
		{ "rid=000,xcsn=1", false },
		{ "rid=", false },
		/* 389-ds: host:port#bind DN:base:filter#change number */
		{ "ldap.example.com:389#cn=dirsync,dc=example,dc=com:dc=example,dc=com:(objectClass=*)#42", true },
		{ "x", true },
		{ "", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (syncrepl_proto_cookie_names_state(t[i].cookie,
		    strlen(t[i].cookie)) != t[i].want)
			fail_msg("\"%s\": want %s", t[i].cookie,
			    t[i].want ? "a state" : "no state");
	assert_false(syncrepl_proto_cookie_names_state(NULL, 0));
	/* Not NUL-terminated: only len bytes are read. */
	assert_false(syncrepl_proto_cookie_names_state("rid=000,csn=1", 7));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cookie_names_state),
		cmocka_unit_test(test_request_no_cookie),
		cmocka_unit_test(test_request_cookie),
		cmocka_unit_test(test_request_reload_hint),
		cmocka_unit_test(test_request_rejects),
		cmocka_unit_test(test_state_variants),
		cmocka_unit_test(test_state_malformed),
		cmocka_unit_test(test_done_variants),
		cmocka_unit_test(test_done_malformed),
		cmocka_unit_test(test_info_new_cookie),
		cmocka_unit_test(test_info_refresh),
		cmocka_unit_test(test_info_id_set),
		cmocka_unit_test(test_info_id_set_10000),
		cmocka_unit_test(test_info_id_set_bounds),
		cmocka_unit_test(test_info_id_set_long_lengths),
		cmocka_unit_test(test_info_malformed),
		cmocka_unit_test(test_cookie_max),
		cmocka_unit_test(test_fuzz_truncations),
		cmocka_unit_test(test_fuzz_mutations),
		cmocka_unit_test(test_fuzz_random),
		cmocka_unit_test(test_uuid_format),
		cmocka_unit_test(test_uuid_parse),
		cmocka_unit_test(test_names_and_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
