/* xmlin.c - a thin read-only view of a libxml2 tree, and XSD validation.
 * Never enables entity substitution or network access. */
#include "xmlin.h"

#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

struct xmlin_doc {
	xmlDocPtr doc;
	char **strings;     /* copies handed out, freed with the document */
	size_t nstrings, capstrings;
};

static const int xmlin_options = XML_PARSE_NONET | XML_PARSE_NOBLANKS |
    XML_PARSE_NOERROR | XML_PARSE_NOWARNING;

static void
xmlin_ignore_errors(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

struct xmlin_doc *
xmlin_parse(const char *text, size_t len, struct ds_error *err)
{
	struct xmlin_doc *d;
	xmlDocPtr doc;

	xmlSetGenericErrorFunc(NULL, xmlin_ignore_errors);
	doc = xmlReadMemory(text, (int)len, "reply.xml", NULL, xmlin_options);
	if (doc == NULL || xmlDocGetRootElement(doc) == NULL) {
		const xmlError *e = xmlGetLastError();

		ds_error_set(err, "not a well-formed XML document%s%s",
		    e && e->message ? ": " : "", e && e->message ? e->message : "");
		if (err != NULL) {
			size_t n = strlen(err->msg);
			if (n > 0 && err->msg[n - 1] == '\n')
				err->msg[n - 1] = '\0';
		}
		xmlFreeDoc(doc);
		return NULL;
	}
	d = ds_calloc(1, sizeof(*d));
	d->doc = doc;
	return d;
}

void
xmlin_free(struct xmlin_doc *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->nstrings; i++)
		xmlFree(d->strings[i]);
	free(d->strings);
	xmlFreeDoc(d->doc);
	free(d);
}

static const char *
xmlin_keep(struct xmlin_doc *d, xmlChar *s)
{
	if (s == NULL)
		return NULL;
	/* Doubling: one slot more per string made reading a document of
	 * thousands of elements quadratic (seconds under ASan). */
	if (d->nstrings == d->capstrings) {
		d->capstrings = d->capstrings ? 2 * d->capstrings : 16;
		d->strings = ds_realloc(d->strings,
		    d->capstrings * sizeof(char *));
	}
	d->strings[d->nstrings++] = (char *)s;
	return (const char *)s;
}

static const struct xmlin_node *
xmlin_element_from(const xmlNode *n)
{
	while (n != NULL && n->type != XML_ELEMENT_NODE)
		n = n->next;
	return (const struct xmlin_node *)n;
}

const struct xmlin_node *
xmlin_root(const struct xmlin_doc *d)
{
	return (const struct xmlin_node *)xmlDocGetRootElement(d->doc);
}

const struct xmlin_node *
xmlin_first_child(const struct xmlin_node *n)
{
	return xmlin_element_from(((const xmlNode *)n)->children);
}

const struct xmlin_node *
xmlin_next(const struct xmlin_node *n)
{
	return xmlin_element_from(((const xmlNode *)n)->next);
}

const struct xmlin_node *
xmlin_child(const struct xmlin_node *n, const char *name)
{
	for (n = xmlin_first_child(n); n != NULL; n = xmlin_next(n))
		if (strcmp(xmlin_name(n), name) == 0)
			return n;
	return NULL;
}

const char *
xmlin_name(const struct xmlin_node *n)
{
	return (const char *)((const xmlNode *)n)->name;
}

const char *
xmlin_attr(const struct xmlin_doc *d, const struct xmlin_node *n,
    const char *name)
{
	/* The copy list is bookkeeping, not observable state. */
	struct xmlin_doc *md = (struct xmlin_doc *)d;

	return xmlin_keep(md, xmlGetProp((const xmlNode *)n, BAD_CAST name));
}

const char *
xmlin_text(const struct xmlin_doc *d, const struct xmlin_node *n)
{
	struct xmlin_doc *md = (struct xmlin_doc *)d;
	const char *s = xmlin_keep(md, xmlNodeGetContent((const xmlNode *)n));

	return s ? s : "";
}

struct xmlin_validation {
	struct ds_error *err;
	int errors;
};

static void
xmlin_schema_error(void *ctx, const xmlError *e)
{
	struct xmlin_validation *v = ctx;

	if (v->errors++ == 0 && e != NULL && e->message != NULL) {
		ds_error_set(v->err, "line %d: %s", e->line, e->message);
		if (v->err != NULL) {
			size_t n = strlen(v->err->msg);
			if (n > 0 && v->err->msg[n - 1] == '\n')
				v->err->msg[n - 1] = '\0';
		}
	}
}

int
xmlin_validate(const char *text, size_t len, const char *xsd_path,
    struct ds_error *err)
{
	struct xmlin_validation v = { .err = err };
	xmlSchemaParserCtxtPtr pctx;
	xmlSchemaPtr schema = NULL;
	xmlSchemaValidCtxtPtr vctx = NULL;
	xmlDocPtr doc = NULL;
	int rc = -1;

	xmlSetGenericErrorFunc(NULL, xmlin_ignore_errors);
	pctx = xmlSchemaNewParserCtxt(xsd_path);
	if (pctx != NULL)
		schema = xmlSchemaParse(pctx);
	if (schema == NULL) {
		ds_error_set(err, "cannot load schema %s", xsd_path);
		goto out;
	}
	doc = xmlReadMemory(text, (int)len, "doc.xml", NULL, xmlin_options);
	if (doc == NULL) {
		ds_error_set(err, "not a well-formed XML document");
		goto out;
	}
	vctx = xmlSchemaNewValidCtxt(schema);
	xmlSchemaSetValidStructuredErrors(vctx,
	    (xmlStructuredErrorFunc)xmlin_schema_error, &v);
	if (xmlSchemaValidateDoc(vctx, doc) == 0)
		rc = 0;
	else if (v.errors == 0)
		ds_error_set(err, "document does not match %s", xsd_path);
out:
	xmlSchemaFreeValidCtxt(vctx);
	xmlFreeDoc(doc);
	xmlSchemaFree(schema);
	xmlSchemaFreeParserCtxt(pctx);
	return rc;
}
