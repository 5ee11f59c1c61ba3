#!/usr/bin/env bash
# ldap_gssapi.sh - dirsyncd binds to a Samba AD DC with SASL GSSAPI
# (Kerberos) and a keytab, the way AD sites that forbid simple binds
# want it: over ldap:// (the SASL layer seals) and ldaps:// (TLS only),
# the bind identity in the status, a change mirrored into PostgreSQL
# (mode usn), a keytab with stale keys and one with no key (clear error
# in the log and the status, no crash), and `dirsyncd -t` refusing a
# keytab others may read, a missing one, and GSSAPI with a password.
#
# The DC runs its KDC (HARNESS_SAMBA_KDC=1); KRB5_CONFIG points the
# realm DIRSYNC.TEST at the DC's own loopback address, and the service
# principal is ldap/127.0.0.N (an SPN the harness adds to DC1$): the URI
# names the IP and libldap uses it as written (LDAP_OPT_X_SASL_NOCANON),
# so no DNS name has to resolve and no system file is touched.
# shellcheck disable=SC2317  # helpers called indirectly
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
harness_need_samba
compgen -G '/usr/lib/*/sasl2/libgssapiv2.so*' >/dev/null ||
    harness_die "Cyrus SASL's GSSAPI plugin is missing: install" \
        "libsasl2-modules-gssapi-mit (scripts/deps)"
harness_start_pg
HARNESS_SAMBA_KDC=1 harness_start_samba
# The daemon inherits it: the test realm only, never /etc/krb5.conf.
export KRB5_CONFIG=$SAMBA_KRB5_CONFIG

USER_FILTER='(&(objectCategory=person)(objectClass=user))'
PRINCIPAL=svc-gss@$SAMBA_REALM
harness_samba_add_account svc-gss "$HARNESS_DIR/svc-gss.pw" plain >/dev/null
KEYTAB=$HARNESS_DIR/svc-gss.keytab
harness_samba_export_keytab "$PRINCIPAL" "$KEYTAB"
# A keytab whose keys are stale: exported, then the password changed
# (what a password reset without a new keytab does to a service).
harness_samba_add_account svc-stale "$HARNESS_DIR/svc-stale.pw" plain >/dev/null
STALE_KEYTAB=$HARNESS_DIR/svc-stale.keytab
harness_samba_export_keytab "svc-stale@$SAMBA_REALM" "$STALE_KEYTAB"
samba_ldapmodify <<-EOF
dn: CN=svc-stale,OU=services,$SAMBA_BASE
changetype: modify
replace: unicodePwd
unicodePwd:: $(printf '"%s"' "New-$RANDOM-pw" | iconv -f UTF-8 -t UTF-16LE | base64 -w0)
EOF
# A keytab with no key at all (just the format's version bytes).
EMPTY_KEYTAB=$HARNESS_DIR/empty.keytab
(umask 077 && printf '\005\002' >"$EMPTY_KEYTAB")

# start_case NAME [INI LINES...] - a daemon of its own for one case.
start_case() {
	local name=$1
	shift
	DIRSYNCD_CONF=$HARNESS_DIR/$name.conf
	DIRSYNCD_LOG=$HARNESS_DIR/dirsyncd-$name.log
	harness_write_config --file "$DIRSYNCD_CONF" \
	    --socket "$HARNESS_DIR/$name.sock" '[log]' 'level = debug' \
	    '[ldap]' 'bind_dn =!' 'bind_password_file =!' 'sasl_mech = GSSAPI' \
	    "$@"
	harness_start_dirsyncd
}
end_case() {
	harness_stop_dirsyncd
	t_eq "$1: stops cleanly" 0 "$HARNESS_STOP_RC"
}
ldap_attr() {
	harness_status_get "string(/dirsync/connection[@name=\"ldap\"]/@$1)"
}
last_error() {
	harness_status_get 'string(/dirsync/connection[@name="ldap"]/last-error)'
}
is_ready() { [[ $(ldap_attr state) == ready ]]; }
retried() {
	local n
	n=$(ldap_attr retries)
	[[ $n =~ ^[0-9]+$ ]] && ((n >= $1))
}
expect_ready() {
	t_check "$1: ldap ready" wait_for "ldap ready" 20 is_ready
	t_eq "$1: connected to" "$2" "$(ldap_attr server)"
	t_eq "$1: the status shows the bind identity" \
	    "sasl:GSSAPI:$PRINCIPAL" "$(ldap_attr bind)"
	t_eq "$1: no error on the way" "" "$(last_error)"
	t_check "$1: status validates" harness_status_validate
}
expect_failing() {
	t_check "$1: retried at least 2 times" wait_for "ldap retries" 20 retried 2
	t_match "$1: not ready" '^(connecting|binding|backoff)$' "$(ldap_attr state)"
	t_match "$1: last error" "$2" "$(last_error)"
	t_grep "$1: the log has the error" "$2" "$(cat "$DIRSYNCD_LOG")"
	t_check "$1: daemon keeps running" kill -0 "$DIRSYNCD_PID"
	t_check "$1: status with the error validates" harness_status_validate
}

# ---- ldap://: GSSAPI with integrity and confidentiality (SASL layer) ------
start_case plain "uri = $SAMBA_LDAP_URI" "keytab = $KEYTAB"
expect_ready "ldap:// with GSSAPI" "$SAMBA_LDAP_URI"
t_grep "ldap:// with GSSAPI: the log names the principal" \
    "bound uri=$SAMBA_LDAP_URI identity=sasl:GSSAPI:$PRINCIPAL" \
    "$(cat "$DIRSYNCD_LOG")"
