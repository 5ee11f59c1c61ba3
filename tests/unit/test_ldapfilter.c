/* test_ldapfilter.c - the client-side filter: a table of filters against
 * an AD-shaped user and group (as DirSync and a plain search send them),
 * the objectCategory shorthand, bitwise rules and three-valued logic,
 * parse errors for hostile text (unbalanced parentheses, bad escapes,
 * deep nesting, unknown matching rules), a parse fuzz, the attribute list
 * and the scope check. */
#include "ldapfilter.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "escape.h"
#include "ldapconn.h"

static const unsigned char guid[16] = { 0x37, 0x3b, 0xa0, 0xa4, 0x5d, 0xe5,
	0x36, 0x46, 0xbc, 0x36, 0x0a, 0x12, 0xd8, 0xf9, 0x1d, 0x00 };

static void
add(struct ldapconn_entry *e, const char *attr, const char *value)
{
	assert_int_equal(ldapconn_entry_add_value(e, attr, value, strlen(value)), 0);
}

static struct ldapconn_entry *
make_user(void)
{
	struct ldapconn_entry *e = ldapconn_entry_new("CN=Alice Ab,OU=People,DC=dsx,DC=test");

	assert_non_null(e);
	add(e, "objectClass", "top");
	add(e, "objectClass", "person");
	add(e, "objectClass", "organizationalPerson");
	add(e, "objectClass", "user");
	/* DirSync sends objectCategory as an extended DN. */
	add(e, "objectCategory", "<GUID=67fa21e7-efc7-4f70-8714-c1f5a6f7f2ca>;"
	    "CN=Person,CN=Schema,CN=Configuration,DC=dsx,DC=test");
	add(e, "sAMAccountName", "Alice");
	add(e, "mail", "alice@dsx.test");
	add(e, "userAccountControl", "514");
	add(e, "uSNChanged", "10");
	add(e, "description", "not a number");
	add(e, "manager", "CN=Bob Bb,OU=People,DC=dsx,DC=test");
	assert_int_equal(ldapconn_entry_add_value(e, "objectGUID", guid, 16), 0);
	return e;
}

static struct ldapconn_entry *
make_group(void)
{
	struct ldapconn_entry *e = ldapconn_entry_new("CN=Team1,OU=People,DC=dsx,DC=test");

	assert_non_null(e);
	add(e, "objectClass", "top");
	add(e, "objectClass", "group");
	add(e, "objectCategory", "CN=Group,CN=Schema,CN=Configuration,DC=dsx,DC=test");
	add(e, "groupType", "-2147483646");
	add(e, "member", "CN=Alice Ab,OU=People,DC=dsx,DC=test");
	add(e, "member", "CN=Smith\\, John,OU=People,DC=dsx,DC=test");
	return e;
}

static bool
matches(const char *text, const struct ldapconn_entry *e)
{
	struct ldapfilter *f;
	struct ds_error err;
	bool m;

	if (ldapfilter_parse(text, &f, &err) != 0)
		fail_msg("%s: %s", text, err.msg);
	m = ldapfilter_match(f, e);
	ldapfilter_free(f);
	return m;
}

