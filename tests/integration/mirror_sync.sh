#!/usr/bin/env bash
# mirror_sync.sh - the directory mirror (issue 5) on the happy path: an
# initial sync equals the directory entry by entry (manager links and
# nested groups resolved); add, modify, modrdn, delete, group member
# add/remove and an entry leaving the user filter reach PostgreSQL within
# a second, each batch followed by NOTIFY dirsync_directory; the sync
# status document agrees with the tables; changes made while dirsyncd is
# stopped are picked up from the saved cookie.
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

# How soon a change must be in PostgreSQL after the LDAP operation returns.
LIMIT_MS=${MIRROR_LATENCY_LIMIT_MS:-1000}
PEOPLE=ou=people,$LDAP_BASE
GROUP_OU=ou=groups,$LDAP_BASE
# Users with employeeType=gone leave the mirror.
USER_FILTER='(&(objectClass=inetOrgPerson)(!(employeeType=gone)))'

# Helpers that never stop the test (set -e) when the daemon misbehaves.
q() { pg_sql "$1" 2>&1 || true; }
sync_attr() { harness_sync_attr "$@" 2>/dev/null || true; }
compare() { harness_mirror_compare --user-filter "$USER_FILTER" "$@"; }
id_of() { q "SELECT id FROM dir_user WHERE uid = '$1'"; }

# visible NAME EXPECTED SQL - SQL prints EXPECTED within LIMIT_MS.
visible() {
	if harness_pg_poll "$LIMIT_MS" "$2" "$3"; then
		t_pass "$1 (${HARNESS_POLL_MS} ms)"
	else
		t_fail "$1" "not within $LIMIT_MS ms: $3" \
		    "expected: '$2'" "actual:   '$HARNESS_POLL_VALUE'"
	fi
}

# flat GROUP - the uids of the users in GROUP, nested groups flattened.
flat() {
	q "SELECT coalesce(string_agg(u.uid, ',' ORDER BY u.uid), '')
	   FROM dir_group_member_flat f
	   JOIN dir_group g ON g.id = f.group_id
	   JOIN dir_user u ON u.id = f.user_id
	   WHERE g.name = '$1'"
}

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

# ---- the directory ------------------------------------------------------------

# 300 people in an 8-level manager tree, 30 groups (some nested), the
# awkward names of gen-directory.
"$top_srcdir/tests/harness/gen-directory" --users 300 --groups 30 --no-base \
    >"$HARNESS_DIR/directory.ldif"
harness_ldap_load "$HARNESS_DIR/directory.ldif"

# Nested groups of our own: top > mid > leaf, a cycle (cycle-a <-> cycle-b),
# and a group listing a DN that names no entry.
{
	for u in a b c d e f; do person "nest.$u"; done
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
	member: uid=nest.c,$PEOPLE

	dn: cn=cycle-a,$GROUP_OU
	changetype: add
	objectClass: groupOfNames
	cn: cycle-a
	member: cn=cycle-b,$GROUP_OU
	member: uid=nest.e,$PEOPLE

	dn: cn=cycle-b,$GROUP_OU
	changetype: add
	objectClass: groupOfNames
	cn: cycle-b
	member: cn=cycle-a,$GROUP_OU
	member: uid=nest.f,$PEOPLE

	dn: cn=nest-outside,$GROUP_OU
	changetype: add
	objectClass: groupOfNames
	cn: nest-outside
	member: uid=nobody,$PEOPLE
	member: cn=nest-leaf,$GROUP_OU

	EOF
} | harness_ldif

# ---- initial sync -------------------------------------------------------------

harness_write_mirror_config '[mirror]' "user_filter = $USER_FILTER"
harness_start_dirsyncd

rc=0
out=$(harness_sync_wait 120 2>&1) || rc=$?
t_eq "dirsyncctl sync --wait returns 0 at the end of the initial sync" 0 "$rc"
[[ $rc == 0 ]] || printf '%s\n' "$out" | tail -n 5 | sed 's/^/#   | /'
t_check "initial sync reaches persist" harness_sync_wait_phase persist 60

t_check "initial sync: the mirror equals the directory (nested membership too)" \
    compare --flat

