/* test_escape.c - escape.c against hostile input: every special character,
 * NUL, invalid UTF-8, injection attempts, huge values, and the same DN as
 * OpenLDAP, 389-ds and AD spell it.  Table-driven; must never need a
 * server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "escape.h"

/* A string literal that may contain NUL, as (pointer, length). */
#define BYTES(s) s, sizeof(s) - 1

/* ---- helpers -------------------------------------------------------------- */

static char *
must_normalize(const char *dn)
{
	struct ds_error err = { "" };
	char *out = NULL;

	if (dn_normalize(dn, &out, &err) != 0)
		fail_msg("dn_normalize(\"%s\") failed: %s", dn, err.msg);
	assert_non_null(out);
	return out;
}

/* Every '\' starts a two-hex-digit escape and the string is well-formed
 * UTF-8 (RFC 4515 §3 asks for both of a filter value). */
static void
assert_filter_safe(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; u[i] != '\0'; i++) {
		if (u[i] == '\\') {
			assert_non_null(strchr("0123456789abcdef", u[i + 1]));
			assert_true(u[i + 1] != '\0' && u[i + 2] != '\0');
			assert_non_null(strchr("0123456789abcdef", u[i + 2]));
			i += 2;
			continue;
		}
		assert_null(strchr("*()", u[i]));
		assert_true(u[i] >= 0x20 && u[i] != 0x7f);
		if (u[i] >= 0x80) {
			size_t n = u[i] >= 0xf0 ? 4 : u[i] >= 0xe0 ? 3 : 2;

			assert_true(u[i] >= 0xc2 && u[i] <= 0xf4);
			for (size_t k = 1; k < n; k++)
				assert_true(u[i + k] >= 0x80 && u[i + k] <= 0xbf);
			i += n - 1;
		}
	}
}

/* ---- escape_filter_value -------------------------------------------------- */

struct filter_case {
	const char *in;
	size_t len;
	const char *want;
};

static const struct filter_case filter_cases[] = {
	{ BYTES(""), "" },
	{ BYTES("jsmith"), "jsmith" },
	/* RFC 4515 §3: the five octets that must be escaped */
	{ BYTES("*"), "\\2a" },
	{ BYTES("("), "\\28" },
	{ BYTES(")"), "\\29" },
	{ BYTES("\\"), "\\5c" },
	{ BYTES("\0"), "\\00" },
	{ BYTES("a\0b"), "a\\00b" },
	{ BYTES("\0\0"), "\\00\\00" },
	{ BYTES("\\2a"), "\\5c2a" },
	/* injection attempts */
	{ BYTES("*)(uid=*))(|(uid=*"),
	    "\\2a\\29\\28uid=\\2a\\29\\29\\28|\\28uid=\\2a" },
	{ BYTES("admin)(|(objectClass=*)"),
	    "admin\\29\\28|\\28objectClass=\\2a\\29" },
	{ BYTES("x\0)(uid=root"), "x\\00\\29\\28uid=root" },
	/* filter syntax outside a value is harmless inside one */
	{ BYTES("&|!=<>~:,+;#\" "), "&|!=<>~:,+;#\" " },
	/* controls: allowed to escape, and we do (one log line) */
	{ BYTES("a\nb\r\t\x7f"), "a\\0ab\\0d\\09\\7f" },
	{ BYTES("\x1b[31m"), "\\1b[31m" },
	/* well-formed UTF-8 stays as is */
	{ BYTES("José Müller"), "José Müller" },
	{ BYTES("山田太郎"), "山田太郎" },
	{ BYTES("Ελληνικά"), "Ελληνικά" },
	{ BYTES("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80" },   /* U+1F600 */
	/* not UTF-8: every offending octet escaped */
	{ BYTES("\xff"), "\\ff" },
	{ BYTES("Jos\xe9"), "Jos\\e9" },                      /* Latin-1 é */
	{ BYTES("\xc3"), "\\c3" },                            /* truncated */
	{ BYTES("\xc3("), "\\c3\\28" },
	{ BYTES("\x80\xbf"), "\\80\\bf" },                    /* stray */
	{ BYTES("\xc0\xaf"), "\\c0\\af" },                    /* overlong / */
	{ BYTES("\xe0\x80\xaf"), "\\e0\\80\\af" },            /* overlong */
	{ BYTES("\xed\xa0\x80"), "\\ed\\a0\\80" },            /* surrogate */
	{ BYTES("\xf4\x90\x80\x80"), "\\f4\\90\\80\\80" },    /* > 10FFFF */
	{ BYTES("\xf8\x88\x80\x80\x80"), "\\f8\\88\\80\\80\\80" },
	/* an objectGUID searched by value */
	{ BYTES("\x78\x56\x34\x12\x34\x12\x78\x56\x9a\xbc\0\x28"),
	    "xV4\\124\\12xV\\9a\\bc\\00\\28" },
};

static void
test_filter_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(filter_cases) / sizeof(*filter_cases);
	     i++) {
		const struct filter_case *c = &filter_cases[i];
		char *got = escape_filter_value(c->in, c->len);

		assert_non_null(got);
		if (strcmp(got, c->want) != 0)
			fail_msg("case %zu: got \"%s\" want \"%s\"", i, got,
			    c->want);
		assert_filter_safe(got);
		free(got);
	}
}

