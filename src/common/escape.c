/* escape.c - RFC 4515 filter values, RFC 4514 DN values and the canonical
 * DN form (escape.h).  Pure byte work: it must never log, keep state or
 * trust that its input is valid UTF-8 or even free of NUL. */
#include "escape.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* ---- a growable byte buffer ---------------------------------------------
 * Outputs are input-sized, so allocation failure is reported (compat.h)
 * rather than aborting: oom is sticky and checked once at the end. */

struct sbuf {
	char *buf;
	size_t len;
	size_t cap;
	bool oom;
};

static void
sbuf_reserve(struct sbuf *b, size_t more)
{
	size_t want;
	char *p;

	if (b->oom)
		return;
	if (more > SIZE_MAX - b->len - 1) {
		b->oom = true;
		return;
	}
	want = b->len + more + 1;
	if (want <= b->cap)
		return;
	if (want < 64)
		want = 64;
	if (want < b->cap * 2 && b->cap < SIZE_MAX / 2)
		want = b->cap * 2;
	p = realloc(b->buf, want);
	if (p == NULL) {
		b->oom = true;
		return;
	}
	b->buf = p;
	b->cap = want;
}

static void
sbuf_put(struct sbuf *b, const void *s, size_t n)
{
	sbuf_reserve(b, n);
	if (b->oom)
		return;
	memcpy(b->buf + b->len, s, n);
	b->len += n;
}

static void
sbuf_putc(struct sbuf *b, unsigned char c)
{
	sbuf_put(b, &c, 1);
}

/* NUL-terminates and hands the buffer over; NULL (buffer freed) if any
 * allocation failed on the way. */
static char *
sbuf_finish(struct sbuf *b)
{
	char *p;

	sbuf_reserve(b, 0);
	if (b->oom) {
		free(b->buf);
		*b = (struct sbuf){ 0 };
		return NULL;
	}
	b->buf[b->len] = '\0';
	p = b->buf;
	*b = (struct sbuf){ 0 };
	return p;
}

static void
sbuf_free(struct sbuf *b)
{
	free(b->buf);
	*b = (struct sbuf){ 0 };
}

/* ---- ASCII and UTF-8 -----------------------------------------------------
 * Locale-independent on purpose: <ctype.h> follows setlocale(), and a DN
 * must normalise the same way whatever the daemon's environment. */

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static unsigned char
to_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static int
hex_value(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	c = to_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static uint32_t
utf8_decode(const unsigned char *s, size_t len)
{
	static const unsigned char lead_mask[] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	uint32_t cp = s[0] & lead_mask[len];

	for (size_t i = 1; i < len; i++)
		cp = (cp << 6) | (s[i] & 0x3f);
	return cp;
}

static void
utf8_put(struct sbuf *b, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | (cp >> 18));
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	sbuf_put(b, u, n);
}

/* Unicode simple case folding (CaseFolding.txt, status C and S) for
 * U+0000-U+052F: Latin-1 Supplement, Latin Extended-A and -B, Greek and
 * Cyrillic.  Code points whose folding there is not one-to-one (ß, İ, ŉ,
 * ǰ, ΐ, ΰ) are left alone.  Runs of upper/lower pairs are written as
 * rules, the irregular rest as a table; checked against Python's
 * str.casefold() for every code point in the range. */
struct fold_single {
	uint16_t from;
	uint16_t to;
};

