/* xmlin.h - reading small XML documents (the status replies) into a
 * tree; with xmlout.h the only code that touches libxml2.
 *
 * Usage: xmlin_parse() returns a document or NULL with the parser's
 * message in err; walk it with xmlin_root/first_child/next; strings are
 * owned by the document and live until xmlin_free().  The parser never
 * loads external entities or DTDs (XXE-safe). */
#ifndef DS_XMLIN_H
#define DS_XMLIN_H

#include <stddef.h>
#include "compat.h"

struct xmlin_doc;
struct xmlin_node;

struct xmlin_doc *xmlin_parse(const char *text, size_t len,
    struct ds_error *err) DS_MUSTCHECK;
void xmlin_free(struct xmlin_doc *doc);

const struct xmlin_node *xmlin_root(const struct xmlin_doc *doc);
/* Element children only; NULL at the end. */
const struct xmlin_node *xmlin_first_child(const struct xmlin_node *n);
const struct xmlin_node *xmlin_next(const struct xmlin_node *n);
/* First child element with that name, or NULL. */
const struct xmlin_node *xmlin_child(const struct xmlin_node *n,
    const char *name);
const char *xmlin_name(const struct xmlin_node *n);
/* NULL when absent. */
const char *xmlin_attr(const struct xmlin_doc *doc, const struct xmlin_node *n,
    const char *name);
/* Text content ("" when none). */
const char *xmlin_text(const struct xmlin_doc *doc, const struct xmlin_node *n);

/* Validate text against the XML Schema in xsd_path; 0 when valid, else -1
 * with the first problem in err.  Used by the tests and `dirsyncctl`. */
int xmlin_validate(const char *text, size_t len, const char *xsd_path,
    struct ds_error *err) DS_MUSTCHECK;

#endif