static void
test_filter_every_byte(void **state)
{
	char in[2];

	(void)state;
	for (unsigned a = 0; a < 256; a++) {
		for (unsigned b = 0; b < 256; b++) {
			char *got;

			in[0] = (char)a;
			in[1] = (char)b;
			got = escape_filter_value(in, 2);
			assert_non_null(got);
			assert_filter_safe(got);
			free(got);
		}
	}
}

static void
test_filter_long(void **state)
{
	size_t n = 1 << 20;
	char *in = malloc(n);
	char *got;

	(void)state;
	assert_non_null(in);
	memset(in, '*', n);
	got = escape_filter_value(in, n);
	assert_non_null(got);
	assert_int_equal(strlen(got), 3 * n);
	assert_memory_equal(got + 3 * n - 3, "\\2a", 3);
	free(got);
	memset(in, 'a', n);
	got = escape_filter_value(in, n);
	assert_int_equal(strlen(got), n);
	free(got);
	free(in);
}

/* ---- escape_dn_value and its inverse -------------------------------------- */

struct dnval_case {
	const char *in;
	size_t len;
	const char *want;       /* escape_dn_value() */
	const char *folded;     /* value as dn_normalize() keeps it */
};

static const struct dnval_case dnval_cases[] = {
	{ BYTES(""), "", "" },
	{ BYTES("jsmith"), "jsmith", "jsmith" },
	{ BYTES("Smith, John"), "Smith\\, John", "smith, john" },
	/* RFC 4514 §2.4 specials anywhere */
	{ BYTES("\""), "\\\"", "\"" },
	{ BYTES("+"), "\\+", "+" },
	{ BYTES(","), "\\,", "," },
	{ BYTES(";"), "\\;", ";" },
	{ BYTES("<"), "\\<", "<" },
	{ BYTES(">"), "\\>", ">" },
	{ BYTES("\\"), "\\\\", "\\" },
	{ BYTES("a\"+,;<>\\b"), "a\\\"\\+\\,\\;\\<\\>\\\\b", "a\"+,;<>\\b" },
	/* position-dependent: leading ' ' '#', trailing ' ' */
	{ BYTES(" lead"), "\\ lead", " lead" },
	{ BYTES("trail "), "trail\\ ", "trail " },
	{ BYTES(" "), "\\ ", " " },
	{ BYTES("  "), "\\ \\ ", "  " },
	{ BYTES("   "), "\\  \\ ", "   " },
	{ BYTES("a b"), "a b", "a b" },
	{ BYTES("#1"), "\\#1", "#1" },
	{ BYTES("a#"), "a#", "a#" },
	{ BYTES("#"), "\\#", "#" },
	{ BYTES("=a=b="), "=a=b=", "=a=b=" },
	/* NUL, controls and non-UTF-8 as \XX */
	{ BYTES("\0"), "\\00", "\0" },
	{ BYTES("a\0b"), "a\\00b", "a\0b" },
	{ BYTES("x\nDEL:1"), "x\\0aDEL:1", "x\ndel:1" },
	{ BYTES("\x7f"), "\\7f", "\x7f" },
	{ BYTES("\xff\xfe"), "\\ff\\fe", "\xff\xfe" },
	{ BYTES("Jos\xe9"), "Jos\\e9", "jos\xe9" },
	{ BYTES("\xed\xa0\x80"), "\\ed\\a0\\80", "\xed\xa0\x80" },
	/* injection attempts: must stay one value of one RDN */
	{ BYTES("x,ou=admins"), "x\\,ou=admins", "x,ou=admins" },
	{ BYTES("a+uid=root"), "a\\+uid=root", "a+uid=root" },
	{ BYTES("x\\,cn=y"), "x\\\\\\,cn=y", "x\\,cn=y" },
	{ BYTES("*)(uid=*))(|(uid=*"), "*)(uid=*))(|(uid=*",
	    "*)(uid=*))(|(uid=*" },
	{ BYTES(" #,+\0 "), "\\ #\\,\\+\\00\\ ", " #,+\0 " },
	/* non-ASCII */
	{ BYTES("José Müller"), "José Müller", "josé müller" },
	{ BYTES("山田太郎"), "山田太郎", "山田太郎" },
	{ BYTES("ΕΛΛΗΝΙΚΆ"), "ΕΛΛΗΝΙΚΆ", "ελληνικά" },
	{ BYTES("ЁЛКИ"), "ЁЛКИ", "ёлки" },
};

