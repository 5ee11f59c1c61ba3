/* test_mirror_map.c - one directory entry into one mirror row: users of
 * each profile (OpenLDAP, 389-ds, AD) with every mapped column, the
 * disabled flag (AD's userAccountControl bit and boolean-like
 * attributes), object classes matched without regard to case, groups
 * with their member lists (bad values skipped and counted, nested groups,
 * uniqueMember UIDs), manager DNs, malformed entry DNs, entries of
 * neither class, the scope check, values full of DN special characters
 * that must reach the "as sent" columns untouched, and a deterministic
 * fuzz of random entries against an oracle.  Entries are built with the
 * public builder; never needs a server. */
#include "mirror_map.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "escape.h"
#include "ldapconn.h"
#include "store.h"

#define ID "6f1c3a52-9b1e-4d2a-8f00-5e3c2b1a0d9e"

/* One attribute value of a table entry; the attribute list ends at the
 * first attr == NULL. */
struct kv {
	const char *attr;
	const char *value;
};

#define KV_MAX 20

static void
load(const char *profile, struct attrmap *map)
{
	struct ds_error err = { "" };

	if (attrmap_profile(profile, map, &err) != 0)
		fail_msg("profile %s: %s", profile, err.msg);
}

static void
set_field(struct attrmap *map, const char *field, const char *attr)
{
	struct ds_error err = { "" };

	if (attrmap_set(map, field, attr, &err) != 0)
		fail_msg("attrmap_set %s = %s: %s", field, attr, err.msg);
}

static void
add(struct ldapconn_entry *e, const char *attr, const char *value)
{
	assert_int_equal(ldapconn_entry_add_value(e, attr, value,
	    strlen(value)), 0);
}

static struct ldapconn_entry *
build(const char *dn, const struct kv *attrs)
{
	struct ldapconn_entry *e = ldapconn_entry_new(dn);

	assert_non_null(e);
	for (size_t i = 0; i < KV_MAX && attrs[i].attr != NULL; i++)
		add(e, attrs[i].attr, attrs[i].value);
	return e;
}

/* A column against its expected value, NULL meaning "absent"; names the
 * case and the column so a failing table row is found at once. */
static void
check_str(const char *what, const char *column, const char *got,
    const char *want)
{
	if (want == NULL && got == NULL)
		return;
	if (want == NULL)
		fail_msg("%s: %s is \"%s\", want NULL", what, column, got);
	if (got == NULL)
		fail_msg("%s: %s is NULL, want \"%s\"", what, column, want);
	if (strcmp(got, want) != 0)
		fail_msg("%s: %s is \"%s\", want \"%s\"", what, column, got,
		    want);
}

/* ---- users --------------------------------------------------------------- */

struct user_case {
	const char *what;
	const char *profile;
	const char *disabled_attr;      /* override of the disabled field */
	const char *dn;
	struct kv attrs[KV_MAX];
	/* The row; NULL = column NULL. */
	const char *dn_norm;
	const char *login, *login_alt, *full_name, *given_name, *surname;
	const char *email, *manager_dn, *manager_dn_norm, *user_type;
	bool disabled;
};