static void
test_match_user(void **state)
{
	static const struct {
		const char *filter;
		bool want;
	} t[] = {
		{ "(objectClass=user)", true },
		{ "(OBJECTCLASS=USER)", true },
		{ "(objectClass=group)", false },
		{ "(objectClass=*)", true },
		{ "(objectCategory=person)", true },
		{ "(objectCategory=Person)", true },
		{ "(objectCategory=user)", true },
		{ "(objectCategory=group)", false },
		{ "(objectCategory=pers)", false },
		{ "(objectCategory=CN=Person,CN=Schema,CN=Configuration,DC=dsx,DC=test)", true },
		{ "(objectCategory=cn=person, cn=schema,cn=configuration,dc=DSX,dc=test)", true },
		{ "(objectCategory=CN=Person,CN=Schema,CN=Configuration,DC=other)", false },
		{ "(&(objectCategory=person)(objectClass=user))", true },
		{ "(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))", false },
		{ "(userAccountControl:1.2.840.113556.1.4.803:=2)", true },
		{ "(userAccountControl:1.2.840.113556.1.4.803:=3)", false },
		{ "(userAccountControl:1.2.840.113556.1.4.804:=3)", true },
		{ "(userAccountControl:1.2.840.113556.1.4.804:=1)", false },
		/* Undefined (not an integer) is not TRUE, nor is its negation. */
		{ "(description:1.2.840.113556.1.4.803:=1)", false },
		{ "(!(description:1.2.840.113556.1.4.803:=1))", false },
		{ "(|(description:1.2.840.113556.1.4.803:=1)(mail=*))", true },
		{ "(&(description:1.2.840.113556.1.4.803:=1)(cn=nobody))", false },
		{ "(!(&(description:1.2.840.113556.1.4.803:=1)(cn=nobody)))", true },
		{ "(sAMAccountName=alice)", true },
		{ "(sAMAccountName~=ALICE)", true },
		{ "(sAMAccountName=al*)", true },
		{ "(sAMAccountName=*IC*)", true },
		{ "(sAMAccountName=*ce)", true },
		{ "(sAMAccountName=a*i*e)", true },
		{ "(sAMAccountName=a*x*e)", false },
		{ "(sAMAccountName=alice*e)", false },
		{ "(sAMAccountName=*alice*)", true },
		{ "(mail=*)", true },
		{ "(telephoneNumber=*)", false },
		{ "(telephoneNumber=x)", false },
		{ "(!(telephoneNumber=x))", true },
		{ "(userAccountControl>=500)", true },
		{ "(userAccountControl<=513)", false },
		{ "(userAccountControl<=514)", true },
		{ "(uSNChanged>=9)", true },       /* numeric, not "10" < "9" */
		{ "(mail>=b)", false },
		{ "(mail<=B)", true },
		{ "(manager=cn=bob bb,ou=people,dc=dsx,dc=test)", true },
		{ "(manager=CN=Bob,OU=People,DC=dsx,DC=test)", false },
		{ "(objectGUID=\\37\\3b\\a0\\a4\\5d\\e5\\36\\46\\bc\\36\\0a\\12\\d8\\f9\\1d\\00)", true },
		{ "(objectGUID=\\37\\3B\\A0\\A4\\5D\\E5\\36\\46\\BC\\36\\0A\\12\\D8\\F9\\1D\\00)", true },
		{ "(objectGUID=\\37\\3b\\a0\\a4\\5d\\e5\\36\\46\\bc\\36\\0a\\12\\d8\\f9\\1d\\01)", false },
		{ "(|(objectGUID=\\00)(objectGUID=\\37\\3b\\a0\\a4\\5d\\e5\\36\\46\\bc\\36\\0a\\12\\d8\\f9\\1d\\00))", true },
		{ "(&)", true },
		{ "(|)", false },
		{ "(|(objectClass=group)(&(objectClass=user)(objectCategory=person)))", true },
		{ "(description=not a number)", true },
		{ "(description=not\\20a number)", true },
	};
	struct ldapconn_entry *e = make_user();

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (matches(t[i].filter, e) != t[i].want)
			fail_msg("%s: want %s", t[i].filter, t[i].want ? "match" : "no match");
	ldapconn_entry_free(e);
}

static void
test_match_group(void **state)
{
	struct ldapconn_entry *e = make_group();

	(void)state;
	assert_true(matches("(objectCategory=group)", e));
	assert_false(matches("(objectCategory=person)", e));
	assert_true(matches("(member=cn=alice ab,ou=people,dc=dsx,dc=test)", e));
	assert_true(matches("(member=CN=Smith\\5c, John,OU=People,DC=dsx,DC=test)", e));
	assert_true(matches("(member=*Smith*)", e));
	assert_false(matches("(member=cn=carol,ou=people,dc=dsx,dc=test)", e));
	/* Security group: bit 0x80000000 of a negative groupType. */
	assert_true(matches("(groupType:1.2.840.113556.1.4.803:=2147483648)", e));
	assert_true(matches("(groupType:1.2.840.113556.1.4.803:=2)", e));
	assert_false(matches("(groupType:1.2.840.113556.1.4.803:=4)", e));
	ldapconn_entry_free(e);
}

/* caseIgnore values compare as the server compares them: letters beyond
 * ASCII fold too (Latin, Greek, Cyrillic, as dn_normalize folds), in
 * equality, substrings and ordering; octet attributes do not fold. */
