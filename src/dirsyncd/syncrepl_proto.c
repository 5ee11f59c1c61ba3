/* syncrepl_proto.c - RFC 4533 control and message values (syncrepl_proto.h).
 *
 * Decoding goes through ber_reader.h (a private copy of the input, walked
 * with liblber's bounds-checked element functions only); values are
 * interpreted here with explicit length checks.  It must never allocate
 * more than the input could fill, nor leave anything allocated behind a
 * -1. */
#include "syncrepl_proto.h"
#include "ber_reader.h"

#include <lber.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Universal tags of the types RFC 4533 uses (X.690 8.1.2). */
#define TAG_BOOLEAN ((ber_tag_t)0x01)
#define TAG_OCTETS ((ber_tag_t)0x04)
#define TAG_ENUMERATED ((ber_tag_t)0x0a)
#define TAG_SEQUENCE ((ber_tag_t)0x30)
#define TAG_SET ((ber_tag_t)0x31)
/* syncInfoValue CHOICE tags (RFC 4533 2.5): context-specific; [0] wraps
 * an OCTET STRING and so is primitive, [1]-[3] wrap SEQUENCEs. */
#define TAG_NEW_COOKIE ((ber_tag_t)0x80)
#define TAG_REFRESH_DELETE ((ber_tag_t)0xa1)
#define TAG_REFRESH_PRESENT ((ber_tag_t)0xa2)
#define TAG_SYNC_ID_SET ((ber_tag_t)0xa3)

/* Smallest encoding of one syncUUID: tag, short length, 16 octets. */
#define UUID_ELEMENT_MIN (2 + SYNCREPL_PROTO_UUID_LEN)

/* A syncCookie (RFC 4533 2.1.2) under tag, copied out with a NUL. */
static int
reader_cookie(struct ber_reader *r, ber_len_t end, ber_tag_t tag,
    struct syncrepl_proto_cookie *out, const char *what)
{
	unsigned char *val;

	if (ber_reader_copy(r, end, tag, SYNCREPL_PROTO_COOKIE_MAX, &val,
	    &out->len, what) < 0)
		return -1;
	out->val = (char *)val;
	return 0;
}

/* A syncUUID (RFC 4533 2.1.1): OCTET STRING (SIZE(16)). */
static int
reader_uuid(struct ber_reader *r, ber_len_t end,
    unsigned char out[SYNCREPL_PROTO_UUID_LEN], const char *what)
{
	size_t at = ber_reader_offset(r);
	struct berval val;

	if (ber_reader_element(r, end, TAG_OCTETS, &val, what) < 0)
		return -1;
	if (val.bv_len != SYNCREPL_PROTO_UUID_LEN)
		return ber_reader_fail(r, at, what, "%lu octets, want %d",
		    (unsigned long)val.bv_len, SYNCREPL_PROTO_UUID_LEN);
	memcpy(out, val.bv_val, SYNCREPL_PROTO_UUID_LEN);
	return 0;
}

static void
cookie_free(struct syncrepl_proto_cookie *c)
{
	free(c->val);
	c->val = NULL;
	c->len = 0;
}

/* ---- Sync Request Control (RFC 4533 2.2) -------------------------------- */

