#!/usr/bin/env bash
# reload_chaos.sh - SIGHUP storms while the mirror works.
#
#   1. during the initial sync of 5,000 users (batch_size 200): a SIGHUP
#      every 20-100 ms at random, the file alternating between valid
#      configurations that differ in reloadable options (log level,
#      retry backoff, mirror.max_delete_ratio, mirror.delete_guard_window,
#      status.client_timeout), a broken one (syntax error: rejected
#      whole, "keeping the old configuration") and one that changes a
#      restart-only option (mirror.batch_size: kept with a warning).
#      Afterwards the daemon reaches persist, equal to the directory; every
#      reload it started ended either taken (the generation counts them)
#      or rejected; the last valid file is what applies;
#   2. the same storm in persist while writers change the directory: it
#      catches up, equal to the directory, and `dirsyncctl health` is
#      healthy;
#   3. 200 SIGHUPs as fast as kill -HUP goes: the daemon answers, has as
#      many file descriptors as before, its resident set has not grown
#      by more than a few MB (plain build) and SIGTERM ends it with 0.
#
# Every time (sanitizer build): no sanitizer report in the daemon log,
# before and after SIGTERM.  Background loops are stopped by a
# harness_on_exit hook whatever ends the test.  RELOAD_CHAOS_SEED makes
# the random intervals repeatable.
# shellcheck disable=SC2119,SC2317,SC2016  # helpers called indirectly, optional args; bash -c scripts
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

USERS=${RELOAD_CHAOS_USERS:-5000}
WRITERS=${RELOAD_CHAOS_WRITERS:-3}
STORM_S=${RELOAD_CHAOS_STORM_S:-4}
BURST=${RELOAD_CHAOS_BURST:-200}
RSS_GROWTH_KB=${RELOAD_CHAOS_RSS_GROWTH_KB:-4096}
CATCH_UP_S=30
SEED=${RELOAD_CHAOS_SEED:-$$}
RANDOM=$SEED
harness_log "seed $SEED ($T_BUILD_KIND build)"

# ---- helpers --------------------------------------------------------------------

q() { pg_sql "$1" 2>&1 || true; }

log_count() { harness_log_since "$1" | grep -cE -- "$2" || true; }
no_sanitizer_report() { t_no_sanitizer_report "$DIRSYNCD_LOG"; }
generation() { harness_status_get 'string(/dirsync/config/@generation)'; }
generation_is() { [[ $(generation) == "$1" ]]; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null; }

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
caught_up() {
	if equal_within "$CATCH_UP_S"; then
		t_pass "$1: the mirror equals the directory ($EQUAL_MS ms after the storm)"
	else
		t_fail "$1: the mirror equals the directory" \
		    "still different ${CATCH_UP_S}s after the storm:"
		printf '%s\n' "$EQUAL_OUT" | sed 's/^/#   | /' | tail -n 20
	fi
}

# ---- the configurations ----------------------------------------------------------
#
# v0 is what the daemon starts with; v1 and v2 differ from it only in
# reloadable options; restart changes mirror.batch_size too (restart-only);
# bad is v0 with a syntax error on a known line.

conf=$HARNESS_DIR/dirsync.conf
cfgdir=$HARNESS_DIR/variants
mkdir -p "$cfgdir"
"$top_srcdir/tests/harness/gen-directory" --users "$USERS" --groups 50 \
    --memberships $((2 * USERS)) >"$HARNESS_DIR/directory.ldif"
harness_slapadd "$HARNESS_DIR/directory.ldif"
harness_start_slapd
harness_start_pg
PEOPLE=ou=people,$LDAP_BASE

variant() {
	local name=$1
	shift
	harness_write_mirror_config --file "$cfgdir/$name" '[mirror]' 'batch_size = 200' "$@"
}
variant v0 '[log]' 'level = info' '[retry]' 'backoff_min = 100ms' 'backoff_max = 1s' \
    '[mirror]' 'max_delete_ratio = 10%' 'delete_guard_window = 1h' \
    '[status]' 'client_timeout = 2s'