static void
test_match_non_ascii(void **state)
{
	static const struct {
		const char *filter;
		bool want;
	} t[] = {
		{ "(l=M\xc3\xbcnchen)", true },           /* München */
		{ "(l=M\xc3\x9cNCHEN)", true },           /* MÜNCHEN */
		{ "(l=m\xc3\xbcnchen)", true },
		{ "(l=Munchen)", false },
		{ "(l=*\xc3\x9cNCH*)", true },             /* *ÜNCH* */
		{ "(l=M\xc3\x9c*)", true },                /* MÜ* */
		{ "(l=*CHEN)", true },
		{ "(department=\xd0\x9e\xd0\xa2\xd0\x94\xd0\x95\xd0\x9b)", true }, /* ОТДЕЛ */
		{ "(department=*\xd1\x82\xd0\xb4*)", true },   /* *тд* */
		{ "(title=\xce\xb1\xce\xb2\xce\xb3)", true },  /* αβγ against ΑΒΓ */
		{ "(l>=M\xc3\x9cNCHEN)", true },
		{ "(l<=m\xc3\xbcnchen)", true },
		{ "(l<=ma)", false },
		/* octets: no folding */
		{ "(objectGUID=\\37\\3b\\a0\\a4\\5d\\e5\\36\\46\\bc\\36\\0a\\12\\d8\\f9\\1d\\00)", true },
		/* not UTF-8: compared byte for byte */
		{ "(description=\\ff)", false },
		{ "(info=\\ff\\c3)", true },
	};
	struct ldapconn_entry *e = make_user();

	(void)state;
	add(e, "l", "M\xc3\xbcnchen");
	add(e, "department", "\xd0\xbe\xd1\x82\xd0\xb4\xd0\xb5\xd0\xbb"); /* отдел */
	add(e, "title", "\xce\x91\xce\x92\xce\x93");                      /* ΑΒΓ */
	add(e, "info", "\xff\xc3");
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (matches(t[i].filter, e) != t[i].want)
			fail_msg("%s: want %s", t[i].filter, t[i].want ? "match" : "no match");
	ldapconn_entry_free(e);
}

static void
test_organizational_unit_shorthand(void **state)
{
	struct ldapconn_entry *e = ldapconn_entry_new("OU=People,DC=dsx,DC=test");

	(void)state;
	add(e, "objectCategory", "CN=Organizational-Unit,CN=Schema,CN=Configuration,DC=dsx,DC=test");
	assert_true(matches("(objectCategory=organizationalUnit)", e));
	assert_true(matches("(objectCategory=Organizational-Unit)", e));
	assert_false(matches("(objectCategory=organizational)", e));
	ldapconn_entry_free(e);
}

static void
test_parse_errors(void **state)
{
	static const struct {
		const char *text, *needle;
	} t[] = {
		{ "", "empty" },
		{ "(", NULL },
		{ "()", "attribute" },
		{ "(cn=a", "')' missing" },
		{ "cn=a", "'(' expected" },
		{ "(cn=a))", "after the end" },
		{ "(cn=a)(cn=b)", "after the end" },
		{ "(cn=a\\4)", "escape" },
		{ "(cn=a\\zz)", "escape" },
		{ "(cn=a\\", "escape" },
		{ "(cn=(a)", "'('" },
		{ "(&(cn=a)", NULL },
		{ "(&(cn=a)x)", NULL },
		{ "(!(cn=a)(cn=b))", NULL },
		{ "(!)", "exactly one" },
		{ "(cn)", "expected" },
		{ "(=a)", "attribute" },
		{ "(cn=a**b)", "'**'" },
		{ "(cn>=a*)", "'*'" },
		{ "(cn~a)", NULL },
		{ "(cn:1.2.840.113556.1.4.1941:=x)", "1.2.840.113556.1.4.1941" },
		{ "(cn:caseExactMatch:=x)", "caseExactMatch" },
		{ "(cn:dn:2.5.13.5:=x)", ":dn:" },
		{ "(:1.2.840.113556.1.4.803:=1)", "attribute" },
		{ "(uac:1.2.840.113556.1.4.803:=abc)", "not an integer" },
		{ "(uac:1.2.840.113556.1.4.803:=1*)", "'*'" },
		{ "(uac:1.2.840.113556.1.4.803=1)", NULL },
		{ "(uac:1.2.840.113556.1.4.803)", NULL },
		{ "(uac:=1)", "matching rule" },
	};
	struct ldapfilter *f = (struct ldapfilter *)1;
	struct ds_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		err.msg[0] = '\0';
		if (ldapfilter_parse(t[i].text, &f, &err) != -1)
			fail_msg("\"%s\" accepted", t[i].text);
		assert_null(f);
		assert_true(err.msg[0] != '\0');
		if (t[i].needle != NULL && strstr(err.msg, t[i].needle) == NULL)
			fail_msg("\"%s\": error \"%s\" lacks \"%s\"", t[i].text, err.msg,
			    t[i].needle);
	}
	assert_int_equal(ldapfilter_parse(NULL, &f, &err), -1);
}

