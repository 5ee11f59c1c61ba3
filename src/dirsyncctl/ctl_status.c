/* ctl_status.c - `dirsyncctl status`, `health` and `raw`: ask the daemon's
 * status socket and render the XML reply for people (or print it). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "ctl_reply.h"
#include "status_proto.h"
#include "xmlin.h"

/* text, a number of seconds, for people; "-" when it is not one (a
 * daemon's bug must not print nonsense, and atoll() of junk is 0). */
static void
ctl_status_uptime(char *buf, size_t size, const char *text)
{
	char *end;
	long long s;

	errno = 0;
	s = strtoll(text, &end, 10);
	if (end == text || *end != '\0' || errno != 0 || s < 0)
		snprintf(buf, size, "-");
	else if (s >= 86400)
		snprintf(buf, size, "%lldd %lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, size, "%lldh %lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, size, "%lldm %llds", s / 60, s % 60);
	else
		snprintf(buf, size, "%llds", s);
}

/* One line for the mirror; `dirsyncctl sync` has the details. */
static void
ctl_status_render_sync(const struct xmlin_doc *doc, const struct xmlin_node *y)
{
	const struct xmlin_node *err;

	if (y == NULL)
		return;
	printf("  %-11s %s, %s (since %s): %s users, %s groups, %s memberships\n",
	    "mirror", ctl_attr(doc, y, "mode"), ctl_attr(doc, y, "phase"),
	    ctl_attr(doc, y, "since"), ctl_attr(doc, y, "users"),
	    ctl_attr(doc, y, "groups"), ctl_attr(doc, y, "memberships"));
	if (strcmp(ctl_attr(doc, y, "guard"), "0") != 0)
		printf("  %-11s %s deletions held back: dirsyncctl sync --confirm-deletes\n",
		    "", ctl_attr(doc, y, "guard"));
	if ((err = xmlin_child(y, "last-error")) != NULL)
		printf("  %-11s last error at %s: %s\n", "",
		    ctl_attr(doc, err, "at"), xmlin_text(doc, err));
}

static void
ctl_status_render(const struct xmlin_doc *doc, const struct xmlin_node *root)
{
	const struct xmlin_node *daemon = xmlin_child(root, "daemon");
	const struct xmlin_node *config = xmlin_child(root, "config");
	const struct xmlin_node *schema = xmlin_child(root, "schema");
	const struct xmlin_node *err;
	char up[32];

	ctl_status_uptime(up, sizeof(up), ctl_attr(doc, daemon, "uptime"));
	printf("dirsyncd %s, pid %s, up %s (since %s)\n",
	    ctl_attr(doc, daemon, "version"), ctl_attr(doc, daemon, "pid"), up,
	    ctl_attr(doc, daemon, "started"));
	printf("  %-11s %s (generation %s, loaded %s)\n", "config",
	    ctl_attr(doc, config, "path"), ctl_attr(doc, config, "generation"),
	    ctl_attr(doc, config, "loaded"));
	printf("  %-11s %s, version %s of %s\n", "schema",
	    ctl_attr(doc, schema, "state"), ctl_attr(doc, schema, "version"),
	    ctl_attr(doc, schema, "binary-version"));
	if (schema && (err = xmlin_child(schema, "last-error")) != NULL)
		printf("  %-11s last error: %s\n", "", xmlin_text(doc, err));
	for (const struct xmlin_node *c = xmlin_first_child(root); c;
	     c = xmlin_next(c)) {
		if (strcmp(xmlin_name(c), "connection") != 0)
			continue;
		printf("  %-11s %s, %s (since %s, %s failed attempts)\n",
		    ctl_attr(doc, c, "name"), ctl_attr(doc, c, "state"),
		    ctl_attr(doc, c, "server"), ctl_attr(doc, c, "since"),
		    ctl_attr(doc, c, "retries"));
		if ((err = xmlin_child(c, "last-error")) != NULL)
			printf("  %-11s last error at %s: %s\n", "",
			    ctl_attr(doc, err, "at"), xmlin_text(doc, err));
	}
	ctl_status_render_sync(doc, xmlin_child(root, "sync"));
}

static int
ctl_status_exec(int argc, char **argv, const struct ctl_globals *g)
{
	const struct xmlin_node *root;
	struct xmlin_doc *doc;
	bool xml = false;
	size_t len;
	char *reply;
	int rc = CTL_EXIT_OK;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--xml") == 0) {
			xml = true;
		} else {
			fprintf(stderr, "dirsyncctl status: unknown option '%s'\n", argv[i]);
			return CTL_EXIT_USAGE;
		}
	}
	reply = ctl_reply_fetch(g, STATUS_CMD_STATUS, &len);
	if (reply == NULL)
		return CTL_EXIT_FAIL;
	if (xml) {
		fwrite(reply, 1, len, stdout);
		free(reply);
		return CTL_EXIT_OK;
	}
	doc = ctl_reply_parse(reply, len, &root);
	free(reply);
	if (doc == NULL)
		return CTL_EXIT_FAIL;
	/* The summary shows whatever the document holds, '-' for the rest. */
	if (ctl_reply_print_error(doc, root))
		rc = CTL_EXIT_FAIL;
	else
		ctl_status_render(doc, root);
	xmlin_free(doc);
	return rc;
}

static int
ctl_health_exec(int argc, char **argv, const struct ctl_globals *g)
{
	const struct xmlin_node *root, *h;
	struct xmlin_doc *doc;
	size_t len;
	char *reply;
	int rc = CTL_EXIT_FAIL;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "dirsyncctl health: takes no arguments\n");
		return CTL_EXIT_USAGE;
	}
	reply = ctl_reply_fetch(g, STATUS_CMD_HEALTH, &len);
	if (reply == NULL)
		return CTL_EXIT_FAIL;
	doc = ctl_reply_parse(reply, len, &root);
	free(reply);
	if (doc == NULL)
		return CTL_EXIT_FAIL;
	if ((h = ctl_reply_element(doc, root, "health")) != NULL) {
		bool ok = strcmp(ctl_attr(doc, h, "ok"), "true") == 0;

		printf("%s: %s\n", ok ? "healthy" : "unhealthy", xmlin_text(doc, h));
		rc = ok ? CTL_EXIT_OK : CTL_EXIT_FAIL;
	}
	xmlin_free(doc);
	return rc;
}

static int
ctl_raw_exec(int argc, char **argv, const struct ctl_globals *g)
{
	size_t len;
	char *reply;

	if (argc != 2) {
		fprintf(stderr, "dirsyncctl raw: needs exactly one LINE argument\n");
		return CTL_EXIT_USAGE;
	}
	reply = ctl_reply_fetch(g, argv[1], &len);
	if (reply == NULL)
		return CTL_EXIT_FAIL;
	fwrite(reply, 1, len, stdout);
	free(reply);
	return CTL_EXIT_OK;
}

const struct ctl_cmd ctl_cmd_status = {
	.name = "status",
	.usage = "[--xml]",
	.help = "show the daemon's state; --xml prints the raw document",
	.exec = ctl_status_exec,
};

const struct ctl_cmd ctl_cmd_health = {
	.name = "health",
	.usage = "",
	.help = "one line; exit 0 when connections, mirror and schema are all well",
	.exec = ctl_health_exec,
};

const struct ctl_cmd ctl_cmd_raw = {
	.name = "raw",
	.usage = "LINE",
	.help = "send LINE to the status socket and print the reply as is",
	.exec = ctl_raw_exec,
};
