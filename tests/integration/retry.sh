#!/usr/bin/env bash
# retry.sh - dirsyncd keeps running while its servers are down, retries
# with backoff (one warning per failing connection, not one per retry),
# connects and migrates when they come up, and notices each outage.
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
# Ports, data and credentials, but no server running yet.
harness_prepare_slapd
harness_prepare_pg

state() { harness_conn_state "$1"; }
is_ready() { [[ $(state "$1") == ready ]]; }
not_ready() { [[ $(state "$1") =~ ^(connecting|binding|backoff)$ ]]; }
schema_is() { [[ $(harness_schema_state) == "$1" ]]; }
retries() {
	harness_status_get "string(/dirsync/connection[@name=\"$1\"]/@retries)"
}
last_error() {
	harness_status_get "string(/dirsync/connection[@name=\"$1\"]/last-error)"
}
retried() {
	local n
	n=$(retries "$1")
	[[ $n =~ ^[0-9]+$ ]] && ((n >= $2))
}
# Warnings about one connection in the log ("warning: conn=ldap ...").
warnings() { grep -cE ": warning: conn=$1( |$)" "$DIRSYNCD_LOG" || true; }

harness_write_config '[retry]' 'backoff_min = 100ms' 'backoff_max = 1s'
harness_start_dirsyncd

# ---- both servers down ------------------------------------------------------

# Long enough for several retries with backoff_max = 1s.
t_check "ldap retried at least 3 times" wait_for "ldap retries" 10 \
    retried ldap 3
t_check "postgresql retried at least 3 times" wait_for "postgresql retries" 10 \
    retried postgresql 3
t_check "daemon keeps running with no servers" kill -0 "$DIRSYNCD_PID"
for c in ldap postgresql; do
	t_match "$c: not ready while down" '^(connecting|binding|backoff)$' "$(state "$c")"
	t_match "$c: last error reported" '.+' "$(last_error "$c")"
	t_eq "$c: one warning for the repeated failure" 1 "$(warnings "$c")"
done
t_check "status with errors validates" harness_status_validate
t_eq "schema not migrated without a database" 0 \
    "$(harness_status_get 'string(/dirsync/schema/@applied)')"

# ---- servers come up --------------------------------------------------------

harness_start_slapd
harness_start_pg
t_check "ldap ready once slapd is up" wait_for "ldap ready" 10 is_ready ldap
t_check "postgresql ready once it is up" wait_for "postgresql ready" 10 is_ready postgresql
t_check "schema migrated once PostgreSQL is up" wait_for "schema done" 10 schema_is 'done'
t_eq "ldap retries reset" 0 "$(retries ldap)"
t_eq "postgresql retries reset" 0 "$(retries postgresql)"

# ---- PostgreSQL outage --------------------------------------------------------

harness_stop_pg
t_check "postgresql outage noticed" wait_for "postgresql not ready" 10 not_ready postgresql
t_check "ldap unaffected by the postgresql outage" is_ready ldap
harness_start_pg_again
t_check "postgresql ready again" wait_for "postgresql ready" 10 is_ready postgresql
t_check "schema done again" wait_for "schema done" 10 schema_is 'done'

# ---- LDAP outage --------------------------------------------------------------

harness_stop_slapd
t_check "ldap outage noticed" wait_for "ldap not ready" 10 not_ready ldap
t_check "postgresql unaffected by the ldap outage" is_ready postgresql
harness_start_slapd_again
t_check "ldap ready again" wait_for "ldap ready" 10 is_ready ldap

harness_stop_dirsyncd
t_eq "stops cleanly after outages" 0 "$HARNESS_STOP_RC"
t_done
