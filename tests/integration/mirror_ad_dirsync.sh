#!/usr/bin/env bash
# mirror_ad_dirsync.sh - the directory mirror against a Samba AD DC with
# mode=dirsync (AD's DirSync control) and a bind account holding
# "Replicating Directory Changes": a kill -9 during the first pass (a
# bulk load: the mirror stays empty, the restart starts over), then the
# first pass equals a paged ldapsearch entry by entry (users, groups,
# memberships, disabled flags; a 3,000-member group); add, modify,
# rename, move between OUs, disable, leaving the user filter, group
# member add/remove (sent as deltas: the 3,000-member group is not read
# again); delete, which Samba never reports to this account, found by
# the periodic full reconcile (the user also leaves its groups); changes
# made while dirsyncd was stopped; Samba stopped and restarted while
# polling; with an Administrator bind the delete arrives through DirSync
# itself (a tombstone) before any reconcile; and mode=auto with a plain
# account falls back to USN polling, saying why.
# shellcheck disable=SC2317  # helpers called indirectly
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
LIMIT_MS=${MIRROR_AD_LIMIT_MS:-8000}
USERS=${MIRROR_AD_USERS:-3000}
BIG=${MIRROR_AD_BIG:-3000}     # members of CN=big-group (at most USERS)
PEOPLE=OU=people,$SAMBA_BASE
GROUPS_OU=OU=groups,$SAMBA_BASE
USER_FILTER='(&(objectCategory=person)(objectClass=user)(!(description=gone)))'
GROUP_FILTER='(objectClass=group)'

RECONCILE_S=3                  # [mirror] reconcile_interval where deletes need it

q() { pg_sql "$1" 2>&1 || true; }
visible() {
	if harness_pg_poll "$LIMIT_MS" "$2" "$3"; then
		t_pass "$1 (${HARNESS_POLL_MS} ms)"
	else
		t_fail "$1" "not within $LIMIT_MS ms: $3" \
		    "expected: '$2'" "actual:   '$HARNESS_POLL_VALUE'"
	fi
}
# wait_log REGEX MARK SECONDS - until a log line after MARK matches.
wait_log() {
	local end=$(($(harness_now_ms) + $3 * 1000))
	until harness_log_since "$2" | grep -qE -- "$1"; do
		(($(harness_now_ms) < end)) || { echo "no log line matches: $1"; return 1; }
		sleep 0.2
	done
}
# t_nogrep NAME EXTENDED_REGEX TEXT - pass when no line of TEXT matches.
t_nogrep() {
	if grep -qE -- "$2" <<<"$3"; then
		t_fail "$1" "a line matches: $2"
		grep -E -- "$2" <<<"$3" | sed 's/^/#   | /' | tail -n 5
	else
		t_pass "$1"
	fi
}
ldif() { samba_ldapmodify; }
guid_of() { samba_guid_of "$1"; }

# ---- comparing the mirror with the directory ------------------------------

# Entry by entry against a paged search as Administrator: ids, DNs,
# logins, names, mail, managers, disabled flags, memberships.
compare() { harness_mirror_compare_ad --max-diff 12 --flat "$@"; }

# ---- the directory ---------------------------------------------------------

t0=$(harness_now_ms)
"$top_srcdir/tests/harness/gen-directory-ad" --users "$USERS" --groups 40 \
    --big-group "$BIG" --base "$SAMBA_BASE" >"$HARNESS_DIR/ad.ldif"
harness_samba_load "$HARNESS_DIR/ad.ldif"
printf 'dn: OU=other,%s\nobjectClass: organizationalUnit\n\n' "$SAMBA_BASE" |
    samba_ldapadd
harness_log "loaded $USERS users in $(($(harness_now_ms) - t0)) ms"
SVC_DN=$(harness_samba_add_account svc-dirsync "$HARNESS_DIR/svc.pw" dirsync)
PLAIN_DN=$(harness_samba_add_account svc-plain "$HARNESS_DIR/plain.pw" plain)

