# shellcheck shell=bash
# tests/harness/lib.sh - throwaway slapd, PostgreSQL and dirsyncd for the
# integration tests, the benchmarks and scripts/demo.
#
# Source it from bash, then:
#
#   harness_init                  # temp dir + a trap that stops everything
#   harness_have_servers || exit 77
#   harness_start_slapd           # exports LDAP_URI, LDAP_BASE, ...
#   harness_start_pg              # exports PG_CONNINFO, PG_PASSWORD_FILE, ...
#   harness_write_config '[log]' 'level = debug'
#   harness_start_dirsyncd
#   harness_status | harness_xpath 'string(/dirsync/schema/@state)'
#
# Everything lives in one directory, $HARNESS_DIR (mktemp -d), on loopback
# ports picked at random and reserved with a lock directory, so tests can
# run in parallel (`make -j2 check`).  The EXIT trap stops every server the
# harness started and removes the directory, except when KEEP_HARNESS=1 or
# the test failed: then the directory stays and its path is printed.
#
# Servers can be prepared without being started (harness_prepare_slapd,
# harness_prepare_pg): the ports and credentials are then known, so a
# daemon can be pointed at servers that are down (outage tests).
#
# Nothing here talks to anything but 127.0.0.1 and Unix sockets in the
# temp dir.
#
# Reference (each function has its comment below):
#   set-up      harness_init, harness_have_servers, harness_need_dirsyncd,
#               harness_alloc_port VAR, harness_free_port, wait_for,
#               harness_now_ms
#   slapd       harness_prepare_slapd / harness_start_slapd [--no-syncprov],
#               harness_stop_slapd, harness_start_slapd_again,
#               harness_slapadd FILE (before start), harness_ldap_load FILE,
#               harness_ldap_modify FILE, harness_ldapsearch ARGS
#               -> LDAP_URI LDAPI_URI LDAP_BASE LDAP_ADMIN_DN LDAP_ADMIN_PW
#                  LDAP_SERVICE_DN LDAP_SERVICE_PW_FILE (0600) LDAP_PORT
#   PostgreSQL  harness_prepare_pg / harness_start_pg, harness_stop_pg,
#               harness_start_pg_again, pg_sql "SQL" [DB],
#               harness_pg_create_db NAME
#               -> PG_HOST PG_PORT PG_CONNINFO PG_PASSWORD_FILE (0600)
#                  PG_SOCKDIR (superuser "postgres", trust, over the socket)
#   dirsyncd    harness_write_config [--file F] [--socket S] [INI lines],
#               harness_start_dirsyncd [ARGS], harness_stop_dirsyncd [PID],
#               harness_spawn_dirsyncd CONF LOG, harness_wait_dirsyncd,
#               harness_status [CMD], harness_xpath EXPR,
#               harness_status_get EXPR, harness_status_validate,
#               harness_conn_state NAME,
#               harness_schema_state, harness_sock_client SOCK DATA [MS],
#               harness_log_mark, harness_log_since MARK
#               -> DIRSYNCD_PID DIRSYNCD_LOG HARNESS_STATUS_SOCKET
#   mail        $FAKE_SENDMAIL (tests/harness/fake-sendmail) appends to
#               $FAKE_SENDMAIL_OUT
#   mirror      harness_write_mirror_config, harness_sync_* (the `dirsyncctl
#               sync` document), harness_ldif, harness_mirror_compare, ...:
#               see "Directory mirror" below

# Where the sources and the build are: `make check` exports both; direct
# runs (bash tests/integration/x.sh) fall back to the repository itself.
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
: "${DIRSYNCD:=$top_builddir/src/dirsyncd/dirsyncd}"
: "${DIRSYNCCTL:=$top_builddir/src/dirsyncctl/dirsyncctl}"
export DIRSYNCD DIRSYNCCTL

HARNESS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

HARNESS_DIR=
HARNESS_PORT_LOCKDIR=${TMPDIR:-/tmp}/dirsync-test-ports
HARNESS_DIRSYNCD_PIDS=()  # every dirsyncd we spawned (stopped at exit)
HARNESS_EXIT_HOOKS=()     # harness_on_exit: more servers to stop
SLAPD_PID=
SLAPD_DIR=
PG_DIR=
HARNESS_PG_STARTED=0

# ---------------------------------------------------------------------------
# Messages

