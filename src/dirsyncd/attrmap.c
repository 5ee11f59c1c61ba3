/* attrmap.c - attribute map profiles, overrides and the search list
 * (attrmap.h).  Constant tables only: it must never touch a server or
 * accept a name that could change the meaning of a filter. */
#include "attrmap.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define FIELD(f, req, oc, text) { \
	.name = #f, .offset = offsetof(struct attrmap, f), .required = req, \
	.object_class = oc, .help = text }

static const struct attrmap_field fields[] = {
	FIELD(unique_id, true, false,
	    "permanent id of an entry (entryUUID, nsUniqueId, objectGUID)"),
	FIELD(login, true, false, "login name (uid; AD: sAMAccountName)"),
	FIELD(login_alt, false, false,
	    "second login name, \"\" for none (AD: userPrincipalName)"),
	FIELD(full_name, true, false,
	    "full name that request validation looks up (cn; AD: displayName)"),
	FIELD(given_name, false, false, "given name"),
	FIELD(surname, false, false, "surname"),
	FIELD(email, false, false, "e-mail address"),
	FIELD(manager, false, false, "DN of the user's manager"),
	FIELD(member, true, false,
	    "DN-valued member attribute of groups (uniqueMember for "
	    "groupOfUniqueNames)"),
	FIELD(user_type, false, false,
	    "user type, regular or third_party (employeeType)"),
	FIELD(disabled, false, false,
	    "marks a disabled account, \"\" for none (AD: userAccountControl)"),
	FIELD(user_object_class, true, true, "object class of users"),
	FIELD(group_object_class, true, true, "object class of groups"),
};

_Static_assert(DS_ARRAY_SIZE(fields) == ATTRMAP_FIELD_COUNT,
    "ATTRMAP_FIELD_COUNT must match the field table");
_Static_assert(sizeof(struct attrmap) ==
    ATTRMAP_FIELD_COUNT * ATTRMAP_NAME_MAX,
    "every struct attrmap member must be in the field table");

static const char *const profile_names[] = { "openldap", "389ds", "ad", NULL };

/* In profile_names order.  The reasons for each choice are in attrmap.h. */
static const struct attrmap profiles[] = {
	{       /* openldap */
		.unique_id = "entryUUID",
		.login = "uid",
		.full_name = "cn",
		.given_name = "givenName",
		.surname = "sn",
		.email = "mail",
		.manager = "manager",
		.member = "member",
		.user_type = "employeeType",
		.user_object_class = "inetOrgPerson",
		.group_object_class = "groupOfNames",
	},
	{       /* 389ds */
		.unique_id = "nsUniqueId",
		.login = "uid",
		.full_name = "cn",
		.given_name = "givenName",
		.surname = "sn",
		.email = "mail",
		.manager = "manager",
		.member = "member",
		.user_type = "employeeType",
		.user_object_class = "inetOrgPerson",
		.group_object_class = "groupOfNames",
	},
	{       /* ad */
		.unique_id = "objectGUID",
		.login = "sAMAccountName",
		.login_alt = "userPrincipalName",
		.full_name = "displayName",
		.given_name = "givenName",
		.surname = "sn",
		.email = "mail",
		.manager = "manager",
		.member = "member",
		.user_type = "employeeType",
		.disabled = "userAccountControl",
		.user_object_class = "user",
		.group_object_class = "group",
	},
};

_Static_assert(DS_ARRAY_SIZE(profiles) == DS_ARRAY_SIZE(profile_names) - 1,
    "one profile per name");

const struct attrmap_field *
attrmap_fields(size_t *count)
{
	*count = DS_ARRAY_SIZE(fields);
	return fields;
}

const char *const *
attrmap_profile_names(void)
{
	return profile_names;
}

static char *
attrmap_slot(struct attrmap *map, const struct attrmap_field *f)
{
	return (char *)map + f->offset;
}

static const char *
attrmap_slot_const(const struct attrmap *map, const struct attrmap_field *f)
{
	return (const char *)map + f->offset;
}

