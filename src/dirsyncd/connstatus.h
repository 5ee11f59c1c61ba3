/* connstatus.h - what a connection module reports about itself for the
 * status socket and the log: a plain value, copied out on request, so the
 * status module never reaches into a connection's internals. */
#ifndef DS_CONNSTATUS_H
#define DS_CONNSTATUS_H

#include <time.h>

struct connstatus {
	const char *name;       /* "ldap", "postgresql" (static string) */
	const char *state;      /* state name (static string) */
	char server[256];       /* URI or host:port in use or last tried */
	time_t since;           /* when the current state was entered */
	unsigned retries;       /* failed attempts since last success */
	unsigned failbacks;     /* switches back to a preferred server since
	                         * start (LDAP; 0 elsewhere) */
	char last_error[512];   /* "" if none since start */
	time_t last_error_at;   /* 0 if none */
	char bind[300];         /* LDAP: who we bind as (the bind DN,
	                         * "sasl:EXTERNAL", "sasl:GSSAPI:<principal>"),
	                         * "" for anonymous or elsewhere */
};

#endif
