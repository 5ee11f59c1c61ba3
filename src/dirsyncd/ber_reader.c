/* ber_reader.c - the bounded BER walker of the protocol codecs
 * (ber_reader.h). */
#include "ber_reader.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_BOOLEAN ((ber_tag_t)0x01)
#define TAG_INTEGER ((ber_tag_t)0x02)
#define TAG_ENUMERATED ((ber_tag_t)0x0a)

ber_len_t
ber_reader_left(const struct ber_reader *r)
{
	ber_len_t left = 0;

	(void)ber_get_option(r->ber, LBER_OPT_BER_REMAINING_BYTES, &left);
	return left;
}

size_t
ber_reader_offset(const struct ber_reader *r)
{
	return r->len - (size_t)ber_reader_left(r);
}

/* Fill err with "<value> <what> at offset <at>: <message>"; returns -1. */
int
ber_reader_fail(const struct ber_reader *r, size_t at, const char *what,
    const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(void)ds_error_set(r->err, "%s %s at offset %zu: %s", r->value, what,
	    at, msg);
	return -1;
}

/* liblber may NUL-terminate strings inside the buffer it reads, so it
 * gets a copy: the caller's buffer is const and may end right after the
 * last octet. */
int
ber_reader_open(struct ber_reader *r, const void *data, size_t len,
    const char *value, struct ds_error *err)
{
	struct berval bv;

	r->ber = NULL;
	r->len = len;
	r->value = value;
	r->err = err;
	if (data == NULL || len == 0) {
		(void)ds_error_set(err, "%s: empty value", value);
		return -1;
	}
	bv.bv_len = len;
	bv.bv_val = (char *)data; /* ber_init() only copies from it */
	r->ber = ber_init(&bv);
	if (r->ber == NULL) {
		(void)ds_error_set(err, "%s: out of memory (%zu octets)", value,
		    len);
		return -1;
	}
	return 0;
}

void
ber_reader_close(struct ber_reader *r)
{
	if (r->ber != NULL)
		ber_free(r->ber, 1);
	r->ber = NULL;
}

/* Is there another element before end, and does it carry tag? */
bool
ber_reader_next_is(const struct ber_reader *r, ber_len_t end, ber_tag_t tag)
{
	ber_len_t len;

	return ber_reader_left(r) > end && ber_peek_tag(r->ber, &len) == tag;
}

/* Step over the next element, which must carry tag and lie wholly before
 * end; *val points at its contents inside the copy. */
int
ber_reader_element(struct ber_reader *r, ber_len_t end, ber_tag_t tag,
    struct berval *val, const char *what)
{
	size_t at = ber_reader_offset(r);
	ber_tag_t got;

	val->bv_len = 0;
	val->bv_val = NULL;
	if (ber_reader_left(r) <= end)
		return ber_reader_fail(r, at, what, "missing");
	got = ber_skip_element(r->ber, val);
	if (got == LBER_DEFAULT)
		return ber_reader_fail(r, at, what,
		    "truncated, or a bad or indefinite length");
	if (got != tag)
		return ber_reader_fail(r, at, what, "tag 0x%02lx, want 0x%02lx",
		    (unsigned long)got, (unsigned long)tag);
	if (ber_reader_left(r) < end)
		return ber_reader_fail(r, at, what,
		    "%lu octets run past the end of the enclosing element",
		    (unsigned long)val->bv_len);
	return 0;
}

/* Step into the constructed element next, which must carry tag and lie
 * wholly before end; *inner is where its contents end. */
int
ber_reader_enter(struct ber_reader *r, ber_len_t end, ber_tag_t tag,
    ber_len_t *inner, const char *what)
{
	size_t at = ber_reader_offset(r);
	ber_len_t len, left;
	ber_tag_t got;

	*inner = end;
	if (ber_reader_left(r) <= end)
		return ber_reader_fail(r, at, what, "missing");
	got = ber_skip_tag(r->ber, &len);
	if (got == LBER_DEFAULT)
		return ber_reader_fail(r, at, what,
		    "truncated, or a bad or indefinite length");
	if (got != tag)
		return ber_reader_fail(r, at, what, "tag 0x%02lx, want 0x%02lx",
		    (unsigned long)got, (unsigned long)tag);
	/* ber_skip_tag() has checked len against what is left. */
	left = ber_reader_left(r);
	if (len > left || left - len < end)
		return ber_reader_fail(r, at, what,
		    "%lu octets run past the end of the enclosing element",
		    (unsigned long)len);
	*inner = left - len;
	return 0;
}