static const struct fold_single fold_singles[] = {
	{ 0x00b5, 0x03bc }, { 0x0178, 0x00ff }, { 0x017f, 0x0073 },
	{ 0x0181, 0x0253 }, { 0x0186, 0x0254 }, { 0x0187, 0x0188 },
	{ 0x0189, 0x0256 }, { 0x018a, 0x0257 }, { 0x018b, 0x018c },
	{ 0x018e, 0x01dd }, { 0x018f, 0x0259 }, { 0x0190, 0x025b },
	{ 0x0191, 0x0192 }, { 0x0193, 0x0260 }, { 0x0194, 0x0263 },
	{ 0x0196, 0x0269 }, { 0x0197, 0x0268 }, { 0x0198, 0x0199 },
	{ 0x019c, 0x026f }, { 0x019d, 0x0272 }, { 0x019f, 0x0275 },
	{ 0x01a6, 0x0280 }, { 0x01a7, 0x01a8 }, { 0x01a9, 0x0283 },
	{ 0x01ac, 0x01ad }, { 0x01ae, 0x0288 }, { 0x01af, 0x01b0 },
	{ 0x01b1, 0x028a }, { 0x01b2, 0x028b }, { 0x01b3, 0x01b4 },
	{ 0x01b5, 0x01b6 }, { 0x01b7, 0x0292 }, { 0x01b8, 0x01b9 },
	{ 0x01bc, 0x01bd }, { 0x01c4, 0x01c6 }, { 0x01c5, 0x01c6 },
	{ 0x01c7, 0x01c9 }, { 0x01c8, 0x01c9 }, { 0x01ca, 0x01cc },
	{ 0x01cb, 0x01cc }, { 0x01f1, 0x01f3 }, { 0x01f2, 0x01f3 },
	{ 0x01f4, 0x01f5 }, { 0x01f6, 0x0195 }, { 0x01f7, 0x01bf },
	{ 0x0220, 0x019e }, { 0x023a, 0x2c65 }, { 0x023b, 0x023c },
	{ 0x023d, 0x019a }, { 0x023e, 0x2c66 }, { 0x0241, 0x0242 },
	{ 0x0243, 0x0180 }, { 0x0244, 0x0289 }, { 0x0245, 0x028c },
	{ 0x0345, 0x03b9 }, { 0x0370, 0x0371 }, { 0x0372, 0x0373 },
	{ 0x0376, 0x0377 }, { 0x037f, 0x03f3 }, { 0x0386, 0x03ac },
	{ 0x038c, 0x03cc }, { 0x03c2, 0x03c3 }, { 0x03cf, 0x03d7 },
	{ 0x03d0, 0x03b2 }, { 0x03d1, 0x03b8 }, { 0x03d5, 0x03c6 },
	{ 0x03d6, 0x03c0 }, { 0x03f0, 0x03ba }, { 0x03f1, 0x03c1 },
	{ 0x03f4, 0x03b8 }, { 0x03f5, 0x03b5 }, { 0x03f7, 0x03f8 },
	{ 0x03f9, 0x03f2 }, { 0x03fa, 0x03fb }, { 0x04c0, 0x04cf },
};

/* Blocks where upper case sits on one parity and its lower case follows
 * it: Āā, Ĺĺ, Ѡѡ ... */
static const struct fold_run {
	uint16_t first;
	uint16_t last;
	uint16_t upper_parity;
} fold_runs[] = {
	{ 0x0100, 0x012f, 0 }, { 0x0132, 0x0137, 0 }, { 0x0139, 0x0148, 1 },
	{ 0x014a, 0x0177, 0 }, { 0x0179, 0x017e, 1 }, { 0x0182, 0x0185, 0 },
	{ 0x01a0, 0x01a5, 0 }, { 0x01cd, 0x01dc, 1 }, { 0x01de, 0x01ef, 0 },
	{ 0x01f8, 0x021f, 0 }, { 0x0222, 0x0233, 0 }, { 0x0246, 0x024f, 0 },
	{ 0x03d8, 0x03ef, 0 }, { 0x0460, 0x0481, 0 }, { 0x048a, 0x04bf, 0 },
	{ 0x04c1, 0x04ce, 1 }, { 0x04d0, 0x052f, 0 },
};

