#!/usr/bin/env bash
# mirror_ad_usn.sh - the `usn` change source (uSNChanged polling) against
# a Samba AD DC, with a bind account that has no DirSync right: a kill -9
# during the initial sync, then the mirror equals a paged ldapsearch
# entry by entry (objectGUID ids, DN, login, name, email, manager,
# disabled flag, memberships), including a 3,000-member group read in
# ranges of [mirror] range_size; add, modify, rename, move between OUs,
# disable, group member add and remove, delete (a tombstone read with
# the show-deleted control; the user also leaves its groups, which AD
# does without touching the groups' uSNChanged); changes made while
# dirsyncd was stopped; Samba stopped and restarted while polling; and
# mode auto with the same account ends on usn, saying why.
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
harness_need_samba
harness_start_pg
harness_start_samba

# Polls run every second: a change must be in PostgreSQL within this.
LIMIT_MS=${MIRROR_AD_LIMIT_MS:-5000}
USERS=${MIRROR_AD_USERS:-3000}
BIG=${MIRROR_AD_BIG:-3000}     # members of CN=big-group (at most USERS)
RANGE=1000                     # [mirror] range_size
PEOPLE=OU=people,$SAMBA_BASE
GROUPS_OU=OU=groups,$SAMBA_BASE
OTHER=OU=other,$SAMBA_BASE
USER_FILTER='(&(objectCategory=person)(objectClass=user))'
GROUP_FILTER='(objectClass=group)'

q() { pg_sql "$1" 2>&1 || true; }
sync_attr() { harness_sync_attr "$@" 2>/dev/null || true; }
visible() {
	local limit=${4:-$LIMIT_MS}
	if harness_pg_poll "$limit" "$2" "$3"; then
		t_pass "$1 (${HARNESS_POLL_MS} ms)"
		DELAYS+=("$HARNESS_POLL_MS")
	else
		t_fail "$1" "not within $limit ms: $3" \
		    "expected: '$2'" "actual:   '$HARNESS_POLL_VALUE'"
	fi
}
DELAYS=()
# log_wait NAME REGEX SECS [MARK] - pass when a line of the log (after
# MARK) matches within SECS: the daemon logs asynchronously.
_log_has() { harness_log_since "$2" | grep -qE -- "$1"; }
log_wait() {
	local name=$1 re=$2 secs=$3 mark=${4:-0}
	if wait_for "log: $re" "$secs" _log_has "$re" "$mark"; then
		t_pass "$name"
	else
		t_fail "$name" "no line of $DIRSYNCD_LOG matches within ${secs}s: $re"
	fi
}
ldif() { samba_ldapmodify; }
guid_of() { samba_guid_of "$1"; }
uac_of() {
	samba_ldapsearch --no-page -b "$1" -s base '(objectClass=*)' \
	    userAccountControl | sed -n 's/^userAccountControl: //p'
}
# The mirror against a paged ldapsearch as Administrator, entry by entry.
compare() { harness_mirror_compare_ad --max-diff 12 --flat "$@"; }
# grant_deleted_objects DN - let DN list and read CN=Deleted Objects
# (List Contents and Read Property), Microsoft's documented way to let an
# account that is not an administrator see tombstones; it gives no
# DirSync right.  Only SYSTEM may change that container's DACL, so this
# goes to sam.ldb directly (allowed while samba runs).
grant_deleted_objects() {
	local db=tdb://$SAMBA_DIR/private/sam.ldb del="CN=Deleted Objects,$SAMBA_BASE"
	local sid sd
	sid=$(ldbsearch -H "$db" -s base -b "$1" objectSid | sed -n 's/^objectSid: //p')
	# ldbsearch wraps long lines: join the continuations first.
	sd=$(ldbsearch -H "$db" --controls=show_deleted:1 -s base -b "$del" \
	    nTSecurityDescriptor | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n //g' |
	    sed -n 's/^nTSecurityDescriptor: //p')
	[[ -n $sid && $sd == *S:* ]] || return 1
	printf 'dn: %s\nchangetype: modify\nreplace: nTSecurityDescriptor\nnTSecurityDescriptor: %s\n' \
	    "$del" "${sd/S:/(A;;LCRP;;;$sid)S:}" |
	    ldbmodify -H "$db" --controls=show_deleted:1 >/dev/null
}

