/* ctl_reply.c - fetching, parsing and checking a status reply
 * (ctl_reply.h). */
#include "ctl_reply.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_client.h"
#include "status_proto.h"

char *
ctl_reply_fetch(const struct ctl_globals *g, const char *command, size_t *len)
{
	struct ds_error err = { "" };
	char *reply = ctl_client_exchange(g->socket_path, command, g->timeout_ms,
	    len, &err);

	if (reply == NULL)
		fprintf(stderr, "dirsyncctl: %s\n", err.msg);
	return reply;
}

/* Whether text is exactly the decimal number want: atoi() would take
 * "4abc" or a value that wraps around to 4 for version 4. */
static bool
ctl_reply_version_is(const char *text, long want)
{
	char *end;
	long v;

	if (text == NULL || *text == '\0')
		return false;
	errno = 0;
	v = strtol(text, &end, 10);
	return *end == '\0' && errno == 0 && v == want;
}

struct xmlin_doc *
ctl_reply_parse(const char *reply, size_t len, const struct xmlin_node **root)
{
	struct ds_error err = { "" };
	struct xmlin_doc *doc = xmlin_parse(reply, len, &err);
	const char *proto;

	if (doc == NULL) {
		fprintf(stderr, "dirsyncctl: bad reply from dirsyncd: %s\n", err.msg);
		return NULL;
	}
	*root = xmlin_root(doc);
	proto = xmlin_attr(doc, *root, "protocol");
	if (strcmp(xmlin_name(*root), "dirsync") != 0 ||
	    !ctl_reply_version_is(proto, STATUS_PROTO_VERSION)) {
		fprintf(stderr,
		    "dirsyncctl: dirsyncd speaks status protocol %s, this dirsyncctl speaks %d\n",
		    proto ? proto : "(unknown)", STATUS_PROTO_VERSION);
		xmlin_free(doc);
		return NULL;
	}
	return doc;
}

struct xmlin_doc *
ctl_reply_ask(const struct ctl_globals *g, const char *command,
    const struct xmlin_node **root)
{
	size_t len;
	char *reply = ctl_reply_fetch(g, command, &len);
	struct xmlin_doc *doc;

	if (reply == NULL)
		return NULL;
	doc = ctl_reply_parse(reply, len, root);
	free(reply);
	return doc;
}

const char *
ctl_attr(const struct xmlin_doc *doc, const struct xmlin_node *n,
    const char *name)
{
	const char *v = n != NULL ? xmlin_attr(doc, n, name) : NULL;

	return v != NULL ? v : "-";
}

bool
ctl_reply_print_error(const struct xmlin_doc *doc,
    const struct xmlin_node *root)
{
	const struct xmlin_node *e = xmlin_child(root, "error");

	if (e == NULL)
		return false;
	fprintf(stderr, "dirsyncctl: dirsyncd: %s (%s)\n", xmlin_text(doc, e),
	    ctl_attr(doc, e, "code"));
	return true;
}

const struct xmlin_node *
ctl_reply_element(const struct xmlin_doc *doc, const struct xmlin_node *root,
    const char *name)
{
	const struct xmlin_node *n = xmlin_child(root, name);

	if (n == NULL && !ctl_reply_print_error(doc, root))
		fprintf(stderr, "dirsyncctl: dirsyncd's reply holds no <%s>\n",
		    name);
	return n;
}