static const struct user_case user_cases[] = {
	{ "openldap inetOrgPerson", "openldap", NULL,
	    "uid=Alice,ou=People,dc=Example,dc=com",
	    { { "objectClass", "top" }, { "objectClass", "person" },
	      { "objectClass", "organizationalPerson" },
	      { "objectClass", "inetOrgPerson" },
	      { "entryUUID", "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed" },
	      { "uid", "alice" }, { "cn", "Alice Liddell" },
	      { "givenName", "Alice" }, { "sn", "Liddell" },
	      { "mail", "alice@example.com" },
	      { "manager", "uid=Queen,ou=People,dc=Example,dc=com" },
	      { "employeeType", "regular" },
	      /* not mapped by this profile: must not leak into a column */
	      { "userPrincipalName", "alice@EXAMPLE.COM" },
	      { "displayName", "Should Not Be Used" },
	      { "userAccountControl", "514" } },
	    "uid=alice,ou=people,dc=example,dc=com",
	    "alice", NULL, "Alice Liddell", "Alice", "Liddell",
	    "alice@example.com", "uid=Queen,ou=People,dc=Example,dc=com",
	    "uid=queen,ou=people,dc=example,dc=com", "regular", false },
	/* 389-ds sends the same schema; attribute names and class values
	 * come back in whatever case the server or the LDIF used. */
	{ "389ds inetOrgPerson, odd case", "389ds", NULL,
	    "UID=Bob,OU=People,DC=Example,DC=Com",
	    { { "OBJECTCLASS", "TOP" }, { "objectclass", "INETORGPERSON" },
	      { "nsUniqueId", "0d5c5e82-1dd211b2-8f6ad5b2-5a9c1234" },
	      { "UID", "bob" }, { "CN", "Bob Builder" },
	      { "GIVENNAME", "Bob" }, { "SN", "Builder" },
	      { "Mail", "bob@example.com" },
	      { "Manager", "uid=alice , ou=People ; dc=Example,dc=com" },
	      { "EmployeeType", "third_party" } },
	    "uid=bob,ou=people,dc=example,dc=com",
	    "bob", NULL, "Bob Builder", "Bob", "Builder", "bob@example.com",
	    "uid=alice , ou=People ; dc=Example,dc=com",
	    "uid=alice,ou=people,dc=example,dc=com", "third_party", false },
	{ "ad user, enabled (512)", "ad", NULL,
	    "CN=Jane Doe,OU=Staff,DC=Corp,DC=Example",
	    { { "objectClass", "top" }, { "objectClass", "person" },
	      { "objectClass", "organizationalPerson" },
	      { "objectClass", "user" },
	      { "sAMAccountName", "jdoe" },
	      { "userPrincipalName", "jdoe@corp.example" },
	      { "displayName", "Doe, Jane" }, { "cn", "Jane Doe" },
	      { "givenName", "Jane" }, { "sn", "Doe" },
	      { "mail", "Jane.Doe@corp.example" },
	      { "manager", "CN=Big Boss,OU=Staff,DC=Corp,DC=Example" },
	      { "employeeType", "regular" },
	      { "userAccountControl", "512" } },
	    "cn=jane doe,ou=staff,dc=corp,dc=example",
	    "jdoe", "jdoe@corp.example", "Doe, Jane", "Jane", "Doe",
	    "Jane.Doe@corp.example", "CN=Big Boss,OU=Staff,DC=Corp,DC=Example",
	    "cn=big boss,ou=staff,dc=corp,dc=example", "regular", false },
	/* ACCOUNTDISABLE is bit 0x2; the other bits are noise. */
	{ "ad user, disabled (514)", "ad", NULL,
	    "CN=Old Timer,OU=Staff,DC=Corp,DC=Example",
	    { { "objectClass", "user" }, { "sAMAccountName", "old" },
	      { "userAccountControl", "514" } },
	    "cn=old timer,ou=staff,dc=corp,dc=example",
	    "old", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, true },
	{ "ad user, disabled, password never expires (66050)", "ad", NULL,
	    "CN=Svc,OU=Staff,DC=Corp,DC=Example",
	    { { "objectClass", "USER" }, { "sAMAccountName", "svc" },
	      { "userAccountControl", "66050" } },
	    "cn=svc,ou=staff,dc=corp,dc=example",
	    "svc", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, true },
	{ "ad user, enabled, password never expires (66048)", "ad", NULL,
	    "CN=Svc2,OU=Staff,DC=Corp,DC=Example",
	    { { "objectClass", "user" }, { "sAMAccountName", "svc2" },
	      { "userAccountControl", "66048" } },
	    "cn=svc2,ou=staff,dc=corp,dc=example",
	    "svc2", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false },
	/* Computer accounts are objectClass user too: telling them apart is
	 * the search filter's job (objectCategory=person), not the map's. */
	{ "ad computer is a user to the map", "ad", NULL,
	    "CN=WS01,OU=Computers,DC=Corp,DC=Example",
	    { { "objectClass", "top" }, { "objectClass", "user" },
	      { "objectClass", "computer" }, { "sAMAccountName", "WS01$" },
	      { "userAccountControl", "4096" } },
	    "cn=ws01,ou=computers,dc=corp,dc=example",
	    "WS01$", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false },
	/* A mapped attribute that is absent leaves its column NULL. */
	{ "only the login", "openldap", NULL,
	    "uid=min,ou=People,dc=example,dc=com",
	    { { "objectClass", "inetOrgPerson" }, { "uid", "min" } },
	    "uid=min,ou=people,dc=example,dc=com",
	    "min", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false },
	/* Columns hold one value: the first one sent wins. */
	{ "multi-valued attributes", "openldap", NULL,
	    "uid=multi,ou=People,dc=example,dc=com",
	    { { "objectClass", "inetOrgPerson" },
	      { "uid", "multi" }, { "uid", "multi2" },
	      { "cn", "Multi Valued" }, { "cn", "M. Valued" },
	      { "mail", "first@example.com" }, { "mail", "second@example.com" },
	      { "manager", "uid=m1,ou=People,dc=example,dc=com" },
	      { "manager", "uid=m2,ou=People,dc=example,dc=com" } },
	    "uid=multi,ou=people,dc=example,dc=com",
	    "multi", NULL, "Multi Valued", NULL, NULL, "first@example.com",
	    "uid=m1,ou=People,dc=example,dc=com",
	    "uid=m1,ou=people,dc=example,dc=com", NULL, false },
	/* A manager that is not a DN links to no one: kept as sent, no
	 * normalised form (it counts as dangling), the user still mapped. */
	{ "invalid manager DN", "openldap", NULL,
	    "uid=orphan,ou=People,dc=example,dc=com",
	    { { "objectClass", "inetOrgPerson" }, { "uid", "orphan" },
	      { "manager", "the big boss" } },
	    "uid=orphan,ou=people,dc=example,dc=com",
	    "orphan", NULL, NULL, NULL, NULL, NULL, "the big boss", NULL,
	    NULL, false },
	{ "manager DN with a bad escape", "ad", NULL,
	    "CN=Orphan2,DC=Corp,DC=Example",
	    { { "objectClass", "user" }, { "sAMAccountName", "orphan2" },
	      { "manager", "CN=Boss\\ZZ,DC=Corp,DC=Example" } },
	    "cn=orphan2,dc=corp,dc=example",
	    "orphan2", NULL, NULL, NULL, NULL, NULL,
	    "CN=Boss\\ZZ,DC=Corp,DC=Example", NULL, NULL, false },
	/* Both classes: the user wins (a person that is also a group is a
	 * person to the mirror). */
	{ "user and group classes", "openldap", NULL,
	    "uid=both,ou=People,dc=example,dc=com",
	    { { "objectClass", "groupOfNames" },
	      { "objectClass", "inetOrgPerson" }, { "uid", "both" },
	      { "member", "uid=x,dc=example,dc=com" } },
	    "uid=both,ou=people,dc=example,dc=com",
	    "both", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false },
	/* Every "as sent" column keeps the bytes it got: DN specials, quotes,
	 * backslashes, a leading '#' or space, non-ASCII letters.  Only
	 * dn_norm and manager_dn_norm are canonical. */
	{ "troublemaker values", "openldap", NULL,
	    "CN=Smith\\, John \\\"JJ\\\"+UID=jj,OU=\xc3\x9cnits,DC=Example,DC=Com",
	    { { "objectClass", "inetOrgPerson" },
	      { "uid", "jj+1,\"x\"\\y" },
	      { "cn", "Smith, John \"JJ\" + Co; <ltd>" },
	      { "givenName", "#hash" }, { "sn", " leading space " },
	      { "mail", "o'brien\\+tag@ex\xc3\xa4mple.com" },
	      { "manager",
	        "cn=\\ \xc3\x93sk \\+ \xc3\x81sa\\\\,ou=People,dc=example,dc=com" },
	      { "employeeType", "th\xc3\xafrd_p\xc3\xa5rty" } },
	    "cn=smith\\, john \\\"jj\\\"+uid=jj,ou=\xc3\xbcnits,dc=example,dc=com",
	    "jj+1,\"x\"\\y", NULL, "Smith, John \"JJ\" + Co; <ltd>", "#hash",
	    " leading space ", "o'brien\\+tag@ex\xc3\xa4mple.com",
	    "cn=\\ \xc3\x93sk \\+ \xc3\x81sa\\\\,ou=People,dc=example,dc=com",
	    "cn=\\ \xc3\xb3sk \\+ \xc3\xa1sa\\\\,ou=people,dc=example,dc=com",
	    "th\xc3\xafrd_p\xc3\xa5rty", false },
	{ "quoted RFC 1779 DN, OID prefix, hex value", "openldap", NULL,
	    "cn=\"Doe, Jane\"+OID.2.5.4.45=#04024869,ou=People,dc=example,dc=com",
	    { { "objectClass", "inetOrgPerson" }, { "uid", "#04024869" },
	      { "cn", "\"Doe, Jane\"" } },
	    "2.5.4.45=#04024869+cn=doe\\, jane,ou=people,dc=example,dc=com",
	    "#04024869", NULL, "\"Doe, Jane\"", NULL, NULL, NULL, NULL, NULL,
	    NULL, false },
	{ "cyrillic and greek DN", "389ds", NULL,
	    "uid=\xd0\x81\xd0\xbb\xd0\xba\xd0\xb0,ou=\xce\xa9mega,dc=example,dc=com",
	    { { "objectClass", "inetOrgPerson" },
	      { "uid", "\xd0\x81\xd0\xbb\xd0\xba\xd0\xb0" } },
	    "uid=\xd1\x91\xd0\xbb\xd0\xba\xd0\xb0,ou=\xcf\x89mega,dc=example,dc=com",
	    "\xd0\x81\xd0\xbb\xd0\xba\xd0\xb0", NULL, NULL, NULL, NULL, NULL,
	    NULL, NULL, NULL, false },
	/* Boolean-like disabled attributes (389-ds nsAccountLock) next to
	 * AD's bit: "true"/"yes" in any case, "1", or a number with bit 0x2. */
	{ "nsAccountLock TRUE", "389ds", "nsAccountLock",
	    "uid=l1,dc=example,dc=com",
	    { { "objectClass", "inetOrgPerson" }, { "nsAccountLock", "TRUE" } },
	    "uid=l1,dc=example,dc=com",
	    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, true },
	{ "nsAccountLock yes", "389ds", "nsAccountLock",
	    "uid=l2,dc=example,dc=com",
	    { { "objectClass", "inetOrgPerson" }, { "nsAccountLock", "Yes" } },
	    "uid=l2,dc=example,dc=com",
	    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, true },
	{ "nsAccountLock 1", "389ds", "nsAccountLock",
	    "uid=l3,dc=example,dc=com",
	    { { "objectClass", "inetOrgPerson" }, { "nsAccountLock", "1" } },
	    "uid=l3,dc=example,dc=com",
	    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, true },
	{ "nsAccountLock false", "389ds", "nsAccountLock",
	    "uid=l4,dc=example,dc=com",
	    { { "objectClass", "inetOrgPerson" },
	      { "nsAccountLock", "false" } },
	    "uid=l4,dc=example,dc=com",
	    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false },
	{ "nsAccountLock 0", "389ds", "nsAccountLock",
	    "uid=l5,dc=example,dc=com",
	    { { "objectClass", "inetOrgPerson" }, { "nsAccountLock", "0" } },
	    "uid=l5,dc=example,dc=com",
	    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false },
	{ "nsAccountLock empty", "389ds", "nsAccountLock",
	    "uid=l6,dc=example,dc=com",
	    { { "objectClass", "inetOrgPerson" }, { "nsAccountLock", "" } },
	    "uid=l6,dc=example,dc=com",
	    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false },
	{ "nsAccountLock absent", "389ds", "nsAccountLock",
	    "uid=l7,dc=example,dc=com",
	    { { "objectClass", "inetOrgPerson" } },
	    "uid=l7,dc=example,dc=com",
	    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false },
	/* Only the first value counts, as for every column. */
	{ "disabled: first value wins", "389ds", "nsAccountLock",
	    "uid=l8,dc=example,dc=com",
	    { { "objectClass", "inetOrgPerson" }, { "nsAccountLock", "false" },
	      { "nsAccountLock", "true" } },
	    "uid=l8,dc=example,dc=com",
	    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false },
	/* The root DN is a DN: the map does not judge where users live. */
	{ "root DN", "openldap", NULL, "",
	    { { "objectClass", "inetOrgPerson" } },
	    "", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false },
};

static void
check_user(const struct user_case *c, const struct store_user *u)
{
	check_str(c->what, "id", u->id, ID);
	check_str(c->what, "dn", u->dn, c->dn);
	check_str(c->what, "dn_norm", u->dn_norm, c->dn_norm);
	check_str(c->what, "login", u->login, c->login);
	check_str(c->what, "login_alt", u->login_alt, c->login_alt);
	check_str(c->what, "full_name", u->full_name, c->full_name);
	check_str(c->what, "given_name", u->given_name, c->given_name);
	check_str(c->what, "surname", u->surname, c->surname);
	check_str(c->what, "email", u->email, c->email);
	check_str(c->what, "manager_dn", u->manager_dn, c->manager_dn);
	check_str(c->what, "manager_dn_norm", u->manager_dn_norm,
	    c->manager_dn_norm);
	check_str(c->what, "user_type", u->user_type, c->user_type);
	if (u->disabled != c->disabled)
		fail_msg("%s: disabled is %d, want %d", c->what, u->disabled,
		    c->disabled);
}

