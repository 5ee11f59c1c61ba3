/* test_ldapconn.c - drives ldapconn against the harness slapd (see
 * ldap_failback.sh): the server info read from the root DSE at connect
 * time, ldapconn_read_root_dse() on the live connection (answered, not
 * READY, freed while pending), and a fail-back seen through the API:
 * the state sequence, the counter, and a search on the connection taken
 * over from the probe.  Prints "ok N - name" lines and "N passed, N
 * failed"; exits 1 on failure.
 *
 * Usage: test_ldapconn   with LDAP_URI, LDAP_BASE, LDAP_SERVICE_DN,
 * LDAP_SERVICE_PW_FILE, LDAPI_SOCKET and HARNESS_DIR in the environment
 * (lib.sh exports them).  It creates and removes HARNESS_DIR/probe.sock,
 * a symbolic link to slapd's ldapi socket.
 *
 * Each check runs the event loop until its callback has run, which is
 * fine in a test and never done in the daemon. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "connstatus.h"
#include "ldapconn.h"
#include "log.h"
#include "tap.h"

#define WAIT_MS 15000

static struct {
	struct event_base *base;
	const char *uri, *base_dn, *service_dn, *ldapi_socket, *dir;
	char password[256];
	/* state callback */
	enum ldapconn_state states[16];
	size_t nstates;
	/* root DSE callback */
	int dse_calls;
	bool dse_ok;
	const struct ldapconn_server_info *dse_info;
	/* search */
	int entries;
	bool search_done;
	int search_rc;
} T;

static const char *
need_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0') {
		fprintf(stderr, "test_ldapconn: %s is not set\n", name);
		exit(2);
	}
	return v;
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

/* Run the loop until pred(lc) or WAIT_MS. */
static bool
run_until(bool (*pred)(struct ldapconn *lc), struct ldapconn *lc)
{
	struct timeval tv = { WAIT_MS / 1000, 0 };
	bool expired = false;
	struct event *ev = evtimer_new(T.base, on_timeout, &expired);

	evtimer_add(ev, &tv);
	while (!pred(lc) && !expired)
		event_base_loop(T.base, EVLOOP_ONCE);
	event_free(ev);
	if (expired)
		printf("# timed out after %d ms\n", WAIT_MS);
	return !expired;
}

static bool
is_ready(struct ldapconn *lc)
{
	return ldapconn_get_state(lc) == LDAPCONN_READY;
}

static bool
dse_answered(struct ldapconn *lc)
{
	(void)lc;
	return T.dse_calls > 0;
}

static bool
search_finished(struct ldapconn *lc)
{
	(void)lc;
	return T.search_done;
}

/* READY on URI 0 (the server in the status is the first URI). */
static const char *fb_uri;
static bool
on_first_uri(struct ldapconn *lc)
{
	struct connstatus cs;

	ldapconn_get_status(lc, &cs);
	return is_ready(lc) && strcmp(cs.server, fb_uri) == 0;
}

static void
on_state(struct ldapconn *lc, enum ldapconn_state state, void *arg)
{
	(void)lc;
	(void)arg;
	if (T.nstates < sizeof(T.states) / sizeof(T.states[0]))
		T.states[T.nstates++] = state;
}

static void
on_dse(bool ok, const struct ldapconn_server_info *info, void *arg)
{
	(void)arg;
	T.dse_calls++;
	T.dse_ok = ok;
	T.dse_info = info;
}

static void
on_entry(const struct ldapconn_entry *e, void *arg)
{
	(void)e;
	(void)arg;
	T.entries++;
}

static void
on_search_done(int rc, const char *text, void *arg)
{
	(void)text;
	(void)arg;
	T.search_rc = rc;
	T.search_done = true;
}

static struct ldapconn *
connect_to(const char *const *uris, size_t n, unsigned failback_ms)
{
	struct ldapconn_settings s = {
		.uris = uris, .uri_count = n,
		.bind_dn = T.service_dn, .bind_password = T.password,
		.network_timeout_ms = 5000,
		.backoff_min_ms = 100, .backoff_max_ms = 500,
		.failback_interval_ms = failback_ms,
	};

	T.nstates = 0;
	return ldapconn_new(T.base, &s, on_state, NULL);
}

/* What the root DSE of the harness slapd says. */
static void
check_slapd_info(const char *what, const struct ldapconn_server_info *si)
{
	char name[128];

	snprintf(name, sizeof(name), "%s: vendor is OpenLDAP", what);
	check(strncmp(si->vendor, "OpenLDAP", 8) == 0, "%s ('%s')", name,
	    si->vendor);
	check(si->syncrepl, "%s: syncrepl offered", what);
	check(!si->is_ad, "%s: is_ad false", what);
	check(!si->in_chain, "%s: in_chain false", what);
	check(!si->show_deleted, "%s: show_deleted false", what);
	check(!si->ad_dirsync, "%s: no AD DirSync", what);
	snprintf(name, sizeof(name), "%s: naming context", what);
	check_str(name, T.base_dn, si->naming_context);
	snprintf(name, sizeof(name), "%s: no dsServiceName", what);
	check_str(name, "", si->ds_service_name);
	snprintf(name, sizeof(name), "%s: no highestCommittedUSN", what);
	check_str(name, "", si->highest_usn);
	snprintf(name, sizeof(name), "%s: no lastusn", what);
	check_str(name, "", si->last_usn);
}

