/* sock_client.c - a misbehaving status-socket client for status_clients.sh:
 * many connections at once, bytes a shell argument cannot carry (NUL),
 * requests sent a byte at a time, replies read a byte at a time or never.
 *
 * Usage: sock_client [OPTIONS] SOCKET
 *
 *   -n N        open N connections (default 1), one after the other, and
 *               keep them all open; each then behaves as below
 *   -s DATA     what each connection sends, with the escapes \n \r \t \0
 *               \\ and \xHH (default: nothing)
 *   -f FILE     ... or the bytes of FILE
 *   -d MS       wait MS milliseconds after connecting before sending
 *   -k N:MS     send N bytes every MS milliseconds (default: all at once)
 *   -m MODE     once everything is sent:
 *                 read     read the reply until the daemon closes (default)
 *                 close    close at once, reading nothing
 *                 shut     shut down the sending side, then read
 *                 none     never read; wait for the daemon to close its end
 *                 wait=MS  read nothing for MS milliseconds, then read
 *                 slow=MS  read one byte every MS milliseconds ...
 *   -S MS       ... for MS milliseconds (default: until -t), then the rest
 *   -t MS       give up after MS milliseconds in all (default 10000)
 *   -o PREFIX   write connection I's reply to PREFIX.I (default: the
 *               reply of connection 0 to stdout)
 *
 * One line per connection on stderr, in order:
 *
 *   conn=I sent=BYTES got=BYTES hup-ms=MS eof-ms=MS [send-err=E] [recv-err=E]
 *
 * hup-ms: when the daemon's end was seen closed (poll's POLLHUP or
 * POLLRDHUP, an end of file or a reset), counted from this connection's
 * connect; -1 when it was still open at the end.  eof-ms: when this client
 * had read the whole reply (-1 when it had not).  A connection that cannot
 * be made prints conn=I connect-err=E instead.  Errors are strerror()
 * with '-' for ' ' (Connection-reset-by-peer).
 *
 * Exit status: 0, or 1 when a connection could not be made, 2 on usage
 * errors. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SC_MAX_CONNS 1024
#define SC_MAX_DATA (16 * 1024 * 1024)

enum sc_mode { SC_READ, SC_CLOSE, SC_SHUT, SC_NONE, SC_WAIT, SC_SLOW };
enum sc_state { SC_DELAY, SC_SEND, SC_AFTER, SC_DONE };

struct sc_opts {
	int nconns;
	unsigned char *data;
	size_t len;
	long delay_ms;
	size_t chunk;           /* 0: everything at once */
	long chunk_ms;
	enum sc_mode mode;
	long mode_ms;           /* wait= or slow= */
	long slow_for_ms;       /* -1: until the end */
	long total_ms;
	const char *prefix;
};

struct sc_conn {
	int fd;
	enum sc_state state;
	long long t0;           /* connected */
	long long timer;        /* next thing to do; -1 none */
	long long read_from;    /* wait=: when to start reading */
	long long slow_until;   /* slow=: when to read the rest at once */
	size_t sent, got;
	long long hup_ms, eof_ms;
	int send_err, recv_err, connect_err;
	bool reading;           /* in read-everything mode now */
	FILE *out;
};

static long long
sc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sc_usage(void)
{
	fputs("usage: sock_client [-n N] [-s DATA | -f FILE] [-d MS] [-k N:MS]\n"
	    "    [-m read|close|shut|none|wait=MS|slow=MS] [-S MS] [-t MS]"
	    " [-o PREFIX] SOCKET\n", stderr);
	exit(2);
}

