/* test_attrmap.c - attrmap profiles, overrides (including names that try
 * to break out of a filter), the search attribute list and objectGUID
 * text.  Table-driven; must never need a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "attrmap.h"

static const char *const field_order[ATTRMAP_FIELD_COUNT] = {
	"unique_id", "login", "login_alt", "full_name", "given_name",
	"surname", "email", "manager", "member", "user_type", "disabled",
	"user_object_class", "group_object_class",
};

struct profile_case {
	const char *name;
	const char *want[ATTRMAP_FIELD_COUNT];  /* in field_order */
};

static const struct profile_case profile_cases[] = {
	{ "openldap", { "entryUUID", "uid", "", "cn", "givenName", "sn",
	    "mail", "manager", "member", "employeeType", "",
	    "inetOrgPerson", "groupOfNames" } },
	{ "389ds", { "nsUniqueId", "uid", "", "cn", "givenName", "sn",
	    "mail", "manager", "member", "employeeType", "",
	    "inetOrgPerson", "groupOfNames" } },
	{ "ad", { "objectGUID", "sAMAccountName", "userPrincipalName",
	    "displayName", "givenName", "sn", "mail", "manager", "member",
	    "employeeType", "userAccountControl", "user", "group" } },
};

static void
load(const char *profile, struct attrmap *map)
{
	struct ds_error err = { "" };

	if (attrmap_profile(profile, map, &err) != 0)
		fail_msg("profile %s: %s", profile, err.msg);
}

static void
test_profiles(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(profile_cases) / sizeof(*profile_cases);
	     i++) {
		const struct profile_case *c = &profile_cases[i];
		struct attrmap map;

		memset(&map, 'x', sizeof(map));
		load(c->name, &map);
		for (size_t k = 0; k < ATTRMAP_FIELD_COUNT; k++) {
			const char *got = attrmap_get(&map, field_order[k]);

			assert_non_null(got);
			if (strcmp(got, c->want[k]) != 0)
				fail_msg("%s.%s = \"%s\", want \"%s\"", c->name,
				    field_order[k], got, c->want[k]);
		}
	}
}

static void
test_profile_names(void **state)
{
	const char *const *names = attrmap_profile_names();
	size_t n = 0;

	(void)state;
	for (; names[n] != NULL; n++) {
		struct attrmap map;

		assert_string_equal(names[n], profile_cases[n].name);
		load(names[n], &map);
	}
	assert_int_equal(n, 3);
}

static void
test_profile_unknown(void **state)
{
	static const char *const bad[] = { "OpenLDAP", "", "AD", "389-ds",
	    "openldap ", "freeipa\n\x1b[31m" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct attrmap map, before;
		struct ds_error err = { "" };

		memset(&map, 0x5a, sizeof(map));
		before = map;
		assert_int_equal(attrmap_profile(bad[i], &map, &err), -1);
		assert_memory_equal(&map, &before, sizeof(map));
		assert_non_null(strstr(err.msg, "known: openldap, 389ds, ad"));
		assert_null(strchr(err.msg, '\n'));
		assert_null(strchr(err.msg, '\x1b'));
	}
	assert_int_equal(attrmap_profile("nope", &(struct attrmap){ 0 }, NULL),
	    -1);
}

static void
test_fields(void **state)
{
	size_t count = 0;
	const struct attrmap_field *f = attrmap_fields(&count);
	static const bool required[ATTRMAP_FIELD_COUNT] = {
		true, true, false, true, false, false, false, false, true,
		false, false, true, true,
	};

	(void)state;
	assert_int_equal(count, ATTRMAP_FIELD_COUNT);
	for (size_t i = 0; i < count; i++) {
		assert_string_equal(f[i].name, field_order[i]);
		assert_int_equal(f[i].offset, i * ATTRMAP_NAME_MAX);
		assert_int_equal(f[i].required, required[i]);
		assert_int_equal(f[i].object_class,
		    strstr(f[i].name, "object_class") != NULL);
		assert_true(f[i].help != NULL && f[i].help[0] != '\0');
	}
	assert_null(attrmap_get(&(struct attrmap){ 0 }, "nope"));
}

/* The longest name that fits ATTRMAP_NAME_MAX (128): 127 characters. */
#define TEN "a123456789"
#define NAME127 TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN "abcdefg"
_Static_assert(sizeof(NAME127) == ATTRMAP_NAME_MAX, "127 characters");

struct set_case {
	const char *profile;
	const char *field;
	const char *attr;
};

