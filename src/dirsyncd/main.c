/* main.c - dirsyncd's command line: parse options, load and check the
 * configuration, detach if asked, and run the daemon context.  Holds no
 * logic of its own beyond process set-up. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "mirror.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/dirsync/dirsync.conf"

struct main_options {
	const char *config_path;
	const char *pid_file;
	bool foreground;
	bool check_only;
};

static void
main_usage(FILE *out)
{
	fprintf(out,
	    "usage: dirsyncd [-f] [-c FILE] [-p PIDFILE] [-t] [-V] [-h]\n"
	    "       dirsyncd --print-example-config\n"
	    "  -c FILE   configuration file (default %s)\n"
	    "  -f        stay in the foreground (use this under systemd)\n"
	    "  -p FILE   write the process id to FILE after detaching\n"
	    "  -t        check the configuration and exit (0 valid, 1 invalid)\n"
	    "  -V        print the version and exit\n"
	    "  -h        print this help and exit\n"
	    "  --print-example-config  print every option with its default\n",
	    DEFAULT_CONFIG);
}

/* Returns -1 to continue, else the exit status. */
static int
main_parse_args(int argc, char **argv, struct main_options *o)
{
	static const struct option longopts[] = {
		{ "print-example-config", no_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->config_path = DEFAULT_CONFIG;
	while ((c = getopt_long(argc, argv, "c:fp:tVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config_path = optarg; break;
		case 'f': o->foreground = true; break;
		case 'p': o->pid_file = optarg; break;
		case 't': o->check_only = true; break;
		case 'V': printf("dirsyncd %s\n", PACKAGE_VERSION); return 0;
		case 'h': main_usage(stdout); return 0;
		case 'E': config_write_example(stdout); return 0;
		default: main_usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "dirsyncd: unexpected argument '%s'\n", argv[optind]);
		main_usage(stderr);
		return 2;
	}
	return -1;
}

/* Classic double fork: the daemon is not a session leader, so it can
 * never acquire a controlling terminal. */
static void
main_detach(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		fatal("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		fatal("setsid: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		fatal("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		fatal("chdir /: %s", strerror(errno));
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		/* stderr stays for the journal; with target=stderr and no
		 * journal there is nobody to read it, so log to syslog, also
		 * after the daemon and every reload set the target again. */
		if (log_get_target() == LOG_TARGET_STDERR) {
			dup2(fd, STDERR_FILENO);
			log_detach_stderr();
		}
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

static void
main_write_pid_file(const char *path)
{
	FILE *f = fopen(path, "we");

	if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0)
		fatal("cannot write pid file %s: %s", path, strerror(errno));
}

int
main(int argc, char **argv)
{
	struct main_options opts = { 0 };
	struct config_diag diag = { 0 };
	struct config *cfg;
	struct daemon d;
	struct ds_error err = { "" };
	char *abs_path = NULL;
	int rc;

	log_init("dirsyncd");
	rc = main_parse_args(argc, argv, &opts);
	if (rc >= 0)
		return rc;

	/* Reload happens after chdir("/"), so remember where the file is. */
	if (opts.config_path[0] != '/' &&
	    (abs_path = realpath(opts.config_path, NULL)) != NULL)
		opts.config_path = abs_path;
	cfg = config_load(opts.config_path, &diag);
	for (size_t i = 0; i < diag.count; i++)
		fprintf(stderr, "%s\n", diag.msgs[i]);
	config_diag_free(&diag);
	if (cfg != NULL && mirror_check_config(cfg, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		config_free(cfg);
		cfg = NULL;
	}
	if (cfg == NULL || opts.check_only) {
		if (cfg != NULL)
			printf("%s: configuration OK\n", opts.config_path);
		config_free(cfg);
		free(abs_path);
		return cfg != NULL ? 0 : 1;
	}

	log_set_target((enum log_target)cfg->log_target);
	if (!opts.foreground)
		main_detach();
	if (opts.pid_file != NULL)
		main_write_pid_file(opts.pid_file);

	if (daemon_init(&d, cfg, &err) < 0) {
		log_error("cannot start: %s", err.msg);
		daemon_cleanup(&d);
		free(abs_path);
		return 1;
	}
	rc = daemon_run(&d);
	daemon_cleanup(&d);
	if (opts.pid_file != NULL)
		unlink(opts.pid_file);
	free(abs_path);
	return rc;
}