static void
test_users(void **state)
{
	struct store_batch b = { 0 };

	(void)state;
	for (size_t i = 0; i < DS_ARRAY_SIZE(user_cases); i++) {
		const struct user_case *c = &user_cases[i];
		struct ldapconn_entry *e = build(c->dn, c->attrs);
		struct ds_error err = { "" };
		struct attrmap map;
		unsigned bad = 0;
		enum mirror_map_result r;

		load(c->profile, &map);
		if (c->disabled_attr != NULL)
			set_field(&map, "disabled", c->disabled_attr);
		r = mirror_map_entry(&map, NULL, e, ID, &b, &bad, &err);
		if (r != MIRROR_MAP_USER)
			fail_msg("%s: result %d, want USER (%s)", c->what, r,
			    err.msg);
		/* Rows pile up in the batch: each case checks its own. */
		assert_int_equal(b.user_count, i + 1);
		assert_int_equal(b.group_count, 0);
		assert_int_equal(bad, 0);
		check_user(c, &b.users[b.user_count - 1]);
		ldapconn_entry_free(e);
	}
	store_batch_free(&b);
}

/* ---- groups -------------------------------------------------------------- */

#define MEMBERS_MAX 8

struct group_case {
	const char *what;
	const char *profile;
	const char *group_class;        /* overrides, NULL = profile's */
	const char *member_attr;
	const char *dn;
	struct kv attrs[KV_MAX];        /* members included */
	const char *dn_norm, *name, *description;
	const char *member_dn[MEMBERS_MAX];      /* kept, in order */
	const char *member_dn_norm[MEMBERS_MAX];
	unsigned bad;
};

static const struct group_case group_cases[] = {
	{ "openldap groupOfNames", "openldap", NULL, NULL,
	    "cn=Admins,ou=Groups,dc=Example,dc=com",
	    { { "objectClass", "top" }, { "objectClass", "groupOfNames" },
	      { "cn", "Admins" },
	      { "description", "Domain, \"admins\" + friends" },
	      { "member", "uid=Alice,ou=People,dc=Example,dc=com" },
	      { "member", "UID=bob , OU=people;DC=example,DC=COM" },
	      { "member", "not a dn" },
	      /* a nested group is a member like any other DN */
	      { "member", "cn=Sub Group,ou=Groups,dc=example,dc=com" },
	      { "member", "cn=a\\" },
	      { "member", "cn=O\\27Brien\\, Pat,ou=People,dc=example,dc=com" },
	      { "member", "cn=x,ou=People,dc=example,dc=com," } },
	    "cn=admins,ou=groups,dc=example,dc=com", "Admins",
	    "Domain, \"admins\" + friends",
	    { "uid=Alice,ou=People,dc=Example,dc=com",
	      "UID=bob , OU=people;DC=example,DC=COM",
	      "cn=Sub Group,ou=Groups,dc=example,dc=com",
	      "cn=O\\27Brien\\, Pat,ou=People,dc=example,dc=com" },
	    { "uid=alice,ou=people,dc=example,dc=com",
	      "uid=bob,ou=people,dc=example,dc=com",
	      "cn=sub group,ou=groups,dc=example,dc=com",
	      "cn=o'brien\\, pat,ou=people,dc=example,dc=com" }, 3 },
	/* AD: full_name is displayName, which groups rarely have: the name
	 * falls back to cn. */
	{ "ad group, no displayName", "ad", NULL, NULL,
	    "CN=Domain Admins,CN=Users,DC=Corp,DC=Example",
	    { { "objectClass", "top" }, { "objectClass", "Group" },
	      { "cn", "Domain Admins" },
	      { "member", "CN=Jane Doe,OU=Staff,DC=Corp,DC=Example" },
	      { "member", "CN=Nested Group,OU=Groups,DC=Corp,DC=Example" },
	      { "member",
	        "CN=J\xc3\xb6rg M\xc3\xbcller,OU=Staff,DC=Corp,DC=Example" } },
	    "cn=domain admins,cn=users,dc=corp,dc=example", "Domain Admins",
	    NULL,
	    { "CN=Jane Doe,OU=Staff,DC=Corp,DC=Example",
	      "CN=Nested Group,OU=Groups,DC=Corp,DC=Example",
	      "CN=J\xc3\xb6rg M\xc3\xbcller,OU=Staff,DC=Corp,DC=Example" },
	    { "cn=jane doe,ou=staff,dc=corp,dc=example",
	      "cn=nested group,ou=groups,dc=corp,dc=example",
	      "cn=j\xc3\xb6rg m\xc3\xbcller,ou=staff,dc=corp,dc=example" }, 0 },
	{ "ad group with displayName", "ad", NULL, NULL,
	    "CN=Ops,OU=Groups,DC=Corp,DC=Example",
	    { { "objectClass", "group" }, { "cn", "Ops" },
	      { "displayName", "Operations, 24/7" },
	      { "description", "#1 team" } },
	    "cn=ops,ou=groups,dc=corp,dc=example", "Operations, 24/7",
	    "#1 team", { NULL }, { NULL }, 0 },
	{ "empty group, no name", "openldap", NULL, NULL,
	    "cn=Empty,ou=Groups,dc=example,dc=com",
	    { { "objectClass", "GROUPOFNAMES" } },
	    "cn=empty,ou=groups,dc=example,dc=com", NULL, NULL,
	    { NULL }, { NULL }, 0 },
	/* Member values keep their bytes; only the _norm side is canonical. */
	{ "troublemaker member values", "openldap", NULL, NULL,
	    "cn=\\#1 Fan+ou=x,ou=Groups,dc=example,dc=com",
	    { { "objectClass", "groupOfNames" },
	      { "member",
	        "cn=\\ \xc3\x93sk \\+ \xc3\x81sa\\\\,ou=People,dc=example,dc=com" },
	      { "member", "cn=\"Doe, Jane\",ou=People,dc=example,dc=com" },
	      { "member", "cn=#04024869,ou=People,dc=example,dc=com" },
	      { "member", "cn=x\\,ou=People,dc=example,dc=com" },
	      /* not UTF-8, but a DN: the norm spells the bytes \XX */
	      { "member", "cn=\xff\xfe,dc=example,dc=com" },
	      { "member", "cn=a,dc=example,dc=com\\" } },
	    "cn=\\#1 fan+ou=x,ou=groups,dc=example,dc=com", NULL, NULL,
	    { "cn=\\ \xc3\x93sk \\+ \xc3\x81sa\\\\,ou=People,dc=example,dc=com",
	      "cn=\"Doe, Jane\",ou=People,dc=example,dc=com",
	      "cn=#04024869,ou=People,dc=example,dc=com",
	      "cn=x\\,ou=People,dc=example,dc=com",
	      "cn=\xff\xfe,dc=example,dc=com" },
	    { "cn=\\ \xc3\xb3sk \\+ \xc3\xa1sa\\\\,ou=people,dc=example,dc=com",
	      "cn=doe\\, jane,ou=people,dc=example,dc=com",
	      "cn=#04024869,ou=people,dc=example,dc=com",
	      "cn=x\\,ou=people,dc=example,dc=com",
	      "cn=\\ff\\fe,dc=example,dc=com" }, 1 },
	/* groupOfUniqueNames: the optional "#'0101'B" UID (RFC 4517
	 * §3.3.21) is not part of the DN, in either column; an escaped '#'
	 * is part of the value. */
	{ "389ds groupOfUniqueNames", "389ds", "groupOfUniqueNames",
	    "uniqueMember", "cn=Staff,ou=Groups,dc=example,dc=com",
	    { { "objectClass", "groupOfUniqueNames" }, { "cn", "Staff" },
	      { "uniqueMember", "uid=a,ou=People,dc=example,dc=com#'0101'B" },
	      { "uniqueMember", "uid=b,ou=People,dc=example,dc=com" },
	      { "uniqueMember", "uid=c\\#'01'B,dc=example,dc=com" },
	      { "uniqueMember", "uid=d,dc=example,dc=com#''B" },
	      { "uniqueMember", "#'01'B" },
	      { "uniqueMember", "uid=e,dc=bad\\#'01'B" } },
	    "cn=staff,ou=groups,dc=example,dc=com", "Staff", NULL,
	    { "uid=a,ou=People,dc=example,dc=com",
	      "uid=b,ou=People,dc=example,dc=com",
	      "uid=c\\#'01'B,dc=example,dc=com", "uid=d,dc=example,dc=com",
	      "uid=e,dc=bad\\#'01'B" },
	    { "uid=a,ou=people,dc=example,dc=com",
	      "uid=b,ou=people,dc=example,dc=com",
	      "uid=c#'01'b,dc=example,dc=com", "uid=d,dc=example,dc=com",
	      "uid=e,dc=bad#'01'b" }, 1 },
	/* Only uniqueMember carries a UID: with member the same text is a
	 * DN whose last value ends in "#'01'B". */
	{ "member does not strip a UID", "openldap", NULL, NULL,
	    "cn=g,dc=example,dc=com",
	    { { "objectClass", "groupOfNames" },
	      { "member", "uid=a,dc=example,dc=com#'01'B" } },
	    "cn=g,dc=example,dc=com", NULL, NULL,
	    { "uid=a,dc=example,dc=com#'01'B" },
	    { "uid=a,dc=example,dc=com#'01'b" }, 0 },
	/* Ranged values ("member;range=0-1499") are joined into member by
	 * ldapfetch before the map sees the entry; the map reads only the
	 * attribute the map names, so a stray range is not a member list. */
	{ "ranged member attribute is not read", "ad", NULL, NULL,
	    "CN=Big,OU=Groups,DC=Corp,DC=Example",
	    { { "objectClass", "group" },
	      { "member;range=0-*",
	        "CN=Jane Doe,OU=Staff,DC=Corp,DC=Example" } },
	    "cn=big,ou=groups,dc=corp,dc=example", NULL, NULL,
	    { NULL }, { NULL }, 0 },
};

