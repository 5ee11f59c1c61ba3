/* ldapconn_entry.c - search entries copied out of libldap's messages, so
 * callers read them with plain C strings after the message is freed, and
 * the controls that came with them.  Part of the ldapconn module: it
 * never sends or receives anything. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ldapconn_internal.h"

static int
ldapconn_attr_fill(struct ldapconn_attr *a, const struct berval *name,
    const struct berval *vals)
{
	size_t n, total = name->bv_len + 1;
	char *p;

	for (n = 0; vals != NULL && vals[n].bv_val != NULL; n++)
		total += vals[n].bv_len + 1;
	a->name = malloc(total);
	a->vals = malloc((n + 1) * sizeof(char *));
	a->lens = malloc((n + 1) * sizeof(size_t));
	if (a->name == NULL || a->vals == NULL || a->lens == NULL)
		return -1;
	memcpy(a->name, name->bv_val, name->bv_len);
	a->name[name->bv_len] = '\0';
	p = a->name + name->bv_len + 1;
	for (size_t i = 0; i < n; i++) {
		memcpy(p, vals[i].bv_val, vals[i].bv_len);
		p[vals[i].bv_len] = '\0';
		a->vals[i] = p;
		a->lens[i] = vals[i].bv_len;
		p += vals[i].bv_len + 1;
	}
	a->vals[n] = NULL;
	a->nvals = n;
	return 0;
}

void
ldapconn_entry_free(struct ldapconn_entry *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->nattrs; i++) {
		free(e->attrs[i].name);
		free(e->attrs[i].vals);
		free(e->attrs[i].lens);
	}
	if (e->ctrls != NULL)
		ldap_controls_free(e->ctrls);
	free(e->attrs);
	free(e->dn);
	free(e);
}

/* Copy a SearchResultEntry out of the message in one pass: the _ber
 * variants walk the attributes once, where ldap_get_values_len() per
 * attribute would rescan the entry each time.  NULL if undecodable or out
 * of memory (entries are input-sized, so no aborting allocator). */
struct ldapconn_entry *
ldapconn_entry_new(LDAP *ld, LDAPMessage *msg)
{
	struct ldapconn_entry *e;
	struct ldapconn_attr *a;
	BerElement *ber = NULL;
	struct berval dn, attr, *vals = NULL;
	size_t cap = 0;
	int rc;

	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	/* RFC 4533 §2.3: the Sync State control rides on each entry.  Read
	 * the controls first: walking the attributes moves the position of
	 * the message's own BerElement, and then none are found. */
	if (ldap_get_entry_controls(ld, msg, &e->ctrls) != LDAP_SUCCESS)
		e->ctrls = NULL;
	if (ldap_get_dn_ber(ld, msg, &ber, &dn) != LDAP_SUCCESS)
		goto fail;
	if ((e->dn = strndup(dn.bv_val, dn.bv_len)) == NULL)
		goto fail;
	for (;;) {
		rc = ldap_get_attribute_ber(ld, msg, ber, &attr, &vals);
		if (rc != LDAP_SUCCESS || attr.bv_val == NULL)
			break;
		if (e->nattrs == cap) {
			struct ldapconn_attr *na;

			cap = cap ? cap * 2 : 16;
			na = realloc(e->attrs, cap * sizeof(*na));
			if (na == NULL)
				goto fail;
			e->attrs = na;
		}
		a = &e->attrs[e->nattrs++];
		memset(a, 0, sizeof(*a));
		if (ldapconn_attr_fill(a, &attr, vals) < 0)
			goto fail;
		ber_memfree(vals);
		vals = NULL;
	}
	if (rc != LDAP_SUCCESS)
		goto fail;
	ber_free(ber, 0);
	/* RFC 4533 §2.3: the Sync State control rides on each entry. */

	return e;
fail:
	ber_memfree(vals);
	ber_free(ber, 0);
	ldapconn_entry_free(e);
	return NULL;
}

static const struct ldapconn_attr *
ldapconn_entry_attr(const struct ldapconn_entry *e, const char *name)
{
	/* Attribute descriptions compare case-insensitively (RFC 4512 §2.5). */
	for (size_t i = 0; i < e->nattrs; i++)
		if (strcasecmp(e->attrs[i].name, name) == 0)
			return &e->attrs[i];
	return NULL;
}

bool
ldapconn_entry_has(const struct ldapconn_entry *e, const char *name,
    const char *value)
{
	const struct ldapconn_attr *a = ldapconn_entry_attr(e, name);

	for (size_t i = 0; a != NULL && i < a->nvals; i++)
		if (strcasecmp(a->vals[i], value) == 0)
			return true;
	return false;
}

const char *
ldapconn_entry_first(const struct ldapconn_entry *e, const char *name)
{
	const struct ldapconn_attr *a = ldapconn_entry_attr(e, name);

	return a != NULL && a->nvals > 0 ? a->vals[0] : NULL;
}

const char *
ldapconn_entry_dn(const struct ldapconn_entry *entry)
{
	return entry->dn;
}

size_t
ldapconn_entry_values(const struct ldapconn_entry *entry, const char *attr,
    const char **vals, size_t max)
{
	const struct ldapconn_attr *a = ldapconn_entry_attr(entry, attr);

	if (a == NULL)
		return 0;
	for (size_t i = 0; vals != NULL && i < a->nvals && i < max; i++)
		vals[i] = a->vals[i];
	return a->nvals;
}

size_t
ldapconn_entry_value_len(const struct ldapconn_entry *entry, const char *attr,
    size_t index)
{
	const struct ldapconn_attr *a = ldapconn_entry_attr(entry, attr);

	return a != NULL && index < a->nvals ? a->lens[index] : 0;
}

bool
ldapconn_find_control(LDAPControl **ctrls, const char *oid,
    const void **value, size_t *len)
{
	for (size_t i = 0; ctrls != NULL && ctrls[i] != NULL; i++) {
		if (strcmp(ctrls[i]->ldctl_oid, oid) != 0)
			continue;
		*value = ctrls[i]->ldctl_value.bv_val;
		*len = ctrls[i]->ldctl_value.bv_len;
		return true;
	}
	return false;
}

bool
ldapconn_entry_control(const struct ldapconn_entry *entry, const char *oid,
    const void **value, size_t *len)
{
	return ldapconn_find_control(entry->ctrls, oid, value, len);
}

bool
ldapconn_controls_find(const struct ldapconn_controls *ctrls, const char *oid,
    const void **value, size_t *len)
{
	return ctrls != NULL && ldapconn_find_control(ctrls->ctrls, oid, value, len);
}
