#!/usr/bin/env bash
# reload.sh - SIGHUP: a broken configuration is rejected with FILE:LINE
# errors and the daemon keeps running on the old one; a valid one is
# taken (new generation, new log level).
# shellcheck disable=SC2119,SC2317  # helpers called indirectly, optional args
# make check may run this with /bin/sh: switch to bash first.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/../.. source=tests/harness/lib.sh
. "${top_srcdir:-$(dirname "$0")/../..}/tests/harness/lib.sh"
# shellcheck source=tests/harness/testlib.sh
. "$top_srcdir/tests/harness/testlib.sh"

harness_have_servers || exit 77
harness_need_dirsyncd
harness_init
harness_start_slapd
harness_start_pg

conf=$HARNESS_DIR/dirsync.conf
generation() { harness_status_get 'string(/dirsync/config/@generation)'; }
is_ready() { [[ $(harness_conn_state "$1") == ready ]]; }
generation_is() { [[ $(generation) == "$1" ]]; }

harness_write_config '[log]' 'level = info'
harness_start_dirsyncd
t_check "started: ldap ready" wait_for "ldap ready" 20 is_ready ldap
t_check "started: postgresql ready" wait_for "postgresql ready" 20 is_ready postgresql
gen=$(generation)
t_match "a config generation is reported" '^[1-9][0-9]*$' "$gen"
t_check "no debug lines at level info" \
    bash -c "! grep -q ': debug: ' \"\$1\"" _ "$DIRSYNCD_LOG"

# ---- a broken file: rejected, old configuration kept ------------------------

harness_write_config '[log]' 'level = chatty'
bad_line=$(grep -n 'level = chatty' "$conf" | cut -d: -f1)
mark=$(harness_log_mark)
kill -HUP "$DIRSYNCD_PID"
t_check "broken reload: rejection logged" wait_for "the rejection" 10 \
    grep -q 'keeping the old configuration' "$DIRSYNCD_LOG"
since=$(harness_log_since "$mark")
t_grep "broken reload: error names FILE:LINE" "$conf:$bad_line: .*level" "$since"
t_grep "broken reload: says it keeps the old configuration" \
    "error: .*keeping the old configuration" "$since"
t_eq "broken reload: generation unchanged" "$gen" "$(generation)"
t_check "broken reload: daemon still running" kill -0 "$DIRSYNCD_PID"
t_check "broken reload: still connected" is_ready ldap

# ---- a valid file with level debug: taken -----------------------------------

harness_write_config '[log]' 'level = debug'
mark=$(harness_log_mark)
kill -HUP "$DIRSYNCD_PID"
t_check "good reload: generation incremented" wait_for "generation $((gen + 1))" 10 \
    generation_is $((gen + 1))
harness_status >/dev/null   # a request to log about, at debug level
t_check "good reload: debug lines logged" wait_for "debug lines" 5 \
    bash -c "tail -n +$((mark + 1)) \"\$1\" | grep -q ': debug: '" _ "$DIRSYNCD_LOG"
t_check "good reload: connections still ready" is_ready postgresql

harness_stop_dirsyncd
t_eq "stops cleanly after reloads" 0 "$HARNESS_STOP_RC"
t_done
