# shellcheck shell=bash
# tests/harness/testlib.sh - tiny assertion helpers for the integration
# tests; source after lib.sh.
#
#   t_check "schema is done" test "$(harness_schema_state)" = done
#   t_pass "name" / t_fail "name" "why"
#   t_done                # last line: "N passed, N failed"; exit 1 on failure
#
# t_skip "why" exits 77 (automake: skipped) when nothing can run.

T_PASSED=0
T_FAILED=0

# As scripts/test sets them, for a direct run against a sanitizer build:
# leaks fail, the listed library leaks excepted, and undefined behaviour
# stops the program with a stack.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top_srcdir/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
T_SANITIZER_RE='runtime error|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|ERROR: [A-Za-z]*Sanitizer'

# t_no_sanitizer_report FILE - true when FILE (a daemon's log) holds no
# sanitizer report (the harness's daemons log their stderr there).
t_no_sanitizer_report() { ! grep -E "$T_SANITIZER_RE" "$1"; }
# plain or sanitizer: what the build under test is (its Makefile says).
# shellcheck disable=SC2034  # read by the tests
T_BUILD_KIND=$(grep -q '^SAN_CFLAGS = .*-fsanitize' "${top_builddir:-.}/Makefile" \
    2>/dev/null && echo sanitizer || echo plain)

# Background processes of a test (writers, chaos loops): t_bg PID...
# remembers them, and they are stopped (TERM, then waited for) at exit
# whatever ends the test, or earlier by t_bg_stop PID...
T_BG_PIDS=()
t_bg() { T_BG_PIDS+=("$@"); }
t_bg_stop() {
	local pid
	for pid in "$@"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "$@"; do
		wait "$pid" 2>/dev/null || true
	done
}
_t_bg_stop_all() { ((${#T_BG_PIDS[@]} == 0)) || t_bg_stop "${T_BG_PIDS[@]}"; }
harness_on_exit _t_bg_stop_all

# t_rand_ms MIN MAX - a random whole number in [MIN, MAX] ($RANDOM, so
# a test that seeds RANDOM repeats its intervals); t_ms_to_s MS - "0.150"
# for sleep.
t_rand_ms() { echo $(($1 + RANDOM % ($2 - $1 + 1))); }
t_ms_to_s() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

t_pass() {
	T_PASSED=$((T_PASSED + 1))
	printf 'ok - %s\n' "$1"
}

# t_fail NAME [DETAIL...]
t_fail() {
	T_FAILED=$((T_FAILED + 1))
	printf 'not ok - %s\n' "$1"
	shift
	(($# == 0)) || printf '#   %s\n' "$@"
}

# t_check NAME COMMAND... - pass when the command succeeds.  Its output is
# shown only when it fails.
t_check() {
	local name=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	if [[ $rc == 0 ]]; then
		t_pass "$name"
	else
		t_fail "$name" "command: $* (exit $rc)"
		[[ -z $out ]] || printf '%s\n' "$out" | sed 's/^/#   | /' | tail -n 20
	fi
}

# t_eq NAME EXPECTED ACTUAL
t_eq() {
	if [[ $2 == "$3" ]]; then
		t_pass "$1"
	else
		t_fail "$1" "expected: '$2'" "actual:   '$3'"
	fi
}

# t_match NAME EXTENDED_REGEX ACTUAL
t_match() {
	if [[ $3 =~ $2 ]]; then
		t_pass "$1"
	else
		t_fail "$1" "expected to match: $2" "actual: '$3'"
	fi
}

# t_grep NAME EXTENDED_REGEX TEXT - pass when a line of TEXT matches.
t_grep() {
	if grep -qE -- "$2" <<<"$3"; then
		t_pass "$1"
	else
		t_fail "$1" "no line matches: $2"
		printf '%s\n' "$3" | sed 's/^/#   | /' | tail -n 20
	fi
}

# t_skip WHY - nothing can run: exit 77 (automake's "skipped").
t_skip() {
	printf '# SKIP %s\n' "$*"
	exit 77
}

# t_done - summary line, then exit 0 (all passed) or 1.  On failure the
# tail of the daemon log helps whoever reads tests/integration/*.log.
t_done() {
	local log=${DIRSYNCD_LOG:-${HARNESS_DIR:-}/dirsyncd.log}
	if ((T_FAILED > 0)) && [[ -f $log ]]; then
		printf '# --- last lines of %s ---\n' "$log"
		tail -n 40 "$log" | sed 's/^/# /'
	fi
	printf '%d passed, %d failed\n' "$T_PASSED" "$T_FAILED"
	((T_FAILED == 0)) || exit 1
	exit 0
}