static void
test_dnval_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dnval_cases) / sizeof(*dnval_cases);
	     i++) {
		const struct dnval_case *c = &dnval_cases[i];
		struct ds_error err = { "" };
		char *got = escape_dn_value(c->in, c->len);
		char *back = NULL;
		size_t backlen = 0;

		assert_non_null(got);
		if (strcmp(got, c->want) != 0)
			fail_msg("case %zu: got \"%s\" want \"%s\"", i, got,
			    c->want);
		/* round trip: the escaped form parses back to the bytes */
		assert_int_equal(dn_value_unescape(got, strlen(got), &back,
		    &backlen, &err), 0);
		assert_int_equal(backlen, c->len);
		assert_memory_equal(back, c->in, c->len);
		assert_int_equal(back[backlen], '\0');
		free(back);
		free(got);
	}
}

/* The escaped value pasted into a DN stays one value of the first RDN:
 * the parent is untouched and the value is what went in (folded). */
static void
test_dnval_in_dn(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dnval_cases) / sizeof(*dnval_cases);
	     i++) {
		const struct dnval_case *c = &dnval_cases[i];
		char *esc = escape_dn_value(c->in, c->len);
		char dn[512];
		char *ndn, *val = NULL;
		const char *parent;
		size_t vlen = 0;
		struct ds_error err = { "" };

		assert_non_null(esc);
		snprintf(dn, sizeof(dn), "CN=%s,DC=Example,DC=COM", esc);
		ndn = must_normalize(dn);
		parent = dn_parent(ndn);
		assert_non_null(parent);
		assert_string_equal(parent, "dc=example,dc=com");
		assert_memory_equal(ndn, "cn=", 3);
		assert_int_equal(dn_value_unescape(ndn + 3,
		    (size_t)(parent - 1 - (ndn + 3)), &val, &vlen, &err), 0);
		/* every folding in the table keeps the UTF-8 length */
		assert_int_equal(vlen, c->len);
		assert_memory_equal(val, c->folded, c->len);
		free(val);
		free(ndn);
		free(esc);
	}
}

static void
test_dnval_every_pair(void **state)
{
	char in[2];

	(void)state;
	for (unsigned a = 0; a < 256; a++) {
		for (unsigned b = 0; b < 256; b++) {
			struct ds_error err = { "" };
			char *esc, *back = NULL, *ndn = NULL;
			char dn[64];
			size_t backlen = 0;

			in[0] = (char)a;
			in[1] = (char)b;
			esc = escape_dn_value(in, 2);
			assert_non_null(esc);
			assert_int_equal(dn_value_unescape(esc, strlen(esc),
			    &back, &backlen, &err), 0);
			assert_int_equal(backlen, 2);
			assert_memory_equal(back, in, 2);
			snprintf(dn, sizeof(dn), "cn=%s,dc=x", esc);
			assert_int_equal(dn_normalize(dn, &ndn, &err), 0);
			assert_string_equal(dn_parent(ndn), "dc=x");
			free(ndn);
			free(back);
			free(esc);
		}
	}
}

static void
test_dnval_long(void **state)
{
	size_t n = 1 << 16;
	char *in = malloc(n);
	char *esc, *back = NULL;
	size_t backlen = 0;
	struct ds_error err = { "" };

	(void)state;
	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		in[i] = ",+; \\#\0a"[i % 8];
	esc = escape_dn_value(in, n);
	assert_non_null(esc);
	assert_int_equal(dn_value_unescape(esc, strlen(esc), &back, &backlen,
	    &err), 0);
	assert_int_equal(backlen, n);
	assert_memory_equal(back, in, n);
	free(back);
	free(esc);
	free(in);
}

