/* attrmap.h - which directory attribute feeds which mirror column, with
 * ready profiles for OpenLDAP, 389-ds and Active Directory.  Pure data:
 * it must never talk to a server, allocate or hold global state.
 *
 * Usage: attrmap_profile() fills a map from the configured profile name,
 * then attrmap_set() applies each per-field override from the
 * configuration file ("login = mailNickname"); a map that went through
 * both is complete and valid.  attrmap_search_attrs() gives the attribute
 * list to request.  The map holds copies of its names in fixed,
 * zero-padded arrays, so it is copied by assignment, needs no free,
 * outlives the configuration text it came from, and two maps with the
 * same names are equal under memcmp() (a reload can tell a change).
 *
 * Names are checked when set (RFC 4512 §2.5: descr or numericoid,
 * attribute options allowed after ';') because they are pasted into search
 * filters and attribute lists as they are; only values are escaped.
 *
 * Profiles:
 *   field               openldap      389ds         ad
 *   unique_id           entryUUID     nsUniqueId    objectGUID
 *   login               uid           uid           sAMAccountName
 *   login_alt           -             -             userPrincipalName
 *   full_name           cn            cn            displayName
 *   given_name          givenName     givenName     givenName
 *   surname             sn            sn            sn
 *   email               mail          mail          mail
 *   manager             manager       manager       manager
 *   member              member        member        member
 *   user_type           employeeType  employeeType  employeeType
 *   disabled            -             -             userAccountControl
 *   user_object_class   inetOrgPerson inetOrgPerson user
 *   group_object_class  groupOfNames  groupOfNames  group
 * Server notes the users of the map must honour:
 *   - 389-ds: the RFC 4533 Sync State control carries a UUID that is not
 *     the nsUniqueId attribute (nor entryUUID), so syncrepl keys rows on
 *     the control's UUID and unique_id serves the polling modes only.
 *     nsUniqueId is written as four dash-separated 8-digit hex groups.
 *     Groups that are groupOfUniqueNames need group_object_class =
 *     groupOfUniqueNames and member = uniqueMember, whose values may end
 *     in an optional "#'0101'B" UID (RFC 4517 §3.3.21) to strip.
 *   - AD: objectGUID is 16 raw bytes (attrmap_guid_to_text); computer
 *     accounts are objectClass user too, so user searches also need
 *     (objectCategory=person); disabled accounts have bit 0x2
 *     (ACCOUNTDISABLE) set in userAccountControl; member comes in ranges
 *     ("member;range=0-1499") on big groups.
 *
 * All functions may be called from any context. */
#ifndef DS_ATTRMAP_H
#define DS_ATTRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include "compat.h"

/* Longest attribute or object class name, with its NUL.  AD's longest
 * lDAPDisplayName is well under this. */
#define ATTRMAP_NAME_MAX 128

/* "" means "not mapped": the column stays NULL.  Only the optional
 * fields (see attrmap_fields) may be "". */
struct attrmap {
	char unique_id[ATTRMAP_NAME_MAX];        /* permanent id of an entry */
	char login[ATTRMAP_NAME_MAX];            /* login name */
	char login_alt[ATTRMAP_NAME_MAX];        /* second login name */
	char full_name[ATTRMAP_NAME_MAX];        /* name validation looks up */
	char given_name[ATTRMAP_NAME_MAX];
	char surname[ATTRMAP_NAME_MAX];
	char email[ATTRMAP_NAME_MAX];
	char manager[ATTRMAP_NAME_MAX];          /* DN of the manager */
	char member[ATTRMAP_NAME_MAX];           /* DN-valued, on groups */
	char user_type[ATTRMAP_NAME_MAX];        /* regular / third_party */
	char disabled[ATTRMAP_NAME_MAX];         /* marks a disabled account */
	char user_object_class[ATTRMAP_NAME_MAX];  /* a value, not an attr */
	char group_object_class[ATTRMAP_NAME_MAX]; /* a value, not an attr */
};

/* Number of fields in struct attrmap. */
#define ATTRMAP_FIELD_COUNT 13

/* One field, for the configuration parser, the man page and -t. */
struct attrmap_field {
	const char *name;       /* as written in the configuration */
	size_t offset;          /* of the field in struct attrmap */
	bool required;          /* may not be "" */
	bool object_class;      /* names an object class, not an attribute */
	const char *help;       /* one line */
};

/* The field table, in struct order; *count receives its length
 * (ATTRMAP_FIELD_COUNT).  Static storage. */
const struct attrmap_field *attrmap_fields(size_t *count);

/* The profile names, NULL-terminated, usable as a config enum's choices.
 * Static storage. */
const char *const *attrmap_profile_names(void);

/* Fill *out with the named profile ("openldap", "389ds", "ad"; exact,
 * lower case).  Returns 0, or -1 with err listing the known profiles
 * (*out is then untouched). */
int attrmap_profile(const char *name, struct attrmap *out,
    struct ds_error *err) DS_MUSTCHECK;

/* Override one field by its attrmap_fields() name.  Returns 0, or -1 with
 * err filled and the map unchanged when the field is unknown (the message
 * lists the valid fields), attr is not a valid name, is too long, or is ""
 * for a required field. */
int attrmap_set(struct attrmap *map, const char *field, const char *attr,
    struct ds_error *err) DS_MUSTCHECK;

/* The value of a field, borrowed from map; NULL for an unknown field. */
const char *attrmap_get(const struct attrmap *map, const char *field);

/* Room for attrmap_search_attrs(): objectClass, every attribute field and
 * the terminating NULL. */
#define ATTRMAP_SEARCH_ATTRS_MAX (ATTRMAP_FIELD_COUNT + 2)

/* Fill attrs with the attributes to request for users and groups:
 * objectClass first, then every non-empty attribute field in struct
 * order, each once (attribute names compare case-insensitively, RFC 4512
 * §2.5), then NULL.  Object class fields are values, not requested.  The
 * pointers borrow from map (and static storage).  Returns the number of
 * names, not counting the NULL; suitable for ldapconn_search(). */
size_t attrmap_search_attrs(const struct attrmap *map,
    const char *attrs[ATTRMAP_SEARCH_ATTRS_MAX]);

/* Text form of a GUID as AD stores it in objectGUID: 16 bytes whose first
 * three fields (4, 2 and 2 bytes) are little-endian and whose last 8 are
 * in order ([MS-DTYP] §2.3.4.2).  Writes lower-case
 * "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (RFC 4122 §3, as PostgreSQL's uuid
 * type prints it) into out.  Returns 0, or -1 (out = "") if len is not
 * 16: a value from a server is not trusted to be well-formed. */
#define ATTRMAP_GUID_TEXT_LEN 37
int attrmap_guid_to_text(const void *guid, size_t len,
    char out[ATTRMAP_GUID_TEXT_LEN]) DS_MUSTCHECK;

#endif
