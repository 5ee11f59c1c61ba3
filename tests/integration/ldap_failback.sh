#!/usr/bin/env bash
# ldap_failback.sh - fail-back to the preferred LDAP URI ([ldap]
# failback_interval).  With one harness slapd:
#
#   * the API (test_ldapconn): the server info of the root DSE at connect
#     time and ldapconn_read_root_dse(); a fail-back seen through the
#     state callback, the counter, and a search on the new connection;
#   * the daemon starts on the second URI while the first (an ldapi://
#     socket path that does not exist yet) fails; once the path leads to
#     slapd's socket, it is on the first URI within failback_interval,
#     logs "failing back to" once, counts it, and the mirror still equals
#     the directory, with a change made after the fail-back;
#   * a first URI where something listens that is not LDAP (answers
#     garbage, or never answers) is never switched to, and the tries are
#     logged at debug level only; the status socket answers meanwhile;
#   * a reload with failback_interval = 0 stops the tries.
# shellcheck disable=SC2119,SC2317  # helpers called indirectly, optional args
# make check may run this with /bin/sh: switch to bash first.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/../.. source=tests/harness/lib.sh
. "${top_srcdir:-$(dirname "$0")/../..}/tests/harness/lib.sh"
# shellcheck source=tests/harness/testlib.sh
. "$top_srcdir/tests/harness/testlib.sh"

TEST_LDAPCONN=${TEST_LDAPCONN:-$top_builddir/tests/integration/test_ldapconn}
# How long after the first URI becomes usable the daemon must be on it:
# failback_interval (1 s) plus one probe plus the status polling.
LIMIT_MS=${FAILBACK_LIMIT_MS:-2500}

harness_have_servers || exit 77
command -v python3 >/dev/null 2>&1 || t_skip "python3 not installed"
[[ -x $TEST_LDAPCONN ]] || harness_die "not built: $TEST_LDAPCONN (run make check)"
harness_need_dirsyncd
harness_init
harness_start_slapd
harness_start_pg

# start_case NAME [INI LINES...] - a daemon of its own (config, status
# socket, log), mirroring the harness slapd, logging at debug level.
start_case() {
	local name=$1
	shift
	DIRSYNCD_CONF=$HARNESS_DIR/$name.conf
	DIRSYNCD_LOG=$HARNESS_DIR/dirsyncd-$name.log
	CASE_ARGS=("$@")
	harness_write_mirror_config --file "$DIRSYNCD_CONF" \
	    --socket "$HARNESS_DIR/$name.sock" '[log]' 'level = debug' \
	    "$@"
	harness_start_dirsyncd
}
end_case() {
	harness_stop_dirsyncd
	t_eq "$1: stops cleanly" 0 "$HARNESS_STOP_RC"
}

ldap_attr() {
	harness_status_get "string(/dirsync/connection[@name=\"ldap\"]/@$1)" ||
	    true
}
on_uri() { [[ $(ldap_attr state) == ready && $(ldap_attr server) == "$1" ]]; }
# Lines of the current case's log since MARK matching REGEX (0 if none).
count_since() { harness_log_since "$1" | grep -cE -- "$2" || true; }
# Lines about the LDAP connection or its probe above debug level.
LOUD=': (info|warning|error|fatal): conn=ldap(-probe)?( |$)'
PROBE_FAILED=': debug: conn=ldap-probe no preferred uri usable'

# expect_no_switch CASE SECS PROBES_REGEX - for SECS seconds the daemon
# stays on the second URI: the failed probes (as many as PROBES_REGEX
# allows) are logged at debug, nothing about the connection above that,
# and no fail-back is counted.
expect_no_switch() {
	local name=$1 secs=$2 mark probes
	mark=$(harness_log_mark)
	sleep "$secs"
	t_check "$name: still on the second uri" on_uri "$LDAP_URI"
	probes=$(count_since "$mark" "$PROBE_FAILED")
	t_match "$name: probes failed, logged at debug ($probes in $secs s)" \
	    "$3" "$probes"
	t_eq "$name: nothing above debug" 0 "$(count_since "$mark" "$LOUD")"
	t_eq "$name: no fail-back" "" "$(ldap_attr failbacks)"
}

