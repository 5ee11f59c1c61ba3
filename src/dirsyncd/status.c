/* status.c - the status socket: accepts clients, reads one bounded
 * command line, hands it to the daemon's handler and writes the reply.
 * It must never block the loop nor trust a client to be quick. */
#include "status.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"
#include "status_proto.h"
#include "xmlout.h"

#define STATUS_MAX_CLIENTS 64
#define STATUS_WRITE_TIMEOUT_MS 5000
/* After accept() fails for want of descriptors, how long the listener
 * rests: the pending connection keeps the socket readable, and retrying
 * at once spins the loop and floods the log. */
#define STATUS_ACCEPT_PAUSE_MS 1000

struct status_client;

struct status_server {
	struct event_base *base;
	struct evconnlistener *listener;
	char *path;
	unsigned client_timeout_ms;
	status_handler handler;
	void *arg;
	struct status_client *clients;  /* doubly linked list */
	unsigned nclients;
	struct event *accept_resume;    /* listener paused: re-enables it */
};

struct status_client {
	struct status_server *server;
	struct bufferevent *bev;
	/* The whole command within client_timeout: a bufferevent read
	 * timeout restarts at every byte, and one byte now and then would
	 * hold a slot for ever. */
	struct event *deadline;
	struct status_client *prev, *next;
	int replied;                    /* reply queued; closing after flush */
};

static void
status_client_free(struct status_client *c)
{
	struct status_server *s = c->server;

	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nclients--;
	if (c->deadline != NULL)
		event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c);
}

static struct timeval
status_tv(unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	return tv;
}

static void
status_client_reply(struct status_client *c, const char *command)
{
	struct xmlout *x = xmlout_new();
	const char *doc;
	size_t len;

	c->server->handler(command, x, c->server->arg);
	doc = xmlout_finish(x, &len);
	if (doc == NULL) {
		xmlout_free(x);
		x = xmlout_new();
		/* Not reachable with valid input; answer rather than hang up. */
		xmlout_start(x, "dirsync");
		xmlout_end(x);
		doc = xmlout_finish(x, &len);
	}
	bufferevent_disable(c->bev, EV_READ);
	event_del(c->deadline);
	if (doc != NULL)
		bufferevent_write(c->bev, doc, len);
	xmlout_free(x);
	c->replied = 1;
}

/* A complete line or too much data has arrived. */
static void
status_client_handle_input(struct status_client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len;
	char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);

	if (line == NULL) {
		if (evbuffer_get_length(in) >= STATUS_MAX_REQUEST) {
			log_obj_debug("status", "client cut off reason=request-too-long");
			status_client_free(c);
		}
		return;
	}
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	/* A NUL would end the command early for the handler ("health\0x"
	 * taken for health): make it a byte no command has. */
	for (char *z = memchr(line, '\0', len); z != NULL;
	    z = memchr(z, '\0', len - (size_t)(z - line)))
		*z = '?';
	if (len >= STATUS_MAX_REQUEST) {
		free(line);
		log_obj_debug("status", "client cut off reason=request-too-long");
		status_client_free(c);
		return;
	}
	log_obj_debug("status", "command=\"%s\"", line);
	status_client_reply(c, line);
	free(line);
}

static void
status_client_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	status_client_handle_input(arg);
}

static void
status_client_write_cb(struct bufferevent *bev, void *arg)
{
	struct status_client *c = arg;

	if (c->replied && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		status_client_free(c);
}

static void
status_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		log_obj_debug("status", "client cut off reason=timeout");
	status_client_free(arg);
}

static void
status_client_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	log_obj_debug("status", "client cut off reason=timeout");
	status_client_free(arg);
}

