# shellcheck shell=bash
# tests/bench/benchlib.sh - what the benchmark scripts share; sourced
# after tests/harness/lib.sh.
#
#   say TEXT                      a "# " line on stderr
#   now                           monotonic milliseconds
#   best_of N CMD...              fastest of N runs of CMD, in ms
#   bench_machine                 sets cpu_model and ram, and says them
#   bench_initial_sync CONF LOG   starts dirsyncd and waits for its
#                                 "phase=persist" log line (a blocked
#                                 tail -F, no polling): SYNC_MS, from the
#                                 start to that line's timestamp, and
#                                 DIRSYNCD_PID
#                                 (call it directly, not in $(...): it sets
#                                 both)
#   bench_cpu_ms PID...           user + system CPU time (ms) used so far
#                                 by these processes and their exited
#                                 children (a postmaster's backends)
#   bench_pg_pids                 the postmaster and its live children
#   bench_notify_latency          the notify-latency client (the build's,
#                                 else compiled into the temp directory)
#   verdict OK_EXPR VALUE         pass / fail from an awk condition
#   ratio B A                     B / A with two decimals
#   bench_exit VERDICT...         exit 1 when BENCH_STRICT=1 and one of
#                                 them is fail, else 0

say() { printf '# %s\n' "$*" >&2; }
now() { harness_now_ms; }

best_of() {
	local n=$1 i t0 t best=
	shift
	for ((i = 0; i < n; i++)); do
		t0=$(now)
		"$@"
		t=$(($(now) - t0))
		say "  run $((i + 1)): $t ms"
		[[ -n $best && $best -le $t ]] || best=$t
	done
	echo "$best"
}

bench_machine() {
	cpu_model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
	ram=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	say "machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, $ram RAM"
}

bench_initial_sync() {
	local conf=$1 log=$2 phase='' t0 mark stamp='' line left end_ms tail_fd tail_pid
	rm -f "$HARNESS_STATUS_SOCKET"
	mark=$( [[ -f $log ]] && wc -l <"$log" || echo 0)
	t0=$(now)
	harness_spawn_dirsyncd "$conf" "$log"
	DIRSYNCD_PID=$HARNESS_LAST_PID
	# The end is the daemon's own "phase=persist" log line, timestamped to
	# the millisecond, so noticing it late costs nothing.  It is waited
	# for by one blocked tail -F (inotify), not looked for: asking the
	# status socket every 50 ms, and then a grep of the log as often, took
	# a tenth of the two cores the measured processes compete for (perf
	# over the whole machine, session 4: 0.8 s of CPU in a 4.6 s run).
	# tail --pid ends with the daemon, so a daemon that dies ends the wait.
	exec {tail_fd}< <(exec tail -n "+$((mark + 1))" -F --pid="$DIRSYNCD_PID" \
	    "$log" 2>/dev/null)
	tail_pid=$!
	left=600
	while IFS= read -r -t "$left" -u "$tail_fd" line; do
		if [[ $line == *" mirror phase=persist "* ]]; then
			stamp=${line%% *}
			break
		fi
		left=$(((t0 + 600000 - $(now)) / 1000))
		((left > 0)) || break
	done
	kill "$tail_pid" 2>/dev/null || true
	exec {tail_fd}<&-
	if [[ -z $stamp ]]; then
		kill -0 "$DIRSYNCD_PID" 2>/dev/null ||
		    { tail -n 20 "$log" >&2; harness_die "dirsyncd died during the initial sync"; }
		harness_die "no persist phase after 600 s"
	fi
	end_ms=$(date -d "$stamp" +%s%3N)
	SYNC_MS=$((end_ms - t0))
	# Cross-check with the status socket: the phase it reports now.
	phase=$("$DIRSYNCCTL" -s "$HARNESS_STATUS_SOCKET" sync --xml 2>/dev/null |
	    harness_xpath 'string(/dirsync/sync/@phase)' || true)
	[[ $phase == persist ]] || say "warning: the log says persist, the status socket says '$phase'"
}

bench_cpu_ms() {
	local pid ticks=0 hz t
	hz=$(getconf CLK_TCK)
	for pid in "$@"; do
		# Fields after the command name, which is in parentheses and may
		# hold spaces: utime, stime, cutime and cstime are the 12th to
		# 15th of them.
		t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null |
		    awk '{ print $12 + $13 + $14 + $15 }') || t=0
		ticks=$((ticks + ${t:-0}))
	done
	echo $((ticks * 1000 / hz))
}

bench_pg_pids() {
	local pm
	pm=$(sed -n 1p "$PG_DATA/postmaster.pid" 2>/dev/null) || return 0
	[[ -n $pm ]] || return 0
	echo "$pm"
	pgrep -P "$pm" || true
}

bench_notify_latency() {
	local helper=${NOTIFY_LATENCY:-$top_builddir/tests/bench/notify-latency}
	if [[ ! -x $helper ]]; then
		helper=$HARNESS_DIR/notify-latency
		${CC:-cc} -O2 -std=c11 -o "$helper" "$top_srcdir/tests/bench/notify-latency.c" \
		    -I"$(pg_config --includedir)" -lpq -lldap -llber ||
		    harness_die "cannot build tests/bench/notify-latency.c"
	fi
	echo "$helper"
}

verdict() {
	if [[ -n $2 ]] && awk "BEGIN { exit !($1) }" </dev/null; then
		echo pass
	else
		echo fail
	fi
}

ratio() { awk -v b="$1" -v a="$2" 'BEGIN { printf "%.2f", b / a }'; }

# The verdicts are passed back in: verdict() runs in $(...), so it cannot
# count failures itself.
bench_exit() {
	local v
	if [[ ${BENCH_STRICT:-0} == 1 ]]; then
		for v in "$@"; do
			[[ $v == pass ]] || exit 1
		done
	fi
	exit 0
}
