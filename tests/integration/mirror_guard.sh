#!/usr/bin/env bash
# mirror_guard.sh - the delete guard: a sync that would delete more than
# max_delete_ratio (10%) of the mirrored users deletes nothing, says so in
# the log and on the status socket, keeps saying so across a restart, and
# deletes once `dirsyncctl sync --confirm-deletes` releases it.  Smaller
# deletions (5%, and exactly 10%) pass without it.
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

PEOPLE=ou=people,$LDAP_BASE

q() { pg_sql "$1" 2>&1 || true; }
sync_attr() { harness_sync_attr "$@" 2>/dev/null || true; }
users() { q 'SELECT count(*) FROM dir_user'; }
users_are() { [[ $(users) == "$1" ]]; }

# delete_people N - delete the last N people the directory lists (the
# deepest level of the manager tree) as refint would; their entryUUIDs
# go to $HARNESS_DIR/deleted.ids.
delete_people() {
	local dns=() dn
	mapfile -t dns < <(harness_ldapsearch -b "$PEOPLE" '(objectClass=inetOrgPerson)' 1.1 |
	    _harness_ldif_dns | tail -n "$1")
	: >"$HARNESS_DIR/deleted.ids"
	for dn in "${dns[@]}"; do
		harness_ldap_uuid "$dn" >>"$HARNESS_DIR/deleted.ids"
		echo >>"$HARNESS_DIR/deleted.ids"
	done
	harness_ldap_delete_refint "${dns[@]}"
}
# How many of the deleted entries the mirror still has.
still_mirrored() {
	local ids
	ids=$(sed "/^$/d; s/.*/'&'/" "$HARNESS_DIR/deleted.ids" | paste -sd,)
	q "SELECT count(*) FROM dir_user WHERE id IN ($ids)"
}

"$top_srcdir/tests/harness/gen-directory" --users 100 --groups 5 --no-base \
    >"$HARNESS_DIR/directory.ldif"
harness_ldap_load "$HARNESS_DIR/directory.ldif"

harness_write_mirror_config '[mirror]' 'max_delete_ratio = 10%'
harness_start_dirsyncd
t_check "initial sync reaches persist" harness_sync_wait_phase persist 60
t_eq "100 users mirrored" 100 "$(users)"

# ---- 20 of 100 deleted while stopped: the guard trips ------------------------

harness_stop_dirsyncd
delete_people 20
mark=$(harness_log_mark)
harness_start_dirsyncd
t_check "20% deleted: the sync stops in phase guard" harness_sync_wait_phase guard 60
t_eq "guard: nothing deleted" 100 "$(users)"
t_eq "guard: the deleted entries are all still mirrored" 20 "$(still_mirrored)"
t_eq "guard: status shows the 20 held back" 20 "$(sync_attr guard)"
t_check "guard: status validates" harness_sync_validate
t_eq "guard: recorded in dir_sync_state" "20|t" \
    "$(q "SELECT delete_guard_count, delete_guard_since IS NOT NULL
          FROM dir_sync_state WHERE source = 'default'")"
t_grep "guard: the log says so" 'delete guard' "$(harness_log_since "$mark")"
human=$("$DIRSYNCCTL" -s "$HARNESS_STATUS_SOCKET" sync 2>&1 || true)
t_grep "guard: dirsyncctl sync tells people what to do" \
    '(confirm-deletes|[Gg]uard)' "$human"

# The guard is kept in the database: a restart does not forget it.
harness_stop_dirsyncd
harness_start_dirsyncd
t_check "restart: still in phase guard" harness_sync_wait_phase guard 60
t_eq "restart: still 20 held back" 20 "$(sync_attr guard)"
t_eq "restart: still nothing deleted" 100 "$(users)"

# ---- released by the confirm command ------------------------------------------

mark=$(harness_log_mark)
rc=0
out=$(harness_sync_confirm_deletes 2>&1) || rc=$?
t_eq "dirsyncctl sync --confirm-deletes exits 0" 0 "$rc"
[[ $rc == 0 ]] || printf '%s\n' "$out" | sed 's/^/#   | /'
t_check "confirmed: the 20 are deleted" wait_for "80 users" 10 users_are 80
t_eq "confirmed: exactly the deleted entries" 0 "$(still_mirrored)"
t_check "confirmed: back in persist" harness_sync_wait_phase persist 30
t_eq "confirmed: no guard in the status" 0 "$(sync_attr guard)"
t_eq "confirmed: guard cleared in dir_sync_state" "|" \
    "$(q "SELECT delete_guard_count, delete_guard_since
          FROM dir_sync_state WHERE source = 'default'")"
t_check "confirmed: the mirror equals the directory" harness_mirror_compare --flat

# ---- 5 of 80 (6%): no guard -------------------------------------------------------

harness_stop_dirsyncd
delete_people 5
mark=$(harness_log_mark)
harness_start_dirsyncd
t_check "6%: back in persist" harness_sync_wait_phase persist 60
t_check "6%: deleted without confirmation" wait_for "75 users" 10 users_are 75
t_eq "6%: exactly the deleted entries" 0 "$(still_mirrored)"
t_eq "6%: no guard" 0 "$(sync_attr guard)"
# shellcheck disable=SC2016  # expands in the child shell
t_check "6%: the log does not mention the guard" \
    bash -c '! grep -q "delete guard" <<<"$1"' _ "$(harness_log_since "$mark")"

# ---- exactly 10%: "more than" the ratio trips it, this does not -------------------

"$top_srcdir/tests/harness/gen-directory" --users 5 --groups 0 --no-base |
    sed 's/^uid: /uid: extra./; s/^dn: uid=/dn: uid=extra./' >"$HARNESS_DIR/extra.ldif"
harness_ldap_load "$HARNESS_DIR/extra.ldif"
t_check "5 users added: 80 mirrored" wait_for "80 users" 10 users_are 80
harness_stop_dirsyncd
delete_people 8
mark=$(harness_log_mark)
harness_start_dirsyncd
t_check "10%: back in persist" harness_sync_wait_phase persist 60
t_check "10%: deleted without confirmation" wait_for "72 users" 10 users_are 72
t_eq "10%: no guard" 0 "$(sync_attr guard)"
t_check "the mirror equals the directory" harness_mirror_compare --flat

harness_stop_dirsyncd
t_eq "SIGTERM: exit status 0" 0 "$HARNESS_STOP_RC"
t_done
