# shellcheck shell=bash
# tests/harness/389ds.sh - a throwaway 389 Directory Server for the 389-ds
# tests (RFC 4533 through the Content Synchronization plug-in, entryUSN
# polling through the USN plug-in).  Source it after lib.sh; a test does:
#
#   harness_init
#   harness_need_389ds            # exit 77 when 389-ds-base is missing
#   harness_start_389ds           # exports LDAP_URI, LDAP_BASE, ... (below)
#   harness_ldap_load "$HARNESS_DIR/directory.ldif"
#   harness_write_mirror_config_389ds '[mirror]' 'mode = syncrepl'
#   harness_mirror_compare_389ds --flat
#
# Call the start and stop functions directly, not in $(...) or t_check
# (a subshell): DS389_PID must reach the test's shell, whose EXIT trap
# stops the server.
#
# Creating an instance with dscreate takes ~10 s (it starts the server,
# configures it online, and we restart it for the plug-ins), so it is done
# once per machine and 389-ds version into a template (a cache directory,
# under flock), like samba.sh.  Each harness_start_389ds copies the
# template into $HARNESS_DIR/389ds, rewrites the paths and the port in its
# dse.ldif, and starts ns-slapd in the foreground (-d 0, so we own its
# pid) on it (~1 s).  Nothing lives outside those two directories: the
# template is made with PREFIX pointing at a defaults.inf of our own whose
# every path (configuration, database, logs, run, lock, LDAPI socket) is
# inside it, without systemd, SELinux or a certificate, so no system
# instance, unit or /etc/dirsrv file is created or touched.
#
# The instance: suffix dc=example,dc=com (bdb, non-durable transactions),
# listening on 127.0.0.1 only, plus an LDAPI socket (autobind: root is
# cn=Directory Manager).  Plug-ins enabled besides the defaults (entryUUID
# among them):
#   Retro Changelog Plugin  nsslapd-attribute: nsuniqueid:targetUniqueId
#                           (Content Synchronization finds an entry's
#                           changes by it), nsslapd-include-suffix: the
#                           suffix, nsslapd-changelogmaxage: 2d
#   Content Synchronization RFC 4533; the Sync State control's UUID is the
#                           128 bits of the entry's nsUniqueId
#   USN                     entryUSN, lastusn;<backend> in the root DSE,
#                           deletions kept as nsTombstone entries
# memberOf and referential integrity are off: a test that deletes a
# member removes it from its groups itself (harness_ldap_delete_refint),
# as with slapd.
#
# Entries: the suffix (with an ACI giving the service account read,
# search and compare on everything, operational attributes included),
# ou=people, ou=groups, ou=services and the service account
# cn=dirsync,ou=services (no size or look-through limit).  The Sync
# Request control is open to every authenticated user (389-ds default).
#
# Requirements: root (ns-slapd then runs as the dirsrv account the
# package creates; the tests run as root in CI), the Debian package
# 389-ds-base (ns-slapd, dscreate and its python3-lib389), ldap-utils and
# flock.  scripts/deps installs them.  When they are missing,
# harness_need_389ds skips the test (exit 77), unless
# DIRSYNC_TEST_REQUIRE_389DS=1: then it fails.
#
# Reference:
#   harness_have_389ds            true when everything above is there
#   harness_need_389ds            skip (or fail) the test when not
#   harness_prepare_389ds         copy the template, port, paths; exports
#                                 (not started: harness_389ds_import can
#                                 load it offline first)
#   harness_start_389ds           prepare when needed and start; waits until
#                                 it answers, and checks that the root DSE
#                                 names the Sync Request control; stopped
#                                 by the EXIT trap.  Sets
#                                 HARNESS_389DS_START_MS
#   harness_stop_389ds [--kill]   SIGTERM (a clean shutdown, 1-3 s), SIGKILL
#                                 after 30 s; --kill: SIGKILL at once
#   harness_start_389ds_again     start the same instance again (with
#                                 whatever plug-ins it now has)
#   harness_389ds_import FILE     offline bulk load (ns-slapd ldif2db) of the
#                                 add records in FILE, replacing the whole
#                                 suffix: the harness's base entries come
#                                 first, FILE's copies of them are skipped.
#                                 Only while stopped
#   lib.sh's LDAP helpers         harness_ldapsearch, harness_ldif,
#                                 harness_ldap_load, harness_ldap_value,
#                                 harness_ldap_delete_refint: against this
#                                 instance as admin (it sets the LDAP_*
#                                 variables they read)
#   ds389_uuid_of DN              the entry's id in the mirror: nsUniqueId
#                                 as RFC 4122 text (what the Sync State
#                                 control carries and the usn source reads)
#   harness_write_mirror_config_389ds [ARGS]  harness_write_mirror_config
#                                 with profile = 389ds
#   harness_mirror_compare_389ds [ARGS]  tests/harness/mirror-compare --389ds
#                                 against this instance as admin
#   -> LDAP_URI LDAPI_URI LDAP_PORT LDAP_BASE LDAP_ADMIN_DN LDAP_ADMIN_PW
#      LDAP_ADMIN_PW_FILE LDAP_SERVICE_DN LDAP_SERVICE_PW
#      LDAP_SERVICE_PW_FILE (0600): what lib.sh's harness_write_config and
#      mirror-compare read; DS389_DIR DS389_CONFIG_DIR DS389_PID DS389_LOG
#      (errors log) DS389_ACCESS_LOG; HARNESS_389DS_TEMPLATE
#
# One 389-ds instance per test, and not together with harness_start_slapd
# (both export LDAP_*).  The EXIT trap chains to samba.sh's when a Samba
# DC was started first.
#
# Knobs: DIRSYNC_389DS_CACHE (the template cache, default
# ${TMPDIR:-/tmp}/dirsync-389ds-cache: outside the build tree, shared by
# every build on the machine; delete it to rebuild the template).