/* The constructed element ending at end must hold nothing more: RFC 4533
 * defines no extension points, so an unknown element is malformed. */
int
ber_reader_leave(struct ber_reader *r, ber_len_t end, const char *what)
{
	ber_len_t len;
	ber_tag_t tag;

	if (ber_reader_left(r) == end)
		return 0;
	/* An optional element with a bad length is not recognised by
	 * ber_reader_next_is() and so ends up here. */
	tag = ber_peek_tag(r->ber, &len);
	if (tag == LBER_DEFAULT)
		return ber_reader_fail(r, ber_reader_offset(r), what,
		    "element truncated, or with a bad or indefinite length");
	return ber_reader_fail(r, ber_reader_offset(r), what,
	    "unexpected element (tag 0x%02lx) where the value should end",
	    (unsigned long)tag);
}

/* ENUMERATED, at most 32 bits (ber_int_t). */
int
ber_reader_enum(struct ber_reader *r, ber_len_t end, ber_int_t *out,
    const char *what)
{
	size_t at = ber_reader_offset(r);
	struct berval val;

	*out = 0;
	if (ber_reader_element(r, end, TAG_ENUMERATED, &val, what) < 0)
		return -1;
	if (val.bv_len == 0 || val.bv_len > sizeof(ber_int_t) ||
	    ber_decode_int(&val, out) != 0)
		return ber_reader_fail(r, at, what,
		    "%lu-octet ENUMERATED, want 1 to %zu",
		    (unsigned long)val.bv_len, sizeof(ber_int_t));
	return 0;
}

/* BOOLEAN: one octet; RFC 4511 5.1 wants 0xFF for TRUE, X.690 8.2.2
 * allows any non-zero octet, and slapd accepts that too. */
int
ber_reader_bool(struct ber_reader *r, ber_len_t end, bool *out, const char *what)
{
	size_t at = ber_reader_offset(r);
	struct berval val;

	if (ber_reader_element(r, end, TAG_BOOLEAN, &val, what) < 0)
		return -1;
	if (val.bv_len != 1)
		return ber_reader_fail(r, at, what, "%lu-octet BOOLEAN, want 1",
		    (unsigned long)val.bv_len);
	*out = val.bv_val[0] != 0;
	return 0;
}

/* The whole input must be exactly one value: octets after it are as
 * malformed as octets missing from it. */
int
ber_reader_finish(struct ber_reader *r)
{
	if (ber_reader_left(r) == 0)
		return 0;
	(void)ds_error_set(r->err, "%s at offset %zu: %lu octets after its end",
	    r->value, ber_reader_offset(r), (unsigned long)ber_reader_left(r));
	return -1;
}

/* INTEGER of 1 to 4 octets, as its 32-bit two's complement pattern (AD
 * sends flags such as 0x80000000 as a negative INTEGER). */
int
ber_reader_int32(struct ber_reader *r, ber_len_t end, uint32_t *out,
    const char *what)
{
	size_t at = ber_reader_offset(r);
	struct berval val;
	ber_int_t v = 0;

	*out = 0;
	if (ber_reader_element(r, end, TAG_INTEGER, &val, what) < 0)
		return -1;
	if (val.bv_len == 0 || val.bv_len > 4 || ber_decode_int(&val, &v) != 0)
		return ber_reader_fail(r, at, what,
		    "%lu-octet INTEGER, want 1 to 4", (unsigned long)val.bv_len);
	*out = (uint32_t)v;
	return 0;
}

/* A primitive element under tag of at most max octets, copied out with a
 * NUL after it (*out is malloc'd, never NULL on success). */
int
ber_reader_copy(struct ber_reader *r, ber_len_t end, ber_tag_t tag,
    size_t max, unsigned char **out, size_t *out_len, const char *what)
{
	size_t at = ber_reader_offset(r);
	struct berval val;

	*out = NULL;
	*out_len = 0;
	if (ber_reader_element(r, end, tag, &val, what) < 0)
		return -1;
	if (val.bv_len > max)
		return ber_reader_fail(r, at, what, "%lu octets, more than %zu",
		    (unsigned long)val.bv_len, max);
	if ((*out = malloc(val.bv_len + 1)) == NULL)
		return ber_reader_fail(r, at, what, "out of memory (%lu octets)",
		    (unsigned long)val.bv_len);
	if (val.bv_len > 0)
		memcpy(*out, val.bv_val, val.bv_len);
	(*out)[val.bv_len] = '\0';
	*out_len = val.bv_len;
	return 0;
}