static const struct set_case set_ok[] = {
	{ "openldap", "login", "mailNickname" },
	{ "openldap", "unique_id", "1.3.6.1.1.16.4" },  /* entryUUID's OID */
	{ "openldap", "email", "mail;lang-en" },
	{ "openldap", "full_name", "cn;x-a;x-b" },
	{ "openldap", "login_alt", "" },
	{ "openldap", "email", "" },
	{ "389ds", "member", "uniqueMember" },
	{ "389ds", "group_object_class", "groupOfUniqueNames" },
	{ "389ds", "disabled", "nsAccountLock" },
	{ "ad", "login_alt", "" },
	{ "ad", "disabled", "" },
	{ "ad", "user_object_class", "2.5.6.6" },
	{ "ad", "user_type", "extensionAttribute1" },
	{ "ad", "full_name", NAME127 },
};

static void
test_set_ok(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(set_ok) / sizeof(*set_ok); i++) {
		const struct set_case *c = &set_ok[i];
		struct ds_error err = { "" };
		struct attrmap map, copy;

		load(c->profile, &map);
		copy = map;
		if (attrmap_set(&map, c->field, c->attr, &err) != 0)
			fail_msg("%s = \"%s\": %s", c->field, c->attr, err.msg);
		assert_string_equal(attrmap_get(&map, c->field), c->attr);
		/* nothing else moved */
		assert_int_equal(attrmap_set(&map, c->field,
		    attrmap_get(&copy, c->field), &err), 0);
		assert_memory_equal(&map, &copy, sizeof(map));
	}
}

struct set_err_case {
	const char *field;
	const char *attr;
	const char *msg;
};

static const struct set_err_case set_errs[] = {
	{ "logon", "uid", "unknown attribute map field \"logon\" (valid: "
	    "unique_id, login, login_alt, full_name, given_name, surname, "
	    "email, manager, member, user_type, disabled, user_object_class,"
	    " group_object_class)" },
	{ "", "uid", "unknown attribute map field \"\"" },
	{ "LOGIN", "uid", "unknown attribute map field" },
	{ "login\n", "uid", "field \"login?\"" },
	{ "login", "", "login may not be empty" },
	{ "unique_id", "", "may not be empty" },
	{ "full_name", "", "may not be empty" },
	{ "member", "", "may not be empty" },
	{ "user_object_class", "", "may not be empty" },
	{ "group_object_class", "", "may not be empty" },
	/* names that would rewrite a filter or an attribute list */
	{ "login", "uid)(objectClass=*", "not a valid attribute name" },
	{ "login", "(uid", "not a valid attribute name" },
	{ "login", "uid=*", "not a valid attribute name" },
	{ "login", "uid,cn", "not a valid attribute name" },
	{ "login", "*", "not a valid attribute name" },
	{ "login", "+", "not a valid attribute name" },
	{ "login", "1.1", "not a valid attribute name" }, /* "no attrs" */
	{ "login", "uid\\2a", "not a valid attribute name" },
	{ "login", "uid\0(x", NULL },   /* C string ends at NUL: "uid" */
	{ "login", "mail nickname", "\"mail nickname\" is not a valid" },
	{ "login", " uid", "not a valid attribute name" },
	{ "login", "uid ", "not a valid attribute name" },
	{ "login", "uid\n", "\"uid?\" is not" },
	{ "login", "1uid", "not a valid attribute name" },
	{ "login", "-uid", "not a valid attribute name" },
	{ "login", "u_id", "not a valid attribute name" },
	{ "login", "uïd", "not a valid attribute name" },
	{ "login", "uid;", "not a valid attribute name" },
	{ "login", "uid;;x", "not a valid attribute name" },
	{ "login", ";x", "not a valid attribute name" },
	{ "unique_id", "1", "not a valid attribute name" },
	{ "unique_id", "1.", "not a valid attribute name" },
	{ "unique_id", ".1", "not a valid attribute name" },
	{ "unique_id", "1..2", "not a valid attribute name" },
	{ "unique_id", "01.2", "not a valid attribute name" },
	{ "unique_id", "1.02", "not a valid attribute name" },
	{ "user_object_class", "user;x", "not a valid object class name" },
	{ "user_object_class", "(objectClass=*)", "object class" },
	{ "full_name", NAME127 "x", "longer than 127" },
};

static void
test_set_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(set_errs) / sizeof(*set_errs); i++) {
		const struct set_err_case *c = &set_errs[i];
		struct ds_error err = { "" };
		struct attrmap map, before;
		int rc;

		load("ad", &map);
		before = map;
		rc = attrmap_set(&map, c->field, c->attr, &err);
		if (c->msg == NULL) {
			assert_int_equal(rc, 0);
			continue;
		}
		if (rc != -1)
			fail_msg("%s = \"%s\" accepted", c->field, c->attr);
		assert_memory_equal(&map, &before, sizeof(map));
		if (strstr(err.msg, c->msg) == NULL)
			fail_msg("%s = \"%s\": \"%s\" lacks \"%s\"", c->field,
			    c->attr, err.msg, c->msg);
	}
}

