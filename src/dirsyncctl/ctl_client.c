/* ctl_client.c - connect, send one line, read until EOF, all bounded by
 * one deadline and by STATUS_MAX_REPLY. */
#include "ctl_client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "status_proto.h"

/* Wait for fd to become ready for events before the deadline. */
static int
ctl_client_wait(int fd, short events, long long deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	long long left = deadline - ds_monotonic_ms();
	int n;

	if (left <= 0)
		return 0;
	do {
		n = poll(&pfd, 1, (int)left);
	} while (n < 0 && errno == EINTR);
	return n;
}

static int
ctl_client_connect(const char *path, struct ds_error *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return ds_error_set(err, "%s: socket path too long", path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ds_error_set(err, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;

		close(fd);
		if (e == ENOENT || e == ECONNREFUSED)
			return ds_error_set(err,
			    "cannot connect to %s: %s (is dirsyncd running? see -s/-c)",
			    path, strerror(e));
		if (e == EACCES)
			return ds_error_set(err,
			    "cannot connect to %s: %s (are you in the socket's group?)",
			    path, strerror(e));
		return ds_error_set(err, "cannot connect to %s: %s", path,
		    strerror(e));
	}
	return fd;
}

char *
ctl_client_exchange(const char *socket_path, const char *line,
    unsigned timeout_ms, size_t *len, struct ds_error *err)
{
	long long deadline = ds_monotonic_ms() + timeout_ms;
	size_t cap = 8192, used = 0;
	char *buf = NULL, *req;
	size_t reqlen, sent = 0;
	int fd;

	if (strchr(line, '\n') != NULL || strlen(line) + 1 > STATUS_MAX_REQUEST) {
		ds_error_set(err, "command must be one line of at most %d bytes",
		    STATUS_MAX_REQUEST - 1);
		return NULL;
	}
	fd = ctl_client_connect(socket_path, err);
	if (fd < 0)
		return NULL;
	reqlen = strlen(line) + 1;
	req = ds_calloc(1, reqlen + 1);
	memcpy(req, line, reqlen - 1);
	req[reqlen - 1] = '\n';
	while (sent < reqlen) {
		ssize_t n = send(fd, req + sent, reqlen - sent,
		    MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (ctl_client_wait(fd, POLLOUT, deadline) <= 0)
				goto timeout;
			continue;
		}
		if (n < 0) {
			ds_error_set(err, "%s: send: %s", socket_path, strerror(errno));
			goto fail;
		}
		sent += (size_t)n;
	}
	buf = ds_calloc(1, cap);
	for (;;) {
		ssize_t n;

		if (ctl_client_wait(fd, POLLIN, deadline) <= 0)
			goto timeout;
		/* Room, at most, for STATUS_MAX_REPLY bytes, one more that
		 * shows a reply is longer, and the NUL. */
		if (used + 1 >= cap) {
			cap = cap < (STATUS_MAX_REPLY + 2) / 2 ? 2 * cap :
			    STATUS_MAX_REPLY + 2;
			buf = ds_realloc(buf, cap);
		}
		n = recv(fd, buf + used, cap - used - 1, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			ds_error_set(err, "%s: receive: %s", socket_path,
			    strerror(errno));
			goto fail;
		}
		used += (size_t)n;
		if (used > STATUS_MAX_REPLY) {
			ds_error_set(err, "%s: reply larger than %d bytes",
			    socket_path, STATUS_MAX_REPLY);
			goto fail;
		}
	}
	close(fd);
	free(req);
	buf[used] = '\0';
	*len = used;
	return buf;
timeout:
	ds_error_set(err, "%s: no complete reply within %u ms", socket_path,
	    timeout_ms);
fail:
	close(fd);
	free(req);
	free(buf);
	return NULL;
}