managed=$(harness_ldapsearch -b "$PEOPLE" '(manager=*)' 1.1 | grep -c '^dn:' || true)
t_eq "manager links: one manager_id per user with a manager" "$managed" \
    "$(q 'SELECT count(manager_id) FROM dir_user')"
t_eq "manager links: every mirrored manager resolved" 0 \
    "$(q 'SELECT count(*) FROM dir_user u
          WHERE u.manager_id IS NULL
            AND u.manager_dn_norm IN (SELECT dn_norm FROM dir_user)')"
t_eq "manager links: manager_id is the row manager_dn names" 0 \
    "$(q 'SELECT count(*) FROM dir_user u JOIN dir_user m ON m.id = u.manager_id
          WHERE m.dn_norm <> u.manager_dn_norm')"
t_eq "plain DNs normalise to lower case" 0 \
    "$(q "SELECT count(*) FROM dir_user
          WHERE dn ~ '^[A-Za-z0-9=.,-]+\$' AND dn_norm <> lower(dn)")"
t_eq "ids are entryUUIDs in lower case" 0 \
    "$(q "SELECT count(*) FROM dir_user
          WHERE id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\$'")"

t_eq "nested: top = its users and those of mid and leaf" \
    "nest.a,nest.b,nest.c,nest.d" "$(flat nest-top)"
t_eq "nested: mid" "nest.b,nest.c,nest.d" "$(flat nest-mid)"
t_eq "nested: a cycle ends (cycle-a)" "nest.e,nest.f" "$(flat cycle-a)"
t_eq "nested: a cycle ends (cycle-b)" "nest.e,nest.f" "$(flat cycle-b)"
t_eq "nested: a member DN naming no entry is kept, unresolved" \
    "uid=nobody,$PEOPLE||" \
    "$(q "SELECT m.member_dn, m.member_user_id, m.member_group_id
          FROM dir_group_member m JOIN dir_group g ON g.id = m.group_id
          WHERE g.name = 'nest-outside' AND m.member_group_id IS NULL")"
t_eq "direct membership kept: nest-top lists 3 members" 3 \
    "$(q "SELECT count(*) FROM dir_group_member m JOIN dir_group g ON g.id = m.group_id
          WHERE g.name = 'nest-top'")"

# ---- the sync status document -----------------------------------------------

t_check "sync --xml validates against status.xsd" harness_sync_validate
t_eq "status: mode" syncrepl "$(sync_attr mode)"
t_eq "status: phase" persist "$(sync_attr phase)"
t_match "status: server in use" "^${LDAP_URI}/?\$" "$(sync_attr server)"
t_eq "status: users = rows of dir_user" "$(q 'SELECT count(*) FROM dir_user')" \
    "$(sync_attr users)"
t_eq "status: groups = rows of dir_group" "$(q 'SELECT count(*) FROM dir_group')" \
    "$(sync_attr groups)"
t_eq "status: memberships = rows of dir_group_member" \
    "$(q 'SELECT count(*) FROM dir_group_member')" "$(sync_attr memberships)"
t_eq "status: dangling managers" \
    "$(q 'SELECT count(*) FROM dir_user WHERE manager_dn IS NOT NULL AND manager_id IS NULL')" \
    "$(sync_attr dangling)"
t_eq "status: no delete guard" 0 "$(sync_attr guard)"
t_match "status: time of the last change" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' \
    "$(sync_attr last_change)"
t_match "status: cookie age in seconds" '^[0-9]+$' "$(sync_attr cookie_age)"
human=$("$DIRSYNCCTL" -s "$HARNESS_STATUS_SOCKET" sync 2>&1 || true)
t_grep "dirsyncctl sync (for people) names the phase" 'persist' "$human"
t_eq "dir_sync_state: one row, source default, method syncrepl, a cookie" \
    "default|syncrepl|t|t" \
    "$(q "SELECT source, method, cookie IS NOT NULL, server_id <> ''
          FROM dir_sync_state")"

# ---- live changes -------------------------------------------------------------

root=$(id_of anna.schmidt)   # gen-directory's root of the manager tree
second=$(id_of jsmith)