static void
assert_attrs(const char *const *got, size_t n, const char *const *want)
{
	size_t k;

	for (k = 0; want[k] != NULL; k++) {
		assert_non_null(got[k]);
		assert_string_equal(got[k], want[k]);
	}
	assert_int_equal(n, k);
	assert_null(got[k]);
}

static void
test_search_attrs(void **state)
{
	static const char *const want_openldap[] = { "objectClass",
	    "entryUUID", "uid", "cn", "givenName", "sn", "mail", "manager",
	    "member", "employeeType", NULL };
	static const char *const want_ad[] = { "objectClass", "objectGUID",
	    "sAMAccountName", "userPrincipalName", "displayName", "givenName",
	    "sn", "mail", "manager", "member", "employeeType",
	    "userAccountControl", NULL };
	static const char *const want_dedup[] = { "objectClass", "entryUUID",
	    "uid", "givenName", "sn", "manager", "member", NULL };
	const char *attrs[ATTRMAP_SEARCH_ATTRS_MAX];
	struct attrmap map;
	struct ds_error err = { "" };
	size_t n;

	(void)state;
	load("openldap", &map);
	n = attrmap_search_attrs(&map, attrs);
	assert_attrs(attrs, n, want_openldap);

	load("ad", &map);
	n = attrmap_search_attrs(&map, attrs);
	assert_attrs(attrs, n, want_ad);

	/* duplicates (in any case) and empty fields are left out */
	load("openldap", &map);
	assert_int_equal(attrmap_set(&map, "full_name", "UID", &err), 0);
	assert_int_equal(attrmap_set(&map, "email", "", &err), 0);
	assert_int_equal(attrmap_set(&map, "user_type", "objectclass", &err),
	    0);
	n = attrmap_search_attrs(&map, attrs);
	assert_attrs(attrs, n, want_dedup);

	/* every field distinct and set: the array is exactly big enough */
	{
		size_t count;
		const struct attrmap_field *f = attrmap_fields(&count);
		char name[32];

		for (size_t i = 0; i < count; i++) {
			snprintf(name, sizeof(name), "a%zu", i);
			assert_int_equal(attrmap_set(&map, f[i].name, name,
			    &err), 0);
		}
		n = attrmap_search_attrs(&map, attrs);
		assert_int_equal(n, count - 2 + 1);
		assert_true(n < ATTRMAP_SEARCH_ATTRS_MAX);
		assert_null(attrs[n]);
	}
}

struct guid_case {
	unsigned char bytes[16];
	const char *text;
};

static const struct guid_case guid_cases[] = {
	{ { 0x78, 0x56, 0x34, 0x12, 0x34, 0x12, 0x78, 0x56,
	    0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78 },
	    "12345678-1234-5678-9abc-def012345678" },
	/* schemaIDGUID of AD's "user" class, as the schema documents it */
	{ { 0xba, 0x7a, 0x96, 0xbf, 0xe6, 0x0d, 0xd0, 0x11,
	    0xa2, 0x85, 0x00, 0xaa, 0x00, 0x30, 0x49, 0xe2 },
	    "bf967aba-0de6-11d0-a285-00aa003049e2" },
	{ { 0 }, "00000000-0000-0000-0000-000000000000" },
	{ { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
	    "ffffffff-ffff-ffff-ffff-ffffffffffff" },
	{ { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f },
	    "03020100-0504-0706-0809-0a0b0c0d0e0f" },
};

static void
test_guid(void **state)
{
	static const size_t bad_len[] = { 0, 1, 15, 17, 32 };
	unsigned char raw[32] = { 0 };
	char text[ATTRMAP_GUID_TEXT_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(guid_cases) / sizeof(*guid_cases);
	     i++) {
		memset(text, 'x', sizeof(text));
		assert_int_equal(attrmap_guid_to_text(guid_cases[i].bytes, 16,
		    text), 0);
		assert_string_equal(text, guid_cases[i].text);
	}
	for (size_t i = 0; i < sizeof(bad_len) / sizeof(*bad_len); i++) {
		memset(text, 'x', sizeof(text));
		assert_int_equal(attrmap_guid_to_text(raw, bad_len[i], text),
		    -1);
		assert_string_equal(text, "");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profiles),
		cmocka_unit_test(test_profile_names),
		cmocka_unit_test(test_profile_unknown),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_set_ok),
		cmocka_unit_test(test_set_errors),
		cmocka_unit_test(test_search_attrs),
		cmocka_unit_test(test_guid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
