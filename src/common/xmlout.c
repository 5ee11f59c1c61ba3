/* xmlout.c - in-memory XML writing over libxml2's xmlTextWriter.
 * Never builds markup by hand: every name, attribute and text goes
 * through libxml2 so it is escaped. */
#include "xmlout.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlwriter.h>

#include "utf8.h"

struct xmlout {
	xmlBufferPtr buf;
	xmlTextWriterPtr w;
	bool failed;
	bool finished;
};

struct xmlout *
xmlout_new(void)
{
	struct xmlout *x = ds_calloc(1, sizeof(*x));

	x->buf = xmlBufferCreate();
	x->w = x->buf ? xmlNewTextWriterMemory(x->buf, 0) : NULL;
	if (x->w == NULL || xmlTextWriterStartDocument(x->w, NULL, "UTF-8", NULL) < 0)
		x->failed = true;
	return x;
}

/* Length of the character at p (n bytes left) when XML 1.0 can carry
 * it: well-formed UTF-8 (utf8.h), not a C0 control but tab, newline and
 * return, not U+FFFE or U+FFFF; 0 otherwise. */
static size_t
xmlout_char_len(const unsigned char *p, size_t n)
{
	size_t len = utf8_char_len(p, n);

	if (len == 1 && p[0] < 0x20 && p[0] != '\t' && p[0] != '\n' &&
	    p[0] != '\r')
		return 0;
	if (len == 3 && p[0] == 0xef && p[1] == 0xbf &&
	    (p[2] == 0xbe || p[2] == 0xbf))
		return 0;
	return len;
}

/* Copy s replacing every byte that is not part of a character XML 1.0
 * can carry by '?': a server's error text or a DN may hold anything, and
 * one bad byte would make the whole document unreadable. */
static char *
xmlout_sanitize(const char *s)
{
	size_t n = strlen(s);
	unsigned char *out = (unsigned char *)ds_strdup(s);

	for (size_t i = 0; i < n;) {
		size_t len = xmlout_char_len(out + i, n - i);

		if (len == 0)
			out[i++] = '?';
		else
			i += len;
	}
	return (char *)out;
}

void
xmlout_start(struct xmlout *x, const char *name)
{
	if (!x->failed && xmlTextWriterStartElement(x->w, BAD_CAST name) < 0)
		x->failed = true;
}

void
xmlout_attr(struct xmlout *x, const char *name, const char *value)
{
	char *clean;

	if (x->failed)
		return;
	clean = xmlout_sanitize(value ? value : "");
	if (xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST clean) < 0)
		x->failed = true;
	free(clean);
}

void
xmlout_attrf(struct xmlout *x, const char *name, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	xmlout_attr(x, name, buf);
}

void
xmlout_format_time(char *buf, size_t size, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
xmlout_attr_time(struct xmlout *x, const char *name, time_t t)
{
	char buf[32];

	if (t == 0)
		return;
	xmlout_format_time(buf, sizeof(buf), t);
	xmlout_attr(x, name, buf);
}

void
xmlout_text(struct xmlout *x, const char *text)
{
	char *clean;

	if (x->failed)
		return;
	clean = xmlout_sanitize(text ? text : "");
	if (xmlTextWriterWriteString(x->w, BAD_CAST clean) < 0)
		x->failed = true;
	free(clean);
}

void
xmlout_end(struct xmlout *x)
{
	if (!x->failed && xmlTextWriterEndElement(x->w) < 0)
		x->failed = true;
}

void
xmlout_text_element(struct xmlout *x, const char *name, const char *text)
{
	xmlout_start(x, name);
	xmlout_text(x, text);
	xmlout_end(x);
}

const char *
xmlout_finish(struct xmlout *x, size_t *len)
{
	if (!x->failed && !x->finished) {
		if (xmlTextWriterEndDocument(x->w) < 0 || xmlTextWriterFlush(x->w) < 0)
			x->failed = true;
		x->finished = true;
	}
	if (x->failed)
		return NULL;
	if (len != NULL)
		*len = (size_t)xmlBufferLength(x->buf);
	return (const char *)xmlBufferContent(x->buf);
}

void
xmlout_free(struct xmlout *x)
{
	if (x == NULL)
		return;
	if (x->w != NULL)
		xmlFreeTextWriter(x->w);
	if (x->buf != NULL)
		xmlBufferFree(x->buf);
	free(x);
}