static int
sc_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* DATA with its escapes decoded; the result may hold NULs. */
static unsigned char *
sc_unescape(const char *s, size_t *len)
{
	unsigned char *out = malloc(strlen(s) + 1);
	size_t n = 0;

	if (out == NULL)
		exit(2);
	while (*s) {
		if (*s != '\\') {
			out[n++] = (unsigned char)*s++;
			continue;
		}
		s++;
		switch (*s) {
		case 'n': out[n++] = '\n'; s++; break;
		case 'r': out[n++] = '\r'; s++; break;
		case 't': out[n++] = '\t'; s++; break;
		case '0': out[n++] = '\0'; s++; break;
		case '\\': out[n++] = '\\'; s++; break;
		case 'x':
			if (sc_hex(s[1]) < 0 || sc_hex(s[2]) < 0) {
				fputs("sock_client: \\x needs two hex digits\n",
				    stderr);
				exit(2);
			}
			out[n++] = (unsigned char)(sc_hex(s[1]) * 16 + sc_hex(s[2]));
			s += 3;
			break;
		default:
			fprintf(stderr, "sock_client: unknown escape \\%c\n", *s);
			exit(2);
		}
	}
	*len = n;
	return out;
}

static unsigned char *
sc_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = malloc(SC_MAX_DATA);
	size_t n;

	if (f == NULL || buf == NULL) {
		fprintf(stderr, "sock_client: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	n = fread(buf, 1, SC_MAX_DATA, f);
	fclose(f);
	*len = n;
	return buf;
}

static long
sc_number(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end != '\0' || v < 0)
		sc_usage();
	return v;
}

static void
sc_parse(int argc, char **argv, struct sc_opts *o, const char **path)
{
	int c;

	*o = (struct sc_opts){ .nconns = 1, .slow_for_ms = -1,
	    .total_ms = 10000 };
	while ((c = getopt(argc, argv, "n:s:f:d:k:m:S:t:o:")) != -1) {
		switch (c) {
		case 'n':
			o->nconns = (int)sc_number(optarg);
			if (o->nconns < 1 || o->nconns > SC_MAX_CONNS)
				sc_usage();
			break;
		case 's':
			free(o->data);
			o->data = sc_unescape(optarg, &o->len);
			break;
		case 'f':
			free(o->data);
			o->data = sc_read_file(optarg, &o->len);
			break;
		case 'd':
			o->delay_ms = sc_number(optarg);
			break;
		case 'k': {
			char *colon = strchr(optarg, ':');

			if (colon == NULL)
				sc_usage();
			*colon = '\0';
			o->chunk = (size_t)sc_number(optarg);
			o->chunk_ms = sc_number(colon + 1);
			if (o->chunk == 0)
				sc_usage();
			break;
		}
		case 'm':
			if (strcmp(optarg, "read") == 0)
				o->mode = SC_READ;
			else if (strcmp(optarg, "close") == 0)
				o->mode = SC_CLOSE;
			else if (strcmp(optarg, "shut") == 0)
				o->mode = SC_SHUT;
			else if (strcmp(optarg, "none") == 0)
				o->mode = SC_NONE;
			else if (strncmp(optarg, "wait=", 5) == 0) {
				o->mode = SC_WAIT;
				o->mode_ms = sc_number(optarg + 5);
			} else if (strncmp(optarg, "slow=", 5) == 0) {
				o->mode = SC_SLOW;
				o->mode_ms = sc_number(optarg + 5);
			} else
				sc_usage();
			break;
		case 'S':
			o->slow_for_ms = sc_number(optarg);
			break;
		case 't':
			o->total_ms = sc_number(optarg);
			break;
		case 'o':
			o->prefix = optarg;
			break;
		default:
			sc_usage();
		}
	}
	if (optind != argc - 1)
		sc_usage();
	*path = argv[optind];
}

/* A blocking connect bounded by the deadline (SO_SNDTIMEO bounds
 * connect(2) on a Unix socket whose backlog is full); then non-blocking. */