# ad_config DN PWFILE MODE RECONCILE [OPTION...]
ad_config() {
	local dn=$1 pw=$2 mode=$3 reconcile=$4
	shift 4
	harness_write_config '[log]' 'level = debug' \
	    '[ldap]' "uri = $SAMBA_LDAPS_URI" "bind_dn = $dn" \
	    "bind_password_file = $pw" "tls_ca_file = $SAMBA_CA" \
	    '[mirror]' 'profile = ad' "mode = $mode" "base = $SAMBA_BASE" \
	    "user_filter = $USER_FILTER" "group_filter = $GROUP_FILTER" \
	    'poll_interval = 1s' "reconcile_interval = $reconcile" "$@"
}
# No reconcile until the delete: every change before it must come from
# DirSync itself.
ad_config "$SVC_DN" "$HARNESS_DIR/svc.pw" dirsync 1h

# ---- first pass, killed once --------------------------------------------------

# The first pass into the empty mirror is a bulk load: batches are staged
# (dir_stage_*) and one transaction at the end moves them into the
# mirror.  Kill as soon as the first staged batch is there.
t0=$(harness_now_ms)
harness_start_dirsyncd
if harness_pg_poll 60000 t "SELECT (SELECT count(*) FROM dir_stage_user) > 0" &&
    [[ $(harness_sync_phase 2>/dev/null) == refresh ]]; then
	harness_kill9_dirsyncd
	t_pass "kill -9 during the first pass ($(q 'SELECT count(*) FROM dir_stage_user') users staged, $(($(harness_now_ms) - t0)) ms after start)"
	t_eq "... before the load's commit: the mirror is empty, no cookie stored" "0|0|0" \
	    "$(q "SELECT (SELECT count(*) FROM dir_user) || '|' || (SELECT count(*) FROM dir_group) || '|' ||
	          (SELECT count(*) FROM dir_sync_state WHERE cookie IS NOT NULL)")"
	mark=$(harness_log_mark)
	t0=$(harness_now_ms)
	harness_start_dirsyncd
	t_check "restart after the kill is a full first pass" \
	    wait_log 'DirSync started .*resume=no' "$mark" 30
else
	t_fail "kill -9 during the first pass" "no staged batch seen while the phase was refresh"
fi
rc=0
harness_sync_wait 300 >/dev/null 2>&1 || rc=$?
FIRST_MS=$(($(harness_now_ms) - t0))
harness_log "first pass ($USERS users, a $BIG-member group) took $FIRST_MS ms"
t_eq "dirsyncctl sync --wait returns 0 at the end of the first pass" 0 "$rc"
t_grep "the first pass was loaded in bulk" 'initial load committed' \
    "$(harness_log_since "${mark:-0}")"
t_check "first pass: the mirror equals a paged ldapsearch, entry by entry" compare
t_eq "the mode is dirsync" dirsync "$(harness_sync_attr mode 2>/dev/null || true)"
t_eq "the $BIG-member group is complete" "$BIG" \
    "$(q "SELECT count(*) FROM dir_group_member m JOIN dir_group g ON g.id = m.group_id WHERE g.name = 'big-group'")"
t_match "disabled accounts are mirrored, marked disabled" '^[1-9][0-9]*$' \
    "$(q 'SELECT count(*) FROM dir_user WHERE disabled')"

# ---- changes while polling ---------------------------------------------------

ldif <<EOF
dn: CN=Dora Dirsync,$PEOPLE
changetype: add
objectClass: user
sAMAccountName: dora.dirsync
mail: dora@dirsync.test
givenName: Dora
sn: Dirsync
EOF
DORA=$(guid_of "CN=Dora Dirsync,$PEOPLE")
visible "add: a new user arrives" "dora.dirsync" "SELECT uid FROM dir_user WHERE id = '$DORA'"

ldif <<EOF
dn: CN=Dora Dirsync,$PEOPLE
changetype: modify
replace: mail
mail: dora.new@dirsync.test
EOF
visible "modify: the new mail arrives" "dora.new@dirsync.test" \
    "SELECT email FROM dir_user WHERE id = '$DORA'"