static void
check_group(const struct group_case *c, const struct store_group *g)
{
	size_t want = 0;

	while (want < MEMBERS_MAX && c->member_dn[want] != NULL)
		want++;
	check_str(c->what, "id", g->id, ID);
	check_str(c->what, "dn", g->dn, c->dn);
	check_str(c->what, "dn_norm", g->dn_norm, c->dn_norm);
	check_str(c->what, "name", g->name, c->name);
	check_str(c->what, "description", g->description, c->description);
	if (g->member_count != want)
		fail_msg("%s: %zu members, want %zu", c->what, g->member_count,
		    want);
	/* Even an empty list is an array: the store walks it unchecked. */
	assert_non_null(g->member_dn);
	assert_non_null(g->member_dn_norm);
	assert_false(g->keep_members);
	for (size_t k = 0; k < want; k++) {
		check_str(c->what, "member_dn", g->member_dn[k],
		    c->member_dn[k]);
		check_str(c->what, "member_dn_norm", g->member_dn_norm[k],
		    c->member_dn_norm[k]);
	}
}

static void
test_groups(void **state)
{
	struct store_batch b = { 0 };

	(void)state;
	for (size_t i = 0; i < DS_ARRAY_SIZE(group_cases); i++) {
		const struct group_case *c = &group_cases[i];
		struct ldapconn_entry *e = build(c->dn, c->attrs);
		struct ds_error err = { "" };
		struct attrmap map;
		unsigned bad = 0;
		enum mirror_map_result r;

		load(c->profile, &map);
		if (c->group_class != NULL)
			set_field(&map, "group_object_class", c->group_class);
		if (c->member_attr != NULL)
			set_field(&map, "member", c->member_attr);
		r = mirror_map_entry(&map, NULL, e, ID, &b, &bad, &err);
		if (r != MIRROR_MAP_GROUP)
			fail_msg("%s: result %d, want GROUP (%s)", c->what, r,
			    err.msg);
		assert_int_equal(b.group_count, i + 1);
		assert_int_equal(b.user_count, 0);
		if (bad != c->bad)
			fail_msg("%s: %u bad members, want %u", c->what, bad,
			    c->bad);
		check_group(c, &b.groups[b.group_count - 1]);
		ldapconn_entry_free(e);
	}
	store_batch_free(&b);
}

/* bad_members is a counter the caller owns: it adds to it (the mirror
 * logs per entry, others may sum over a batch), and may be NULL. */
static void
test_bad_members_counter(void **state)
{
	static const struct kv attrs[] = {
		{ "objectClass", "groupOfNames" },
		{ "member", "junk" }, { "member", "uid=ok,dc=example,dc=com" },
		{ "member", "=" }, { NULL, NULL },
	};
	struct ldapconn_entry *e = build("cn=g,dc=example,dc=com", attrs);
	struct store_batch b = { 0 };
	struct attrmap map;
	unsigned bad = 5;

	(void)state;
	load("openldap", &map);
	assert_int_equal(mirror_map_entry(&map, NULL, e, ID, &b, &bad, NULL),
	    MIRROR_MAP_GROUP);
	assert_int_equal(bad, 7);
	assert_int_equal(mirror_map_entry(&map, NULL, e, ID, &b, NULL, NULL),
	    MIRROR_MAP_GROUP);
	assert_int_equal(b.group_count, 2);
	assert_int_equal(b.groups[0].member_count, 1);
	assert_int_equal(b.groups[1].member_count, 1);
	assert_string_equal(b.groups[1].member_dn_norm[0],
	    "uid=ok,dc=example,dc=com");
	ldapconn_entry_free(e);
	store_batch_free(&b);
}

/* A big group as ldapfetch hands it over once its ranges are joined:
 * every value kept in order, every bad one counted, nothing lost at any
 * size. */
static void
test_group_many_members(void **state)
{
	enum { N = 5000 };
	struct ldapconn_entry *e = ldapconn_entry_new(
	    "CN=All Staff,OU=Groups,DC=Corp,DC=Example");
	struct store_batch b = { 0 };
	struct attrmap map;
	unsigned bad = 0, want_bad = 0;
	char v[96], norm[96];
	const struct store_group *g;
	size_t k = 0;

	(void)state;
	assert_non_null(e);
	load("ad", &map);
	add(e, "objectClass", "group");
	for (unsigned i = 0; i < N; i++) {
		if (i % 7 == 3) {
			snprintf(v, sizeof(v), "bad member %u", i);
			want_bad++;
		} else {
			snprintf(v, sizeof(v),
			    "CN=User %u,OU=Staff,DC=Corp,DC=Example", i);
		}
		add(e, "member", v);
	}
	assert_int_equal(mirror_map_entry(&map, NULL, e, ID, &b, &bad, NULL),
	    MIRROR_MAP_GROUP);
	assert_int_equal(bad, want_bad);
	g = &b.groups[0];
	assert_int_equal(g->member_count, N - want_bad);
	for (unsigned i = 0; i < N; i++) {
		if (i % 7 == 3)
			continue;
		snprintf(v, sizeof(v), "CN=User %u,OU=Staff,DC=Corp,DC=Example",
		    i);
		snprintf(norm, sizeof(norm),
		    "cn=user %u,ou=staff,dc=corp,dc=example", i);
		assert_string_equal(g->member_dn[k], v);
		assert_string_equal(g->member_dn_norm[k], norm);
		k++;
	}
	ldapconn_entry_free(e);
	store_batch_free(&b);
}

/* ---- malformed entry DNs, entries of neither class ----------------------- */

static const char *const bad_dns[] = {
	"not a dn",
	"cn=x,",
	"=x,dc=example,dc=com",
	"cn=\\ZZ,dc=example,dc=com",
	"cn=a\\",
	"cn",
	",",
	"cn=x,,dc=example,dc=com",
	"cn=#zz,dc=example,dc=com",
	"cn=\"unterminated,dc=example,dc=com",
};

/* A DN that does not parse cannot key a row: ERROR with a message, and
 * the batch and the bad-member counter untouched even though the entry
 * is a user or a group (with bad members) of every profile. */
static void
bad_dn_one(const struct attrmap *map, const char *dn, bool group,
    struct store_batch *b)
{
	struct ldapconn_entry *e = ldapconn_entry_new(dn);
	struct ds_error err = { "" };
	unsigned bad = 0;
	enum mirror_map_result r;

	assert_non_null(e);
	add(e, "objectClass", group ? map->group_object_class :
	    map->user_object_class);
	add(e, map->login, "x");
	add(e, map->member, "junk");
	add(e, map->member, "cn=ok,dc=example,dc=com");
	r = mirror_map_entry(map, NULL, e, ID, b, &bad, &err);
	if (r != MIRROR_MAP_ERROR)
		fail_msg("%s \"%s\": result %d, want ERROR",
		    map->user_object_class, dn, r);
	assert_true(err.msg[0] != '\0');
	assert_int_equal(store_batch_size(b), 0);
	assert_int_equal(bad, 0);
	/* no err to fill: still ERROR, still no crash */
	assert_int_equal(mirror_map_entry(map, NULL, e, ID, b, NULL, NULL),
	    MIRROR_MAP_ERROR);
	ldapconn_entry_free(e);
}