variant v1 '[log]' 'level = debug' '[retry]' 'backoff_min = 50ms' 'backoff_max = 2s' \
    '[mirror]' 'max_delete_ratio = 50%' 'delete_guard_window = 10m' \
    '[status]' 'client_timeout = 500ms'
variant v2 '[log]' 'level = info' '[retry]' 'backoff_min = 200ms' 'backoff_max = 800ms' \
    '[mirror]' 'max_delete_ratio = 25%' 'delete_guard_window = 30s' \
    '[status]' 'client_timeout = 5s'
variant restart '[log]' 'level = debug' '[mirror]' 'batch_size = 500' \
    'max_delete_ratio = 30%'
cp "$cfgdir/v0" "$cfgdir/bad"
printf '\n[mirror\nthis is not an option line\n' >>"$cfgdir/bad"
BAD_LINE=$(grep -n '^\[mirror$' "$cfgdir/bad" | cut -d: -f1)
# The valid files must check (dirsyncd -t) and the broken one must not,
# or the storm would not test what it says.
for v in v0 v1 v2 restart; do
	t_check "config $v is valid (dirsyncd -t)" "$DIRSYNCD" -t -c "$cfgdir/$v"
done
t_check "config bad is rejected (dirsyncd -t)" bash -c '! "$1" -t -c "$2"' _ "$DIRSYNCD" "$cfgdir/bad"

# install NAME - make variant NAME the daemon's file (atomic rename).
install_conf() {
	cp "$cfgdir/$1" "$conf.tmp"
	mv -f "$conf.tmp" "$conf"
}