# ---- the directory ---------------------------------------------------------

t0=$(harness_now_ms)
"$top_srcdir/tests/harness/gen-directory-ad" --users "$USERS" --groups 40 \
    --big-group "$BIG" --base "$SAMBA_BASE" >"$HARNESS_DIR/ad.ldif"
harness_samba_load "$HARNESS_DIR/ad.ldif"
printf 'dn: %s\nobjectClass: organizationalUnit\n\n' "$OTHER" | samba_ldapadd
harness_log "loaded $USERS users into Samba in $(($(harness_now_ms) - t0)) ms"
PLAIN_DN=$(harness_samba_add_account svc-plain "$HARNESS_DIR/plain.pw" plain)

ad_config() {
	local mode=$1
	shift
	harness_write_config '[log]' 'level = debug' \
	    '[ldap]' "uri = $SAMBA_LDAPS_URI" "bind_dn = $PLAIN_DN" \
	    "bind_password_file = $HARNESS_DIR/plain.pw" \
	    "tls_ca_file = $SAMBA_CA" 'tls_verify = yes' \
	    '[mirror]' 'profile = ad' "mode = $mode" "base = $SAMBA_BASE" \
	    "user_filter = $USER_FILTER" "group_filter = $GROUP_FILTER" \
	    'poll_interval = 1s' 'reconcile_interval = 1h' 'page_size = 500' \
	    "range_size = $RANGE" "$@"
}
# No reconcile within the test: every change must come from the
# increments (uSNChanged) and tombstones.
ad_config usn

# ---- initial sync, killed once ------------------------------------------------

t0=$(harness_now_ms)
harness_start_dirsyncd
if harness_pg_poll 60000 t "SELECT (SELECT count(*) FROM dir_stage_user) +
        (SELECT count(*) FROM dir_user) > 0" &&
    [[ $(harness_sync_phase 2>/dev/null) == refresh ]]; then
	harness_kill9_dirsyncd
	t_pass "kill -9 during the initial sync ($(q 'SELECT count(*) FROM dir_stage_user') users staged)"
	mark=$(harness_log_mark)
	t0=$(harness_now_ms)
	harness_start_dirsyncd
	log_wait "the restart is a full refresh again" \
	    'polling started source=usn .*resume=no' 30 "$mark"
else
	t_pass "initial sync ended before it could be killed (nothing to check)"
fi
rc=0
harness_sync_wait 300 >/dev/null 2>&1 || rc=$?
INITIAL_MS=$(($(harness_now_ms) - t0))
t_eq "dirsyncctl sync --wait returns 0 at the end of the initial sync" 0 "$rc"
t_check "initial sync: the mirror equals a paged ldapsearch, entry by entry" compare
t_eq "the mode is usn" usn "$(sync_attr mode)"
t_grep "the log shows the usn source and the full refresh" \
    'full refresh done entries=' "$(cat "$DIRSYNCD_LOG")"
t_match "dir_sync_state: method usn, a usn: cookie naming the DC and a USN" \
    '^usn\|usn:CN=NTDS Settings,CN=DC1,CN=Servers,.*:[0-9]+$' \
    "$(q "SELECT method || '|' || convert_from(cookie, 'UTF8') FROM dir_sync_state")"
t_eq "the $BIG-member group is complete" "$BIG" \
    "$(q "SELECT count(*) FROM dir_group_member m JOIN dir_group g ON g.id = m.group_id WHERE g.name = 'big-group'")"
t_grep "... read in ranges of $RANGE values" \
    "reading range dn=\"CN=big-group,$GROUPS_OU\" attr=member;range=$RANGE-$((2 * RANGE - 1))" \
    "$(cat "$DIRSYNCD_LOG")"
