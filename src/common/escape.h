/* escape.h - the one place where outside strings become LDAP filter or DN
 * text (RFC 4515, RFC 4514), and where DNs sent by servers are put into one
 * canonical form.  Pure: no library, no global state, no logging; it must
 * never build a filter or DN by itself - callers paste its output into
 * their own templates.
 *
 * Usage:
 *   - Any value that goes into a search filter, whether typed by a person,
 *     read from the database or sent by a server, passes through
 *     escape_filter_value() first:  "(uid=" + escaped + ")".
 *   - Any value that goes into a DN passes through escape_dn_value():
 *     "cn=" + escaped + ",ou=people,dc=example,dc=com".
 *   - Every DN received from a server (entry DNs, member, manager) is run
 *     through dn_normalize() before it is stored as a key or compared.
 *     The normalised form is for matching only: keep the DN as sent for
 *     display and for writing back to the server.
 *   - dn_parent() and dn_is_under() work on normalised DNs only.
 *
 * All functions may be called from any context; none keeps state. */
#ifndef DS_ESCAPE_H
#define DS_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>
#include "compat.h"

/* RFC 4515 §3 assertion value for a search filter.  Escapes as \XX (lower
 * case hex):
 *   - the octets the RFC requires: '*' '(' ')' '\\' and NUL;
 *   - every octet that is not part of a well-formed UTF-8 sequence
 *     (overlong forms, surrogates, stray continuation bytes, > U+10FFFF),
 *     because §3 requires the filter string itself to be valid UTF-8 -
 *     this also makes binary values such as objectGUID searchable;
 *   - ASCII control characters (0x01-0x1f, 0x7f), which the RFC allows to
 *     be escaped, so that a filter always fits on one log line.
 * Well-formed UTF-8 (José, 山田) is kept as is, as §3 allows.
 * s may contain NUL: len is its length in bytes.  Returns a new string
 * the caller frees, or NULL only when memory runs out. */
char *escape_filter_value(const char *s, size_t len) DS_MUSTCHECK;

/* RFC 4514 §2.4 attribute value for a DN string.  Escapes:
 *   - with a backslash before the character: '"' '+' ',' ';' '<' '>' and
 *     '\\' anywhere, '#' and ' ' at the start, ' ' at the end;
 *   - as \XX (lower case hex): NUL, ASCII control characters and every
 *     octet that is not part of well-formed UTF-8 (a DN is an LDAPString,
 *     RFC 4511 §4.1.3, so it must be valid UTF-8).
 * '=' is not escaped: RFC 4514 does not require it and the first '=' of
 * an RDN always ends the attribute type.  The output parses back to
 * exactly the input bytes (dn_value_unescape).  s may contain NUL.
 * Returns a new string the caller frees, or NULL when memory runs out. */
char *escape_dn_value(const char *s, size_t len) DS_MUSTCHECK;

/* The inverse of escape_dn_value(): the bytes of one attribute value
 * written in RFC 4514 string form (what follows "type=" in an RDN,
 * without the '#'-hex form).  Accepts \XX and backslash-special escapes;
 * fails on an unescaped ',' '+' ';', an unterminated or bad escape, or a
 * value that starts with '#'.  Unescaped leading/trailing spaces are kept
 * (the caller passes exactly the value).  On success *out is a new
 * NUL-terminated buffer the caller frees and *outlen its length (the
 * value itself may contain NUL).  Returns 0, or -1 with err filled. */
int dn_value_unescape(const char *s, size_t len, char **out, size_t *outlen,
    struct ds_error *err) DS_MUSTCHECK;

/* Canonical form of a DN as sent by a server, so that the same entry
 * written by OpenLDAP, 389-ds or AD (which changes case) compares equal
 * with strcmp().  Accepted input (RFC 4514 §3, plus what older servers
 * send, as §3 allows an implementation to):
 *   - RDNs separated by ',' or the legacy ';' (RFC 1779), spaces around
 *     ',', ';', '+' and '=' ignored;
 *   - attribute types as descr (cn, OU) or numericoid (2.5.4.3), an
 *     RFC 1779 "OID." prefix is dropped;
 *   - values with \XX and backslash-special escapes, RFC 1779 quoted
 *     values ("Smith, John"), '#'-hex BER values (§2.4), and, leniently,
 *     unescaped '"' '<' '>' '=' inside a value;
 *   - multi-valued RDNs joined by '+'.
 * Output:
 *   - attribute types lower-cased, OIDs kept as written (no schema here,
 *     so "2.5.4.3=x" and "cn=x" stay different);
 *   - string values with escapes resolved, case-folded (below), then
 *     re-escaped by escape_dn_value(); '#'-hex values kept, lower-cased;
 *   - the components of a multi-valued RDN sorted bytewise, so
 *     "a=1+b=2" and "b=2+a=1" are equal;
 *   - no spaces around separators; ',' between RDNs.
 * Case folding is Unicode simple case folding (CaseFolding.txt, status C
 * and S) for U+0000-U+052F: ASCII, Latin-1 Supplement, Latin Extended-A
 * and -B, Greek and Cyrillic - enough for the names directories hold, and
 * what caseIgnoreMatch (RFC 4517 §4.2.11) would treat as equal.  Not
 * folded: other scripts (CJK has no case), and the six code points whose
 * only folding changes their length (ß, İ, ŉ, ǰ, ΐ, ΰ).  No Unicode
 * normalisation (NFC/NFD), and spaces inside a value are not collapsed:
 * what servers vary between spellings of one DN is case, escaping and
 * spacing around separators, all handled above.  Folding is for
 * matching only: never show or send back a normalised DN.
 * An empty (or all-space) DN is the root and normalises to "".
 * On success *out is a new string the caller frees.  Returns 0, or -1
 * with err naming the byte offset and the problem (unterminated escape,
 * bad hex, missing '=', empty attribute type, ...); *out is then NULL. */
int dn_normalize(const char *dn, char **out, struct ds_error *err)
    DS_MUSTCHECK;
/* dn_normalize() always through the full parser, without the fast path
 * for DNs that are canonical but for ASCII case: the same result, so
 * tests can check that the two agree. */
int dn_normalize_parsed(const char *dn, char **out, struct ds_error *err)
    DS_MUSTCHECK;

/* len bytes of s case-folded as dn_normalize() folds attribute values
 * (ASCII, and the Unicode folding described there); bytes that are not
 * UTF-8 are copied as they are.  For caseIgnore matching of values that
 * are not DNs.  A new NUL-terminated string (the caller frees) of
 * *outlen bytes, which may differ from len; NULL when out of memory. */
char *text_casefold(const char *s, size_t len, size_t *outlen) DS_MUSTCHECK;

/* The parent of a normalised DN: a pointer into ndn just after its first
 * RDN separator, or NULL for a one-RDN DN or the root "".  Returns a
 * borrowed pointer valid as long as ndn. */
const char *dn_parent(const char *ndn);

/* true when ndn is nbase or lies below it (LDAP subtree scope), comparing
 * whole RDNs: "cn=x,dc=example,dc=com" is under "dc=example,dc=com";
 * "cn=x,dc=myexample,dc=com" is not, nor is the one-RDN "cn=a\,dc=com"
 * under "dc=com".  Every DN is under the root "".  Both arguments must be
 * normalised. */
bool dn_is_under(const char *ndn, const char *nbase);

#endif
