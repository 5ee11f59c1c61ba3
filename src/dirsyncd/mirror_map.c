/* mirror_map.c - maps one LDAP entry into a store row (mirror_map.h).
 * Never trusts a value to be a well-formed DN: what does not parse is
 * reported, not stored half-normalised. */
#include "mirror_map.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "escape.h"
#include "ldapconn.h"
#include "store.h"

/* Whether value k of attr holds a NUL before its end: read as a C
 * string it would be a shorter, different value (a member or manager DN
 * naming someone else), and PostgreSQL's text cannot hold it at all. */
static bool
mirror_map_has_nul(const struct ldapconn_entry *e, const char *attr,
    size_t k, const char *v)
{
	return ldapconn_entry_value_len(e, attr, k) != strlen(v);
}

/* First value of attr, copied; NULL when absent, not mapped, or not
 * representable (an embedded NUL). */
static char *
mirror_map_first(const struct ldapconn_entry *e, const char *attr)
{
	const char *v;

	if (attr == NULL || attr[0] == '\0')
		return NULL;
	if (ldapconn_entry_values(e, attr, &v, 1) == 0 ||
	    mirror_map_has_nul(e, attr, 0, v))
		return NULL;
	return ds_strdup(v);
}

/* Called twice per entry: the values go on the stack unless an entry
 * has more classes than any real one does. */
static bool
mirror_map_has_class(const struct ldapconn_entry *e, const char *cls)
{
	const char *stack[32], **vals = stack;
	size_t n = ldapconn_entry_values(e, "objectClass", NULL, 0);
	bool found = false;

	if (n > DS_ARRAY_SIZE(stack))
		vals = ds_calloc(n, sizeof(*vals));
	n = ldapconn_entry_values(e, "objectClass", vals, n);
	for (size_t i = 0; i < n && !found; i++)
		found = strcasecmp(vals[i], cls) == 0;
	if (vals != stack)
		free(vals);
	return found;
}

/* Where the optional UID of a uniqueMember value starts (RFC 4517
 * 3.3.21: DN [ "#" BitString ], BitString = "'" *("0" / "1") "'B"), or
 * NULL when it has none: the '#' must not be escaped (an odd run of
 * backslashes before it) and only binary digits may stand between the
 * quotes, or the text is part of the DN's last value. */
static const char *
mirror_map_uid_start(const char *v)
{
	size_t len = strlen(v), backslashes = 0;
	const char *hash = strrchr(v, '#'), *close;

	if (hash == NULL || hash == v || len < 4 || v[len - 1] != 'B')
		return NULL;
	close = v + len - 2;
	if (*close != '\'' || hash[1] != '\'' || hash + 1 >= close)
		return NULL;
	for (const char *p = hash + 2; p < close; p++)
		if (*p != '0' && *p != '1')
			return NULL;
	for (const char *p = hash; p > v && p[-1] == '\\'; p--)
		backslashes++;
	return backslashes % 2 == 0 ? hash : NULL;
}

/* AD marks a disabled account with bit 0x2 (ACCOUNTDISABLE) of
 * userAccountControl; other servers use a boolean-like attribute. */
static bool
mirror_map_disabled(const struct ldapconn_entry *e, const char *attr)
{
	char *v = mirror_map_first(e, attr);
	bool disabled = false;

	if (v == NULL)
		return false;
	if (v[0] >= '0' && v[0] <= '9')
		disabled = (strtoul(v, NULL, 10) & 0x2) != 0 ||
		    strcmp(v, "1") == 0;
	else
		disabled = strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0;
	free(v);
	return disabled;
}

