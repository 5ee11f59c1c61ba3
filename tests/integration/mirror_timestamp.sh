#!/usr/bin/env bash
# mirror_timestamp.sh - the timestamp change source against a slapd
# without the syncprov overlay: mode auto chooses modifyTimestamp polling
# and says why (log and status); the initial paged sync equals the
# directory; add, modify, modrdn and member changes arrive within
# poll_interval + 1 s; a delete (no tombstones on OpenLDAP) arrives with
# the next full reconcile; quick successive changes in the same second
# are all caught; quiet polls write nothing; a daemon killed with -9
# resumes from the stored mark and catches up.
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
harness_start_slapd --no-syncprov
harness_start_pg

POLL_S=1
RECONCILE_S=6
# A change is in PostgreSQL within one poll interval plus a second.
LIMIT_MS=$(((POLL_S + 1) * 1000))
PEOPLE=ou=people,$LDAP_BASE
GROUP_OU=ou=groups,$LDAP_BASE

q() { pg_sql "$1" 2>&1 || true; }
sync_attr() { harness_sync_attr "$@" 2>/dev/null || true; }
id_of() { q "SELECT id FROM dir_user WHERE uid = '$1'"; }

visible() {
	local limit=${4:-$LIMIT_MS}
	if harness_pg_poll "$limit" "$2" "$3"; then
		t_pass "$1 (${HARNESS_POLL_MS} ms)"
	else
		t_fail "$1" "not within $limit ms: $3" \
		    "expected: '$2'" "actual:   '$HARNESS_POLL_VALUE'"
	fi
}