static void
test_bad_dn(void **state)
{
	static const char *const profiles[] = { "openldap", "389ds", "ad" };
	struct store_batch b = { 0 };

	(void)state;
	for (size_t p = 0; p < DS_ARRAY_SIZE(profiles); p++) {
		struct attrmap map;

		load(profiles[p], &map);
		for (size_t i = 0; i < DS_ARRAY_SIZE(bad_dns); i++) {
			bad_dn_one(&map, bad_dns[i], false, &b);
			bad_dn_one(&map, bad_dns[i], true, &b);
		}
	}
	store_batch_free(&b);
}

struct ignored_case {
	const char *what;
	const char *profile;
	const char *dn;
	struct kv attrs[KV_MAX];
};

static const struct ignored_case ignored_cases[] = {
	{ "no objectClass at all", "openldap", "uid=a,dc=example,dc=com",
	    { { "uid", "a" } } },
	{ "person only", "openldap", "uid=a,dc=example,dc=com",
	    { { "objectClass", "top" }, { "objectClass", "person" },
	      { "uid", "a" } } },
	{ "organizationalUnit", "389ds", "ou=People,dc=example,dc=com",
	    { { "objectClass", "top" },
	      { "objectClass", "organizationalUnit" } } },
	/* groupOfUniqueNames needs the override (attrmap.h) */
	{ "groupOfUniqueNames with the default map", "389ds",
	    "cn=g,dc=example,dc=com",
	    { { "objectClass", "groupOfUniqueNames" },
	      { "uniqueMember", "uid=a,dc=example,dc=com" } } },
	/* whole values, not prefixes or substrings */
	{ "class prefix", "openldap", "uid=a,dc=example,dc=com",
	    { { "objectClass", "inetOrgPersonX" },
	      { "objectClass", "groupOfNamesAndMore" } } },
	{ "class substring", "ad", "CN=a,DC=corp",
	    { { "objectClass", "use" }, { "objectClass", "msDS-user" },
	      { "objectClass", "groups" } } },
	{ "class named by another attribute", "openldap",
	    "uid=a,dc=example,dc=com",
	    { { "structuralObjectClass", "inetOrgPerson" },
	      { "description", "groupOfNames" } } },
	{ "class with spaces", "ad", "CN=a,DC=corp",
	    { { "objectClass", " user" }, { "objectClass", "group " } } },
	{ "openldap classes under the ad map", "ad", "uid=a,dc=example,dc=com",
	    { { "objectClass", "inetOrgPerson" },
	      { "objectClass", "groupOfNames" } } },
	{ "ad classes under the openldap map", "openldap", "CN=a,DC=corp",
	    { { "objectClass", "user" }, { "objectClass", "group" } } },
	/* The class decides first: a DN that does not parse on an entry the
	 * mirror does not want is not worth a warning. */
	{ "bad DN, neither class", "openldap", "not a dn",
	    { { "objectClass", "device" } } },
	{ "empty class value", "openldap", "cn=a",
	    { { "objectClass", "" } } },
};

static void
test_ignored(void **state)
{
	struct store_batch b = { 0 };

	(void)state;
	for (size_t i = 0; i < DS_ARRAY_SIZE(ignored_cases); i++) {
		const struct ignored_case *c = &ignored_cases[i];
		struct ldapconn_entry *e = build(c->dn, c->attrs);
		struct ds_error err = { "" };
		struct attrmap map;
		unsigned bad = 0;
		enum mirror_map_result r;

		load(c->profile, &map);
		r = mirror_map_entry(&map, NULL, e, ID, &b, &bad, &err);
		if (r != MIRROR_MAP_IGNORED)
			fail_msg("%s: result %d, want IGNORED", c->what, r);
		/* the debug log says which entry and what it was not */
		if (strstr(err.msg, c->dn) == NULL ||
		    strstr(err.msg, map.user_object_class) == NULL ||
		    strstr(err.msg, map.group_object_class) == NULL)
			fail_msg("%s: message \"%s\"", c->what, err.msg);
		assert_int_equal(store_batch_size(&b), 0);
		assert_int_equal(bad, 0);
		assert_int_equal(mirror_map_entry(&map, NULL, e, ID, &b, NULL,
		    NULL), MIRROR_MAP_IGNORED);
		ldapconn_entry_free(e);
	}
	store_batch_free(&b);
}

/* Object class names compare case-insensitively (RFC 4512 §2.5), on
 * either side: what the server sends and what the map was given. */
/* However many object classes an entry has, the one that matters is
 * found: an earlier version looked at the first 64 only. */
static void
test_many_classes(void **state)
{
	static const size_t counts[] = { 1, 31, 32, 33, 64, 65, 200 };
	struct store_batch b = { 0 };
	struct attrmap map;

	(void)state;
	load("openldap", &map);
	for (size_t i = 0; i < DS_ARRAY_SIZE(counts); i++) {
		struct ldapconn_entry *e = ldapconn_entry_new("uid=a,dc=ex");
		char cls[32];

		assert_non_null(e);
		for (size_t k = 1; k < counts[i]; k++) {
			snprintf(cls, sizeof(cls), "auxClass%zu", k);
			add(e, "objectClass", cls);
		}
		add(e, "objectClass", "inetOrgPerson");    /* the last one */
		if (mirror_map_entry(&map, NULL, e, ID, &b, NULL, NULL) !=
		    MIRROR_MAP_USER)
			fail_msg("%zu classes, the user class last: not a user",
			    counts[i]);
		ldapconn_entry_free(e);
	}
	store_batch_free(&b);
}

static void
test_class_case(void **state)
{
	static const struct {
		const char *profile, *user_class, *group_class;
		const char *sent;
		enum mirror_map_result want;
	} cases[] = {
		{ "openldap", NULL, NULL, "inetorgperson", MIRROR_MAP_USER },
		{ "openldap", NULL, NULL, "INETORGPERSON", MIRROR_MAP_USER },
		{ "openldap", NULL, NULL, "InetOrgPerson", MIRROR_MAP_USER },
		{ "openldap", NULL, NULL, "groupofnames", MIRROR_MAP_GROUP },
		{ "389ds", NULL, NULL, "GROUPOFNAMES", MIRROR_MAP_GROUP },
		{ "ad", NULL, NULL, "User", MIRROR_MAP_USER },
		{ "ad", NULL, NULL, "GROUP", MIRROR_MAP_GROUP },
		{ "openldap", "PosixAccount", "POSIXGROUP", "posixaccount",
		    MIRROR_MAP_USER },
		{ "openldap", "PosixAccount", "POSIXGROUP", "posixGroup",
		    MIRROR_MAP_GROUP },
		{ "openldap", "PosixAccount", "POSIXGROUP", "inetOrgPerson",
		    MIRROR_MAP_IGNORED },
	};
	struct store_batch b = { 0 };

	(void)state;
	for (size_t i = 0; i < DS_ARRAY_SIZE(cases); i++) {
		struct ldapconn_entry *e = ldapconn_entry_new("cn=x,dc=ex");
		struct attrmap map;
		size_t users = b.user_count, groups = b.group_count;
		enum mirror_map_result r;

		assert_non_null(e);
		load(cases[i].profile, &map);
		if (cases[i].user_class != NULL)
			set_field(&map, "user_object_class",
			    cases[i].user_class);
		if (cases[i].group_class != NULL)
			set_field(&map, "group_object_class",
			    cases[i].group_class);
		add(e, "objectClass", "top");
		add(e, "objectClass", cases[i].sent);
		r = mirror_map_entry(&map, NULL, e, ID, &b, NULL, NULL);
		if (r != cases[i].want)
			fail_msg("%s: class \"%s\": result %d, want %d",
			    cases[i].profile, cases[i].sent, r, cases[i].want);
		assert_int_equal(b.user_count, users +
		    (r == MIRROR_MAP_USER));
		assert_int_equal(b.group_count, groups +
		    (r == MIRROR_MAP_GROUP));
		ldapconn_entry_free(e);
	}
	store_batch_free(&b);
}

/* ---- scope --------------------------------------------------------------- */

struct scope_case {
	bool no_scope;                  /* pass scope == NULL */
	const char *user_base, *group_base;
	const char *dn;
	bool group;
	enum mirror_map_result want;
};

#define PEOPLE "ou=people,dc=example,dc=com"
#define GROUPS "ou=groups,dc=example,dc=com"