/* Blocks that fold by a constant offset. */
static const struct fold_shift {
	uint16_t first;
	uint16_t last;
	uint16_t skip;          /* a code point inside that does not fold */
	int16_t delta;
} fold_shifts[] = {
	{ 0x0041, 0x005a, 0, 0x20 },            /* A-Z */
	{ 0x00c0, 0x00de, 0x00d7, 0x20 },       /* À-Þ except × */
	{ 0x0388, 0x038a, 0, 0x25 },            /* Έ Ή Ί */
	{ 0x038e, 0x038f, 0, 0x3f },            /* Ύ Ώ */
	{ 0x0391, 0x03ab, 0x03a2, 0x20 },       /* Α-Ϋ (U+03A2 unassigned) */
	{ 0x03fd, 0x03ff, 0, -0x82 },           /* Ͻ Ͼ Ͽ */
	{ 0x0400, 0x040f, 0, 0x50 },            /* Ѐ-Џ */
	{ 0x0410, 0x042f, 0, 0x20 },            /* А-Я */
};

static uint32_t
fold_codepoint(uint32_t cp)
{
	if (cp >= 0x530)
		return cp;
	for (size_t i = 0; i < DS_ARRAY_SIZE(fold_shifts); i++) {
		const struct fold_shift *f = &fold_shifts[i];

		if (cp >= f->first && cp <= f->last && cp != f->skip)
			return (uint32_t)((int32_t)cp + f->delta);
	}
	for (size_t i = 0; i < DS_ARRAY_SIZE(fold_runs); i++) {
		const struct fold_run *r = &fold_runs[i];

		if (cp >= r->first && cp <= r->last)
			return (cp & 1) == r->upper_parity ? cp + 1 : cp;
	}
	for (size_t i = 0; i < DS_ARRAY_SIZE(fold_singles); i++)
		if (fold_singles[i].from == cp)
			return fold_singles[i].to;
	return cp;
}

/* Appends s, case-folded; octets that are not well-formed UTF-8 are
 * copied unchanged (escape_dn_into then writes them as \XX). */
static void
fold_into(struct sbuf *b, const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t n;

		if (s[i] < 0x80) {      /* the common case, kept cheap */
			sbuf_putc(b, to_lower(s[i++]));
			continue;
		}
		n = utf8_char_len(s + i, len - i);
		if (n == 0) {
			sbuf_putc(b, s[i++]);
			continue;
		}
		utf8_put(b, fold_codepoint(utf8_decode(s + i, n)));
		i += n;
	}
}

char *
text_casefold(const char *s, size_t len, size_t *outlen)
{
	struct sbuf b = { 0 };
	char *out;

	fold_into(&b, (const unsigned char *)s, len);
	*outlen = b.len;
	if ((out = sbuf_finish(&b)) == NULL)
		*outlen = 0;
	return out;
}

/* ---- escaping ------------------------------------------------------------ */

static void
put_hex_escape(struct sbuf *b, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char e[3] = { '\\', hex[c >> 4], hex[c & 0xf] };

	sbuf_put(b, e, sizeof(e));
}

static bool
is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Copies the well-formed UTF-8 sequence at s[*i] and returns true, or
 * returns false when s[*i] starts none (the caller escapes that octet). */
static bool
copy_utf8_seq(struct sbuf *b, const unsigned char *s, size_t len, size_t *i)
{
	size_t n = utf8_char_len(s + *i, len - *i);

	if (n < 2)
		return false;
	sbuf_put(b, s + *i, n);
	*i += n;
	return true;
}

char *
escape_filter_value(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	struct sbuf b = { 0 };
	size_t i = 0;

	sbuf_reserve(&b, len);
	while (i < len) {
		unsigned char c = u[i];

		if (c >= 0x80 && copy_utf8_seq(&b, u, len, &i))
			continue;
		/* RFC 4515 §3: '*' '(' ')' '\' NUL must be escaped; others
		 * (controls, invalid UTF-8) may be, and we do. */
		if (c >= 0x80 || is_control(c) || c == '*' || c == '(' ||
		    c == ')' || c == '\\')
			put_hex_escape(&b, c);
		else
			sbuf_putc(&b, c);
		i++;
	}
	return sbuf_finish(&b);
}

/* RFC 4514 §2.4, shared by escape_dn_value() and dn_normalize() so a DN
 * value has one escaped spelling everywhere. */
