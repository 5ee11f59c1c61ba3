#!/usr/bin/env bash
# mirror_389ds.sh - the mirror against 389 Directory Server (profile
# 389ds): RFC 4533 through the Content Synchronization plug-in.  The
# initial sync of a generated directory equals the directory entry by
# entry, and ids are nsUniqueId's bits (the Sync State control's UUID),
# not the entryUUID attribute; dirsyncd killed with SIGKILL during the
# initial sync and restarted ends equal; add, modify, modrdn (also to
# another subtree), member add and remove, an entry leaving the user
# filter, group and user deletes reach PostgreSQL within a second;
# changes made while dirsyncd is stopped are picked up from the stored
# cookie; 389-ds restarted (cleanly, and after SIGKILL) during persist is
# caught up; mode auto chooses syncrepl and says why.  Then mode usn
# (entryUSN above the lastusn of the suffix's backend): the same ids, so
# switching keeps every row; live changes within poll_interval + 1 s;
# deletions with the full reconcile (389-ds shows nsTombstone entries to
# its root DN only, and the log says so), or, bound as cn=Directory
# Manager, with the next poll; quiet polls report nothing, even with
# another backend whose USN counter lags.  Last, the Content
# Synchronization plug-in off: mode syncrepl fails with "Critical
# extension is unavailable (12)", mode auto falls to usn and says why.
# shellcheck disable=SC2119,SC2317  # helpers called indirectly, optional args
# make check may run this with /bin/sh: switch to bash first.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/../.. source=tests/harness/lib.sh
. "${top_srcdir:-$(dirname "$0")/../..}/tests/harness/lib.sh"
# shellcheck source=tests/harness/testlib.sh
. "$top_srcdir/tests/harness/testlib.sh"
# shellcheck source=tests/harness/389ds.sh
. "$top_srcdir/tests/harness/389ds.sh"

# PostgreSQL and the clients; slapd is not needed here.
if ! _pg_bindir >/dev/null || ! command -v psql >/dev/null 2>&1 ||
    ! command -v xmllint >/dev/null 2>&1 || ! command -v ldapmodify >/dev/null 2>&1; then
	harness_log "skipping: not installed: postgresql, psql, xmllint or ldap-utils (run scripts/deps)"
	exit 77
fi
harness_need_dirsyncd
harness_need_389ds
harness_init

T0=$(harness_now_ms)
USERS=${MIRROR_389DS_USERS:-2000}
# How soon a change must be in PostgreSQL after the LDAP operation returns.
LIMIT_MS=${MIRROR_LATENCY_LIMIT_MS:-1000}
# After an outage: reconnect (backoff_max = 1s), then catch up.
CATCH_UP_MS=15000
POLL_S=1

harness_prepare_389ds
PEOPLE=ou=people,$LDAP_BASE
GROUP_OU=ou=groups,$LDAP_BASE
# Users with employeeType=gone leave the mirror.
USER_FILTER='(&(objectClass=inetOrgPerson)(!(employeeType=gone)))'

# Helpers that never stop the test (set -e) when the daemon misbehaves.
q() { pg_sql "$1" 2>&1 || true; }
sync_attr() { harness_sync_attr "$@" 2>/dev/null || true; }
compare() { harness_mirror_compare_389ds --user-filter "$USER_FILTER" "$@"; }
id_of() { q "SELECT id FROM dir_user WHERE uid = '$1'"; }
users() { q 'SELECT count(*) FROM dir_user'; }

# visible NAME EXPECTED SQL [LIMIT_MS] - SQL prints EXPECTED in time.
visible() {
	local limit=${4:-$LIMIT_MS}
	if harness_pg_poll "$limit" "$2" "$3"; then
		t_pass "$1 (${HARNESS_POLL_MS} ms)"
	else
		t_fail "$1" "not within $limit ms: $3" \
		    "expected: '$2'" "actual:   '$HARNESS_POLL_VALUE'"
	fi
}

