#!/usr/bin/env bash
# mirror_crash.sh - the mirror survives crashes and outages without loss,
# duplicates or gaps: dirsyncd killed with SIGKILL at several points of an
# initial sync of 20,000 users (and once in the middle of a stream of
# changes), restarted each time, ends equal to the directory; slapd
# stopped for a while during persist, and PostgreSQL restarted under the
# daemon: changes made around the outages are caught up.
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

USERS=${MIRROR_CRASH_USERS:-20000}
# How long a change may take to arrive after an outage (reconnect with
# backoff_max = 1s, then catch up).
CATCH_UP_S=30

q() { pg_sql "$1" 2>&1 || true; }
users() { q 'SELECT count(*) FROM dir_user'; }
more_users_than() {
	local n
	n=$(users)
	[[ $n =~ ^[0-9]+$ ]] && ((n > $1))
}
phase() { harness_sync_phase 2>/dev/null || true; }

# start - harness_start_dirsyncd, noting when (for crash's message).
start() {
	STARTED_MS=$(harness_now_ms)
	harness_start_dirsyncd
}

# crash WHAT - SIGKILL the daemon now; note where the sync was.
crash() {
	local n ms
	n=$(users)
	ms=$(($(harness_now_ms) - STARTED_MS))
	harness_kill9_dirsyncd
	t_pass "SIGKILL $1 ($n users mirrored at that moment, $ms ms after the start)"
}

# caught_up NAME EXPECTED SQL - SQL prints EXPECTED within CATCH_UP_S.
caught_up() {
	if harness_pg_poll $((CATCH_UP_S * 1000)) "$2" "$3"; then
		t_pass "$1 (${HARNESS_POLL_MS} ms)"
	else
		t_fail "$1" "not within ${CATCH_UP_S}s: $3" \
		    "expected: '$2'" "actual:   '$HARNESS_POLL_VALUE'"
	fi
}

# No duplicates: ids are primary keys, so look at what must also be unique.
no_duplicates() {
	t_eq "$1: no duplicate user DNs" 0 \
	    "$(q 'SELECT count(*) - count(DISTINCT dn_norm) FROM dir_user')"
	t_eq "$1: no duplicate group DNs" 0 \
	    "$(q 'SELECT count(*) - count(DISTINCT dn_norm) FROM dir_group')"
	t_eq "$1: one sync state row" 1 "$(q 'SELECT count(*) FROM dir_sync_state')"
}

# DNs of the people, one a line: changes below pick disjoint ranges.
people_dns() {
	harness_ldapsearch -b "$PEOPLE" '(objectClass=inetOrgPerson)' 1.1 |
	    _harness_ldif_dns >"$HARNESS_DIR/people.dns"
}
dns() { sed -n "$1,$2p" "$HARNESS_DIR/people.dns"; }

# modify_mail FIRST LAST TAG - one modify record per person in the range.
modify_mail() {
	local dn n=0
	while IFS= read -r dn; do
		n=$((n + 1))
		printf 'dn:: %s\nchangetype: modify\nreplace: mail\nmail: %s.%d@example.com\n\n' \
		    "$(printf '%s' "$dn" | base64 -w0)" "$3" "$n"
	done < <(dns "$1" "$2")
}

# add_people PREFIX N - N new people, uid PREFIX.1 ...
add_people() {
	local i
	for ((i = 1; i <= $2; i++)); do
		printf 'dn: uid=%s.%d,%s\nchangetype: add\nobjectClass: inetOrgPerson\n' "$1" "$i" "$PEOPLE"
		printf 'uid: %s.%d\ncn: %s %d\nsn: %d\nemployeeType: regular\n\n' "$1" "$i" "$1" "$i" "$i"
	done
}

# ---- 20,000 users, loaded before slapd starts -----------------------------------

"$top_srcdir/tests/harness/gen-directory" --users "$USERS" \
    --groups $((USERS / 100)) --memberships $((2 * USERS)) >"$HARNESS_DIR/directory.ldif"
harness_slapadd "$HARNESS_DIR/directory.ldif"
PEOPLE=ou=people,$LDAP_BASE
harness_start_slapd
harness_start_pg
people_dns

# Small batches: many commits, so the kills land between and inside them.
harness_write_mirror_config '[mirror]' 'batch_size = 500'

# ---- SIGKILL during the initial sync -------------------------------------------

start
t_check "first start: more than 5000 users arrive" \
    wait_for "5000 users" 120 more_users_than 5000
crash "after 5000 users"

