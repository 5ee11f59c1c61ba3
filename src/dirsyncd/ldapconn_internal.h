/* ldapconn_internal.h - what ldapconn.c and ldapconn_entry.c share: the
 * copied form of a search entry and the controls of a response.  Only
 * the ldapconn files include this (and with it ldap.h). */
#ifndef DS_LDAPCONN_INTERNAL_H
#define DS_LDAPCONN_INTERNAL_H

#include <stdbool.h>
#include <ldap.h>

#include "ldapconn.h"

struct ldapconn_attr {
	char *name;  /* attribute description; one block with the values */
	char **vals; /* NUL-terminated copies pointing into name's block */
	size_t *lens; /* length of each value (binary values such as objectGUID) */
	size_t nvals;
};

struct ldapconn_entry {
	char *dn;
	struct ldapconn_attr *attrs;
	size_t nattrs;
	LDAPControl **ctrls; /* the entry's response controls, or NULL */
};

/* The controls of a final response, borrowed by a done callback. */
struct ldapconn_controls {
	LDAPControl **ctrls;
};

/* State of the Sockbuf layer in ldapconn_io.c, one per connection. */
struct ldapconn_io {
	unsigned long long written; /* bytes libldap wrote */
	bool bounded;               /* TLS handshake running: waits, bounded */
	bool timed_out;             /* the bounded wait hit the deadline */
	long long deadline;         /* ds_monotonic_ms() */
};

/* Push above the provider with ber_sockbuf_add_io(), arg = the state. */
extern Sockbuf_IO ldapconn_io_layer;

/* Copy a SearchResultEntry; NULL if undecodable or out of memory. */
struct ldapconn_entry *ldapconn_entry_new(LDAP *ld, LDAPMessage *msg);
void ldapconn_entry_free(struct ldapconn_entry *e);
bool ldapconn_entry_has(const struct ldapconn_entry *e, const char *name,
    const char *value);
const char *ldapconn_entry_first(const struct ldapconn_entry *e,
    const char *name);
/* The value of the control oid in ctrls (NULL-terminated), if present. */
bool ldapconn_find_control(LDAPControl **ctrls, const char *oid,
    const void **value, size_t *len);

#endif