person live.one "manager: uid=anna.schmidt,$PEOPLE" "givenName: Live" | harness_ldif
visible "add: the new user is mirrored" 1 \
    "SELECT count(*) FROM dir_user WHERE uid = 'live.one'"
live=$(harness_ldap_uuid "uid=live.one,$PEOPLE")
t_eq "add: id is the entryUUID" "$live" "$(id_of live.one)"
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
changetype: modify
replace: manager
manager: cn=Smith\, John,$PEOPLE
EOF
visible "modify: a new manager is resolved" "$second" \
    "SELECT manager_id FROM dir_user WHERE id = '$live'"

harness_ldif <<-EOF
dn: uid=live.one,$PEOPLE
changetype: modrdn
newrdn: uid=live.renamed
deleteoldrdn: 1
EOF
visible "modrdn: same id, new DN and login" "uid=live.renamed,$PEOPLE|live.renamed" \
    "SELECT dn, uid FROM dir_user WHERE id = '$live'"
t_eq "modrdn: no row left under the old DN" 0 \
    "$(q "SELECT count(*) FROM dir_user WHERE dn_norm = 'uid=live.one,ou=people,dc=example,dc=com'")"

# A move to another subtree of the base is a rename too.
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
visible "modrdn with a new superior: same id, new DN" \
    "uid=live.renamed,ou=contractors,$LDAP_BASE" \
    "SELECT dn FROM dir_user WHERE id = '$live'"
LIVE_DN=uid=live.renamed,ou=contractors,$LDAP_BASE

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
t_eq "group member remove: nested membership follows" \
    "nest.a,nest.b,nest.c,nest.d" "$(flat nest-top)"

# Arrival order does not matter: a user whose manager comes later.
person live.report "manager: uid=live.boss,$PEOPLE" | harness_ldif
visible "manager added later: report mirrored, manager dangling" "uid=live.boss,$PEOPLE|" \
    "SELECT manager_dn, manager_id FROM dir_user WHERE uid = 'live.report'"
person live.boss | harness_ldif
visible "manager added later: link resolved when the manager arrives" 1 \
    "SELECT count(*) FROM dir_user r JOIN dir_user b ON b.id = r.manager_id
     WHERE r.uid = 'live.report' AND b.uid = 'live.boss'"

# Leaving the filter is a delete for the mirror; coming back, an add.
nest_e=$(id_of nest.e)
harness_ldif <<-EOF
dn: uid=live.boss,$PEOPLE
changetype: modify
replace: employeeType
employeeType: gone
EOF
visible "leaving the user filter: the row is deleted" 0 \
    "SELECT count(*) FROM dir_user WHERE uid = 'live.boss'"
t_eq "leaving the user filter: the report's manager link dangles" "uid=live.boss,$PEOPLE|" \
    "$(q "SELECT manager_dn, manager_id FROM dir_user WHERE uid = 'live.report'")"
harness_ldif <<-EOF
dn: uid=live.boss,$PEOPLE
changetype: modify
replace: employeeType
employeeType: regular
EOF
visible "back in the user filter: mirrored again, link resolved" 1 \
    "SELECT count(*) FROM dir_user r JOIN dir_user b ON b.id = r.manager_id
     WHERE r.uid = 'live.report' AND b.uid = 'live.boss'"

# A member who leaves the filter and comes back is a member again: the
# group lists the DN all along (no refint overlay rewrites it), and the
# mirror keeps direct members as the group lists them.
person live.member | harness_ldif
harness_ldif <<-EOF
dn: cn=live-group,$GROUP_OU
changetype: add
objectClass: groupOfNames
cn: live-group
member: uid=live.member,$PEOPLE
EOF
members_of_live_group="SELECT count(*) || '|' || count(m.member_user_id)
    FROM dir_group_member m JOIN dir_group g ON g.id = m.group_id
    WHERE g.name = 'live-group'"
visible "a new group with a member" "1|1" "$members_of_live_group"
harness_ldif <<-EOF
dn: uid=live.member,$PEOPLE
changetype: modify
replace: employeeType
employeeType: gone
EOF
visible "a member leaves the user filter" 0 \
    "SELECT count(*) FROM dir_user WHERE uid = 'live.member'"
