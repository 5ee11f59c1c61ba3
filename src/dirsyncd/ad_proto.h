/* ad_proto.h - the Active Directory DirSync control values
 * ([MS-ADTS] 3.1.1.3.4.1.3, OID 1.2.840.113556.1.4.841) and the attribute
 * descriptions DirSync uses for incremental values.  Pure: no network, no
 * event loop, no logging, no state.  It must never trust a length from
 * the wire, nor write into its input.
 *
 * Usage: the dirsync change source builds the request control value with
 * ad_proto_dirsync_request_encode() and sends it as control
 * AD_PROTO_OID_DIRSYNC (critical); it passes the value of the same control
 * on the SearchResultDone to ad_proto_dirsync_response_decode(), which
 * gives the MoreResults flag and the server's cookie.  For each attribute
 * description of a returned entry, ad_proto_attrdesc_parse() splits off
 * the ";range=lo-hi" option and ad_proto_attrdesc_change() says whether
 * the values are the whole attribute, values added or values removed.
 *
 * What servers send (checked against Samba 4.17; [MS-ADTS] 3.1.1.3.4.1.3
 * describes the same for Windows): with AD_PROTO_DIRSYNC_INCREMENTAL_VALUES
 * every value of a linked attribute (member, manager, ...) comes as
 * "member;range=1-1" when it was added (also in a first search without a
 * cookie, where every present value counts as added) and as
 * "member;range=0-0" when it was removed; without the flag the whole
 * attribute comes under its plain name.  Other attributes always come
 * whole, and only when they changed; objectGUID and instanceType come
 * with every object.
 *
 * Decoders fill a struct the caller owns and return 0, or -1 with err
 * naming the malformed element and its byte offset; on -1 the struct is
 * zeroed and holds nothing to free.  Every function may be called from
 * any context. */
#ifndef DS_AD_PROTO_H
#define DS_AD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compat.h"

#define AD_PROTO_OID_DIRSYNC "1.2.840.113556.1.4.841"

/* DirSync request flags ([MS-ADTS] 3.1.1.3.4.1.3). */
/* Return only what the caller may read: no "Replicating Directory
 * Changes" right needed, but the server then also filters by access. */
#define AD_PROTO_DIRSYNC_OBJECT_SECURITY 0x00000001u
#define AD_PROTO_DIRSYNC_ANCESTORS_FIRST_ORDER 0x00000800u
#define AD_PROTO_DIRSYNC_PUBLIC_DATA_ONLY 0x00002000u
/* Linked attribute changes as single values added or removed, not the
 * whole attribute. */
#define AD_PROTO_DIRSYNC_INCREMENTAL_VALUES 0x80000000u

/* Largest cookie accepted or sent.  AD and Samba cookies are an "MSDS"
 * header and an up-to-dateness vector: about 100 octets plus 24 per
 * domain controller, so anything near this is garbage. */
#define AD_PROTO_COOKIE_MAX 1048576 /* 1 MiB */

/* The request value: SEQUENCE { Flags INTEGER, MaxBytes INTEGER,
 * Cookie OCTET STRING }. */
struct ad_proto_dirsync_request {
	uint32_t flags;
	uint32_t max_bytes;       /* 0: the server's default */
	unsigned char *cookie;    /* decoded: malloc'd, NUL after; may be NULL */
	size_t cookie_len;
};

/* The response value: SEQUENCE { MoreResults INTEGER, unused INTEGER,
 * CookieServer OCTET STRING }. */
struct ad_proto_dirsync_response {
	bool more;                /* MoreResults non-zero: search again now */
	unsigned char *cookie;    /* malloc'd copy with a NUL after it, never
	                           * NULL after a successful decode */
	size_t cookie_len;
};

/* Encode a request value in DER.  Flags and MaxBytes go on the wire as
 * 32-bit two's-complement INTEGERs: 0x80000000 is sent as the four octets
 * 80 00 00 00, as Windows clients do and as both AD and Samba read it.
 * cookie NULL or cookie_len 0: an empty cookie, i.e. a first search.  On
 * 0, *out is a malloc'd buffer of *out_len octets the caller free()s; on
 * -1 (cookie over AD_PROTO_COOKIE_MAX, out of memory) *out is NULL. */
int ad_proto_dirsync_request_encode(uint32_t flags, uint32_t max_bytes,
    const void *cookie, size_t cookie_len, unsigned char **out,
    size_t *out_len, struct ds_error *err) DS_MUSTCHECK;
/* Decode a request value (tests, and a fake server). */
int ad_proto_dirsync_request_decode(const void *data, size_t len,
    struct ad_proto_dirsync_request *out, struct ds_error *err) DS_MUSTCHECK;
void ad_proto_dirsync_request_free(struct ad_proto_dirsync_request *r);

/* Encode a response value (tests, and a fake server). */
int ad_proto_dirsync_response_encode(bool more, const void *cookie,
    size_t cookie_len, unsigned char **out, size_t *out_len,
    struct ds_error *err) DS_MUSTCHECK;
/* Decode a response value: exactly one SEQUENCE of two INTEGERs of at
 * most 4 octets and an OCTET STRING of at most AD_PROTO_COOKIE_MAX, and
 * nothing after it. */
int ad_proto_dirsync_response_decode(const void *data, size_t len,
    struct ad_proto_dirsync_response *out, struct ds_error *err) DS_MUSTCHECK;
/* Free the cookie and zero *r; NULL is a no-op. */
void ad_proto_dirsync_response_free(struct ad_proto_dirsync_response *r);

/* An attribute description split for DirSync ("member;Range=1-1"). */
struct ad_proto_attrdesc {
	char name[128];        /* the attribute with its other options */
	bool ranged;           /* a ;range= option was present */
	unsigned long lo, hi;  /* its bounds; hi meaningless when hi_star */
	bool hi_star;          /* "range=1500-*": the last chunk */
};

/* Split desc.  The range option is matched case-insensitively anywhere
 * among the options and removed; name keeps the rest ("cn;lang-de").
 * Returns -1 with err when desc is empty or longer than name holds, has
 * two range options, or a range that is not "digits-digits" or
 * "digits-*" with lo <= hi. */
int ad_proto_attrdesc_parse(const char *desc, struct ad_proto_attrdesc *out,
    struct ds_error *err) DS_MUSTCHECK;

enum ad_proto_change {
	AD_PROTO_CHANGE_WHOLE = 0, /* the attribute's complete value set */
	AD_PROTO_CHANGE_ADDED,     /* incremental: values added (1-1) */
	AD_PROTO_CHANGE_REMOVED,   /* incremental: values removed (0-0) */
	AD_PROTO_CHANGE_CHUNK,     /* a range-retrieval chunk: incomplete */
};

/* What the values of a parsed description mean.  incremental: the
 * search asked for AD_PROTO_DIRSYNC_INCREMENTAL_VALUES, so 1-1 and 0-0
 * are added and removed values; any other range (or any range without
 * the flag) is a chunk of a longer list. */
enum ad_proto_change ad_proto_attrdesc_change(const struct ad_proto_attrdesc *d,
    bool incremental);

#endif