static const struct scope_case scope_cases[] = {
	{ true, NULL, NULL, "uid=a,ou=Elsewhere,dc=other", false,
	    MIRROR_MAP_USER },
	{ false, NULL, NULL, "uid=a,ou=Elsewhere,dc=other", false,
	    MIRROR_MAP_USER },
	{ false, PEOPLE, GROUPS, "uid=a,ou=People,dc=example,dc=com", false,
	    MIRROR_MAP_USER },
	/* case, spacing and legacy separators do not move an entry out */
	{ false, PEOPLE, GROUPS, "UID=A , OU=PEOPLE;DC=Example,DC=COM", false,
	    MIRROR_MAP_USER },
	{ false, PEOPLE, GROUPS, "uid=a,ou=sub,ou=People,dc=example,dc=com",
	    false, MIRROR_MAP_USER },
	{ false, PEOPLE, GROUPS, "ou=People,dc=example,dc=com", false,
	    MIRROR_MAP_USER },
	{ false, PEOPLE, GROUPS, "uid=a,ou=Groups,dc=example,dc=com", false,
	    MIRROR_MAP_OUT_OF_SCOPE },
	{ false, PEOPLE, GROUPS, "uid=a,dc=example,dc=com", false,
	    MIRROR_MAP_OUT_OF_SCOPE },
	{ false, PEOPLE, GROUPS, "dc=example,dc=com", false,
	    MIRROR_MAP_OUT_OF_SCOPE },
	/* whole RDNs: a longer name that ends alike is elsewhere */
	{ false, PEOPLE, GROUPS, "uid=a,ou=MorePeople,dc=example,dc=com",
	    false, MIRROR_MAP_OUT_OF_SCOPE },
	/* an escaped comma does not end an RDN */
	{ false, PEOPLE, GROUPS, "uid=a\\,ou=People,dc=example,dc=com", false,
	    MIRROR_MAP_OUT_OF_SCOPE },
	{ false, PEOPLE, GROUPS, "uid=a,ou=People,dc=example,dc=org", false,
	    MIRROR_MAP_OUT_OF_SCOPE },
	/* each class against its own base */
	{ false, PEOPLE, GROUPS, "cn=g,ou=Groups,dc=example,dc=com", true,
	    MIRROR_MAP_GROUP },
	{ false, PEOPLE, GROUPS, "cn=g,ou=People,dc=example,dc=com", true,
	    MIRROR_MAP_OUT_OF_SCOPE },
	{ false, PEOPLE, NULL, "cn=g,dc=anywhere", true, MIRROR_MAP_GROUP },
	{ false, NULL, GROUPS, "uid=a,dc=anywhere", false, MIRROR_MAP_USER },
	{ false, NULL, GROUPS, "cn=g,dc=anywhere", true,
	    MIRROR_MAP_OUT_OF_SCOPE },
	/* the root contains everything */
	{ false, "", "", "uid=a,dc=anywhere", false, MIRROR_MAP_USER },
	{ false, "", "", "cn=g,dc=anywhere", true, MIRROR_MAP_GROUP },
	/* the scope does not save a DN that does not parse */
	{ false, PEOPLE, GROUPS, "uid=a\\,ou=People,dc=example,dc=com\\", false,
	    MIRROR_MAP_ERROR },
};

/* The message of an OUT_OF_SCOPE: the mirror logs it and drops the row,
 * so it names the entry and the base it missed. */
static void
check_scope_message(const struct scope_case *c, const char *msg)
{
	const char *base = c->group ? c->group_base : c->user_base;
	const char *field = c->group ? "group_base" : "user_base";

	if (strstr(msg, c->dn) == NULL || strstr(msg, base) == NULL ||
	    strstr(msg, field) == NULL)
		fail_msg("\"%s\": message \"%s\"", c->dn, msg);
}

static void
scope_one(const struct attrmap *map, const struct scope_case *c,
    struct store_batch *b)
{
	const struct mirror_scope scope = { c->user_base, c->group_base };
	const struct mirror_scope *sc = c->no_scope ? NULL : &scope;
	struct ldapconn_entry *e = ldapconn_entry_new(c->dn);
	struct ds_error err = { "" };
	size_t users = b->user_count, groups = b->group_count;
	unsigned bad = 0;
	enum mirror_map_result r;

	assert_non_null(e);
	add(e, "objectClass", c->group ? "groupOfNames" : "inetOrgPerson");
	add(e, "uid", "a");
	add(e, "member", "junk");
	r = mirror_map_entry(map, sc, e, ID, b, &bad, &err);
	if (r != c->want)
		fail_msg("\"%s\": result %d, want %d (%s)", c->dn, r, c->want,
		    err.msg);
	assert_int_equal(b->user_count, users + (r == MIRROR_MAP_USER));
	assert_int_equal(b->group_count, groups + (r == MIRROR_MAP_GROUP));
	/* members of a group that is not mapped are not counted */
	assert_int_equal(bad, r == MIRROR_MAP_GROUP);
	if (r == MIRROR_MAP_OUT_OF_SCOPE) {
		check_scope_message(c, err.msg);
		r = mirror_map_entry(map, sc, e, ID, b, NULL, NULL);
		assert_int_equal(r, MIRROR_MAP_OUT_OF_SCOPE);
	}
	ldapconn_entry_free(e);
}

static void
test_scope(void **state)
{
	struct store_batch b = { 0 };
	struct attrmap map;

	(void)state;
	load("openldap", &map);
	for (size_t i = 0; i < DS_ARRAY_SIZE(scope_cases); i++)
		scope_one(&map, &scope_cases[i], &b);
	store_batch_free(&b);
}

/* ---- values that look like something else ------------------------------- */

/* A value is a length-counted octet string: one with a NUL inside is not
 * a DN (RFC 4514 2.4 wants \00), and read as a C string
 * "cn=admins,dc=example,dc=com\0<anything>" would be a membership of
 * cn=admins, which the server did not send.  Such a member is skipped
 * and counted; such a manager, login or any other column is absent
 * (PostgreSQL's text cannot hold a NUL either). */
static void
test_value_with_nul(void **state)
{
	static const char member[] = "cn=admins,dc=example,dc=com\0,cn=x";
	static const char manager[] = "uid=boss,dc=example,dc=com\0junk";
	struct ldapconn_entry *g = ldapconn_entry_new("cn=g,dc=example");
	struct ldapconn_entry *u = ldapconn_entry_new("uid=u,dc=example");
	struct store_batch b = { 0 };
	struct attrmap map;
	unsigned bad = 0;
	bool member_kept, manager_linked;

	(void)state;
	assert_non_null(g);
	assert_non_null(u);
	load("openldap", &map);
	add(g, "objectClass", "groupOfNames");
	assert_int_equal(ldapconn_entry_add_value(g, "member", member,
	    sizeof(member) - 1), 0);
	add(u, "objectClass", "inetOrgPerson");
	assert_int_equal(ldapconn_entry_add_value(u, "manager", manager,
	    sizeof(manager) - 1), 0);
	assert_int_equal(ldapconn_entry_add_value(u, "uid", "alice\0x", 7), 0);
	assert_int_equal(mirror_map_entry(&map, NULL, g, ID, &b, &bad, NULL),
	    MIRROR_MAP_GROUP);
	assert_int_equal(mirror_map_entry(&map, NULL, u, ID, &b, NULL, NULL),
	    MIRROR_MAP_USER);
	member_kept = b.groups[0].member_count != 0;
	manager_linked = b.users[0].manager_dn_norm != NULL ||
	    b.users[0].manager_dn != NULL;
	assert_null(b.users[0].login);
	ldapconn_entry_free(g);
	ldapconn_entry_free(u);
	store_batch_free(&b);
	if (member_kept || bad != 1)
		fail_msg("member with an embedded NUL kept as a truncated DN "
		    "(%u bad, want 1)", bad);
	if (manager_linked)
		fail_msg("manager with an embedded NUL kept as a truncated "
		    "DN");
}

/* RFC 4517 §3.3.21: NameAndOptionalUID = distinguishedName [ SHARP
 * BitString ], BitString = SQUOTE *binary-digit SQUOTE "B".  Only such
 * a tail after an unescaped '#' is a UID: a DN whose last value ends in
 * "#'Sales'B" (legal: '#' needs escaping only at the start of a value)
 * keeps it, and a last value ending in an escaped backslash does not
 * hide the UID after it. */