start
t_check "second start: more than 12000 users arrive" \
    wait_for "12000 users" 120 more_users_than 12000
crash "after 12000 users"

start
sleep 0.3
crash "0.3 s after a start"

start
sleep 1
crash "1 s after a start"

# Changes while it is dead: they must arrive however far the sync got.
{
	modify_mail 100 149 crashed
	add_people crash.new 10
} | harness_ldif
mapfile -t gone < <(dns 200 209)
harness_ldap_delete_refint "${gone[@]}"

start
sleep 0.5
crash "0.5 s after a start, changes pending"

start
t_check "finally: the initial sync completes" harness_sync_wait_phase persist 180
t_eq "finally: every user mirrored" $((USERS + 10 - 10)) "$(users)"
t_check "finally: the mirror equals the directory" harness_mirror_compare --flat
no_duplicates "finally"
# shellcheck disable=SC2016  # expands in the child shell
t_check "the log has no duplicate-key errors" \
    bash -c '! grep -qi "duplicate key" "$1"' _ "$DIRSYNCD_LOG"

# ---- SIGKILL in the middle of a stream of changes -------------------------------

modify_mail 1000 2999 stream >"$HARNESS_DIR/stream.ldif"
harness_ldif <"$HARNESS_DIR/stream.ldif" &
stream_pid=$!
sleep 0.3
crash "during a stream of 2000 modifies"
start
if wait "$stream_pid"; then
	t_pass "slapd applied the whole stream"
else
	t_fail "slapd applied the whole stream" "ldapmodify -f $HARNESS_DIR/stream.ldif failed"
fi
t_check "after the stream: back in persist" harness_sync_wait_phase persist 60
caught_up "after the stream: the last modify arrived" stream.2000@example.com \
    "SELECT email FROM dir_user WHERE email = 'stream.2000@example.com'"
t_check "after the stream: the mirror equals the directory" harness_mirror_compare --flat
no_duplicates "after the stream"

# ---- slapd stopped for a while during persist -------------------------------------

harness_stop_slapd
sleep 3
t_check "slapd down: the daemon keeps running" kill -0 "$DIRSYNCD_PID"
t_check "slapd down: the sync status still answers and validates" harness_sync_validate
harness_start_slapd_again
{
	modify_mail 3000 3009 outage
	add_people ldap.back 3
} | harness_ldif
mapfile -t gone < <(dns 3100 3104)
harness_ldap_delete_refint "${gone[@]}"
caught_up "slapd back: the adds arrive" 3 \
    "SELECT count(*) FROM dir_user WHERE uid LIKE 'ldap.back.%'"
caught_up "slapd back: the modifies arrive" 10 \
    "SELECT count(*) FROM dir_user WHERE email LIKE 'outage.%'"
# The deletions come last, after the group changes the refint-style
# delete makes first: wait for them before comparing.
caught_up "slapd back: the deletes arrive" 0 \
    "SELECT count(*) FROM dir_user WHERE dn_norm IN ($(printf '%s\n' "${gone[@]}" |
        tr '[:upper:]' '[:lower:]' | sed "s/'/''/g; s/.*/'&'/" | paste -sd,))"
t_check "slapd back: back in persist" harness_sync_wait_phase persist 30
t_check "slapd back: the mirror equals the directory" harness_mirror_compare --flat

# ---- PostgreSQL restarted under the daemon ----------------------------------------

harness_stop_pg
# Made while the database is down: the daemon must not lose it.
modify_mail 4000 4004 pgdown | harness_ldif
sleep 1
t_check "PostgreSQL down: the daemon keeps running" kill -0 "$DIRSYNCD_PID"
harness_start_pg_again
{
	modify_mail 4100 4104 pgback
	add_people pg.back 2
} | harness_ldif
caught_up "PostgreSQL back: the change made while it was down arrives" 5 \
    "SELECT count(*) FROM dir_user WHERE email LIKE 'pgdown.%'"
caught_up "PostgreSQL back: later changes arrive" 5 \
    "SELECT count(*) FROM dir_user WHERE email LIKE 'pgback.%'"
caught_up "PostgreSQL back: later adds arrive" 2 \
    "SELECT count(*) FROM dir_user WHERE uid LIKE 'pg.back.%'"
t_check "PostgreSQL back: back in persist" harness_sync_wait_phase persist 30
t_check "PostgreSQL back: the mirror equals the directory" harness_mirror_compare --flat
no_duplicates "PostgreSQL back"

harness_stop_dirsyncd
t_eq "SIGTERM: exit status 0" 0 "$HARNESS_STOP_RC"
t_done
