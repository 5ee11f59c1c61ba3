/* ldapconn_sasl.c - the SASL GSSAPI (Kerberos) bind of the ldapconn
 * module: credentials from a client keytab, the bind driven step by step
 * through ldap_sasl_interactive_bind() and ldap_result().  It never waits
 * on the LDAP server; the Kerberos library may wait on the KDC (below). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <ldap.h>
#include <sasl/sasl.h>

#include "ldapconn_internal.h"

/* How the Kerberos library finds our credentials (MIT krb5 >= 1.11, and
 * Heimdal for the keytab): KRB5_CLIENT_KTNAME names the client keytab,
 * from which gss_init_sec_context() gets initial tickets by itself when
 * the ccache holds none (or they expire); KRB5CCNAME points the ccache
 * at process memory, so no ticket is ever written to /tmp.  One memory
 * ccache per principal: a reload naming a keytab of another principal
 * must not keep using the old principal's tickets.  Both are set in our
 * own environment before every GSSAPI bind: the library reads them when
 * the SASL plugin creates its krb5 context, and nothing else in the
 * daemon uses Kerberos. */
#define LDAPCONN_SASL_CCACHE "MEMORY:dirsyncd"

/* Largest keytab we look into for the principal: a keytab of a few
 * principals with all their enctypes is a few KiB. */
#define LDAPCONN_KEYTAB_MAX (256 * 1024)

/* ---- the keytab's first principal (for errors and the bind identity) ---- */

static bool
ldapconn_kt_u16(const unsigned char **p, const unsigned char *end,
    unsigned *v)
{
	if (end - *p < 2)
		return false;
	*v = ((unsigned)(*p)[0] << 8) | (*p)[1];
	*p += 2;
	return true;
}

/* Append a counted string (uint16 length, bytes) to out, after sep. */
static bool
ldapconn_kt_append(const unsigned char **p, const unsigned char *end,
    const char *sep, char *out, size_t size)
{
	unsigned len;
	size_t used = strlen(out);

	if (!ldapconn_kt_u16(p, end, &len) || (size_t)(end - *p) < len)
		return false;
	if (used + strlen(sep) + len >= size || memchr(*p, '\0', len) != NULL)
		return false;
	snprintf(out + used, size - used, "%s%.*s", sep, (int)len,
	    (const char *)*p);
	*p += len;
	return true;
}

/* One entry (MIT's keytab format, version 0x502, all big-endian):
 * uint16 component count, counted realm, counted components, ... */
static bool
ldapconn_kt_entry(const unsigned char *p, const unsigned char *end,
    char *out, size_t size)
{
	char realm[256] = "";
	unsigned count;

	out[0] = '\0';
	if (!ldapconn_kt_u16(&p, end, &count) || count == 0 ||
	    !ldapconn_kt_append(&p, end, "", realm, sizeof(realm)))
		return false;
	for (unsigned i = 0; i < count; i++)
		if (!ldapconn_kt_append(&p, end, i ? "/" : "", out, size))
			return false;
	return strlen(out) + 1 + strlen(realm) < size &&
	       strcat(strcat(out, "@"), realm) != NULL;
}

/* The principal of the first entry of the keytab at path, into out;
 * false (out "") when the file is unreadable, empty or not a v2 keytab
 * - the Kerberos library will then say what is wrong. */