struct unescape_err_case {
	const char *in;
	const char *msg;
};

static const struct unescape_err_case unescape_errs[] = {
	{ "a,b", "unescaped separator" },
	{ "a+b", "unescaped separator" },
	{ "a;b", "unescaped separator" },
	{ "#04", "BER" },
	{ "a\\", "unterminated escape" },
	{ "a\\4", "bad hex" },
	{ "a\\4x", "bad hex" },
	{ "a\\q", "invalid escape" },
};

static void
test_unescape_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(unescape_errs) / sizeof(*unescape_errs);
	     i++) {
		struct ds_error err = { "" };
		char *out = (char *)"untouched";
		size_t outlen = 99;

		assert_int_equal(dn_value_unescape(unescape_errs[i].in,
		    strlen(unescape_errs[i].in), &out, &outlen, &err), -1);
		assert_null(out);
		assert_int_equal(outlen, 0);
		if (strstr(err.msg, unescape_errs[i].msg) == NULL)
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"",
			    unescape_errs[i].in, err.msg, unescape_errs[i].msg);
	}
	/* a raw NUL inside the given length is not a valid DN string */
	{
		struct ds_error err = { "" };
		char *out;
		size_t outlen;

		assert_int_equal(dn_value_unescape(BYTES("a\0b"), &out,
		    &outlen, &err), -1);
		assert_non_null(strstr(err.msg, "NUL"));
	}
}

/* ---- dn_normalize ---------------------------------------------------------- */

/* Every spelling in a group normalises to want. */
struct norm_case {
	const char *want;
	const char *spellings[8];
};