ldif <<EOF
dn: CN=Dora Dirsync,$PEOPLE
changetype: modrdn
newrdn: CN=Dora Renamed
deleteoldrdn: 1
EOF
visible "rename: the DN follows" "CN=Dora Renamed,$PEOPLE" \
    "SELECT dn FROM dir_user WHERE id = '$DORA'"

ldif <<EOF
dn: CN=Dora Renamed,$PEOPLE
changetype: modrdn
newrdn: CN=Dora Renamed
deleteoldrdn: 1
newsuperior: OU=other,$SAMBA_BASE
EOF
visible "move to another OU: the DN follows" "CN=Dora Renamed,OU=other,$SAMBA_BASE" \
    "SELECT dn FROM dir_user WHERE id = '$DORA'"

ldif <<EOF
dn: CN=Dora Renamed,OU=other,$SAMBA_BASE
changetype: modify
replace: userAccountControl
userAccountControl: 514
EOF
visible "disable: the account is marked disabled" "t" \
    "SELECT disabled FROM dir_user WHERE id = '$DORA'"

# Group member changes: a test group of its own with two members.
ldif <<EOF
dn: CN=dirsync-team,$GROUPS_OU
changetype: add
objectClass: group
sAMAccountName: dirsync-team
member: CN=Dora Renamed,OU=other,$SAMBA_BASE
member: $SVC_DN
EOF
TEAM=$(guid_of "CN=dirsync-team,$GROUPS_OU")
visible "a new group arrives with its two members" "2" \
    "SELECT count(*) FROM dir_group_member WHERE group_id = '$TEAM'"
mark=$(wc -l <"$DIRSYNCD_LOG")
ldif <<EOF
dn: CN=dirsync-team,$GROUPS_OU
changetype: modify
delete: member
member: $SVC_DN
EOF
visible "member remove reaches the mirror" "$DORA" \
    "SELECT string_agg(member_user_id, ',') FROM dir_group_member WHERE group_id = '$TEAM'"
t_grep "member remove was sent as a delta (members() added=0 removed=1)" \
    "id=$TEAM .*members added=0 removed=1" "$(harness_log_since "$mark")"
BIG_ID=$(q "SELECT id FROM dir_group WHERE name = 'big-group'")
mark=$(wc -l <"$DIRSYNCD_LOG")
ldif <<EOF
dn: CN=big-group,$GROUPS_OU
changetype: modify
add: member
member: CN=Dora Renamed,OU=other,$SAMBA_BASE
EOF
visible "member add to the $BIG-member group reaches the mirror" "$((BIG + 1))" \
    "SELECT count(*) FROM dir_group_member WHERE group_id = '$BIG_ID'"
since=$(harness_log_since "$mark")
t_grep "member add was sent as a delta, not as $((BIG + 1)) values" \
    "id=$BIG_ID .*members added=1 removed=0" "$since"
t_grep "... in a poll that read nothing again" 'DirSync poll changes=1 reread=0' "$since"
t_nogrep "... so the $BIG-member group was not read again" \
    'DirSync poll changes=[0-9]+ reread=[1-9]' "$since"
t_grep "... and its row not written whole" 'batch committed .* groups=0 .*changed=1 ' "$since"
t_nogrep "... (no batch wrote a group)" 'batch committed .* groups=[1-9]' "$since"

t_check "after the changes: the mirror equals the directory" compare

# Leaving the user filter removes the user; it is still in its groups in
# the directory, so its memberships should stay (member DNs of no
# mirrored user), as they do with syncrepl.
LEAVER_DN=$(samba_ldapsearch -b "$PEOPLE" '(&(objectClass=user)(mail=*)(memberOf=*))' dn |
    sed -n 's/^dn: //p' | grep -v "[\\\\'\"]" | awk 'NR == 1')
LEAVER=$(guid_of "$LEAVER_DN")
leaver_groups=$(q "SELECT count(*) FROM dir_group_member WHERE member_user_id = '$LEAVER'")
ldif <<EOF
dn: $LEAVER_DN
changetype: modify
replace: description
description: gone
EOF
visible "leaving the user filter removes the user" "0" \
    "SELECT count(*) FROM dir_user WHERE id = '$LEAVER'"