static void
test_root_dse(void)
{
	const char *uris[] = { T.uri };
	struct ldapconn *lc = connect_to(uris, 1, 0);
	const struct ldapconn_server_info *si;

	T.dse_calls = 0;
	check(ldapconn_read_root_dse(lc, on_dse, NULL) == -1 &&
	        T.dse_calls == 0,
	    "root DSE re-read before READY: -1, no callback");
	ldapconn_start(lc);
	if (!check(run_until(is_ready, lc), "ready on %s", T.uri)) {
		ldapconn_free(lc);
		return;
	}
	si = ldapconn_get_server_info(lc);
	if (check(si != NULL, "server info after READY"))
		check_slapd_info("at connect", si);

	T.dse_calls = 0;
	check(ldapconn_read_root_dse(lc, on_dse, NULL) == 0,
	    "root DSE re-read sent");
	run_until(dse_answered, lc);
	check(T.dse_calls == 1 && T.dse_ok, "root DSE re-read: ok, once");
	check(T.dse_info != NULL && T.dse_info == ldapconn_get_server_info(lc),
	    "root DSE re-read: info is the stored one");
	if (T.dse_info != NULL)
		check_slapd_info("re-read", T.dse_info);

	/* Freed with the read outstanding: the callback still runs, once. */
	T.dse_calls = 0;
	check(ldapconn_read_root_dse(lc, on_dse, NULL) == 0,
	    "second re-read sent");
	ldapconn_free(lc);
	check(T.dse_calls == 1 && !T.dse_ok && T.dse_info == NULL,
	    "freed while pending: callback once with !ok and no info");
}

static void
test_failback(void)
{
	char link[512], uri[600], *p = uri;
	const char *uris[2];
	struct ldapconn *lc;
	struct connstatus cs;
	bool seen_connecting = false;
	size_t mark;

	snprintf(link, sizeof(link), "%s/probe.sock", T.dir);
	unlink(link);
	/* ldapi:// with the path percent-encoded (RFC 4516 / libldap). */
	p += snprintf(p, sizeof(uri), "ldapi://");
	for (const char *s = link; *s != '\0' && p < uri + sizeof(uri) - 4; s++)
		p += *s == '/' ? snprintf(p, 4, "%%2F") : snprintf(p, 2, "%c", *s);
	uris[0] = uri;
	uris[1] = T.uri;
	fb_uri = uri;

	lc = connect_to(uris, 2, 200);
	ldapconn_start(lc);
	if (!check(run_until(is_ready, lc), "fail-back: ready on the second uri")) {
		ldapconn_free(lc);
		return;
	}
	ldapconn_get_status(lc, &cs);
	check_str("fail-back: starts on the second uri", T.uri, cs.server);
	check(cs.failbacks == 0, "fail-back: no fail-back yet");

	if (!check(symlink(T.ldapi_socket, link) == 0,
	        "fail-back: first uri made reachable")) {
		ldapconn_free(lc);
		return;
	}
	mark = T.nstates;
	check(run_until(on_first_uri, lc), "fail-back: ready on the first uri");
	ldapconn_get_status(lc, &cs);
	check(cs.failbacks == 1, "fail-back: counted (%u)", cs.failbacks);
	for (size_t i = mark; i < T.nstates; i++)
		if (T.states[i] == LDAPCONN_CONNECTING)
			seen_connecting = true;
	check(seen_connecting && T.nstates > mark &&
	        T.states[T.nstates - 1] == LDAPCONN_READY,
	    "fail-back: state callback left READY, then READY again");

	/* The connection taken over from the probe carries operations. */
	T.entries = 0;
	T.search_done = false;
	if (check(ldapconn_search(lc, T.service_dn, LDAPCONN_SCOPE_BASE,
	              "(objectClass=*)", NULL, on_entry, on_search_done,
	              NULL) == 0,
	        "fail-back: search sent on the new connection")) {
		run_until(search_finished, lc);
		check(T.search_done && T.search_rc == 0 && T.entries == 1,
		    "fail-back: search answered (rc %d, %d entries)",
		    T.search_rc, T.entries);
	}
	T.dse_calls = 0;
	if (check(ldapconn_read_root_dse(lc, on_dse, NULL) == 0,
	        "fail-back: root DSE re-read sent")) {
		run_until(dse_answered, lc);
		check(T.dse_calls == 1 && T.dse_ok,
		    "fail-back: root DSE re-read answered");
	}
	ldapconn_free(lc);
	unlink(link);
}

static void
read_password(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(T.password, 1, sizeof(T.password) - 1, f);
		fclose(f);
	}
	T.password[n] = '\0';
	T.password[strcspn(T.password, "\r\n")] = '\0';
}

int
main(void)
{
	const char *level = getenv("TEST_LOG_LEVEL");

	log_init("test_ldapconn");
	log_set_target(LOG_TARGET_STDERR);
	log_set_level(level != NULL && log_level_parse(level) >= 0 ?
	        (enum log_level)log_level_parse(level) : LOG_LEVEL_WARNING);
	T.uri = need_env("LDAP_URI");
	T.base_dn = need_env("LDAP_BASE");
	T.service_dn = need_env("LDAP_SERVICE_DN");
	T.ldapi_socket = need_env("LDAPI_SOCKET");
	T.dir = need_env("HARNESS_DIR");
	read_password(need_env("LDAP_SERVICE_PW_FILE"));
	T.base = event_base_new();

	test_root_dse();
	test_failback();

	event_base_free(T.base);
	return tap_done();
}