static const struct norm_case norm_cases[] = {
	{ "cn=smith\\, john,ou=people,dc=example,dc=com", {
		/* AD: upper-case types, backslash-special escapes */
		"CN=Smith\\, John,OU=People,DC=Example,DC=COM",
		/* hex escapes, as normalised forms and some clients write */
		"cn=smith\\2c john, ou=people,dc=example,dc=com",
		"cn=Smith\\2C John,ou=People,dc=example,dc=com",
		/* a member value typed with spaces after the commas */
		"cn=Smith\\, John, ou=People, dc=example, dc=com",
		"cn = Smith\\, John ; ou = People ; dc = example ; dc = com",
		"cn=\"Smith, John\",ou=people,dc=example,dc=com",   /* RFC 1779 */
		"  CN=SMITH\\, JOHN  ,  OU=PEOPLE,DC=EXAMPLE,DC=COM  " } },
	{ "cn=josé müller,ou=people,dc=example,dc=com", {
		"cn=José Müller,ou=people,dc=example,dc=com",
		"CN=JOSÉ MÜLLER,OU=People,DC=example,DC=com",
		"cn=Jos\\c3\\a9 M\\C3\\BCller,ou=people,dc=example,dc=com",
		"CN=\\4A\\6F\\73\\C3\\A9\\20\\4D\\C3\\BC\\6C\\6C\\65\\72,"
		    "ou=people,dc=example,dc=com" } },
	{ "cn=山田太郎,ou=people", {
		"cn=山田太郎,ou=People",
		"CN=\\E5\\B1\\B1\\E7\\94\\B0\\E5\\A4\\AA\\E9\\83\\8E,OU=people",
		"cn=\\e5\\b1\\b1\\e7\\94\\b0\\e5\\a4\\aa\\e9\\83\\8e , ou=PEOPLE" } },
	{ "cn=ελληνικά,dc=gr", { "cn=Ελληνικά,dc=gr", "CN=ΕΛΛΗΝΙΚΆ,DC=GR" } },
	{ "cn=οδυσσεασ", { "cn=Οδυσσεας", "CN=ΟΔΥΣΣΕΑΣ", "cn=οδυσσεασ" } },
	{ "cn=иван петров,ou=ёлки", { "cn=Иван Петров,ou=Ёлки",
		"CN=ИВАН ПЕТРОВ,OU=ЁЛКИ" } },
	{ "cn=łąć șț àéîõü", { "CN=ŁĄĆ ȘȚ ÀÉÎÕÜ", "cn=łąć șț àéîõü" } },
	{ "cn=straße", { "CN=STRAßE", "cn=Straße" } },
	/* multi-valued RDNs: order of components does not matter */
	{ "cn=john+uid=jsmith,dc=x", { "cn=John+uid=jsmith,dc=x",
		"UID=jsmith + CN=John,dc=x", "uid=JSmith+cn=john ,DC=X" } },
	{ "a=1+b=2+c=3", { "c=3+b=2+a=1", "b=2+a=1+c=3", "A=1+C=3+B=2" } },
	/* '#'-hex BER values kept, lower-cased */
	{ "uid=#04024869,dc=x", { "uid=#04024869,dc=x", "UID=#04024869 ,DC=x" } },
	{ "uid=#0402ab69", { "uid=#0402AB69" } },
	/* numeric OIDs kept; the RFC 1779 "OID." prefix dropped */
	{ "2.5.4.3=x,dc=y", { "OID.2.5.4.3=X,DC=Y", "2.5.4.3=x,dc=y",
		"oid.2.5.4.3 = x , dc = y" } },
	/* escaped spaces are significant, unescaped padding is not */
	{ "cn=\\ a\\ ,dc=x", { "cn=\\ a\\ ,dc=x", "cn=\\20a\\20,dc=x",
		"cn= \\ a\\  ,dc=x" } },
	{ "cn=a,dc=x", { "cn= a ,dc=x", "cn=a   ,   dc=x" } },
	{ "cn=a b,dc=x", { "cn=a b,dc=x", "cn=a\\20b,dc=x", "cn=a\\ b,dc=x" } },
	/* '#' not at the start is plain; at the start it is escaped */
	{ "cn=\\#1,dc=x", { "cn=\\#1,dc=x", "cn=\\231,dc=x" } },
	{ "cn=1#", { "cn=1\\23", "cn=1#" } },
	/* NUL, controls (AD's deleted objects) and non-UTF-8 as \XX */
	{ "cn=a\\00b", { "cn=a\\00b" } },
	{ "cn=foo\\0adel:0a1b,cn=deleted objects,dc=x", {
		"CN=foo\\0ADEL:0a1b,CN=Deleted Objects,DC=x" } },
	{ "cn=\\ff\\c3", { "cn=\\FF\\C3", "cn=\\ff\\c3" } },
	/* escapes resolved and re-escaped minimally */
	{ "cn=a=b", { "cn=a=b", "cn=a\\=b", "cn=a\\3db", "cn=\"a=b\"" } },
	{ "cn=a/b*c", { "cn=a\\/b\\*c", "cn=a/b*c" } },
	{ "cn=a\\<b\\>\\\"", { "cn=a<b>\"", "cn=a\\<b\\>\\\"",
		"cn=a\\3cb\\3e\\22" } },
	{ "cn=\\\\", { "cn=\\\\", "cn=\\5c", "cn=\"\\\\\"" } },
	{ "cn=,dc=x", { "cn=,dc=x", "CN= ,DC=x", "cn=\"\",dc=x" } },
	{ "", { "", "   " } },
};

static void
test_normalize_equivalent(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(norm_cases) / sizeof(*norm_cases); i++) {
		const struct norm_case *c = &norm_cases[i];

		for (size_t k = 0; k < 8 && c->spellings[k]; k++) {
			char *got, *again;

			got = must_normalize(c->spellings[k]);
			if (strcmp(got, c->want) != 0)
				fail_msg("\"%s\": got \"%s\" want \"%s\"",
				    c->spellings[k], got, c->want);
			/* idempotent: a normalised DN is its own form */
			again = must_normalize(got);
			assert_string_equal(again, got);
			free(again);
			free(got);
		}
	}
}

/* Pairs that look alike but are different entries. */
static const char *const norm_different[][2] = {
	{ "cn=a\\+b,dc=x", "cn=a+b=c,dc=x" },
	{ "cn=a\\+b=c,dc=x", "cn=a+b=c,dc=x" },
	{ "cn=a\\,dc=x", "cn=a,dc=x" },
	{ "cn=a\\ ", "cn=a" },
	{ "cn=\\ a", "cn=a" },
	{ "cn=x", "2.5.4.3=x" },
	{ "uid=#04024869", "uid=\\#04024869" },
	{ "cn=straße", "cn=strasse" },
	{ "cn=a  b", "cn=a b" },
	{ "cn=a,dc=x", "cn=a+dc=x" },
	{ "cn=josé", "cn=jose" },
	{ "cn=\\00", "cn=" },
};