static void
escape_dn_into(struct sbuf *b, const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];

		if (c >= 0x80 && copy_utf8_seq(b, s, len, &i))
			continue;
		if (c >= 0x80 || is_control(c))
			put_hex_escape(b, c);
		else if (c == '"' || c == '+' || c == ',' || c == ';' ||
		    c == '<' || c == '>' || c == '\\' ||
		    (i == 0 && (c == ' ' || c == '#')) ||
		    (i == len - 1 && c == ' ')) {
			sbuf_putc(b, '\\');
			sbuf_putc(b, c);
		} else
			sbuf_putc(b, c);
		i++;
	}
}

char *
escape_dn_value(const char *s, size_t len)
{
	struct sbuf b = { 0 };

	sbuf_reserve(&b, len);
	escape_dn_into(&b, (const unsigned char *)s, len);
	return sbuf_finish(&b);
}

/* ---- parsing DNs --------------------------------------------------------- */

struct dn_cursor {
	const char *start;      /* offsets in messages count from here */
	const char *p;
	const char *end;
	struct ds_error *err;
};

static int
dn_fail_at(const struct dn_cursor *c, const char *at, const char *what)
{
	return ds_error_set(c->err, "malformed DN at offset %zu: %s",
	    (size_t)(at - c->start), what);
}

static void
dn_skip_spaces(struct dn_cursor *c)
{
	while (c->p < c->end && *c->p == ' ')
		c->p++;
}

static bool
dn_at_separator(const struct dn_cursor *c)
{
	return c->p < c->end && (*c->p == ',' || *c->p == ';' || *c->p == '+');
}

/* c->p is at a backslash.  RFC 4514 §3: "\" is followed by two hex digits
 * or by one of the special characters.  We also take any other ASCII
 * punctuation after "\" as itself (some servers escape '/' or '*'),
 * but a letter or digit that is not a hex pair is an error: it is the
 * first sign of a truncated or hand-mangled DN. */
static int
dn_scan_escape(struct dn_cursor *c, struct sbuf *raw)
{
	const char *bs = c->p++;
	unsigned char ch;
	int hi;

	if (c->p >= c->end)
		return dn_fail_at(c, bs, "unterminated escape");
	ch = (unsigned char)*c->p;
	hi = hex_value(ch);
	if (hi >= 0) {
		int lo = c->p + 1 < c->end ?
		    hex_value((unsigned char)c->p[1]) : -1;

		if (lo < 0)
			return dn_fail_at(c, bs,
			    "bad hex escape (\\ needs two hex digits)");
		sbuf_putc(raw, (unsigned char)(hi << 4 | lo));
		c->p += 2;
		return 0;
	}
	if (ch >= 0x20 && ch < 0x7f && !is_alpha(ch)) {
		sbuf_putc(raw, ch);
		c->p++;
		return 0;
	}
	return dn_fail_at(c, bs, "invalid escape");
}

/* A value in string form, up to an unescaped ',' ';' '+' or the end,
 * with escapes resolved into raw.  With trim, unescaped trailing spaces
 * are dropped: RFC 4514 §2.4 makes a significant trailing space be
 * escaped, so an unescaped one is the padding older servers (RFC 1779
 * style) put before a separator. */
static int
dn_scan_string(struct dn_cursor *c, struct sbuf *raw, bool trim)
{
	size_t keep = raw->len;

	while (c->p < c->end && !dn_at_separator(c)) {
		unsigned char ch = (unsigned char)*c->p;

		if (ch == '\\') {
			if (dn_scan_escape(c, raw) < 0)
				return -1;
			keep = raw->len;
			continue;
		}
		if (ch == '\0')
			return dn_fail_at(c, c->p, "NUL byte (write it \\00)");
		sbuf_putc(raw, ch);
		c->p++;
		if (ch != ' ' || !trim)
			keep = raw->len;
	}
	raw->len = keep;
	return 0;
}

