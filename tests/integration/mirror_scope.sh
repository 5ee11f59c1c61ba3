#!/usr/bin/env bash
# mirror_scope.sh - [mirror] user_base and group_base: only users under
# user_base and groups under group_base are mirrored, though the sync
# search covers all of base.  Contractors in ou=contractors and a group
# in ou=legacy are left out; a group's membership of a contractor and a
# user's contractor manager stay as DNs without a link; a user moved out
# of user_base leaves the mirror and comes back when moved back (same
# id); changes made while stopped are picked up the same way; dirsyncd -t
# rejects a subtree outside base, or one that is not a DN, naming the
# file and line.
# shellcheck disable=SC2119,SC2317  # helpers called indirectly, optional args
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

PEOPLE=ou=people,$LDAP_BASE
GROUP_OU=ou=groups,$LDAP_BASE
CONTRACTORS=ou=contractors,$LDAP_BASE
LEGACY=ou=legacy,$LDAP_BASE

q() { pg_sql "$1" 2>&1 || true; }
users() { q 'SELECT count(*) FROM dir_user'; }
has_uid() { q "SELECT count(*) FROM dir_user WHERE uid = '$1'"; }

person() {
	printf 'dn: uid=%s,%s\nchangetype: add\nobjectClass: inetOrgPerson\n' "$1" "$2"
	printf 'uid: %s\ncn: %s\nsn: %s\nmail: %s@example.com\n' "$1" "$1" "$1" "$1"
	[[ -z ${3:-} ]] || printf 'manager: %s\n' "$3"
	echo
}

"$top_srcdir/tests/harness/gen-directory" --users 40 --groups 4 --no-base \
    >"$HARNESS_DIR/directory.ldif"
harness_ldap_load "$HARNESS_DIR/directory.ldif"
first=$(harness_ldapsearch -b "$PEOPLE" '(objectClass=inetOrgPerson)' uid |
    sed -n 's/^uid: //p' | sed -n 1p)
{
	printf 'dn: %s\nchangetype: add\nobjectClass: organizationalUnit\nou: contractors\n\n' "$CONTRACTORS"
	printf 'dn: %s\nchangetype: add\nobjectClass: organizationalUnit\nou: legacy\n\n' "$LEGACY"
	person con.one "$CONTRACTORS"
	person con.two "$CONTRACTORS"
	person con.boss "$CONTRACTORS"
	person staff.one "$PEOPLE" "uid=con.boss,$CONTRACTORS"
	printf 'dn: cn=mixed,%s\nchangetype: add\nobjectClass: groupOfNames\ncn: mixed\n' "$GROUP_OU"
	printf 'member: uid=con.one,%s\nmember: uid=%s,%s\n\n' "$CONTRACTORS" "$first" "$PEOPLE"
	printf 'dn: cn=old,%s\nchangetype: add\nobjectClass: groupOfNames\ncn: old\n' "$LEGACY"
	printf 'member: uid=%s,%s\n\n' "$first" "$PEOPLE"
} | harness_ldif

want_users=$(harness_ldapsearch -b "$PEOPLE" '(objectClass=inetOrgPerson)' 1.1 |
    _harness_ldif_dns | grep -c .)
want_groups=$(harness_ldapsearch -b "$GROUP_OU" '(objectClass=groupOfNames)' 1.1 |
    _harness_ldif_dns | grep -c .)

# ---- -t: the subtrees are checked -------------------------------------------

bad=$HARNESS_DIR/bad.conf
harness_write_mirror_config --file "$bad" '[mirror]' "user_base = ou=people,dc=other,dc=org"
line=$(grep -n '^user_base' "$bad" | cut -d: -f1)
rc=0
out=$("$DIRSYNCD" -t -c "$bad" 2>&1) || rc=$?
t_eq "-t: user_base outside base exits 1" 1 "$rc"
t_grep "-t: ... naming file, line and both DNs" \
    "$bad:$line: mirror.user_base: \"ou=people,dc=other,dc=org\" is not inside mirror.base \"$LDAP_BASE\"" "$out"
