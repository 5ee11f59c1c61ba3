/* test_utf8.c - utf8_char_len() against RFC 3629's table of well-formed
 * byte sequences (section 4): the first and last sequence of every row,
 * the bytes just outside each row's ranges, sequences cut short, and
 * every two-byte combination checked against a decoder written the
 * other way round (decode, then require the shortest form, no
 * surrogate, nothing above U+10FFFF). */
#include "utf8.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

struct seq_case {
	const char *bytes;
	size_t len;  /* bytes available */
	size_t want; /* 0: not well-formed */
};

static const struct seq_case seq_cases[] = {
	{ "\x00", 1, 1 },
	{ "A", 1, 1 },
	{ "\x7f", 1, 1 },
	{ "\x80", 1, 0 },             /* a continuation byte alone */
	{ "\xbf", 1, 0 },
	{ "\xc0\x80", 2, 0 },         /* overlong */
	{ "\xc1\xbf", 2, 0 },
	{ "\xc2\x80", 2, 2 },         /* U+0080 */
	{ "\xdf\xbf", 2, 2 },         /* U+07FF */
	{ "\xc2\x7f", 2, 0 },
	{ "\xc2\xc0", 2, 0 },
	{ "\xc2", 1, 0 },             /* cut short */
	{ "\xe0\x9f\xbf", 3, 0 },     /* overlong */
	{ "\xe0\xa0\x80", 3, 3 },     /* U+0800 */
	{ "\xe1\x80\x80", 3, 3 },
	{ "\xec\xbf\xbf", 3, 3 },
	{ "\xed\x80\x80", 3, 3 },     /* U+D000 */
	{ "\xed\x9f\xbf", 3, 3 },     /* U+D7FF */
	{ "\xed\xa0\x80", 3, 0 },     /* U+D800, a surrogate */
	{ "\xed\xbf\xbf", 3, 0 },
	{ "\xee\x80\x80", 3, 3 },
	{ "\xef\xbf\xbf", 3, 3 },     /* U+FFFF: UTF-8, if not XML */
	{ "\xe2\x82", 2, 0 },
	{ "\xe2\x82\xac", 2, 0 },     /* only two bytes available */
	{ "\xe2\x82\x41", 3, 0 },
	{ "\xf0\x8f\xbf\xbf", 4, 0 }, /* overlong */
	{ "\xf0\x90\x80\x80", 4, 4 }, /* U+10000 */
	{ "\xf3\xbf\xbf\xbf", 4, 4 },
	{ "\xf4\x8f\xbf\xbf", 4, 4 }, /* U+10FFFF */
	{ "\xf4\x90\x80\x80", 4, 0 }, /* U+110000 */
	{ "\xf5\x80\x80\x80", 4, 0 },
	{ "\xf8\x88\x80\x80\x80", 5, 0 },
	{ "\xff", 1, 0 },
	{ "\xfe", 1, 0 },
	{ "\xf0\x9f\x98", 3, 0 },
	{ "", 0, 0 },                 /* nothing left */
};

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(seq_cases) / sizeof(seq_cases[0]); i++) {
		const struct seq_case *c = &seq_cases[i];
		size_t got = utf8_char_len(c->bytes, c->len);

		if (got != c->want)
			fail_msg("case %zu (first byte 0x%02x, %zu bytes): got "
			    "%zu, want %zu", i, (unsigned char)c->bytes[0], c->len,
			    got, c->want);
	}
}

/* The other way round: decode lead and continuation bytes, then require
 * the shortest form, no surrogate and at most U+10FFFF. */
static size_t
reference_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Every lead byte with every second byte, and 200,000 random sequences
 * of up to four bytes, agree with the reference. */
static void
test_against_reference(void **state)
{
	unsigned char s[4];
	uint32_t seed = 99;

	(void)state;
	for (unsigned a = 0; a < 256; a++) {
		for (unsigned b = 0; b < 256; b++) {
			s[0] = (unsigned char)a;
			s[1] = (unsigned char)b;
			s[2] = s[3] = 0x80;
			for (size_t n = 1; n <= 4; n++)
				if (utf8_char_len(s, n) != reference_len(s, n))
					fail_msg("%02x %02x 80 80, %zu bytes: %zu, "
					    "reference %zu", a, b, n,
					    utf8_char_len(s, n), reference_len(s, n));
		}
	}
	for (int i = 0; i < 200000; i++) {
		for (size_t k = 0; k < 4; k++) {
			seed = seed * 1103515245u + 12345u;
			s[k] = (unsigned char)(seed >> 16);
		}
		/* Mostly continuation bytes after the first, or it would
		 * hardly ever be well-formed. */
		for (size_t k = 1; k < 4; k++)
			if (s[k] & 1)
				s[k] = (unsigned char)(0x80 | (s[k] & 0x3f));
		if (utf8_char_len(s, 4) != reference_len(s, 4))
			fail_msg("%02x %02x %02x %02x: %zu, reference %zu", s[0],
			    s[1], s[2], s[3], utf8_char_len(s, 4),
			    reference_len(s, 4));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_against_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
