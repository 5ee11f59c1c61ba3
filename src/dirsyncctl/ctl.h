/* ctl.h - dirsyncctl's command table: one file per command (ctl_*.c),
 * each exporting a `const struct ctl_cmd`, collected in main.c.
 *
 * A command's exec gets the arguments after its name (argv[0] is the
 * command name) and the global options; it returns the process exit
 * status: 0 success, 1 failure, 2 usage error. */
#ifndef DS_CTL_H
#define DS_CTL_H

#include <stdio.h>

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1
#define CTL_EXIT_USAGE 2

struct ctl_globals {
	const char *socket_path;   /* status socket to talk to */
	unsigned timeout_ms;       /* for the whole exchange */
};

struct ctl_cmd {
	const char *name;
	const char *usage;         /* arguments, e.g. "[--xml]" */
	const char *help;          /* one line */
	int (*exec)(int argc, char **argv, const struct ctl_globals *g);
};

extern const struct ctl_cmd ctl_cmd_status;
extern const struct ctl_cmd ctl_cmd_health;
extern const struct ctl_cmd ctl_cmd_raw;
extern const struct ctl_cmd ctl_cmd_sync;

#endif
