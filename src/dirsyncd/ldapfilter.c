/* ldapfilter.c - RFC 4515 filters parsed into a tree and evaluated against
 * received entries (ldapfilter.h).  The parser must refuse what it does
 * not understand rather than guess: a filter that matched more than the
 * administrator wrote would mirror entries nobody asked for. */
#include "ldapfilter.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "escape.h"
#include "ldapconn.h"

enum node_kind {
	NODE_AND,
	NODE_OR,
	NODE_NOT,
	NODE_EQ,      /* also ~= */
	NODE_PRESENT,
	NODE_SUB,
	NODE_GE,
	NODE_LE,
	NODE_BIT_AND, /* 1.2.840.113556.1.4.803 */
	NODE_BIT_OR,  /* 1.2.840.113556.1.4.804 */
};

/* How values of an attribute compare (see the header). */
enum value_kind {
	VALUE_CASELESS = 0,
	VALUE_OCTETS,
	VALUE_DN,
};

/* Three-valued logic, RFC 4511 §4.5.1.7. */
enum tri { TRI_FALSE = 0, TRI_TRUE, TRI_UNDEFINED };

struct value {
	char *v;      /* unescaped, NUL after (not counted) */
	size_t len;
};

struct node {
	enum node_kind kind;
	char *attr;
	enum value_kind vkind;
	struct value val;        /* EQ, GE, LE */
	char *ndn;               /* EQ on a DN attribute: normalised, or NULL
	                          * (a bare name: the objectCategory shorthand) */
	uint64_t mask;           /* BIT_AND, BIT_OR */
	struct value initial, final_; /* SUB: v NULL when absent */
	struct value *any;
	size_t nany;
	struct node **kids;      /* AND, OR: nkids; NOT: one */
	size_t nkids;
};

struct ldapfilter {
	struct node *root;
	const char **attrs;      /* distinct, borrowed from the nodes */
	size_t nattrs;
};

struct parser {
	const char *s;
	size_t pos;
	struct ds_error *err;
	struct ldapfilter *f;
};

static const char *const octet_attrs[] = {
	"objectGUID", "objectSid", "parentGUID", "msDS-ConsistencyGuid",
	"sIDHistory",
};
static const char *const dn_attrs[] = {
	"member", "manager", "memberOf", "objectCategory", "distinguishedName",
	"directReports", "managedBy", "secretary", "owner", "seeAlso",
	"uniqueMember",
};

static enum value_kind
value_kind_of(const char *attr)
{
	size_t n = strcspn(attr, ";");

	for (size_t i = 0; i < DS_ARRAY_SIZE(octet_attrs); i++)
		if (strlen(octet_attrs[i]) == n && strncasecmp(attr, octet_attrs[i], n) == 0)
			return VALUE_OCTETS;
	for (size_t i = 0; i < DS_ARRAY_SIZE(dn_attrs); i++)
		if (strlen(dn_attrs[i]) == n && strncasecmp(attr, dn_attrs[i], n) == 0)
			return VALUE_DN;
	return VALUE_CASELESS;
}

/* ---- freeing ------------------------------------------------------------- */

static void
node_free(struct node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	for (size_t i = 0; i < n->nany; i++)
		free(n->any[i].v);
	free(n->any);
	free(n->attr);
	free(n->val.v);
	free(n->ndn);
	free(n->initial.v);
	free(n->final_.v);
	free(n);
}

void
ldapfilter_free(struct ldapfilter *f)
{
	if (f == NULL)
		return;
	node_free(f->root);
	free(f->attrs);
	free(f);
}

/* ---- parsing ------------------------------------------------------------- */

