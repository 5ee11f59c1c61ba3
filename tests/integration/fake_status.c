/* fake_status.c - a stand-in for dirsyncd's status socket that answers
 * whatever it is told to, for ctl_replies.sh: dirsyncctl must survive
 * any reply (truncated, huge, binary, slow, none at all).
 *
 * Usage: fake_status SOCKET CONTROL
 *
 * Listens on SOCKET (bound under another name and renamed into place
 * once listening: when SOCKET exists, connections are accepted) and
 * serves one connection at a time, for ever; stop it with SIGTERM.  For
 * each connection it reads CONTROL, one line of KEY=VALUE words:
 *
 *   reply=FILE   the bytes to answer (no file, or none named: nothing)
 *   read=0       answer without reading the command line first
 *   chunk=N      write N bytes at a time (default 65536) ...
 *   delay=MS     ... with MS milliseconds between chunks (default 0)
 *   endless=1    write the reply again and again, never closing
 *   hang=1       after the reply, keep the connection open until the
 *                client closes it
 *   log=FILE     append the command line received to FILE
 *
 * Nothing takes longer than FAKE_CONN_MAX_MS per connection, whatever
 * the client does.  A client that goes away mid-reply ends that reply. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define FAKE_CONN_MAX_MS 20000
#define FAKE_LINE_MAX 4096

struct fake_conf {
	char reply[1024];
	char log[1024];
	bool read, endless, hang;
	size_t chunk;
	long delay_ms;
};

static long long
fake_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
fake_copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

/* CONTROL as it is now; a missing file means the defaults. */
static void
fake_read_conf(const char *path, struct fake_conf *c)
{
	char line[4096];
	FILE *f;

	memset(c, 0, sizeof(*c));
	c->read = true;
	c->chunk = 65536;
	f = fopen(path, "r");
	if (f == NULL)
		return;
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	for (char *save = NULL, *w = strtok_r(line, " \t\n", &save); w != NULL;
	     w = strtok_r(NULL, " \t\n", &save)) {
		if (strncmp(w, "reply=", 6) == 0)
			fake_copy(c->reply, sizeof(c->reply), w + 6);
		else if (strncmp(w, "log=", 4) == 0)
			fake_copy(c->log, sizeof(c->log), w + 4);
		else if (strcmp(w, "read=0") == 0)
			c->read = false;
		else if (strcmp(w, "endless=1") == 0)
			c->endless = true;
		else if (strcmp(w, "hang=1") == 0)
			c->hang = true;
		else if (strncmp(w, "chunk=", 6) == 0 && atol(w + 6) > 0)
			c->chunk = (size_t)atol(w + 6);
		else if (strncmp(w, "delay=", 6) == 0)
			c->delay_ms = atol(w + 6);
		else
			fprintf(stderr, "fake_status: ignoring '%s'\n", w);
	}
}

/* Wait for events on fd until the connection's deadline; >0 ready. */
static int
fake_wait(int fd, short events, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	long long left = deadline - fake_now_ms();
	int n;

	if (left <= 0)
		return 0;
	do {
		n = poll(&p, 1, (int)left);
	} while (n < 0 && errno == EINTR);
	return n;
}

/* The command line, up to its newline; logged when asked. */
static void
fake_read_line(int fd, const struct fake_conf *c, long long deadline)
{
	char line[FAKE_LINE_MAX + 1];
	size_t used = 0;

	while (used < FAKE_LINE_MAX && memchr(line, '\n', used) == NULL) {
		ssize_t n;

		if (fake_wait(fd, POLLIN, deadline) <= 0)
			break;
		n = recv(fd, line + used, FAKE_LINE_MAX - used, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	if (c->log[0] != '\0') {
		FILE *f = fopen(c->log, "a");

		if (f != NULL) {
			fwrite(line, 1, used, f);
			if (used == 0 || line[used - 1] != '\n')
				fputs("<no newline>\n", f);
			fclose(f);
		}
	}
}

/* Write len bytes in chunks; false once the client is gone. */
static bool
fake_write(int fd, const char *buf, size_t len, const struct fake_conf *c,
    long long deadline)
{
	size_t off = 0;

	while (off < len) {
		size_t want = len - off < c->chunk ? len - off : c->chunk;
		size_t done = 0;

		while (done < want) {
			ssize_t n;

			if (fake_wait(fd, POLLOUT, deadline) <= 0)
				return false;
			n = send(fd, buf + off + done, want - done,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n < 0)
				return false;
			done += (size_t)n;
		}
		off += want;
		if (c->delay_ms > 0 && (off < len || c->endless)) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			/* Sleep, but notice a client that hangs up. */
			if (poll(&p, 1, (int)c->delay_ms) > 0 &&
			    (p.revents & (POLLHUP | POLLERR)) != 0)
				return false;
		}
		if (fake_now_ms() >= deadline)
			return false;
	}
	return true;
}

static char *
fake_slurp(const char *path, size_t *len)
{
	FILE *f;
	char *buf = NULL;
	size_t cap = 0;

	*len = 0;
	if (path[0] == '\0' || (f = fopen(path, "rb")) == NULL)
		return NULL;
	for (;;) {
		size_t n;

		if (*len == cap) {
			char *nb;

			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (nb == NULL)
				break;
			buf = nb;
		}
		n = fread(buf + *len, 1, cap - *len, f);
		if (n == 0)
			break;
		*len += n;
	}
	fclose(f);
	return buf;
}

/* Until the client closes (or the deadline), reading what it sends. */
static void
fake_hang(int fd, long long deadline)
{
	char junk[4096];

	while (fake_wait(fd, POLLIN, deadline) > 0) {
		ssize_t n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			break;
	}
}

static void
fake_serve(int fd, const char *control)
{
	long long deadline = fake_now_ms() + FAKE_CONN_MAX_MS;
	struct fake_conf c;
	size_t len;
	char *reply;
	bool alive = true;

	fake_read_conf(control, &c);
	if (c.read)
		fake_read_line(fd, &c, deadline);
	reply = fake_slurp(c.reply, &len);
	do {
		if (len > 0)
			alive = fake_write(fd, reply, len, &c, deadline);
		else if (c.endless)
			alive = fake_wait(fd, POLLIN, deadline) == 0;
	} while (alive && c.endless && fake_now_ms() < deadline);
	if (alive && c.hang)
		fake_hang(fd, deadline);
	free(reply);
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char tmp[sizeof(sun.sun_path)];
	int lfd;

	if (argc != 3) {
		fprintf(stderr, "usage: fake_status SOCKET CONTROL\n");
		return 2;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.new", argv[1]) >= (int)sizeof(tmp)) {
		fprintf(stderr, "fake_status: %s: path too long\n", argv[1]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	memcpy(sun.sun_path, tmp, strlen(tmp) + 1);
	unlink(tmp);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(lfd, 16) < 0 || rename(tmp, argv[1]) < 0) {
		fprintf(stderr, "fake_status: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "fake_status: accept: %s\n", strerror(errno));
			return 1;
		}
		fake_serve(fd, argv[2]);
		close(fd);
	}
}