static void
test_unique_member_uid_edges(void **state)
{
	static const struct {
		const char *sent, *dn_norm;
	} cases[] = {
		/* not a BitString: part of the DN */
		{ "uid=a,o=Acme#'Sales'B", "uid=a,o=acme#'sales'b" },
		{ "uid=a,dc=x#'B", "uid=a,dc=x#'b" },
		/* "dc=x\\" (a value ending in a backslash) with UID '01'B */
		{ "uid=a,dc=x\\\\#'01'B", "uid=a,dc=x\\\\" },
	};
	struct store_batch b = { 0 };
	struct attrmap map;
	char got[256] = "";
	size_t wrong = 0;

	(void)state;
	load("389ds", &map);
	set_field(&map, "group_object_class", "groupOfUniqueNames");
	set_field(&map, "member", "uniqueMember");
	for (size_t i = 0; i < DS_ARRAY_SIZE(cases); i++) {
		struct ldapconn_entry *e = ldapconn_entry_new("cn=g,dc=x");
		const struct store_group *g;

		assert_non_null(e);
		add(e, "objectClass", "groupOfUniqueNames");
		add(e, "uniqueMember", cases[i].sent);
		assert_int_equal(mirror_map_entry(&map, NULL, e, ID, &b, NULL,
		    NULL), MIRROR_MAP_GROUP);
		g = &b.groups[b.group_count - 1];
		assert_int_equal(g->member_count, 1);
		if (strcmp(g->member_dn_norm[0], cases[i].dn_norm) != 0 &&
		    wrong++ == 0)
			snprintf(got, sizeof(got), "\"%s\" -> \"%s\", "
			    "want \"%s\"", cases[i].sent, g->member_dn_norm[0],
			    cases[i].dn_norm);
		ldapconn_entry_free(e);
	}
	store_batch_free(&b);
	if (wrong != 0)
		fail_msg("%zu uniqueMember values split wrongly, first: %s",
		    wrong, got);
}

/* ---- fuzz ---------------------------------------------------------------- */

static uint32_t
rnd(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16;
}

/* Appends s to buf (of size cap, holding *len bytes) if it fits. */
static void
put(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + n + 1 > cap)
		return;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

/* A random DN: half of them shaped like type=value pairs (with escapes,
 * quotes, '#'-hex, legacy ';' and spaces, often below the scope's bases)
 * so that many parse, the rest any bytes from an alphabet of DN
 * troublemakers, invalid UTF-8 and 0xff included. */
static size_t
random_dn(uint32_t *seed, char *buf, size_t cap)
{
	static const char raw[] = "cCn=,;+\\ #\"<>2aF0.\x01\x7f\xc3\xa9\xff"
	    "\xce\x91\x80\xc3\xe2\x82";
	static const char *const types[] = { "cn", "CN", "uid", "ou", "dc",
		"2.5.4.3", "OID.2.5.4.3", "x-1", " cn ", "" };
	static const char *const pieces[] = { "a", "B", "j\xc3\xb6rg",
		"\xd0\x81", "\\,", "\\+", "\\\\", "\\\"", "\\#", "\\ ", "\\3d",
		"\\c3\\a9", " ", "#", "'", "\"", "=", "<", "\\", "\\zz", "\xff",
		"\xc3", "x y" };
	static const char *const tails[] = { ",ou=People,dc=Example,dc=com",
		",OU=Groups,DC=example,DC=COM", ",dc=example,dc=com", "",
		";ou=people;dc=example;dc=com" };
	size_t len = 0;

	buf[0] = '\0';
	if (rnd(seed) % 2 == 0) {
		size_t n = rnd(seed) % 24;

		for (size_t i = 0; i < n; i++)
			put(buf, cap, &len, &raw[rnd(seed) % (sizeof(raw) - 1)],
			    1);
		return len;
	}
	for (size_t r = 1 + rnd(seed) % 3; r > 0; r--) {
		const char *t = types[rnd(seed) % DS_ARRAY_SIZE(types)];

		put(buf, cap, &len, t, strlen(t));
		put(buf, cap, &len, "=", 1);
		switch (rnd(seed) % 8) {
		case 0:
			put(buf, cap, &len, "\"q, \\\"+;\"", 10);
			break;
		case 1:
			put(buf, cap, &len, "#04024869", 9);
			break;
		default:
			for (size_t k = rnd(seed) % 5; k > 0; k--) {
				const char *p =
				    pieces[rnd(seed) % DS_ARRAY_SIZE(pieces)];

				put(buf, cap, &len, p, strlen(p));
			}
		}
		if (r > 1)
			put(buf, cap, &len, rnd(seed) % 4 ? "," : "+", 1);
	}
	if (rnd(seed) % 4 != 0) {
		const char *t = tails[rnd(seed) % DS_ARRAY_SIZE(tails)];

		put(buf, cap, &len, t, strlen(t));
	}
	return len;
}

/* A random value: text with DN specials, random bytes (NUL and 0xff
 * too), or a DN, since any column may get any of them. */
static size_t
random_value(uint32_t *seed, char *buf, size_t cap)
{
	switch (rnd(seed) % 4) {
	case 0: {
		static const char *const words[] = { "alice", "514", "512",
			"TRUE", "yes", "false", "1", "2", "0", "x#'01'B",
			"#'0101'B", "'B", "", " ", "#hash", "-2", "4294967298",
			"J\xc3\xb6rg, \"x\" + \\y", "99999999999999999999999" };
		const char *w = words[rnd(seed) % DS_ARRAY_SIZE(words)];

		snprintf(buf, cap, "%s", w);
		return strlen(buf);
	}
	case 1: {
		size_t n = rnd(seed) % 16;

		for (size_t i = 0; i < n && i + 1 < cap; i++)
			buf[i] = (char)(rnd(seed) & 0xff);
		buf[n < cap ? n : cap - 1] = '\0';
		return n < cap ? n : cap - 1;
	}
	default: {
		size_t len = random_dn(seed, buf, cap);

		/* sometimes a uniqueMember UID, sometimes something like one */
		if (rnd(seed) % 4 == 0) {
			static const char *const uids[] = { "#'0101'B", "#''B",
				"#'B", "\\#'1'B", "#'x'B", "#'01'" };
			const char *u = uids[rnd(seed) % DS_ARRAY_SIZE(uids)];

			put(buf, cap, &len, u, strlen(u));
		}
		return len;
	}
	}
}

/* A random casing of s, for class names. */
static void
random_case(uint32_t *seed, const char *s, char *out, size_t cap)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < cap; i++) {
		char c = s[i];

		if (rnd(seed) % 3 == 0) {
			if (c >= 'a' && c <= 'z')
				c = (char)(c - 'a' + 'A');
			else if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
		}
		out[i] = c;
	}
	out[i] = '\0';
}

/* dn_normalize() of s, or NULL when it does not parse. */
static char *
norm_or_null(const char *s)
{
	char *out = NULL;
	struct ds_error err;

	if (dn_normalize(s, &out, &err) != 0)
		return NULL;
	return out;
}

static void
assert_fixed_point(const char *what, const char *ndn)
{
	char *again = norm_or_null(ndn);

	if (again == NULL)
		fail_msg("%s \"%s\" does not parse again", what, ndn);
	if (strcmp(again, ndn) != 0)
		fail_msg("%s \"%s\" normalises to \"%s\"", what, ndn, again);
	free(again);
}

/* Whether value k of attr is whole as a C string: one with a NUL inside
 * is not taken (mirror_map.c, mirror_map_has_nul). */
static bool
whole(const struct ldapconn_entry *e, const char *attr, size_t k,
    const char *v)
{
	return ldapconn_entry_value_len(e, attr, k) == strlen(v);
}

/* The first value of attr as the map takes it, or NULL: absent, or
 * holding a NUL. */
static const char *
first_value(const struct ldapconn_entry *e, const char *attr)
{
	const char *v = NULL;

	if (attr[0] == '\0' || ldapconn_entry_values(e, attr, &v, 1) == 0 ||
	    !whole(e, attr, 0, v))
		return NULL;
	return v;
}

static bool
has_class(const struct ldapconn_entry *e, const char *cls)
{
	const char *vals[16];
	size_t n = ldapconn_entry_values(e, "objectClass", vals, 16);

	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(vals[i], cls) == 0)
			return true;
	return false;
}

/* The user row against the entry it came from. */
static void
fuzz_check_user(const struct attrmap *map, const struct ldapconn_entry *e,
    const struct store_user *u, const char *dn_norm)
{
	const struct {
		const char *attr, *got;
	} cols[] = {
		{ map->login, u->login }, { map->login_alt, u->login_alt },
		{ map->full_name, u->full_name },
		{ map->given_name, u->given_name },
		{ map->surname, u->surname }, { map->email, u->email },
		{ map->user_type, u->user_type },
		{ map->manager, u->manager_dn },
	};
	char *mnorm;

	check_str("fuzz user", "id", u->id, ID);
	check_str("fuzz user", "dn", u->dn, ldapconn_entry_dn(e));
	check_str("fuzz user", "dn_norm", u->dn_norm, dn_norm);
	assert_fixed_point("user dn_norm", u->dn_norm);
	for (size_t i = 0; i < DS_ARRAY_SIZE(cols); i++)
		check_str("fuzz user", cols[i].attr, cols[i].got,
		    first_value(e, cols[i].attr));
	if (map->disabled[0] == '\0' || first_value(e, map->disabled) == NULL)
		assert_false(u->disabled);
	if (u->manager_dn == NULL) {
		assert_null(u->manager_dn_norm);
		return;
	}
	mnorm = norm_or_null(u->manager_dn);
	check_str("fuzz user", "manager_dn_norm", u->manager_dn_norm, mnorm);
	if (mnorm != NULL)
		assert_fixed_point("manager_dn_norm", mnorm);
	free(mnorm);
}

