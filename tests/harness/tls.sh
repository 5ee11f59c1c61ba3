# shellcheck shell=bash
# tests/harness/tls.sh - TLS for the harness slapd: a throwaway CA and
# server certificate, an extra ldaps:// listener and the cn=config
# settings that turn TLS on.  Source after lib.sh:
#
#   harness_init
#   tls_make_ca "$HARNESS_DIR/tls"  # -> TLS_CA_FILE TLS_CERT_FILE TLS_KEY_FILE
#   tls_start_slapd                 # harness_start_slapd + ldaps listener
#                                   # -> LDAPS_PORT LDAPS_URI (and LDAP_*)
#   tls_enable_slapd                # TLS on, at run time (ldapi + EXTERNAL)
#
# Until tls_enable_slapd runs, slapd has no certificate: StartTLS is
# refused and the ldaps:// listener drops every handshake, which is how
# the tests see a server "without TLS".  Everything stays on 127.0.0.1
# and in $HARNESS_DIR; nothing is trusted system-wide.
#
# Reference:
#   tls_make_ca DIR           CA (ca.crt/ca.key) and a server certificate
#                             (server.crt/server.key) for CN=localhost with
#                             subjectAltName DNS:localhost, IP:127.0.0.1
#   tls_start_slapd [--no-syncprov], tls_start_slapd_again
#                             like harness_start_slapd[_again], also
#                             listening on $LDAPS_URI
#   tls_enable_slapd          olcTLSCACertificateFile, olcTLSCertificateFile
#                             and olcTLSCertificateKeyFile on cn=config
#   tls_ldapsearch ARGS       ldapsearch as admin on $LDAPS_URI, trusting
#                             only the test CA
#
# lib.sh starts slapd with a fixed -h list, so tls.sh has its own
# runner (_tls_slapd_run) that keeps lib.sh's bookkeeping: SLAPD_PID,
# the readiness probe, harness_stop_slapd and the EXIT trap all work on
# the slapd started here.  harness_start_slapd_again would restart it
# without the ldaps listener: use tls_start_slapd_again.

TLS_DIR=
TLS_CA_FILE=
TLS_CERT_FILE=
TLS_KEY_FILE=

# Quiet openssl, its output kept in $TLS_DIR/openssl.log for failures.
_tls_openssl() {
	openssl "$@" >>"$TLS_DIR/openssl.log" 2>&1 ||
	    { tail -n 20 "$TLS_DIR/openssl.log" >&2; harness_die "openssl $1 failed"; }
}

# tls_make_ca DIR - a throwaway CA and a server certificate signed by it.
# EC P-256 keys: quick to make, and GnuTLS (slapd, libldap) and OpenSSL
# both take them.  Valid from an hour ago (clock skew) for two days.
# The private keys are 0600: slapd runs as the test's user, so it can
# read them; nobody else needs to.
tls_make_ca() {
	local d=$1
	command -v openssl >/dev/null 2>&1 || harness_die "openssl not installed"
	mkdir -p "$d"
	TLS_DIR=$(cd "$d" && pwd)
	: >"$TLS_DIR/openssl.log"
	(
		umask 077
		_tls_openssl req -x509 -newkey ec \
		    -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		    -subj "/O=dirsync tests/CN=dirsync test CA $$" \
		    -addext "basicConstraints=critical,CA:TRUE" \
		    -addext "keyUsage=critical,keyCertSign,cRLSign" \
		    -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.crt"
		_tls_openssl req -new -newkey ec \
		    -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		    -subj "/O=dirsync tests/CN=localhost" \
		    -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.csr"
	) || exit 1
	cat >"$TLS_DIR/server.ext" <<-EOF
	basicConstraints = critical, CA:FALSE
	keyUsage = critical, digitalSignature, keyEncipherment
	extendedKeyUsage = serverAuth
	subjectAltName = DNS:localhost, IP:127.0.0.1
	EOF
	_tls_openssl x509 -req -in "$TLS_DIR/server.csr" -days 2 \
	    -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" \
	    -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
	    -extfile "$TLS_DIR/server.ext" -out "$TLS_DIR/server.crt"
	chmod 0600 "$TLS_DIR/ca.key" "$TLS_DIR/server.key"
	chmod 0644 "$TLS_DIR/ca.crt" "$TLS_DIR/server.crt"
	_tls_openssl verify -CAfile "$TLS_DIR/ca.crt" "$TLS_DIR/server.crt"
	export TLS_DIR
	export TLS_CA_FILE=$TLS_DIR/ca.crt
	export TLS_CERT_FILE=$TLS_DIR/server.crt
	export TLS_KEY_FILE=$TLS_DIR/server.key
}

