/* utf8.c - well-formed UTF-8 (utf8.h), after RFC 3629's table of
 * well-formed byte sequences (section 4). */
#include "utf8.h"

size_t
utf8_char_len(const void *p, size_t n)
{
	const unsigned char *s = p;
	unsigned char c, lo = 0x80, hi = 0xbf;
	size_t len;

	if (n == 0)
		return 0;
	c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	/* The second byte's range is narrower after these leads: no
	 * overlong forms (E0, F0), no surrogates (ED), nothing above
	 * U+10FFFF (F4). */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (len > n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k < len; k++)
		if ((s[k] & 0xc0) != 0x80)
			return 0;
	return len;
}