int
syncrepl_proto_request_encode(enum syncrepl_proto_mode mode, const void *cookie,
    size_t cookie_len, bool reload_hint, unsigned char **out, size_t *out_len,
    struct ds_error *err)
{
	BerElement *ber;
	struct berval flat;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (mode != SYNCREPL_PROTO_MODE_REFRESH_ONLY &&
	    mode != SYNCREPL_PROTO_MODE_REFRESH_AND_PERSIST)
		return ds_error_set(err, "syncRequestValue: mode %d is not %s",
		    (int)mode, "refreshOnly (1) or refreshAndPersist (3)");
	if (cookie_len > SYNCREPL_PROTO_COOKIE_MAX)
		return ds_error_set(err,
		    "syncRequestValue: cookie of %zu octets, more than %d",
		    cookie_len, SYNCREPL_PROTO_COOKIE_MAX);
	ber = ber_alloc_t(LBER_USE_DER);
	if (ber == NULL)
		return ds_error_set(err, "syncRequestValue: out of memory");
	rc = ber_printf(ber, "{e", (ber_int_t)mode);
	/* "No cookie" (2.1.2) is sent as an absent cookie, not an empty one. */
	if (rc != -1 && cookie != NULL && cookie_len > 0)
		rc = ber_printf(ber, "o", (const char *)cookie,
		    (ber_len_t)cookie_len);
	/* DER leaves out a value equal to its DEFAULT (X.690 11.5). */
	if (rc != -1 && reload_hint)
		rc = ber_printf(ber, "b", (ber_int_t)1);
	if (rc != -1)
		rc = ber_printf(ber, "}");
	if (rc != -1)
		rc = ber_flatten2(ber, &flat, 0);
	if (rc == -1) {
		ber_free(ber, 1);
		return ds_error_set(err, "syncRequestValue: encoding failed");
	}
	/* Hand back plain malloc'd memory: flat points into ber, and liblber
	 * may use its own allocator. */
	*out = malloc(flat.bv_len);
	if (*out == NULL) {
		ber_free(ber, 1);
		return ds_error_set(err, "syncRequestValue: out of memory");
	}
	memcpy(*out, flat.bv_val, flat.bv_len);
	*out_len = flat.bv_len;
	ber_free(ber, 1);
	return 0;
}

/* ---- Sync State Control (RFC 4533 2.3) ---------------------------------- */

void
syncrepl_proto_state_free(struct syncrepl_proto_state_value *out)
{
	if (out == NULL)
		return;
	cookie_free(&out->cookie);
	memset(out, 0, sizeof(*out));
}

static int
state_parse(struct ber_reader *r, struct syncrepl_proto_state_value *out)
{
	ber_len_t end;
	ber_int_t state;
	size_t at;

	if (ber_reader_enter(r, 0, TAG_SEQUENCE, &end, "SEQUENCE") < 0)
		return -1;
	at = ber_reader_offset(r);
	if (ber_reader_enum(r, end, &state, "state") < 0)
		return -1;
	if (state < SYNCREPL_PROTO_STATE_PRESENT ||
	    state > SYNCREPL_PROTO_STATE_DELETE)
		return ber_reader_fail(r, at, "state", "%d is not %s", (int)state,
		    "present (0), add (1), modify (2) or delete (3)");
	out->state = (enum syncrepl_proto_state)state;
	/* slapd's consumer notes (syncrepl.c) that back-sql can send an
	 * empty syncUUID; checking for 16 octets keeps such values out of
	 * the mirror's key column. */
	if (reader_uuid(r, end, out->uuid, "entryUUID") < 0)
		return -1;
	if (ber_reader_next_is(r, end, TAG_OCTETS) &&
	    reader_cookie(r, end, TAG_OCTETS, &out->cookie, "cookie") < 0)
		return -1;
	if (ber_reader_leave(r, end, "SEQUENCE") < 0)
		return -1;
	return ber_reader_finish(r);
}

int
syncrepl_proto_state_decode(const void *data, size_t len,
    struct syncrepl_proto_state_value *out, struct ds_error *err)
{
	struct ber_reader r;
	int rc;

	memset(out, 0, sizeof(*out));
	if (ber_reader_open(&r, data, len, "syncStateValue", err) < 0)
		return -1;
	rc = state_parse(&r, out);
	ber_reader_close(&r);
	if (rc < 0)
		syncrepl_proto_state_free(out);
	return rc;
}

/* ---- Sync Done Control (RFC 4533 2.4) ----------------------------------- */