static bool
ldapconn_kt_first_principal(const char *path, char *out, size_t size)
{
	unsigned char *buf = NULL;
	const unsigned char *p, *end;
	ssize_t n = -1;
	int32_t len;
	bool found = false;
	int fd;

	out[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	buf = malloc(LDAPCONN_KEYTAB_MAX);
	if (buf != NULL)
		n = read(fd, buf, LDAPCONN_KEYTAB_MAX);
	close(fd);
	if (n < 2 || buf[0] != 5 || buf[1] != 2) {
		free(buf);
		return false;
	}
	p = buf + 2;
	end = buf + n;
	/* int32 length of each entry; negative = a hole left by a deleted
	 * entry, 0 = the end. */
	while (!found && end - p >= 4) {
		len = (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
		    ((uint32_t)p[2] << 8) | p[3]);
		p += 4;
		if (len == 0 || len == INT32_MIN)
			break;
		if ((len < 0 ? -(int64_t)len : len) > end - p)
			break;
		if (len > 0)
			found = ldapconn_kt_entry(p, p + len, out, size);
		p += len < 0 ? -len : len;
	}
	free(buf);
	if (!found)
		out[0] = '\0';
	return found;
}

/* ---- the bind ------------------------------------------------------------ */

/* GSSAPI asks for nothing but, at most, an authorization identity: none
 * (we act as the keytab's principal).  Anything else gets its default. */
static int
ldapconn_sasl_interact(LDAP *ld, unsigned flags, void *defaults, void *in)
{
	sasl_interact_t *it = in;

	(void)ld;
	(void)flags;
	(void)defaults;
	for (; it != NULL && it->id != SASL_CB_LIST_END; it++) {
		it->result = it->defresult != NULL ? it->defresult : "";
		it->len = (unsigned)strlen(it->result);
	}
	return LDAP_SUCCESS;
}

const char *
ldapconn_sasl_identity(const struct ldapconn *lc)
{
	return lc->sasl_identity[0] != '\0' ? lc->sasl_identity
	                                    : "sasl:GSSAPI";
}

/* The step failed: name the principal and keytab, and libldap's text,
 * which for a local failure is Cyrus SASL's with the GSSAPI major and
 * minor messages (no key in the keytab, KDC unreachable, clock skew). */
static void
ldapconn_sasl_fail(struct ldapconn *lc, int rc)
{
	char text[400];

	ldapconn_describe(text, sizeof(text), rc, NULL, lc->ld);
	ldapconn_fail(lc, "bind: SASL GSSAPI as %s (keytab %s): %s",
	    lc->sasl_principal[0] != '\0' ? lc->sasl_principal
	                                  : "(no principal in the keytab)",
	    lc->cfg.keytab, text);
}

/* The exchange is complete: the identity as the server took it (Cyrus
 * SASL's SASL_USERNAME, the principal the ticket was for), then the root
 * DSE. */
static void
ldapconn_sasl_bound(struct ldapconn *lc)
{
	char *user = NULL;

	if (ldap_get_option(lc->ld, LDAP_OPT_X_SASL_USERNAME, &user) ==
	        LDAP_OPT_SUCCESS &&
	    user != NULL && *user != '\0')
		snprintf(lc->sasl_identity, sizeof(lc->sasl_identity),
		    "sasl:GSSAPI:%s", user);
	ldap_memfree(user);
	log_obj_debug(LDAPCONN_OBJ(lc), "bound uri=%s identity=%s", lc->server,
	    lc->sasl_identity);
	ldapconn_send_rootdse(lc);
}

/* One call of ldap_sasl_interactive_bind(): the first (msg NULL) or the
 * next step with the server's answer. */
static void
ldapconn_sasl_step(struct ldapconn *lc, LDAPMessage *msg)
{
	int msgid = -1, rc;

	/* The first step creates the security context: the Kerberos library
	 * gets a TGT from the keytab (when the ccache has none) and a
	 * service ticket, talking to the KDC synchronously - bounded by
	 * krb5's own timeouts (krb5.conf), not by network_timeout.  Like the
	 * TLS handshake, the one accepted wait, at connect time only. */
	rc = ldap_sasl_interactive_bind(lc->ld, NULL, "GSSAPI", NULL, NULL,
	    LDAP_SASL_QUIET, ldapconn_sasl_interact, NULL, msg, &lc->sasl_rmech,
	    &msgid);
	event_base_update_cache_time(lc->base); /* see ldapconn_install_tls */
	if (rc == LDAP_SASL_BIND_IN_PROGRESS) {
		ldapconn_handshake_sent(lc, LDAP_SUCCESS, msgid,
		    LDAPCONN_OP_SASL_BIND);
		return;
	}
	if (rc != LDAP_SUCCESS) {
		ldapconn_sasl_fail(lc, rc);
		return;
	}
	ldapconn_sasl_bound(lc);
}

void
ldapconn_sasl_start(struct ldapconn *lc)
{
	char env[300];
	int on = 1, rc;

	ldapconn_kt_first_principal(lc->cfg.keytab, lc->sasl_principal,
	    sizeof(lc->sasl_principal));
	snprintf(lc->sasl_identity, sizeof(lc->sasl_identity),
	    "sasl:GSSAPI%s%s", lc->sasl_principal[0] ? ":" : "",
	    lc->sasl_principal);
	snprintf(env, sizeof(env), "FILE:%s", lc->cfg.keytab);
	setenv("KRB5_CLIENT_KTNAME", env, 1);
	snprintf(env, sizeof(env), "%s%s%s", LDAPCONN_SASL_CCACHE,
	    lc->sasl_principal[0] ? "-" : "", lc->sasl_principal);
	setenv("KRB5CCNAME", env, 1);
	lc->sasl_rmech = NULL;
	/* The service principal is ldap/<host of the URI> as written: no
	 * reverse lookup of the peer address (which would block, and gives
	 * whatever name the resolver has for the address).  Over TLS the
	 * SASL layer must not sign or seal: AD and Samba refuse it ("Sign or
	 * Seal are not allowed if TLS is used"); over ldap:// it seals, as
	 * AD's LDAP signing policy wants. */
	rc = ldap_set_option(lc->ld, LDAP_OPT_X_SASL_NOCANON, &on);
	if (rc == LDAP_OPT_SUCCESS && lc->tls)
		rc = ldap_set_option(lc->ld, LDAP_OPT_X_SASL_SECPROPS,
		    "maxssf=0");
	if (rc != LDAP_OPT_SUCCESS) {
		ldapconn_fail(lc, "bind: cannot set the SASL options "
		                  "(is libldap built with Cyrus SASL?)");
		return;
	}
	ldapconn_sasl_step(lc, NULL);
}

void
ldapconn_sasl_on_result(struct ldapconn *lc, LDAPMessage *msg)
{
	evtimer_del(lc->ev_timer);
	ldapconn_sasl_step(lc, msg);
}
