/* status_proto.h - the status socket protocol, shared by dirsyncd and
 * dirsyncctl.  Bump STATUS_PROTO_VERSION on ANY change to the commands or
 * to the document (schema/status.xsd); clients compare it.
 *
 * A client connects to the Unix socket, writes one command line ending in
 * '\n' (at most STATUS_MAX_REQUEST bytes), and reads one XML document
 * until the daemon closes the connection.  Unknown commands get an
 * <error code="unknown-command"> element. */
#ifndef DS_STATUS_PROTO_H
#define DS_STATUS_PROTO_H

#define STATUS_PROTO_VERSION 4

/* Longest accepted command line, newline included. */
#define STATUS_MAX_REQUEST 4096
/* Longest reply a client accepts. */
#define STATUS_MAX_REPLY (4 * 1024 * 1024)

#define STATUS_CMD_STATUS "status"   /* everything: daemon, config, schema, connections */
#define STATUS_CMD_HEALTH "health"   /* one element: ok or not, and why */
#define STATUS_CMD_SYNC "sync"       /* the directory mirror's state */
#define STATUS_CMD_CONFIRM_DELETES "confirm-deletes" /* release the delete guard */

#endif