void
syncrepl_proto_done_free(struct syncrepl_proto_done_value *out)
{
	if (out == NULL)
		return;
	cookie_free(&out->cookie);
	memset(out, 0, sizeof(*out));
}

static int
done_parse(struct ber_reader *r, struct syncrepl_proto_done_value *out)
{
	ber_len_t end;

	if (ber_reader_enter(r, 0, TAG_SEQUENCE, &end, "SEQUENCE") < 0)
		return -1;
	if (ber_reader_next_is(r, end, TAG_OCTETS) &&
	    reader_cookie(r, end, TAG_OCTETS, &out->cookie, "cookie") < 0)
		return -1;
	out->refresh_deletes = false; /* DEFAULT FALSE */
	if (ber_reader_next_is(r, end, TAG_BOOLEAN) &&
	    ber_reader_bool(r, end, &out->refresh_deletes, "refreshDeletes") < 0)
		return -1;
	if (ber_reader_leave(r, end, "SEQUENCE") < 0)
		return -1;
	return ber_reader_finish(r);
}

int
syncrepl_proto_done_decode(const void *data, size_t len,
    struct syncrepl_proto_done_value *out, struct ds_error *err)
{
	struct ber_reader r;
	int rc;

	memset(out, 0, sizeof(*out));
	if (ber_reader_open(&r, data, len, "syncDoneValue", err) < 0)
		return -1;
	rc = done_parse(&r, out);
	ber_reader_close(&r);
	if (rc < 0)
		syncrepl_proto_done_free(out);
	return rc;
}

/* ---- Sync Info Message (RFC 4533 2.5) ----------------------------------- */

void
syncrepl_proto_info_free(struct syncrepl_proto_info_value *out)
{
	if (out == NULL)
		return;
	cookie_free(&out->cookie);
	free(out->uuids);
	memset(out, 0, sizeof(*out));
}

/* refreshDelete [1] and refreshPresent [2]: SEQUENCE { cookie OPTIONAL,
 * refreshDone BOOLEAN DEFAULT TRUE }. */
static int
info_parse_refresh(struct ber_reader *r, ber_tag_t tag,
    struct syncrepl_proto_info_value *out)
{
	const char *name = syncrepl_proto_info_kind_name(out->kind);
	ber_len_t end;

	if (ber_reader_enter(r, 0, tag, &end, name) < 0)
		return -1;
	if (ber_reader_next_is(r, end, TAG_OCTETS) &&
	    reader_cookie(r, end, TAG_OCTETS, &out->cookie, "cookie") < 0)
		return -1;
	out->refresh_done = true; /* DEFAULT TRUE */
	if (ber_reader_next_is(r, end, TAG_BOOLEAN) &&
	    ber_reader_bool(r, end, &out->refresh_done, "refreshDone") < 0)
		return -1;
	return ber_reader_leave(r, end, "SEQUENCE");
}

/* syncUUIDs SET OF syncUUID, at most max of them.  The array is sized
 * once from the SET's length - no element is shorter than
 * UUID_ELEMENT_MIN - so it never exceeds the input, whatever the count
 * claims to be. */
static int
info_parse_uuids(struct ber_reader *r, ber_len_t end, size_t max,
    struct syncrepl_proto_info_value *out)
{
	unsigned char uuid[SYNCREPL_PROTO_UUID_LEN];
	ber_len_t set_end;
	size_t room;