static int
sc_connect(const char *path, long long deadline, int *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	long long left = deadline - sc_now_ms();
	struct timeval tv;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		*err = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (left < 1)
		left = 1;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		*err = errno;
		close(fd);
		return -1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

static void
sc_hup(struct sc_conn *c, long long now)
{
	if (c->hup_ms < 0)
		c->hup_ms = now - c->t0;
}

static void
sc_finish(struct sc_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = SC_DONE;
	c->timer = -1;
}

/* Everything is sent (or cannot be): on to the mode. */
static void
sc_after_send(struct sc_conn *c, const struct sc_opts *o, long long now)
{
	c->state = SC_AFTER;
	c->timer = -1;
	switch (o->mode) {
	case SC_READ:
		c->reading = true;
		break;
	case SC_CLOSE:
		sc_finish(c);
		break;
	case SC_SHUT:
		(void)shutdown(c->fd, SHUT_WR);
		c->reading = true;
		break;
	case SC_NONE:
		if (c->hup_ms >= 0)
			sc_finish(c);
		break;
	case SC_WAIT:
		c->read_from = now + o->mode_ms;
		c->timer = c->read_from;
		break;
	case SC_SLOW:
		c->slow_until = o->slow_for_ms < 0 ? -1 : now + o->slow_for_ms;
		c->timer = now;
		break;
	}
}

static void
sc_send(struct sc_conn *c, const struct sc_opts *o, long long now)
{
	size_t want = o->len - c->sent;
	ssize_t n;

	if (o->chunk > 0 && want > o->chunk)
		want = o->chunk;
	n = send(c->fd, o->data + c->sent, want, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		c->send_err = errno;
		sc_hup(c, now);
		sc_after_send(c, o, now);
		return;
	}
	c->sent += (size_t)n;
	if (c->sent == o->len)
		sc_after_send(c, o, now);
	else if (o->chunk > 0 && (size_t)n == want)
		c->timer = now + o->chunk_ms;
}

/* Read at most max bytes; false once the connection is over. */
static bool
sc_recv(struct sc_conn *c, size_t max, long long now)
{
	unsigned char buf[65536];
	ssize_t n;

	if (max > sizeof(buf))
		max = sizeof(buf);
	n = recv(c->fd, buf, max, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0) {
		if (n < 0)
			c->recv_err = errno;
		else
			c->eof_ms = now - c->t0;
		sc_hup(c, now);
		sc_finish(c);
		return false;
	}
	c->got += (size_t)n;
	if (c->out != NULL)
		fwrite(buf, 1, (size_t)n, c->out);
	return true;
}

static void
sc_timer(struct sc_conn *c, const struct sc_opts *o, long long now)
{
	c->timer = -1;
	switch (c->state) {
	case SC_DELAY:
		c->state = SC_SEND;
		if (o->len == 0)
			sc_after_send(c, o, now);
		break;
	case SC_SEND:
		sc_send(c, o, now);
		break;
	case SC_AFTER:
		if (o->mode == SC_WAIT) {
			c->reading = true;
		} else if (o->mode == SC_SLOW) {
			if (c->slow_until >= 0 && now >= c->slow_until) {
				c->reading = true;
				break;
			}
			if (sc_recv(c, 1, now))
				c->timer = now + o->mode_ms;
		}
		break;
	case SC_DONE:
		break;
	}
}

/* The events to wait for; -1 when only the timer matters (the daemon's
 * end is closed: POLLHUP would be reported at once, every time). */
static short
sc_events(const struct sc_conn *c)
{
	if (c->state == SC_DONE)
		return -1;
	if (c->reading)
		return POLLIN | POLLRDHUP;
	if (c->hup_ms >= 0)
		return c->state == SC_SEND && c->timer < 0 ? POLLOUT : -1;
	if (c->state == SC_SEND && c->timer < 0)
		return POLLOUT | POLLRDHUP;
	return POLLRDHUP;
}

/* strerror with '-' for ' ', so that a report stays KEY=VALUE words. */
static const char *
sc_err(int err)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "%s", strerror(err));
	for (char *p = buf; *p; p++)
		if (*p == ' ')
			*p = '-';
	return buf;
}

