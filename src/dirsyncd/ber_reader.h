/* ber_reader.h - decoding a BER value (an LDAP control's or message's)
 * without trusting it: used by syncrepl_proto.c (RFC 4533) and ad_proto.c
 * (AD DirSync).
 *
 * It reads a private copy of the input (liblber may write into what it
 * reads) through liblber's bounds-checked element walker only
 * (ber_skip_tag, ber_skip_element, ber_peek_tag) and checks every length
 * against what is left before using it.  Positions are counted as octets
 * left in the copy (all the public lber API exposes); an "end" is the
 * count left when a constructed element's contents end, 0 for the whole
 * value.  Every failure fills err with "<value> <what> at offset <n>:
 * <problem>" and returns -1.  Pure: no I/O, no state beyond the reader. */
#ifndef DS_BER_READER_H
#define DS_BER_READER_H

#include <lber.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compat.h"

/* One decode in progress. */
struct ber_reader {
	BerElement *ber;
	size_t len;        /* input length, to turn counts into offsets */
	const char *value; /* "syncStateValue", ... for messages */
	struct ds_error *err;
};

/* Opens a copy of data (len octets, named value in messages). */
int ber_reader_open(struct ber_reader *r, const void *data, size_t len,
    const char *value, struct ds_error *err);
void ber_reader_close(struct ber_reader *r);
ber_len_t ber_reader_left(const struct ber_reader *r);
size_t ber_reader_offset(const struct ber_reader *r);
int ber_reader_fail(const struct ber_reader *r, size_t at, const char *what,
    const char *fmt, ...) DS_PRINTF(4, 5);

/* Is there another element before end, and does it carry tag? */
bool ber_reader_next_is(const struct ber_reader *r, ber_len_t end,
    ber_tag_t tag);
/* Step over the next element, which must carry tag and lie wholly before
 * end; *val points at its contents inside the copy. */
int ber_reader_element(struct ber_reader *r, ber_len_t end, ber_tag_t tag,
    struct berval *val, const char *what);
/* Step into the constructed element next (tag, wholly before end);
 * *inner is where its contents end. */
int ber_reader_enter(struct ber_reader *r, ber_len_t end, ber_tag_t tag,
    ber_len_t *inner, const char *what);
/* The constructed element ending at end must hold nothing more. */
int ber_reader_leave(struct ber_reader *r, ber_len_t end, const char *what);
int ber_reader_enum(struct ber_reader *r, ber_len_t end, ber_int_t *out,
    const char *what);
int ber_reader_bool(struct ber_reader *r, ber_len_t end, bool *out,
    const char *what);
int ber_reader_int32(struct ber_reader *r, ber_len_t end, uint32_t *out,
    const char *what);
int ber_reader_copy(struct ber_reader *r, ber_len_t end, ber_tag_t tag,
    size_t max, unsigned char **out, size_t *out_len, const char *what);
/* The whole input must be exactly one value. */
int ber_reader_finish(struct ber_reader *r);

#endif