	if (ber_reader_enter(r, end, TAG_SET, &set_end, "syncUUIDs") < 0)
		return -1;
	room = (size_t)(ber_reader_left(r) - set_end) / UUID_ELEMENT_MIN;
	if (room > max)
		room = max;
	if (room > 0) {
		out->uuids = calloc(room, sizeof(*out->uuids));
		if (out->uuids == NULL)
			return ber_reader_fail(r, ber_reader_offset(r), "syncUUIDs",
			    "out of memory (%zu UUIDs)", room);
	}
	while (ber_reader_left(r) > set_end) {
		size_t at = ber_reader_offset(r);

		if (reader_uuid(r, set_end, uuid, "syncUUID") < 0)
			return -1;
		if (out->uuid_count == max)
			return ber_reader_fail(r, at, "syncUUIDs",
			    "more than %zu UUIDs", max);
		/* Cannot happen: each UUID read so far took at least
		 * UUID_ELEMENT_MIN octets inside the SET.  Checked so that
		 * no slip in that reasoning can become an overflow. */
		if (out->uuid_count >= room)
			return ber_reader_fail(r, at, "syncUUIDs",
			    "more UUIDs than its length allows");
		memcpy(out->uuids[out->uuid_count++], uuid, sizeof(uuid));
	}
	return ber_reader_leave(r, set_end, "syncUUIDs");
}

/* syncIdSet [3]: SEQUENCE { cookie OPTIONAL, refreshDeletes BOOLEAN
 * DEFAULT FALSE, syncUUIDs SET OF syncUUID }. */
static int
info_parse_id_set(struct ber_reader *r, size_t max,
    struct syncrepl_proto_info_value *out)
{
	ber_len_t end;

	if (ber_reader_enter(r, 0, TAG_SYNC_ID_SET, &end, "syncIdSet") < 0)
		return -1;
	if (ber_reader_next_is(r, end, TAG_OCTETS) &&
	    reader_cookie(r, end, TAG_OCTETS, &out->cookie, "cookie") < 0)
		return -1;
	out->refresh_deletes = false; /* DEFAULT FALSE */
	if (ber_reader_next_is(r, end, TAG_BOOLEAN) &&
	    ber_reader_bool(r, end, &out->refresh_deletes, "refreshDeletes") < 0)
		return -1;
	if (info_parse_uuids(r, end, max, out) < 0)
		return -1;
	return ber_reader_leave(r, end, "SEQUENCE");
}

static int
info_parse(struct ber_reader *r, size_t max, struct syncrepl_proto_info_value *out)
{
	ber_len_t len;
	ber_tag_t tag = ber_peek_tag(r->ber, &len);
	int rc;

	switch (tag) {
	case TAG_NEW_COOKIE:
		out->kind = SYNCREPL_PROTO_INFO_NEW_COOKIE;
		rc = reader_cookie(r, 0, TAG_NEW_COOKIE, &out->cookie,
		    "newcookie");
		break;
	case TAG_REFRESH_DELETE:
		out->kind = SYNCREPL_PROTO_INFO_REFRESH_DELETE;
		rc = info_parse_refresh(r, tag, out);
		break;
	case TAG_REFRESH_PRESENT:
		out->kind = SYNCREPL_PROTO_INFO_REFRESH_PRESENT;
		rc = info_parse_refresh(r, tag, out);
		break;
	case TAG_SYNC_ID_SET:
		out->kind = SYNCREPL_PROTO_INFO_SYNC_ID_SET;
		rc = info_parse_id_set(r, max, out);
		break;
	case LBER_DEFAULT:
		return ber_reader_fail(r, 0, "CHOICE",
		    "truncated, or a bad or indefinite length");
	default:
		return ber_reader_fail(r, 0, "CHOICE", "tag 0x%02lx is none of %s",
		    (unsigned long)tag,
		    "[0] 0x80, [1] 0xa1, [2] 0xa2, [3] 0xa3");
	}
	if (rc < 0)
		return -1;
	return ber_reader_finish(r);
}

int
syncrepl_proto_info_decode(const void *data, size_t len, size_t max_uuids,
    struct syncrepl_proto_info_value *out, struct ds_error *err)
{
	struct ber_reader r;
	int rc;

	memset(out, 0, sizeof(*out));
	if (ber_reader_open(&r, data, len, "syncInfoValue", err) < 0)
		return -1;
	rc = info_parse(&r, max_uuids, out);
	ber_reader_close(&r);
	if (rc < 0)
		syncrepl_proto_info_free(out);
	return rc;
}