harness_write_mirror_config --file "$bad" '[mirror]' "group_base = ou=groups+"
line=$(grep -n '^group_base' "$bad" | cut -d: -f1)
rc=0
out=$("$DIRSYNCD" -t -c "$bad" 2>&1) || rc=$?
t_eq "-t: a group_base that is not a DN exits 1" 1 "$rc"
t_grep "-t: ... naming file and line" "$bad:$line: mirror.group_base: not a DN" "$out"

# ---- initial sync ----------------------------------------------------------------

harness_write_mirror_config '[mirror]' "user_base = $PEOPLE" "group_base = $GROUP_OU"
rc=0
out=$("$DIRSYNCD" -t -c "$HARNESS_DIR/dirsync.conf" 2>&1) || rc=$?
t_eq "-t: subtrees inside base are accepted" 0 "$rc"
harness_start_dirsyncd
t_check "initial sync reaches persist" harness_sync_wait_phase persist 60
t_eq "only the users of user_base ($want_users)" "$want_users" "$(users)"
t_eq "only the groups of group_base ($want_groups)" "$want_groups" \
    "$(q 'SELECT count(*) FROM dir_group')"
t_eq "no contractor, no legacy group" "0|0" \
    "$(q "SELECT (SELECT count(*) FROM dir_user WHERE uid LIKE 'con.%') || '|' ||
                 (SELECT count(*) FROM dir_group WHERE name = 'old')")"
t_eq "a group's contractor member stays as a DN, unlinked" "1|" \
    "$(q "SELECT count(*) || '|' || coalesce(max(m.member_user_id), '')
          FROM dir_group_member m JOIN dir_group g ON g.id = m.group_id
          WHERE g.name = 'mixed' AND m.member_dn_norm LIKE 'uid=con.one,%'")"
t_eq "a contractor manager stays as a DN, unlinked" "uid=con.boss,$CONTRACTORS|" \
    "$(q "SELECT manager_dn || '|' || coalesce(manager_id, '') FROM dir_user
          WHERE uid = 'staff.one'")"
# The directory side of the comparison, scoped the same way (OpenLDAP's
# entryDN dnSubtreeMatch).
compare() {
	harness_mirror_compare --flat \
	    --user-filter "(&(objectClass=inetOrgPerson)(entryDN:dnSubtreeMatch:=$PEOPLE))" \
	    --group-filter "(&(objectClass=groupOfNames)(entryDN:dnSubtreeMatch:=$GROUP_OU))"
}
t_check "the mirror equals the scoped directory" compare

# ---- moves out of user_base and back ------------------------------------------------

uuid=$(harness_ldap_uuid "uid=staff.one,$PEOPLE")
printf 'dn: uid=staff.one,%s\nchangetype: modrdn\nnewrdn: uid=staff.one\ndeleteoldrdn: 1\nnewsuperior: %s\n\n' \
    "$PEOPLE" "$CONTRACTORS" | harness_ldif
t_check "moved to ou=contractors: gone from the mirror" \
    harness_pg_poll 1000 0 "SELECT count(*) FROM dir_user WHERE uid = 'staff.one'"
printf 'dn: uid=staff.one,%s\nchangetype: modrdn\nnewrdn: uid=staff.one\ndeleteoldrdn: 1\nnewsuperior: %s\n\n' \
    "$CONTRACTORS" "$PEOPLE" | harness_ldif
t_check "moved back: mirrored again" \
    harness_pg_poll 1000 1 "SELECT count(*) FROM dir_user WHERE uid = 'staff.one'"
t_eq "... under the same id" "$uuid" "$(q "SELECT id FROM dir_user WHERE uid = 'staff.one'")"

# ---- changes while stopped ----------------------------------------------------------

harness_stop_dirsyncd
{
	person late.staff "$PEOPLE"
	person late.con "$CONTRACTORS"
} | harness_ldif
harness_start_dirsyncd
t_check "restart: persist again" harness_sync_wait_phase persist 60
t_eq "restart: the new user of user_base is mirrored, the contractor is not" "1|0" \
    "$(has_uid late.staff)|$(has_uid late.con)"
t_check "restart: the mirror equals the scoped directory" compare

harness_stop_dirsyncd
t_eq "SIGTERM: exit status 0" 0 "$HARNESS_STOP_RC"
t_done