t_check "... and keeps its $leaver_groups memberships, as member DNs of no mirrored user" \
    test "$leaver_groups" = "$(q "SELECT count(*) FROM dir_group_member WHERE lower(member_dn) = lower('$LEAVER_DN') AND member_user_id IS NULL")"

# ---- delete, found by the periodic full reconcile ----------------------------

# Samba sends this account no tombstone: only the reconcile (a paged
# search of base and filter, every reconcile_interval instead of a poll)
# finds the delete.  Restarted with a short interval; it resumes from
# the stored cookie, and the first reconcile comes one interval later.
harness_stop_dirsyncd
ad_config "$SVC_DN" "$HARNESS_DIR/svc.pw" dirsync "${RECONCILE_S}s"
mark=$(harness_log_mark)
harness_start_dirsyncd
t_check "restart with reconcile_interval=${RECONCILE_S}s reaches persist" \
    harness_sync_wait_phase persist 60
users_before=$(q "SELECT count(*) FROM dir_user")
t_check "a reconcile runs ${RECONCILE_S}s after the restart: a paged search of base and filter" \
    wait_log 'DirSync full reconcile done entries=[0-9]+' "$mark" $((RECONCILE_S + 20))
t_eq "... which changed nothing" "$users_before" "$(q "SELECT count(*) FROM dir_user")"
cookie_before=$(q "SELECT encode(sha256(cookie), 'hex') FROM dir_sync_state")

# The user also leaves every group (AD reports no change to the groups).
before=$(q "SELECT count(*) FROM dir_group_member WHERE member_user_id = '$DORA'")
mark=$(harness_log_mark)
t_del=$(harness_now_ms)
ldif <<EOF
dn: CN=Dora Renamed,OU=other,$SAMBA_BASE
changetype: delete
EOF
LIMIT_MS=$(((RECONCILE_S + 15) * 1000)) visible \
    "delete without a tombstone: the reconcile removes the user" "0" \
    "SELECT count(*) FROM dir_user WHERE id = '$DORA'"
RECONCILE_DELETE_MS=$(($(harness_now_ms) - t_del))
harness_log "delete through the reconcile: $RECONCILE_DELETE_MS ms (interval ${RECONCILE_S}s)"
t_eq "the deleted user was in two groups" 2 "$before"
visible "delete: the user left every group" "0" \
    "SELECT count(*) FROM dir_group_member WHERE member_dn_norm LIKE 'cn=dora renamed,%'"
since=$(harness_log_since "$mark")
t_grep "... removed by the reconcile" 'DirSync full reconcile done' "$since"
t_nogrep "... Samba sent this account no tombstone for it" "id=$DORA deleted" "$since"
t_eq "the reconcile left the DirSync cookie alone" "$cookie_before" \
    "$(q "SELECT encode(sha256(cookie), 'hex') FROM dir_sync_state")"
t_check "after the delete: the mirror equals the directory" compare

# ---- changes while dirsyncd is stopped ------------------------------------------

# Back to no reconcile within the test: what follows comes from DirSync.
harness_stop_dirsyncd
ad_config "$SVC_DN" "$HARNESS_DIR/svc.pw" dirsync 1h
ldif <<EOF
dn: CN=Eve Offline,$PEOPLE
changetype: add
objectClass: user
sAMAccountName: eve.offline
mail: eve@dirsync.test

dn: CN=dirsync-team,$GROUPS_OU
changetype: modify
add: member
member: CN=Eve Offline,$PEOPLE
EOF
mark=$(wc -l <"$DIRSYNCD_LOG")
harness_start_dirsyncd
EVE=$(guid_of "CN=Eve Offline,$PEOPLE")
visible "changes made while stopped arrive after the restart" "eve.offline" \
    "SELECT uid FROM dir_user WHERE id = '$EVE'"
visible "... including the membership" "$EVE" \
    "SELECT string_agg(member_user_id, ',') FROM dir_group_member WHERE group_id = '$TEAM'"