static int
parse_fail(struct parser *p, const char *problem)
{
	return ds_error_set(p->err, "filter at offset %zu: %s", p->pos, problem);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One assertion value up to (not including) an unescaped '*' or ')':
 * RFC 4515 §3 escapes are \XX only; a raw '(' is refused. */
static int
parse_value(struct parser *p, struct value *out)
{
	size_t start = p->pos, n = 0;
	char *v;

	/* The unescaped value is never longer than its text. */
	v = malloc(strcspn(p->s + start, "*)") + 1);
	if (v == NULL)
		return parse_fail(p, "out of memory");
	for (;;) {
		char c = p->s[p->pos];

		if (c == '\0' || c == '*' || c == ')')
			break;
		if (c == '(') {
			free(v);
			return parse_fail(p, "unescaped '(' in a value (write \\28)");
		}
		if (c == '\\') {
			int hi = hexval(p->s[p->pos + 1]);
			int lo = hi < 0 ? -1 : hexval(p->s[p->pos + 2]);

			if (hi < 0 || lo < 0) {
				free(v);
				return parse_fail(p, "bad escape: '\\' must be followed by two hex digits");
			}
			v[n++] = (char)(hi * 16 + lo);
			p->pos += 3;
			continue;
		}
		v[n++] = c;
		p->pos++;
	}
	v[n] = '\0';
	out->v = v;
	out->len = n;
	return 0;
}

/* RFC 4512 §2.5 attribute description: keystring or numericoid, options. */
static int
parse_attr(struct parser *p, char **out)
{
	size_t start = p->pos;

	while (isalnum((unsigned char)p->s[p->pos]) || p->s[p->pos] == '-' ||
	    p->s[p->pos] == ';' || p->s[p->pos] == '.')
		p->pos++;
	if (p->pos == start)
		return parse_fail(p, "attribute description expected");
	*out = strndup(p->s + start, p->pos - start);
	if (*out == NULL)
		return parse_fail(p, "out of memory");
	return 0;
}

static bool
parse_int64(const char *s, size_t len, int64_t *out)
{
	char buf[32], *end;
	long long v;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (!(isdigit((unsigned char)buf[0]) || (buf[0] == '-' && isdigit((unsigned char)buf[1]))))
		return false;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static void
add_attr(struct ldapfilter *f, const char *attr)
{
	for (size_t i = 0; i < f->nattrs; i++)
		if (strcasecmp(f->attrs[i], attr) == 0)
			return;
	f->attrs = ds_realloc(f->attrs, (f->nattrs + 1) * sizeof(*f->attrs));
	f->attrs[f->nattrs++] = attr;
}

/* attr ":" [dn ":"] rule ":=" value, the attribute already read. */
static int
parse_extensible(struct parser *p, struct node *n)
{
	size_t start = ++p->pos; /* past the ':' after the attribute */
	char rule[64];
	size_t len;
	int64_t mask;

	if (p->s[start] == '=')
		return parse_fail(p, "extensible match without a matching rule");
	len = strcspn(p->s + start, ":)");
	if (p->s[start + len] != ':')
		return parse_fail(p, "extensible match without ':='");
	if (len == 2 && strncasecmp(p->s + start, "dn", 2) == 0)
		return parse_fail(p, "extensible match with ':dn:' is not supported by the client-side filter");
	if (len == 0 || len >= sizeof(rule))
		return parse_fail(p, "extensible match without a matching rule");
	memcpy(rule, p->s + start, len);
	rule[len] = '\0';
	p->pos = start + len;
	if (p->s[p->pos + 1] != '=')
		return parse_fail(p, "extensible match: ':=' expected after the rule");
	if (strcmp(rule, LDAPFILTER_OID_BIT_AND) == 0)
		n->kind = NODE_BIT_AND;
	else if (strcmp(rule, LDAPFILTER_OID_BIT_OR) == 0)
		n->kind = NODE_BIT_OR;
	else {
		char msg[300];

		snprintf(msg, sizeof(msg),
		    "matching rule %s is not supported by the client-side filter "
		    "(only %s and %s, AD's bitwise AND and OR)", rule,
		    LDAPFILTER_OID_BIT_AND, LDAPFILTER_OID_BIT_OR);
		return parse_fail(p, msg);
	}
	p->pos += 2;
	if (parse_value(p, &n->val) < 0)
		return -1;
	if (p->s[p->pos] == '*')
		return parse_fail(p, "'*' in a bitwise match value");
	if (!parse_int64(n->val.v, n->val.len, &mask))
		return parse_fail(p, "bitwise match value is not an integer");
	n->mask = (uint64_t)mask;
	return 0;
}

/* After "attr=": presence, substrings or equality. */
static int
parse_eq_or_sub(struct parser *p, struct node *n)
{
	struct value v;

	if (p->s[p->pos] == '*' && p->s[p->pos + 1] == ')') {
		n->kind = NODE_PRESENT;
		p->pos++;
		return 0;
	}
	if (parse_value(p, &v) < 0)
		return -1;
	if (p->s[p->pos] != '*') {
		n->kind = NODE_EQ;
		n->val = v;
		return 0;
	}
	n->kind = NODE_SUB;
	if (v.len > 0)
		n->initial = v;
	else
		free(v.v);
	while (p->s[p->pos] == '*') {
		p->pos++;
		if (parse_value(p, &v) < 0)
			return -1;
		if (p->s[p->pos] == '*') {
			if (v.len == 0) {
				free(v.v);
				return parse_fail(p, "'**' in a substring filter");
			}
			n->any = ds_realloc(n->any, (n->nany + 1) * sizeof(*n->any));
			n->any[n->nany++] = v;
		} else if (v.len > 0) {
			n->final_ = v;
		} else {
			free(v.v);
		}
	}
	return 0;
}

/* The DN form of an equality assertion on a DN attribute, once. */
static void
prepare_dn(struct node *n)
{
	struct ds_error err;

	if (n->kind != NODE_EQ || n->vkind != VALUE_DN)
		return;
	if (memchr(n->val.v, '=', n->val.len) == NULL ||
	    dn_normalize(n->val.v, &n->ndn, &err) < 0)
		n->ndn = NULL; /* a bare name, or not a DN: compared as text */
}

/* v replaced by its case-folded form (text_casefold); -1 when memory
 * ran out. */
static int
fold_value(struct value *v)
{
	size_t len;
	char *f;

	if (v->v == NULL)
		return 0;
	if ((f = text_casefold(v->v, v->len, &len)) == NULL)
		return -1;
	free(v->v);
	v->v = f;
	v->len = len;
	return 0;
}

/* A caseIgnore assertion is folded once, here, and each value it meets
 * in value_match(): then "Jörg" matches "JÖRG" as the server's own
 * matching rule says, not only ASCII letters.  Otherwise the DirSync
 * source, which applies the filter itself, would take an entry whose
 * value differs from the filter in the case of a non-ASCII letter for
 * one that left the filter, and delete it until the next reconcile. */
static int
fold_assertion(struct parser *p, struct node *n)
{
	int rc = 0;

	if (n->vkind != VALUE_CASELESS)
		return 0;
	rc |= fold_value(&n->val);
	rc |= fold_value(&n->initial);
	rc |= fold_value(&n->final_);
	for (size_t i = 0; i < n->nany; i++)
		rc |= fold_value(&n->any[i]);
	return rc < 0 ? parse_fail(p, "out of memory") : 0;
}

static int
parse_item(struct parser *p, struct node *n)
{
	char c;

	if (parse_attr(p, &n->attr) < 0)
		return -1;
	n->vkind = value_kind_of(n->attr);
	add_attr(p->f, n->attr);
	c = p->s[p->pos];
	if (c == ':')
		return parse_extensible(p, n);
	if ((c == '~' || c == '>' || c == '<') && p->s[p->pos + 1] == '=') {
		p->pos += 2;
		n->kind = c == '>' ? NODE_GE : c == '<' ? NODE_LE : NODE_EQ;
		if (parse_value(p, &n->val) < 0)
			return -1;
		if (p->s[p->pos] == '*')
			return parse_fail(p, "'*' is only allowed after '='");
		prepare_dn(n);
		return fold_assertion(p, n);
	}
	if (c != '=')
		return parse_fail(p, "'=', '~=', '>=', '<=' or ':' expected");
	p->pos++;
	if (parse_eq_or_sub(p, n) < 0)
		return -1;
	prepare_dn(n);
	return fold_assertion(p, n);
}

static int parse_filter(struct parser *p, unsigned depth, struct node **out);

static int
parse_list(struct parser *p, unsigned depth, struct node *n)
{
	while (p->s[p->pos] == '(') {
		struct node *kid;

		if (parse_filter(p, depth + 1, &kid) < 0)
			return -1;
		n->kids = ds_realloc(n->kids, (n->nkids + 1) * sizeof(*n->kids));
		n->kids[n->nkids++] = kid;
		if (n->kind == NODE_NOT)
			break;
	}
	if (n->kind == NODE_NOT && n->nkids != 1)
		return parse_fail(p, "'!' needs exactly one filter");
	return 0;
}

static int
parse_filter(struct parser *p, unsigned depth, struct node **out)
{
	struct node *n;
	char c;
	int rc;

	*out = NULL;
	if (depth > LDAPFILTER_DEPTH_MAX)
		return parse_fail(p, "filter nested too deeply");
	if (p->s[p->pos] != '(')
		return parse_fail(p, "'(' expected");
	p->pos++;
	n = ds_calloc(1, sizeof(*n));
	c = p->s[p->pos];
	if (c == '&' || c == '|' || c == '!') {
		n->kind = c == '&' ? NODE_AND : c == '|' ? NODE_OR : NODE_NOT;
		p->pos++;
		rc = parse_list(p, depth, n);
	} else {
		rc = parse_item(p, n);
	}
	if (rc == 0 && p->s[p->pos] != ')')
		rc = parse_fail(p, p->s[p->pos] == '\0' ? "')' missing at the end"
		                                        : "')' expected");
	if (rc < 0) {
		node_free(n);
		return -1;
	}
	p->pos++;
	*out = n;
	return 0;
}

int
ldapfilter_parse(const char *text, struct ldapfilter **out, struct ds_error *err)
{
	struct parser p = { .s = text, .err = err };
	struct ldapfilter *f;

	*out = NULL;
	if (text == NULL || text[0] == '\0')
		return ds_error_set(err, "empty filter");
	if (strlen(text) > LDAPFILTER_LEN_MAX)
		return ds_error_set(err, "filter longer than %d octets", LDAPFILTER_LEN_MAX);
	f = ds_calloc(1, sizeof(*f));
	p.f = f;
	if (parse_filter(&p, 1, &f->root) < 0) {
		ldapfilter_free(f);
		return -1;
	}
	if (text[p.pos] != '\0') {
		(void)parse_fail(&p, "text after the end of the filter");
		ldapfilter_free(f);
		return -1;
	}
	*out = f;
	return 0;
}

size_t
ldapfilter_attrs(const struct ldapfilter *f, const char **attrs, size_t max)
{
	for (size_t i = 0; i < f->nattrs && i < max; i++)
		attrs[i] = f->attrs[i];
	return f->nattrs;
}

/* ---- matching ------------------------------------------------------------ */

static bool
bytes_eq(enum value_kind k, const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	if (k == VALUE_OCTETS)
		return memcmp(a, b, alen) == 0;
	for (size_t i = 0; i < alen; i++)
		if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
			return false;
	return true;
}

/* AD extended DN: "<GUID=...>;<SID=...>;CN=x,..." -> "CN=x,...". */
static const char *
skip_extended(const char *v)
{
	while (v[0] == '<') {
		const char *end = strstr(v, ">;");

		if (end == NULL)
			break;
		v = end + 2;
	}
	return v;
}

/* Compare the first RDN value of dn with name ignoring case and '-'. */
static bool
first_rdn_is(const char *dn, const char *name, size_t name_len)
{
	const char *v = strchr(dn, '=');
	size_t i = 0;

	if (v == NULL)
		return false;
	for (v++; *v != '\0' && *v != ','; v++) {
		if (*v == '-')
			continue;
		while (i < name_len && name[i] == '-')
			i++;
		if (i == name_len || tolower((unsigned char)*v) != tolower((unsigned char)name[i]))
			return false;
		i++;
	}
	while (i < name_len && name[i] == '-')
		i++;
	return i == name_len;
}

static bool
dn_value_eq(const struct node *n, const char *value, size_t len)
{
	const char *v = skip_extended(value);
	struct ds_error err;
	char *nv;
	bool eq;

	if (n->ndn == NULL) {
		/* objectCategory shorthand, or a DN attribute compared with
		 * something that is not a DN. */
		if (strcasecmp(n->attr, "objectCategory") == 0) {
			if (strcasecmp(n->val.v, "user") == 0)
				return first_rdn_is(v, "person", 6);
			return first_rdn_is(v, n->val.v, n->val.len);
		}
		return bytes_eq(VALUE_CASELESS, v, strlen(v), n->val.v, n->val.len);
	}
	(void)len;
	if (dn_normalize(v, &nv, &err) < 0)
		return false;
	eq = strcmp(nv, n->ndn) == 0;
	free(nv);
	return eq;
}

/* Find needle (caseless unless octets) in hay from *from; advance past it. */
static bool
find_from(enum value_kind k, const char *hay, size_t hlen, size_t *from,
    const struct value *needle)
{
	for (size_t i = *from; i + needle->len <= hlen; i++)
		if (bytes_eq(k, hay + i, needle->len, needle->v, needle->len)) {
			*from = i + needle->len;
			return true;
		}
	return false;
}

static bool
sub_match(const struct node *n, const char *v, size_t len)
{
	size_t pos = 0, end = len;

	if (n->vkind == VALUE_DN) {
		v = skip_extended(v);
		len = end = strlen(v);
	}
	if (n->initial.v != NULL) {
		if (len < n->initial.len ||
		    !bytes_eq(n->vkind, v, n->initial.len, n->initial.v, n->initial.len))
			return false;
		pos = n->initial.len;
	}
	if (n->final_.v != NULL) {
		if (len < pos + n->final_.len ||
		    !bytes_eq(n->vkind, v + len - n->final_.len, n->final_.len,
		        n->final_.v, n->final_.len))
			return false;
		end = len - n->final_.len;
	}
	for (size_t i = 0; i < n->nany; i++)
		if (!find_from(n->vkind, v, end, &pos, &n->any[i]))
			return false;
	return true;
}

/* <0, 0, >0 as value orders against the assertion. */
static int
order_cmp(const struct node *n, const char *v, size_t len)
{
	int64_t a, b;
	size_t m = len < n->val.len ? len : n->val.len;

	if (parse_int64(v, len, &a) && parse_int64(n->val.v, n->val.len, &b))
		return a < b ? -1 : a > b;
	for (size_t i = 0; i < m; i++) {
		int ca = tolower((unsigned char)v[i]), cb = tolower((unsigned char)n->val.v[i]);

		if (ca != cb)
			return ca - cb;
	}
	return len < n->val.len ? -1 : len > n->val.len;
}

static enum tri
value_match_folded(const struct node *n, const char *v, size_t len)
{
	int64_t x;

	switch (n->kind) {
	case NODE_EQ:
		if (n->vkind == VALUE_DN)
			return dn_value_eq(n, v, len) ? TRI_TRUE : TRI_FALSE;
		return bytes_eq(n->vkind, v, len, n->val.v, n->val.len) ? TRI_TRUE : TRI_FALSE;
	case NODE_SUB:
		return sub_match(n, v, len) ? TRI_TRUE : TRI_FALSE;
	case NODE_GE:
		return order_cmp(n, v, len) >= 0 ? TRI_TRUE : TRI_FALSE;
	case NODE_LE:
		return order_cmp(n, v, len) <= 0 ? TRI_TRUE : TRI_FALSE;
	case NODE_BIT_AND:
		if (!parse_int64(v, len, &x))
			return TRI_UNDEFINED;
		return ((uint64_t)x & n->mask) == n->mask ? TRI_TRUE : TRI_FALSE;
	case NODE_BIT_OR:
		if (!parse_int64(v, len, &x))
			return TRI_UNDEFINED;
		return ((uint64_t)x & n->mask) != 0 ? TRI_TRUE : TRI_FALSE;
	default:
		return TRI_FALSE;
	}
}

/* Whether len bytes at v hold anything beyond ASCII. */
static bool
beyond_ascii(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] >= 0x80)
			return true;
	return false;
}