t_match "disabled accounts are mirrored, marked disabled" '^[1-9][0-9]*$' \
    "$(q 'SELECT count(*) FROM dir_user WHERE disabled')"
# By default only administrators may list CN=Deleted Objects, and a
# search by anyone else finds nothing, without an error: the daemon
# must say so rather than lose deletions silently.
log_wait "the log says the plain account cannot see tombstones" \
    'warning: mirror the bind account cannot read "CN=Deleted Objects,DC=dirsync,DC=test" .*full reconcile only' 10

# ---- changes while polling ---------------------------------------------------

ldif <<EOF
dn: CN=Ulla Usn,$PEOPLE
changetype: add
objectClass: user
sAMAccountName: ulla.usn
displayName: Ulla Usn
mail: ulla@dirsync.test
givenName: Ulla
sn: Usn
manager: CN=Smith\, John,$PEOPLE
EOF
ULLA=$(guid_of "CN=Ulla Usn,$PEOPLE")
visible "add: a new user arrives, id = objectGUID" "ulla.usn|Ulla Usn|CN=Smith\\, John,$PEOPLE" \
    "SELECT uid || '|' || full_name || '|' || manager_dn FROM dir_user WHERE id = '$ULLA'"

ldif <<EOF
dn: CN=Ulla Usn,$PEOPLE
changetype: modify
replace: mail
mail: ulla.new@dirsync.test
EOF
visible "modify: the new mail arrives" "ulla.new@dirsync.test" \
    "SELECT email FROM dir_user WHERE id = '$ULLA'"

ldif <<EOF
dn: CN=Ulla Usn,$PEOPLE
changetype: modrdn
newrdn: CN=Ulla Renamed
deleteoldrdn: 1
EOF
visible "rename: same id, the DN follows" "CN=Ulla Renamed,$PEOPLE" \
    "SELECT dn FROM dir_user WHERE id = '$ULLA'"

ldif <<EOF
dn: CN=Ulla Renamed,$PEOPLE
changetype: modrdn
newrdn: CN=Ulla Renamed
deleteoldrdn: 1
newsuperior: $OTHER
EOF
ULLA_DN="CN=Ulla Renamed,$OTHER"
visible "move to another OU: same id, the DN follows" "$ULLA_DN" \
    "SELECT dn FROM dir_user WHERE id = '$ULLA'"

# A user added without userAccountControl is created disabled by AD;
# enable it first so that disabling is a change.
ldif <<EOF
dn: $ULLA_DN
changetype: modify
replace: userAccountControl
userAccountControl: 512
EOF
visible "enable (userAccountControl 512): disabled = false" "f" \
    "SELECT disabled FROM dir_user WHERE id = '$ULLA'"
ldif <<EOF
dn: $ULLA_DN
changetype: modify
replace: userAccountControl
userAccountControl: 514
EOF
visible "disable (userAccountControl 514): disabled = true, still mirrored" "t" \
    "SELECT disabled FROM dir_user WHERE id = '$ULLA'"
t_eq "the directory says 514 too" 514 "$(uac_of "$ULLA_DN")"

# Group member changes: a group of its own with two members.
ldif <<EOF
dn: CN=usn-team,$GROUPS_OU
changetype: add
objectClass: group
sAMAccountName: usn-team
member: $ULLA_DN
member: $PLAIN_DN
EOF
TEAM=$(guid_of "CN=usn-team,$GROUPS_OU")
PLAIN=$(guid_of "$PLAIN_DN")
expect=$(printf '%s\n' "$ULLA" "$PLAIN" | LC_ALL=C sort | paste -sd,)
visible "a new group arrives with its two members" "$expect" \
    "SELECT coalesce(string_agg(member_user_id, ',' ORDER BY member_user_id COLLATE \"C\"), '')
     FROM dir_group_member WHERE group_id = '$TEAM'"
