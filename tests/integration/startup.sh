#!/usr/bin/env bash
# startup.sh - dirsyncd's first minutes: -V and -t, start-up against real
# slapd and PostgreSQL, the schema migration (once, even with two daemons
# racing, and never onto a newer database), SIGTERM, and a status socket
# that survives misbehaving clients.
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
harness_write_config

# ---- command line: -V, -t -------------------------------------------------

version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' \
    "$top_builddir/config.h" 2>/dev/null || true)
out=$("$DIRSYNCD" -V 2>&1) || true
t_match "-V prints the version" "^dirsyncd ${version:-[0-9]+\.[0-9]+}" "$out"

rc=0
out=$("$DIRSYNCD" -t -c "$conf" 2>&1) || rc=$?
t_eq "-t on a valid config exits 0" 0 "$rc"
t_eq "-t on a valid config says so" "$conf: configuration OK" "$out"

# A file with one mistake of each kind; every one must be reported as
# FILE:LINE: message, not just the first.
bad=$HARNESS_DIR/bad.conf
cat >"$bad" <<EOF
[log]
level = loud
colour = yes

[ldap]
bind_dn = $LDAP_SERVICE_DN
bind_password_file = $LDAP_SERVICE_PW_FILE

[postgresql]
password_file = $PG_PASSWORD_FILE

[bogus]
key = value

[retry]
backoff_min = soon
EOF
rc=0
out=$("$DIRSYNCD" -t -c "$bad" 2>&1) || rc=$?
t_eq "-t on a broken config exits 1" 1 "$rc"
t_grep "bad value reported at its line" "^$bad:2: .*level" "$out"
t_grep "unknown key reported at its line" "^$bad:3: .*colour" "$out"
t_grep "unknown section reported at its line" "^$bad:12: .*bogus" "$out"
t_grep "bad duration reported at its line" "^$bad:16: .*backoff_min" "$out"
t_grep "missing ldap uri reported" "^$bad:[0-9]+: .*uri" "$out"
t_grep "missing conninfo reported" "^$bad:[0-9]+: .*conninfo" "$out"
bad_lines=$(grep -cvE "^$bad:[0-9]+: " <<<"$out" || true)
t_eq "every line of -t output is FILE:LINE: message" 0 "$bad_lines"
t_check "-t does not claim OK on errors" bash -c "! grep -q 'configuration OK' <<<\"\$1\"" _ "$out"

# A malformed mirror filter is caught by -t, at its line, not by the
# server on every retry.
harness_write_config --file "$HARNESS_DIR/filter.conf" \
    '[mirror]' 'user_filter = (&(objectClass=inetOrgPerson)(uid=a*)'
rc=0
out=$("$DIRSYNCD" -t -c "$HARNESS_DIR/filter.conf" 2>&1) || rc=$?
t_eq "unbalanced user_filter refused" 1 "$rc"
t_grep "the refusal names file, line and option" \
    "^$HARNESS_DIR/filter.conf:[0-9]+: mirror.user_filter: unbalanced parentheses" "$out"
harness_write_config --file "$HARNESS_DIR/filter2.conf" \
    '[mirror]' 'group_filter = (cn=a\zz)'
rc=0
out=$("$DIRSYNCD" -t -c "$HARNESS_DIR/filter2.conf" 2>&1) || rc=$?
t_eq "bad escape in group_filter refused" 1 "$rc"
t_grep "the escape error names the option" "mirror.group_filter: .*two hex digits" "$out"
harness_write_config --file "$HARNESS_DIR/filter3.conf" \
    '[mirror]' 'user_filter = objectClass=person' 'group_filter = (cn=a\2a)'
t_check "a bare filter and a valid escape are accepted" \
    "$DIRSYNCD" -t -c "$HARNESS_DIR/filter3.conf"

# A secret readable by others is refused, naming the file.
loose=$HARNESS_DIR/loose.pw
cp "$LDAP_SERVICE_PW_FILE" "$loose"
chmod 0644 "$loose"
harness_write_config --file "$HARNESS_DIR/loose.conf" \
    '[ldap]' "bind_password_file = $loose"
rc=0
out=$("$DIRSYNCD" -t -c "$HARNESS_DIR/loose.conf" 2>&1) || rc=$?
t_eq "mode 0644 password file refused" 1 "$rc"
t_grep "the refusal names the file" "^$HARNESS_DIR/loose.conf:[0-9]+: .*$loose" "$out"

# ---- start-up ---------------------------------------------------------------

is_ready() { [[ $(harness_conn_state "$1" "${@:2}") == ready ]]; }
schema_is() { [[ $(harness_schema_state "${@:2}") == "$1" ]]; }