person() {
	local uid=$1
	shift
	printf 'dn: uid=%s,%s\nchangetype: add\nobjectClass: inetOrgPerson\n' "$uid" "$PEOPLE"
	printf 'uid: %s\ncn: %s\nsn: %s\nmail: %s@example.com\nemployeeType: regular\n' \
	    "$uid" "Test ${uid#*.}" "${uid#*.}" "$uid"
	(($# == 0)) || printf '%s\n' "$@"
	echo
}

"$top_srcdir/tests/harness/gen-directory" --users 400 --groups 30 --no-base \
    >"$HARNESS_DIR/directory.ldif"
harness_ldap_load "$HARNESS_DIR/directory.ldif"

# ---- initial sync: auto chooses timestamp -------------------------------------

harness_write_mirror_config '[mirror]' 'mode = auto' "poll_interval = ${POLL_S}s" \
    "reconcile_interval = ${RECONCILE_S}s" 'timestamp_overlap = 1s' 'page_size = 50'
harness_start_dirsyncd
t_check "initial sync reaches persist" harness_sync_wait_phase persist 60
t_grep "the log names the chosen source and why" \
    'mirror source=timestamp chosen: .*modifyTimestamp' "$(cat "$DIRSYNCD_LOG")"
t_eq "status: mode" timestamp "$(sync_attr mode)"
t_match "status: mode-reason says why" 'RFC 4533' \
    "$(harness_sync_xml | harness_xpath 'string(/dirsync/sync/@mode-reason)')"
t_check "sync --xml validates against status.xsd" harness_sync_validate
t_check "initial sync: the mirror equals the directory" harness_mirror_compare --flat
t_eq "dir_sync_state: method timestamp, a ts: cookie" "timestamp|ts:" \
    "$(q "SELECT method || '|' || substr(convert_from(cookie, 'UTF8'), 1, 3) FROM dir_sync_state")"
t_check "the log shows polling started" grep -q 'polling started source=timestamp' "$DIRSYNCD_LOG"

# ---- live changes -------------------------------------------------------------

person poll.one "givenName: Poll" | harness_ldif
visible "add: the new user is mirrored" 1 \
    "SELECT count(*) FROM dir_user WHERE uid = 'poll.one'"
one=$(harness_ldap_uuid "uid=poll.one,$PEOPLE")
t_eq "add: id is the entryUUID" "$one" "$(id_of poll.one)"

harness_ldif <<-EOF
dn: uid=poll.one,$PEOPLE
changetype: modify
replace: mail
mail: poll.one@new.example.com
EOF
visible "modify: the new mail" poll.one@new.example.com \
    "SELECT email FROM dir_user WHERE id = '$one'"

harness_ldif <<-EOF
dn: uid=poll.one,$PEOPLE
changetype: modrdn
newrdn: uid=poll.renamed
deleteoldrdn: 1
EOF
visible "modrdn: same id, new DN and login" "uid=poll.renamed,$PEOPLE|poll.renamed" \
    "SELECT dn, uid FROM dir_user WHERE id = '$one'"

group=$(harness_ldapsearch -b "$GROUP_OU" '(objectClass=groupOfNames)' cn |
    sed -n 's/^cn: //p' | head -n 1)
harness_ldif <<-EOF
dn: cn=$group,$GROUP_OU
changetype: modify
add: member
member: uid=poll.renamed,$PEOPLE
EOF
visible "group member add" 1 \
    "SELECT count(*) FROM dir_group_member m JOIN dir_group g ON g.id = m.group_id
     WHERE g.name = '$group' AND m.member_user_id = '$one'"

# Quick successive changes, several within one second, on two entries:
# the last value of each must win.
for i in 1 2 3 4 5 6; do
	harness_ldif <<-EOF
	dn: uid=poll.renamed,$PEOPLE
	changetype: modify
	replace: mail
	mail: step$i@example.com

	dn: cn=$group,$GROUP_OU
	changetype: modify
	replace: description
	description: step $i
	EOF
	sleep 0.3
done
visible "same-second changes: the last mail wins" step6@example.com \
    "SELECT email FROM dir_user WHERE id = '$one'"
visible "same-second changes: the other entry too" "step 6" \
    "SELECT description FROM dir_group WHERE name = '$group'"

# ---- deletes: found by the reconcile ---------------------------------------

harness_ldap_delete_refint "uid=poll.renamed,$PEOPLE"
visible "delete: gone after a reconcile (interval ${RECONCILE_S}s)" 0 \
    "SELECT count(*) FROM dir_user WHERE id = '$one'" $(((RECONCILE_S + POLL_S + 3) * 1000))
t_grep "the log shows the full reconcile" 'full reconcile done' "$(cat "$DIRSYNCD_LOG")"
t_check "after the reconcile: the mirror equals the directory" harness_mirror_compare --flat

# ---- kill -9, changes while down, restart --------------------------------------

person poll.two | harness_ldif
sleep 0.5   # the next poll is likely running now
harness_kill9_dirsyncd
person poll.three | harness_ldif
harness_ldif <<-EOF
dn: uid=poll.two,$PEOPLE
changetype: modify
replace: mail
mail: poll.two@offline.example.com
EOF
# From here on no reconcile within the test, so quiet polls can be seen.
harness_write_mirror_config '[mirror]' 'mode = auto' "poll_interval = ${POLL_S}s" \
    'reconcile_interval = 1h' 'timestamp_overlap = 1s' 'page_size = 50'
mark=$(harness_log_mark)
harness_start_dirsyncd
t_check "restart: back in persist" harness_sync_wait_phase persist 30
t_grep "restart: it resumes from the stored mark" 'resume=yes' "$(harness_log_since "$mark")"
visible "restart: the add made while down" 1 \
    "SELECT count(*) FROM dir_user WHERE uid = 'poll.three'"
visible "restart: the modify made while down" poll.two@offline.example.com \
    "SELECT email FROM dir_user WHERE uid = 'poll.two'"
t_check "restart: the mirror equals the directory" harness_mirror_compare --flat

# Quiet: polls go on (overlapping the last changes), but entries seen
# unchanged are not reported again.
sleep $((POLL_S * 2 + 1))
before=$(sync_attr entries)
sleep $((POLL_S * 3))
after=$(sync_attr entries)
t_eq "quiet polls report nothing again" "$before" "$after"

harness_stop_dirsyncd
t_eq "SIGTERM while polling: exit status 0" 0 "$HARNESS_STOP_RC"
t_done