DS389_PID=
DS389_DIR=

# Bump when the template's content changes: old templates are ignored.
_DS389_TEMPLATE_FORMAT=1
_DS389_INSTANCE=dirsynctpl
_DS389_BASE=dc=example,dc=com
_DS389_SYNC_OID=1.3.6.1.4.1.4203.1.9.1.1

_ds389_bin() { command -v ns-slapd 2>/dev/null || echo /usr/sbin/ns-slapd; }
_ds389_dscreate() { command -v dscreate 2>/dev/null || echo /usr/sbin/dscreate; }

# harness_have_389ds - true when an instance can be started here; says
# why not.
harness_have_389ds() {
	local missing=()
	[[ -x $(_ds389_bin) ]] || missing+=(389-ds-base)
	[[ -x $(_ds389_dscreate) ]] || missing+=("389-ds-base (dscreate)")
	[[ -f /usr/share/dirsrv/data/template-dse.ldif ]] ||
	    missing+=("389-ds-base (template-dse.ldif)")
	# dscreate's own interpreter (its #! line), not whichever python3
	# comes first in PATH.
	local py
	py=$(sed -n '1s/^#! *//p' "$(_ds389_dscreate)" 2>/dev/null)
	${py:-/usr/bin/python3} -c 'import lib389' >/dev/null 2>&1 ||
	    missing+=(python3-lib389)
	command -v ldapmodify >/dev/null 2>&1 || missing+=(ldap-utils)
	command -v flock >/dev/null 2>&1 || missing+=(util-linux)
	if ((${#missing[@]})); then
		harness_log "389-ds: not installed: ${missing[*]} (run scripts/deps)"
		return 1
	fi
	if [[ $(id -u) != 0 ]]; then
		harness_log "389-ds: must run as root (ns-slapd then runs as dirsrv)"
		return 1
	fi
	if ! id dirsrv >/dev/null 2>&1; then
		harness_log "389-ds: no dirsrv account (reinstall 389-ds-base)"
		return 1
	fi
	return 0
}

# harness_need_389ds - skip the test (exit 77) when no instance can run,
# or fail with DIRSYNC_TEST_REQUIRE_389DS=1 (for CI, where a silently
# skipped test would hide that it stopped running).
harness_need_389ds() {
	harness_have_389ds && return 0
	if [[ ${DIRSYNC_TEST_REQUIRE_389DS:-0} == 1 ]]; then
		harness_die "389-ds is required (DIRSYNC_TEST_REQUIRE_389DS=1)"
	fi
	printf '# SKIP 389 Directory Server unavailable (see tests/harness/389ds.sh)\n'
	exit 77
}

_ds389_version() {
	sed -n 's/^version *= *//p' /usr/share/dirsrv/inf/defaults.inf 2>/dev/null |
	    head -n 1
}

# ---------------------------------------------------------------------------
# The template: one instance per machine and 389-ds version

_ds389_cache_dir() { echo "${DIRSYNC_389DS_CACHE:-${TMPDIR:-/tmp}/dirsync-389ds-cache}"; }

# Print the template directory, creating it first if needed.  Under an
# exclusive flock, so parallel tests create it once and never see a
# half-made template (it is built under a temporary name, then renamed:
# the paths inside name the build directory, which every copy rewrites).
_ds389_template() {
	local cache key tpl
	cache=$(_ds389_cache_dir)
	key=389ds-$(_ds389_version)-f$_DS389_TEMPLATE_FORMAT
	tpl=$cache/$key
	(umask 077 && mkdir -p "$cache") || harness_die "cannot create $cache"
	# The template holds the instance's passwords: ours alone (and the
	# dirsrv account's, which must traverse it while it is built).
	[[ -O $cache ]] || harness_die "$cache belongs to someone else"
	chmod 711 "$cache"
	[[ -f $tpl/.complete ]] && { echo "$tpl"; return 0; }
	(
		flock -w 300 9 || harness_die "timed out waiting for $cache/.lock"
		[[ -f $tpl/.complete ]] && exit 0
		# Left by a build that was interrupted (we hold the lock).
		rm -rf "$tpl".tmp.*
		_ds389_build "$tpl" >&2
	) 9>"$cache/.lock" || return 1
	echo "$tpl"
}

# The lines of an LDIF file with continuation lines joined (dse.ldif folds
# long values at 78 columns; sed and grep want one value a line).
_ds389_unfold() {
	awk 'NR > 1 && /^ / { line = line substr($0, 2); next }
	     NR > 1 { print line } { line = $0 } END { if (NR) print line }' "$1"
}

# _ds389_set_config FILE ATTR VALUE [DN] - replace ATTR's value in the
# entry DN (default cn=config) of the unfolded dse.ldif FILE, adding the
# attribute when the entry lacks it.  Offline only: ns-slapd rewrites
# dse.ldif from memory while it runs.
_ds389_set_config() {
	local f=$1 attr=$2 value=$3 dn=${4:-cn=config}
	awk -v attr="$attr" -v value="$value" -v dn="$dn" '
		BEGIN { a = tolower(attr) ": "; d = "dn: " tolower(dn) }
		tolower($0) == d { inside = 1; print; next }
		inside && $0 == "" {
			if (!done) print attr ": " value
			inside = 0; done = 1
		}
		inside && index(tolower($0), a) == 1 {
			if (!done) print attr ": " value
			done = 1
			next
		}
		{ print }
	' "$f" >"$f.new" && mv -f "$f.new" "$f"
}

# _ds389_build DIR - create the template instance in DIR (~10 s).
_ds389_build() {
	local tpl=$1 tmp port adminpw svcpw t0 cfg pid uri rc=0
	tmp=$tpl.tmp.$$
	rm -rf "$tmp" "$tpl"
	mkdir -p "$tmp/share/dirsrv/inf" "$tmp/etc/dirsrv" "$tmp/tmp"
	# dscreate makes the other directories 0770 dirsrv; these parents it
	# leaves to us: ns-slapd (as dirsrv) must reach and rewrite dse.ldif.
	chmod 755 "$tmp" "$tmp/etc" "$tmp/etc/dirsrv" "$tmp/tmp"
	t0=$(harness_now_ms)
	harness_log "389-ds: creating the template instance in $tpl (once)"
	port=$(harness_free_port) || harness_die "389-ds: no free port"
	adminpw=Adm-$(_harness_secret)
	svcpw=Svc-$(_harness_secret)
	_harness_secret_file "$tmp/admin.pw" "$adminpw"
	_harness_secret_file "$tmp/service.pw" "$svcpw"
	cfg=$tmp/etc/dirsrv/slapd-$_DS389_INSTANCE

	# lib389 reads its paths from $PREFIX/share/dirsrv/inf/defaults.inf
	# (a "prefix install"), and finds the instance by
	# $PREFIX/etc/dirsrv/slapd-NAME/dse.ldif: every path goes into $tmp.
	# Programs, plug-ins, schema and data stay the system's.
	sed -e "s|^config_dir = .*|config_dir = $tmp/etc/dirsrv/slapd-{instance_name}|" \
	    -e "s|^schema_dir = .*|schema_dir = $tmp/etc/dirsrv/slapd-{instance_name}/schema|" \
	    -e "s|^cert_dir = .*|cert_dir = $tmp/etc/dirsrv/slapd-{instance_name}|" \
	    -e "s|^local_state_dir = .*|local_state_dir = $tmp/var|" \
	    -e "s|^run_dir = .*|run_dir = $tmp/run|" \
	    -e "s|^ldapi = .*|ldapi = $tmp/run/ldapi|" \
	    -e "s|^pid_file = .*|pid_file = $tmp/run/slapd-{instance_name}.pid|" \
	    -e "s|^lock_dir = .*|lock_dir = $tmp/lock|" \
	    -e "s|^log_dir = .*|log_dir = $tmp/log|" \
	    -e "s|^access_log = .*|access_log = $tmp/log/access|" \
	    -e "s|^audit_log = .*|audit_log = $tmp/log/audit|" \
	    -e "s|^error_log = .*|error_log = $tmp/log/errors|" \
	    -e "s|^security_log = .*|security_log = $tmp/log/security|" \
	    -e "s|^db_dir = .*|db_dir = $tmp/db|" \
	    -e "s|^db_home_dir = .*|db_home_dir = $tmp/db|" \
	    -e "s|^backup_dir = .*|backup_dir = $tmp/bak|" \
	    -e "s|^ldif_dir = .*|ldif_dir = $tmp/ldif|" \
	    -e "s|^tmp_dir = .*|tmp_dir = $tmp/tmp|" \
	    -e "s|^tmpfiles_d = .*|tmpfiles_d = $tmp/tmpfiles.d|" \
	    -e "s|^with_systemd = .*|with_systemd = 0|" \
	    /usr/share/dirsrv/inf/defaults.inf >"$tmp/share/dirsrv/inf/defaults.inf"
	(umask 077 && cat >"$tmp/instance.inf") <<-EOF
	# Written by tests/harness/389ds.sh: the template instance.
	[general]
	config_version = 2
	full_machine_name = localhost
	strict_host_checking = False
	selinux = False
	systemd = False
	start = True
	[slapd]
	instance_name = $_DS389_INSTANCE
	port = $port
	secure_port = 0
	self_sign_cert = False
	root_password = $adminpw
	[backend-userroot]
	suffix = $_DS389_BASE
	create_suffix_entry = True
	EOF

	# The server dscreate starts detaches: stop it whatever happens next
	# (this runs in _ds389_template's subshell, which has no EXIT trap;
	# a global, not $tmp: the trap may run after we returned).
	_DS389_BUILD_PIDFILE=$tmp/run/slapd-$_DS389_INSTANCE.pid
	_ds389_build_stop() {
		local p i
		p=$(cat "$_DS389_BUILD_PIDFILE" 2>/dev/null) || return 0
		[[ -n $p ]] && kill -0 "$p" 2>/dev/null || return 0
		kill -TERM "$p" 2>/dev/null || true
		for ((i = 0; i < 300; i++)); do
			kill -0 "$p" 2>/dev/null || return 0
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
	}
	trap _ds389_build_stop EXIT
	# From /, with every descriptor redirected, so the detached server
	# keeps no pipe of the caller open.
	if ! (cd / && PREFIX=$tmp "$(_ds389_dscreate)" from-file "$tmp/instance.inf") \
	    </dev/null >"$tmp/dscreate.log" 2>&1; then
		tail -n 30 "$tmp/dscreate.log" >&2
		harness_log "389-ds: dscreate failed (log: $tmp/dscreate.log)"
		return 1
	fi

	uri=ldap://127.0.0.1:$port
	# Plug-ins (they start at the next start), then the base entries.
	# userPassword in clear: the server hashes it.
	ldapmodify -x -H "$uri" -D "cn=Directory Manager" -y "$tmp/admin.pw" \
	    >>"$tmp/configure.log" 2>&1 <<-EOF || rc=$?
	dn: cn=Retro Changelog Plugin,cn=plugins,cn=config
	changetype: modify
	replace: nsslapd-pluginEnabled
	nsslapd-pluginEnabled: on
	-
	replace: nsslapd-attribute
	nsslapd-attribute: nsuniqueid:targetUniqueId
	-
	replace: nsslapd-include-suffix
	nsslapd-include-suffix: $_DS389_BASE
	-
	replace: nsslapd-changelogmaxage
	nsslapd-changelogmaxage: 2d

	dn: cn=Content Synchronization,cn=plugins,cn=config
	changetype: modify
	replace: nsslapd-pluginEnabled
	nsslapd-pluginEnabled: on

	dn: cn=USN,cn=plugins,cn=config
	changetype: modify
	replace: nsslapd-pluginEnabled
	nsslapd-pluginEnabled: on

	dn: $_DS389_BASE
	changetype: modify
	add: aci
	aci: (targetattr="*")(version 3.0; acl "dirsync service read"; allow (read, search, compare) userdn="ldap:///cn=dirsync,ou=services,$_DS389_BASE";)

	dn: ou=people,$_DS389_BASE
	changetype: add
	objectClass: top
	objectClass: organizationalUnit
	ou: people

	dn: ou=groups,$_DS389_BASE
	changetype: add
	objectClass: top
	objectClass: organizationalUnit
	ou: groups

	dn: ou=services,$_DS389_BASE
	changetype: add
	objectClass: top
	objectClass: organizationalUnit
	ou: services

	dn: cn=dirsync,ou=services,$_DS389_BASE
	changetype: add
	objectClass: top
	objectClass: applicationProcess
	objectClass: simpleSecurityObject
	cn: dirsync
	description: read-only account of the dirsync daemon
	userPassword: $svcpw
	nsSizeLimit: -1
	nsLookThroughLimit: -1
	EOF
	if [[ $rc != 0 ]]; then
		cat "$tmp/configure.log" >&2
		harness_log "389-ds: configuring the template failed (ldapmodify exit $rc)"
		return 1
	fi
	_ds389_build_stop
	trap - EXIT
	unset -f _ds389_build_stop
	pid=$(cat "$tmp/run/slapd-$_DS389_INSTANCE.pid" 2>/dev/null || true)
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		harness_log "389-ds: the template server (pid $pid) did not stop"
		return 1
	fi

	# Offline settings (refused while the server runs): no fsync per
	# transaction, small fixed caches instead of a quarter of the RAM,
	# loopback only.
	_ds389_unfold "$cfg/dse.ldif" >"$cfg/dse.ldif.unfolded"
	mv -f "$cfg/dse.ldif.unfolded" "$cfg/dse.ldif"
	local ldbm='cn=config,cn=ldbm database,cn=plugins,cn=config'
	_ds389_set_config "$cfg/dse.ldif" nsslapd-db-durable-transaction off "$ldbm"
	_ds389_set_config "$cfg/dse.ldif" nsslapd-cache-autosize 0 "$ldbm"
	_ds389_set_config "$cfg/dse.ldif" nsslapd-dbcachesize 33554432 "$ldbm"
	_ds389_set_config "$cfg/dse.ldif" nsslapd-listenhost 127.0.0.1
	chown dirsrv:dirsrv "$cfg/dse.ldif"
	chmod 600 "$cfg/dse.ldif"
	rm -f "$cfg"/dse.ldif.bak "$cfg"/dse.ldif.startOK "$cfg"/dse.ldif.tmp

	# The base entries as the server stores them (nsUniqueId, the hashed
	# password), for harness_389ds_import.
	if ! "$(_ds389_bin)" db2ldif -D "$cfg" -n userroot -a "$tmp/ldif/base.ldif" \
	    </dev/null >>"$tmp/configure.log" 2>&1; then
		tail -n 20 "$tmp/configure.log" >&2
		harness_log "389-ds: db2ldif of the base entries failed"
		return 1
	fi
	# The database's shared memory regions are rebuilt at each start:
	# ~120 MB that no copy needs.
	rm -f "$tmp"/db/__db.*
	rm -f "$tmp"/log/* "$tmp"/run/*
	echo "$tmp" >"$tmp/build.root"
	echo "$(($(harness_now_ms) - t0))" >"$tmp/build.ms"
	touch "$tmp/.complete"
	mv "$tmp" "$tpl"
	harness_log "389-ds: template created in $(cat "$tpl/build.ms") ms"
}

# ---------------------------------------------------------------------------
# Start and stop

# harness_prepare_389ds - copy the template into $HARNESS_DIR/389ds with
# its own port and paths, export the LDAP_* and DS389_* variables; the
# server is not started (harness_389ds_import can load it offline first).
# harness_start_389ds calls it when needed.
harness_prepare_389ds() {
	local tpl d old cfg
	[[ -n $HARNESS_DIR ]] || harness_die "call harness_init first"
	[[ -z $DS389_DIR ]] || return 0
	harness_need_389ds
	tpl=$(_ds389_template) || harness_die "389-ds: no template instance"
	export HARNESS_389DS_TEMPLATE=$tpl
	d=$HARNESS_DIR/389ds
	cp -a "$tpl" "$d"
	rm -f "$d/.complete"
	old=$(cat "$tpl/build.root")
	cfg=$d/etc/dirsrv/slapd-$_DS389_INSTANCE
	harness_alloc_port LDAP_PORT
	# Every path of the template's build directory becomes ours (a literal
	# replacement: awk's index, not a regular expression).
	awk -v old="$old" -v new="$d" '{
		out = ""
		while ((p = index($0, old)) > 0) {
			out = out substr($0, 1, p - 1) new
			$0 = substr($0, p + length(old))
		}
		print out $0
	}' "$cfg/dse.ldif" >"$cfg/dse.ldif.new"
	mv -f "$cfg/dse.ldif.new" "$cfg/dse.ldif"
	_ds389_set_config "$cfg/dse.ldif" nsslapd-port "$LDAP_PORT"
	chown dirsrv:dirsrv "$cfg/dse.ldif" "$d"
	chmod 600 "$cfg/dse.ldif"
	DS389_DIR=$d
	export DS389_DIR
	export DS389_CONFIG_DIR=$cfg
	export DS389_LOG=$d/log/errors
	export DS389_ACCESS_LOG=$d/log/access
	export LDAP_BASE=$_DS389_BASE
	export LDAP_URI=ldap://127.0.0.1:$LDAP_PORT
	LDAPI_URI=$(_ldapi_url "$d/run/ldapi")
	export LDAPI_URI
	export LDAP_ADMIN_DN="cn=Directory Manager"
	export LDAP_ADMIN_PW_FILE=$d/admin.pw
	LDAP_ADMIN_PW=$(cat "$LDAP_ADMIN_PW_FILE")
	export LDAP_ADMIN_PW
	export LDAP_SERVICE_DN=cn=dirsync,ou=services,$_DS389_BASE
	export LDAP_SERVICE_PW_FILE=$d/service.pw
	LDAP_SERVICE_PW=$(cat "$LDAP_SERVICE_PW_FILE")
	export LDAP_SERVICE_PW
}

# harness_start_389ds - an instance in $HARNESS_DIR/389ds, started and
# answering with the Content Synchronization control.  Sets
# HARNESS_389DS_START_MS (copy + start; the template's creation, when
# this run made it, is not counted).  Once stopped, it starts the same
# instance again.
harness_start_389ds() {
	local t0
	[[ -z $DS389_PID ]] || return 0
	harness_need_389ds
	_ds389_template >/dev/null || harness_die "389-ds: no template instance"
	t0=$(harness_now_ms)
	harness_prepare_389ds
	_ds389_run || return 1
	# shellcheck disable=SC2034  # for the test to report
	HARNESS_389DS_START_MS=$(($(harness_now_ms) - t0))
	# ns-slapd listens once its plug-ins have started: the control is
	# there now, or the template is broken.
	_ds389_has_sync ||
	    harness_die "389-ds: no Content Synchronization control in the root DSE" \
	        "(a broken template? delete $(_ds389_cache_dir))"
}

# harness_start_389ds_again - the same instance, after harness_stop_389ds.
harness_start_389ds_again() {
	[[ -n $DS389_DIR ]] || harness_die "389-ds was never started"
	[[ -z $DS389_PID ]] || return 0
	_ds389_run
}

# ns-slapd with -d 0 stays in the foreground (we own its pid; it logs to
# its files as usual); wait until it answers.
_ds389_run() {
	harness_on_exit _ds389_on_exit
	rm -f "$DS389_DIR/run/ldapi" "$DS389_DIR/run/slapd-$_DS389_INSTANCE.pid"
	"$(_ds389_bin)" -D "$DS389_CONFIG_DIR" \
	    -i "$DS389_DIR/run/slapd-$_DS389_INSTANCE.pid" -d 0 \
	    </dev/null >>"$DS389_DIR/log/ns-slapd.out" 2>&1 &
	DS389_PID=$!
	export DS389_PID
	if ! wait_for "389-ds on $LDAP_URI" 60 _ds389_answers; then
		tail -n 30 "$DS389_LOG" >&2
		harness_stop_389ds
		harness_log "389-ds did not start (log: $DS389_LOG)"
		return 1
	fi
}

_ds389_answers() {
	kill -0 "$DS389_PID" 2>/dev/null || return 1
	ldapsearch -x -LLL -o nettimeout=2 -H "$LDAP_URI" -s base -b '' \
	    vendorName 2>/dev/null | grep -q '^vendorName: '
}

# The root DSE names the Sync Request control (RFC 4533): the Content
# Synchronization plug-in runs.
_ds389_has_sync() {
	ldapsearch -x -LLL -o nettimeout=2 -H "$LDAP_URI" -s base -b '' \
	    supportedControl 2>/dev/null | grep -q "^supportedControl: $_DS389_SYNC_OID\$"
}

# harness_stop_389ds [--kill] - SIGTERM and wait (a clean shutdown takes
# 1-3 s: the database threads finish their sleep), SIGKILL after 30 s;
# --kill: SIGKILL at once (a crash; the database recovers at the next
# start).  Reaped either way.
harness_stop_389ds() {
	[[ -n $DS389_PID ]] || return 0
	if [[ ${1:-} == --kill ]]; then
		kill -KILL "$DS389_PID" 2>/dev/null || true
		wait "$DS389_PID" 2>/dev/null || true
	else
		_harness_kill_wait "$DS389_PID" 30 || true
	fi
	DS389_PID=
}

# At the end of the test (harness_on_exit).  A test that passed leaves
# nothing to read: no need to wait for a clean shutdown of a directory
# about to be deleted.
_ds389_on_exit() {
	if [[ $1 == 0 || $1 == 77 ]] && [[ ${KEEP_HARNESS:-0} != 1 ]]; then
		harness_stop_389ds --kill
	else
		harness_stop_389ds
	fi
}

# ---------------------------------------------------------------------------
# Offline load

# harness_389ds_import FILE.ldif - replace the suffix's content with the
# harness's base entries plus the add records of FILE (records whose DN
# is a base entry's are skipped), with ns-slapd ldif2db: no changelog,
# entryUSN 0, nsUniqueId and entryUUID generated.  Only while stopped
# (after harness_prepare_389ds or harness_stop_389ds).
harness_389ds_import() {
	local f=$1 in out rc=0
	[[ -n $DS389_DIR ]] || harness_die "harness_389ds_import: call harness_prepare_389ds first"
	[[ -z $DS389_PID ]] || harness_die "harness_389ds_import: 389-ds is running"
	[[ -r $f ]] || harness_die "harness_389ds_import: cannot read $f"
	in=$DS389_DIR/ldif/import.ldif
	{
		cat "$DS389_DIR/ldif/base.ldif"
		echo
		# Skip the records of FILE whose DN the base already has;
		# records are separated by empty lines.
		LC_ALL=C awk -v basefile="$DS389_DIR/ldif/base.ldif" '
			BEGIN {
				while ((getline l < basefile) > 0)
					if (l ~ /^dn: /) BASE[tolower(substr(l, 5))] = 1
				RS = ""; ORS = "\n\n"
			}
			# A base64 DN (dn::) is none of the base entries; a
			# record without a DN (a comment) is dropped, and so is
			# a "version: 1" line (base.ldif has one already).
			{
				sub(/^version:[^\n]*\n?/, "")
				n = split($0, L, "\n"); dn = ""
				for (i = 1; i <= n && dn == ""; i++)
					if (L[i] ~ /^dn::? /) dn = tolower(L[i])
				sub(/^dn: /, "", dn)
				if (dn != "" && !(dn in BASE)) print
			}' "$f"
	} >"$in"
	chown dirsrv:dirsrv "$in"
	chmod 600 "$in"
	out=$("$(_ds389_bin)" ldif2db -D "$DS389_CONFIG_DIR" -n userroot -i "$in" \
	    </dev/null 2>&1) || rc=$?
	printf '%s\n' "$out" >>"$DS389_DIR/log/import.log"
	if [[ $rc != 0 ]]; then
		printf '%s\n' "$out" | tail -n 20 >&2
		harness_log "389-ds: ldif2db $f failed (exit $rc)"
		return 1
	fi
}

# ---------------------------------------------------------------------------
# Clients (as cn=Directory Manager over LDAP_URI)

# ds389_uuid_of DN - the entry's nsUniqueId ("63fe8790-e94011f1-a702bc33-
# 3c127f31") as the UUID text of its Sync State control
# ("63fe8790-e940-11f1-a702-bc333c127f31"): the same 128 bits.
ds389_uuid_of() {
	harness_ldap_value "$1" nsUniqueId | tr -d '-' | tr 'A-F' 'a-f' |
	    sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12})$/\1-\2-\3-\4-\5/'
}

# harness_write_mirror_config_389ds [--file F] [--socket S] [LINES] -
# harness_write_mirror_config (mode syncrepl, base $LDAP_BASE) with the
# 389ds profile; LINES add or override keys.
harness_write_mirror_config_389ds() {
	local opts=()
	while [[ ${1:-} == --file || ${1:-} == --socket ]]; do
		opts+=("$1" "$2")
		shift 2
	done
	harness_write_mirror_config "${opts[@]}" '[mirror]' 'profile = 389ds' "$@"
}

# harness_mirror_compare_389ds [ARGS] - tests/harness/mirror-compare
# --389ds (ids from nsUniqueId) against this instance as admin and the
# harness PostgreSQL as superuser; at most 12 differing lines by default.
harness_mirror_compare_389ds() { harness_mirror_compare --389ds "$@"; }