# listener MODE PORT - something that is not LDAP on 127.0.0.1:PORT:
# "garbage" answers an HTTP error and closes, "silent" accepts and never
# answers.  Ends itself after 120 s; stop it earlier with kill $LISTENER_PID.
listener() {
	local ready=$HARNESS_DIR/listener-$2.ready
	python3 - "$1" "$2" "$ready" <<-'EOF' &
	import signal, socket, sys
	mode, port, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
	signal.alarm(120)
	s = socket.socket()
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.bind(("127.0.0.1", port))
	s.listen(16)
	open(ready, "w").close()
	held = []
	while True:
	    c, _ = s.accept()
	    if mode == "silent":
	        held.append(c)
	        continue
	    try:
	        c.recv(4096)
	        c.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
	    except OSError:
	        pass
	    c.close()
	EOF
	LISTENER_PID=$!
	wait_for "listener on port $2" 10 test -e "$ready"
}
stop_listener() {
	kill "$LISTENER_PID" 2>/dev/null || true
	wait "$LISTENER_PID" 2>/dev/null || true
}

# person UID - an inetOrgPerson add record under ou=people.
person() {
	printf 'dn: uid=%s,ou=people,%s\nchangetype: add\n' "$1" "$LDAP_BASE"
	printf 'objectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\n\n' \
	    "$1" "$1" "$1"
}

# ==== the API ==================================================================

rc=0
"$TEST_LDAPCONN" || rc=$?
if [[ $rc == 0 ]]; then
	t_pass "test_ldapconn: every check passed"
else
	t_fail "test_ldapconn: exit $rc (see the not ok lines above)"
fi

# ==== fail-back to an ldapi:// socket that appears =============================

for u in fb.alice fb.bob fb.carol; do person "$u"; done | harness_ldif
later=$HARNESS_DIR/later.sock   # does not exist yet
LATER_URI=$(_ldapi_url "$later")

start_case failback '[ldap]' "uri = $LATER_URI $LDAP_URI" \
    'failback_interval = 1s'
t_check "starts on the second uri" wait_for "ldap ready" 10 on_uri "$LDAP_URI"
t_check "initial sync reaches persist" harness_sync_wait 30
t_check "mirror equals the directory" harness_mirror_compare

# While the first URI stays unusable: probes every second, at debug only.
expect_no_switch "first uri down" 2.5 '^[1-9][0-9]*$'

# Make the first URI usable: the path becomes slapd's ldapi socket.
mark=$(harness_log_mark)
t0=$(harness_now_ms)
ln -s "$LDAPI_SOCKET" "$later"
if wait_for "fail-back" 10 on_uri "$LATER_URI"; then
	ms=$(($(harness_now_ms) - t0))
	echo "# on the first uri ${ms} ms after it became usable (failback_interval 1 s)"
	if ((ms <= LIMIT_MS)); then
		t_pass "fail-back within ${LIMIT_MS} ms (${ms} ms)"
	else
		t_fail "fail-back within ${LIMIT_MS} ms" "took ${ms} ms"
	fi
else
	t_fail "fail-back to the first uri" "server: $(ldap_attr server)"
fi
t_eq "fail-back counted" 1 "$(ldap_attr failbacks)"
t_eq "logged once at info" 1 "$(count_since "$mark" \
    ": info: conn=ldap failing back to $LATER_URI from=$LDAP_URI( |$)")"
# The state changes before the old connection closes, so the mirror stops
# its search like at any state change instead of seeing it fail.
t_eq "no warning on the way (mirror included)" 0 \
    "$(count_since "$mark" ': (warning|error): ')"
t_check "status with failbacks validates" harness_status_validate

