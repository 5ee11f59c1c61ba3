/* status.h - the status socket server: a Unix socket where a client
 * writes one command line and gets one XML document back (see
 * status_proto.h).
 *
 * Usage: status_server_new() at start-up (it creates the socket, sets its
 * mode and group, and refuses to take over a socket another live process
 * answers on); the handler is called once per complete command line and
 * fills the xmlout it is given.  Clients that send more than
 * STATUS_MAX_REQUEST bytes, or nothing within the client timeout, or do
 * not read the reply within the write timeout, are cut off; the loop never
 * waits on a client.  Event-loop thread only. */
#ifndef DS_STATUS_H
#define DS_STATUS_H

#include "compat.h"

struct event_base;
struct xmlout;
struct status_server;

typedef void (*status_handler)(const char *command, struct xmlout *out,
    void *arg);

struct status_server *status_server_new(struct event_base *base,
    const char *path, unsigned mode, const char *group,
    unsigned client_timeout_ms, status_handler handler, void *arg,
    struct ds_error *err) DS_MUSTCHECK;
void status_server_set_client_timeout(struct status_server *s,
    unsigned client_timeout_ms);
/* Closes every client, removes the socket file. */
void status_server_free(struct status_server *s);

#endif
