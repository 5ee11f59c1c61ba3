#!/usr/bin/env bash
# systemd_notify.sh - what dirsyncd tells systemd, without systemd: a
# listener on a Unix datagram socket stands in for the service manager's
# $NOTIFY_SOCKET and records every message.  READY=1 and STATUS= at start,
# WATCHDOG=1 at half of $WATCHDOG_USEC (and none when $WATCHDOG_PID names
# another process), RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 and exit
# 0 on SIGTERM.  Then the journal log format: with $JOURNAL_STREAM set
# (log.target = auto), stderr lines carry "<N>" priority prefixes and no
# timestamp.
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

# ---- the stand-in for systemd ---------------------------------------------

# notify_listen SOCKET OUT - bind a datagram socket and append each message
# to OUT as "<ms since the epoch> <message>", newlines in a message (one
# datagram may carry several assignments) written as "\n".  Core Perl only
# (perl-base).  It stops with the test: it is on the harness's list of
# processes to stop at exit, and it leaves when its parent is gone.
notify_listen() {
	perl -e '
		use strict; use warnings;
		use IO::Socket::UNIX; use Socket; use IO::Handle;
		use Time::HiRes qw(time);
		my ($path, $out) = @ARGV;
		my $parent = getppid();
		unlink $path;
		my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM(), Local => $path)
		    or die "bind $path: $!\n";
		open(my $fh, ">>", $out) or die "$out: $!\n";
		$fh->autoflush(1);
		$SIG{TERM} = sub { exit 0 };
		my $rin = "";
		vec($rin, fileno($s), 1) = 1;
		while (getppid() == $parent) {
			next unless select(my $rout = $rin, undef, undef, 0.2) > 0;
			defined(recv($s, my $msg, 65536, 0)) or next;
			$msg =~ s/\n+\z//;
			$msg =~ s/\n/\\n/g;
			printf $fh "%d %s\n", time() * 1000, $msg;
		}
	' "$1" "$2" &
	HARNESS_DIRSYNCD_PIDS+=("$!")  # stopped by the harness's EXIT trap
	wait_for "notify socket $1" 10 test -S "$1"
}

NOTIFY_OUT=$HARNESS_DIR/notify.out
NOTIFY_SOCK=$HARNESS_DIR/notify.sock
: >"$NOTIFY_OUT"
notify_listen "$NOTIFY_SOCK" "$NOTIFY_OUT"

# Messages (without the time) received after line MARK of NOTIFY_OUT.
notes_since() { tail -n "+$(($1 + 1))" "$NOTIFY_OUT" | cut -d' ' -f2-; }
notes_mark() { wc -l <"$NOTIFY_OUT"; }
# has_note MARK REGEX - a message after MARK matches REGEX.
has_note() { notes_since "$1" | grep -qE -- "$2"; }
# The times of the WATCHDOG=1 messages, one per line.
watchdog_times() { awk '$2 == "WATCHDOG=1" { print $1 }' "$NOTIFY_OUT"; }

# A wrapper that sets WATCHDOG_PID to its own pid and execs the daemon,
# as systemd does: libsystemd's sd_watchdog_enabled() ignores
# WATCHDOG_USEC meant for another process.  (harness_spawn_dirsyncd runs
# $DIRSYNCD in the background, so the pid is not known before.)
wrapper=$HARNESS_DIR/dirsyncd-watchdog-pid
cat >"$wrapper" <<EOF
#!/bin/sh
WATCHDOG_PID=\$\$
export WATCHDOG_PID
exec "$DIRSYNCD" "\$@"
EOF
chmod 755 "$wrapper"

# ---- start: READY=1, STATUS=, WATCHDOG=1 ---------------------------------------

harness_write_config
mark=$(notes_mark)
DIRSYNCD=$wrapper NOTIFY_SOCKET=$NOTIFY_SOCK WATCHDOG_USEC=2000000 \
    harness_start_dirsyncd
t_check "READY=1 at start" wait_for "READY=1" 10 has_note "$mark" '^READY=1$'
t_check "STATUS=running" wait_for "STATUS=running" 10 has_note "$mark" '^STATUS=running$'
t_eq "READY=1 is the first message" READY=1 "$(notes_since "$mark" | head -n 1)"
t_check "STATUS= names the schema once it is migrated" \
    wait_for "STATUS=schema" 20 has_note "$mark" '^STATUS=schema version [0-9]+$'

# WATCHDOG_USEC = 2 s: a ping every second (half the interval).
t0=$(harness_now_ms)
sleep 3
t1=$(harness_now_ms)
pings=$(watchdog_times | awk -v a="$t0" -v b="$t1" '$1 >= a && $1 <= b' | wc -l)
t_check "WATCHDOG=1 at least twice in 3 s (got $pings)" test "$pings" -ge 2
t_check "daemon running" kill -0 "$DIRSYNCD_PID"