/* The group row: every member value either kept (in order, with its
 * normalised form a fixed point) or counted as bad. */
static void
fuzz_check_group(const struct attrmap *map, const struct ldapconn_entry *e,
    const struct store_group *g, const char *dn_norm, unsigned bad)
{
	size_t n = ldapconn_entry_values(e, map->member, NULL, 0);
	const char **vals = calloc(n ? n : 1, sizeof(*vals));
	const char *name = first_value(e, map->full_name);
	bool unique = strcasecmp(map->member, "uniqueMember") == 0;
	size_t k = 0;

	assert_non_null(vals);
	check_str("fuzz group", "id", g->id, ID);
	check_str("fuzz group", "dn", g->dn, ldapconn_entry_dn(e));
	check_str("fuzz group", "dn_norm", g->dn_norm, dn_norm);
	assert_fixed_point("group dn_norm", g->dn_norm);
	check_str("fuzz group", "name", g->name,
	    name != NULL ? name : first_value(e, "cn"));
	check_str("fuzz group", "description", g->description,
	    first_value(e, "description"));
	if (g->member_count + bad != n)
		fail_msg("%zu members + %u bad != %zu values", g->member_count,
		    bad, n);
	for (size_t i = 0; i < g->member_count; i++) {
		char *again = norm_or_null(g->member_dn[i]);

		check_str("fuzz group", "member_dn_norm", g->member_dn_norm[i],
		    again);
		assert_fixed_point("member_dn_norm", g->member_dn_norm[i]);
		free(again);
	}
	/* With member (no UID to strip) the kept values are exactly the
	 * values that are whole and parse, as sent, in order. */
	n = ldapconn_entry_values(e, map->member, vals, n);
	for (size_t i = 0; !unique && i < n; i++) {
		char *v = whole(e, map->member, i, vals[i]) ?
		    norm_or_null(vals[i]) : NULL;

		if (v == NULL)
			continue;
		free(v);
		assert_true(k < g->member_count);
		check_str("fuzz group", "member_dn", g->member_dn[k++],
		    vals[i]);
	}
	if (!unique)
		assert_int_equal(k, g->member_count);
	free(vals);
}

/* Random entries through random maps and scopes, each checked against an
 * oracle built from the same entry: no crash or leak (the sanitizer
 * build), nothing appended unless USER or GROUP, exactly one row then,
 * every normalised DN in it a fixed point of dn_normalize(). */
static void
test_fuzz(void **state)
{
	static const char *const junk_classes[] = { "top", "person",
		"organizationalPerson", "computer", "posixAccount",
		"groupOfUniqueNames", "inetOrgPersonX", "use", "", " user",
		"\xff\xfe", "gr\xc3\xb6up" };
	static const struct mirror_scope scopes[] = {
		{ NULL, NULL },
		{ PEOPLE, GROUPS },
		{ "dc=example,dc=com", NULL },
		{ "", "dc=com" },
	};
	struct attrmap maps[5];
	struct store_batch b = { 0 };
	uint32_t seed = 20240611;
	unsigned seen[5] = { 0 };
	char dn[96], v[128], cls[64];

	(void)state;
	load("openldap", &maps[0]);
	load("389ds", &maps[1]);
	load("ad", &maps[2]);
	load("389ds", &maps[3]);
	set_field(&maps[3], "group_object_class", "groupOfUniqueNames");
	set_field(&maps[3], "member", "uniqueMember");
	set_field(&maps[3], "disabled", "nsAccountLock");
	load("openldap", &maps[4]);
	set_field(&maps[4], "login_alt", "mailAlternateAddress");
	for (int iter = 0; iter < 100000; iter++) {
		const struct attrmap *map = &maps[rnd(&seed) % 5];
		const struct mirror_scope *scope =
		    rnd(&seed) % 3 == 0 ? NULL :
		    &scopes[rnd(&seed) % DS_ARRAY_SIZE(scopes)];
		const char *attrs[] = { map->login, map->login_alt,
			map->full_name, map->given_name, map->surname,
			map->email, map->manager, map->user_type, map->disabled,
			"cn", "description", map->member };
		struct ldapconn_entry *e;
		struct ds_error err = { "" };
		size_t users = b.user_count, groups = b.group_count;
		size_t size = store_batch_size(&b);
		unsigned bad = 0;
		bool user, group;
		const char *base = NULL;
		char *dn_norm;
		enum mirror_map_result r, want;

		random_dn(&seed, dn, sizeof(dn));
		e = ldapconn_entry_new(dn);
		assert_non_null(e);
		for (size_t k = rnd(&seed) % 5; k > 0; k--) {
			switch (rnd(&seed) % 3) {
			case 0:
				random_case(&seed, map->user_object_class, cls,
				    sizeof(cls));
				break;
			case 1:
				random_case(&seed, map->group_object_class, cls,
				    sizeof(cls));
				break;
			default:
				snprintf(cls, sizeof(cls), "%s", junk_classes[
				    rnd(&seed) % DS_ARRAY_SIZE(junk_classes)]);
			}
			add(e, "objectClass", cls);
		}
		for (size_t k = rnd(&seed) % 8; k > 0; k--) {
			const char *a =
			    attrs[rnd(&seed) % DS_ARRAY_SIZE(attrs)];
			size_t nv = 1 + rnd(&seed) % 3;

			if (a[0] == '\0')
				continue;
			/* now and then a big member list */
			if (a == map->member && rnd(&seed) % 8 == 0)
				nv = 50 + rnd(&seed) % 300;
			for (size_t j = 0; j < nv; j++) {
				size_t len = random_value(&seed, v, sizeof(v));

				assert_int_equal(ldapconn_entry_add_value(e,
				    a, v, len), 0);
			}
		}

		/* the oracle */
		user = has_class(e, map->user_object_class);
		group = !user && has_class(e, map->group_object_class);
		dn_norm = norm_or_null(dn);
		if (scope != NULL)
			base = user ? scope->user_base : scope->group_base;
		if (!user && !group)
			want = MIRROR_MAP_IGNORED;
		else if (dn_norm == NULL)
			want = MIRROR_MAP_ERROR;
		else if (base != NULL && !dn_is_under(dn_norm, base))
			want = MIRROR_MAP_OUT_OF_SCOPE;
		else
			want = user ? MIRROR_MAP_USER : MIRROR_MAP_GROUP;

		r = mirror_map_entry(map, scope, e, ID, &b, &bad, &err);
		if (r != want)
			fail_msg("iteration %d, dn \"%s\": result %d, want "
			    "%d (%s)", iter, dn, r, want, err.msg);
		seen[r]++;
		switch (r) {
		case MIRROR_MAP_USER:
			assert_int_equal(b.user_count, users + 1);
			assert_int_equal(b.group_count, groups);
			assert_int_equal(bad, 0);
			fuzz_check_user(map, e, &b.users[users], dn_norm);
			break;
		case MIRROR_MAP_GROUP:
			assert_int_equal(b.user_count, users);
			assert_int_equal(b.group_count, groups + 1);
			fuzz_check_group(map, e, &b.groups[groups], dn_norm,
			    bad);
			break;
		default:
			/* nothing appended, nothing counted, a reason given */
			assert_int_equal(b.user_count, users);
			assert_int_equal(b.group_count, groups);
			assert_int_equal(store_batch_size(&b), size);
			assert_int_equal(bad, 0);
			assert_true(err.msg[0] != '\0');
		}
		free(dn_norm);
		ldapconn_entry_free(e);
		/* what the mirror does between writes; keeps memory small */
		if (b.user_count + b.group_count >= 64)
			store_batch_reset(&b);
	}
	store_batch_free(&b);
	/* every outcome often enough for the run to mean something */
	for (size_t i = 0; i < DS_ARRAY_SIZE(seen); i++)
		if (seen[i] < 500)
			fail_msg("result %zu only %u times", i, seen[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_users),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_bad_members_counter),
		cmocka_unit_test(test_group_many_members),
		cmocka_unit_test(test_bad_dn),
		cmocka_unit_test(test_ignored),
		cmocka_unit_test(test_class_case),
		cmocka_unit_test(test_many_classes),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_value_with_nul),
		cmocka_unit_test(test_unique_member_uid_edges),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