ldif <<EOF
dn: CN=usn-team,$GROUPS_OU
changetype: modify
delete: member
member: $PLAIN_DN
EOF
visible "member remove reaches the mirror" "$ULLA" \
    "SELECT coalesce(string_agg(member_user_id, ','), '') FROM dir_group_member WHERE group_id = '$TEAM'"
BIG_ID=$(q "SELECT id FROM dir_group WHERE name = 'big-group'")
ldif <<EOF
dn: CN=big-group,$GROUPS_OU
changetype: modify
add: member
member: $ULLA_DN
EOF
visible "member add to the $BIG-member group: all $((BIG + 1)) members" "$((BIG + 1))" \
    "SELECT count(*) FROM dir_group_member WHERE group_id = '$BIG_ID'"
ldif <<EOF
dn: CN=big-group,$GROUPS_OU
changetype: modify
delete: member
member: CN=Smith\, John,$PEOPLE
EOF
visible "member remove from the big group" "$BIG|0" \
    "SELECT count(*) || '|' || count(*) FILTER (WHERE member_dn_norm LIKE 'cn=smith\\, john,%')
     FROM dir_group_member WHERE group_id = '$BIG_ID'"
t_check "after the changes: the mirror equals the directory" compare

# Delete: AD keeps a tombstone under CN=Deleted Objects (read with the
# show-deleted control), and removes the user from its groups without
# a change to the groups' uSNChanged.  The account may read tombstones
# from here on (still no DirSync right).
t_check "grant the plain account List Contents and Read Property on CN=Deleted Objects" \
    grant_deleted_objects "$PLAIN_DN"
ldif <<EOF
dn: CN=Mia Managed,$PEOPLE
changetype: add
objectClass: user
sAMAccountName: mia.managed
displayName: Mia Managed
manager: $ULLA_DN
EOF
MIA=$(guid_of "CN=Mia Managed,$PEOPLE")
visible "a user managed by the one to delete arrives" "$ULLA" \
    "SELECT manager_id FROM dir_user WHERE id = '$MIA'"
before=$(q "SELECT count(*) FROM dir_group_member WHERE member_user_id = '$ULLA'")
t_eq "the user to delete is in two groups" 2 "$before"
usn_team=$(samba_ldapsearch --no-page -b "CN=usn-team,$GROUPS_OU" -s base \
    '(objectClass=*)' uSNChanged | sed -n 's/^uSNChanged: //p')
mark=$(harness_log_mark)
ldif <<EOF
dn: $ULLA_DN
changetype: delete
EOF
visible "delete (tombstone): the user is gone" "0" \
    "SELECT count(*) FROM dir_user WHERE id = '$ULLA'"
t_grep "the delete came from the tombstone search, not a reconcile" \
    'poll done entries=[0-9]+ deleted=[1-9]' "$(harness_log_since "$mark")"
t_eq "AD did not change the group's uSNChanged" "$usn_team" \
    "$(samba_ldapsearch --no-page -b "CN=usn-team,$GROUPS_OU" -s base \
        '(objectClass=*)' uSNChanged | sed -n 's/^uSNChanged: //p')"
visible "delete: the user left every group (deletes_remove_memberships)" "0" \
    "SELECT count(*) FROM dir_group_member WHERE member_user_id = '$ULLA'
        OR member_dn_norm LIKE 'cn=ulla renamed,%'"
mia_mgr=$(samba_ldapsearch --no-page -b "CN=Mia Managed,$PEOPLE" -s base \
    '(objectClass=*)' manager | sed -n 's/^manager: //p')
visible "delete: the manager link of the deleted user's report follows AD (now '${mia_mgr:-none}')" \
    "${mia_mgr:-none}" "SELECT coalesce(manager_dn, 'none') FROM dir_user WHERE id = '$MIA'"