static void
sc_report(const struct sc_conn *c, int i)
{
	if (c->connect_err != 0) {
		fprintf(stderr, "conn=%d connect-err=%s\n", i,
		    sc_err(c->connect_err));
		return;
	}
	fprintf(stderr, "conn=%d sent=%zu got=%zu hup-ms=%lld eof-ms=%lld", i,
	    c->sent, c->got, c->hup_ms, c->eof_ms);
	if (c->send_err != 0)
		fprintf(stderr, " send-err=%s", sc_err(c->send_err));
	if (c->recv_err != 0)
		fprintf(stderr, " recv-err=%s", sc_err(c->recv_err));
	fputc('\n', stderr);
}

int
main(int argc, char **argv)
{
	struct sc_opts o;
	const char *path;
	struct sc_conn *conns;
	struct pollfd *pfd;
	long long start = sc_now_ms(), deadline;
	int rc = 0;

	sc_parse(argc, argv, &o, &path);
	deadline = start + o.total_ms;
	conns = calloc((size_t)o.nconns, sizeof(*conns));
	pfd = calloc((size_t)o.nconns, sizeof(*pfd));
	if (conns == NULL || pfd == NULL)
		return 2;

	for (int i = 0; i < o.nconns; i++) {
		struct sc_conn *c = &conns[i];

		c->hup_ms = c->eof_ms = -1;
		c->fd = sc_connect(path, deadline, &c->connect_err);
		c->t0 = sc_now_ms();
		if (c->fd < 0) {
			c->state = SC_DONE;
			rc = 1;
			continue;
		}
		if (o.prefix != NULL) {
			char name[4096];

			snprintf(name, sizeof(name), "%s.%d", o.prefix, i);
			c->out = fopen(name, "wb");
			if (c->out == NULL) {
				fprintf(stderr, "sock_client: %s: %s\n", name,
				    strerror(errno));
				return 2;
			}
		} else if (i == 0) {
			c->out = stdout;
		}
		c->state = SC_DELAY;
		c->timer = c->t0 + o.delay_ms;
	}

	for (;;) {
		long long now = sc_now_ms(), next = deadline;
		int active = 0, n;

		for (int i = 0; i < o.nconns; i++) {
			struct sc_conn *c = &conns[i];

			if (c->state != SC_DONE && c->timer >= 0 && c->timer <= now)
				sc_timer(c, &o, now);
		}
		for (int i = 0; i < o.nconns; i++) {
			struct sc_conn *c = &conns[i];
			short ev = sc_events(c);

			pfd[i].fd = ev < 0 ? -1 : c->fd;
			pfd[i].events = ev < 0 ? 0 : ev;
			pfd[i].revents = 0;
			if (c->state == SC_DONE)
				continue;
			active++;
			if (c->timer >= 0 && c->timer < next)
				next = c->timer;
		}
		if (active == 0 || now >= deadline)
			break;
		n = poll(pfd, (nfds_t)o.nconns, (int)(next - now));
		if (n < 0 && errno != EINTR) {
			perror("sock_client: poll");
			return 2;
		}
		now = sc_now_ms();
		for (int i = 0; n > 0 && i < o.nconns; i++) {
			struct sc_conn *c = &conns[i];
			short re = pfd[i].revents;

			if (re == 0 || c->state == SC_DONE)
				continue;
			if (c->reading) {
				/* One read a wake-up: the data comes first, the
				 * end of file after it. */
				(void)sc_recv(c, 65536, now);
				continue;
			}
			if (re & (POLLHUP | POLLRDHUP | POLLERR)) {
				sc_hup(c, now);
				if (c->state == SC_AFTER && o.mode == SC_NONE) {
					sc_finish(c);
					continue;
				}
			}
			if (c->state == SC_SEND && (re & (POLLOUT | POLLERR)))
				sc_send(c, &o, now);
		}
	}

	for (int i = 0; i < o.nconns; i++) {
		sc_report(&conns[i], i);
		if (conns[i].fd >= 0)
			close(conns[i].fd);
		if (conns[i].out != NULL && conns[i].out != stdout)
			fclose(conns[i].out);
	}
	fflush(stdout);
	free(conns);
	free(pfd);
	free(o.data);
	return rc;
}
