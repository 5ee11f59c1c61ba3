/* syncrepl_proto.h - the RFC 4533 (LDAP Content Synchronization) wire
 * values: encodes the Sync Request Control, decodes the Sync State and
 * Sync Done Controls and the Sync Info Message, and converts syncUUIDs to
 * and from text.  Pure: no network, no event loop, no logging, no state.
 * It must never trust a length from the wire, nor write into its input.
 *
 * Usage: the syncrepl change source builds the request control value with
 * syncrepl_proto_request_encode() and gives the bytes to ldapconn, which
 * sends them as control SYNCREPL_PROTO_OID_REQUEST (critical).  For every
 * message of that search it passes the raw value (bv_val, bv_len) of
 *   - the SYNCREPL_PROTO_OID_STATE control of a SearchResultEntry or
 *     SearchResultReference to syncrepl_proto_state_decode(),
 *   - the SYNCREPL_PROTO_OID_DONE control of the SearchResultDone to
 *     syncrepl_proto_done_decode(),
 *   - an IntermediateResponse named SYNCREPL_PROTO_OID_INFO to
 *     syncrepl_proto_info_decode().
 * Decoders fill a struct the caller owns (overwriting it: free what it
 * held first) and return 0, or -1 with err naming the malformed element
 * and its byte offset.  On -1 the struct is left zeroed; on 0 what it
 * points to (cookie, UUID array) belongs to the caller and is released
 * with the matching *_free(), which frees the contents, not the struct,
 * and is harmless on a zeroed or already freed struct.
 *
 * Cookies are opaque octets (RFC 4533 2.1.2): never parse them, store them
 * byte for byte.  Decoders are strict about RFC 4511 5.1 (definite lengths,
 * primitive OCTET STRINGs, no trailing bytes) but accept any non-zero
 * BOOLEAN octet as TRUE and DEFAULT values sent explicitly.
 *
 * Every function may be called from any context: no globals, no I/O. */
#ifndef DS_SYNCREPL_PROTO_H
#define DS_SYNCREPL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include "compat.h"

/* RFC 4533 2.2-2.5 and 8.1. */
#define SYNCREPL_PROTO_OID_REQUEST "1.3.6.1.4.1.4203.1.9.1.1"
#define SYNCREPL_PROTO_OID_STATE "1.3.6.1.4.1.4203.1.9.1.2"
#define SYNCREPL_PROTO_OID_DONE "1.3.6.1.4.1.4203.1.9.1.3"
#define SYNCREPL_PROTO_OID_INFO "1.3.6.1.4.1.4203.1.9.1.4"
/* RFC 4533 2.6: the server cannot continue from the cookie; start over
 * with a full refresh (no cookie), see 3.8. */
#define SYNCREPL_PROTO_E_SYNC_REFRESH_REQUIRED 4096

/* syncUUID is OCTET STRING (SIZE(16)) (RFC 4533 2.1.1). */
#define SYNCREPL_PROTO_UUID_LEN 16
/* Text form, 8-4-4-4-12 lower-case hex, plus the NUL. */
#define SYNCREPL_PROTO_UUID_STRLEN 37
/* Largest cookie accepted or sent.  OpenLDAP's grow by one CSN (about 40
 * octets) per provider and 389-ds's are a host:port#DN:base:filter#number
 * string, so anything near this is garbage, not state worth storing. */
#define SYNCREPL_PROTO_COOKIE_MAX 1048576 /* 1 MiB */
/* Default bound on UUIDs in one syncIdSet.  slapd sends at most 100 per
 * message and current 389-ds 50, but RFC 4533 sets no limit; 2^20 UUIDs is a
 * 19 MB message and a 16 MiB array. */
#define SYNCREPL_PROTO_UUIDS_MAX 1048576 /* 2^20 */

/* Sync Request mode (RFC 4533 2.2; 0 is unused, 2 reserved). */
enum syncrepl_proto_mode {
	/* Poll: one refresh, then the search ends (3.3). */
	SYNCREPL_PROTO_MODE_REFRESH_ONLY = 1,
	/* Refresh, then the search stays open for changes (3.4). */
	SYNCREPL_PROTO_MODE_REFRESH_AND_PERSIST = 3,
};

/* Sync State of one entry (RFC 4533 2.3). */
enum syncrepl_proto_state {
	SYNCREPL_PROTO_STATE_PRESENT = 0, /* unchanged, still in the content */
	SYNCREPL_PROTO_STATE_ADD = 1,     /* new to the content */
	SYNCREPL_PROTO_STATE_MODIFY = 2,  /* changed (entry is sent in full) */
	SYNCREPL_PROTO_STATE_DELETE = 3,  /* left the content */
};

/* Which CHOICE alternative a Sync Info Message carries (RFC 4533 2.5). */
enum syncrepl_proto_info_kind {
	SYNCREPL_PROTO_INFO_NEW_COOKIE = 0,      /* [0] newcookie */
	SYNCREPL_PROTO_INFO_REFRESH_DELETE = 1,  /* [1] delete phase ends */
	SYNCREPL_PROTO_INFO_REFRESH_PRESENT = 2, /* [2] present phase ends */
	SYNCREPL_PROTO_INFO_SYNC_ID_SET = 3,     /* [3] many UUIDs at once */
};

/* An optional syncCookie.  val == NULL: absent.  Otherwise val is a
 * malloc'd copy of the len octets with a NUL after them (not counted in
 * len), so text cookies can be logged; a present cookie may be empty. */
struct syncrepl_proto_cookie {
	char *val;
	size_t len;
};

