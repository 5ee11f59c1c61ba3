#!/usr/bin/env bash
# mirror_chaos.sh - the mirror under PostgreSQL connection chaos while
# the directory changes.  The daemon's backend (application_name
# dirsyncd, pgconn.c's fallback_application_name) is terminated again
# and again at random moments:
#
#   1. during the initial sync of 5,000 users (and its schema migration):
#      once the chaos stops, it reaches persist, equal to the directory;
#   2. in persist, while parallel writers add, modify (cn, mail,
#      manager), rename and delete users and add and remove group
#      members: once the chaos stops it catches up, equal to the
#      directory, with a cookie stored and nothing duplicated;
#   3. the same with PostgreSQL restarted (fast shutdown) under it;
#   4. statement_timeout = 1ms for the daemon's role while changes
#      flow (its session replaced so that the setting applies): errors
#      are logged; once the setting is reset the daemon must recover by
#      itself, which takes a new session (a role setting applies to the
#      sessions that start after it), and then surely once its session
#      is replaced;
#   5. a cookie that names no CSN ("rid=000", what slapd 2.5 sends for a
#      change committed out of CSN order): the daemon must not store it,
#      and a resume from what it stored must not lose deletions (a
#      test-only trigger holds the stored cookie still; see there).
#
# This test found two bugs, both fixed: the daemon never replaced a
# session whose statements kept timing out (4; now the store replaces it
# after a few failed batches, and a failed migration is tried again in a
# new session), and it stored "rid=000" and, resumed from it, kept
# deleted users for good (5; scenarios 2 and 3 hit it now and then).
#
# Every time: the daemon never dies, its log shows the reconnects, no
# duplicate-key error, and (sanitizer build) no sanitizer report.
# Background loops are stopped by a harness_on_exit hook whatever ends
# the test.  MIRROR_CHAOS_SEED makes the random intervals repeatable.
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

USERS=${MIRROR_CHAOS_USERS:-5000}
WRITERS=${MIRROR_CHAOS_WRITERS:-4}
ROUNDS=${MIRROR_CHAOS_ROUNDS:-20}   # per writer and scenario; ~7 operations each
CATCH_UP_S=30
SEED=${MIRROR_CHAOS_SEED:-$$}
RANDOM=$SEED
ROUNDS=$(((ROUNDS + 1) / 2 * 2))     # even: the toggled member ends where it began
harness_log "seed $SEED ($T_BUILD_KIND build)"

# ---- helpers --------------------------------------------------------------------

q() { pg_sql "$1" 2>&1 || true; }
b64() { printf '%s' "$1" | base64 -w0; }

# The daemon's backends, terminated; prints how many.
terminate_daemon_backends() {
	pg_sql "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
	        FROM pg_stat_activity WHERE application_name = 'dirsyncd'" 2>/dev/null
}