/* ---- UUID text (RFC 4122 3, as OpenLDAP's entryUUID prints it) ---------- */

/* The prototypes spell the sizes out so the compiler checks callers. */
_Static_assert(SYNCREPL_PROTO_UUID_LEN == 16, "uuid[16] in the prototypes");
_Static_assert(SYNCREPL_PROTO_UUID_STRLEN == 37, "out[37] in the prototype");

void
syncrepl_proto_uuid_format(const unsigned char uuid[16], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < SYNCREPL_PROTO_UUID_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[uuid[i] >> 4];
		out[o++] = hex[uuid[i] & 0x0f];
	}
	out[o] = '\0';
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
syncrepl_proto_uuid_parse(const char *text, unsigned char uuid[16],
    struct ds_error *err)
{
	unsigned char tmp[SYNCREPL_PROTO_UUID_LEN];
	size_t n = 0;
	int hi, lo;

	if (text == NULL)
		return ds_error_set(err, "UUID: missing");
	for (size_t i = 0; i < SYNCREPL_PROTO_UUID_STRLEN - 1; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (text[i] != '-')
				return ds_error_set(err,
				    "UUID \"%.40s\": want '-' at position %zu",
				    text, i + 1);
			continue;
		}
		/* A NUL fails here, so text is never read past its end. */
		hi = hex_value(text[i]);
		lo = hi < 0 ? -1 : hex_value(text[i + 1]);
		if (lo < 0)
			return ds_error_set(err,
			    "UUID \"%.40s\": want a hex digit at position %zu",
			    text, hi < 0 ? i + 1 : i + 2);
		tmp[n++] = (unsigned char)(hi << 4 | lo);
		i++;
	}
	if (text[SYNCREPL_PROTO_UUID_STRLEN - 1] != '\0')
		return ds_error_set(err,
		    "UUID \"%.40s\": longer than %d characters", text,
		    SYNCREPL_PROTO_UUID_STRLEN - 1);
	memcpy(uuid, tmp, sizeof(tmp));
	return 0;
}

/* ---- names for log lines ------------------------------------------------ */

const char *
syncrepl_proto_state_name(enum syncrepl_proto_state state)
{
	switch (state) {
	case SYNCREPL_PROTO_STATE_PRESENT:
		return "present";
	case SYNCREPL_PROTO_STATE_ADD:
		return "add";
	case SYNCREPL_PROTO_STATE_MODIFY:
		return "modify";
	case SYNCREPL_PROTO_STATE_DELETE:
		return "delete";
	}
	return "unknown";
}

const char *
syncrepl_proto_info_kind_name(enum syncrepl_proto_info_kind kind)
{
	switch (kind) {
	case SYNCREPL_PROTO_INFO_NEW_COOKIE:
		return "newcookie";
	case SYNCREPL_PROTO_INFO_REFRESH_DELETE:
		return "refreshDelete";
	case SYNCREPL_PROTO_INFO_REFRESH_PRESENT:
		return "refreshPresent";
	case SYNCREPL_PROTO_INFO_SYNC_ID_SET:
		return "syncIdSet";
	}
	return "unknown";
}

bool
syncrepl_proto_cookie_names_state(const void *cookie, size_t len)
{
	const char *c = cookie, *end = c + len;

	if (cookie == NULL || len == 0)
		return false;
	if (len < 4 || memcmp(c, "rid=", 4) != 0)
		return true;
	/* OpenLDAP's form: comma-separated fields; a CSN set follows csn=. */
	while (c < end) {
		const char *comma = memchr(c, ',', (size_t)(end - c));
		size_t n = (size_t)((comma != NULL ? comma : end) - c);

		if (n > 4 && memcmp(c, "csn=", 4) == 0)
			return true;
		c += n + 1;
	}
	return false;
}