/* One value against an item: a caseIgnore value is folded first, as the
 * assertion was (fold_assertion).  An ASCII value needs no copy: the
 * comparisons ignore ASCII case already, which is all its folding is. */
static enum tri
value_match(const struct node *n, const char *v, size_t len)
{
	char *folded = NULL;
	enum tri r;

	if (n->vkind == VALUE_CASELESS && (n->kind == NODE_EQ ||
	    n->kind == NODE_SUB || n->kind == NODE_GE || n->kind == NODE_LE) &&
	    beyond_ascii(v, len)) {
		if ((folded = text_casefold(v, len, &len)) == NULL)
			return TRI_UNDEFINED;
		v = folded;
	}
	r = value_match_folded(n, v, len);
	free(folded);
	return r;
}

/* Any value matching is TRUE; else any Undefined is Undefined. */
static enum tri
item_match(const struct node *n, const struct ldapconn_entry *e)
{
	const char *stack[32], **vals = stack;
	size_t count = ldapconn_entry_values(e, n->attr, NULL, 0);
	enum tri r = TRI_FALSE;

	if (n->kind == NODE_PRESENT)
		return count > 0 || strcasecmp(n->attr, "objectClass") == 0
		           ? TRI_TRUE : TRI_FALSE;
	if (count == 0)
		return TRI_FALSE;
	if (count > DS_ARRAY_SIZE(stack) &&
	    (vals = malloc(count * sizeof(*vals))) == NULL)
		return TRI_UNDEFINED;
	count = ldapconn_entry_values(e, n->attr, vals, count);
	for (size_t i = 0; i < count && r != TRI_TRUE; i++) {
		size_t len = ldapconn_entry_value_len(e, n->attr, i);
		enum tri t = value_match(n, vals[i], len);

		if (t != TRI_FALSE)
			r = t;
	}
	if (vals != stack)
		free(vals);
	return r;
}