static void
test_normalize_different(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(norm_different) / sizeof(*norm_different);
	     i++) {
		char *a = must_normalize(norm_different[i][0]);
		char *b = must_normalize(norm_different[i][1]);

		if (strcmp(a, b) == 0)
			fail_msg("\"%s\" and \"%s\" both gave \"%s\"",
			    norm_different[i][0], norm_different[i][1], a);
		free(a);
		free(b);
	}
}

struct norm_err_case {
	const char *in;
	const char *msg;
};

static const struct norm_err_case norm_errs[] = {
	{ "cn=a\\", "offset 4: unterminated escape" },
	{ "cn=a\\4", "bad hex escape" },
	{ "cn=a\\4g", "bad hex escape" },
	{ "cn=a\\g4", "invalid escape" },
	{ "cn=a\\\x01", "invalid escape" },
	{ "cn=a\\\xc3\xa9", "invalid escape" },
	{ "cn", "missing '='" },
	{ "cn a", "missing '='" },
	{ "cn=a,dc", "offset 7: missing '='" },
	{ "c_n=a", "missing '='" },
	{ "=a", "offset 0: empty attribute type" },
	{ " =a", "empty attribute type" },
	{ "cn=a,=b", "empty attribute type" },
	{ "cn=a,", "empty attribute type" },
	{ "cn=a, ", "empty attribute type" },
	{ "cn=a+", "empty attribute type" },
	{ "cn=a;", "empty attribute type" },
	{ ",cn=a", "empty attribute type" },
	{ "cn=a,,dc=x", "empty attribute type" },
	{ "cn=a++sn=b", "empty attribute type" },
	{ "-cn=a", "invalid character in attribute type" },
	{ "é=a", "invalid character in attribute type" },
	{ "(cn=a)", "invalid character in attribute type" },
	{ "1cn=a", "bad numeric OID" },
	{ "1=a", "bad numeric OID" },
	{ "1..2=a", "bad numeric OID" },
	{ "1.2.=a", "bad numeric OID" },
	{ "cn=#", "bad hex in #-value" },
	{ "cn=#0", "bad hex in #-value" },
	{ "cn=#0g", "bad hex in #-value" },
	{ "cn=#00 x", "unexpected character after value" },
	{ "cn=#00x", "unexpected character after value" },
	{ "cn=\"abc", "unterminated quoted value" },
	{ "cn=\"a\"b", "unexpected character after value" },
	{ "cn=\"a\\", "unterminated escape" },
};

static void
test_normalize_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(norm_errs) / sizeof(*norm_errs); i++) {
		struct ds_error err = { "" };
		char *out = (char *)"untouched";

		if (dn_normalize(norm_errs[i].in, &out, &err) != -1)
			fail_msg("\"%s\" accepted as \"%s\"", norm_errs[i].in,
			    out);
		assert_null(out);
		if (strstr(err.msg, norm_errs[i].msg) == NULL)
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"",
			    norm_errs[i].in, err.msg, norm_errs[i].msg);
	}
}

/* A NULL error pointer is allowed: callers that only need yes/no. */
static void
test_normalize_null_err(void **state)
{
	char *out;

	(void)state;
	assert_int_equal(dn_normalize("cn=a\\", &out, NULL), -1);
	assert_null(out);
}

static void
test_normalize_long(void **state)
{
	size_t rdns = 10000, n = rdns * 12 + 16, len = 0;
	char *dn = malloc(n), *ndn;
	const char *p;
	size_t count = 0;

	(void)state;
	assert_non_null(dn);
	for (size_t i = 0; i < rdns; i++)
		len += (size_t)snprintf(dn + len, n - len, "OU=%c\\,%c , ",
		    'A' + (int)(i % 26), 'a' + (int)(i % 26));
	snprintf(dn + len, n - len, "DC=COM");
	ndn = must_normalize(dn);
	for (p = ndn; p != NULL; p = dn_parent(p))
		count++;
	assert_int_equal(count, rdns + 1);
	assert_memory_equal(ndn, "ou=a\\,a,ou=b\\,b,", 16);
	assert_true(dn_is_under(ndn, "dc=com"));
	assert_true(dn_is_under(ndn, dn_parent(dn_parent(ndn))));
	free(ndn);
	free(dn);

	/* one multi-valued RDN of 2000 components, written backwards */
	n = 2000 * 12 + 1;
	dn = malloc(n);
	assert_non_null(dn);
	len = 0;
	for (int i = 1999; i >= 0; i--)
		len += (size_t)snprintf(dn + len, n - len, "%sA%04d=v",
		    i == 1999 ? "" : "+", i);
	ndn = must_normalize(dn);
	assert_memory_equal(ndn, "a0000=v+a0001=v+", 16);
	assert_null(dn_parent(ndn));
	free(ndn);
	free(dn);
}

