# shellcheck shell=bash
# tests/harness/samba.sh - a throwaway Samba Active Directory domain
# controller for the AD tests (DirSync, uSNChanged polling, show-deleted).
# lib.sh sources it; a test does:
#
#   harness_init
#   harness_need_samba            # error, or exit 77 with DIRSYNC_TEST_SKIP_AD=1
#   harness_start_samba           # exports SAMBA_* (below)
#   gen-directory-ad --users 100 >"$HARNESS_DIR/ad.ldif"
#   harness_samba_load "$HARNESS_DIR/ad.ldif"
#   dn=$(harness_samba_add_account svc-dirsync "$HARNESS_DIR/svc.pw" dirsync)
#   samba_ldapsearch -b "$SAMBA_BASE" '(objectClass=user)' cn
#
# Call the start and stop functions directly, not in $(...) or t_check
# (a subshell): SAMBA_PID must reach the test's shell, whose EXIT trap
# stops the DC.
#
# Provisioning a domain takes ~10 s, so it is done once per machine and
# Samba version into a template (a cache directory, under flock), and
# each harness_start_samba copies the template into $HARNESS_DIR/samba
# and starts `samba` in the foreground on it (~1 s).  The domain is
# always DIRSYNC.TEST (DC=dirsync,DC=test), NetBIOS DIRSYNC, DC named
# DC1; every copy has the same domain SID and Administrator password.
#
# Samba's LDAP server listens on 389/636 only (3268/3269 for the global
# catalog): each DC gets a loopback address of its own, 127.0.0.N (N from
# 2 up, skipping addresses in use), reserved like the harness ports, so
# DCs of parallel tests do not collide.  Only the ldap service runs: no
# DNS, smbd, KDC, RPC, NetBIOS or winbindd, so nothing else binds.
# Simple binds are allowed over plain ldap:// too ("ldap server require
# strong auth = no"); the wrappers below use ldaps:// with the test CA.
#
# Requirements: run as root (Samba's AD DC insists; CI runs as root) and
# the Debian packages samba, samba-ad-provision, samba-dsdb-modules,
# samba-vfs-modules (provision sets the sysvol ACL through vfs_acl_xattr,
# so the cache directory's file system needs xattrs), ldb-tools and
# ldap-utils.  scripts/deps installs them.  When they are missing,
# harness_need_samba fails the test, unless DIRSYNC_TEST_SKIP_AD=1:
# then the test is skipped (exit 77).
#
# Reference:
#   harness_have_samba            true when everything above is there
#   harness_need_samba            fail (or skip) the test when not
#   harness_prepare_samba         copy the template, address, certificate,
#                                 smb.conf, SAMBA_* (not started)
#   harness_start_samba           prepare when needed and start; waits for
#                                 LDAP and LDAPS; stopped by the EXIT trap
#   harness_stop_samba            SIGTERM (SIGKILL after 15 s), reaped
#   harness_start_samba_again     start the same DC again (same address,
#                                 data, certificate)
#   samba_ldapsearch [--no-page] ARGS   ldapsearch -LLL, no wrapping, as
#                                 Administrator over ldaps, paged
#                                 (-E pr=500/noprompt) unless --no-page
#   samba_ldapadd [ARGS] / samba_ldapmodify [ARGS]   LDIF on stdin, as
#                                 Administrator over ldaps; stdout dropped
#   samba_guid_of DN              the entry's objectGUID as the mirror's id
#   harness_mirror_compare_ad [ARGS]   the mirror against a paged search as
#                                 Administrator, entry by entry
#                                 (mirror-compare --ad; the test's
#                                 USER_FILTER and GROUP_FILTER)
#   harness_samba_add_account NAME PASSWORD_FILE RIGHTS   -> prints the DN
#   harness_samba_load FILE.ldif  bulk add (see the function)
#   samba_tool ARGS               samba-tool on this DC's smb.conf
#   harness_samba_export_keytab PRINCIPAL FILE   the principal's keys
#                                 (from its password) into keytab FILE, 0600
#   -> SAMBA_HOST SAMBA_LDAP_URI SAMBA_LDAPS_URI SAMBA_BASE SAMBA_REALM
#      SAMBA_DOMAIN SAMBA_ADMIN_DN SAMBA_ADMIN_PW_FILE (0600) SAMBA_CA
#      SAMBA_PID SAMBA_DIR SAMBA_CONF SAMBA_LOG; also HARNESS_SAMBA_START_MS
#      (copy + start) and HARNESS_SAMBA_TEMPLATE (provision.ms inside)
#
# Where Samba 4.17 is not Windows (measured by samba_harness.sh): an
# unpaged search is not cut at MaxPageSize (1,000), and a big member list
# comes whole unless the client asks for a range (member;range=0-*, then
# Samba answers in ranges like AD), so tests of paging and ranges must
# ask for them rather than count on the server to force them.  DirSync
# wants the base of its search to be a naming context (SAMBA_BASE).
#
# Kerberos (opt-in): HARNESS_SAMBA_KDC=1 before harness_prepare_samba or
# harness_start_samba adds the kdc service (port 88 on the DC's own
# address, TCP and UDP), writes a krb5.conf for the realm DIRSYNC.TEST
# pointing at that address (SAMBA_KRB5_CONFIG; tests export KRB5_CONFIG
# to it, the system's /etc/krb5.conf is never read or touched) and adds
# the service principal ldap/127.0.0.N to DC1$, so a client can use
# GSSAPI against ldap://127.0.0.N with the IP as written (libldap's
# LDAP_OPT_X_SASL_NOCANON; rdns and hostname canonicalisation are off in
# that krb5.conf): no DNS name has to resolve.  Default off: the other
# tests run the ldap service alone, as before.
#
# Knobs: HARNESS_SAMBA_DEBUG (log level, default 1; the log is
# $SAMBA_LOG), HARNESS_SAMBA_MODEL (process model, default single: one
# process, nothing to leave behind), DIRSYNC_SAMBA_CACHE (the template
# cache, default ${TMPDIR:-/tmp}/dirsync-samba-cache: outside the build
# tree, because `make distcheck` wants an empty build tree after
# distclean, and shared by every build on the machine).

