/* ldapfilter.h - an RFC 4515 search filter evaluated on our side, against
 * an entry already received.  AD DirSync can only search a whole naming
 * context and never says when an object stops matching a filter, so the
 * dirsync source asks for everything and applies the configured base and
 * user/group filters itself.  Pure: no network, no logging, no state.
 *
 * Usage: ldapfilter_parse() once per configuration; ldapfilter_match()
 * per entry; ldapfilter_attrs() lists the attributes the filter reads, so
 * the caller can request them; ldapfilter_dn_under() is the scope check.
 *
 * Supported: & | !, equality, presence, substrings, >=, <=, ~= (evaluated
 * as equality), and extensible matches with AD's bitwise rules
 * 1.2.840.113556.1.4.803 (LDAP_MATCHING_RULE_BIT_AND) and
 * 1.2.840.113556.1.4.804 (LDAP_MATCHING_RULE_BIT_OR) on integer
 * attributes ("(userAccountControl:1.2.840.113556.1.4.803:=2)").  Any other
 * extensible match (another rule, ":dn:", no attribute) is refused at
 * parse time with an error naming it.  Evaluation follows RFC 4511 §4.5.1.7
 * three-valued logic: a bitwise rule on a value that is not an integer is
 * Undefined, (!Undefined) is Undefined, and only TRUE matches.
 *
 * Matching is a documented simplification of the server's schema-driven
 * rules, enough for the filters people write for users and groups:
 *   - attribute descriptions compare case-insensitively (RFC 4512 §2.5);
 *   - values compare with ASCII case folding, except the octet-string
 *     attributes objectGUID, objectSid, parentGUID, msDS-ConsistencyGuid
 *     and sIDHistory, which compare byte for byte (filters name them with
 *     \XX escapes); no Unicode folding, no space normalisation;
 *   - values of DN-valued attributes (member, manager, memberOf,
 *     objectCategory, distinguishedName, ...) compare as DNs
 *     (dn_normalize), after dropping AD extended-DN prefixes such as
 *     "<GUID=...>;" that DirSync puts on objectCategory;
 *   - AD's objectCategory shorthand: an assertion value that is not a DN
 *     ("(objectCategory=person)") matches a value whose first RDN value
 *     equals it ignoring case and '-' ("CN=Person,CN=Schema,...",
 *     "organizationalUnit" = "CN=Organizational-Unit,..."); "user" means
 *     person, as user's defaultObjectCategory is Person;
 *   - >= and <= compare as signed 64-bit integers when both sides are
 *     integers, otherwise bytewise after ASCII case folding (which orders
 *     generalized times of one format correctly).
 *
 * Bounds: nesting depth LDAPFILTER_DEPTH_MAX, filter text
 * LDAPFILTER_LEN_MAX octets.  All functions may be called from any
 * context. */
#ifndef DS_LDAPFILTER_H
#define DS_LDAPFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include "compat.h"

struct ldapconn_entry;
struct ldapfilter;

#define LDAPFILTER_DEPTH_MAX 32
#define LDAPFILTER_LEN_MAX 65536
#define LDAPFILTER_OID_BIT_AND "1.2.840.113556.1.4.803"
#define LDAPFILTER_OID_BIT_OR "1.2.840.113556.1.4.804"

/* Parse text (one parenthesised filter).  On 0 *out is the caller's, to
 * release with ldapfilter_free(); on -1 *out is NULL and err names the
 * byte offset and the problem. */
int ldapfilter_parse(const char *text, struct ldapfilter **out,
    struct ds_error *err) DS_MUSTCHECK;
/* NULL is a no-op. */
void ldapfilter_free(struct ldapfilter *f);

/* Does entry e match f?  Reads e only through ldapconn's accessors, so a
 * borrowed entry inside a search callback or an owned one will do. */
bool ldapfilter_match(const struct ldapfilter *f, const struct ldapconn_entry *e);

/* The distinct attribute descriptions f reads (first spelling kept), up
 * to max of them into attrs, borrowed from f.  Returns how many there
 * are, which may exceed max. */
size_t ldapfilter_attrs(const struct ldapfilter *f, const char **attrs,
    size_t max);

/* Is dn (as sent by a server) at or below the normalised base nbase
 * (dn_normalize)?  false when dn does not parse. */
bool ldapfilter_dn_under(const char *dn, const char *nbase);

#endif