static const struct attrmap_field *
attrmap_find_field(const char *name)
{
	for (size_t i = 0; i < DS_ARRAY_SIZE(fields); i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

/* Outside text for a message: at most 64 bytes, anything but printable
 * ASCII shown as '?', so a message stays one readable line. */
static const char *
attrmap_printable(const char *s, char out[68])
{
	size_t i;

	for (i = 0; i < 64 && s[i] != '\0'; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (s[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

int
attrmap_profile(const char *name, struct attrmap *out, struct ds_error *err)
{
	char shown[68];

	for (size_t i = 0; i < DS_ARRAY_SIZE(profiles); i++) {
		if (strcmp(profile_names[i], name) == 0) {
			*out = profiles[i];
			return 0;
		}
	}
	return ds_error_set(err, "unknown attribute map profile \"%s\" "
	    "(known: openldap, 389ds, ad)", attrmap_printable(name, shown));
}

static bool
attrmap_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
attrmap_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 4512 §1.4 keystring = leadkeychar *keychar (ALPHA, then ALPHA /
 * DIGIT / "-"); returns the length, 0 if s does not start with one. */
static size_t
attrmap_keystring_len(const char *s)
{
	size_t n = 0;

	if (!attrmap_is_alpha((unsigned char)s[0]))
		return 0;
	while (attrmap_is_alpha((unsigned char)s[n]) ||
	    attrmap_is_digit((unsigned char)s[n]) || s[n] == '-')
		n++;
	return n;
}

/* RFC 4512 §1.4 numericoid = number 1*( DOT number ), number = DIGIT /
 * ( LDIGIT 1*DIGIT ); returns the length, 0 if s does not start with one. */
static size_t
attrmap_numericoid_len(const char *s)
{
	size_t n = 0, dots = 0;

	for (;;) {
		size_t start = n;

		while (attrmap_is_digit((unsigned char)s[n]))
			n++;
		if (n == start || (s[start] == '0' && n - start > 1))
			return 0;
		if (s[n] != '.')
			break;
		n++;
		dots++;
	}
	return dots > 0 ? n : 0;
}

/* RFC 4512 §2.5 attributedescription = attributetype options, where the
 * type is a descr or a numericoid and options = *( ";" 1*keychar ).
 * Object classes (§4.1.1 oid) take no options. */
static bool
attrmap_valid_name(const char *s, bool options)
{
	size_t n = attrmap_keystring_len(s);

	/* RFC 4511 §4.5.1.8: "1.1" in an attribute list means "none". */
	if (strcmp(s, "1.1") == 0)
		return false;
	if (n == 0)
		n = attrmap_numericoid_len(s);
	if (n == 0)
		return false;
	while (options && s[n] == ';') {
		size_t start = ++n;

		while (attrmap_is_alpha((unsigned char)s[n]) ||
		    attrmap_is_digit((unsigned char)s[n]) || s[n] == '-')
			n++;
		if (n == start)
			return false;
	}
	return s[n] == '\0';
}

static int
attrmap_unknown_field(const char *field, struct ds_error *err)
{
	char list[ATTRMAP_FIELD_COUNT * 24] = "";
	char shown[68];
	size_t len = 0;

	for (size_t i = 0; i < DS_ARRAY_SIZE(fields); i++) {
		int n = snprintf(list + len, sizeof(list) - len, "%s%s",
		    i > 0 ? ", " : "", fields[i].name);

		if (n < 0 || (size_t)n >= sizeof(list) - len)
			break;
		len += (size_t)n;
	}
	return ds_error_set(err, "unknown attribute map field \"%s\" "
	    "(valid: %s)", attrmap_printable(field, shown), list);
}

int
attrmap_set(struct attrmap *map, const char *field, const char *attr,
    struct ds_error *err)
{
	const struct attrmap_field *f = attrmap_find_field(field);
	char shown[68];

	if (f == NULL)
		return attrmap_unknown_field(field, err);
	if (attr[0] == '\0') {
		if (f->required)
			return ds_error_set(err, "attribute map field %s "
			    "may not be empty", f->name);
	} else if (strlen(attr) >= ATTRMAP_NAME_MAX) {
		return ds_error_set(err, "attribute map field %s: name longer "
		    "than %d characters", f->name, ATTRMAP_NAME_MAX - 1);
	} else if (!attrmap_valid_name(attr, !f->object_class)) {
		return ds_error_set(err, "attribute map field %s: \"%s\" is "
		    "not a valid %s name (letters, digits and '-', starting "
		    "with a letter, or a numeric OID%s)", f->name,
		    attrmap_printable(attr, shown),
		    f->object_class ? "object class" : "attribute",
		    f->object_class ? "" : "; options after ';'");
	}
	/* the whole slot, so equal maps are equal bytes (memcmp on reload) */
	memset(attrmap_slot(map, f), 0, ATTRMAP_NAME_MAX);
	memcpy(attrmap_slot(map, f), attr, strlen(attr));
	return 0;
}

const char *
attrmap_get(const struct attrmap *map, const char *field)
{
	const struct attrmap_field *f = attrmap_find_field(field);

	if (f == NULL)
		return NULL;
	return attrmap_slot_const(map, f);
}

size_t
attrmap_search_attrs(const struct attrmap *map,
    const char *attrs[ATTRMAP_SEARCH_ATTRS_MAX])
{
	size_t n = 0;

	attrs[n++] = "objectClass";
	for (size_t i = 0; i < DS_ARRAY_SIZE(fields); i++) {
		const char *name = attrmap_slot_const(map, &fields[i]);
		bool dup = false;

		if (fields[i].object_class || name[0] == '\0')
			continue;
		for (size_t k = 0; k < n && !dup; k++)
			dup = strcasecmp(attrs[k], name) == 0;
		if (!dup)
			attrs[n++] = name;
	}
	attrs[n] = NULL;
	return n;
}

int
attrmap_guid_to_text(const void *guid, size_t len,
    char out[ATTRMAP_GUID_TEXT_LEN])
{
	/* [MS-DTYP] §2.3.4.2: Data1 (uint32), Data2 and Data3 (uint16) are
	 * stored little-endian, Data4 as 8 bytes in order.  This is the
	 * order the text form prints the bytes in. */
	static const unsigned char order[16] = {
		3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15,
	};
	static const char hex[] = "0123456789abcdef";
	const unsigned char *b = guid;
	size_t o = 0;

	out[0] = '\0';
	if (len != 16)
		return -1;
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[order[i]] >> 4];
		out[o++] = hex[b[order[i]] & 0xf];
	}
	out[o] = '\0';
	return 0;
}