SAMBA_PID=
SAMBA_DIR=
SAMBA_HOST=

# Bump when the template's content changes: old templates are ignored.
_SAMBA_TEMPLATE_FORMAT=1
_SAMBA_REALM=DIRSYNC.TEST
_SAMBA_DOMAIN=DIRSYNC
_SAMBA_BASE=DC=dirsync,DC=test

_samba_bin() { command -v samba 2>/dev/null || echo /usr/sbin/samba; }

# harness_have_samba - true when a DC can be started here; says why not.
harness_have_samba() {
	local missing=()
	[[ -x $(_samba_bin) ]] || missing+=(samba)
	command -v samba-tool >/dev/null 2>&1 || missing+=(samba-common-bin)
	[[ -d /usr/share/samba/setup ]] || missing+=(samba-ad-provision)
	compgen -G '/usr/lib/*/samba/ldb/samba_dsdb.so' >/dev/null ||
	    missing+=(samba-dsdb-modules)
	compgen -G '/usr/lib/*/samba/vfs/acl_xattr.so' >/dev/null ||
	    missing+=(samba-vfs-modules)
	command -v ldbadd >/dev/null 2>&1 || missing+=(ldb-tools)
	command -v ldapsearch >/dev/null 2>&1 || missing+=(ldap-utils)
	command -v openssl >/dev/null 2>&1 || missing+=(openssl)
	command -v flock >/dev/null 2>&1 || missing+=(util-linux)
	if ((${#missing[@]})); then
		harness_log "samba AD DC: not installed: ${missing[*]} (run scripts/deps)"
		return 1
	fi
	if [[ $(id -u) != 0 ]]; then
		harness_log "samba AD DC: must run as root (samba refuses otherwise)"
		return 1
	fi
	return 0
}

# harness_need_samba - stop the test when no DC can run: exit 77 (skip)
# with DIRSYNC_TEST_SKIP_AD=1, else fail, because CI installs Samba and a
# silently skipped AD test would hide that it stopped running.
harness_need_samba() {
	harness_have_samba && return 0
	if [[ ${DIRSYNC_TEST_SKIP_AD:-0} == 1 ]]; then
		printf '# SKIP samba AD DC unavailable (DIRSYNC_TEST_SKIP_AD=1)\n'
		exit 77
	fi
	harness_die "the AD tests need a Samba AD DC (see tests/harness/samba.sh);" \
	    "set DIRSYNC_TEST_SKIP_AD=1 to skip them instead"
}

_samba_version() { "$(_samba_bin)" -V 2>/dev/null | awk '{ print $2 }'; }

# ---------------------------------------------------------------------------
# The template: one provisioned domain per machine and Samba version

_samba_cache_dir() { echo "${DIRSYNC_SAMBA_CACHE:-${TMPDIR:-/tmp}/dirsync-samba-cache}"; }

# Print the template directory, provisioning it first if needed.  Under
# an exclusive flock, so parallel tests provision once and never see a
# half-made template (it is built under a temporary name, then renamed).
_samba_template() {
	local cache key tpl
	cache=$(_samba_cache_dir)
	key=samba-$(_samba_version)-f$_SAMBA_TEMPLATE_FORMAT
	tpl=$cache/$key
	(umask 077 && mkdir -p "$cache") || harness_die "cannot create $cache"
	# The template holds the domain's secrets: ours alone.
	[[ -O $cache ]] || harness_die "$cache belongs to someone else"
	chmod 700 "$cache"
	[[ -f $tpl/.complete ]] && { echo "$tpl"; return 0; }
	(
		flock -w 300 9 || harness_die "timed out waiting for $cache/.lock"
		[[ -f $tpl/.complete ]] && exit 0
		_samba_provision "$tpl" >&2
	) 9>"$cache/.lock" || return 1
	echo "$tpl"
}

# _samba_provision DIR - provision the domain into DIR (~10 s).
_samba_provision() {
	local tpl=$1 tmp pw t0
	tmp=$tpl.tmp.$$
	rm -rf "$tmp" "$tpl"
	mkdir -p "$tmp/etc"
	t0=$(harness_now_ms)
	# Complex enough for the default policy, which we then relax.
	pw=Adm1n-$(_harness_secret)
	_harness_secret_file "$tmp/admin.pw" "$pw"
	# An empty smb.conf to start from: without -s, samba-tool would merge
	# the system's /etc/samba/smb.conf (shares, log paths) into ours.
	: >"$tmp/etc/empty.conf"
	harness_log "samba: provisioning the template domain in $tpl (once)"
	if ! samba-tool domain provision -s "$tmp/etc/empty.conf" \
	    --targetdir="$tmp" --realm="$_SAMBA_REALM" \
	    --domain="$_SAMBA_DOMAIN" --server-role=dc --dns-backend=NONE \
	    --host-name=dc1 --host-ip=127.0.0.2 --adminpass="$pw" \
	    --option="server services = ldap" \
	    >"$tmp/provision.log" 2>&1; then
		tail -n 30 "$tmp/provision.log" >&2
		harness_log "samba-tool domain provision failed (log: $tmp/provision.log)"
		return 1
	fi
	# Test accounts need no password policy: any password, no history,
	# no expiry.
	if ! samba-tool domain passwordsettings set -s "$tmp/etc/smb.conf" \
	    -H "tdb://$tmp/private/sam.ldb" --complexity=off \
	    --history-length=0 --min-pwd-length=0 --min-pwd-age=0 \
	    --max-pwd-age=0 >>"$tmp/provision.log" 2>&1; then
		tail -n 30 "$tmp/provision.log" >&2
		harness_log "samba-tool domain passwordsettings failed"
		return 1
	fi
	echo "$(($(harness_now_ms) - t0))" >"$tmp/provision.ms"
	touch "$tmp/.complete"
	mv "$tmp" "$tpl"
	harness_log "samba: template provisioned in $(cat "$tpl/provision.ms") ms"
}

# ---------------------------------------------------------------------------
# Addresses

# Reserve a loopback address 127.0.0.N (N >= 2) where nothing listens on
# the LDAP ports, with a lock directory beside the harness's port locks
# (lib.sh's _harness_release_ports frees it at exit: same pid file).
_samba_alloc_host() {
	local n ip lock owner busy
	mkdir -p "$HARNESS_PORT_LOCKDIR" 2>/dev/null &&
	    chmod 1777 "$HARNESS_PORT_LOCKDIR" 2>/dev/null
	busy=$(ss -Htln 2>/dev/null | awk '{ print $4 }')
	# A wildcard listener on 389 or 636 would take every address.
	if grep -qE '^(0\.0\.0\.0|\*|\[::\]):(389|636)$' <<<"$busy"; then
		harness_log "samba: something listens on *:389 or *:636 (a system" \
		    "slapd or samba?): no loopback address is free for a DC"
		return 1
	fi
	for ((n = 2; n < 255; n++)); do
		ip=127.0.0.$n
		grep -qE "^$ip:(88|389|636|3268|3269)$" <<<"$busy" && continue
		lock=$HARNESS_PORT_LOCKDIR/samba-$ip
		if ! mkdir "$lock" 2>/dev/null; then
			owner=$(cat "$lock/pid" 2>/dev/null)
			if [[ -z $owner ]] || kill -0 "$owner" 2>/dev/null; then
				continue
			fi
			rm -rf "$lock"
			mkdir "$lock" 2>/dev/null || continue
		fi
		echo $$ >"$lock/pid"
		echo "$ip"
		return 0
	done
	harness_log "samba: no free loopback address 127.0.0.2-254"
	return 1
}

# ---------------------------------------------------------------------------
# TLS

# _samba_make_cert DIR HOST - a CA and a server certificate for HOST (an
# IP address) and the DC's DNS names.  Samba would make its own, but for
# DC1.dirsync.test only, which a client connecting to 127.0.0.N rejects.
_samba_make_cert() {
	local d=$1 host=$2 log=$1/openssl.log
	mkdir -p "$d"
	(
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		    -nodes -days 2 -subj "/O=dirsync tests/CN=dirsync samba test CA $$" \
		    -addext "basicConstraints=critical,CA:TRUE" \
		    -addext "keyUsage=critical,keyCertSign,cRLSign" \
		    -keyout "$d/ca.key" -out "$d/ca.crt" &&
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		    -nodes -subj "/O=dirsync tests/CN=$host" \
		    -keyout "$d/server.key" -out "$d/server.csr" &&
		printf '%s\n' 'basicConstraints = critical, CA:FALSE' \
		    'keyUsage = critical, digitalSignature, keyEncipherment' \
		    'extendedKeyUsage = serverAuth' \
		    "subjectAltName = IP:$host, DNS:dc1.${_SAMBA_REALM,,}, DNS:dc1, DNS:${_SAMBA_REALM,,}" \
		    >"$d/server.ext" &&
		openssl x509 -req -in "$d/server.csr" -days 2 \
		    -CA "$d/ca.crt" -CAkey "$d/ca.key" \
		    -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
		    -extfile "$d/server.ext" -out "$d/server.crt"
	) >"$log" 2>&1 || { cat "$log" >&2; harness_die "samba: openssl failed"; }
	# Samba refuses a key file that is not 0600 and ours.
	chmod 0600 "$d/ca.key" "$d/server.key"
	chmod 0644 "$d/ca.crt" "$d/server.crt"
}

# ---------------------------------------------------------------------------
# Start and stop

# The smb.conf of one DC: the template's domain, every path in $d.
_samba_write_conf() {
	local d=$1 host=$2 services=ldap
	((${HARNESS_SAMBA_KDC:-0})) && services='ldap kdc'
	cat >"$d/etc/smb.conf" <<-EOF
	# Written by tests/harness/samba.sh for a throwaway test DC.
	[global]
	netbios name = DC1
	workgroup = $_SAMBA_DOMAIN
	realm = $_SAMBA_REALM
	server role = active directory domain controller
	server services = $services
	interfaces = $host/8
	bind interfaces only = yes
	private dir = $d/private
	binddns dir = $d/bind-dns
	lock directory = $d/lock
	state directory = $d/state
	cache directory = $d/cache
	pid directory = $d/run
	ncalrpc dir = $d/run/ncalrpc
	winbindd socket directory = $d/run/winbindd
	ntp signd socket directory = $d/run/ntp_signd
	log file = $d/samba.log
	tls enabled = yes
	tls keyfile = $d/tls/server.key
	tls certfile = $d/tls/server.crt
	tls cafile = $d/tls/ca.crt
	# Tests bind with a password over ldap:// too (AD's default).
	ldap server require strong auth = no
	EOF
}

# harness_prepare_samba - copy the template domain into $HARNESS_DIR/samba,
# reserve its address, make its certificate and smb.conf, export SAMBA_*;
# samba is not started (harness_samba_load can fill it offline first).
# harness_start_samba calls it when needed.
harness_prepare_samba() {
	local tpl d
	[[ -n $HARNESS_DIR ]] || harness_die "call harness_init first"
	[[ -z $SAMBA_DIR ]] || return 0
	harness_need_samba
	tpl=$(_samba_template) || harness_die "samba: no template domain"
	export HARNESS_SAMBA_TEMPLATE=$tpl
	SAMBA_HOST=$(_samba_alloc_host) || harness_die "samba: no address"
	d=$HARNESS_DIR/samba
	mkdir -p "$d/etc" "$d/bind-dns" "$d/lock" "$d/state" "$d/cache" "$d/run"
	chmod 700 "$d"
	cp -a "$tpl/private" "$d/private"
	cp -p "$tpl/admin.pw" "$d/admin.pw"
	_samba_make_cert "$d/tls" "$SAMBA_HOST"
	_samba_write_conf "$d" "$SAMBA_HOST"
	SAMBA_DIR=$d
	export SAMBA_DIR SAMBA_HOST
	export SAMBA_CONF=$d/etc/smb.conf
	export SAMBA_LOG=$d/samba.log
	export SAMBA_LDAP_URI=ldap://$SAMBA_HOST
	export SAMBA_LDAPS_URI=ldaps://$SAMBA_HOST
	export SAMBA_BASE=$_SAMBA_BASE
	export SAMBA_REALM=$_SAMBA_REALM
	export SAMBA_DOMAIN=$_SAMBA_DOMAIN
	export SAMBA_ADMIN_DN=CN=Administrator,CN=Users,$SAMBA_BASE
	export SAMBA_ADMIN_PW_FILE=$d/admin.pw
	export SAMBA_CA=$d/tls/ca.crt
	if ((${HARNESS_SAMBA_KDC:-0})); then
		_samba_setup_kdc "$d" "$SAMBA_HOST"
	fi
}

# _samba_setup_kdc DIR HOST - the client krb5.conf of this DC and the SPN
# ldap/HOST on DC1$ (offline, before samba starts: this copy only).
_samba_setup_kdc() {
	local d=$1 host=$2 out
	export SAMBA_KRB5_CONFIG=$d/etc/krb5.conf
	cat >"$SAMBA_KRB5_CONFIG" <<-EOF
	# Written by tests/harness/samba.sh: the test DC's realm only.
	[libdefaults]
	default_realm = $_SAMBA_REALM
	dns_lookup_realm = false
	dns_lookup_kdc = false
	rdns = false
	dns_canonicalize_hostname = false
	[realms]
	$_SAMBA_REALM = {
		kdc = $host
	}
	[domain_realm]
	$host = $_SAMBA_REALM
	.${_SAMBA_REALM,,} = $_SAMBA_REALM
	EOF
	out=$(samba-tool spn add "ldap/$host" 'DC1$' -s "$SAMBA_CONF" \
	    -H "tdb://$d/private/sam.ldb" 2>&1) ||
	    { printf '%s\n' "$out" >&2; harness_die "samba: spn add ldap/$host failed"; }
}

# harness_start_samba - a DC in $HARNESS_DIR/samba, started and answering
# LDAP and LDAPS.  Sets HARNESS_SAMBA_START_MS (copy + start, without a
# provision).  Once stopped, it starts the same DC again.
harness_start_samba() {
	local t0
	[[ -z $SAMBA_PID ]] || return 0
	harness_need_samba
	_samba_template >/dev/null || harness_die "samba: no template domain"
	t0=$(harness_now_ms)
	harness_prepare_samba
	_samba_run || return 1
	# shellcheck disable=SC2034  # for the test to report
	HARNESS_SAMBA_START_MS=$(($(harness_now_ms) - t0))
}

# harness_start_samba_again - the same DC again, after harness_stop_samba.
harness_start_samba_again() {
	[[ -n $SAMBA_DIR ]] || harness_die "samba was never started"
	[[ -z $SAMBA_PID ]] || return 0
	_samba_run
}

# Start samba in the foreground (-F, so we own its pid) without a process
# group of its own (--no-process-group: a ^C of make reaches it too),
# logging to $SAMBA_LOG; wait until LDAP and LDAPS answer.
_samba_run() {
	harness_on_exit _samba_on_exit
	rm -f "$SAMBA_DIR/run/samba.pid"   # left by a killed run
	"$(_samba_bin)" -F --no-process-group --debug-stdout \
	    -M "${HARNESS_SAMBA_MODEL:-single}" -d "${HARNESS_SAMBA_DEBUG:-1}" \
	    -s "$SAMBA_CONF" >>"$SAMBA_LOG" 2>&1 </dev/null &
	SAMBA_PID=$!
	export SAMBA_PID
	if ! wait_for "samba LDAP on $SAMBA_LDAP_URI" 90 _samba_answers ||
	    ! wait_for "samba LDAPS on $SAMBA_LDAPS_URI" 30 _samba_answers_tls; then
		tail -n 30 "$SAMBA_LOG" >&2
		harness_stop_samba
		harness_log "samba did not start (log: $SAMBA_LOG)"
		return 1
	fi
}

_samba_answers() {
	kill -0 "$SAMBA_PID" 2>/dev/null || return 1
	ldapsearch -x -LLL -o nettimeout=2 -H "$SAMBA_LDAP_URI" -s base -b '' \
	    dsServiceName | grep -q '^dsServiceName:'
}
_samba_answers_tls() {
	kill -0 "$SAMBA_PID" 2>/dev/null || return 1
	samba_ldapsearch --no-page -s base -b '' dsServiceName |
	    grep -q '^dsServiceName:'
}

# harness_stop_samba - SIGTERM, wait (15 s, then SIGKILL), reap.
harness_stop_samba() {
	[[ -n $SAMBA_PID ]] || return 0
	# samba exits 127 on SIGTERM: "|| true" keeps set -e from taking the
	# wait in _harness_kill_wait for a failure.
	_harness_kill_wait "$SAMBA_PID" 15 || true
	SAMBA_PID=
}

# At the end of the test (harness_on_exit).
_samba_on_exit() { harness_stop_samba; }

# ---------------------------------------------------------------------------
# Clients

_samba_ldap() {
	LDAPTLS_CACERT=$SAMBA_CA LDAPTLS_REQCERT=demand "$@"
}

# samba_ldapsearch [--no-page] ARGS... - ldapsearch -LLL as Administrator
# over ldaps, paged (AD stops an unpaged search at MaxPageSize, 1,000
# entries), without ldapsearch's "# pagedresults: cookie=" comments.
# --no-page for controls that do not mix with paging (DirSync).  The exit
# status is ldapsearch's.
samba_ldapsearch() {
	local page=(-E pr=500/noprompt)
	if [[ ${1:-} == --no-page ]]; then
		page=()
		shift
	fi
	_samba_ldap ldapsearch -x -LLL -o ldif-wrap=no -o nettimeout=10 \
	    -H "$SAMBA_LDAPS_URI" -D "$SAMBA_ADMIN_DN" -y "$SAMBA_ADMIN_PW_FILE" \
	    "${page[@]}" "$@" | sed '/^# pagedresults: cookie=/d'
	return "${PIPESTATUS[0]}"
}

# samba_ldapadd [ARGS...] / samba_ldapmodify [ARGS...] - LDIF on stdin
# (or -f FILE), as Administrator over ldaps.  Errors on stderr.
# shellcheck disable=SC2120  # ARGS are optional
samba_ldapadd() {
	_samba_ldap ldapadd -x -o nettimeout=10 -H "$SAMBA_LDAPS_URI" \
	    -D "$SAMBA_ADMIN_DN" -y "$SAMBA_ADMIN_PW_FILE" "$@" >/dev/null
}
# shellcheck disable=SC2120
samba_ldapmodify() {
	_samba_ldap ldapmodify -x -o nettimeout=10 -H "$SAMBA_LDAPS_URI" \
	    -D "$SAMBA_ADMIN_DN" -y "$SAMBA_ADMIN_PW_FILE" "$@" >/dev/null
}

# samba_guid_of DN - the entry's objectGUID as canonical UUID text
# ([MS-DTYP] 2.3.4.2): the id of its row in the mirror.
samba_guid_of() {
	samba_ldapsearch --no-page -b "$1" -s base '(objectClass=*)' objectGUID |
	    sed -n 's/^objectGUID:: //p' | python3 -c '
import base64, sys, uuid
print(uuid.UUID(bytes_le=base64.b64decode(sys.stdin.read().strip())))'
}

# harness_mirror_compare_ad [ARGS] - tests/harness/mirror-compare --ad
# against this DC as Administrator, with the test's USER_FILTER and
# GROUP_FILTER; ARGS are mirror-compare's (--flat, --max-diff N, ...).
harness_mirror_compare_ad() {
	LDAPTLS_CACERT=$SAMBA_CA LDAPTLS_REQCERT=demand \
	    "$HARNESS_LIB_DIR/mirror-compare" --ad \
	    -H "$SAMBA_LDAPS_URI" -b "$SAMBA_BASE" -D "$SAMBA_ADMIN_DN" \
	    -y "$SAMBA_ADMIN_PW_FILE" --user-filter "$USER_FILTER" \
	    --group-filter "$GROUP_FILTER" "$@"
}

# samba_tool ARGS... - samba-tool with this DC's smb.conf; give
# -H "tdb://$SAMBA_DIR/private/sam.ldb" to work on its database directly
# (allowed while samba runs: ldb locks the files).
samba_tool() {
	samba-tool "$@" -s "$SAMBA_CONF"
}

# harness_samba_export_keytab PRINCIPAL FILE - PRINCIPAL's keys (e.g.
# svc-gss@DIRSYNC.TEST, an account of harness_samba_add_account) into the
# keytab FILE (replaced), mode 0600.  Works with the DC running.
harness_samba_export_keytab() {
	local principal=$1 file=$2 out
	[[ -n $SAMBA_DIR ]] || harness_die "harness_samba_export_keytab: call harness_prepare_samba first"
	rm -f "$file"
	out=$( (umask 077 && samba_tool domain exportkeytab "$file" \
	    --principal="$principal") 2>&1) ||
	    { printf '%s\n' "$out" >&2; harness_die "samba: exportkeytab $principal failed"; }
	chmod 0600 "$file"
}

# ---------------------------------------------------------------------------
# Accounts and data

# harness_samba_add_account NAME PASSWORD_FILE RIGHTS
# A user CN=NAME,OU=services,$SAMBA_BASE (sAMAccountName NAME, at most 20
# characters) that can bind with a password, enabled, password never
# expires.  The password is read from PASSWORD_FILE, or, when the file is
# missing or empty, made up and written there (0600).  RIGHTS:
#   dirsync  may use the DirSync control: the "Replicating Directory
#            Changes" extended right (DS-Replication-Get-Changes,
#            1131f6aa-9c07-11d1-f79f-00c04fc2dcd2) on the domain NC,
#            which Samba checks for a DirSync search without the
#            object-security flag
#   plain    nothing more: DirSync is refused (insufficientAccessRights),
#            ordinary searches and uSNChanged polling work (Authenticated
#            Users may read the directory)
# Prints the account's DN.
# shellcheck disable=SC2119  # samba_ldapadd without ARGS: LDIF on stdin
harness_samba_add_account() {
	local name=$1 pwfile=$2 rights=$3 dn pw out rc=0
	[[ -n $SAMBA_PID ]] || harness_die "harness_samba_add_account: samba is not running"
	[[ $rights == dirsync || $rights == plain ]] ||
	    harness_die "harness_samba_add_account: RIGHTS is dirsync or plain, not '$rights'"
	((${#name} <= 20)) || harness_die "harness_samba_add_account: NAME over 20 characters"
	if [[ -s $pwfile ]]; then
		pw=$(cat "$pwfile")
	else
		pw=Svc-$(_harness_secret)
		_harness_secret_file "$pwfile" "$pw"
	fi
	dn=CN=$name,OU=services,$SAMBA_BASE
	# OU=services first (already there after the first account).
	out=$(printf '%s\n' "dn: OU=services,$SAMBA_BASE" \
	    'objectClass: organizationalUnit' 'ou: services' |
	    samba_ldapadd 2>&1) || rc=$?
	if [[ $rc != 0 && $rc != 68 ]]; then
		printf '%s\n' "$out" >&2
		harness_die "samba: cannot add OU=services"
	fi
	# unicodePwd: the password in double quotes, UTF-16LE (MS-ADTS
	# 3.1.1.3.1.5); accepted on an encrypted connection only: ldaps.
	# userAccountControl 66048 = NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD.
	samba_ldapadd <<-EOF || harness_die "samba: cannot add $dn"
	dn: $dn
	objectClass: user
	cn: $name
	sAMAccountName: $name
	userPrincipalName: $name@${SAMBA_REALM,,}
	description: dirsync test service account ($rights)
	unicodePwd:: $(printf '"%s"' "$pw" | iconv -f UTF-8 -t UTF-16LE | base64 -w0)
	userAccountControl: 66048
	EOF
	if [[ $rights == dirsync ]]; then
		out=$(samba_tool dsacl set -H "tdb://$SAMBA_DIR/private/sam.ldb" \
		    --objectdn="$SAMBA_BASE" --car=get-changes --action=allow \
		    --trusteedn="$dn" 2>&1) ||
		    { printf '%s\n' "$out" >&2; harness_die "samba: dsacl set failed for $dn"; }
	fi
	printf '%s\n' "$dn"
}

# harness_samba_load FILE.ldif - add the entries of FILE (add records,
# e.g. from gen-directory-ad) in one transaction: all or nothing.
#
# ldbadd on the DC's sam.ldb, through Samba's whole module stack (objectGUID,
# objectSid, USNs, backlinks such as memberOf and directReports, metadata
# as for an LDAP add), with the ldb option batch_mode, which skips the
# per-entry sub-transaction whose index copies make a plain ldbadd
# quadratic.  10,000 users and 500 groups (34,000 links) take ~40-50 s,
# against ~300 s for a plain ldbadd and ~100 s for 3,000 users with
# ldapadd (quadratic too; samba-tool user create: ~0.5 s a user).  Works
# with the DC running (ldb locks the files: the way samba-tool works on a
# live DC; its LDAP clients wait meanwhile, its pid stays the same) or
# stopped (after harness_prepare_samba or harness_stop_samba).  For live
# changes that a change source must see one by one, use samba_ldapadd.
harness_samba_load() {
	local f=$1 out rc=0
	[[ -n $SAMBA_DIR ]] || harness_die "harness_samba_load: call harness_prepare_samba first"
	[[ -r $f ]] || harness_die "harness_samba_load: cannot read $f"
	out=$(ldbadd -o batch_mode:1 --configfile="$SAMBA_CONF" \
	    -H "tdb://$SAMBA_DIR/private/sam.ldb" "$f" 2>&1) || rc=$?
	if [[ $rc != 0 ]]; then
		printf '%s\n' "$out" | tail -n 20 >&2
		harness_log "samba: loading $f failed (ldbadd exit $rc): nothing was added"
		return 1
	fi
}
