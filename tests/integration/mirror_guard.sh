#!/usr/bin/env bash
# mirror_guard.sh - the delete guard: a sync that would delete more than
# max_delete_ratio (10%) of the mirrored users deletes nothing, says so in
# the log and on the status socket, keeps saying so across a restart, and
# deletes once `dirsyncctl sync --confirm-deletes` releases it.  Smaller
# deletions (5%, and exactly 10%) pass without it.  In persist mode,
# deletions one by one add up over delete_guard_window and are held back
# the same way once they pass the ratio.
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

# ---- persist mode: deletions one by one add up over delete_guard_window ---------

# 72 users.  With a 3 s window, 6 deletions (8%), a pause longer than the
# window, and 6 more: each run stays under 10% of the users at its start.
harness_stop_dirsyncd
harness_write_mirror_config '[mirror]' 'max_delete_ratio = 10%' \
    'delete_guard_window = 3s'
harness_start_dirsyncd
t_check "window 3 s: in persist" harness_sync_wait_phase persist 60
delete_people 6
t_check "window 3 s: 6 deleted one by one, at once" wait_for "66 users" 10 users_are 66
sleep 4
delete_people 6
t_check "window 3 s: 6 more after the window, at once" wait_for "60 users" 10 users_are 60
t_eq "window 3 s: no guard" 0 "$(sync_attr guard)"
# refint sent each group once per member removed, in one batch: the
# group's last list counts, not the union of them.
t_check "window 3 s: the mirror equals the directory" harness_mirror_compare --flat

# 60 users, the default window (1 h): the deletions that take the run
# above 6 (10% of 60) are held back, whatever the batches they come in.
harness_stop_dirsyncd
harness_write_mirror_config '[mirror]' 'max_delete_ratio = 10%'
harness_start_dirsyncd
t_check "persist: in persist" harness_sync_wait_phase persist 60
mark=$(harness_log_mark)
delete_people 10
t_check "persist: 10 deleted one by one: phase guard" harness_sync_wait_phase guard 10
held_now() { [[ $(sync_attr guard) == "$(still_mirrored)" && $(still_mirrored) -ge 4 ]]; }
t_check "persist: the status counts what is still mirrored (4 or more)" \
    wait_for "held back" 10 held_now
held=$(still_mirrored)
t_eq "persist: the rest were deleted at once" $((50 + held)) "$(users)"
t_eq "persist: at most 6 deleted before the guard" 1 "$((held >= 4 && held <= 10))"
t_eq "persist: recorded as a guard on the marked rows" "delete|$held" \
    "$(q "SELECT delete_guard_mode || '|' || delete_guard_count FROM dir_sync_state
          WHERE source = 'default'")"
t_grep "persist: the log says so" 'delete guard tripped' "$(harness_log_since "$mark")"
t_eq "persist: one warning, whatever the batches that joined the guard" 1 \
    "$(harness_log_since "$mark" | grep -c 'delete guard tripped')"
t_check "persist: status validates" harness_sync_validate

# Held back, the mirror goes on: other changes still arrive.
survivor=$(harness_ldapsearch -b "$PEOPLE" '(objectClass=inetOrgPerson)' 1.1 |
    _harness_ldif_dns | sed -n 1p)
printf 'dn: %s\nchangetype: modify\nreplace: cn\ncn: Still Here\n\n' "$survivor" |
    harness_ldif
t_check "persist: a modify still arrives while the guard is pending" \
    harness_pg_poll 2000 1 "SELECT count(*) FROM dir_user WHERE full_name = 'Still Here'"

# Kept across a restart, and said again at start; a further deletion
# joins the held-back ones, news rather than a new alarm.
harness_stop_dirsyncd
mark=$(harness_log_mark)
harness_start_dirsyncd
t_check "persist: restart: still in phase guard" harness_sync_wait_phase guard 60
t_eq "persist: restart: same number held back" "$held" "$(sync_attr guard)"
t_grep "persist: restart: the pending guard is logged" \
    "warning: mirror=store delete guard pending since [0-9T:-]*Z: $held users held back" \
    "$(harness_log_since "$mark")"
cp "$HARNESS_DIR/deleted.ids" "$HARNESS_DIR/deleted-before.ids"
delete_people 1
cat "$HARNESS_DIR/deleted-before.ids" >>"$HARNESS_DIR/deleted.ids"
t_check "persist: one more deletion is held back too" \
    wait_for "held back" 10 eval '[[ $(sync_attr guard) == $((held + 1)) ]]'
t_eq "persist: nothing more deleted" $((50 + held)) "$(users)"
joined() {
	grep -q "info: mirror=store delete guard: 1 more users held back, $((held + 1)) of" \
	    <<<"$(harness_log_since "$mark")"
}
t_check "persist: the one that joined is logged at info level" wait_for "log" 5 joined
t_eq "persist: and no new guard warning" 0 \
    "$(harness_log_since "$mark" | grep -c 'delete guard tripped')"

rc=0
out=$(harness_sync_confirm_deletes 2>&1) || rc=$?
t_eq "persist: --confirm-deletes exits 0" 0 "$rc"
[[ $rc == 0 ]] || printf '%s\n' "$out" | sed 's/^/#   | /'
t_check "persist: confirmed: all 11 deleted" wait_for "49 users" 10 users_are 49
t_eq "persist: confirmed: none of them left" 0 "$(still_mirrored)"
t_check "persist: confirmed: back in persist" harness_sync_wait_phase persist 30
t_check "persist: confirmed: the mirror equals the directory" harness_mirror_compare --flat
delete_people 1
t_check "persist: a confirmation starts a new window: the next one goes at once" \
    wait_for "48 users" 10 users_are 48

harness_stop_dirsyncd
t_eq "SIGTERM: exit status 0" 0 "$HARNESS_STOP_RC"
t_done
