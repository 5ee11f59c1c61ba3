/* ad_proto.c - DirSync control values and incremental-value attribute
 * descriptions (ad_proto.h).
 *
 * Decoding goes through ber_reader.h, the bounded walker it shares with
 * syncrepl_proto.c, and never leaves anything allocated behind a -1. */
#include "ad_proto.h"
#include "ber_reader.h"

#include <ctype.h>
#include <lber.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TAG_OCTETS ((ber_tag_t)0x04)
#define TAG_SEQUENCE ((ber_tag_t)0x30)

/* ---- encoding ------------------------------------------------------------ */

/* Flatten ber into plain malloc'd memory (liblber may use its own
 * allocator) and free it. */
static int
flatten(BerElement *ber, int rc, const char *what, unsigned char **out,
    size_t *out_len, struct ds_error *err)
{
	struct berval flat;

	if (rc != -1)
		rc = ber_flatten2(ber, &flat, 0);
	if (rc == -1) {
		ber_free(ber, 1);
		return ds_error_set(err, "%s: encoding failed", what);
	}
	*out = malloc(flat.bv_len);
	if (*out == NULL) {
		ber_free(ber, 1);
		return ds_error_set(err, "%s: out of memory", what);
	}
	memcpy(*out, flat.bv_val, flat.bv_len);
	*out_len = flat.bv_len;
	ber_free(ber, 1);
	return 0;
}

/* A 32-bit field as its two's-complement INTEGER: 0x80000000 becomes
 * -2147483648, which DER writes as 80 00 00 00. */
static ber_int_t
as_int32(uint32_t v)
{
	return v <= INT32_MAX ? (ber_int_t)v : (ber_int_t)((int64_t)v - 4294967296LL);
}

/* SEQUENCE { INTEGER a, INTEGER b, OCTET STRING cookie }: the shape of
 * both values. */
static int
encode_triple(const char *what, ber_int_t a, ber_int_t b, const void *cookie,
    size_t cookie_len, unsigned char **out, size_t *out_len, struct ds_error *err)
{
	BerElement *ber;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (cookie_len > AD_PROTO_COOKIE_MAX)
		return ds_error_set(err, "%s: cookie of %zu octets, more than %d",
		    what, cookie_len, AD_PROTO_COOKIE_MAX);
	if (cookie == NULL)
		cookie_len = 0;
	if ((ber = ber_alloc_t(LBER_USE_DER)) == NULL)
		return ds_error_set(err, "%s: out of memory", what);
	rc = ber_printf(ber, "{iio}", a, b,
	    cookie_len ? (const char *)cookie : "", (ber_len_t)cookie_len);
	return flatten(ber, rc, what, out, out_len, err);
}

int
ad_proto_dirsync_request_encode(uint32_t flags, uint32_t max_bytes,
    const void *cookie, size_t cookie_len, unsigned char **out,
    size_t *out_len, struct ds_error *err)
{
	return encode_triple("DirSync request", as_int32(flags),
	    as_int32(max_bytes), cookie, cookie_len, out, out_len, err);
}

int
ad_proto_dirsync_response_encode(bool more, const void *cookie,
    size_t cookie_len, unsigned char **out, size_t *out_len,
    struct ds_error *err)
{
	return encode_triple("DirSync response", more ? 1 : 0, 0, cookie,
	    cookie_len, out, out_len, err);
}

/* ---- decoding ------------------------------------------------------------ */

/* SEQUENCE { INTEGER, INTEGER, OCTET STRING } and nothing after it. */
static int
reader_triple(struct ber_reader *r, uint32_t *a, uint32_t *b,
    const char *a_name, const char *b_name, unsigned char **cookie,
    size_t *cookie_len)
{
	ber_len_t end;

	if (ber_reader_enter(r, 0, TAG_SEQUENCE, &end, "SEQUENCE") < 0)
		return -1;
	if (end != 0)
		return ber_reader_fail(r, 0, "SEQUENCE",
		    "its length does not match the value's");
	if (ber_reader_int32(r, end, a, a_name) < 0 ||
	    ber_reader_int32(r, end, b, b_name) < 0 ||
	    ber_reader_copy(r, end, TAG_OCTETS, AD_PROTO_COOKIE_MAX, cookie,
	    cookie_len, "cookie") < 0)
		return -1;
	return ber_reader_leave(r, end, "SEQUENCE after the cookie");
}

int
ad_proto_dirsync_request_decode(const void *data, size_t len,
    struct ad_proto_dirsync_request *out, struct ds_error *err)
{
	struct ber_reader r;
	int rc;