# ---- SIGHUP: RELOADING=1, then READY=1 ---------------------------------------

mark=$(notes_mark)
kill -HUP "$DIRSYNCD_PID"
t_check "SIGHUP: READY=1 after the reload" \
    wait_for "READY=1 after SIGHUP" 10 has_note "$mark" '^READY=1$'
t_eq "SIGHUP: RELOADING=1 then READY=1" "RELOADING=1 READY=1" \
    "$(notes_since "$mark" | grep -E '^(RELOADING|READY)=' | tr '\n' ' ' |
        sed 's/ $//')"
t_check "reload took (generation 2)" test \
    "$(harness_status_get 'string(/dirsync/config/@generation)')" = 2

# ---- SIGTERM: STOPPING=1, exit 0 ---------------------------------------------

mark=$(notes_mark)
harness_stop_dirsyncd
t_eq "SIGTERM: exit status 0" 0 "$HARNESS_STOP_RC"
t_check "SIGTERM: STOPPING=1" wait_for "STOPPING=1" 5 has_note "$mark" '^STOPPING=1$'

# Over the whole run no gap between pings reached the 2 s timeout.
maxgap=$(watchdog_times | awk 'NR > 1 && $1 - p > m { m = $1 - p } { p = $1 } END { print m + 0 }')
t_check "watchdog: longest gap ${maxgap} ms < 2000 ms (WATCHDOG_USEC)" \
    test "$maxgap" -lt 2000

# ---- WATCHDOG_PID of another process: no watchdog pings -----------------------

mark=$(notes_mark)
NOTIFY_SOCKET=$NOTIFY_SOCK WATCHDOG_USEC=1000000 WATCHDOG_PID=1 \
    harness_start_dirsyncd
t_check "other WATCHDOG_PID: READY=1" wait_for "READY=1" 10 has_note "$mark" '^READY=1$'
sleep 2.5
no_watchdog() { ! notes_since "$1" | grep -qx 'WATCHDOG=1'; }
t_check "other WATCHDOG_PID: no WATCHDOG=1" no_watchdog "$mark"
harness_stop_dirsyncd
t_eq "other WATCHDOG_PID: exit status 0" 0 "$HARNESS_STOP_RC"

# ---- no NOTIFY_SOCKET: nothing sent, nothing breaks -----------------------------

mark=$(notes_mark)
harness_start_dirsyncd
# Stopped once the mirror is steady: a SIGTERM while it loads its sync
# state leaks under the sanitizers (exit 1), a bug of its own.
t_check "without NOTIFY_SOCKET: mirror running" harness_sync_wait_phase persist 15
harness_stop_dirsyncd
t_eq "without NOTIFY_SOCKET: exit status 0" 0 "$HARNESS_STOP_RC"
t_eq "without NOTIFY_SOCKET: no message" "" "$(notes_since "$mark")"

# ---- JOURNAL_STREAM: "<N>" prefixes, no timestamp --------------------------------

# log.target = auto (the default; the harness writes "stderr") picks the
# journal format because JOURNAL_STREAM is set.  Its value (device:inode
# of stderr under systemd) is not compared with anything.  An LDAP URI
# where nothing listens gives a warning to look at too.
stderr_log=$DIRSYNCD_LOG
DIRSYNCD_LOG=$HARNESS_DIR/dirsyncd-journal.log
harness_write_config '[log]' 'target =!' '[ldap]' "uri = ldap://127.0.0.1:$(harness_free_port)"
JOURNAL_STREAM=0:0 harness_start_dirsyncd
t_check "journal: the ldap warning is logged" wait_for "ldap warning" 10 \
    grep -q 'warning: conn=ldap' "$DIRSYNCD_LOG"
harness_stop_dirsyncd
t_eq "journal: exit status 0" 0 "$HARNESS_STOP_RC"
journal=$(cat "$DIRSYNCD_LOG")
t_grep "journal: info lines start with <6>" '^<6>.*started version=' "$journal"
t_grep "journal: warnings start with <4>" '^<4>.*conn=ldap' "$journal"
t_eq "journal: every line starts with a <0-7> prefix" "" \
    "$(grep -vE '^<[0-7]>' <<<"$journal" || true)"
t_eq "journal: no timestamps" "" \
    "$(grep -E '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}' <<<"$journal" || true)"
t_check "without JOURNAL_STREAM (target stderr): timestamped lines" \
    grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z dirsyncd\[[0-9]+\]: info: ' \
    "$stderr_log"
DIRSYNCD_LOG=$stderr_log

t_done
