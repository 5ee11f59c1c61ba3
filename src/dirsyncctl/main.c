/* main.c - dirsyncctl: global options, then one command from the table.
 * Commands live one per file (ctl_*.c); this file only dispatches. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl.h"

#define CTL_DEFAULT_SOCKET "/run/dirsync/status.sock"
#define CTL_DEFAULT_TIMEOUT_MS 10000

static const struct ctl_cmd *const ctl_commands[] = {
	&ctl_cmd_status,
	&ctl_cmd_health,
	&ctl_cmd_sync,
	&ctl_cmd_raw,
};

static void
ctl_usage(FILE *out)
{
	fprintf(out,
	    "usage: dirsyncctl [-s SOCKET | -c CONFIG] [-T SECONDS] COMMAND [ARGS]\n"
	    "  -s SOCKET  dirsyncd's status socket (default %s)\n"
	    "  -c CONFIG  read status.socket from this dirsync.conf\n"
	    "  -T SECS    give up after SECS seconds (default %d)\n"
	    "  -V         print the version\n"
	    "commands:\n", CTL_DEFAULT_SOCKET, CTL_DEFAULT_TIMEOUT_MS / 1000);
	for (size_t i = 0; i < DS_ARRAY_SIZE(ctl_commands); i++)
		fprintf(out, "  %s%s%s\n      %s\n", ctl_commands[i]->name,
		    *ctl_commands[i]->usage ? " " : "", ctl_commands[i]->usage,
		    ctl_commands[i]->help);
}

/* Socket path from a configuration file; NULL after printing errors. */
static char *
ctl_socket_from_config(const char *path)
{
	struct config_diag diag = { 0 };
	struct config *cfg = config_load_public(path, &diag);
	char *sock = NULL;

	for (size_t i = 0; i < diag.count; i++)
		fprintf(stderr, "%s\n", diag.msgs[i]);
	config_diag_free(&diag);
	if (cfg != NULL)
		sock = ds_strdup(cfg->status_socket);
	config_free(cfg);
	return sock;
}

int
main(int argc, char **argv)
{
	struct ctl_globals g = { .socket_path = CTL_DEFAULT_SOCKET,
		.timeout_ms = CTL_DEFAULT_TIMEOUT_MS };
	const char *config_path = NULL;
	char *from_config = NULL;
	int c, rc;

	/* '+' stops at the command name so commands parse their own options. */
	while ((c = getopt(argc, argv, "+s:c:T:Vh")) != -1) {
		switch (c) {
		case 's': g.socket_path = optarg; break;
		case 'c': config_path = optarg; break;
		case 'T': {
			char *end;
			long secs = strtol(optarg, &end, 10);

			if (*end != '\0' || secs <= 0 || secs > 3600) {
				fprintf(stderr, "dirsyncctl: -T needs seconds from 1 to 3600\n");
				return CTL_EXIT_USAGE;
			}
			g.timeout_ms = (unsigned)secs * 1000;
			break;
		}
		case 'V': printf("dirsyncctl %s\n", PACKAGE_VERSION); return 0;
		case 'h': ctl_usage(stdout); return 0;
		default: ctl_usage(stderr); return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (config_path != NULL) {
		from_config = ctl_socket_from_config(config_path);
		if (from_config == NULL)
			return CTL_EXIT_FAIL;
		g.socket_path = from_config;
	}
	for (size_t i = 0; i < DS_ARRAY_SIZE(ctl_commands); i++) {
		if (strcmp(argv[optind], ctl_commands[i]->name) == 0) {
			rc = ctl_commands[i]->exec(argc - optind, argv + optind, &g);
			free(from_config);
			return rc;
		}
	}
	fprintf(stderr, "dirsyncctl: unknown command '%s'\n", argv[optind]);
	ctl_usage(stderr);
	free(from_config);
	return CTL_EXIT_USAGE;
}