t_grep "the restart resumed from the stored cookie" 'DirSync started .*resume=yes' \
    "$(harness_log_since "$mark")"

# ---- Samba stopped and restarted while polling -----------------------------------

harness_stop_samba
sleep 3
harness_start_samba_again
ldif <<EOF
dn: CN=Eve Offline,$PEOPLE
changetype: modify
replace: mail
mail: eve.back@dirsync.test
EOF
visible "after Samba's restart the polls go on" "eve.back@dirsync.test" \
    "SELECT email FROM dir_user WHERE id = '$EVE'"
t_check "dirsyncd survived the Samba restart" kill -0 "$DIRSYNCD_PID"
t_check "after the Samba restart: the mirror equals the directory" compare

# ---- Administrator: the delete arrives through DirSync ---------------------------

# An account that may list CN=Deleted Objects gets tombstones from DirSync
# itself: the delete is there at the next poll, no reconcile needed.  A
# new bind identity makes the stored cookie useless: a full first pass
# (into a mirror that is not empty: batch by batch) comes first.
harness_stop_dirsyncd
ad_config "$SAMBA_ADMIN_DN" "$SAMBA_ADMIN_PW_FILE" dirsync 1h
mark=$(harness_log_mark)
harness_start_dirsyncd
rc=0
harness_sync_wait 300 >/dev/null 2>&1 || rc=$?
t_eq "Administrator bind: a new first pass, then persist" 0 "$rc"
t_grep "... a full one (the cookie belonged to another bind identity)" \
    'DirSync started .*resume=no' "$(harness_log_since "$mark")"
before=$(q "SELECT count(*) FROM dir_group_member WHERE member_user_id = '$EVE'")
mark=$(harness_log_mark)
t_del=$(harness_now_ms)
ldif <<EOF
dn: CN=Eve Offline,$PEOPLE
changetype: delete
EOF
visible "delete with a tombstone: the user is gone at the next poll" "0" \
    "SELECT count(*) FROM dir_user WHERE id = '$EVE'"
TOMBSTONE_DELETE_MS=$(($(harness_now_ms) - t_del))
harness_log "delete through a DirSync tombstone: $TOMBSTONE_DELETE_MS ms (poll interval 1s)"
t_eq "the deleted user was in a group" 1 "$before"
visible "... and left it" "" \
    "SELECT coalesce(string_agg(member_user_id, ','), '') FROM dir_group_member WHERE member_user_id = '$EVE'"
since=$(harness_log_since "$mark")
t_grep "... reported by DirSync as a tombstone" "id=$EVE deleted" "$since"
t_nogrep "... before any reconcile" 'full reconcile' "$since"
t_check "after the tombstone: the mirror equals the directory" compare

# ---- mode=auto with an account without the DirSync right -------------------------

harness_stop_dirsyncd
ad_config "$PLAIN_DN" "$HARNESS_DIR/plain.pw" auto 1h
mark=$(wc -l <"$DIRSYNCD_LOG")
harness_start_dirsyncd
t_check "mode auto settles in persist" harness_sync_wait_phase persist 120
t_eq "mode auto with a plain account falls back to usn" usn \
    "$(harness_sync_attr mode 2>/dev/null || true)"
t_grep "the log says why: the LDAP error and the right to grant" \
    'DirSync refused by the server: LDAP error 50 .*Replicating Directory Changes' \
    "$(harness_log_since "$mark")"

# ---- mode=auto with the DirSync account ------------------------------------------

harness_stop_dirsyncd
ad_config "$SVC_DN" "$HARNESS_DIR/svc.pw" auto 1h
mark=$(wc -l <"$DIRSYNCD_LOG")
harness_start_dirsyncd
t_check "mode auto with the DirSync account settles in persist" \
    harness_sync_wait_phase persist 120
t_eq "... on dirsync (Samba offers no syncrepl)" dirsync \
    "$(harness_sync_attr mode 2>/dev/null || true)"
t_grep "... and the log says why" 'source=dirsync chosen' \
    "$(harness_log_since "$mark")"
t_check "... the mirror equals the directory" compare

t_done