# The mirror runs on the new connection (a full refresh: the cookie
# belongs to the URI) and takes changes made after the fail-back.
t_check "sync reaches persist again" harness_sync_wait 30
t_eq "sync reads from the first uri" "$LATER_URI" "$(harness_sync_attr server)"
person fb.dave | harness_ldif
if harness_pg_poll 5000 1 "SELECT count(*) FROM dir_user WHERE uid = 'fb.dave'"; then
	t_pass "a user added after the fail-back is mirrored (${HARNESS_POLL_MS} ms)"
else
	t_fail "a user added after the fail-back is mirrored" \
	    "count: $HARNESS_POLL_VALUE"
fi
t_check "mirror equals the directory after the fail-back" \
    harness_mirror_compare

# On the first URI there is nothing to fail back to.
mark=$(harness_log_mark)
sleep 2
t_check "stays on the first uri" on_uri "$LATER_URI"
t_eq "no probe on the first uri" 0 "$(count_since "$mark" 'conn=ldap-probe')"
t_eq "still one fail-back" 1 "$(ldap_attr failbacks)"
end_case failback

# ==== a first URI that is not LDAP: never switched to ===========================

# ---- it answers garbage (an HTTP server) ------------------------------------
port=$(harness_free_port)
listener garbage "$port"
start_case garbage '[ldap]' "uri = ldap://127.0.0.1:$port $LDAP_URI" \
    'failback_interval = 1s'
t_check "garbage: on the second uri" wait_for "ldap ready" 10 on_uri "$LDAP_URI"
expect_no_switch garbage 3.5 '^[2-9][0-9]*$'
t_eq "garbage: live connection untouched" 0 "$(ldap_attr retries)"

# ---- a reload with failback_interval = 0 stops the tries --------------------
harness_write_mirror_config --file "$DIRSYNCD_CONF" \
    --socket "$HARNESS_DIR/garbage.sock" '[log]' 'level = debug' \
    "${CASE_ARGS[@]}" 'failback_interval = 0'
rmark=$(harness_log_mark)
kill -HUP "$DIRSYNCD_PID"
reloaded() { [[ $(count_since "$rmark" ': info: reloaded ') -gt 0 ]]; }
t_check "garbage: reloaded" wait_for "reload" 10 reloaded
mark=$(harness_log_mark)
sleep 2.5
t_eq "failback_interval = 0: no more probes" 0 \
    "$(count_since "$mark" 'conn=ldap-probe')"
t_check "failback_interval = 0: still on the second uri" on_uri "$LDAP_URI"
end_case garbage
stop_listener

# ---- it accepts and never answers: each try ends at network_timeout, and
# the daemon keeps answering meanwhile --------------------------------------
port=$(harness_free_port)
listener silent "$port"
start_case silent '[ldap]' "uri = ldap://127.0.0.1:$port $LDAP_URI" \
    'failback_interval = 1s' 'network_timeout = 1s'
t_check "silent: on the second uri" wait_for "ldap ready" 20 on_uri "$LDAP_URI"
mark=$(harness_log_mark)
slowest=0
for ((i = 0; i < 25; i++)); do
	t0=$(harness_now_ms)
	harness_status >/dev/null || true
	ms=$(($(harness_now_ms) - t0))
	((ms <= slowest)) || slowest=$ms
	sleep 0.1
done
echo "# slowest status reply while probing a silent server: ${slowest} ms"
if ((slowest < 1000)); then
	t_pass "silent: status answers while probing (slowest ${slowest} ms)"
else
	t_fail "silent: status answers while probing" "slowest reply ${slowest} ms"
fi
t_check "silent: still on the second uri" on_uri "$LDAP_URI"
t_match "silent: probe bounded by network_timeout" '^[1-9][0-9]*$' \
    "$(count_since "$mark" ': debug: conn=ldap-probe error=".*: bind: timed out after 1000 ms"')"
t_eq "silent: nothing above debug" 0 "$(count_since "$mark" "$LOUD")"
t_eq "silent: no fail-back" "" "$(ldap_attr failbacks)"
end_case silent
stop_listener

t_done
