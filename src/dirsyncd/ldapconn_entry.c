/* ldapconn_entry.c - search entries copied out of libldap's messages, so
 * callers read them with plain C strings after the message is freed, and
 * the controls that came with them; and entries built by callers (ranged
 * values assembled into one attribute).  Part of the ldapconn module: it
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
	a->block_len = a->block_cap = total;
	a->vals_cap = n + 1;
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
ldapconn_entry_from_msg(LDAP *ld, LDAPMessage *msg)
{
	struct ldapconn_entry *e;
	struct ldapconn_attr *a;
	BerElement *ber = NULL;
	struct berval dn, attr, *vals = NULL;
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
		if (e->nattrs == e->attrs_cap) {
			struct ldapconn_attr *na;
			size_t cap = e->attrs_cap ? e->attrs_cap * 2 : 16;

			na = realloc(e->attrs, cap * sizeof(*na));
			if (na == NULL)
				goto fail;
			e->attrs = na;
			e->attrs_cap = cap;
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

size_t
ldapconn_entry_attr_count(const struct ldapconn_entry *entry)
{
	return entry->nattrs;
}

const char *
ldapconn_entry_attr_name(const struct ldapconn_entry *entry, size_t index)
{
	return index < entry->nattrs ? entry->attrs[index].name : NULL;
}

/* ---- entries built by callers ------------------------------------------ */

struct ldapconn_entry *
ldapconn_entry_new(const char *dn)
{
	struct ldapconn_entry *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	if ((e->dn = strdup(dn != NULL ? dn : "")) == NULL) {
		free(e);
		return NULL;
	}
	return e;
}

/* The attribute named exactly name, appended empty when absent. */
static struct ldapconn_attr *
ldapconn_entry_attr_make(struct ldapconn_entry *e, const char *name)
{
	struct ldapconn_attr *a;
	size_t n = strlen(name) + 1;

	for (size_t i = 0; i < e->nattrs; i++)
		if (strcasecmp(e->attrs[i].name, name) == 0)
			return &e->attrs[i];
	if (e->nattrs == e->attrs_cap) {
		size_t cap = e->attrs_cap ? e->attrs_cap * 2 : 16;
		struct ldapconn_attr *na = realloc(e->attrs, cap * sizeof(*na));

		if (na == NULL)
			return NULL;
		e->attrs = na;
		e->attrs_cap = cap;
	}
	a = &e->attrs[e->nattrs];
	memset(a, 0, sizeof(*a));
	a->name = malloc(n);
	a->vals = malloc(sizeof(char *));
	a->lens = malloc(sizeof(size_t));
	if (a->name == NULL || a->vals == NULL || a->lens == NULL) {
		free(a->name);
		free(a->vals);
		free(a->lens);
		return NULL;
	}
	memcpy(a->name, name, n);
	a->vals[0] = NULL;
	a->block_len = a->block_cap = n;
	a->vals_cap = 1;
	e->nattrs++;
	return a;
}

/* Room for one more value of len bytes: the block holding the name and
 * the values doubles, and when it moved the value pointers are rebuilt
 * from the lengths - amortised O(1) per value, so a 10,000-member group
 * assembled from ranges costs no more than one sent whole. */
static int
ldapconn_attr_reserve(struct ldapconn_attr *a, size_t len)
{
	if (a->nvals + 1 >= a->vals_cap) {
		size_t cap = a->vals_cap < 8 ? 16 : a->vals_cap * 2;
		char **nv = realloc(a->vals, cap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		a->vals = nv;
		size_t *nl = realloc(a->lens, cap * sizeof(*nl));

		if (nl == NULL)
			return -1;
		a->lens = nl;
		a->vals_cap = cap;
	}
	if (a->block_len + len + 1 > a->block_cap) {
		size_t cap = a->block_cap * 2;
		char *nb;

		if (cap < a->block_len + len + 1)
			cap = a->block_len + len + 1;
		if (cap < 256)
			cap = 256;
		if ((nb = realloc(a->name, cap)) == NULL)
			return -1;
		a->block_cap = cap;
		if (nb != a->name) {
			char *p = nb + strlen(nb) + 1;

			for (size_t i = 0; i < a->nvals; i++) {
				a->vals[i] = p;
				p += a->lens[i] + 1;
			}
		}
		a->name = nb;
	}
	return 0;
}

int
ldapconn_entry_add_value(struct ldapconn_entry *e, const char *attr,
    const void *value, size_t len)
{
	struct ldapconn_attr *a = ldapconn_entry_attr_make(e, attr);
	char *p;

	if (a == NULL || ldapconn_attr_reserve(a, len) < 0)
		return -1;
	p = a->name + a->block_len;
	if (len > 0)
		memcpy(p, value, len);
	p[len] = '\0';
	a->vals[a->nvals] = p;
	a->lens[a->nvals] = len;
	a->nvals++;
	a->vals[a->nvals] = NULL;
	a->block_len += len + 1;
	return 0;
}

struct ldapconn_entry *
ldapconn_entry_dup(const struct ldapconn_entry *src)
{
	struct ldapconn_entry *e = ldapconn_entry_new(src->dn);

	if (e == NULL)
		return NULL;
	for (size_t i = 0; i < src->nattrs; i++) {
		const struct ldapconn_attr *a = &src->attrs[i];

		/* An attribute without values (attrsOnly) still exists. */
		if (ldapconn_entry_attr_make(e, a->name) == NULL)
			goto fail;
		for (size_t k = 0; k < a->nvals; k++)
			if (ldapconn_entry_add_value(e, a->name, a->vals[k],
			    a->lens[k]) < 0)
				goto fail;
	}
	if (src->ctrls != NULL &&
	    (e->ctrls = ldap_controls_dup(src->ctrls)) == NULL)
		goto fail;
	return e;
fail:
	ldapconn_entry_free(e);
	return NULL;
}

/* ---- controls ---------------------------------------------------------- */

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