t_check "ldap:// with GSSAPI: nothing written to /tmp (memory ccache)" \
    test ! -e "/tmp/krb5cc_$(id -u)"
end_case "ldap:// with GSSAPI"

# ---- ldaps://: GSSAPI without a SASL layer (AD refuses one inside TLS) ----
start_case tls "uri = $SAMBA_LDAPS_URI" "keytab = $KEYTAB" \
    "tls_ca_file = $SAMBA_CA"
expect_ready "ldaps:// with GSSAPI" "$SAMBA_LDAPS_URI"
end_case "ldaps:// with GSSAPI"

# ---- the mirror, bound with GSSAPI: a change reaches PostgreSQL ------------
start_case mirror "uri = $SAMBA_LDAP_URI" "keytab = $KEYTAB" \
    '[mirror]' 'profile = ad' 'mode = usn' "base = $SAMBA_BASE" \
    "user_filter = $USER_FILTER" 'group_filter = (objectClass=group)' \
    'poll_interval = 1s' 'reconcile_interval = 1h'
rc=0
harness_sync_wait 120 >/dev/null 2>&1 || rc=$?
t_eq "mirror over GSSAPI: the initial sync ends" 0 "$rc"
t_eq "mirror over GSSAPI: the mode is usn" usn \
    "$(harness_sync_attr mode 2>/dev/null || true)"
t_eq "mirror over GSSAPI: the service account is mirrored" svc-gss \
    "$(pg_sql "SELECT uid FROM dir_user WHERE uid = 'svc-gss'" 2>&1 || true)"
samba_ldapmodify <<-EOF
dn: CN=svc-gss,OU=services,$SAMBA_BASE
changetype: modify
replace: displayName
displayName: Kerberos Service
EOF
if harness_pg_poll 20000 'Kerberos Service' \
    "SELECT full_name FROM dir_user WHERE uid = 'svc-gss'"; then
	t_pass "mirror over GSSAPI: a change reaches PostgreSQL ($HARNESS_POLL_MS ms)"
else
	t_fail "mirror over GSSAPI: a change reaches PostgreSQL" \
	    "got '$HARNESS_POLL_VALUE'"
fi
end_case "mirror over GSSAPI"

# ---- stale keys: the KDC refuses the pre-authentication ---------------------
start_case stale "uri = $SAMBA_LDAP_URI" "keytab = $STALE_KEYTAB"
expect_failing "keytab with stale keys" \
    "bind: SASL GSSAPI as svc-stale@$SAMBA_REALM \(keytab $STALE_KEYTAB\): .*(Preauthentication failed|[Pp]assword)"
end_case "keytab with stale keys"

# ---- a keytab with no key: the Kerberos library says so --------------------
start_case empty "uri = $SAMBA_LDAPS_URI" "keytab = $EMPTY_KEYTAB" \
    "tls_ca_file = $SAMBA_CA"
expect_failing "keytab without keys" \
    "bind: SASL GSSAPI as \(no principal in the keytab\) \(keytab $EMPTY_KEYTAB\): .*SASL"
end_case "keytab without keys"

# ---- dirsyncd -t: the keytab's mode and companions -------------------------
check_conf() { # NAME LINES... -> rc and output of dirsyncd -t
	harness_write_config --file "$HARNESS_DIR/$1.conf" '[ldap]' \
	    'bind_dn =!' 'bind_password_file =!' "${@:2}"
	rc=0
	out=$("$DIRSYNCD" -t -c "$HARNESS_DIR/$1.conf" 2>&1) || rc=$?
}
loose=$HARNESS_DIR/loose.keytab
cp "$KEYTAB" "$loose"
chmod 0644 "$loose"
check_conf loose 'sasl_mech = GSSAPI' "keytab = $loose"
t_eq "0644 keytab: dirsyncd -t exits 1" 1 "$rc"
t_grep "0644 keytab: the error names file:line, the keytab and its mode" \
    "loose\.conf:[0-9]+: ldap\.keytab: $loose is readable by others \(mode 0644\)" "$out"
chmod 0600 "$loose"
check_conf loose 'sasl_mech = GSSAPI' "keytab = $loose"
t_eq "0600 keytab: dirsyncd -t exits 0" 0 "$rc"
check_conf nokt 'sasl_mech = GSSAPI'
t_eq "GSSAPI without a keytab: dirsyncd -t exits 1" 1 "$rc"
t_grep "GSSAPI without a keytab: says so" \
    'nokt\.conf:[0-9]+: ldap\.sasl_mech GSSAPI needs ldap\.keytab' "$out"
check_conf gsspw 'sasl_mech = GSSAPI' "keytab = $loose" \
    "bind_password_file = $HARNESS_DIR/svc-gss.pw"
t_eq "GSSAPI with a password file: dirsyncd -t exits 1" 1 "$rc"
t_grep "GSSAPI with a password file: says so" \
    'gsspw\.conf:[0-9]+: ldap\.sasl_mech GSSAPI takes no password' "$out"
check_conf gone 'sasl_mech = GSSAPI' "keytab = $HARNESS_DIR/no-such.keytab"
t_eq "missing keytab: dirsyncd -t exits 1" 1 "$rc"
t_grep "missing keytab: the error names file:line and the keytab" \
    "gone\.conf:[0-9]+: ldap\.keytab: cannot open $HARNESS_DIR/no-such\.keytab" "$out"
check_conf ktonly "keytab = $loose"
t_eq "keytab without sasl_mech GSSAPI: dirsyncd -t exits 1" 1 "$rc"

t_done