/* Random DNs from an alphabet of troublemakers: no crash, no leak, and
 * whatever is accepted normalises to a fixed point. */
static void
test_normalize_random(void **state)
{
	static const char alpha[] = "cCn=,;+\\ #\"<>2aF0.\x01\xc3\xa9\xff"
	    "\xce\x91";
	uint32_t seed = 12345;
	char dn[40];
	unsigned ok = 0;

	(void)state;
	for (int iter = 0; iter < 200000; iter++) {
		size_t len;
		char *out = NULL, *again = NULL;
		struct ds_error err = { "" };

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % (sizeof(dn) - 4);
		memcpy(dn, "cn=", 3);
		for (size_t i = 3; i < len + 3; i++) {
			seed = seed * 1103515245u + 12345u;
			dn[i] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
		}
		dn[len + 3] = '\0';
		if (dn_normalize(dn, &out, &err) != 0) {
			assert_null(out);
			assert_true(err.msg[0] != '\0');
			continue;
		}
		ok++;
		if (dn_normalize(out, &again, &err) != 0)
			fail_msg("\"%s\" -> \"%s\" does not parse: %s", dn, out,
			    err.msg);
		if (strcmp(out, again) != 0)
			fail_msg("\"%s\" -> \"%s\" -> \"%s\"", dn, out, again);
		free(again);
		free(out);
	}
	assert_true(ok > 1000);
}

/* dn_normalize() takes a short cut for DNs that are canonical but for
 * ASCII case; it must give exactly what the parser gives, for every DN,
 * and fail where the parser fails.  Random DNs over an alphabet of the
 * characters its test looks at (letters of both cases, digits, '-', '=',
 * ',', '+', ' ', '#', escapes, quotes, non-ASCII), mostly shaped like
 * type=value pairs so that many take the short cut; folded counts the
 * DNs whose canonical form differs from them. */
static void
assert_normalize_agrees(const char *dn, unsigned *folded)
{
	char *a = NULL, *b = NULL;
	struct ds_error ea = { "" }, eb = { "" };
	int ra = dn_normalize(dn, &a, &ea);
	int rb = dn_normalize_parsed(dn, &b, &eb);

	if (ra != rb)
		fail_msg("\"%s\": dn_normalize %d, parser %d (%s)", dn, ra, rb,
		    eb.msg);
	if (ra == 0 && strcmp(a, b) != 0)
		fail_msg("\"%s\": short cut \"%s\", parser \"%s\"", dn, a, b);
	if (ra != 0 && strcmp(ea.msg, eb.msg) != 0)
		fail_msg("\"%s\": errors differ: \"%s\" / \"%s\"", dn, ea.msg,
		    eb.msg);
	if (ra == 0 && strcmp(a, dn) != 0)
		(*folded)++;
	free(a);
	free(b);
}

static void
test_normalize_short_cut(void **state)
{
	static const char *const pieces[] = { "uid", "CN", "dc", "ou",
	    "x-Attr", "2.5.4.3", "=", ",", "+", " ", "#", "\\2c", "\\,",
	    "\"", "Anna", "smith", "o'Neil", "a.b-c_d@x", "\xc3\xa9", "9",
	    ";", "=", ",", "=" };
	uint32_t seed = 4242;
	char dn[128];
	unsigned folded = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(norm_cases) / sizeof(*norm_cases); i++)
		for (size_t k = 0; k < 8 && norm_cases[i].spellings[k]; k++)
			assert_normalize_agrees(norm_cases[i].spellings[k], &folded);
	assert_normalize_agrees("uid=Anna.Schmidt,ou=People,dc=example,dc=com",
	    &folded);
	assert_true(folded > 0);
	for (int iter = 0; iter < 200000; iter++) {
		size_t len = 0, n;

		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % 12;
		dn[0] = '\0';
		for (size_t k = 0; k < n; k++) {
			const char *p;

			seed = seed * 1103515245u + 12345u;
			/* every other piece a separator: type=value,type=value */
			if ((seed >> 20) % 4 != 0)
				p = k % 4 == 1 ? "=" : k % 4 == 3 ? "," :
				    pieces[(seed >> 16) % 6 + (k % 4 == 2) * 13];
			else
				p = pieces[(seed >> 16) % DS_ARRAY_SIZE(pieces)];
			if (len + strlen(p) + 1 > sizeof(dn))
				break;
			memcpy(dn + len, p, strlen(p) + 1);
			len += strlen(p);
		}
		assert_normalize_agrees(dn, &folded);
	}
	assert_true(folded > 1000);
}