# chaos_terminate MIN_MS MAX_MS LOG [asap] - until killed: sleep a random
# MIN..MAX ms, terminate the daemon's backend, log "ms killed phase"
# (the sync phase just before).  asap: the first one as soon as the
# daemon has a backend (while it migrates and starts the sync).
chaos_terminate() {
	local lo=$1 hi=$2 log=$3 asap=${4:-} n ph
	RANDOM=$((SEED + lo + hi))
	if [[ $asap == asap ]]; then
		wait_for "a dirsyncd backend" 30 daemon_has_backend || true
	fi
	while :; do
		if [[ $asap == asap ]]; then
			asap=
		else
			sleep "$(t_ms_to_s "$(t_rand_ms "$lo" "$hi")")"
		fi
		ph=$(harness_sync_phase 2>/dev/null) || ph='?'
		n=$(terminate_daemon_backends) || n=error
		echo "$(harness_now_ms) ${n:-error} ${ph:-?}" >>"$log"
	done
}
daemon_has_backend() {
	[[ $(pg_sql "SELECT count(*) FROM pg_stat_activity
	    WHERE application_name = 'dirsyncd'" 2>/dev/null) -gt 0 ]]
}
# start_chaos NAME MIN_MS MAX_MS [asap] - chaos_terminate in the
# background, logging to chaos-NAME.log; CHAOS_PID, CHAOS_LOG.
start_chaos() {
	CHAOS_LOG=$HARNESS_DIR/chaos-$1.log
	: >"$CHAOS_LOG"
	chaos_terminate "$2" "$3" "$CHAOS_LOG" "${4:-}" &
	CHAOS_PID=$!
	t_bg "$CHAOS_PID"
}
stop_chaos() { t_bg_stop "$CHAOS_PID"; }
# How many times the chaos loop terminated a backend [not in phase PHASE].
chaos_kills() {
	awk '$2 ~ /^[0-9]+$/ && $2 > 0 { n++ } END { print n + 0 }' "$CHAOS_LOG"
}
chaos_kills_not_in() {
	awk -v p="$1" '$2 ~ /^[0-9]+$/ && $2 > 0 && $3 != p { n++ }
	    END { print n + 0 }' "$CHAOS_LOG"
}

# Log lines since a mark that match a pattern.
log_count() { harness_log_since "$1" | grep -cE -- "$2" || true; }

# equal_within SECS - poll harness_mirror_compare (wall clock, not
# iterations: one compare of 5,000 users takes a while) until the mirror
# equals the directory.  EQUAL_MS: how long it took; EQUAL_OUT: the last
# differences.
equal_within() {
	local t0 rc
	t0=$(harness_now_ms)
	while :; do
		rc=0
		EQUAL_OUT=$(harness_mirror_compare -q --flat 2>&1) || rc=$?
		EQUAL_MS=$(($(harness_now_ms) - t0))
		[[ $rc == 0 ]] && return 0
		((EQUAL_MS < $1 * 1000)) || return 1
		sleep 0.5
	done
}

# caught_up NAME [SECS] - the mirror equals the directory within SECS
# (default CATCH_UP_S); on failure show the last differences.
caught_up() {
	local secs=${2:-$CATCH_UP_S}
	if equal_within "$secs"; then
		t_pass "$1: the mirror equals the directory ($EQUAL_MS ms after the chaos)"
	else
		t_fail "$1: the mirror equals the directory" \
		    "still different ${secs}s after the chaos:"
		printf '%s\n' "$EQUAL_OUT" | sed 's/^/#   | /' | tail -n 20
	fi
}

# No duplicates: ids are primary keys, so look at what must also be unique.
no_duplicates() {
	t_eq "$1: no duplicate user DNs" 0 \
	    "$(q 'SELECT count(*) - count(DISTINCT dn_norm) FROM dir_user')"
	t_eq "$1: no duplicate group DNs" 0 \
	    "$(q 'SELECT count(*) - count(DISTINCT dn_norm) FROM dir_group')"
	t_eq "$1: no duplicate flattened memberships" 0 \
	    "$(q 'SELECT count(*) FROM (SELECT group_id, user_id FROM dir_group_member_flat
	          GROUP BY 1, 2 HAVING count(*) > 1) d')"
	t_eq "$1: one sync state row, with a cookie" "1|1" \
	    "$(q 'SELECT count(*), count(cookie) FROM dir_sync_state')"
}

# Same numbers on both sides (a summary that says what is missing).
counts_match() {
	local ldap_users pg_users
	ldap_users=$(harness_ldapsearch -b "$PEOPLE" '(objectClass=inetOrgPerson)' 1.1 |
	    grep -c '^dn' || true)
	pg_users=$(q 'SELECT count(*) FROM dir_user')
	t_eq "$1: as many users as the directory has" "$ldap_users" "$pg_users"
	t_eq "$1: the changed users are all there ($2)" \
	    "$(harness_ldapsearch -b "$PEOPLE" "(uid=$2.*)" 1.1 | grep -c '^dn' || true)" \
	    "$(q "SELECT count(*) FROM dir_user WHERE uid LIKE '$2.%'")"
}

no_duplicate_key_errors() {
	# shellcheck disable=SC2016  # expands in the child shell
	t_check "$1: the log has no duplicate-key errors" \
	    bash -c '! grep -i "duplicate key" "$1"' _ "$DIRSYNCD_LOG"
}
no_sanitizer_report() { t_no_sanitizer_report "$DIRSYNCD_LOG"; }

# A change made after the chaos arrives: the daemon is not stuck.
probe() {
	local uid=probe.$1
	printf 'dn: uid=%s,%s\nchangetype: add\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: probe\n\n' \
	    "$uid" "$PEOPLE" "$uid" "$uid" | harness_ldif
	if harness_pg_poll 10000 1 "SELECT count(*) FROM dir_user WHERE uid = '$uid'"; then
		t_pass "$1: a change made afterwards arrives (${HARNESS_POLL_MS} ms)"
	else
		t_fail "$1: a change made afterwards arrives" "not within 10 s"
	fi
}

# ---- the writers ---------------------------------------------------------------

# DNs of the generated people and groups, one a line.
people_dns() {
	harness_ldapsearch -b "$PEOPLE" '(objectClass=inetOrgPerson)' 1.1 |
	    _harness_ldif_dns >"$HARNESS_DIR/people.dns"
	harness_ldapsearch -b "ou=groups,$LDAP_BASE" '(objectClass=groupOfNames)' 1.1 |
	    _harness_ldif_dns >"$HARNESS_DIR/groups.dns"
}
person_dn() { sed -n "$1p" "$HARNESS_DIR/people.dns"; }
group_dn() { sed -n "$1p" "$HARNESS_DIR/groups.dns"; }

# writer_round TAG W R - the LDIF of round R of writer W: a new user (with
# a manager), cn and mail of an existing person replaced, a manager
# changed, the new user added to two groups, a generated member removed
# from or put back into a group, every second round the previous new
# user renamed (and its group entries with it), every third round an
# earlier new user removed from its groups and deleted.
writer_round() {
	local tag=$1 w=$2 r=$3 u dn base g1 g2 p1 p2 mgr old new
	base=$((100 + w * 400 + r * 3))
	g1=$(b64 "$(group_dn $((10 + w)))")
	g2=$(b64 "$(group_dn $((30 + w)))")
	p1=$(person_dn "$base")
	p2=$(person_dn $((base + 1)))
	mgr=$(person_dn $((base + 2)))
	u=$tag.w$w.r$r
	dn="uid=$u,$PEOPLE"
	printf 'dn: %s\nchangetype: add\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: W%d\nmail: %s@example.com\nemployeeType: regular\nmanager:: %s\n\n' \
	    "$dn" "$u" "Chaos $u" "$w" "$u" "$(b64 "$mgr")"
	printf 'dn:: %s\nchangetype: modify\nreplace: cn\ncn: %s\n-\nreplace: mail\nmail: %s@example.com\n-\n\n' \
	    "$(b64 "$p1")" "Changed $tag $w $r" "$tag.w$w.r$r.changed"
	printf 'dn:: %s\nchangetype: modify\nreplace: manager\nmanager: %s\n-\n\n' \
	    "$(b64 "$p2")" "$dn"
	printf 'dn:: %s\nchangetype: modify\nadd: member\nmember: %s\n-\n\n' "$g1" "$dn"
	printf 'dn:: %s\nchangetype: modify\nadd: member\nmember: %s\n-\n\n' "$g2" "$dn"
	# A generated member of g1 leaves in even rounds and comes back in
	# odd ones.
	if ((r % 2 == 0)); then
		printf 'dn:: %s\nchangetype: modify\ndelete: member\nmember:: %s\n-\n\n' \
		    "$g1" "$(cat "$HARNESS_DIR/w$w.member")"
	else
		printf 'dn:: %s\nchangetype: modify\nadd: member\nmember:: %s\n-\n\n' \
		    "$g1" "$(cat "$HARNESS_DIR/w$w.member")"
	fi
	if ((r % 2 == 0 && r > 0)); then
		old="uid=$tag.w$w.r$((r - 1)),$PEOPLE"
		new="uid=$tag.w$w.r$((r - 1)).mv,$PEOPLE"
		printf 'dn: %s\nchangetype: modrdn\nnewrdn: uid=%s.w%d.r%d.mv\ndeleteoldrdn: 1\n\n' \
		    "$old" "$tag" "$w" $((r - 1))
		printf 'dn:: %s\nchangetype: modify\ndelete: member\nmember: %s\n-\nadd: member\nmember: %s\n-\n\n' \
		    "$g1" "$old" "$new"
		printf 'dn:: %s\nchangetype: modify\ndelete: member\nmember: %s\n-\nadd: member\nmember: %s\n-\n\n' \
		    "$g2" "$old" "$new"
	fi
	if ((r % 3 == 2)); then
		# Round r-2's user: renamed if r-2 was odd, as it then was.
		old="uid=$tag.w$w.r$((r - 2)),$PEOPLE"
		(((r - 2) % 2 == 1)) && old="uid=$tag.w$w.r$((r - 2)).mv,$PEOPLE"
		printf 'dn:: %s\nchangetype: modify\ndelete: member\nmember: %s\n-\n\n' "$g1" "$old"
		printf 'dn:: %s\nchangetype: modify\ndelete: member\nmember: %s\n-\n\n' "$g2" "$old"
		printf 'dn: %s\nchangetype: delete\n\n' "$old"
	fi
}

# writer TAG W - ROUNDS rounds, one ldapmodify each; failures counted in
# $HARNESS_DIR/TAG.w.fail, operations in TAG.w.ops.
writer() {
	local tag=$1 w=$2 r ldif ops=0 fail=0
	for ((r = 0; r < ROUNDS; r++)); do
		ldif=$(writer_round "$tag" "$w" "$r")
		ops=$((ops + $(grep -c '^changetype:' <<<"$ldif")))
		printf '%s\n' "$ldif" | harness_ldif 2>>"$HARNESS_DIR/$tag.w$w.err" ||
		    fail=$((fail + 1))
	done
	echo "$ops" >"$HARNESS_DIR/$tag.w$w.ops"
	echo "$fail" >"$HARNESS_DIR/$tag.w$w.fail"
}

# start_writers TAG - WRITERS writers in parallel; WRITER_PIDS.
start_writers() {
	local w
	WRITER_PIDS=()
	for ((w = 1; w <= WRITERS; w++)); do
		writer "$1" "$w" &
		WRITER_PIDS+=("$!")
		t_bg "$!"
	done
}
# wait_writers TAG - wait for them; check they all got through.
wait_writers() {
	local pid ops=0 fail=0 w
	for pid in "${WRITER_PIDS[@]}"; do
		wait "$pid" || true
	done
	for ((w = 1; w <= WRITERS; w++)); do
		ops=$((ops + $(cat "$HARNESS_DIR/$1.w$w.ops" 2>/dev/null || echo 0)))
		fail=$((fail + $(cat "$HARNESS_DIR/$1.w$w.fail" 2>/dev/null || echo 1)))
	done
	WRITER_OPS=$ops
	if ((fail == 0)); then
		t_pass "$1: $WRITERS writers made $ops LDAP changes"
	else
		t_fail "$1: $WRITERS writers made $ops LDAP changes" "$fail ldapmodify runs failed:"
		cat "$HARNESS_DIR/$1".w*.err 2>/dev/null | sed 's/^/#   | /' | tail -n 10
	fi
}

# ---- the directory ------------------------------------------------------------------

"$top_srcdir/tests/harness/gen-directory" --users "$USERS" --groups 50 \
    --memberships $((2 * USERS)) >"$HARNESS_DIR/directory.ldif"
harness_slapadd "$HARNESS_DIR/directory.ldif"
harness_start_slapd
harness_start_pg
PEOPLE=ou=people,$LDAP_BASE
people_dns
# Each writer's generated member that leaves and comes back (a user).
for ((w = 1; w <= WRITERS; w++)); do
	harness_ldapsearch -s base -b "$(group_dn $((10 + w)))" member |
	    awk '/^member: uid=/ { sub(/^member: /, ""); print; exit }' |
	    tr -d '\n' | base64 -w0 >"$HARNESS_DIR/w$w.member"
	[[ -s $HARNESS_DIR/w$w.member ]] || harness_die "group $((10 + w)) has no user member"
done

# Small batches: many transactions, so the terminations land between and
# inside them.
harness_write_mirror_config '[mirror]' 'batch_size = 200'

# ---- 1. terminated again and again during the initial sync ----------------------

T0=$(harness_now_ms)
start_chaos initial 150 400 asap
harness_start_dirsyncd
sleep "${MIRROR_CHAOS_INITIAL_S:-4}"
stop_chaos
t_check "initial: the daemon survived $(chaos_kills) terminations" kill -0 "$DIRSYNCD_PID"
t_check "initial: terminations hit the daemon before persist ($(chaos_kills_not_in persist) of $(chaos_kills))" \
    test "$(chaos_kills_not_in persist)" -gt 0
t_check "initial: reaches persist once the chaos stops" harness_sync_wait_phase persist 60
caught_up "initial"
t_eq "initial: every user mirrored" "$USERS" "$(q 'SELECT count(*) FROM dir_user')"
no_duplicates "initial"
log=$(cat "$DIRSYNCD_LOG")
t_check "initial: the log shows PostgreSQL reconnects ($(grep -c 'conn=postgresql state=ready' <<<"$log") ready lines)" \
    test "$(grep -c 'conn=postgresql state=ready' <<<"$log")" -ge 2
t_grep "initial: the log says why (terminated by an administrator)" \
    'conn=postgresql state=backoff.*administrator command' "$log"
harness_log "initial sync under chaos: $(($(harness_now_ms) - T0)) ms"

# ---- 2. terminated again and again while the directory changes -----------------

T0=$(harness_now_ms)
mark=$(harness_log_mark)
start_chaos persist 100 500
start_writers chaos
wait_writers chaos
sleep 0.5   # a termination or two after the last change, too
stop_chaos
t_check "persist: the daemon survived $(chaos_kills) terminations" kill -0 "$DIRSYNCD_PID"
t_check "persist: there were terminations" test "$(chaos_kills)" -gt 0
caught_up "persist"
t_check "persist: back in persist" harness_sync_wait_phase persist 30
no_duplicates "persist"
counts_match "persist" chaos
t_check "persist: the log shows the reconnects" \
    test "$(log_count "$mark" 'conn=postgresql state=ready')" -ge 1
probe persist
harness_log "persist chaos: $WRITER_OPS changes, $(($(harness_now_ms) - T0)) ms"

# ---- 3. PostgreSQL restarted (fast shutdown) while the directory changes ----------

T0=$(harness_now_ms)
mark=$(harness_log_mark)
start_writers restart
for i in 1 2; do
	# Each restart hits a connected daemon: wait for it to be back first.
	wait_for "the daemon's PostgreSQL session" 15 daemon_has_backend || true
	sleep "$(t_ms_to_s "$(t_rand_ms 300 800)")"
	harness_stop_pg
	sleep "$(t_ms_to_s "$(t_rand_ms 100 500)")"
	harness_start_pg_again || harness_die "PostgreSQL did not start again"
done
wait_writers restart
t_check "restart: the daemon survived two restarts of PostgreSQL" kill -0 "$DIRSYNCD_PID"
caught_up "restart"
t_check "restart: back in persist" harness_sync_wait_phase persist 30
no_duplicates "restart"
counts_match "restart" restart
t_check "restart: the log shows both reconnects" \
    test "$(log_count "$mark" 'conn=postgresql state=ready')" -ge 2
t_grep "restart: the log says the server went away" \
    'conn=postgresql state=backoff.*(57P01|Connection refused|shut)' \
    "$(harness_log_since "$mark")"
probe restart
harness_log "restart chaos: $WRITER_OPS changes, $(($(harness_now_ms) - T0)) ms"

# ---- 4. statement_timeout = 1ms for the daemon's role while changes flow ----------
#
# A role setting applies to sessions that start after it: the daemon's
# session is replaced (as any reconnect in that window would), so its
# statements time out.  Once the setting is reset, the session the
# daemon holds still has it: the daemon must get a new one by itself.

schema_state() { harness_schema_state 2>/dev/null || echo '?'; }
pg_state() { harness_conn_state postgresql 2>/dev/null || echo '?'; }

T0=$(harness_now_ms)
mark=$(harness_log_mark)
q "ALTER ROLE dirsync SET statement_timeout = '1ms'" >/dev/null
terminate_daemon_backends >/dev/null
start_writers timeout
wait_writers timeout
sleep 1
t_check "timeout: the daemon survives statement timeouts" kill -0 "$DIRSYNCD_PID"
t_grep "timeout: the log shows the statement timeouts" \
    'statement timeout.*57014' "$(harness_log_since "$mark")"
q "ALTER ROLE dirsync RESET statement_timeout" >/dev/null
reset_mark=$(harness_log_mark)
TIMEOUT_RECOVER_S=${MIRROR_CHAOS_TIMEOUT_RECOVER_S:-10}
if equal_within "$TIMEOUT_RECOVER_S"; then
	t_pass "timeout: after the reset the daemon recovers by itself ($EQUAL_MS ms)"
else
	t_fail "timeout: after the reset the daemon recovers by itself" \
	    "${TIMEOUT_RECOVER_S}s after ALTER ROLE dirsync RESET statement_timeout the mirror still lags:" \
	    "schema=$(schema_state) postgresql=$(pg_state) sync phase=$(harness_sync_phase 2>/dev/null || echo '?')" \
	    "the daemon's session still has: $(q "SELECT count(*) || ' session(s), backend_start ' || max(backend_start)::time(0)
	        FROM pg_stat_activity WHERE application_name = 'dirsyncd'") (no reconnect)" \
	    "statement timeouts logged since the reset: $(log_count "$reset_mark" '57014')" \
	    "last: $(harness_log_since "$reset_mark" | grep 57014 | tail -n 1 | cut -c1-200)" \
	    "differences (first lines):"
	printf '%s\n' "$EQUAL_OUT" | sed 's/^/#   | /' | head -n 6
fi
# What an operator would do: replace the daemon's session.
terminate_daemon_backends >/dev/null
caught_up "timeout (after the session is replaced)"
t_check "timeout: back in persist" harness_sync_wait_phase persist 30
t_eq "timeout: schema state done" "done" "$(schema_state)"
no_duplicates "timeout"
counts_match "timeout" timeout
probe timeout
harness_log "statement_timeout: $WRITER_OPS changes, $(($(harness_now_ms) - T0)) ms"

# ---- 5. a cookie that names no CSN -------------------------------------------------
#
# Found by scenario 2.  With writes in parallel, slapd (2.5) commits some
# out of CSN order; the Sync State control of such a change carries the
# cookie "rid=000", which names no CSN.  The daemon stores it like any
# other, and a resume with it tells slapd nothing: it sends the whole
# directory and ends the refresh with refreshDelete, which the daemon
# (having sent a cookie) reads as a delta, so entries deleted in the
# meantime stay in the mirror for good.
#
# A test-only trigger on dir_sync_state logs every cookie the daemon
# commits and, once the stored one names no CSN, holds the daemon's next
# cookie update (pg_sleep) so that the stored cookie stays what it is;
# a user is then deleted, the daemon's session terminated and the
# trigger disarmed: the daemon resumes with the cookie it stored.

daemon_frozen() {
	[[ $(pg_sql "SELECT count(*) FROM pg_stat_activity
	    WHERE application_name = 'dirsyncd' AND wait_event = 'PgSleep'" 2>/dev/null) == 1 ]]
}
writers_running() {
	local pid
	for pid in "${WRITER_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null && return 0
	done
	return 1
}

mark=$(harness_log_mark)
pg_sql "CREATE TABLE chaos_cookie_log (at timestamptz DEFAULT clock_timestamp(), cookie text);
CREATE TABLE chaos_freeze (armed boolean NOT NULL);
INSERT INTO chaos_freeze VALUES (true);
ALTER TABLE chaos_cookie_log OWNER TO dirsync;
ALTER TABLE chaos_freeze OWNER TO dirsync;
CREATE FUNCTION chaos_cookie_watch() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	INSERT INTO chaos_cookie_log (cookie) VALUES (convert_from(NEW.cookie, 'UTF8'));
	IF OLD.cookie IS NOT NULL
	    AND position('csn=' IN convert_from(OLD.cookie, 'UTF8')) = 0
	    AND (SELECT armed FROM chaos_freeze) THEN
		PERFORM pg_sleep(60);
	END IF;
	RETURN NEW;
END \$\$;
CREATE TRIGGER chaos_cookie_watch BEFORE UPDATE ON dir_sync_state FOR EACH ROW
    WHEN (OLD.cookie IS DISTINCT FROM NEW.cookie) EXECUTE FUNCTION chaos_cookie_watch();" >/dev/null
start_writers cookie
frozen=0
while :; do
	if daemon_frozen; then
		frozen=1
		break
	fi
	writers_running || break
	sleep 0.05
done
# A last look, for a batch that was committing as the writers ended.
((frozen)) || { sleep 1; ! daemon_frozen || frozen=1; }
wait_writers cookie
csnless=$(q "SELECT string_agg(DISTINCT cookie, ' ') FROM chaos_cookie_log
    WHERE position('csn=' IN cookie) = 0")
t_eq "cookie: the daemon never stores a cookie that names no CSN ($(q 'SELECT count(*) FROM chaos_cookie_log') stored)" \
    "" "$csnless"
if ((frozen)); then
	gone=$(person_dn 4001)
	gone_id=$(harness_ldap_uuid "$gone")
	harness_ldap_delete_refint "$gone"
	q "UPDATE chaos_freeze SET armed = false" >/dev/null
	terminate_daemon_backends >/dev/null
	t_check "cookie: back in persist after the resume" harness_sync_wait_phase persist 30
	if harness_pg_poll 10000 0 "SELECT count(*) FROM dir_user WHERE id = '$gone_id'"; then
		t_pass "cookie: a user deleted before the resume is gone (${HARNESS_POLL_MS} ms)"
	else
		t_fail "cookie: a user deleted before the resume is gone" \
		    "still in dir_user 10 s later: $gone" \
		    "the resume: $(harness_log_since "$mark" | grep -E 'resume=|refresh done' |
		        tail -n 2 | cut -d' ' -f3- | tr '\n' ' ')"
	fi
	caught_up "cookie" 10   # after the 10 s above
else
	q "UPDATE chaos_freeze SET armed = false" >/dev/null
	harness_log "cookie: the stored cookie always named a CSN this time: the resume part did not run"
fi
q "DROP TRIGGER chaos_cookie_watch ON dir_sync_state" >/dev/null

# ---- the end ----------------------------------------------------------------------

no_duplicate_key_errors "all scenarios"
t_check "no sanitizer report in the daemon log ($T_BUILD_KIND build)" no_sanitizer_report
harness_stop_dirsyncd
t_eq "SIGTERM: exit status 0" 0 "$HARNESS_STOP_RC"
t_check "no sanitizer report after the exit ($T_BUILD_KIND build)" no_sanitizer_report
t_done