t_eq "the group still lists the member's DN, unresolved" "1|0" \
    "$(q "$members_of_live_group")"
harness_ldif <<-EOF
dn: uid=live.member,$PEOPLE
changetype: modify
replace: employeeType
employeeType: regular
EOF
visible "back in the user filter: a member of the group again" "1|1" \
    "$members_of_live_group"
printf 'dn: cn=live-group,%s\nchangetype: delete\n' "$GROUP_OU" | harness_ldif
visible "group delete: its member rows go with it" "0|0" "$members_of_live_group"

harness_ldap_delete_refint "$LIVE_DN"
visible "delete: the row is gone" 0 "SELECT count(*) FROM dir_user WHERE id = '$live'"
t_eq "delete: other users untouched" "$nest_e" "$(id_of nest.e)"

t_check "after the live changes: the mirror equals the directory" compare --flat

# ---- NOTIFY dirsync_directory after a committed batch -----------------------

harness_listen_start dirsync_directory $(((LIMIT_MS + 999) / 1000 + 1))
harness_ldif <<-EOF
dn: uid=nest.a,$PEOPLE
changetype: modify
replace: mail
mail: nest.a@notify.example.com
EOF
harness_listen_result
t_grep "NOTIFY dirsync_directory follows a change" \
    '^Asynchronous notification "dirsync_directory"' "$HARNESS_LISTEN_NOTES"
t_eq "the notified change is committed" nest.a@notify.example.com \
    "$(q "SELECT email FROM dir_user WHERE uid = 'nest.a'")"

# ---- stopped: changes are picked up from the saved cookie -------------------

cookie_before=$(q "SELECT encode(cookie, 'hex') FROM dir_sync_state WHERE source = 'default'")
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
harness_ldap_delete_refint "uid=nest.f,$PEOPLE"

mark=$(harness_log_mark)
harness_start_dirsyncd
t_check "restart: back in persist" harness_sync_wait_phase persist 60
t_grep "restart: the log says it resumes with the saved cookie" \
    '[Rr]esum.*cookie' "$(harness_log_since "$mark")"
t_eq "restart: the add made while stopped" 1 \
    "$(q "SELECT count(*) FROM dir_user WHERE uid = 'off.new'")"
t_eq "restart: the modify made while stopped" nest.b@offline.example.com \
    "$(q "SELECT email FROM dir_user WHERE uid = 'nest.b'")"
t_eq "restart: the rename made while stopped (same id)" "$nest_d" "$(id_of nest.d2)"
t_eq "restart: the delete made while stopped" 0 \
    "$(q "SELECT count(*) FROM dir_user WHERE uid = 'nest.f'")"
t_eq "restart: the member removed while stopped" "nest.b,nest.c,nest.d2" "$(flat nest-top)"
t_check "restart: the mirror equals the directory" compare --flat
cookie_after=$(q "SELECT encode(cookie, 'hex') FROM dir_sync_state WHERE source = 'default'")
t_check "restart: a new cookie is stored" test "$cookie_after" != "$cookie_before"

# mode auto against a server with syncprov: syncrepl, saying why, and
# the same method, so the stored cookie is still good.
harness_stop_dirsyncd
harness_write_mirror_config '[mirror]' "user_filter = $USER_FILTER" 'mode = auto'
mark=$(harness_log_mark)
harness_start_dirsyncd
t_check "auto: back in persist" harness_sync_wait_phase persist 60
t_eq "auto: syncrepl chosen" syncrepl "$(sync_attr mode)"
t_match "auto: the status says why" 'syncrepl|4203\.1\.9\.1\.1|RFC 4533' \
    "$(sync_attr mode-reason)"
t_grep "auto: the log says which and why" 'source=syncrepl chosen' \
    "$(harness_log_since "$mark")"
t_grep "auto: resumed with the saved cookie" '[Rr]esum.*cookie' \
    "$(harness_log_since "$mark")"

harness_stop_dirsyncd
t_eq "final SIGTERM: exit status 0" 0 "$HARNESS_STOP_RC"
t_done
