/* ldapconn_rootdse.c - the root DSE (RFC 4512 §5.1) for the ldapconn
 * module: which attributes to ask for, what their values tell the change
 * sources, and re-reading it on the live connection.  It sends nothing
 * but through ldapconn.c and never waits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ldapconn_internal.h"

/* supportedControl values that tell the mirror what it may use. */
#define OID_SYNCREPL "1.3.6.1.4.1.4203.1.9.1.1"   /* RFC 4533 */
#define OID_AD_DIRSYNC "1.2.840.113556.1.4.841"   /* MS-ADTS 3.1.1.3.4.1.3 */
#define OID_PAGED "1.2.840.113556.1.4.319"        /* RFC 2696 */
#define OID_SHOW_DELETED "1.2.840.113556.1.4.417" /* MS-ADTS 3.1.1.3.4.1.14 */
/* supportedCapabilities (MS-ADTS 3.1.1.3.4.3): LDAP_CAP_ACTIVE_DIRECTORY,
 * also announced by Samba's DC, and LDAP_CAP_ACTIVE_DIRECTORY_ADAM. */
#define OID_AD_CAPABILITY "1.2.840.113556.1.4.800"
#define OID_ADAM_CAPABILITY "1.2.840.113556.1.4.1851"

/* Operational attributes of the root DSE are returned only when named.
 * dsServiceName and highestCommittedUSN are AD's (MS-ADTS 3.1.1.3.2),
 * lastusn 389-ds's USN plug-in's. */
const char *const ldapconn_rootdse_attrs[] = { "vendorName", "vendorVersion",
	"supportedControl", "namingContexts", "defaultNamingContext",
	"supportedExtension", "supportedCapabilities", "objectClass",
	"dsServiceName", "highestCommittedUSN", "lastusn", NULL };

static void
ldapconn_rootdse_copy(char *dst, size_t size, const char *value)
{
	snprintf(dst, size, "%s", value != NULL ? value : "");
}

/* 389-ds names lastusn per backend ("lastusn;userroot") unless the USN
 * plug-in runs in global mode ("lastusn"): the plain one, else the first
 * backend's. */
static const char *
ldapconn_rootdse_last_usn(const struct ldapconn_entry *e)
{
	const char *v = ldapconn_entry_first(e, "lastusn");
	static const char prefix[] = "lastusn;";

	for (size_t i = 0; v == NULL && i < e->nattrs; i++)
		if (strncasecmp(e->attrs[i].name, prefix, sizeof(prefix) - 1) ==
		        0 &&
		    e->attrs[i].nvals > 0)
			v = e->attrs[i].vals[0];
	return v;
}

void
ldapconn_rootdse_parse(struct ldapconn_server_info *si,
    const struct ldapconn_entry *e)
{
	const char *name = ldapconn_entry_first(e, "vendorName");
	const char *version = ldapconn_entry_first(e, "vendorVersion");
	const char *nc = ldapconn_entry_first(e, "defaultNamingContext");
	bool ad = ldapconn_entry_has(e, "supportedCapabilities",
	    OID_AD_CAPABILITY);
	bool adam = ldapconn_entry_has(e, "supportedCapabilities",
	    OID_ADAM_CAPABILITY);

	memset(si, 0, sizeof(*si));
	/* RFC 3045 vendorName is optional; OpenLDAP and AD omit it, but say
	 * who they are in other root DSE values. */
	if (name == NULL &&
	    ldapconn_entry_has(e, "objectClass", "OpenLDAProotDSE"))
		name = "OpenLDAP";
	else if (name == NULL && ad)
		name = "Active Directory";
	else if (name == NULL && adam)
		name = "Active Directory LDS";
	snprintf(si->vendor, sizeof(si->vendor), "%s%s%s", name ? name : "",
	    name && version ? " " : "", name && version ? version : "");
	si->syncrepl = ldapconn_entry_has(e, "supportedControl", OID_SYNCREPL);
	si->ad_dirsync = ldapconn_entry_has(e, "supportedControl",
	    OID_AD_DIRSYNC);
	si->paged_results = ldapconn_entry_has(e, "supportedControl",
	    OID_PAGED);
	si->show_deleted = ldapconn_entry_has(e, "supportedControl",
	    OID_SHOW_DELETED);
	si->is_ad = ad || adam;
	/* LDAP_MATCHING_RULE_IN_CHAIN is not announced anywhere; every AD
	 * DC since 2003 SP2 (and Samba's) has it. */
	si->in_chain = ad;
	ldapconn_rootdse_copy(si->default_naming_context,
	    sizeof(si->default_naming_context), nc);
	if (nc == NULL)
		nc = ldapconn_entry_first(e, "namingContexts");
	ldapconn_rootdse_copy(si->naming_context, sizeof(si->naming_context),
	    nc);
	ldapconn_rootdse_copy(si->ds_service_name, sizeof(si->ds_service_name),
	    ldapconn_entry_first(e, "dsServiceName"));
	ldapconn_rootdse_copy(si->highest_usn, sizeof(si->highest_usn),
	    ldapconn_entry_first(e, "highestCommittedUSN"));
	ldapconn_rootdse_copy(si->last_usn, sizeof(si->last_usn),
	    ldapconn_rootdse_last_usn(e));
}

void
ldapconn_rootdse_done(struct ldapconn *lc, struct ldapconn_op *op, bool ok)
{
	if (ok) {
		lc->info = *op->dse_info;
		lc->have_info = true;
	}
	free(op->dse_info);
	op->dse_info = NULL;
	op->dse_cb(ok, ok ? &lc->info : NULL, op->arg);
}

int
ldapconn_read_root_dse(struct ldapconn *lc,
    void (*cb)(bool ok, const struct ldapconn_server_info *info, void *arg),
    void *arg)
{
	struct ldapconn_search_req req = { .base = "",
		.scope = LDAPCONN_SCOPE_BASE,
		.filter = "(objectClass=*)",
		.attrs = ldapconn_rootdse_attrs };
	struct ldapconn_op *op;
	int msgid = -1;

	if (cb == NULL || ldapconn_send_search(lc, &req, &msgid) < 0)
		return -1;
	op = ldapconn_op_add(lc, msgid, LDAPCONN_OP_ROOTDSE_READ, NULL, NULL,
	    arg);
	op->dse_cb = cb;
	op->dse_info = ds_calloc(1, sizeof(*op->dse_info));
	ldapconn_kick(lc);
	return 0;
}
