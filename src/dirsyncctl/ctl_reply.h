/* ctl_reply.h - one reply of dirsyncd's status socket, as the commands
 * read it: fetched (ctl_client.h), parsed, checked to be a document of
 * this protocol version, and its attributes read with a stand-in when
 * one is missing.  The reply is not validated against status.xsd: a
 * daemon's bug must show as a '-', never crash this program. */
#ifndef DS_CTL_REPLY_H
#define DS_CTL_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include "ctl.h"
#include "xmlin.h"

/* The raw reply to command (NUL-terminated, caller frees) and its
 * length; NULL after printing why. */
char *ctl_reply_fetch(const struct ctl_globals *g, const char *command,
    size_t *len);
/* reply parsed, with *root its <dirsync> element; NULL after printing
 * why (not XML, another root, another protocol version). */
struct xmlin_doc *ctl_reply_parse(const char *reply, size_t len,
    const struct xmlin_node **root);
/* Both: the document answering command, or NULL after printing why. */
struct xmlin_doc *ctl_reply_ask(const struct ctl_globals *g,
    const char *command, const struct xmlin_node **root);
/* Whether the reply is the daemon's <error>; if so its text and code are
 * printed. */
bool ctl_reply_print_error(const struct xmlin_doc *doc,
    const struct xmlin_node *root);
/* The child element name of root, the answer the command asked for;
 * NULL after printing why not: the daemon's <error> (its text and
 * code), or that the reply holds no such element. */
const struct xmlin_node *ctl_reply_element(const struct xmlin_doc *doc,
    const struct xmlin_node *root, const char *name);
/* Attribute name of n, or "-" when n or the attribute is missing. */
const char *ctl_attr(const struct xmlin_doc *doc, const struct xmlin_node *n,
    const char *name);

#endif
