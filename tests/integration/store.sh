#!/usr/bin/env bash
# store.sh - the mirror's batched writer (src/dirsyncd/store.c) against a
# throwaway PostgreSQL: runs the scenario driver tests/integration/
# test_store (its "ok N" lines pass through), then checks with psql what
# the driver cannot see through pgconn, which discards notifications: a
# committed batch sends NOTIFY dirsync_directory with the number of rows
# it changed.  Needs PostgreSQL only (exit 77 when it is missing).
# make check may run this with /bin/sh: switch to bash first.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/../.. source=tests/harness/lib.sh
. "${top_srcdir:-$(dirname "$0")/../..}/tests/harness/lib.sh"
# shellcheck source=tests/harness/testlib.sh
. "$top_srcdir/tests/harness/testlib.sh"

TEST_STORE=${TEST_STORE:-$top_builddir/tests/integration/test_store}

# Not harness_have_servers: that also asks for slapd, which this test
# does not use.
if ! _pg_bindir >/dev/null || ! command -v psql >/dev/null 2>&1; then
	t_skip "PostgreSQL (initdb, pg_ctl, psql) is not installed"
fi
[[ -x $TEST_STORE ]] || harness_die "not built: $TEST_STORE (run make check)"
harness_init
harness_start_pg
export PG_CONNINFO PG_PASSWORD_FILE

# ---- the scenarios ------------------------------------------------------------

rc=0
"$TEST_STORE" || rc=$?
if [[ $rc == 0 ]]; then
	t_pass "test_store: every scenario passed"
else
	t_fail "test_store: exit $rc (see the not ok lines above)"
fi

# ---- NOTIFY dirsync_directory ---------------------------------------------------

# A listener sleeps in its own session; psql prints the notifications
# that arrived once its command ends, here cancelled after the write.
# Two -c, not one: statements of one -c share a transaction, and a LISTEN
# only takes effect when its transaction commits.
listen_out=$HARNESS_DIR/listen.out
listener_pid() {
	pg_sql "SELECT pid FROM pg_stat_activity WHERE application_name =
	    'store-listener' AND wait_event = 'PgSleep'"
}
listening() { [[ -n $(listener_pid) ]]; }
PGAPPNAME=store-listener _pg_psql dirsync -At -c "LISTEN dirsync_directory" \
    -c "SELECT pg_sleep(60)" >"$listen_out" 2>&1 &
listener=$!
if wait_for "the listener" 10 listening; then
	notify_rc=0
	"$TEST_STORE" --notify >"$HARNESS_DIR/notify.out" 2>&1 || notify_rc=$?
	t_eq "one batch written for the listener" 0 "$notify_rc"
	pg_sql "SELECT pg_cancel_backend($(listener_pid))" >/dev/null
else
	t_fail "listener did not start"
	kill "$listener" 2>/dev/null || true
fi
wait "$listener" 2>/dev/null || true
t_grep "NOTIFY dirsync_directory carries the rows changed (2 new users)" \
    'notification "dirsync_directory" with payload "2" received' \
    "$(cat "$listen_out")"

t_done