/* RFC 1779 §2.3 quoted value: separators inside are literal; "\" still
 * escapes (RFC 2253 §4 wrote '"' and '\' that way). */
static int
dn_scan_quoted(struct dn_cursor *c, struct sbuf *raw)
{
	const char *open = c->p++;

	while (c->p < c->end && *c->p != '"') {
		if (*c->p == '\\') {
			if (dn_scan_escape(c, raw) < 0)
				return -1;
			continue;
		}
		sbuf_putc(raw, (unsigned char)*c->p++);
	}
	if (c->p >= c->end)
		return dn_fail_at(c, open, "unterminated quoted value");
	c->p++;
	dn_skip_spaces(c);
	return 0;
}

/* RFC 4514 §2.4 '#' hexstring (BER of the value): kept as is, lower-cased;
 * without the schema we cannot turn it into a string. */
static int
dn_scan_ber(struct dn_cursor *c, struct sbuf *out)
{
	const char *hash = c->p++;
	size_t n = 0;

	sbuf_putc(out, '#');
	while (c->p < c->end && hex_value((unsigned char)*c->p) >= 0) {
		sbuf_putc(out, to_lower((unsigned char)*c->p++));
		n++;
	}
	if (n == 0 || n % 2 != 0)
		return dn_fail_at(c, hash, "bad hex in #-value");
	dn_skip_spaces(c);
	return 0;
}

/* RFC 4514 §3 attributeType: descr (ALPHA *(ALPHA / DIGIT / "-")) or
 * numericoid (number 1*("." number)), written lower-cased into out. */
static int
dn_scan_type(struct dn_cursor *c, struct sbuf *out)
{
	const char *t = c->p;
	unsigned char ch;

	/* RFC 1779 §2.3 allowed "OID.2.5.4.3"; the prefix carries nothing. */
	if (c->end - t > 4 && to_lower((unsigned char)t[0]) == 'o' &&
	    to_lower((unsigned char)t[1]) == 'i' &&
	    to_lower((unsigned char)t[2]) == 'd' && t[3] == '.' &&
	    is_digit((unsigned char)t[4]))
		c->p += 4;
	if (c->p >= c->end || *c->p == '=' || dn_at_separator(c) ||
	    *c->p == ' ')
		return dn_fail_at(c, c->p, "empty attribute type");
	ch = (unsigned char)*c->p;
	if (is_alpha(ch)) {
		while (c->p < c->end && (is_alpha((unsigned char)*c->p) ||
		    is_digit((unsigned char)*c->p) || *c->p == '-'))
			sbuf_putc(out, to_lower((unsigned char)*c->p++));
	} else if (is_digit(ch)) {
		const char *dot = NULL;

		while (c->p < c->end && (is_digit((unsigned char)*c->p) ||
		    *c->p == '.')) {
			if (*c->p == '.') {
				if (dot == c->p - 1)
					return dn_fail_at(c, c->p,
					    "bad numeric OID");
				dot = c->p;
			}
			sbuf_putc(out, (unsigned char)*c->p++);
		}
		if (dot == NULL || dot == c->p - 1)
			return dn_fail_at(c, t, "bad numeric OID");
	} else
		return dn_fail_at(c, c->p, "invalid character in attribute type");
	return 0;
}

/* One attributeTypeAndValue, normalised into out as "type=value". */
static int
dn_scan_ava(struct dn_cursor *c, struct sbuf *out)
{
	struct sbuf raw = { 0 };
	int rc = 0;

	if (dn_scan_type(c, out) < 0)
		return -1;
	dn_skip_spaces(c);
	if (c->p >= c->end || *c->p != '=')
		return dn_fail_at(c, c->p, "missing '=' after attribute type");
	sbuf_putc(out, '=');
	c->p++;
	dn_skip_spaces(c);
	if (c->p < c->end && *c->p == '#')
		return dn_scan_ber(c, out);
	if (c->p < c->end && *c->p == '"')
		rc = dn_scan_quoted(c, &raw);
	else
		rc = dn_scan_string(c, &raw, true);
	if (rc == 0) {
		struct sbuf folded = { 0 };

		fold_into(&folded, (const unsigned char *)raw.buf, raw.len);
		escape_dn_into(out, (const unsigned char *)folded.buf,
		    folded.len);
		if (folded.oom)
			out->oom = true;
		sbuf_free(&folded);
	}
	if (raw.oom)
		out->oom = true;
	sbuf_free(&raw);
	return rc;
}