harness_start_dirsyncd
t_check "ldap connection ready" wait_for "ldap ready" 20 is_ready ldap
t_check "postgresql connection ready" wait_for "postgresql ready" 20 is_ready postgresql
t_check "schema migrated" wait_for "schema done" 20 schema_is 'done'

xml=$(harness_status)
printf '%s\n' "$xml" >"$HARNESS_DIR/status.xml"
t_check "status validates against status.xsd" \
    xmllint --noout --schema "$top_srcdir/schema/status.xsd" "$HARNESS_DIR/status.xml"
schema_version=$(harness_xpath 'string(/dirsync/schema/@version)' <<<"$xml")
binary_version=$(harness_xpath 'string(/dirsync/schema/@binary-version)' <<<"$xml")
applied=$(harness_xpath 'string(/dirsync/schema/@applied)' <<<"$xml")
t_match "schema version is at least 1" '^[1-9][0-9]*$' "$schema_version"
t_eq "database at the binary's version" "$binary_version" "$schema_version"
t_eq "first start applied every migration" "$schema_version" "$applied"
t_eq "daemon pid in status" "$DIRSYNCD_PID" \
    "$(harness_xpath 'string(/dirsync/daemon/@pid)' <<<"$xml")"
t_eq "config path in status" "$conf" \
    "$(harness_xpath 'string(/dirsync/config/@path)' <<<"$xml")"

rows=$(pg_sql 'SELECT count(*) FROM schema_version')
t_eq "schema_version has one row per migration" "$schema_version" "$rows"
before=$(pg_sql "SELECT string_agg(version || '@' || applied_at, ',' ORDER BY version) FROM schema_version")

# ---- status socket: unknown command, oversized and silent clients -----------

reply=$(harness_status frobnicate || true)
t_eq "unknown command gets an error element" unknown-command \
    "$(harness_xpath 'string(/dirsync/error/@code)' <<<"$reply")"
printf '%s\n' "$reply" >"$HARNESS_DIR/error.xml"
t_check "error document validates" \
    xmllint --noout --schema "$top_srcdir/schema/status.xsd" "$HARNESS_DIR/error.xml"