static void
status_server_accept(struct status_server *s, evutil_socket_t fd)
{
	struct status_client *c;
	struct timeval rtv = status_tv(s->client_timeout_ms);
	struct timeval wtv = status_tv(STATUS_WRITE_TIMEOUT_MS);

	if (s->nclients >= STATUS_MAX_CLIENTS) {
		log_obj_warning("status", "client refused reason=too-many-clients limit=%d",
		    STATUS_MAX_CLIENTS);
		evutil_closesocket(fd);
		return;
	}
	c = ds_calloc(1, sizeof(*c));
	c->server = s;
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(s->base, status_client_deadline_cb, c);
	if (c->bev == NULL || c->deadline == NULL ||
	    evtimer_add(c->deadline, &rtv) < 0) {
		if (c->deadline != NULL)
			event_free(c->deadline);
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		free(c);
		return;
	}
	c->next = s->clients;
	if (s->clients)
		s->clients->prev = c;
	s->clients = c;
	s->nclients++;
	/* Stop reading at the limit: a client cannot make us buffer more. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, STATUS_MAX_REQUEST);
	bufferevent_setcb(c->bev, status_client_read_cb, status_client_write_cb,
	    status_client_event_cb, c);
	bufferevent_set_timeouts(c->bev, NULL, &wtv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
status_listener_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	(void)l;
	(void)sa;
	(void)socklen;
	status_server_accept(arg, fd);
}

static void
status_accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct status_server *s = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(s->listener);
}

/* EMFILE and friends: the connection stays queued and the socket stays
 * readable, so retrying at once would spin the loop.  Rest a moment
 * (one warning per pause); clients already connected are served
 * meanwhile and free their descriptors. */
static void
status_listener_error_cb(struct evconnlistener *l, void *arg)
{
	struct status_server *s = arg;
	struct timeval pause = status_tv(STATUS_ACCEPT_PAUSE_MS);

	log_obj_warning("status", "accept failed err=\"%s\"; not accepting "
	    "for %d ms", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()),
	    STATUS_ACCEPT_PAUSE_MS);
	if (s->accept_resume == NULL ||
	    evconnlistener_disable(l) < 0 ||
	    evtimer_add(s->accept_resume, &pause) < 0)
		evconnlistener_enable(l);
}

/* Is somebody answering on path?  Then it is not ours to remove. */
static int
status_socket_in_use(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int in_use;

	if (fd < 0)
		return 0;
	in_use = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return in_use;
}

static int
status_socket_open(const char *path, unsigned mode, const char *group,
    struct ds_error *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return ds_error_set(err, "status.socket: path too long (max %zu): %s",
		    sizeof(sun.sun_path) - 1, path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return ds_error_set(err,
			    "status.socket: %s exists and is not a socket", path);
		if (status_socket_in_use(&sun))
			return ds_error_set(err,
			    "status.socket: %s is in use by another running process (is dirsyncd already running?)",
			    path);
		unlink(path);   /* stale, from a crash */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ds_error_set(err, "status socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ds_error_set(err, "status.socket: cannot bind %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (group != NULL && group[0] != '\0') {
		struct group *gr = getgrnam(group);

		if (gr == NULL || chown(path, (uid_t)-1, gr->gr_gid) < 0) {
			ds_error_set(err, "status.group: %s: %s", group,
			    gr == NULL ? "no such group" : strerror(errno));
			close(fd);
			unlink(path);
			return -1;
		}
	}
	if (chmod(path, (mode_t)mode) < 0 || listen(fd, 16) < 0) {
		ds_error_set(err, "status.socket: %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

struct status_server *
status_server_new(struct event_base *base, const char *path, unsigned mode,
    const char *group, unsigned client_timeout_ms, status_handler handler,
    void *arg, struct ds_error *err)
{
	struct status_server *s;
	int fd = status_socket_open(path, mode, group, err);

	if (fd < 0)
		return NULL;
	s = ds_calloc(1, sizeof(*s));
	s->base = base;
	s->path = ds_strdup(path);
	s->client_timeout_ms = client_timeout_ms;
	s->handler = handler;
	s->arg = arg;
	s->listener = evconnlistener_new(base, status_listener_cb, s,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (s->listener == NULL) {
		ds_error_set(err, "status socket: cannot listen on %s", path);
		close(fd);
		unlink(path);
		free(s->path);
		free(s);
		return NULL;
	}
	evconnlistener_set_error_cb(s->listener, status_listener_error_cb);
	s->accept_resume = evtimer_new(base, status_accept_resume_cb, s);
	log_obj_info("status", "listening socket=%s mode=%04o", path, mode);
	return s;
}

void
status_server_set_client_timeout(struct status_server *s,
    unsigned client_timeout_ms)
{
	s->client_timeout_ms = client_timeout_ms;
}

void
status_server_free(struct status_server *s)
{
	if (s == NULL)
		return;
	while (s->clients)
		status_client_free(s->clients);
	if (s->accept_resume != NULL)
		event_free(s->accept_resume);
	evconnlistener_free(s->listener);
	unlink(s->path);
	free(s->path);
	free(s);
}