# tls_start_slapd [--no-syncprov] - harness_start_slapd, with slapd also
# listening on ldaps://127.0.0.1:$LDAPS_PORT.
tls_start_slapd() {
	harness_prepare_slapd "$@"
	[[ -n ${LDAPS_PORT:-} ]] || harness_alloc_port LDAPS_PORT
	export LDAPS_URI=ldaps://127.0.0.1:$LDAPS_PORT
	_tls_slapd_run || return 1
	if [[ $SLAPD_BASE_LOADED == 0 ]]; then
		harness_ldap_load "$SLAPD_DIR/base.ldif" || return 1
		SLAPD_BASE_LOADED=1
	fi
}

# Start it again, same ports, data and (cn=config) TLS settings.
tls_start_slapd_again() {
	[[ -n ${SLAPD_DIR:-} && -n ${LDAPS_URI:-} ]] ||
	    harness_die "tls_start_slapd was never called"
	_tls_slapd_run
}

# lib.sh's _harness_slapd_run with one more listener.
# shellcheck disable=SC2153  # LDAP_URI, LDAPI_URI: set by harness_prepare_slapd
_tls_slapd_run() {
	[[ -z $SLAPD_PID ]] || return 0
	rm -f "$LDAPI_SOCKET"
	"$(_slapd_bin)" -d "${HARNESS_SLAPD_DEBUG:-0}" -F "$SLAPD_DIR/config" \
	    -h "$LDAP_URI/ $LDAPS_URI/ $LDAPI_URI" >>"$SLAPD_DIR/slapd.log" 2>&1 &
	SLAPD_PID=$!
	if ! wait_for "slapd on $LDAP_URI" 30 _harness_slapd_answers; then
		tail -n 20 "$SLAPD_DIR/slapd.log" >&2
		harness_stop_slapd
		return 1
	fi
}

# The cn=config change that turns TLS on (LDIF on stdout).
_tls_config_ldif() {
	cat <<-EOF
	dn: cn=config
	changetype: modify
	replace: olcTLSCACertificateFile
	olcTLSCACertificateFile: $TLS_CA_FILE
	-
	replace: olcTLSCertificateFile
	olcTLSCertificateFile: $TLS_CERT_FILE
	-
	replace: olcTLSCertificateKeyFile
	olcTLSCertificateKeyFile: $TLS_KEY_FILE
	-
	replace: olcTLSVerifyClient
	olcTLSVerifyClient: never
	EOF
}

# tls_enable_slapd - give slapd the certificate from tls_make_ca.  With
# slapd running: ldapmodify on cn=config over ldapi:// as the admin (SASL
# EXTERNAL: lib.sh maps our uid/gid to the admin DN, who may manage
# cn=config); slapd builds a new TLS context at once, so the next
# StartTLS or ldaps:// connection gets the certificate.  Before the first
# start: the same change offline with slapmodify.
tls_enable_slapd() {
	local out rc=0
	[[ -n $TLS_CA_FILE ]] || harness_die "tls_enable_slapd: call tls_make_ca first"
	harness_prepare_slapd
	if [[ -n $SLAPD_PID ]]; then
		out=$(_tls_config_ldif | ldapmodify -Q -Y EXTERNAL \
		    -H "$LDAPI_URI" 2>&1) || rc=$?
	else
		out=$(_tls_config_ldif | "$(dirname "$(_slapadd_bin)")/slapmodify" \
		    -n0 -F "$SLAPD_DIR/config" 2>&1) || rc=$?
	fi
	if [[ $rc != 0 ]]; then
		printf '%s\n' "$out" >&2
		harness_log "tls_enable_slapd: cannot set the TLS options (exit $rc)"
		return 1
	fi
	[[ -z $SLAPD_PID ]] && return 0
	# Proof that it took: a handshake that verifies against the test CA.
	wait_for "slapd TLS on $LDAPS_URI" 10 tls_ldapsearch -s base -b '' 1.1
}

# tls_ldapsearch ARGS... - ldapsearch -LLL as admin on $LDAPS_URI,
# trusting only the test CA (and ignoring ~/.ldaprc and ldap.conf's CA).
tls_ldapsearch() {
	LDAPTLS_CACERT=$TLS_CA_FILE LDAPTLS_REQCERT=demand \
	    ldapsearch -x -LLL -o ldif-wrap=no -o nettimeout=5 \
	    -H "${LDAPS_URI:?tls_start_slapd first}" -D "$LDAP_ADMIN_DN" \
	    -y "$SLAPD_DIR/admin.pw" "$@"
}