# flat GROUP - the uids of the users in GROUP, nested groups flattened
# (flat_sql: the query).
flat_sql() {
	printf '%s' "SELECT coalesce(string_agg(u.uid, ',' ORDER BY u.uid), '')
	   FROM dir_group_member_flat f
	   JOIN dir_group g ON g.id = f.group_id
	   JOIN dir_user u ON u.id = f.user_id
	   WHERE g.name = '$1'"
}
flat() { q "$(flat_sql "$1")"; }

# person UID [LINE...] - an inetOrgPerson add record under ou=people.
person() {
	local uid=$1
	shift
	printf 'dn: uid=%s,%s\nchangetype: add\nobjectClass: inetOrgPerson\n' "$uid" "$PEOPLE"
	printf 'uid: %s\ncn: %s\nsn: %s\nmail: %s@example.com\nemployeeType: regular\n' \
	    "$uid" "Test ${uid#*.}" "${uid#*.}" "$uid"
	(($# == 0)) || printf '%s\n' "$@"
	echo
}

no_duplicates() {
	t_eq "$1: no duplicate user DNs" 0 \
	    "$(q 'SELECT count(*) - count(DISTINCT dn_norm) FROM dir_user')"
	t_eq "$1: one sync state row" 1 "$(q 'SELECT count(*) FROM dir_sync_state')"
}

# ---- the directory: loaded offline, then the servers ------------------------------

# USERS people in an 8-level manager tree, USERS/50 groups (some nested),
# the awkward names of gen-directory (389-ds takes them as they are).
"$top_srcdir/tests/harness/gen-directory" --users "$USERS" \
    --groups $((USERS / 50)) --no-base >"$HARNESS_DIR/directory.ldif"
t=$(harness_now_ms)
harness_389ds_import "$HARNESS_DIR/directory.ldif"
IMPORT_MS=$(($(harness_now_ms) - t))
harness_start_389ds
harness_start_pg
harness_log "389-ds: import of $USERS users ${IMPORT_MS} ms, start ${HARNESS_389DS_START_MS} ms"

# Nested groups of our own, added online: top > mid > leaf.
{
	for u in a b c d; do person "nest.$u"; done
	cat <<-EOF
	dn: cn=nest-leaf,$GROUP_OU
	changetype: add
	objectClass: groupOfNames
	cn: nest-leaf
	member: uid=nest.c,$PEOPLE
	member: uid=nest.d,$PEOPLE

	dn: cn=nest-mid,$GROUP_OU
	changetype: add
	objectClass: groupOfNames
	cn: nest-mid
	member: cn=nest-leaf,$GROUP_OU
	member: uid=nest.b,$PEOPLE

	dn: cn=nest-top,$GROUP_OU
	changetype: add
	objectClass: groupOfNames
	cn: nest-top
	description: top of the nest
	member: cn=nest-mid,$GROUP_OU
	member: uid=nest.a,$PEOPLE

	EOF
} | harness_ldif

# ---- SIGKILL during the initial sync ------------------------------------------------

# Small batches: many staged transactions, so the kill lands inside the
# refresh.
harness_write_mirror_config_389ds '[mirror]' "user_filter = $USER_FILTER" \
    'batch_size = 50'
in_refresh_with() {
	local n
	[[ $(sync_attr phase) == refresh ]] || return 1
	n=$(sync_attr entries)
	[[ $n =~ ^[0-9]+$ ]] && ((n >= $1))
}
harness_start_dirsyncd
if wait_for "refresh with 200 entries" 30 in_refresh_with 200; then
	n=$(sync_attr entries)
	harness_kill9_dirsyncd
	t_pass "SIGKILL during the initial sync ($n entries read)"
else
	t_fail "SIGKILL during the initial sync" "no refresh with 200 entries read seen" \
	    "phase '$(sync_attr phase)', entries '$(sync_attr entries)'"
	harness_kill9_dirsyncd
fi
harness_start_dirsyncd
sleep 0.2
harness_kill9_dirsyncd
t_pass "SIGKILL 0.2 s after a start"

harness_write_mirror_config_389ds '[mirror]' "user_filter = $USER_FILTER"
harness_start_dirsyncd
rc=0
out=$(harness_sync_wait 60 2>&1) || rc=$?
t_eq "dirsyncctl sync --wait returns 0 at the end of the initial sync" 0 "$rc"
[[ $rc == 0 ]] || printf '%s\n' "$out" | tail -n 5 | sed 's/^/#   | /'
t_check "initial sync reaches persist" harness_sync_wait_phase persist 30
t_check "initial sync after the kills: the mirror equals the directory" compare --flat
no_duplicates "initial sync"
t_eq "every user mirrored" $((USERS + 4)) "$(users)"
# shellcheck disable=SC2016  # expands in the child shell
t_check "the log has no duplicate-key errors" \
    bash -c '! grep -qi "duplicate key" "$1"' _ "$DIRSYNCD_LOG"

# ---- the sync status and the ids ------------------------------------------------------

t_check "sync --xml validates against status.xsd" harness_sync_validate
t_eq "status: mode" syncrepl "$(sync_attr mode)"
t_match "status: server in use" "^${LDAP_URI}/?\$" "$(sync_attr server)"
# The counts are refreshed in the background (every 2 s at most), so a
# status read right after a restart may not have them yet.
counts_match() {
	[[ $(sync_attr users) == "$(users)" &&
	    $(sync_attr groups) == "$(q 'SELECT count(*) FROM dir_group')" ]]
}
t_check "status: users and groups = rows of dir_user and dir_group" \
    wait_for "the status counts" 10 counts_match
t_eq "dir_sync_state: method syncrepl and a 389-ds cookie (host:port#bind DN:base:filter#number)" \
    "syncrepl|t" \
    "$(q "SELECT method, convert_from(cookie, 'UTF8') ~ '^[^#]+#cn=dirsync,ou=services,dc=example,dc=com:dc=example,dc=com:.*#[0-9]+\$'
          FROM dir_sync_state")"
jsmith_dn="cn=Smith\\, John,$PEOPLE"
t_eq "ids are nsUniqueId's bits as UUID text" "$(ds389_uuid_of "$jsmith_dn")" \
    "$(id_of jsmith)"
t_eq "ids are UUIDs in lower case" 0 \
    "$(q "SELECT count(*) FROM dir_user
          WHERE id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\$'")"
managed=$(harness_ldapsearch -b "$PEOPLE" '(manager=*)' 1.1 | grep -c '^dn:' || true)
t_eq "manager links: one manager_id per user with a manager" "$managed" \
    "$(q 'SELECT count(manager_id) FROM dir_user')"
t_eq "nested: top = its users and those of mid and leaf" \
    "nest.a,nest.b,nest.c,nest.d" "$(flat nest-top)"

# ---- live changes ---------------------------------------------------------------------

root=$(id_of anna.schmidt)   # gen-directory's root of the manager tree
person live.one "manager: uid=anna.schmidt,$PEOPLE" "givenName: Live" | harness_ldif
visible "add: the new user is mirrored" 1 \
    "SELECT count(*) FROM dir_user WHERE uid = 'live.one'"
live=$(ds389_uuid_of "uid=live.one,$PEOPLE")
t_eq "add: id is the Sync State UUID (nsUniqueId)" "$live" "$(id_of live.one)"
entry_uuid=$(harness_ldap_value "uid=live.one,$PEOPLE" entryUUID)
t_check "add: the entryUUID attribute is another value (not the id)" \
    test -n "$entry_uuid" -a "$entry_uuid" != "$live"
t_eq "add: every mapped attribute" \
    "uid=live.one,$PEOPLE|Test one|live.one@example.com|Live|one|regular|uid=anna.schmidt,$PEOPLE|$root" \
    "$(q "SELECT dn, full_name, email, given_name, surname, user_type, manager_dn, manager_id
          FROM dir_user WHERE id = '$live'")"

harness_ldif <<-EOF
dn: uid=live.one,$PEOPLE
changetype: modify
replace: mail
mail: live.one@new.example.com
EOF
visible "modify: the new mail" live.one@new.example.com \
    "SELECT email FROM dir_user WHERE id = '$live'"

harness_ldif <<-EOF
dn: uid=live.one,$PEOPLE
changetype: modrdn
newrdn: uid=live.renamed
deleteoldrdn: 1
EOF
visible "modrdn: same id, new DN and login" "uid=live.renamed,$PEOPLE|live.renamed" \
    "SELECT dn, uid FROM dir_user WHERE id = '$live'"

harness_ldif <<-EOF
dn: ou=contractors,$LDAP_BASE
changetype: add
objectClass: organizationalUnit
ou: contractors

dn: uid=live.renamed,$PEOPLE
changetype: modrdn
newrdn: uid=live.renamed
deleteoldrdn: 1
newsuperior: ou=contractors,$LDAP_BASE
EOF
LIVE_DN=uid=live.renamed,ou=contractors,$LDAP_BASE
visible "modrdn with a new superior: same id, new DN" "$LIVE_DN" \
    "SELECT dn FROM dir_user WHERE id = '$live'"

harness_ldif <<-EOF
dn: cn=nest-leaf,$GROUP_OU
changetype: modify
add: member
member: $LIVE_DN
EOF
visible "group member add: direct member row" 1 \
    "SELECT count(*) FROM dir_group_member m JOIN dir_group g ON g.id = m.group_id
     WHERE g.name = 'nest-leaf' AND m.member_user_id = '$live'"
t_eq "group member add: nested membership follows" \
    "live.renamed,nest.a,nest.b,nest.c,nest.d" "$(flat nest-top)"

harness_ldif <<-EOF
dn: cn=nest-leaf,$GROUP_OU
changetype: modify
delete: member
member: $LIVE_DN
EOF
visible "group member remove: the row is gone" 0 \
    "SELECT count(*) FROM dir_group_member m JOIN dir_group g ON g.id = m.group_id
     WHERE g.name = 'nest-leaf' AND m.member_user_id = '$live'"

# Leaving the filter is a delete for the mirror; coming back, an add.
harness_ldif <<-EOF
dn: $LIVE_DN
changetype: modify
replace: employeeType
employeeType: gone
EOF
visible "leaving the user filter: the row is deleted" 0 \
    "SELECT count(*) FROM dir_user WHERE id = '$live'"
harness_ldif <<-EOF
dn: $LIVE_DN
changetype: modify
replace: employeeType
employeeType: regular
EOF
visible "back in the user filter: mirrored again, same id" "$LIVE_DN" \
    "SELECT dn FROM dir_user WHERE id = '$live'"

harness_ldif <<-EOF
dn: cn=live-group,$GROUP_OU
changetype: add
objectClass: groupOfNames
cn: live-group
member: $LIVE_DN
EOF
visible "group add: with its member" 1 \
    "SELECT count(*) FROM dir_group_member m JOIN dir_group g ON g.id = m.group_id
     WHERE g.name = 'live-group' AND m.member_user_id = '$live'"
printf 'dn: cn=live-group,%s\nchangetype: delete\n' "$GROUP_OU" | harness_ldif
visible "group delete: the group and its member rows are gone" "0|0" \
    "SELECT (SELECT count(*) FROM dir_group WHERE name = 'live-group') || '|' ||
            (SELECT count(*) FROM dir_group_member WHERE member_user_id = '$live')"

harness_ldap_delete_refint "$LIVE_DN"
visible "user delete: the row is gone" 0 "SELECT count(*) FROM dir_user WHERE id = '$live'"
t_check "after the live changes: the mirror equals the directory" compare --flat

# ---- stopped: changes are picked up from the stored cookie -------------------------

cookie_before=$(q "SELECT encode(cookie, 'hex') FROM dir_sync_state")
nest_d=$(id_of nest.d)
harness_stop_dirsyncd
t_eq "SIGTERM in persist: exit status 0" 0 "$HARNESS_STOP_RC"

person off.new | harness_ldif
harness_ldif <<-EOF
dn: uid=nest.b,$PEOPLE
changetype: modify
replace: mail
mail: nest.b@offline.example.com

dn: uid=nest.d,$PEOPLE
changetype: modrdn
newrdn: uid=nest.d2
deleteoldrdn: 1

dn: cn=nest-leaf,$GROUP_OU
changetype: modify
delete: member
member: uid=nest.d,$PEOPLE
-
add: member
member: uid=nest.d2,$PEOPLE

dn: cn=nest-top,$GROUP_OU
changetype: modify
delete: member
member: uid=nest.a,$PEOPLE
EOF
harness_ldap_delete_refint "uid=nest.c,$PEOPLE"

mark=$(harness_log_mark)
harness_start_dirsyncd
t_check "restart: back in persist" harness_sync_wait_phase persist 30
t_grep "restart: the log says it resumes with the stored cookie" \
    'resume=yes' "$(harness_log_since "$mark")"
t_eq "restart: the add made while stopped" 1 \
    "$(q "SELECT count(*) FROM dir_user WHERE uid = 'off.new'")"
t_eq "restart: the modify made while stopped" nest.b@offline.example.com \
    "$(q "SELECT email FROM dir_user WHERE uid = 'nest.b'")"
t_eq "restart: the rename made while stopped (same id)" "$nest_d" "$(id_of nest.d2)"
t_eq "restart: the delete made while stopped" 0 \
    "$(q "SELECT count(*) FROM dir_user WHERE uid = 'nest.c'")"
t_eq "restart: the member changes made while stopped" "nest.b,nest.d2" "$(flat nest-top)"
t_check "restart: the mirror equals the directory" compare --flat
t_check "restart: a new cookie is stored" \
    test "$(q "SELECT encode(cookie, 'hex') FROM dir_sync_state")" != "$cookie_before"

# ---- 389-ds restarted during persist ------------------------------------------------

# restarted HOW - stop 389-ds (clean shutdown, or SIGKILL), start it
# again, change things around it: all of it arrives.
restarted() {
	local how=$1 tag=$2
	if [[ $how == SIGKILL ]]; then
		harness_stop_389ds --kill
	else
		harness_stop_389ds
	fi
	t_check "389-ds down ($how): the daemon keeps running" kill -0 "$DIRSYNCD_PID"
	t_check "389-ds down ($how): the sync status answers and validates" harness_sync_validate
	harness_start_389ds_again
	person "$tag.back" | harness_ldif
	harness_ldif <<-EOF
	dn: uid=nest.b,$PEOPLE
	changetype: modify
	replace: mail
	mail: nest.b@$tag.example.com
	EOF
	visible "389-ds back ($how): the add arrives" 1 \
	    "SELECT count(*) FROM dir_user WHERE uid = '$tag.back'" "$CATCH_UP_MS"
	visible "389-ds back ($how): the modify arrives" "nest.b@$tag.example.com" \
	    "SELECT email FROM dir_user WHERE uid = 'nest.b'" "$CATCH_UP_MS"
	t_check "389-ds back ($how): back in persist" harness_sync_wait_phase persist 15
	person "$tag.later" | harness_ldif
	visible "389-ds back ($how): live changes within a second again" 1 \
	    "SELECT count(*) FROM dir_user WHERE uid = '$tag.later'"
}
restarted "clean shutdown" clean
restarted SIGKILL crashed
t_check "after the restarts: the mirror equals the directory" compare --flat

# ---- mode auto: syncrepl, and why -------------------------------------------------

harness_stop_dirsyncd
harness_write_mirror_config_389ds '[mirror]' "user_filter = $USER_FILTER" 'mode = auto'
mark=$(harness_log_mark)
harness_start_dirsyncd
t_check "auto: back in persist" harness_sync_wait_phase persist 30
t_eq "auto: syncrepl chosen" syncrepl "$(sync_attr mode)"
t_match "auto: the status says why" '4203\.1\.9\.1\.1.*RFC 4533' \
    "$(harness_sync_xml | harness_xpath 'string(/dirsync/sync/@mode-reason)')"
t_grep "auto: the log says which and why" 'source=syncrepl chosen: supportedControl' \
    "$(harness_log_since "$mark")"
t_grep "auto: resumed with the stored cookie" 'resume=yes' "$(harness_log_since "$mark")"

# ---- mode usn: entryUSN polling ------------------------------------------------------

# Another suffix, in a backend of its own whose USN counter stays low:
# the mark must follow the counter of the backend holding the base, not
# the smallest one (lastusn;otherroot), or every poll reads everything
# again.  (The retro changelog is such a backend too.)
harness_ldif <<-EOF
dn: cn=otherroot,cn=ldbm database,cn=plugins,cn=config
changetype: add
objectClass: top
objectClass: extensibleObject
objectClass: nsBackendInstance
cn: otherroot
nsslapd-suffix: o=other

dn: cn="o=other",cn=mapping tree,cn=config
changetype: add
objectClass: top
objectClass: extensibleObject
objectClass: nsMappingTree
cn: o=other
nsslapd-state: backend
nsslapd-backend: otherroot

dn: o=other
changetype: add
objectClass: organization
o: other
EOF

harness_stop_dirsyncd
ids_before=$(q "SELECT md5(string_agg(id, ',' ORDER BY id)) FROM dir_user")
RECONCILE_S=4
harness_write_mirror_config_389ds '[mirror]' "user_filter = $USER_FILTER" 'mode = usn' \
    "poll_interval = ${POLL_S}s" "reconcile_interval = ${RECONCILE_S}s"
mark=$(harness_log_mark)
harness_start_dirsyncd
t_check "usn: persist after the full refresh" harness_sync_wait_phase persist 30
t_eq "usn: status mode" usn "$(sync_attr mode)"
t_grep "usn: the syncrepl cookie is not used" 'cookie discarded|resume=no' \
    "$(harness_log_since "$mark")"
t_eq "usn: the same ids as syncrepl (every row kept)" "$ids_before" \
    "$(q "SELECT md5(string_agg(id, ',' ORDER BY id)) FROM dir_user")"
t_check "usn: the mirror equals the directory" compare --flat
t_eq "usn: dir_sync_state method usn, a usn: mark" "usn|usn:" \
    "$(q "SELECT method || '|' || substr(convert_from(cookie, 'UTF8'), 1, 4) FROM dir_sync_state")"

USN_MS=$(((POLL_S + 1) * 1000))
person usn.one | harness_ldif
visible "usn: add" 1 "SELECT count(*) FROM dir_user WHERE uid = 'usn.one'" "$USN_MS"
usn_one=$(ds389_uuid_of "uid=usn.one,$PEOPLE")
t_eq "usn: the id is nsUniqueId's too" "$usn_one" "$(id_of usn.one)"
harness_ldif <<-EOF
dn: uid=usn.one,$PEOPLE
changetype: modify
replace: mail
mail: usn.one@new.example.com

dn: cn=nest-top,$GROUP_OU
changetype: modify
add: member
member: uid=usn.one,$PEOPLE
EOF
visible "usn: modify" usn.one@new.example.com \
    "SELECT email FROM dir_user WHERE id = '$usn_one'" "$USN_MS"
visible "usn: member add" "nest.b,nest.d2,usn.one" "$(flat_sql nest-top)" "$USN_MS"
harness_ldif <<-EOF
dn: uid=usn.one,$PEOPLE
changetype: modrdn
newrdn: uid=usn.renamed
deleteoldrdn: 1
EOF
visible "usn: modrdn (same id)" "uid=usn.renamed,$PEOPLE" \
    "SELECT dn FROM dir_user WHERE id = '$usn_one'" "$USN_MS"
# 389-ds shows nsTombstone entries to cn=Directory Manager only: the
# service account sees a deletion at the next full reconcile.
harness_ldap_delete_refint "uid=usn.renamed,$PEOPLE"
visible "usn: delete, found by the reconcile (no tombstones for the service account)" 0 \
    "SELECT count(*) FROM dir_user WHERE id = '$usn_one'" $(((RECONCILE_S + POLL_S + 2) * 1000))
t_grep "usn: the log says why deletions wait for the reconcile" \
    'nsTombstone entries to its root DN only' "$(harness_log_since "$mark")"
t_check "usn: the mirror equals the directory" compare --flat

# As cn=Directory Manager the tombstones are visible: a deletion arrives
# with the next poll.  (Another bind identity: the stored mark is
# discarded and a full refresh follows.)
harness_stop_dirsyncd
harness_write_mirror_config_389ds '[ldap]' "bind_dn = $LDAP_ADMIN_DN" \
    "bind_password_file = $LDAP_ADMIN_PW_FILE" \
    '[mirror]' "user_filter = $USER_FILTER" 'mode = usn' \
    "poll_interval = ${POLL_S}s" 'reconcile_interval = 1h'
harness_start_dirsyncd
t_check "usn as root DN: persist" harness_sync_wait_phase persist 30
person usn.two | harness_ldif
visible "usn as root DN: add" 1 "SELECT count(*) FROM dir_user WHERE uid = 'usn.two'" "$USN_MS"
harness_ldap_delete_refint "uid=usn.two,$PEOPLE"
visible "usn as root DN: delete, seen as an nsTombstone entry" 0 \
    "SELECT count(*) FROM dir_user WHERE uid = 'usn.two'" "$USN_MS"
t_check "usn as root DN: the mirror equals the directory" compare --flat
# Quiet: nothing changes, nothing is reported again (two polls).
sleep "$POLL_S.5"
before=$(sync_attr entries)
sleep $((POLL_S * 2))
t_eq "usn: quiet polls report nothing again (the mark is the suffix's own lastusn)" \
    "$before" "$(sync_attr entries)"

# ---- without the Content Synchronization plug-in ----------------------------------

# Off (it takes effect at the next start): mode syncrepl is refused with
# the error the README names; mode auto falls to usn and says why.
harness_stop_dirsyncd
harness_ldif <<-EOF
dn: cn=Content Synchronization,cn=plugins,cn=config
changetype: modify
replace: nsslapd-pluginEnabled
nsslapd-pluginEnabled: off
EOF
harness_stop_389ds --kill
harness_start_389ds_again
harness_write_mirror_config_389ds '[mirror]' "user_filter = $USER_FILTER"
mark=$(harness_log_mark)
harness_start_dirsyncd
no_syncrepl() { harness_log_since "$mark" | grep -q 'sync search ended: .*(12)'; }
t_check "no plug-in, mode syncrepl: 'Critical extension is unavailable (12)'" \
    wait_for "the sync search refused" 10 no_syncrepl
harness_stop_dirsyncd
harness_write_mirror_config_389ds '[mirror]' "user_filter = $USER_FILTER" 'mode = auto' \
    "poll_interval = ${POLL_S}s"
mark=$(harness_log_mark)
harness_start_dirsyncd
t_check "no plug-in, mode auto: persist" harness_sync_wait_phase persist 30
t_eq "no plug-in, mode auto: usn chosen" usn "$(sync_attr mode)"
t_grep "no plug-in, mode auto: the log says why" \
    'source=usn chosen: no RFC 4533 or DirSync control; the root DSE has lastusn' \
    "$(harness_log_since "$mark")"
person auto.usn | harness_ldif
visible "no plug-in, mode auto: a change arrives by polling" 1 \
    "SELECT count(*) FROM dir_user WHERE uid = 'auto.usn'" "$USN_MS"

harness_stop_dirsyncd
t_eq "final SIGTERM: exit status 0" 0 "$HARNESS_STOP_RC"
harness_log "mirror_389ds: $(($(harness_now_ms) - T0)) ms (389-ds start ${HARNESS_389DS_START_MS} ms)"
t_done