harness_log() { printf '# %s\n' "$*" >&2; }
harness_die() { printf 'harness: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------
# Set-up and tear-down

# Create the temp dir and install the cleanup trap.  Call once, first.
harness_init() {
	HARNESS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dirsync-test.XXXXXX")
	# The postgres account (when we run as root) must traverse it.
	chmod 755 "$HARNESS_DIR"
	export HARNESS_DIR
	: "${FAKE_SENDMAIL_OUT:=$HARNESS_DIR/sendmail.out}"
	export FAKE_SENDMAIL_OUT
	export FAKE_SENDMAIL="$HARNESS_LIB_DIR/fake-sendmail"
	trap '_harness_cleanup' EXIT
	trap '_harness_signal 130' INT
	trap '_harness_signal 143' TERM
}

# A signal ends the test; the EXIT trap then does the cleanup.
_harness_signal() {
	trap - INT TERM
	exit "$1"
}

# harness_on_exit FN - the other server libraries (samba.sh, 389ds.sh)
# stop their servers this way: at the end of the test, whatever ends it,
# FN STATUS runs (STATUS: the test's exit status) after the daemons are
# stopped and before slapd and PostgreSQL.  Registering twice is once.
harness_on_exit() {
	local h
	for h in "${HARNESS_EXIT_HOOKS[@]}"; do
		[[ $h != "$1" ]] || return 0
	done
	HARNESS_EXIT_HOOKS+=("$1")
}

_harness_cleanup() {
	local rc=$? pid hook
	set +e
	trap - EXIT INT TERM
	for pid in "${HARNESS_DIRSYNCD_PIDS[@]}"; do
		_harness_kill_wait "$pid" 5
	done
	for hook in "${HARNESS_EXIT_HOOKS[@]}"; do
		"$hook" "$rc" >/dev/null 2>&1
	done
	harness_stop_slapd >/dev/null 2>&1
	if [[ $HARNESS_PG_STARTED == 1 ]]; then
		_pg_ctl stop -m immediate >/dev/null 2>&1
		HARNESS_PG_STARTED=0
	fi
	_harness_release_ports
	if [[ -n $HARNESS_DIR && -d $HARNESS_DIR ]]; then
		if [[ ${KEEP_HARNESS:-0} == 1 ]]; then
			harness_log "KEEP_HARNESS=1: kept $HARNESS_DIR"
		elif [[ $rc != 0 && $rc != 77 ]]; then
			harness_log "failed (exit $rc): logs kept in $HARNESS_DIR" \
			    "(dirsyncd*.log, slapd/slapd.log, pg/postgres.log)"
		else
			rm -rf "$HARNESS_DIR"
		fi
	fi
	exit "$rc"
}

# SIGTERM pid, wait up to $2 seconds, then SIGKILL.  Reaps our children.
_harness_kill_wait() {
	local pid=$1 limit=$(($2 * 10)) i=0
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	kill -TERM "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null && ((i < limit)); do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		harness_log "pid $pid ignored SIGTERM for ${2}s: killing it"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	return 0
}

# True when the servers the integration tests need are installed.
# Tests do: harness_have_servers || exit 77
harness_have_servers() {
	local missing=()
	command -v slapd >/dev/null 2>&1 || [[ -x /usr/sbin/slapd ]] ||
	    missing+=(slapd)
	command -v slapadd >/dev/null 2>&1 || [[ -x /usr/sbin/slapadd ]] ||
	    missing+=(slapadd)
	command -v ldapadd >/dev/null 2>&1 || missing+=(ldap-utils)
	[[ -d /usr/lib/ldap ]] || missing+=(/usr/lib/ldap)
	_pg_bindir >/dev/null || missing+=(postgresql)
	command -v psql >/dev/null 2>&1 || missing+=(psql)
	command -v xmllint >/dev/null 2>&1 || missing+=(xmllint)
	if ((${#missing[@]})); then
		harness_log "skipping: not installed: ${missing[*]} (run scripts/deps)"
		return 1
	fi
	return 0
}

# Fail early (before any server starts) when the programs are not built.
harness_need_dirsyncd() {
	[[ -x $DIRSYNCD ]] || harness_die "dirsyncd not built: $DIRSYNCD (run make)"
	[[ -x $DIRSYNCCTL ]] || harness_die "dirsyncctl not built: $DIRSYNCCTL (run make)"
}

# wait_for "description" timeout_seconds command...
# Runs the command every 0.1 s until it succeeds; 1 on timeout.
wait_for() {
	local what=$1 limit=$(($2 * 10)) i=0
	shift 2
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		if ((i >= limit)); then
			harness_log "timed out after $((limit / 10))s waiting for $what"
			return 1
		fi
		sleep 0.1
	done
	return 0
}

# Milliseconds since the epoch (for timing checks).
harness_now_ms() { echo $(($(date +%s%N) / 1000000)); }

# A random hex secret (no external tools beyond coreutils).
_harness_secret() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

# Write text to a file only its owner can read (no trailing newline).
_harness_secret_file() {
	(umask 077 && printf '%s' "$2" >"$1")
	chmod 0600 "$1"
}

# ---------------------------------------------------------------------------
# Ports

# Print a free loopback TCP port, reserved for this test until it exits.
# Candidates are random between 20000 and the start of the kernel's
# ephemeral range (ip_local_port_range): a port in that range can be
# taken at any moment by an outgoing connection of another test, and a
# server that then cannot bind fails its start; a port is taken when something
# listens on it or another harness holds its lock directory (mkdir is
# atomic, so two parallel tests never get the same port).  A lock whose
# owner is dead is stale and reused.  Safe to call in $(...): the lock
# records the test's own pid ($$), and the EXIT trap releases it.
harness_free_port() {
	local port i owner
	: "${HARNESS_EPHEMERAL_LOW:=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)}"
	((HARNESS_EPHEMERAL_LOW > 21000)) || HARNESS_EPHEMERAL_LOW=32768
	mkdir -p "$HARNESS_PORT_LOCKDIR" 2>/dev/null &&
	    chmod 1777 "$HARNESS_PORT_LOCKDIR" 2>/dev/null
	for ((i = 0; i < 200; i++)); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % (${HARNESS_EPHEMERAL_LOW:-32768} - 20000)))
		_harness_port_listening "$port" && continue
		if ! mkdir "$HARNESS_PORT_LOCKDIR/$port" 2>/dev/null; then
			owner=$(cat "$HARNESS_PORT_LOCKDIR/$port/pid" 2>/dev/null)
			if [[ -z $owner ]] || kill -0 "$owner" 2>/dev/null; then
				continue  # in use (or being created right now)
			fi
			rm -rf "${HARNESS_PORT_LOCKDIR:?}/$port"
			mkdir "$HARNESS_PORT_LOCKDIR/$port" 2>/dev/null || continue
		fi
		echo $$ >"$HARNESS_PORT_LOCKDIR/$port/pid"
		echo "$port"
		return 0
	done
	harness_log "no free loopback port found"
	return 1
}

# harness_alloc_port VAR - set and export VAR to a free port.
harness_alloc_port() {
	local __port
	__port=$(harness_free_port) || harness_die "no free loopback port"
	printf -v "$1" '%s' "$__port"
	export "${1?}"
}

# Release every port lock this test holds.
_harness_release_ports() {
	local lock
	for lock in "$HARNESS_PORT_LOCKDIR"/*/; do
		[[ $(cat "$lock/pid" 2>/dev/null) == "$$" ]] && rm -rf "$lock"
	done
	return 0
}

_harness_port_listening() {
	if command -v ss >/dev/null 2>&1; then
		# Any socket on the port counts, not only listeners.
		[[ -n $(ss -Htan "sport = :$1" 2>/dev/null) ]]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# ---------------------------------------------------------------------------
# slapd

_slapd_bin() {
	command -v slapd 2>/dev/null || echo /usr/sbin/slapd
}
_slapadd_bin() {
	command -v slapadd 2>/dev/null || echo /usr/sbin/slapadd
}

# Percent-encode a path for an ldapi:// URL.
_ldapi_url() {
	local p=$1
	p=${p//%/%25}
	p=${p//\//%2F}
	p=${p//,/%2C}
	echo "ldapi://$p"
}

# harness_prepare_slapd [--no-syncprov]
# Builds cn=config and an empty database and exports the LDAP_* variables,
# without starting slapd.  harness_start_slapd calls it when needed.
harness_prepare_slapd() {
	local syncprov=1 d rootpw_hash svcpw_hash uid gid
	[[ ${1:-} == --no-syncprov ]] && syncprov=0
	[[ -n $HARNESS_DIR ]] || harness_die "call harness_init first"
	[[ -z ${SLAPD_DIR:-} ]] || return 0

	d=$HARNESS_DIR/slapd
	mkdir -p "$d/config" "$d/data"
	SLAPD_DIR=$d
	harness_alloc_port LDAP_PORT
	export LDAP_BASE=dc=example,dc=com
	export LDAP_ADMIN_DN=cn=admin,$LDAP_BASE
	export LDAP_SERVICE_DN=cn=dirsync,ou=services,$LDAP_BASE
	LDAP_ADMIN_PW=$(_harness_secret)
	export LDAP_ADMIN_PW
	LDAP_SERVICE_PW=$(_harness_secret)
	export LDAP_SERVICE_PW
	export LDAP_SERVICE_PW_FILE=$d/service.pw
	_harness_secret_file "$LDAP_SERVICE_PW_FILE" "$LDAP_SERVICE_PW"
	# The admin's password file: the LDAP helpers below read it from
	# here, so another server's library (389ds.sh) can point them at its
	# own admin by setting LDAP_URI, LDAP_ADMIN_DN and this.
	export LDAP_ADMIN_PW_FILE=$d/admin.pw
	_harness_secret_file "$LDAP_ADMIN_PW_FILE" "$LDAP_ADMIN_PW"
	export LDAP_URI=ldap://127.0.0.1:$LDAP_PORT
	export LDAPI_SOCKET=$d/ldapi
	LDAPI_URI=$(_ldapi_url "$LDAPI_SOCKET")
	export LDAPI_URI

	rootpw_hash=$(slappasswd -s "$LDAP_ADMIN_PW" 2>/dev/null) ||
	    rootpw_hash=$LDAP_ADMIN_PW
	svcpw_hash=$(slappasswd -s "$LDAP_SERVICE_PW" 2>/dev/null) ||
	    svcpw_hash=$LDAP_SERVICE_PW
	# SASL EXTERNAL over ldapi:// identifies us by uid/gid; map that
	# identity to the admin DN so `ldapadd -Y EXTERNAL -H $LDAPI_URI` works.
	uid=$(id -u)
	gid=$(id -g)

	{
		cat <<-EOF
		dn: cn=config
		objectClass: olcGlobal
		cn: config
		olcPidFile: $d/slapd.pid
		olcArgsFile: $d/slapd.args
		olcAuthzRegexp: {0}"gidNumber=$gid\\+uidNumber=$uid,cn=peercred,cn=external,cn=auth" "$LDAP_ADMIN_DN"

		dn: cn=module{0},cn=config
		objectClass: olcModuleList
		cn: module{0}
		olcModulePath: /usr/lib/ldap
		olcModuleLoad: {0}back_mdb
		EOF
		((syncprov)) && echo "olcModuleLoad: {1}syncprov"
		cat <<-EOF

		dn: cn=schema,cn=config
		objectClass: olcSchemaConfig
		cn: schema

		include: file:///etc/ldap/schema/core.ldif

		include: file:///etc/ldap/schema/cosine.ldif

		include: file:///etc/ldap/schema/inetorgperson.ldif

		include: file:///etc/ldap/schema/nis.ldif

		dn: olcDatabase={-1}frontend,cn=config
		objectClass: olcDatabaseConfig
		objectClass: olcFrontendConfig
		olcDatabase: {-1}frontend
		olcSizeLimit: 500

		dn: olcDatabase={0}config,cn=config
		objectClass: olcDatabaseConfig
		olcDatabase: {0}config
		olcAccess: {0}to * by dn.exact="$LDAP_ADMIN_DN" manage by * none

		dn: olcDatabase={1}mdb,cn=config
		objectClass: olcDatabaseConfig
		objectClass: olcMdbConfig
		olcDatabase: {1}mdb
		olcSuffix: $LDAP_BASE
		olcRootDN: $LDAP_ADMIN_DN
		olcRootPW: $rootpw_hash
		olcDbDirectory: $d/data
		olcDbMaxSize: 4294967296
		olcDbNoSync: TRUE
		olcDbIndex: objectClass eq
		olcDbIndex: entryUUID eq
		olcDbIndex: entryCSN eq
		olcDbIndex: uid eq
		olcDbIndex: cn eq,sub
		olcDbIndex: mail eq
		olcDbIndex: member eq
		olcDbIndex: manager eq
		olcLimits: {0}dn.exact="$LDAP_SERVICE_DN" size=unlimited time=unlimited
		olcAccess: {0}to attrs=userPassword by dn.exact="$LDAP_ADMIN_DN" write by anonymous auth by * none
		olcAccess: {1}to * by dn.exact="$LDAP_ADMIN_DN" write by dn.exact="$LDAP_SERVICE_DN" read by * none
		EOF
		if ((syncprov)); then
			cat <<-EOF

			dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config
			objectClass: olcOverlayConfig
			objectClass: olcSyncProvConfig
			olcOverlay: {0}syncprov
			olcSpCheckpoint: 100 10
			olcSpSessionlog: 10000
			EOF
		fi
	} >"$d/config.ldif"
	"$(_slapadd_bin)" -n0 -F "$d/config" -l "$d/config.ldif" \
	    >"$d/slapadd-config.log" 2>&1 ||
	    { cat "$d/slapadd-config.log" >&2; harness_die "slapadd -n0 failed"; }

	# The entries every test needs: the suffix, the three OUs and the
	# read-only service account.  Loaded (skipping existing entries) when
	# slapd first starts, so a harness_slapadd'ed directory keeps its own.
	local o=${LDAP_BASE%%,*}
	o=${o#dc=}
	cat >"$d/base.ldif" <<-EOF
	dn: $LDAP_BASE
	objectClass: dcObject
	objectClass: organization
	dc: $o
	o: $o

	dn: ou=people,$LDAP_BASE
	objectClass: organizationalUnit
	ou: people

	dn: ou=groups,$LDAP_BASE
	objectClass: organizationalUnit
	ou: groups

	dn: ou=services,$LDAP_BASE
	objectClass: organizationalUnit
	ou: services

	dn: $LDAP_SERVICE_DN
	objectClass: applicationProcess
	objectClass: simpleSecurityObject
	cn: dirsync
	description: read-only account of the dirsync daemon
	userPassword: $svcpw_hash
	EOF
	SLAPD_BASE_LOADED=0
}

# harness_slapadd FILE.ldif - offline bulk load (benchmarks); call before
# harness_start_slapd.  Operational attributes are generated by slapadd.
harness_slapadd() {
	local f=$1
	harness_prepare_slapd
	[[ -z $SLAPD_PID ]] || harness_die "harness_slapadd: slapd is running"
	"$(_slapadd_bin)" -q -n1 -F "$SLAPD_DIR/config" -l "$f" \
	    >>"$SLAPD_DIR/slapadd.log" 2>&1 ||
	    { tail -n 20 "$SLAPD_DIR/slapadd.log" >&2; harness_die "slapadd $f failed"; }
}

# harness_start_slapd [--no-syncprov]
harness_start_slapd() {
	harness_prepare_slapd "$@"
	_harness_slapd_run || return 1
	if [[ $SLAPD_BASE_LOADED == 0 ]]; then
		harness_ldap_load "$SLAPD_DIR/base.ldif" || return 1
		SLAPD_BASE_LOADED=1
	fi
}

# Start slapd again on the same port with the same data (outage tests).
harness_start_slapd_again() {
	[[ -n ${SLAPD_DIR:-} ]] || harness_die "slapd was never started"
	_harness_slapd_run
}

_harness_slapd_run() {
	[[ -z $SLAPD_PID ]] || return 0
	rm -f "$LDAPI_SOCKET"   # left by a previous run of this slapd
	# -d makes slapd stay in the foreground, so we own its pid; level 0
	# logs nothing but startup failures (set HARNESS_SLAPD_DEBUG=stats
	# to see every operation in slapd/slapd.log).
	"$(_slapd_bin)" -d "${HARNESS_SLAPD_DEBUG:-0}" -F "$SLAPD_DIR/config" \
	    -h "$LDAP_URI/ $LDAPI_URI" >>"$SLAPD_DIR/slapd.log" 2>&1 &
	SLAPD_PID=$!
	if ! wait_for "slapd on $LDAP_URI" 30 _harness_slapd_answers; then
		tail -n 20 "$SLAPD_DIR/slapd.log" >&2
		harness_stop_slapd
		return 1
	fi
}

# slapd answers when a base search of the suffix gets any LDAP result
# (0 = found, 32 = noSuchObject before the suffix entry is loaded).
_harness_slapd_answers() {
	kill -0 "$SLAPD_PID" 2>/dev/null || return 1
	local rc=0
	ldapsearch -x -LLL -o nettimeout=2 -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" \
	    -w "$LDAP_ADMIN_PW" -s base -b "$LDAP_BASE" dn >/dev/null 2>&1 ||
	    rc=$?
	[[ $rc == 0 || $rc == 32 ]]
}

harness_stop_slapd() {
	[[ -n $SLAPD_PID ]] || return 0
	_harness_kill_wait "$SLAPD_PID" 10
	SLAPD_PID=
}

# harness_ldap_load FILE.ldif - ldapadd as admin.  Entries that already
# exist (the base entries in a generated file) are skipped; any other
# error fails.
harness_ldap_load() {
	local f=$1 out rc=0
	out=$(ldapadd -c -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" \
	    -y "$LDAP_ADMIN_PW_FILE" -f "$f" 2>&1 >/dev/null) || rc=$?
	[[ $rc == 0 ]] && return 0
	# -c keeps going; report errors other than "Already exists (68)".
	if grep -E '^ldap_add: ' <<<"$out" | grep -qv 'Already exists (68)'; then
		printf '%s\n' "$out" >&2
		harness_log "ldapadd $f failed"
		return 1
	fi
	return 0
}

# harness_ldap_modify FILE.ldif - ldapmodify as admin (changetype records).
harness_ldap_modify() {
	ldapmodify -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" \
	    -y "$LDAP_ADMIN_PW_FILE" -f "$1" >/dev/null
}

# harness_ldapsearch ARGS... - ldapsearch as admin, -LLL, against LDAP_URI.
harness_ldapsearch() {
	ldapsearch -x -LLL -o ldif-wrap=no -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" \
	    -y "$LDAP_ADMIN_PW_FILE" "$@"
}

# ---------------------------------------------------------------------------
# PostgreSQL

# The directory holding initdb/pg_ctl: the highest /usr/lib/postgresql/N,
# else wherever initdb is on PATH.
_pg_bindir() {
	local d
	d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	if [[ -x $d/initdb ]]; then
		echo "$d"
	elif command -v initdb >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
	else
		return 1
	fi
}

# PostgreSQL refuses to run as root: as root we run its programs as the
# `postgres` account (or a dedicated system user when that is missing).
_pg_pick_user() {
	if [[ $(id -u) != 0 ]]; then
		PG_OS_USER=
		return 0
	fi
	if id postgres >/dev/null 2>&1; then
		PG_OS_USER=postgres
		return 0
	fi
	PG_OS_USER=dirsync-test
	if ! id "$PG_OS_USER" >/dev/null 2>&1; then
		# A parallel test may win the race; only its existence matters.
		useradd --system --no-create-home --shell /usr/sbin/nologin \
		    "$PG_OS_USER" 2>/dev/null || true
		id "$PG_OS_USER" >/dev/null 2>&1 ||
		    harness_die "cannot create user $PG_OS_USER"
	fi
}

# Run a command as the PostgreSQL OS user.
_pg_as() {
	if [[ -n $PG_OS_USER ]]; then
		# From /, since the account may not enter the current directory.
		(cd / && runuser -u "$PG_OS_USER" -- "$@")
	else
		"$@"
	fi
}

_pg_ctl() {
	_pg_as "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/postgres.log" "$@"
}

# harness_prepare_pg - initdb, configuration, the dirsync role and
# database; exports PG_*.  The server is left stopped.  harness_start_pg
# calls it when needed.
harness_prepare_pg() {
	[[ -n $HARNESS_DIR ]] || harness_die "call harness_init first"
	[[ -z ${PG_DIR:-} ]] || return 0
	PG_BINDIR=$(_pg_bindir) || harness_die "PostgreSQL is not installed"
	_pg_pick_user
	PG_DIR=$HARNESS_DIR/pg
	PG_DATA=$PG_DIR/data
	export PG_SOCKDIR=$PG_DIR/sock
	mkdir -p "$PG_DIR" "$PG_SOCKDIR"
	chmod 755 "$PG_DIR" "$PG_SOCKDIR"
	[[ -z $PG_OS_USER ]] || chown "$PG_OS_USER:" "$PG_DIR" "$PG_SOCKDIR"
	harness_alloc_port PG_PORT
	export PG_HOST=127.0.0.1
	export PG_USER=dirsync PG_DATABASE=dirsync
	export PG_CONNINFO="host=$PG_HOST port=$PG_PORT dbname=$PG_DATABASE user=$PG_USER"
	PG_PASSWORD=$(_harness_secret)
	export PG_PASSWORD
	export PG_PASSWORD_FILE=$HARNESS_DIR/pg.pw
	_harness_secret_file "$PG_PASSWORD_FILE" "$PG_PASSWORD"

	# --no-sync / fsync=off: a throwaway cluster needs no durability, and
	# fsync dominates the run time of short tests.  Never do this for data
	# that matters.
	_pg_as "$PG_BINDIR/initdb" -D "$PG_DATA" -U postgres -E UTF8 \
	    --no-locale --no-sync --auth-local=trust --auth-host=scram-sha-256 \
	    >"$PG_DIR/initdb.log" 2>&1 ||
	    { cat "$PG_DIR/initdb.log" >&2; harness_die "initdb failed"; }
	_pg_as tee -a "$PG_DATA/postgresql.conf" >/dev/null <<-EOF

	# --- dirsync test harness ---
	listen_addresses = '127.0.0.1'
	port = $PG_PORT
	unix_socket_directories = '$PG_SOCKDIR'
	# tests only: no durability wanted, speed is
	fsync = off
	synchronous_commit = off
	full_page_writes = off
	max_connections = 40
	shared_buffers = 64MB
	log_min_messages = warning
	log_line_prefix = '%m [%p] %u@%d '
	EOF
	_pg_as tee "$PG_DATA/pg_hba.conf" >/dev/null <<-EOF
	# dirsync test harness: the superuser over the socket in the temp dir
	# without a password; the daemon's role only over TCP with SCRAM.
	local all postgres trust
	host  all dirsync 127.0.0.1/32 scram-sha-256
	EOF

	# Create the role and database with the server reachable only through
	# its private socket, so nothing can connect before they exist.
	_pg_ctl start -w -t 60 -o "-c listen_addresses=''" >/dev/null ||
	    { tail -n 20 "$PG_DIR/postgres.log" >&2; harness_die "pg_ctl start failed"; }
	HARNESS_PG_STARTED=1
	if ! _pg_psql postgres -c "CREATE ROLE dirsync LOGIN PASSWORD '$PG_PASSWORD'" ||
	    ! _pg_psql postgres -c "CREATE DATABASE dirsync OWNER dirsync"; then
		harness_die "cannot create the dirsync role and database"
	fi
	harness_stop_pg
}

# psql as the superuser over the socket: _pg_psql DB ARGS...
_pg_psql() {
	local db=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKDIR" -p "$PG_PORT" \
	    -U postgres -d "$db" "$@"
}

harness_start_pg() {
	harness_prepare_pg
	[[ $HARNESS_PG_STARTED == 1 ]] && return 0
	if ! _pg_ctl start -w -t 60 >/dev/null; then
		tail -n 20 "$PG_DIR/postgres.log" >&2
		harness_log "pg_ctl start failed"
		return 1
	fi
	HARNESS_PG_STARTED=1
}

harness_start_pg_again() {
	[[ -n ${PG_DIR:-} ]] || harness_die "PostgreSQL was never started"
	harness_start_pg
}

# Fast shutdown: connected clients (the daemon) are disconnected.
harness_stop_pg() {
	[[ $HARNESS_PG_STARTED == 1 ]] || return 0
	_pg_ctl stop -m fast -w -t 30 >/dev/null
	HARNESS_PG_STARTED=0
}

# pg_sql "SQL" [DB] - run SQL as superuser (default database dirsync) and
# print the result unaligned, tuples only (fields separated by '|').
pg_sql() {
	_pg_psql "${2:-dirsync}" -At -c "$1"
}

# harness_pg_create_db NAME - another empty database owned by dirsync.
harness_pg_create_db() {
	_pg_psql postgres -c "CREATE DATABASE \"$1\" OWNER dirsync ${2:-}" >/dev/null
}

# ---------------------------------------------------------------------------
# dirsyncd

# harness_write_config [--file PATH] [--socket PATH] [LINE...]
# Writes a configuration for the harness's servers (default
# $HARNESS_DIR/dirsync.conf).  Extra lines are INI: "[section]" selects a
# section, "key = value" sets a key there, overriding the default, and
# "key =!" removes it.  Each section is written once.
harness_write_config() {
	local file=$HARNESS_DIR/dirsync.conf
	local sock=$HARNESS_DIR/status.sock
	while (($#)); do
		case $1 in
		--file) file=$2; shift 2 ;;
		--socket) sock=$2; shift 2 ;;
		*) break ;;
		esac
	done
	local -a order=() keys=()
	local -A val=()
	local sec=log line k v
	# The defaults, as "section|key|value".
	local defaults=(
		"log|level|info"
		"log|target|stderr"
		"ldap|uri|${LDAP_URI:-ldap://127.0.0.1:1}"
		"ldap|bind_dn|${LDAP_SERVICE_DN:-}"
		"ldap|bind_password_file|${LDAP_SERVICE_PW_FILE:-}"
		"ldap|network_timeout|5s"
		"postgresql|conninfo|\"${PG_CONNINFO:-host=127.0.0.1 port=1}\""
		"postgresql|password_file|${PG_PASSWORD_FILE:-}"
		"postgresql|connect_timeout|5s"
		"status|socket|$sock"
		"status|client_timeout|2s"
		"retry|backoff_min|100ms"
		"retry|backoff_max|1s"
	)
	_cfg_set() {
		[[ " ${order[*]} " == *" $1 "* ]] || order+=("$1")
		[[ -v "val[$1|$2]" ]] || keys+=("$1|$2")
		val[$1|$2]=$3
	}
	for line in "${defaults[@]}"; do
		IFS='|' read -r sec k v <<<"$line"
		[[ -n $v ]] && _cfg_set "$sec" "$k" "$v"
	done
	sec=log
	for line in "$@"; do
		if [[ $line =~ ^[[:space:]]*\[([^]]*)\][[:space:]]*$ ]]; then
			sec=${BASH_REMATCH[1]}
			[[ " ${order[*]} " == *" $sec "* ]] || order+=("$sec")
		elif [[ $line =~ ^[[:space:]]*([A-Za-z0-9_]+)[[:space:]]*=[[:space:]]*(.*)$ ]]; then
			k=${BASH_REMATCH[1]}
			v=${BASH_REMATCH[2]}
			if [[ $v == '!' ]]; then
				unset "val[$sec|$k]"
			else
				_cfg_set "$sec" "$k" "$v"
			fi
		else
			harness_die "harness_write_config: not an INI line: $line"
		fi
	done
	{
		echo "# Written by tests/harness/lib.sh for a throwaway test."
		for sec in "${order[@]}"; do
			printf '\n[%s]\n' "$sec"
			for k in "${keys[@]}"; do
				[[ ${k%%|*} == "$sec" && -v "val[$k]" ]] || continue
				printf '%s = %s\n' "${k#*|}" "${val[$k]}"
			done
		done
	} >"$file.tmp"
	# Atomic replace: a reload never sees half a file.
	mv -f "$file.tmp" "$file"
	unset -f _cfg_set
}

# harness_spawn_dirsyncd CONFIG LOG [ARGS...]
# Start a daemon in the foreground mode (-f) in the background, without
# waiting.  Sets HARNESS_LAST_PID; the daemon is stopped at exit.
harness_spawn_dirsyncd() {
	local conf=$1 log=$2
	shift 2
	[[ -x $DIRSYNCD ]] || harness_die "dirsyncd not built: $DIRSYNCD"
	"$DIRSYNCD" -f -c "$conf" "$@" >>"$log" 2>&1 </dev/null &
	HARNESS_LAST_PID=$!
	HARNESS_DIRSYNCD_PIDS+=("$HARNESS_LAST_PID")
}

# The status socket named in a config file.
harness_config_socket() {
	sed -n 's/^[[:space:]]*socket[[:space:]]*=[[:space:]]*//p' "$1" | tail -n 1
}

# harness_wait_dirsyncd PID SOCKET LOG - wait (15 s) for the socket; fail
# early, with the log, if the daemon dies.
harness_wait_dirsyncd() {
	local pid=$1 sock=$2 log=$3 i
	for ((i = 0; i < 150; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			harness_log "dirsyncd (pid $pid) exited during start-up:"
			tail -n 30 "$log" >&2
			return 1
		fi
		[[ -S $sock ]] && return 0
		sleep 0.1
	done
	harness_log "dirsyncd (pid $pid): no status socket $sock after 15s"
	tail -n 30 "$log" >&2
	return 1
}

# harness_start_dirsyncd [ARGS...]
# Start $DIRSYNCD -f -c $DIRSYNCD_CONF (default $HARNESS_DIR/dirsync.conf,
# written with the defaults if missing) with its output appended to
# $DIRSYNCD_LOG (default $HARNESS_DIR/dirsyncd.log); wait for its status
# socket.  Sets DIRSYNCD_PID and HARNESS_STATUS_SOCKET.
harness_start_dirsyncd() {
	: "${DIRSYNCD_CONF:=$HARNESS_DIR/dirsync.conf}"
	: "${DIRSYNCD_LOG:=$HARNESS_DIR/dirsyncd.log}"
	export DIRSYNCD_CONF DIRSYNCD_LOG
	[[ -f $DIRSYNCD_CONF ]] || harness_write_config --file "$DIRSYNCD_CONF"
	HARNESS_STATUS_SOCKET=$(harness_config_socket "$DIRSYNCD_CONF")
	export HARNESS_STATUS_SOCKET
	harness_spawn_dirsyncd "$DIRSYNCD_CONF" "$DIRSYNCD_LOG" "$@"
	DIRSYNCD_PID=$HARNESS_LAST_PID
	harness_wait_dirsyncd "$DIRSYNCD_PID" "$HARNESS_STATUS_SOCKET" \
	    "$DIRSYNCD_LOG"
}

# harness_stop_dirsyncd [PID] - SIGTERM and wait (10 s, then SIGKILL).
# Sets HARNESS_STOP_RC (the exit status) and HARNESS_STOP_MS (how long
# it took); returns 0 whatever the exit status.
# shellcheck disable=SC2034  # results for the caller
harness_stop_dirsyncd() {
	local pid=${1:-${DIRSYNCD_PID:-}} t0 i=0
	HARNESS_STOP_RC=
	HARNESS_STOP_MS=
	[[ -n $pid ]] || return 0
	t0=$(harness_now_ms)
	kill -TERM "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null && ((i < 100)); do
		sleep 0.05
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		harness_log "dirsyncd (pid $pid) still running 5s after SIGTERM: killing it"
		kill -KILL "$pid" 2>/dev/null
	fi
	HARNESS_STOP_RC=0
	wait "$pid" 2>/dev/null || HARNESS_STOP_RC=$?
	HARNESS_STOP_MS=$(($(harness_now_ms) - t0))
	[[ $pid != "${DIRSYNCD_PID:-}" ]] || DIRSYNCD_PID=
	return 0
}

# harness_status [COMMAND] - one request on the status socket, reply on
# stdout.  No command: `dirsyncctl status --xml`; else `dirsyncctl raw`.
# The socket is $HARNESS_STATUS_SOCKET unless -s SOCKET comes first.
harness_status() {
	local sock=${HARNESS_STATUS_SOCKET:-$HARNESS_DIR/status.sock}
	if [[ ${1:-} == -s ]]; then
		sock=$2
		shift 2
	fi
	if (($# == 0)); then
		"$DIRSYNCCTL" -s "$sock" status --xml
	else
		"$DIRSYNCCTL" -s "$sock" raw "$*"
	fi
}

# harness_xpath EXPR - evaluate an XPath expression on the XML on stdin
# (e.g. 'string(/dirsync/connection[@name="ldap"]/@state)').
harness_xpath() {
	local xml
	xml=$(cat)
	[[ -n $xml ]] || return 1
	xmllint --xpath "$1" - <<<"$xml" 2>/dev/null
}

# harness_status_get EXPR [-s SOCKET] - ask for status and evaluate EXPR.
harness_status_get() {
	local expr=$1
	shift
	harness_status "$@" | harness_xpath "$expr"
}

# harness_status_validate [-s SOCKET] [COMMAND] - the reply validates
# against schema/status.xsd (xmllint prints why not).
harness_status_validate() {
	local f
	f=$(mktemp "$HARNESS_DIR/status-XXXXXX.xml")
	harness_status "$@" >"$f" || true
	xmllint --noout --schema "$top_srcdir/schema/status.xsd" "$f"
}

# Shorthands for the usual questions.
harness_conn_state() {
	harness_status_get "string(/dirsync/connection[@name=\"$1\"]/@state)" "${@:2}"
}
harness_schema_state() {
	harness_status_get 'string(/dirsync/schema/@state)' "$@"
}

# harness_sock_client SOCKET DATA [MAX_MS]
# A raw Unix-socket client for abuse tests, in Perl (perl-base is always
# installed on Debian): connects, writes DATA as is (no newline added;
# "" sends nothing), then reads without writing more until the daemon
# closes the connection or MAX_MS (default 10000) pass.  Prints the reply
# on stdout and "closed-after-ms=N" (or "still-open") on stderr.
harness_sock_client() {
	perl -e '
		use strict; use warnings;
		use IO::Socket::UNIX; use IO::Select; use Time::HiRes qw(time);
		my ($path, $data, $max) = @ARGV;
		$max ||= 10000;
		my $t0 = time;
		my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path)
		    or die "connect $path: $!\n";
		$SIG{PIPE} = "IGNORE";
		syswrite($s, $data) if length $data;
		my $sel = IO::Select->new($s);
		my $reply = "";
		while (1) {
			my $left = $max / 1000 - (time - $t0);
			if ($left <= 0) { print STDERR "still-open\n"; last; }
			next unless $sel->can_read($left);
			my $n = sysread($s, my $buf, 65536);
			if (!$n) {   # 0 = EOF, undef = reset: closed either way
				printf STDERR "closed-after-ms=%d\n", (time - $t0) * 1000;
				last;
			}
			$reply .= $buf;
		}
		print $reply;
	' "$1" "$2" "${3:-10000}"
}

# Line count of a log, to look only at what comes after: see harness_log_since.
harness_log_mark() {
	local f=${1:-$DIRSYNCD_LOG}
	if [[ -f $f ]]; then wc -l <"$f"; else echo 0; fi
}
# harness_log_since MARK [LOG] - the lines written after the mark.
harness_log_since() { tail -n "+$(($1 + 1))" "${2:-$DIRSYNCD_LOG}"; }

# ---------------------------------------------------------------------------
# Directory mirror (the mirror_*.sh tests and tests/bench/bench-sync.sh)
#
#   config      harness_write_mirror_config [--file F] [--socket S] [LINES]
#   sync state  harness_sync_xml, harness_sync_attr NAME, harness_sync_phase,
#               harness_sync_wait_phase PHASE SECS, harness_sync_wait SECS,
#               harness_sync_validate, harness_sync_confirm_deletes
#               (all take [-s SOCKET] last)
#   directory   harness_ldif (change records on stdin), harness_ldap_value
#               DN ATTR, harness_ldap_uuid DN, harness_mirror_compare ARGS,
#               harness_ldap_filter_escape VALUE, harness_ldap_delete_refint
#               DN..., _harness_ldif_dns (DNs of LDIF on stdin)
#   database    pg_sql_vars SQL NAME=VALUE..., harness_pg_poll MS EXPECTED SQL,
#               harness_listen_start CHANNEL SECS, harness_listen_result
#               (-> HARNESS_LISTEN_NOTES)
#   daemon      harness_kill9_dirsyncd, harness_vmhwm_kb PID

# harness_write_mirror_config [--file F] [--socket S] [LINE...]
# harness_write_config with a [mirror] section for the harness slapd:
# profile openldap, mode syncrepl, base $LDAP_BASE.  Extra lines add or
# override keys ('[mirror]' 'user_filter = (...)', '[attributes]' ...).
harness_write_mirror_config() {
	local opts=()
	while [[ ${1:-} == --file || ${1:-} == --socket ]]; do
		opts+=("$1" "$2")
		shift 2
	done
	harness_write_config "${opts[@]}" '[mirror]' 'profile = openldap' \
	    'mode = syncrepl' "base = $LDAP_BASE" "$@"
}

# The attributes of <sync> in `dirsyncctl sync --xml`, by the names the
# tests use: the one place to edit when the protocol renames one.
_harness_sync_attr_name() {
	case $1 in
	dangling) echo dangling-managers ;;
	last_change) echo last-change ;;
	cookie_age) echo cookie-age ;;
	*) echo "$1" ;;  # mode phase server users groups memberships guard
	esac
}

# harness_sync_xml [-s SOCKET] - the reply of `dirsyncctl sync --xml`.
harness_sync_xml() {
	local sock=${HARNESS_STATUS_SOCKET:-$HARNESS_DIR/status.sock}
	[[ ${1:-} == -s ]] && sock=$2
	"$DIRSYNCCTL" -s "$sock" sync --xml
}

# harness_sync_attr NAME [-s SOCKET] - one attribute of the sync element
# (phase, mode, server, users, groups, memberships, dangling,
# last_change, cookie_age, guard); empty when absent.
harness_sync_attr() {
	local name
	name=$(_harness_sync_attr_name "$1")
	shift
	harness_sync_xml "$@" | harness_xpath "string(/dirsync/sync/@$name)"
}
harness_sync_phase() { harness_sync_attr phase "$@"; }

# harness_sync_last_error [-s SOCKET] - text of sync/last-error, if any.
harness_sync_last_error() {
	harness_sync_xml "$@" | harness_xpath 'string(/dirsync/sync/last-error)'
}

_harness_sync_phase_is() {
	local want=$1
	shift
	[[ $(harness_sync_phase "$@") == "$want" ]]
}

# harness_sync_wait_phase PHASE SECS [-s SOCKET] - poll (every 0.1 s)
# until the mirror is in PHASE; 1 on timeout, with the last reply.
harness_sync_wait_phase() {
	local phase=$1 secs=$2
	shift 2
	wait_for "sync phase $phase" "$secs" _harness_sync_phase_is "$phase" "$@" &&
	    return 0
	harness_log "last sync reply: $(harness_sync_xml "$@" 2>&1 | tr '\n' ' ')"
	return 1
}

# harness_sync_wait SECS [-s SOCKET] - `dirsyncctl sync --wait=SECS`:
# progress lines on stdout, exit 0 once the mirror is in persist, 1 when
# SECS pass first.
harness_sync_wait() {
	local secs=$1 sock=${HARNESS_STATUS_SOCKET:-$HARNESS_DIR/status.sock}
	[[ ${2:-} == -s ]] && sock=$3
	"$DIRSYNCCTL" -s "$sock" sync --wait="$secs"
}

# harness_sync_validate [-s SOCKET] - `dirsyncctl sync --xml` validates
# against schema/status.xsd (xmllint prints why not).
harness_sync_validate() {
	local f
	f=$(mktemp "$HARNESS_DIR/sync-XXXXXX.xml")
	harness_sync_xml "$@" >"$f" || true
	xmllint --noout --schema "$top_srcdir/schema/status.xsd" "$f"
}

# harness_sync_confirm_deletes [-s SOCKET] - release a tripped delete guard.
harness_sync_confirm_deletes() {
	local sock=${HARNESS_STATUS_SOCKET:-$HARNESS_DIR/status.sock}
	[[ ${1:-} == -s ]] && sock=$2
	"$DIRSYNCCTL" -s "$sock" sync --confirm-deletes
}

# harness_ldif - apply the LDIF change records on stdin as admin
# (ldapmodify; add/modify/modrdn/delete records).  Errors go to stderr.
harness_ldif() {
	ldapmodify -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" \
	    -y "$LDAP_ADMIN_PW_FILE" >/dev/null
}

# harness_ldap_value DN ATTR - the first value of ATTR of the entry DN,
# base64 decoded, without a trailing newline added; empty when absent.
# ATTR may be "dn": the DN exactly as the server returns it.
harness_ldap_value() {
	local dn=$1 attr=$2 line
	line=$(harness_ldapsearch -s base -b "$dn" '(objectClass=*)' "$attr" |
	    LC_ALL=C awk -v a="$attr" 'BEGIN { a = tolower(a) }
		{ p = index($0, ":"); n = tolower(substr($0, 1, p - 1)) }
		n == a { print substr($0, p + 1); exit }')
	case $line in
	:*) line=${line#:}; printf '%s' "${line# }" | base64 -d ;;
	*) printf '%s' "${line# }" ;;
	esac
}
harness_ldap_uuid() { harness_ldap_value "$1" entryUUID; }

# harness_mirror_compare [ARGS] - tests/harness/mirror-compare against
# the harness slapd (as admin) and PostgreSQL (as superuser).  At most 12
# differing lines by default, so that t_check shows them with the summary.
harness_mirror_compare() {
	"$HARNESS_LIB_DIR/mirror-compare" -H "$LDAP_URI" -b "$LDAP_BASE" \
	    -D "$LDAP_ADMIN_DN" -y "$LDAP_ADMIN_PW_FILE" \
	    -d "host=$PG_SOCKDIR port=$PG_PORT user=postgres dbname=${PG_DATABASE:-dirsync}" \
	    --max-diff 12 "$@"
}

# pg_sql_vars SQL NAME=VALUE... - like pg_sql, with psql variables, so
# any value goes in safely as :'NAME' (a literal) or :"NAME" (a name).
pg_sql_vars() {
	local sql=$1 a args=()
	shift
	for a; do args+=(-v "$a"); done
	printf '%s\n' "$sql" | _pg_psql dirsync -At "${args[@]}"
}

# harness_pg_poll LIMIT_MS EXPECTED SQL - run SQL (pg_sql) until it
# prints EXPECTED, for at most LIMIT_MS.  Sets HARNESS_POLL_MS (time
# until it matched, or the limit) and HARNESS_POLL_VALUE (last output).
# shellcheck disable=SC2034  # results for the caller
harness_pg_poll() {
	local limit=$1 want=$2 sql=$3 t0 now
	t0=$(harness_now_ms)
	while :; do
		HARNESS_POLL_VALUE=$(pg_sql "$sql" 2>&1) || true
		now=$(harness_now_ms)
		HARNESS_POLL_MS=$((now - t0))
		[[ $HARNESS_POLL_VALUE == "$want" ]] && return 0
		((HARNESS_POLL_MS < limit)) || return 1
		sleep 0.02
	done
}

# harness_listen_start CHANNEL SECONDS - a psql in the background LISTENs
# on CHANNEL for SECONDS; returns once it is listening.  Then make the
# change and call harness_listen_result (directly, not in $(...): it
# waits for its child), which sets HARNESS_LISTEN_NOTES to the
# notifications that psql got, one "Asynchronous notification ..." line
# each.  (Each -c is its own transaction: notifications that arrive
# during pg_sleep are printed after the next command.)
harness_listen_start() {
	local chan=$1 secs=$2
	HARNESS_LISTEN_OUT=$(mktemp "$HARNESS_DIR/listen-XXXXXX.out")
	HARNESS_LISTEN_APP=harness-listen-$$-$RANDOM
	PGAPPNAME=$HARNESS_LISTEN_APP _pg_psql dirsync -c "LISTEN $chan" \
	    -c "SELECT pg_sleep($secs)" -c "SELECT 1" \
	    >"$HARNESS_LISTEN_OUT" 2>&1 &
	HARNESS_LISTEN_PID=$!
	wait_for "psql listening on $chan" 10 _harness_listening
}
_harness_listening() {
	[[ $(pg_sql "SELECT count(*) FROM pg_stat_activity
	    WHERE application_name = '$HARNESS_LISTEN_APP'
	      AND query LIKE '%pg_sleep%' AND state = 'active'") == 1 ]]
}
# shellcheck disable=SC2034  # result for the caller
harness_listen_result() {
	wait "$HARNESS_LISTEN_PID" || true
	HARNESS_LISTEN_NOTES=$(grep '^Asynchronous notification' \
	    "$HARNESS_LISTEN_OUT" || true)
}

# harness_kill9_dirsyncd [PID] - SIGKILL (a crash), reap it, and remove
# the status socket it leaves behind, so that harness_start_dirsyncd
# waits for the next daemon's socket, not the dead one's.
harness_kill9_dirsyncd() {
	local pid=${1:-${DIRSYNCD_PID:-}}
	[[ -n $pid ]] || return 0
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	[[ -z ${HARNESS_STATUS_SOCKET:-} ]] || rm -f "$HARNESS_STATUS_SOCKET"
	[[ $pid != "${DIRSYNCD_PID:-}" ]] || DIRSYNCD_PID=
	return 0
}

# harness_vmhwm_kb PID - peak resident set size (VmHWM) in KiB.
harness_vmhwm_kb() {
	awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status" 2>/dev/null
}

# harness_ldap_filter_escape VALUE - VALUE as an RFC 4515 assertion value.
harness_ldap_filter_escape() {
	local v=$1
	v=${v//\\/\\5c}
	v=${v//\*/\\2a}
	v=${v//(/\\28}
	v=${v//)/\\29}
	printf '%s' "$v"
}

# harness_ldap_delete_refint DN... - delete entries the way the refint
# overlay would leave the directory: each DN is first removed from every
# group that lists it as a member, then deleted (one ldapmodify run).
# Manager values that name it are left dangling on purpose.
harness_ldap_delete_refint() {
	local ldif
	# Built whole first, so the changes reach the server in one burst.
	ldif=$(_harness_refint_ldif "$@")
	printf '%s\n' "$ldif" | harness_ldif
}

# _harness_refint_ldif DN... - the LDIF of harness_ldap_delete_refint.
_harness_refint_ldif() {
	local dn f group
	for dn; do
		f=$(harness_ldap_filter_escape "$dn")
		while IFS= read -r group; do
			[[ -n $group ]] || continue
			printf 'dn:: %s\nchangetype: modify\ndelete: member\nmember:: %s\n\n' \
			    "$(printf '%s' "$group" | base64 -w0)" \
			    "$(printf '%s' "$dn" | base64 -w0)"
		done < <(harness_ldapsearch -b "$LDAP_BASE" "(member=$f)" 1.1 |
		    _harness_ldif_dns)
		printf 'dn:: %s\nchangetype: delete\n\n' \
		    "$(printf '%s' "$dn" | base64 -w0)"
	done
}

# The DNs in LDIF on stdin, one a line, base64 decoded.
_harness_ldif_dns() {
	local line
	while IFS= read -r line; do
		case $line in
		'dn:: '*) printf '%s\n' "${line#dn:: }" | base64 -d; echo ;;
		'dn: '*) printf '%s\n' "${line#dn: }" ;;
		esac
	done
}

. "$HARNESS_LIB_DIR/samba.sh"  # Samba AD DC for the AD tests: harness_start_samba, samba_ldapsearch, ...