/* The AVAs of one RDN, kept until the RDN ends so they can be sorted. */
struct dn_rdn {
	char **avas;
	size_t count;
	size_t cap;
};

static void
dn_rdn_clear(struct dn_rdn *r)
{
	for (size_t i = 0; i < r->count; i++)
		free(r->avas[i]);
	r->count = 0;
}

static int
dn_rdn_push(struct dn_rdn *r, char *ava)
{
	if (r->count == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 4;
		char **p = realloc(r->avas, cap * sizeof(*p));

		if (p == NULL)
			return -1;
		r->avas = p;
		r->cap = cap;
	}
	r->avas[r->count++] = ava;
	return 0;
}

static int
dn_ava_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the finished RDN, its AVAs in bytewise order (RFC 4514 §2.2
 * says their order is not significant), and empties it. */
static void
dn_rdn_flush(struct dn_rdn *r, struct sbuf *out)
{
	qsort(r->avas, r->count, sizeof(*r->avas), dn_ava_cmp);
	if (out->len > 0)
		sbuf_putc(out, ',');
	for (size_t i = 0; i < r->count; i++) {
		if (i > 0)
			sbuf_putc(out, '+');
		sbuf_put(out, r->avas[i], strlen(r->avas[i]));
	}
	dn_rdn_clear(r);
}

/* Reads one AVA and the separator after it; returns 1 at the end of the
 * DN.  A separator is always followed by another AVA, so "cn=a," and
 * "cn=a+" fail in dn_scan_type ("empty attribute type"). */
static int
dn_scan_step(struct dn_cursor *c, struct dn_rdn *rdn, struct sbuf *out)
{
	struct sbuf ava = { 0 };
	char *s;
	char sep;

	if (dn_scan_ava(c, &ava) < 0) {
		sbuf_free(&ava);
		return -1;
	}
	if (c->p < c->end && !dn_at_separator(c)) {
		sbuf_free(&ava);
		return dn_fail_at(c, c->p, "unexpected character after value");
	}
	s = sbuf_finish(&ava);
	if (s == NULL || dn_rdn_push(rdn, s) < 0) {
		free(s);
		return ds_error_set(c->err, "out of memory normalising a DN");
	}
	sep = c->p < c->end ? *c->p : '\0';
	if (sep != '+')
		dn_rdn_flush(rdn, out);
	if (sep == '\0')
		return 1;
	c->p++;
	dn_skip_spaces(c);
	return 0;
}

/* Whether c may appear in a value the fast path copies: printable ASCII
 * that escape_dn_into() leaves alone anywhere, and that the parser reads
 * as itself ('=' is accepted leniently there, so it goes the long way). */
static bool
dn_plain_value_char(unsigned char c)
{
	return c > ' ' && c < 0x7f && c != '"' && c != '+' && c != ',' &&
	    c != ';' && c != '<' && c != '>' && c != '\\' && c != '=';
}

/* Most DNs a directory sends are already canonical but for case:
 * "uid=Anna.Schmidt,ou=People,dc=example,dc=com".  For those - every RDN
 * one descr type and a non-empty value of plain ASCII (spaces only
 * inside), nothing to unescape, fold beyond ASCII, sort or re-escape -
 * the canonical form is the lower-cased text, made in one pass without
 * the parser's allocations (an initial sync normalises some 300,000 DNs
 * per 100,000 users).  Returns false, having written nothing, for any DN
 * that needs the full parser; test_escape checks that both agree. */
