#!/usr/bin/env bash
# ldap_tls.sh - how dirsyncd reaches the directory: ldaps:// and StartTLS
# with a private CA, certificate verification (on by default), a server
# without TLS, URI failover, a wrong password, SASL EXTERNAL over ldapi://
# and a bind password file that others may read.
#
# One daemon per case, each with its own configuration, status socket and
# log (dirsyncd-<case>.log).  PostgreSQL is not started: only the LDAP
# connection matters here, and the daemon runs without its database.
# shellcheck disable=SC2119,SC2317  # helpers called indirectly, optional args
# make check may run this with /bin/sh: switch to bash first.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/../.. source=tests/harness/lib.sh
. "${top_srcdir:-$(dirname "$0")/../..}/tests/harness/lib.sh"
# shellcheck source=tests/harness/testlib.sh
. "$top_srcdir/tests/harness/testlib.sh"
# shellcheck source=tests/harness/tls.sh
. "$top_srcdir/tests/harness/tls.sh"

harness_have_servers || exit 77
command -v openssl >/dev/null 2>&1 || t_skip "openssl not installed"
harness_need_dirsyncd
harness_init
tls_make_ca "$HARNESS_DIR/tls"
# slapd listens on ldap://, ldaps:// and ldapi://, but has no certificate
# until tls_enable_slapd below.
tls_start_slapd

# start_case NAME [INI LINES...] - a daemon of its own for one case.
start_case() {
	local name=$1
	shift
	DIRSYNCD_CONF=$HARNESS_DIR/$name.conf
	DIRSYNCD_LOG=$HARNESS_DIR/dirsyncd-$name.log
	harness_write_config --file "$DIRSYNCD_CONF" \
	    --socket "$HARNESS_DIR/$name.sock" '[ldap]' "$@"
	harness_start_dirsyncd
}
end_case() {
	harness_stop_dirsyncd
	t_eq "$1: stops cleanly" 0 "$HARNESS_STOP_RC"
}

ldap_attr() {
	harness_status_get "string(/dirsync/connection[@name=\"ldap\"]/@$1)"
}
state() { ldap_attr state; }
last_error() {
	harness_status_get 'string(/dirsync/connection[@name="ldap"]/last-error)'
}
is_ready() { [[ $(state) == ready ]]; }
retried() {
	local n
	n=$(ldap_attr retries)
	[[ $n =~ ^[0-9]+$ ]] && ((n >= $1))
}
# Warnings about the LDAP connection in the current case's log.
warnings() { grep -cE ': warning: conn=ldap( |$)' "$DIRSYNCD_LOG" || true; }

# expect_ready CASE - ready within 10 s, and on which URI.
expect_ready() {
	t_check "$1: ldap ready" wait_for "ldap ready" 10 is_ready
	t_eq "$1: connected to" "$2" "$(ldap_attr server)"
}

# expect_failing CASE ERROR_REGEX - never ready; retried (with backoff) at
# least 3 times; the error in last-error; one warning for all the retries;
# the daemon still running.
expect_failing() {
	t_check "$1: retried at least 3 times" wait_for "ldap retries" 10 retried 3
	t_match "$1: not ready" '^(connecting|binding|backoff)$' "$(state)"
	t_match "$1: last error" "$2" "$(last_error)"
	t_eq "$1: one warning for the repeated failure" 1 "$(warnings)"
	t_check "$1: daemon keeps running" kill -0 "$DIRSYNCD_PID"
	t_check "$1: status with the error validates" harness_status_validate
}

closed_port=$(harness_free_port)   # reserved, nobody listens on it

# ==== slapd without TLS ========================================================

# ---- StartTLS refused: the attempt fails, it does not go on in clear text --
start_case starttls-refused "uri = $LDAP_URI" 'starttls = yes'
expect_failing "starttls, server without TLS" \
    "^$LDAP_URI: starttls: .*\([0-9]+\)"
never_bound() { ! grep -q 'state=binding' "$DIRSYNCD_LOG"; }
t_check "starttls refused: no bind in clear text" never_bound
end_case "starttls refused"