# AD drops that link without a change to the report's uSNChanged: a
# change of the report's own makes it arrive whatever the check above
# said, so the checks below see only their own scenario.
ldif <<EOF
dn: CN=Mia Managed,$PEOPLE
changetype: modify
replace: mail
mail: mia@dirsync.test
EOF
visible "a change to the report brings its current manager" "${mia_mgr:-none}|mia@dirsync.test" \
    "SELECT coalesce(manager_dn, 'none') || '|' || email FROM dir_user WHERE id = '$MIA'"
t_check "after the delete: the mirror equals the directory" compare

# ---- changes while dirsyncd is stopped ------------------------------------------

harness_stop_dirsyncd
ldif <<EOF
dn: CN=Otto Offline,$PEOPLE
changetype: add
objectClass: user
sAMAccountName: otto.offline
displayName: Otto Offline
mail: otto@dirsync.test

dn: CN=usn-team,$GROUPS_OU
changetype: modify
add: member
member: CN=Otto Offline,$PEOPLE

dn: CN=big-group,$GROUPS_OU
changetype: modify
add: member
member: CN=Otto Offline,$PEOPLE
EOF
mark=$(harness_log_mark)
harness_start_dirsyncd
OTTO=$(guid_of "CN=Otto Offline,$PEOPLE")
visible "changes made while stopped arrive after the restart" "otto.offline" \
    "SELECT uid FROM dir_user WHERE id = '$OTTO'"
visible "... including the memberships" "1|1" \
    "SELECT (SELECT count(*) FROM dir_group_member WHERE group_id = '$TEAM' AND member_user_id = '$OTTO')
     || '|' || (SELECT count(*) FROM dir_group_member WHERE group_id = '$BIG_ID' AND member_user_id = '$OTTO')"
log_wait "the restart resumed from the stored mark" 'polling started source=usn .*resume=yes' \
    10 "$mark"
t_check "after the restart: the mirror equals the directory" compare

# ---- Samba stopped and restarted while polling -----------------------------------

harness_stop_samba
sleep 3
harness_start_samba_again
ldif <<EOF
dn: CN=Otto Offline,$PEOPLE
changetype: modify
replace: mail
mail: otto.back@dirsync.test
EOF
visible "after Samba's restart the polls go on" "otto.back@dirsync.test" \
    "SELECT email FROM dir_user WHERE id = '$OTTO'" 30000
t_check "dirsyncd survived the Samba restart" kill -0 "$DIRSYNCD_PID"
t_check "after the Samba restart: the mirror equals the directory" compare

# ---- mode auto with the same account: DirSync refused, usn -------------------------

harness_stop_dirsyncd
ad_config auto
mark=$(harness_log_mark)
harness_start_dirsyncd
t_check "mode auto settles in persist" harness_sync_wait_phase persist 300
t_eq "mode auto with a plain account ends on usn" usn "$(sync_attr mode)"
since=$(harness_log_since "$mark")
t_grep "the log says DirSync was refused and why" \
    'source=dirsync refused: .*LDAP error 50' "$since"
t_grep "the log says usn was chosen and why" \
    'mirror source=usn chosen: DirSync is not allowed for the bind account; the root DSE has highestCommittedUSN' "$since"
ldif <<EOF
dn: CN=Otto Offline,$PEOPLE
changetype: modify
replace: mail
mail: otto.auto@dirsync.test
EOF
visible "mode auto: changes arrive" "otto.auto@dirsync.test" \
    "SELECT email FROM dir_user WHERE id = '$OTTO'"
t_check "mode auto: the mirror equals the directory" compare

harness_stop_dirsyncd
t_eq "SIGTERM while polling: exit status 0" 0 "$HARNESS_STOP_RC"

sorted=$(printf '%s\n' "${DELAYS[@]}" | sort -n)
harness_log "measurements: $USERS users + $(q 'SELECT count(*) FROM dir_group') groups," \
    "initial sync ${INITIAL_MS} ms (start to persist, after the kill);" \
    "change to mirror: median $(awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }' <<<"$sorted") ms," \
    "max $(tail -n 1 <<<"$sorted") ms over ${#DELAYS[@]} changes"
t_done