static enum tri
node_match(const struct node *n, const struct ldapconn_entry *e)
{
	enum tri r, t;

	switch (n->kind) {
	case NODE_AND:
		r = TRI_TRUE; /* (&) is absolute true (RFC 4526) */
		for (size_t i = 0; i < n->nkids && r != TRI_FALSE; i++)
			if ((t = node_match(n->kids[i], e)) != TRI_TRUE)
				r = t;
		return r;
	case NODE_OR:
		r = TRI_FALSE; /* (|) is absolute false */
		for (size_t i = 0; i < n->nkids && r != TRI_TRUE; i++)
			if ((t = node_match(n->kids[i], e)) != TRI_FALSE)
				r = t;
		return r;
	case NODE_NOT:
		t = node_match(n->kids[0], e);
		return t == TRI_UNDEFINED ? t : t == TRI_TRUE ? TRI_FALSE : TRI_TRUE;
	default:
		return item_match(n, e);
	}
}

bool
ldapfilter_match(const struct ldapfilter *f, const struct ldapconn_entry *e)
{
	return node_match(f->root, e) == TRI_TRUE;
}

bool
ldapfilter_dn_under(const char *dn, const char *nbase)
{
	struct ds_error err;
	char *ndn;
	bool under;

	if (dn_normalize(dn, &ndn, &err) < 0)
		return false;
	under = dn_is_under(ndn, nbase);
	free(ndn);
	return under;
}