static bool
dn_normalize_plain(const char *dn, char **out)
{
	size_t len = strlen(dn);
	const unsigned char *s = (const unsigned char *)dn;
	size_t i = 0;
	char *o;

	if (len == 0)
		return false;
	while (i < len) {
		size_t v;

		/* descr: a letter, then letters, digits and '-' */
		if (!((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z'))
			return false;
		while (i < len && (((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			i++;
		if (i == len || s[i] != '=')
			return false;
		v = ++i;
		while (i < len && (dn_plain_value_char(s[i]) || s[i] == ' '))
			i++;
		if (i == v || s[v] == ' ' || s[v] == '#' || s[i - 1] == ' ')
			return false;
		if (i < len && (s[i] != ',' || i + 1 == len))
			return false;
		i++;
	}
	o = malloc(len + 1);
	if (o == NULL)
		return false;
	for (i = 0; i < len; i++)
		o[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] | 0x20 : s[i]);
	o[len] = '\0';
	*out = o;
	return true;
}

int
dn_normalize(const char *dn, char **out, struct ds_error *err)
{
	*out = NULL;
	if (dn_normalize_plain(dn, out))
		return 0;
	return dn_normalize_parsed(dn, out, err);
}

int
dn_normalize_parsed(const char *dn, char **out, struct ds_error *err)
{
	/* err is only written to; cppcheck takes storing the pointer for a
	 * read of the callers' uninitialised struct ds_error. */
	/* cppcheck-suppress ctuuninitvar */
	struct dn_cursor c = { dn, dn, dn + strlen(dn), err };
	struct dn_rdn rdn = { 0 };
	struct sbuf res = { 0 };
	int rc = 0;

	*out = NULL;
	dn_skip_spaces(&c);
	if (c.p < c.end) {
		do
			rc = dn_scan_step(&c, &rdn, &res);
		while (rc == 0);
	}
	dn_rdn_clear(&rdn);
	free(rdn.avas);
	if (rc < 0) {
		sbuf_free(&res);
		return -1;
	}
	*out = sbuf_finish(&res);
	if (*out == NULL)
		return ds_error_set(err, "out of memory normalising a DN");
	return 0;
}

int
dn_value_unescape(const char *s, size_t len, char **out, size_t *outlen,
    struct ds_error *err)
{
	struct dn_cursor c = { s, s, s + len, err };
	struct sbuf raw = { 0 };

	*out = NULL;
	*outlen = 0;
	if (len > 0 && s[0] == '#')
		return ds_error_set(err, "DN value starts with an unescaped "
		    "'#' (BER form, RFC 4514 §2.4)");
	sbuf_reserve(&raw, len);
	if (dn_scan_string(&c, &raw, false) < 0) {
		sbuf_free(&raw);
		return -1;
	}
	if (c.p < c.end) {
		sbuf_free(&raw);
		return dn_fail_at(&c, c.p, "unescaped separator in value");
	}
	*outlen = raw.len;
	*out = sbuf_finish(&raw);
	if (*out == NULL) {
		*outlen = 0;
		return ds_error_set(err, "out of memory unescaping a DN value");
	}
	return 0;
}

/* ---- normalised DNs ------------------------------------------------------
 * In a normalised DN every ',' that is not a separator follows a
 * backslash, and hex escapes never contain ',', so skipping the one
 * character after each backslash is enough to find RDN boundaries. */

const char *
dn_parent(const char *ndn)
{
	for (const char *p = ndn; *p != '\0'; p++) {
		if (*p == '\\') {
			if (p[1] == '\0')
				return NULL;
			p++;
		} else if (*p == ',')
			return p + 1;
	}
	return NULL;
}

bool
dn_is_under(const char *ndn, const char *nbase)
{
	size_t blen = strlen(nbase);
	size_t dlen = strlen(ndn);

	if (blen == 0)
		return true;
	for (const char *p = ndn; p != NULL; p = dn_parent(p))
		if (dlen - (size_t)(p - ndn) == blen && strcmp(p, nbase) == 0)
			return true;
	return false;
}