	memset(out, 0, sizeof(*out));
	if (ber_reader_open(&r, data, len, "DirSync request", err) < 0)
		return -1;
	rc = reader_triple(&r, &out->flags, &out->max_bytes, "Flags", "MaxBytes",
	    &out->cookie, &out->cookie_len);
	ber_reader_close(&r);
	if (rc < 0)
		ad_proto_dirsync_request_free(out);
	return rc;
}

void
ad_proto_dirsync_request_free(struct ad_proto_dirsync_request *r)
{
	if (r == NULL)
		return;
	free(r->cookie);
	memset(r, 0, sizeof(*r));
}

int
ad_proto_dirsync_response_decode(const void *data, size_t len,
    struct ad_proto_dirsync_response *out, struct ds_error *err)
{
	struct ber_reader r;
	uint32_t more = 0, unused = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (ber_reader_open(&r, data, len, "DirSync response", err) < 0)
		return -1;
	rc = reader_triple(&r, &more, &unused, "MoreResults", "unused",
	    &out->cookie, &out->cookie_len);
	ber_reader_close(&r);
	if (rc < 0) {
		ad_proto_dirsync_response_free(out);
		return -1;
	}
	out->more = more != 0;
	return 0;
}

void
ad_proto_dirsync_response_free(struct ad_proto_dirsync_response *r)
{
	if (r == NULL)
		return;
	free(r->cookie);
	memset(r, 0, sizeof(*r));
}

/* ---- attribute descriptions ------------------------------------------ */

/* Decimal digits at *p into *out (no sign, no overflow); advances *p. */
static bool
parse_ulong(const char **p, const char *end, unsigned long *out)
{
	unsigned long v = 0;
	const char *s = *p;

	if (s == end || !isdigit((unsigned char)*s))
		return false;
	for (; s < end && isdigit((unsigned char)*s); s++) {
		if (v > (~0UL - 9) / 10)
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	*p = s;
	*out = v;
	return true;
}

/* "lo-hi" or "lo-*", exactly the len characters at s. */
static bool
parse_range(const char *s, size_t len, struct ad_proto_attrdesc *out)
{
	const char *p = s, *end = s + len;

	if (!parse_ulong(&p, end, &out->lo) || p == end || *p++ != '-')
		return false;
	if (p < end && *p == '*' && p + 1 == end) {
		out->hi_star = true;
		return true;
	}
	if (!parse_ulong(&p, end, &out->hi) || p != end)
		return false;
	return out->lo <= out->hi;
}

int
ad_proto_attrdesc_parse(const char *desc, struct ad_proto_attrdesc *out,
    struct ds_error *err)
{
	size_t n = 0;
	const char *p = desc;

	memset(out, 0, sizeof(*out));
	if (desc == NULL || desc[0] == '\0' || desc[0] == ';')
		return ds_error_set(err, "empty attribute description");
	while (*p != '\0') {
		size_t len = strcspn(p, ";");

		if (p != desc && len >= 6 && strncasecmp(p, "range=", 6) == 0) {
			if (out->ranged) {
				memset(out, 0, sizeof(*out));
				return ds_error_set(err, "\"%.200s\": two range options", desc);
			}
			out->ranged = true;
			if (!parse_range(p + 6, len - 6, out)) {
				memset(out, 0, sizeof(*out));
				return ds_error_set(err, "\"%.200s\": bad range option", desc);
			}
		} else {
			if (n + len + (n ? 1 : 0) >= sizeof(out->name)) {
				memset(out, 0, sizeof(*out));
				return ds_error_set(err,
				    "attribute description of %zu octets is too long",
				    strlen(desc));
			}
			if (len == 0) {
				memset(out, 0, sizeof(*out));
				return ds_error_set(err, "\"%.200s\": empty option", desc);
			}
			if (n)
				out->name[n++] = ';';
			memcpy(out->name + n, p, len);
			n += len;
		}
		p += len;
		if (*p == ';' && *++p == '\0') {
			memset(out, 0, sizeof(*out));
			return ds_error_set(err, "\"%.200s\": empty option", desc);
		}
	}
	out->name[n] = '\0';
	return 0;
}

enum ad_proto_change
ad_proto_attrdesc_change(const struct ad_proto_attrdesc *d, bool incremental)
{
	if (!d->ranged)
		return AD_PROTO_CHANGE_WHOLE;
	if (incremental && !d->hi_star && d->lo == 1 && d->hi == 1)
		return AD_PROTO_CHANGE_ADDED;
	if (incremental && !d->hi_star && d->lo == 0 && d->hi == 0)
		return AD_PROTO_CHANGE_REMOVED;
	return AD_PROTO_CHANGE_CHUNK;
}