static char *
nested(unsigned depth)
{
	char *s = calloc(1, depth * 3 + 16), *p = s;

	for (unsigned i = 1; i < depth; i++)
		p += sprintf(p, "(!");
	p += sprintf(p, "(cn=x)");
	for (unsigned i = 1; i < depth; i++)
		*p++ = ')';
	return s;
}

static void
test_depth(void **state)
{
	struct ldapfilter *f;
	struct ds_error err;
	char *ok = nested(LDAPFILTER_DEPTH_MAX), *deep = nested(LDAPFILTER_DEPTH_MAX + 1);
	char *huge = nested(100000);
	struct ldapconn_entry *e = make_user();

	(void)state;
	assert_int_equal(ldapfilter_parse(ok, &f, &err), 0);
	/* 31 negations of FALSE. */
	assert_true(ldapfilter_match(f, e));
	ldapfilter_free(f);
	assert_int_equal(ldapfilter_parse(deep, &f, &err), -1);
	assert_non_null(strstr(err.msg, "nested too deeply"));
	assert_int_equal(ldapfilter_parse(huge, &f, &err), -1);
	free(ok);
	free(deep);
	free(huge);
	ldapconn_entry_free(e);
}

static void
test_fuzz_parse(void **state)
{
	static const char alphabet[] = "()&|!=*~<>:\\0aZ9.;- \x01\xff";
	char buf[80];
	struct ldapconn_entry *e = make_user();
	unsigned accepted = 0;

	(void)state;
	srand(99);
	for (int round = 0; round < 100000; round++) {
		size_t len = (size_t)rand() % (sizeof(buf) - 1);
		struct ldapfilter *f;
		struct ds_error err;

		for (size_t i = 0; i < len; i++)
			buf[i] = alphabet[(size_t)rand() % (sizeof(alphabet) - 1)];
		buf[len] = '\0';
		if (ldapfilter_parse(buf, &f, &err) == 0) {
			accepted++;
			(void)ldapfilter_match(f, e);
			ldapfilter_free(f);
		}
	}
	(void)accepted;
	ldapconn_entry_free(e);
}

static void
test_attrs(void **state)
{
	struct ldapfilter *f;
	struct ds_error err;
	const char *a[4];

	(void)state;
	assert_int_equal(ldapfilter_parse("(&(objectClass=user)(|(OBJECTCLASS=x)(cn=*))"
	    "(userAccountControl:1.2.840.113556.1.4.803:=2)(sn>=a)(mail=*x*))", &f, &err), 0);
	assert_int_equal(ldapfilter_attrs(f, a, 4), 5);
	assert_string_equal(a[0], "objectClass");
	assert_string_equal(a[1], "cn");
	assert_string_equal(a[2], "userAccountControl");
	assert_string_equal(a[3], "sn");
	ldapfilter_free(f);
	ldapfilter_free(NULL);
}

static void
test_dn_under(void **state)
{
	char *nbase;
	struct ds_error err;

	(void)state;
	assert_int_equal(dn_normalize("OU=People,DC=dsx,DC=test", &nbase, &err), 0);
	assert_true(ldapfilter_dn_under("cn=Alice,ou=people,dc=DSX,dc=test", nbase));
	assert_true(ldapfilter_dn_under("OU=People,DC=dsx,DC=test", nbase));
	assert_false(ldapfilter_dn_under("CN=Bob,OU=Other,DC=dsx,DC=test", nbase));
	assert_false(ldapfilter_dn_under("CN=x,OU=MorePeople,DC=dsx,DC=test", nbase));
	/* A tombstone is under CN=Deleted Objects, not the base. */
	assert_false(ldapfilter_dn_under("CN=Carol\\0ADEL:e6961009-712c-41be-808f-e16e284ed30c,"
	    "CN=Deleted Objects,DC=dsx,DC=test", nbase));
	assert_false(ldapfilter_dn_under("not a dn", nbase));
	free(nbase);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_user),
		cmocka_unit_test(test_match_group),
		cmocka_unit_test(test_match_non_ascii),
		cmocka_unit_test(test_organizational_unit_shorthand),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_fuzz_parse),
		cmocka_unit_test(test_attrs),
		cmocka_unit_test(test_dn_under),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