/* syncStateValue. */
struct syncrepl_proto_state_value {
	enum syncrepl_proto_state state;
	unsigned char uuid[SYNCREPL_PROTO_UUID_LEN];
	struct syncrepl_proto_cookie cookie;
};

/* syncDoneValue. */
struct syncrepl_proto_done_value {
	struct syncrepl_proto_cookie cookie;
	bool refresh_deletes; /* DEFAULT FALSE */
};

/* syncInfoValue: kind says which fields mean something. */
struct syncrepl_proto_info_value {
	enum syncrepl_proto_info_kind kind;
	/* NEW_COOKIE: always present.  The others: optional. */
	struct syncrepl_proto_cookie cookie;
	/* REFRESH_DELETE, REFRESH_PRESENT: DEFAULT TRUE; false otherwise. */
	bool refresh_done;
	/* SYNC_ID_SET: DEFAULT FALSE; false otherwise.  FALSE: the UUIDs
	 * are present entries; TRUE: they were deleted (RFC 4533 3.3.2). */
	bool refresh_deletes;
	/* SYNC_ID_SET: uuid_count UUIDs in one malloc'd block (NULL when
	 * there are none), in the order sent; uuids[i] is 16 octets. */
	unsigned char (*uuids)[SYNCREPL_PROTO_UUID_LEN];
	size_t uuid_count;
};

/* Encode a syncRequestValue (RFC 4533 2.2) in DER.  cookie NULL or
 * cookie_len 0 means no cookie: a full refresh ("no cookie", 2.1.2).
 * reload_hint is sent only when true (DER omits DEFAULT FALSE).  On 0,
 * *out is a malloc'd buffer of *out_len octets the caller free()s; on -1
 * (bad mode, cookie over SYNCREPL_PROTO_COOKIE_MAX, out of memory) *out
 * is NULL. */
int syncrepl_proto_request_encode(enum syncrepl_proto_mode mode,
    const void *cookie, size_t cookie_len, bool reload_hint,
    unsigned char **out, size_t *out_len, struct ds_error *err) DS_MUSTCHECK;

/* Decode a syncStateValue (RFC 4533 2.3) from len octets at data, which
 * are only read.  The entryUUID must be exactly 16 octets and the state
 * one of the four above. */
int syncrepl_proto_state_decode(const void *data, size_t len,
    struct syncrepl_proto_state_value *out, struct ds_error *err) DS_MUSTCHECK;
/* Free out's cookie and zero *out; NULL is a no-op. */
void syncrepl_proto_state_free(struct syncrepl_proto_state_value *out);

/* Decode a syncDoneValue (RFC 4533 2.4). */
int syncrepl_proto_done_decode(const void *data, size_t len,
    struct syncrepl_proto_done_value *out, struct ds_error *err) DS_MUSTCHECK;
/* Free out's cookie and zero *out; NULL is a no-op. */
void syncrepl_proto_done_free(struct syncrepl_proto_done_value *out);

/* Decode a syncInfoValue (RFC 4533 2.5).  A syncIdSet with more than
 * max_uuids UUIDs is rejected (pass SYNCREPL_PROTO_UUIDS_MAX unless
 * configured otherwise); the array is allocated once, never larger than
 * the input, before any UUID is copied.  Every syncUUID must be exactly
 * 16 octets: old 389-ds releases that encoded the set with strlen() and
 * so cut UUIDs at a zero octet are rejected, not guessed at - the caller
 * should fall back to a full refresh. */
int syncrepl_proto_info_decode(const void *data, size_t len, size_t max_uuids,
    struct syncrepl_proto_info_value *out, struct ds_error *err) DS_MUSTCHECK;
/* Free out's cookie and UUID array and zero *out; NULL is a no-op. */
void syncrepl_proto_info_free(struct syncrepl_proto_info_value *out);

/* Write uuid (SYNCREPL_PROTO_UUID_LEN octets) to out as 36 characters of
 * lower-case 8-4-4-4-12 hex and a NUL (SYNCREPL_PROTO_UUID_STRLEN): the
 * text of OpenLDAP's entryUUID attribute.  Cannot fail. */
void syncrepl_proto_uuid_format(const unsigned char uuid[16], char out[37]);
/* Parse that text (hex digits of either case) into 16 octets.  Exactly
 * 36 characters; anything else is -1 and uuid is left untouched. */
int syncrepl_proto_uuid_parse(const char *text, unsigned char uuid[16],
    struct ds_error *err) DS_MUSTCHECK;

/* Whether a cookie names a state of the directory a search can resume
 * from.  OpenLDAP's syncprov sends "rid=NNN[,sid=SSS][,csn=...]", and
 * when it commits changes out of CSN order (parallel writers) some
 * entries come with a bare "rid=000": resumed from, that is no state at
 * all, the server sends everything and ends with a refreshDelete, and
 * the deletions in between are never reported.  Such a cookie (rid=
 * without a non-empty csn=) names no state, as OpenLDAP's own consumer
 * holds (it keeps only cookies with a CSN).  Any other non-empty cookie
 * (389-ds's, for one) is taken as it is. */
bool syncrepl_proto_cookie_names_state(const void *cookie, size_t len);

/* "present", "add", "modify", "delete"; "unknown" otherwise.  Static. */
const char *syncrepl_proto_state_name(enum syncrepl_proto_state state);
/* "newcookie", "refreshDelete", "refreshPresent", "syncIdSet" (the
 * RFC's names, for log lines); "unknown" otherwise.  Static. */
const char *syncrepl_proto_info_kind_name(enum syncrepl_proto_info_kind kind);

#endif