/* ---- dn_parent and dn_is_under -------------------------------------------- */

struct parent_case {
	const char *ndn;
	const char *parent;     /* NULL = none */
};

static const struct parent_case parent_cases[] = {
	{ "cn=a,dc=x,dc=y", "dc=x,dc=y" },
	{ "dc=x,dc=y", "dc=y" },
	{ "dc=y", NULL },
	{ "", NULL },
	{ "cn=a\\,b,dc=x", "dc=x" },
	{ "cn=a\\,b", NULL },
	{ "cn=a\\\\,dc=x", "dc=x" },
	{ "cn=a\\\\\\,b,dc=x", "dc=x" },
	{ "cn=a+sn=b\\,c,dc=x", "dc=x" },
	{ "cn=\\00\\2c,dc=x", "dc=x" },
	{ "cn=a\\", NULL },
};

static void
test_parent(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parent_cases) / sizeof(*parent_cases);
	     i++) {
		const char *got = dn_parent(parent_cases[i].ndn);

		if (parent_cases[i].parent == NULL)
			assert_null(got);
		else {
			assert_non_null(got);
			assert_string_equal(got, parent_cases[i].parent);
		}
	}
}

struct under_case {
	const char *dn;         /* as a server might send them */
	const char *base;
	bool under;
};

static const struct under_case under_cases[] = {
	{ "cn=x,dc=example,dc=com", "dc=example,dc=com", true },
	{ "CN=X,OU=People,DC=Example,DC=COM", "dc=example, dc=com", true },
	{ "dc=example,dc=com", "DC=Example,DC=Com", true },
	{ "cn=x,dc=myexample,dc=com", "dc=example,dc=com", false },
	{ "cn=x,dc=example,dc=com", "dc=com", true },
	{ "cn=a\\,dc=com", "dc=com", false },
	{ "cn=a\\2cdc=com", "dc=com", false },
	{ "cn=a+dc=com", "dc=com", false },
	{ "dc=com", "dc=example,dc=com", false },
	{ "", "dc=com", false },
	{ "cn=x,dc=com", "", true },
	{ "", "", true },
	{ "cn=x,ou=a\\,b,dc=com", "ou=a\\,b,dc=com", true },
	{ "cn=x,ou=a\\,b,dc=com", "b,dc=com", false },
	{ "cn=x,ou=people,dc=example,dc=com", "ou=People,DC=Example,DC=COM",
	    true },
	{ "cn=x,ou=people,dc=example,dc=com", "ou=groups,dc=example,dc=com",
	    false },
};

static void
test_is_under(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(under_cases) / sizeof(*under_cases);
	     i++) {
		const struct under_case *c = &under_cases[i];
		char *dn = must_normalize(c->dn);
		char *base;

		/* "b,dc=com" is not a DN; compare it raw */
		if (strcmp(c->base, "b,dc=com") == 0)
			base = strdup(c->base);
		else
			base = must_normalize(c->base);
		if (dn_is_under(dn, base) != c->under)
			fail_msg("case %zu: \"%s\" under \"%s\" should be %s",
			    i, dn, base, c->under ? "true" : "false");
		free(base);
		free(dn);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_table),
		cmocka_unit_test(test_filter_every_byte),
		cmocka_unit_test(test_filter_long),
		cmocka_unit_test(test_dnval_table),
		cmocka_unit_test(test_dnval_in_dn),
		cmocka_unit_test(test_dnval_every_pair),
		cmocka_unit_test(test_dnval_long),
		cmocka_unit_test(test_unescape_errors),
		cmocka_unit_test(test_normalize_equivalent),
		cmocka_unit_test(test_normalize_different),
		cmocka_unit_test(test_normalize_errors),
		cmocka_unit_test(test_normalize_null_err),
		cmocka_unit_test(test_normalize_long),
		cmocka_unit_test(test_normalize_random),
		cmocka_unit_test(test_normalize_short_cut),
		cmocka_unit_test(test_parent),
		cmocka_unit_test(test_is_under),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