static enum mirror_map_result
mirror_map_user(const struct attrmap *map, const struct ldapconn_entry *e,
    const char *id, char *dn, char *dn_norm, struct store_batch *batch)
{
	struct store_user *u = store_batch_add_user(batch);
	struct ds_error err;

	u->id = ds_strdup(id);
	u->dn = dn;
	u->dn_norm = dn_norm;
	u->login = mirror_map_first(e, map->login);
	u->login_alt = mirror_map_first(e, map->login_alt);
	u->full_name = mirror_map_first(e, map->full_name);
	u->given_name = mirror_map_first(e, map->given_name);
	u->surname = mirror_map_first(e, map->surname);
	u->email = mirror_map_first(e, map->email);
	u->user_type = mirror_map_first(e, map->user_type);
	u->disabled = map->disabled[0] != '\0' && mirror_map_disabled(e, map->disabled);
	u->manager_dn = mirror_map_first(e, map->manager);
	/* A manager value that is not a DN cannot link to anyone; it stays
	 * as sent, with no normalised form, and counts as dangling. */
	if (u->manager_dn != NULL &&
	    dn_normalize(u->manager_dn, &u->manager_dn_norm, &err) < 0)
		u->manager_dn_norm = NULL;
	return MIRROR_MAP_USER;
}

static enum mirror_map_result
mirror_map_group(const struct attrmap *map, const struct ldapconn_entry *e,
    const char *id, char *dn, char *dn_norm, struct store_batch *batch,
    unsigned *bad_members)
{
	struct store_group *g = store_batch_add_group(batch);
	size_t n = ldapconn_entry_values(e, map->member, NULL, 0);
	const char **vals = ds_calloc(n ? n : 1, sizeof(*vals));
	struct ds_error err;

	g->id = ds_strdup(id);
	g->dn = dn;
	g->dn_norm = dn_norm;
	g->name = mirror_map_first(e, map->full_name);
	if (g->name == NULL)
		g->name = mirror_map_first(e, "cn");
	g->description = mirror_map_first(e, "description");
	n = ldapconn_entry_values(e, map->member, vals, n);
	g->member_dn = ds_calloc(n ? n : 1, sizeof(char *));
	g->member_dn_norm = ds_calloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		char *norm, *stripped = NULL;
		const char *v = vals[i], *uid;

		if (mirror_map_has_nul(e, map->member, i, v)) {
			if (bad_members != NULL)
				(*bad_members)++;
			continue;
		}
		/* uniqueMember may end in a UID that is not part of the DN. */
		if (strcasecmp(map->member, "uniqueMember") == 0 &&
		    (uid = mirror_map_uid_start(v)) != NULL) {
			stripped = strndup(v, (size_t)(uid - v));
			if (stripped != NULL)
				v = stripped;
		}
		if (dn_normalize(v, &norm, &err) < 0) {
			free(stripped);
			if (bad_members != NULL)
				(*bad_members)++;
			continue;
		}
		g->member_dn[g->member_count] = ds_strdup(v);
		g->member_dn_norm[g->member_count++] = norm;
		free(stripped);
	}
	free(vals);
	return MIRROR_MAP_GROUP;
}

enum mirror_map_result
mirror_map_entry(const struct attrmap *map, const struct mirror_scope *scope,
    const struct ldapconn_entry *e, const char *id, struct store_batch *batch,
    unsigned *bad_members, struct ds_error *err)
{
	const char *dn = ldapconn_entry_dn(e);
	bool user = mirror_map_has_class(e, map->user_object_class);
	bool group = !user && mirror_map_has_class(e, map->group_object_class);
	const char *subtree = NULL;
	char *dn_norm;

	if (!user && !group) {
		ds_error_set(err, "dn=\"%s\" is neither %s nor %s", dn,
		    map->user_object_class, map->group_object_class);
		return MIRROR_MAP_IGNORED;
	}
	if (dn_normalize(dn, &dn_norm, err) < 0)
		return MIRROR_MAP_ERROR;
	if (scope != NULL)
		subtree = user ? scope->user_base : scope->group_base;
	if (subtree != NULL && !dn_is_under(dn_norm, subtree)) {
		ds_error_set(err, "dn=\"%s\" is outside %s_base \"%s\"", dn,
		    user ? "user" : "group", subtree);
		free(dn_norm);
		return MIRROR_MAP_OUT_OF_SCOPE;
	}
	if (user)
		return mirror_map_user(map, e, id, ds_strdup(dn), dn_norm, batch);
	return mirror_map_group(map, e, id, ds_strdup(dn), dn_norm, batch,
	    bad_members);
}