# More than 4 KiB without a newline: cut off at once (well before the
# client timeout of 2 s), and the next client is served.
big=$(head -c 5000 /dev/zero | tr '\0' x)
closed=$(harness_sock_client "$HARNESS_STATUS_SOCKET" "$big" 5000 2>&1 >/dev/null)
t_match "oversized request cut off" '^closed-after-ms=' "$closed"
ms=${closed#closed-after-ms=}
[[ $ms =~ ^[0-9]+$ ]] || ms=99999
t_check "oversized request cut off before the client timeout ($ms ms)" test "$ms" -lt 1500
t_check "daemon answers after an oversized request" is_ready ldap

# A client that says nothing is cut off after client_timeout (2 s); others
# are answered meanwhile.
harness_sock_client "$HARNESS_STATUS_SOCKET" "" 8000 \
    >/dev/null 2>"$HARNESS_DIR/idle.out" &
idle_pid=$!
sleep 0.3
t0=$(harness_now_ms)
t_check "status answered while a client idles" is_ready postgresql
t_check "answered promptly while a client idles" \
    test $(($(harness_now_ms) - t0)) -lt 1000
wait "$idle_pid" || true
idle=$(cat "$HARNESS_DIR/idle.out")
ms=${idle#closed-after-ms=}
[[ $ms =~ ^[0-9]+$ ]] || ms=-1
t_check "idle client cut off after the client timeout ($idle)" \
    test "$ms" -ge 1500 -a "$ms" -le 4500

# ---- SIGTERM ----------------------------------------------------------------

harness_stop_dirsyncd
t_eq "SIGTERM: exit status 0" 0 "$HARNESS_STOP_RC"
t_check "SIGTERM: stopped within 5 s (${HARNESS_STOP_MS} ms)" \
    test "$HARNESS_STOP_MS" -lt 5000

# ---- second start: nothing to migrate ---------------------------------------

mark=$(harness_log_mark)
harness_start_dirsyncd
t_check "second start: schema done" wait_for "schema done" 20 schema_is 'done'
t_eq "second start applied nothing" 0 "$(harness_status_get 'string(/dirsync/schema/@applied)')"
after=$(pg_sql "SELECT string_agg(version || '@' || applied_at, ',' ORDER BY version) FROM schema_version")
t_eq "schema_version rows untouched" "$before" "$after"
t_grep "log says the schema is up to date" "up to date" \
    "$(harness_log_since "$mark")"
harness_stop_dirsyncd

# ---- two daemons racing on a fresh database ---------------------------------

harness_pg_create_db dirsync_twin
twin_conninfo="\"host=$PG_HOST port=$PG_PORT dbname=dirsync_twin user=$PG_USER\""
for n in 1 2; do
	harness_write_config --file "$HARNESS_DIR/twin$n.conf" \
	    --socket "$HARNESS_DIR/twin$n.sock" \
	    '[postgresql]' "conninfo = $twin_conninfo"
done
harness_spawn_dirsyncd "$HARNESS_DIR/twin1.conf" "$HARNESS_DIR/dirsyncd-twin1.log"
twin1=$HARNESS_LAST_PID
harness_spawn_dirsyncd "$HARNESS_DIR/twin2.conf" "$HARNESS_DIR/dirsyncd-twin2.log"
twin2=$HARNESS_LAST_PID
harness_wait_dirsyncd "$twin1" "$HARNESS_DIR/twin1.sock" "$HARNESS_DIR/dirsyncd-twin1.log"
harness_wait_dirsyncd "$twin2" "$HARNESS_DIR/twin2.sock" "$HARNESS_DIR/dirsyncd-twin2.log"
for n in 1 2; do
	t_check "twin $n: schema done" wait_for "twin $n schema done" 20 \
	    schema_is 'done' -s "$HARNESS_DIR/twin$n.sock"
done
a1=$(harness_status_get 'string(/dirsync/schema/@applied)' -s "$HARNESS_DIR/twin1.sock")
a2=$(harness_status_get 'string(/dirsync/schema/@applied)' -s "$HARNESS_DIR/twin2.sock")
twin_rows=$(pg_sql 'SELECT count(*) FROM schema_version' dirsync_twin)
t_eq "twins: schema_version complete" "$binary_version" "$twin_rows"
t_eq "twins: migrations applied once in total ($a1 + $a2)" "$twin_rows" $((a1 + a2))
t_check "twins: one daemon did all the work ($a1, $a2)" \
    test "$a1" -eq 0 -o "$a2" -eq 0
harness_stop_dirsyncd "$twin1"
harness_stop_dirsyncd "$twin2"

# ---- a database newer than the binary ---------------------------------------

# Copy the newest row with version 999, whatever the other columns are.
pg_sql "INSERT INTO schema_version SELECT (jsonb_populate_record(s, '{\"version\": 999}')).*
    FROM schema_version s ORDER BY version DESC LIMIT 1" dirsync_twin >/dev/null
DIRSYNCD_LOG=$HARNESS_DIR/dirsyncd-too-new.log
mark=$(harness_log_mark)
DIRSYNCD_CONF=$HARNESS_DIR/twin1.conf harness_start_dirsyncd
t_check "newer database: schema state too-new" \
    wait_for "schema too-new" 10 schema_is 'too-new'
t_check "newer database: status validates" harness_status_validate
t_check "newer database: error logged" \
    wait_for "the too-new error in the log" 5 \
    grep -q 'newer than this dirsyncd' "$DIRSYNCD_LOG"
t_eq "newer database: left alone" 1 \
    "$(pg_sql 'SELECT count(*) FROM schema_version WHERE version = 999' dirsync_twin)"
harness_stop_dirsyncd
t_eq "newer database: daemon still stops cleanly" 0 "$HARNESS_STOP_RC"

# ---- a database that is not UTF8 --------------------------------------------

# SQL_ASCII is what initdb gives a cluster under the C locale: nothing
# written there would be checked or converted.  Refused before anything
# is created, with what to do.
harness_pg_create_db dirsync_ascii "ENCODING 'SQL_ASCII' TEMPLATE template0"
harness_write_config --file "$HARNESS_DIR/ascii.conf" \
    '[postgresql]' "conninfo = \"host=$PG_HOST port=$PG_PORT dbname=dirsync_ascii user=$PG_USER\""
DIRSYNCD_LOG=$HARNESS_DIR/dirsyncd-ascii.log
DIRSYNCD_CONF=$HARNESS_DIR/ascii.conf harness_start_dirsyncd
t_check "SQL_ASCII database: schema state failed" \
    wait_for "schema failed" 10 schema_is 'failed'
t_check "SQL_ASCII database: the log says why and what to do" \
    wait_for "the encoding error in the log" 5 \
    grep -q "the database's encoding is SQL_ASCII; dirsync needs UTF8 (CREATE DATABASE ... ENCODING 'UTF8'" "$DIRSYNCD_LOG"
t_check "SQL_ASCII database: status validates" harness_status_validate
t_eq "SQL_ASCII database: nothing created" "" \
    "$(pg_sql "SELECT to_regclass('schema_version')" dirsync_ascii)"
harness_stop_dirsyncd
t_eq "SQL_ASCII database: daemon still stops cleanly" 0 "$HARNESS_STOP_RC"

t_done