# ---- failover: the first URI refuses connections, the second works -----------
first=ldap://127.0.0.1:$closed_port
start_case failover "uri = $first $LDAP_URI"
expect_ready failover "$LDAP_URI"
t_match "failover: why the first URI was skipped" \
    "^$first: connect: Connection refused" "$(last_error)"
end_case failover

# ---- a wrong bind password ---------------------------------------------------
wrong_pw=$HARNESS_DIR/wrong.pw
_harness_secret_file "$wrong_pw" "not-the-password"
start_case wrong-password "uri = $LDAP_URI" "bind_password_file = $wrong_pw"
expect_failing "wrong password" "^$LDAP_URI: bind: Invalid credentials \(49\)"
end_case "wrong password"

# ---- SASL EXTERNAL over ldapi:// (peer credentials; lib.sh maps our uid/gid
# to the admin DN) -----------------------------------------------------------
start_case sasl-external "uri = $LDAPI_URI" 'sasl_mech = EXTERNAL' \
    'bind_dn =!' 'bind_password_file =!'
expect_ready "sasl external" "$LDAPI_URI"
t_eq "sasl external: no error on the way" "" "$(last_error)"
end_case "sasl external"

# ---- a bind password file that others may read: refused by -t ---------------
loose_pw=$HARNESS_DIR/loose.pw
cp "$LDAP_SERVICE_PW_FILE" "$loose_pw"
chmod 0644 "$loose_pw"
harness_write_config --file "$HARNESS_DIR/loose.conf" \
    '[ldap]' "bind_password_file = $loose_pw"
rc=0
out=$("$DIRSYNCD" -t -c "$HARNESS_DIR/loose.conf" 2>&1) || rc=$?
t_eq "0644 password file: dirsyncd -t exits 1" 1 "$rc"
t_grep "0644 password file: the error names the file and its mode" \
    "$loose_pw.*(readable by others|0644)" "$out"
chmod 0640 "$loose_pw"
rc=0
out=$("$DIRSYNCD" -t -c "$HARNESS_DIR/loose.conf" 2>&1) || rc=$?
t_eq "0640 password file: dirsyncd -t exits 0" 0 "$rc"

# ==== slapd with TLS (a certificate from the test CA) =========================

t_check "slapd takes the certificate at run time" tls_enable_slapd

# ---- ldaps:// trusting the test CA -------------------------------------------
start_case ldaps-ca "uri = $LDAPS_URI" "tls_ca_file = $TLS_CA_FILE"
expect_ready "ldaps with the CA" "$LDAPS_URI"
t_eq "ldaps with the CA: no error on the way" "" "$(last_error)"
end_case "ldaps with the CA"

# ---- ldaps:// without tls_ca_file: verification is on by default and the
# system trust store does not know the test CA -------------------------------
start_case ldaps-noca "uri = $LDAPS_URI"
expect_failing "ldaps without the CA" "^$LDAPS_URI: tls: .*certificate"
t_grep "ldaps without the CA: the error says what to check" \
    'certificate signed by a CA in the system trust store and issued for "127\.0\.0\.1"' \
    "$(last_error)"
end_case "ldaps without the CA"

# ---- tls_verify = no: FOR TESTS ONLY.  Without verification anyone on the
# path can pose as the server and read the bind password. ---------------------
start_case ldaps-noverify "uri = $LDAPS_URI" 'tls_verify = no'
expect_ready "ldaps, tls_verify = no" "$LDAPS_URI"
end_case "ldaps, tls_verify = no"

# ---- StartTLS on ldap:// trusting the test CA -------------------------------
start_case starttls-ca "uri = $LDAP_URI" 'starttls = yes' \
    "tls_ca_file = $TLS_CA_FILE"
expect_ready "starttls with the CA" "$LDAP_URI"
t_eq "starttls with the CA: no error on the way" "" "$(last_error)"
end_case "starttls with the CA"

t_done