# storm MS LOG - until MS have passed: install the next file of the cycle
# v1 v2 bad v0 restart v2 v1 bad v0 ..., SIGHUP, sleep 20-100 ms; one
# line "ms name phase" per signal (phase every 5th signal, else -).
STORM_CYCLE=(v1 v2 bad v0 restart v2 v1 bad v0 restart)
storm() {
	local ms=$1 log=$2 t_end n=0 name ph
	RANDOM=$((SEED + ms))
	t_end=$(($(harness_now_ms) + ms))
	while (($(harness_now_ms) < t_end)); do
		name=${STORM_CYCLE[n % ${#STORM_CYCLE[@]}]}
		install_conf "$name"
		kill -HUP "$DIRSYNCD_PID" 2>/dev/null || { echo "dead" >>"$log"; return 1; }
		ph=-
		((n % 5 != 0)) || ph=$(harness_sync_phase 2>/dev/null) || ph='?'
		echo "$(harness_now_ms) $name ${ph:-?}" >>"$log"
		n=$((n + 1))
		sleep "$(t_ms_to_s "$(t_rand_ms 20 100)")"
	done
}
start_storm() {
	STORM_LOG=$HARNESS_DIR/storm-$1.log
	: >"$STORM_LOG"
	storm "$2" "$STORM_LOG" &
	STORM_PID=$!
	t_bg "$STORM_PID"
}
storm_sent() { grep -vc '^dead' "$STORM_LOG" || true; }
storm_sent_of() { awk -v n="$1" '$2 == n { c++ } END { print c + 0 }' "$STORM_LOG"; }

# reloads_settled MARK - every "reloading" line since MARK has its
# outcome ("reloaded" or "reload failed") logged.
reloads_settled() {
	local since started done_
	since=$(harness_log_since "$1")
	started=$(grep -c 'reloading config=' <<<"$since" || true)
	done_=$(grep -cE 'reloaded config=|reload failed config=' <<<"$since" || true)
	[[ $started == "$done_" ]]
}

# check_storm TAG MARK GEN0 - the accounting of a storm after it: the
# final file (v0) reloaded, every reload ended one way or the other,
# the generation counts the taken ones, every broken one kept the old
# configuration with FILE:LINE, the restart-only change was warned.
check_storm() {
	local tag=$1 mark=$2 gen0=$3 since started ok failed kept sent bad warned gen
	sent=$(storm_sent)
	t_check "$tag: the daemon survived $sent SIGHUPs" kill -0 "$DIRSYNCD_PID"
	t_check "$tag: every reload it started has ended" wait_for "reloads to end" 20 \
	    reloads_settled "$mark"
	# The last one: the starting file again, so that what follows runs
	# with the configuration the test knows.
	install_conf v0
	gen=$(generation)
	kill -HUP "$DIRSYNCD_PID"
	t_check "$tag: a last reload (v0) is taken" wait_for "generation $((gen + 1))" 20 \
	    generation_is $((gen + 1))
	wait_for "the last reload to end" 10 reloads_settled "$mark" || true
	since=$(harness_log_since "$mark")
	started=$(grep -c 'reloading config=' <<<"$since" || true)
	ok=$(grep -c 'reloaded config=' <<<"$since" || true)
	failed=$(grep -c 'reload failed config=' <<<"$since" || true)
	kept=$(grep -c 'error: reload failed .*keeping the old configuration' <<<"$since" || true)
	bad=$(storm_sent_of bad)
	warned=$(grep -c 'warning: .*mirror\.batch_size cannot change while running; keeping the old value' <<<"$since" || true)
	harness_log "$tag: $sent SIGHUPs ($bad broken, $(storm_sent_of restart) restart-only):" \
	    "$started reloads, $ok taken, $failed rejected, $warned batch_size warnings"
	t_eq "$tag: one reload per SIGHUP (+1 final)" "$((sent + 1))" "$started"
	t_eq "$tag: every reload was taken or rejected" "$started" "$((ok + failed))"
	t_eq "$tag: the generation counts the reloads taken" "$((gen0 + ok))" "$(generation)"
	t_check "$tag: broken files were read ($failed rejections for $bad broken files sent)" \
	    test "$failed" -ge 1
	t_eq "$tag: every rejection says it keeps the old configuration" "$failed" "$kept"
	t_check "$tag: every rejection names FILE:LINE of the error" \
	    test "$(grep -cF "$conf:$BAD_LINE:" <<<"$since" || true)" -ge "$failed"
	t_check "$tag: the restart-only change was warned about ($warned times)" \
	    test "$warned" -ge 1
	t_eq "$tag: no option other than batch_size was called restart-only" "" \
	    "$(grep 'cannot change while running' <<<"$since" | grep -v 'mirror\.batch_size' | head -n 3 || true)"
	# The final v0 says level = info: no debug line after it.
	local m2
	m2=$(harness_log_mark)
	harness_status >/dev/null
	harness_sync_xml >/dev/null
	sleep 0.2
	t_check "$tag: the final level (info) applies: no debug lines after it" \
	    bash -c '! tail -n "+$(($1 + 1))" "$2" | grep -q ": debug: "' _ "$m2" "$DIRSYNCD_LOG"
}

# ---- 1. SIGHUP storm during the initial sync ----------------------------------------

T0=$(harness_now_ms)
install_conf v0
harness_start_dirsyncd
GEN0=$(generation)
t_match "initial: a config generation is reported" '^[1-9][0-9]*$' "$GEN0"
mark=0   # the daemon's whole log: it starts with the storm
start_storm initial $((STORM_S * 1000))
wait "$STORM_PID" || true
harness_log "initial: phases sampled during the storm: $(awk '$3 != "-" { print $3 }' "$STORM_LOG" | uniq -c | tr -s ' \n' ' ')"
# From the log: reloads before the first persist, and during the refresh.
before_persist=$(awk '/mirror phase=persist/ { exit } /reloading config=/ { n++ } END { print n + 0 }' "$DIRSYNCD_LOG")
in_refresh=$(awk '/mirror phase=persist/ { exit } /mirror phase=refresh/ { r = 1 } r && /reloading config=/ { n++ } END { print n + 0 }' "$DIRSYNCD_LOG")
harness_log "initial: $before_persist reloads before persist, $in_refresh of them during the refresh"
t_check "initial: reloads landed during the refresh ($in_refresh; $before_persist before persist)" \
    test "$in_refresh" -gt 0
check_storm initial "$mark" "$GEN0"
t_check "initial: reaches persist" harness_sync_wait_phase persist 60
caught_up initial
t_eq "initial: every user mirrored" "$USERS" "$(q 'SELECT count(*) FROM dir_user')"
t_check "initial: no sanitizer report ($T_BUILD_KIND build)" no_sanitizer_report
harness_log "initial sync under a SIGHUP storm: $(($(harness_now_ms) - T0)) ms"

# ---- 2. SIGHUP storm in persist while the directory changes --------------------------

harness_ldapsearch -b "$PEOPLE" '(objectClass=inetOrgPerson)' 1.1 |
    _harness_ldif_dns >"$HARNESS_DIR/people.dns"
person_dn() { sed -n "$1p" "$HARNESS_DIR/people.dns"; }

# writer W MS - for MS: add a user, change the cn and mail of a
# generated one, delete the user added two rounds before; one ldapmodify
# a round.  Rounds in $HARNESS_DIR/w.W.ops, failed runs in w.W.fail.
writer() {
	local w=$1 t_end r=0 fail=0 u dn p
	t_end=$(($(harness_now_ms) + $2))
	while (($(harness_now_ms) < t_end)); do
		u=hup.w$w.r$r
		dn="uid=$u,$PEOPLE"
		p=$(person_dn $((100 + w * 500 + r)))
		{
			printf 'dn: %s\nchangetype: add\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: W%d\nmail: %s@example.com\n\n' \
			    "$dn" "$u" "Hup $u" "$w" "$u"
			printf 'dn: %s\nchangetype: modify\nreplace: cn\ncn: Changed %d %d\n-\nreplace: mail\nmail: hup.%d.%d@example.com\n-\n\n' \
			    "$p" "$w" "$r" "$w" "$r"
			((r < 2)) || printf 'dn: uid=hup.w%d.r%d,%s\nchangetype: delete\n\n' "$w" $((r - 2)) "$PEOPLE"
		} | harness_ldif 2>>"$HARNESS_DIR/w.$w.err" || fail=$((fail + 1))
		r=$((r + 1))
	done
	echo "$r" >"$HARNESS_DIR/w.$w.ops"
	echo "$fail" >"$HARNESS_DIR/w.$w.fail"
}

T0=$(harness_now_ms)
mark=$(harness_log_mark)
gen0=$(generation)
WRITER_PIDS=()
for ((w = 1; w <= WRITERS; w++)); do
	writer "$w" $((STORM_S * 1000)) &
	WRITER_PIDS+=("$!")
	t_bg "$!"
done
start_storm persist $((STORM_S * 1000))
for pid in "${WRITER_PIDS[@]}"; do wait "$pid" || true; done
wait "$STORM_PID" || true
rounds=0 fails=0
for ((w = 1; w <= WRITERS; w++)); do
	rounds=$((rounds + $(cat "$HARNESS_DIR/w.$w.ops" 2>/dev/null || echo 0)))
	fails=$((fails + $(cat "$HARNESS_DIR/w.$w.fail" 2>/dev/null || echo 1)))
done
t_eq "persist: $WRITERS writers made $rounds rounds of changes, none failed" 0 "$fails"
check_storm persist "$mark" "$gen0"
caught_up persist
t_check "persist: back in persist" harness_sync_wait_phase persist 30
t_eq "persist: the writers' users are all there" \
    "$(harness_ldapsearch -b "$PEOPLE" '(uid=hup.*)' 1.1 | grep -c '^dn' || true)" \
    "$(q "SELECT count(*) FROM dir_user WHERE uid LIKE 'hup.%'")"
health=$("$DIRSYNCCTL" -s "$HARNESS_STATUS_SOCKET" health 2>&1) && hrc=0 || hrc=$?
t_eq "persist: dirsyncctl health exits 0 ($health)" 0 "$hrc"
t_match "persist: dirsyncctl health says healthy" '^healthy' "$health"
t_check "persist: no sanitizer report ($T_BUILD_KIND build)" no_sanitizer_report
harness_log "persist storm: $rounds writer rounds, $(($(harness_now_ms) - T0)) ms"

# ---- 3. a burst of SIGHUPs as fast as kill goes ------------------------------------

T0=$(harness_now_ms)
install_conf v1   # reloadable differences only; level debug
# Warm-up: the first reloads may grow pools that then stay.
mark=$(harness_log_mark)
for ((i = 0; i < 20; i++)); do kill -HUP "$DIRSYNCD_PID"; sleep 0.01; done
wait_for "warm-up reloads to end" 20 reloads_settled "$mark" || true
sleep 0.5
harness_status >/dev/null
fd0=$(fd_count "$DIRSYNCD_PID")
rss0=$(rss_kb "$DIRSYNCD_PID")
gen0=$(generation)
mark=$(harness_log_mark)
for ((i = 0; i < BURST; i++)); do kill -HUP "$DIRSYNCD_PID"; done
t_check "burst: the daemon survived $BURST SIGHUPs" kill -0 "$DIRSYNCD_PID"
t_check "burst: every reload it started has ended" wait_for "reloads to end" 30 \
    reloads_settled "$mark"
fast_reloads=$(log_count "$mark" 'reloaded config=')
# Pending signals merge, so the fast burst may give one reload: a second
# burst with a few ms between signals makes the daemon reload for most.
for ((i = 0; i < BURST; i++)); do kill -HUP "$DIRSYNCD_PID"; sleep 0.002; done
t_check "burst: the daemon survived $BURST more SIGHUPs, 2 ms apart" kill -0 "$DIRSYNCD_PID"
t_check "burst: every reload it started has ended (paced)" wait_for "reloads to end" 30 \
    reloads_settled "$mark"
sleep 0.5
t_check "burst: the status socket answers" harness_status
burst_reloads=$(log_count "$mark" 'reloaded config=')
harness_log "burst: $BURST SIGHUPs at once gave $fast_reloads reloads (pending ones merge)," \
    "$BURST 2 ms apart gave $((burst_reloads - fast_reloads))"
t_check "burst: reloads happened ($burst_reloads)" test "$burst_reloads" -ge 2
t_eq "burst: no reload rejected" 0 "$(log_count "$mark" 'reload failed')"
t_eq "burst: the generation counts the reloads" "$((gen0 + burst_reloads))" "$(generation)"
fd1=$(fd_count "$DIRSYNCD_PID")
rss1=$(rss_kb "$DIRSYNCD_PID")
t_eq "burst: no file descriptor leaked ($fd0 before)" "$fd0" "$fd1"
harness_log "burst: VmRSS ${rss0} kB before, ${rss1} kB after"
if [[ $T_BUILD_KIND == plain ]]; then
	t_check "burst: VmRSS grew by at most $RSS_GROWTH_KB kB (${rss0} -> ${rss1} kB)" \
	    test $((rss1 - rss0)) -le "$RSS_GROWTH_KB"
fi
t_check "burst: still connected to PostgreSQL" \
    test "$(harness_conn_state postgresql)" = ready
t_check "burst: still in persist" test "$(harness_sync_phase)" = persist
harness_log "burst: $(($(harness_now_ms) - T0)) ms"

# ---- the end ------------------------------------------------------------------------

t_check "no sanitizer report in the daemon log ($T_BUILD_KIND build)" no_sanitizer_report
harness_stop_dirsyncd
t_eq "SIGTERM: exit status 0" 0 "$HARNESS_STOP_RC"
t_check "no sanitizer report after the exit ($T_BUILD_KIND build)" no_sanitizer_report
t_done
