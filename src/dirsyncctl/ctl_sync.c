/* ctl_sync.c - `dirsyncctl sync`: show the directory mirror's state,
 * wait for the initial sync (--wait), or release a tripped delete guard
 * (--confirm-deletes). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_reply.h"
#include "status_proto.h"
#include "xmlin.h"

#define CTL_SYNC_POLL_MS 200

static void
ctl_sync_print(const struct xmlin_doc *doc, const struct xmlin_node *s)
{
	const struct xmlin_node *e;

	printf("mirror      %s, %s since %s\n", ctl_attr(doc, s, "mode"),
	    ctl_attr(doc, s, "phase"), ctl_attr(doc, s, "since"));
	if (xmlin_attr(doc, s, "mode-reason") != NULL)
		printf("  chosen    %s\n", ctl_attr(doc, s, "mode-reason"));
	printf("  server    %s\n", ctl_attr(doc, s, "server"));
	printf("  base      %s\n", ctl_attr(doc, s, "base"));
	printf("  users %s, groups %s, memberships %s, dangling managers %s\n",
	    ctl_attr(doc, s, "users"), ctl_attr(doc, s, "groups"),
	    ctl_attr(doc, s, "memberships"),
	    ctl_attr(doc, s, "dangling-managers"));
	printf("  last change %s, cookie saved %s (%s s ago), lag %s s\n",
	    ctl_attr(doc, s, "last-change"), ctl_attr(doc, s, "cookie-saved"),
	    ctl_attr(doc, s, "cookie-age"), ctl_attr(doc, s, "lag"));
	printf("  entries received %s, batches written %s\n",
	    ctl_attr(doc, s, "entries"), ctl_attr(doc, s, "batches"));
	if (strcmp(ctl_attr(doc, s, "guard"), "0") != 0)
		printf("  DELETE GUARD: %s users held back from deletion (still mirrored).\n"
		    "  Check the directory, then run: dirsyncctl sync --confirm-deletes\n",
		    ctl_attr(doc, s, "guard"));
	if ((e = xmlin_child(s, "last-error")) != NULL)
		printf("  last error at %s: %s\n", ctl_attr(doc, e, "at"),
		    xmlin_text(doc, e));
}

static int
ctl_sync_show(const struct ctl_globals *g, bool xml)
{
	const struct xmlin_node *root, *s;
	struct xmlin_doc *doc;
	size_t len;
	int rc = CTL_EXIT_FAIL;

	if (xml) {
		char *reply = ctl_reply_fetch(g, STATUS_CMD_SYNC, &len);

		if (reply == NULL)
			return CTL_EXIT_FAIL;
		fwrite(reply, 1, len, stdout);
		free(reply);
		return CTL_EXIT_OK;
	}
	doc = ctl_reply_ask(g, STATUS_CMD_SYNC, &root);
	if (doc == NULL)
		return CTL_EXIT_FAIL;
	if ((s = ctl_reply_element(doc, root, "sync")) != NULL) {
		ctl_sync_print(doc, s);
		rc = CTL_EXIT_OK;
	}
	xmlin_free(doc);
	return rc;
}

/* Poll until the mirror is in its steady state; one progress line per
 * change of what it reports, so a log of it stays short. */
static int
ctl_sync_wait(const struct ctl_globals *g, unsigned wait_s)
{
	long long deadline = ds_monotonic_ms() + (long long)wait_s * 1000;
	char last[256] = "";

	for (;;) {
		const struct xmlin_node *root, *s;
		struct xmlin_doc *doc = ctl_reply_ask(g, STATUS_CMD_SYNC, &root);
		char line[256];
		bool done = false;

		if (doc == NULL)
			return CTL_EXIT_FAIL;
		s = ctl_reply_element(doc, root, "sync");
		if (s == NULL) {
			xmlin_free(doc);
			return CTL_EXIT_FAIL;
		}
		snprintf(line, sizeof(line), "%s: %s users, %s groups, %s entries received",
		    ctl_attr(doc, s, "phase"), ctl_attr(doc, s, "users"),
		    ctl_attr(doc, s, "groups"), ctl_attr(doc, s, "entries"));
		if (strcmp(line, last) != 0) {
			printf("%s\n", line);
			fflush(stdout);
			snprintf(last, sizeof(last), "%s", line);
		}
		done = strcmp(ctl_attr(doc, s, "phase"), "persist") == 0;
		if (strcmp(ctl_attr(doc, s, "phase"), "guard") == 0) {
			ctl_sync_print(doc, s);
			xmlin_free(doc);
			return CTL_EXIT_FAIL;
		}
		xmlin_free(doc);
		if (done)
			return CTL_EXIT_OK;
		if (ds_monotonic_ms() >= deadline) {
			fprintf(stderr, "dirsyncctl: not in steady state after %u s\n", wait_s);
			return CTL_EXIT_FAIL;
		}
		usleep(CTL_SYNC_POLL_MS * 1000);
	}
}

static int
ctl_sync_confirm(const struct ctl_globals *g)
{
	const struct xmlin_node *root, *r;
	struct xmlin_doc *doc = ctl_reply_ask(g, STATUS_CMD_CONFIRM_DELETES, &root);
	int rc = CTL_EXIT_FAIL;

	if (doc == NULL)
		return CTL_EXIT_FAIL;
	if ((r = ctl_reply_element(doc, root, "result")) != NULL) {
		bool ok = strcmp(ctl_attr(doc, r, "ok"), "true") == 0;

		fprintf(ok ? stdout : stderr, "%s%s\n", ok ? "" : "dirsyncctl: ",
		    xmlin_text(doc, r));
		rc = ok ? CTL_EXIT_OK : CTL_EXIT_FAIL;
	}
	xmlin_free(doc);
	return rc;
}

static int
ctl_sync_exec(int argc, char **argv, const struct ctl_globals *g)
{
	bool xml = false, wait = false, confirm = false;
	unsigned wait_s = 3600;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--xml") == 0) {
			xml = true;
		} else if (strcmp(argv[i], "--wait") == 0) {
			wait = true;
		} else if (strncmp(argv[i], "--wait=", 7) == 0) {
			char *end;
			long v = strtol(argv[i] + 7, &end, 10);

			if (*end != '\0' || v <= 0 || v > 86400) {
				fprintf(stderr, "dirsyncctl sync: --wait=SECONDS needs 1 to 86400\n");
				return CTL_EXIT_USAGE;
			}
			wait = true;
			wait_s = (unsigned)v;
		} else if (strcmp(argv[i], "--confirm-deletes") == 0) {
			confirm = true;
		} else {
			fprintf(stderr, "dirsyncctl sync: unknown option '%s'\n", argv[i]);
			return CTL_EXIT_USAGE;
		}
	}
	if ((int)xml + (int)wait + (int)confirm > 1) {
		fprintf(stderr, "dirsyncctl sync: use one of --xml, --wait, --confirm-deletes\n");
		return CTL_EXIT_USAGE;
	}
	if (confirm)
		return ctl_sync_confirm(g);
	if (wait)
		return ctl_sync_wait(g, wait_s);
	return ctl_sync_show(g, xml);
}

const struct ctl_cmd ctl_cmd_sync = {
	.name = "sync",
	.usage = "[--xml | --wait[=SECS] | --confirm-deletes]",
	.help = "directory mirror state; wait for steady state; release the delete guard",
	.exec = ctl_sync_exec,
};
