#!/usr/bin/env bash
# ctl_replies.sh - dirsyncctl is what monitoring scripts run: whatever
# comes back on the status socket, it must print something and exit 0 or
# 1 (never die of a signal, never hang past -T, never trip the sanitizers).
# A fake daemon (fake_status) answers status, health, sync, sync --xml,
# raw and sync --confirm-deletes with the daemon's real documents, then
# with them mutated attribute by attribute and element by element,
# truncated, huge, binary, slow, endless, or with nothing at all.
#
# The documents below are what dirsyncd 0.1.0 answered (slapd down, so
# every optional part is there); each is first checked against
# schema/status.xsd, so a protocol change shows here as a failing check.
# Needs no servers.  With a sanitizer build (configure
# --enable-sanitizers) any ASan/UBSan/LSan report fails the case.
# shellcheck disable=SC2086,SC2317  # $cmd is split into arguments; a hook
# make check may run this with /bin/sh: switch to bash first.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/../.. source=tests/harness/lib.sh
. "${top_srcdir:-$(dirname "$0")/../..}/tests/harness/lib.sh"
# shellcheck source=tests/harness/testlib.sh
. "$top_srcdir/tests/harness/testlib.sh"

# Byte semantics for ${#x} and ${x:i:n}, whatever the caller's locale;
# '&' in ${x/pattern/string} is just '&' (bash 5.2 would insert pattern).
export LC_ALL=C
shopt -u patsub_replacement 2>/dev/null || true

FAKE_STATUS=${FAKE_STATUS:-$top_builddir/tests/integration/fake_status}
[[ -x $DIRSYNCCTL ]] || harness_die "dirsyncctl not built: $DIRSYNCCTL (run make)"
[[ -x $FAKE_STATUS ]] ||
    harness_die "not built: $FAKE_STATUS (run make check, or make tests/integration/fake_status)"

harness_init
SOCK=$HARNESS_DIR/fake.sock
CONTROL=$HARNESS_DIR/control  # fake_status reads it for every connection
R=$HARNESS_DIR/reply          # what the next case answers
OUT=$HARNESS_DIR/out
ERR=$HARNESS_DIR/err
CMDLOG=$HARNESS_DIR/commands
"$FAKE_STATUS" "$SOCK" "$CONTROL" 2>>"$HARNESS_DIR/fake_status.log" &
FAKE_PID=$!
_ctl_stop_fake() {
	kill "$FAKE_PID" 2>/dev/null
	wait "$FAKE_PID" 2>/dev/null
	return 0
}
harness_on_exit _ctl_stop_fake
wait_for "fake_status to listen" 10 test -S "$SOCK" ||
    harness_die "fake_status did not start: $(cat "$HARNESS_DIR/fake_status.log")"

P=$(sed -n 's/^#define STATUS_PROTO_VERSION \([0-9]*\).*/\1/p' \
    "$top_srcdir/src/common/status_proto.h")
[[ -n $P ]] || harness_die "no STATUS_PROTO_VERSION in src/common/status_proto.h"

T=2            # dirsyncctl -T for the next case
MARGIN_MS=1500 # how long after -T it may take (start-up, sanitizers)
N_CASE=0

# ---- the daemon's documents ---------------------------------------------------

DECL='<?xml version="1.0" encoding="UTF-8"?>'
DAEMON='<daemon version="0.1.0" pid="17224" started="2026-11-26T04:49:10Z" uptime="4"/>'
CONFIG='<config path="/etc/dirsync/dirsync.conf" generation="1" loaded="2026-11-26T04:49:10Z"/>'
SCHEMA='<schema state="done" version="8" binary-version="8" applied="8"/>'
LDAP='<connection name="ldap" state="backoff" server="ldap://127.0.0.1:23001" since="2026-11-26T04:49:13Z" retries="8" bind="cn=dirsync,ou=services,dc=example,dc=com"><last-error at="2026-11-26T04:49:13Z">ldap://127.0.0.1:23001: connect: Connection refused</last-error></connection>'
PG='<connection name="postgresql" state="ready" server="127.0.0.1:31273/dirsync" since="2026-11-26T04:49:10Z" retries="0"/>'
SYNC='<sync mode="syncrepl" mode-reason="mode syncrepl is configured" phase="idle" since="2026-11-26T04:49:11Z" server="ldap://127.0.0.1:23001" base="dc=example,dc=com" users="20" groups="3" memberships="49" dangling-managers="0" last-change="2026-11-26T04:49:10Z" cookie-saved="2026-11-26T04:49:10Z" cookie-age="4" lag="0" entries="23" batches="2" guard="0"><last-error at="2026-11-26T04:49:10Z">sync search ended: connection lost</last-error></sync>'
HEALTH='<health ok="false">ldap is backoff: ldap://127.0.0.1:23001: connect: Connection refused</health>'
RESULT='<result ok="false">no deletions are held back</result>'
ERROR="<error code=\"unknown-command\">unknown command 'frobnicate'; known commands: status, health, sync, confirm-deletes</error>"
STATUS_PARTS=("$DAEMON" "$CONFIG" "$SCHEMA" "$LDAP" "$PG" "$SYNC")

# doc PART... - a reply: declaration, <dirsync protocol=P>, the parts.
doc() {
	local IFS=
	printf '%s\n<dirsync protocol="%s">%s</dirsync>\n' "$DECL" "$P" "$*"
}
STATUS_DOC=$(doc "${STATUS_PARTS[@]}")$'\n'
SYNC_DOC=$(doc "$SYNC")$'\n'
HEALTH_DOC=$(doc "$HEALTH")$'\n'
RESULT_DOC=$(doc "$RESULT")$'\n'
ERROR_DOC=$(doc "$ERROR")$'\n'

# The command that reads each kind of document.
KINDS=(status sync health result error)
declare -A DOC_OF=([status]=$STATUS_DOC [sync]=$SYNC_DOC [health]=$HEALTH_DOC
    [result]=$RESULT_DOC [error]=$ERROR_DOC)
declare -A CMD_OF=([status]=status [sync]=sync [health]=health
    [result]="sync --confirm-deletes" [error]=status)
ALL_CMDS=(status health sync "sync --xml" "raw status" "sync --confirm-deletes")

printf -v BIG '%65536s' ''
BIG=${BIG// /x}  # 64 KiB

# ---- running one case -------------------------------------------------------

# reply TEXT... - the next case answers the concatenated TEXT (as is).
reply() {
	local IFS=
	printf '%s' "$*" >"$R"
}

# ask NAME RC_REGEX OUTPUT_REGEX [CONTROL-WORD...] -- DIRSYNCCTL-ARGS...
# Serves $R (fake_status control words: read=0 chunk=N delay=MS endless=1
# hang=1 log=FILE) to `dirsyncctl -T $T ARGS`.  Passes when dirsyncctl
# exits with a status matching RC_REGEX (never a signal), within -T plus
# MARGIN_MS, with no sanitizer report, having said something (a failure
# without a word is a failure), with its stdout or its stderr (less the
# last newline) matching OUTPUT_REGEX if not empty; raw and --xml must
# print the reply as is.
ask() {
	local name=$1 rc_re=$2 out_re=$3 words=() rc=0 t0 ms so='' se='' why=()
	shift 3
	while [[ $1 != -- ]]; do
		words+=("$1")
		shift
	done
	shift
	N_CASE=$((N_CASE + 1))
	printf 'reply=%s %s\n' "$R" "${words[*]}" >"$CONTROL"
	t0=${EPOCHREALTIME//[!0-9]/}
	"$DIRSYNCCTL" -s "$SOCK" -T "$T" "$@" >"$OUT" 2>"$ERR" </dev/null || rc=$?
	ms=$(((${EPOCHREALTIME//[!0-9]/} - t0) / 1000))
	IFS= read -r -d '' -n 65536 so <"$OUT" || true
	IFS= read -r -d '' -n 65536 se <"$ERR" || true
	so=${so%$'\n'}
	se=${se%$'\n'}
	if ((rc > 128)); then
		why+=("killed by signal $((rc - 128))")
	elif [[ ! $rc =~ ^($rc_re)$ ]]; then
		why+=("exit status $rc, expected $rc_re")
	fi
	((ms <= T * 1000 + MARGIN_MS)) || why+=("took $ms ms with -T $T")
	if [[ $se =~ (runtime error|AddressSanitizer|LeakSanitizer) ]]; then
		why+=("sanitizer report: ${BASH_REMATCH[1]}")
	fi
	if [[ $rc != 0 && ! -s $OUT && ! -s $ERR ]]; then
		why+=("exit status $rc without a word on stdout or stderr")
	elif [[ $rc == 0 && ! -s $OUT && ! " $* " =~ \ (raw|--xml)\  ]]; then
		why+=("exit status 0 without a word on stdout")
	fi
	if [[ $rc == 0 && " $* " =~ \ (raw|--xml)\  ]] && ! cmp -s "$R" "$OUT"; then
		why+=("did not print the reply as is")
	fi
	if [[ -n $out_re && ! $so =~ $out_re && ! $se =~ $out_re ]]; then
		why+=("output does not match: $out_re")
	fi
	if ((${#why[@]} == 0)); then
		t_pass "$name: dirsyncctl $*"
		return 0
	fi
	cp "$R" "$HARNESS_DIR/failed-$N_CASE.reply"
	t_fail "$name: dirsyncctl $*" "${why[@]}" \
	    "reply: $HARNESS_DIR/failed-$N_CASE.reply ($(stat -c %s "$R") bytes)" \
	    "stderr: ${se:0:300}" "stdout: ${so:0:300}"
	return 0
}

# every_cmd NAME - the reply in $R, which is not a document dirsyncctl
# can use, to every command: exit 1 with a message, except for raw and
# --xml, which print it as is.
every_cmd() {
	local cmd
	for cmd in "${ALL_CMDS[@]}"; do
		case $cmd in
		raw* | *--xml) ask "$1" 0 '' -- $cmd ;;
		*) ask "$1" 1 '^dirsyncctl: ' -- $cmd ;;
		esac
	done
}

# ---- the real documents -------------------------------------------------------

if command -v xmllint >/dev/null 2>&1; then
	for kind in "${KINDS[@]}"; do
		reply "${DOC_OF[$kind]}"
		t_check "the $kind document validates against status.xsd" \
		    xmllint --noout --schema "$top_srcdir/schema/status.xsd" "$R"
	done
fi

reply "${DOC_OF[status]}"
ask "status document" 0 'dirsyncd 0\.1\.0, pid 17224, up 4s.*ldap +backoff.*last error at 2026-11-26T04:49:13Z: ldap://127.0.0.1:23001: connect: Connection refused.*mirror +syncrepl, idle.*20 users' -- status
ask "status document" 0 '' -- status --xml
ask "status document" 0 '' -- raw status
ask "status document" 0 '^mirror +syncrepl, idle since 2026-11-26T04:49:11Z.*last error at 2026-11-26T04:49:10Z: sync search ended' -- sync
reply "${DOC_OF[sync]}"
ask "sync document" 0 '^mirror +syncrepl, idle since .*server +ldap://127.0.0.1:23001.*users 20, groups 3, memberships 49.*entries received 23, batches written 2' -- sync
ask "sync document" 0 '' -- sync --xml
ask "sync document, phase idle" 1 'not in steady state' -- sync --wait=1
reply "$(doc "${SYNC/phase=\"idle\"/phase=\"persist\"}")"
ask "sync document, phase persist" 0 'persist: 20 users, 3 groups, 23 entries received' -- sync --wait=1
reply "$(doc "${SYNC/guard=\"0\"/guard=\"20\"}")"
ask "sync document, 20 deletions held back" 0 'DELETE GUARD: 20 users held back.*--confirm-deletes' -- sync
reply "$(doc "${SYNC/phase=\"idle\"/phase=\"guard\"}")"
ask "sync document, phase guard" 1 'guard' -- sync --wait=1
reply "${DOC_OF[health]}"
ask "health document, not ok" 1 '^unhealthy: ldap is backoff: ldap://127.0.0.1:23001: connect: Connection refused' -- health
reply "$(doc '<health ok="true">ok</health>')"
ask "health document, ok" 0 '^healthy: ok$' -- health
reply "${DOC_OF[result]}"
ask "result document, not ok" 1 'dirsyncctl: no deletions are held back' -- sync --confirm-deletes
reply "$(doc '<result ok="true">released 20 deletions</result>')"
ask "result document, ok" 0 '^released 20 deletions$' -- sync --confirm-deletes
reply "${DOC_OF[error]}"
ask "error document" 1 "^dirsyncctl: dirsyncd: unknown command 'frobnicate'.*\(unknown-command\)" -- status
for cmd in health sync "sync --confirm-deletes"; do
	ask "error document" 1 "dirsyncctl: dirsyncd: unknown command 'frobnicate'" -- $cmd
done
ask "error document" 1 '^dirsyncctl: ' -- sync --wait=1
ask "error document" 0 '' -- raw frobnicate

# The command line each command sends.
for cmd in "${ALL_CMDS[@]}" "raw frobnicate"; do
	: >"$CMDLOG"
	case $cmd in
	"sync --confirm-deletes") want=confirm-deletes kind=result ;;
	"sync --xml") want=sync kind=sync ;;
	raw*) want=${cmd#raw } kind=error ;;
	*) want=$cmd kind=$cmd ;;
	esac
	reply "${DOC_OF[$kind]}"
	ask "command line" '[01]' '' log="$CMDLOG" -- $cmd
	t_eq "dirsyncctl $cmd sends '$want' and a newline" "$want" "$(cat "$CMDLOG")"
done

# ---- attributes: removed, empty, out of range, not numbers, huge ----------------

VALUES=('' '-1' '-9223372036854775809' '99999999999999999999999999999'
    'abc' "$BIG" $'\xff\xfe')
LABELS=('empty' '-1' 'below LLONG_MIN' 'huge' 'not a number' '64 KiB'
    'invalid UTF-8')
# ... and all at once to these.
ALL_VALUES=('%s%n%s%n%s%n' '&lt;&amp;&quot;&#10;&#x1F600;&#x9B;' '')
ALL_LABELS=('printf directives' 'character references' 'empty')

# mutate_attrs KIND - every attribute of the KIND document removed, then
# replaced by each of VALUES, then all of them by each of ALL_VALUES; the
# XML declaration's too with --decl (the protocol version has its own
# section below).
mutate_attrs() {
	local kind=$1 rest=${DOC_OF[$1]} pre='' gap el name val post i re el_re
	local all=()
	[[ ${2:-} == --decl ]] || {
		pre=${rest%%<dirsync *}'<dirsync protocol="'$P'"'
		rest=${rest#"$pre"}
	}
	for i in "${!ALL_VALUES[@]}"; do
		all[i]=$pre
	done
	re='^([^"]*[[:space:]])([A-Za-z][A-Za-z-]*)="([^"]*)"(.*)$'
	el_re='<([?A-Za-z][^[:space:]]*)[^<]*$'
	while [[ $rest =~ $re ]]; do
		gap=${BASH_REMATCH[1]}
		pre+=$gap
		name=${BASH_REMATCH[2]}
		val=${BASH_REMATCH[3]}
		post=${BASH_REMATCH[4]}
		el='?'
		[[ $pre =~ $el_re ]] && el=${BASH_REMATCH[1]}
		reply "$pre" "$post"
		ask "$kind document, $el@$name removed" '[01]' '' -- ${CMD_OF[$kind]}
		for i in "${!VALUES[@]}"; do
			reply "$pre" "$name=\"${VALUES[i]}\"" "$post"
			ask "$kind document, $el@$name ${LABELS[i]}" '[01]' '' -- ${CMD_OF[$kind]}
		done
		for i in "${!ALL_VALUES[@]}"; do
			all[i]+="$gap$name=\"${ALL_VALUES[i]}\""
		done
		pre+="$name=\"$val\""
		rest=$post
	done
	for i in "${!ALL_VALUES[@]}"; do
		reply "${all[i]}" "$rest"
		ask "$kind document, every attribute ${ALL_LABELS[i]}" '[01]' '' -- ${CMD_OF[$kind]}
	done
}
for kind in "${KINDS[@]}"; do
	if [[ $kind == health ]]; then
		mutate_attrs "$kind" --decl
	else
		mutate_attrs "$kind"
	fi
done
reply "${DOC_OF[status]/uptime=\"4\"/uptime=\"4\" uptime=\"5\"}"
ask "status document, an attribute twice" 1 'not a well-formed' -- status

# uptime is the one number dirsyncctl computes with.
for v in 59 60 3599 3600 86399 86400 9223372036854775807 -9223372036854775808 -86400; do
	reply "${DOC_OF[status]/uptime=\"4\"/uptime=\"$v\"}"
	ask "status document, uptime $v" 0 '^dirsyncd 0\.1\.0, pid 17224, up ' -- status
done

# ---- the protocol version -----------------------------------------------------

for v in $((P - 1)) $((P + 1)) 0 -$P "$P$P" '' abc $((P + 4294967296)) \
    $((P - 4294967296)); do
	for kind in "${KINDS[@]}"; do
		reply "${DOC_OF[$kind]/protocol=\"$P\"/protocol=\"$v\"}"
		ask "$kind document, protocol=\"$v\"" 1 '^dirsyncctl: dirsyncd speaks status protocol' -- ${CMD_OF[$kind]}
	done
done
for kind in "${KINDS[@]}"; do
	reply "${DOC_OF[$kind]/ protocol=\"$P\"/}"
	ask "$kind document, no protocol attribute" 1 '^dirsyncctl: dirsyncd speaks status protocol' -- ${CMD_OF[$kind]}
done
for v in " $P " "+$P" "0$P"; do
	reply "${DOC_OF[health]/protocol=\"$P\"/protocol=\"$v\"}"
	ask "protocol=\"$v\"" '[01]' '' -- health
done

# ---- elements: missing, twice, unknown, out of place, nested ---------------------

for i in "${!STATUS_PARTS[@]}"; do
	parts=("${STATUS_PARTS[@]}")
	part=${parts[i]}
	el=${part%%[ />]*}
	el=${el#<}
	unset 'parts[i]'
	reply "$(doc "${parts[@]}")"
	ask "status document without <$el>" 0 '^dirsyncd ' -- status
	parts=("${STATUS_PARTS[@]}")
	parts[i]=$part$part
	reply "$(doc "${parts[@]}")"
	ask "status document with <$el> twice" 0 '^dirsyncd ' -- status
	parts[i]="<x-unknown a=\"1\">$part</x-unknown>"
	reply "$(doc "${parts[@]}")"
	ask "status document with <$el> one level deeper" 0 '^dirsyncd ' -- status
	parts[i]=${part/<$el /<x-$el }
	parts[i]=${parts[i]/<\/$el>/<\/x-$el>}
	reply "$(doc "${parts[@]}")"
	ask "status document with <$el> renamed" 0 '^dirsyncd ' -- status
done
reply "$(doc "${STATUS_PARTS[@]/%/<x-unknown>text<y/></x-unknown>}")"
ask "status document, unknown elements between" 0 '^dirsyncd ' -- status
reply "$(doc "${STATUS_PARTS[@]/%/ text <!-- comment --><?pi x?><![CDATA[<cdata>]]>}")"
ask "status document, text, comments and CDATA between" 0 '^dirsyncd ' -- status
reply "$(doc "${STATUS_PARTS[@]/#/$LDAP}")"
ask "status document, a connection before every element" 0 '^dirsyncd ' -- status
reply "$(doc "${DAEMON/\/>/>$LDAP$SYNC<\/daemon>}" "${STATUS_PARTS[@]:1}")"
ask "status document, elements inside <daemon>" 0 '^dirsyncd ' -- status
reply "$(doc "${STATUS_PARTS[@]/<last-error at=*\/last-error>/<last-error\/>}")"
ask "status document, empty last errors" 0 '^dirsyncd ' -- status
reply "$(doc "${STATUS_PARTS[@]/<\/last-error>/<b>bold<\/b>$BIG<\/last-error>}")"
ask "status document, last errors with elements and 64 KiB" 0 '^dirsyncd ' -- status
reply "$(doc "${STATUS_PARTS[@]}" "$SYNC" "$HEALTH" "$RESULT")"
for cmd in status health sync "sync --confirm-deletes"; do
	ask "status document with sync, health and result too" '[01]' '' -- $cmd
done
reply "$(doc "$HEALTH" "$ERROR" "$RESULT" "$SYNC")"
for cmd in status health sync "sync --confirm-deletes"; do
	ask "an error among other replies" '[01]' '' -- $cmd
done

reply "$(doc "${SYNC//last-error/x-last-error}")"
ask "sync document, unknown child" 0 '^mirror ' -- sync
reply "$(doc "$SYNC$SYNC")"
ask "sync document, sync twice" 0 '^mirror ' -- sync
reply "$(doc '<sync/>')"
ask "sync document, <sync/> alone" 0 '^mirror +-, - since -' -- sync
reply "$(doc "$HEALTH$HEALTH")"
ask "health document, health twice" 1 '^unhealthy' -- health
reply "$(doc '<health ok="true"/>')"
ask "health document, no text" 0 '^healthy: $' -- health
reply "$(doc "<health ok=\"true\">a<b>b<c>c</c></b>&lt;d&gt;<![CDATA[e]]><!-- f -->$BIG</health>")"
ask "health document, text in elements, CDATA and 64 KiB" 0 '^healthy: abc<d>ex' -- health
reply "$(doc '<health ok="true">%s%n%s%n%s%n</health>')"
ask "health document, printf directives" 0 '^healthy: %s%n%s%n%s%n$' -- health
reply "$(doc '<result ok="false"/>')"
ask "result document, no text" 1 '^dirsyncctl: $' -- sync --confirm-deletes
reply "$(doc "$RESULT" '<result ok="true">second</result>')"
ask "result document, result twice" 1 'no deletions are held back' -- sync --confirm-deletes
for cmd in status health sync "sync --confirm-deletes"; do
	reply "$(doc '<error>no code</error>')"
	ask "<error> without code" 1 'dirsyncctl: dirsyncd: no code' -- $cmd
	reply "$(doc "<error code=\"internal\"><b>bold</b>$BIG</error>")"
	ask "<error> with an element and 64 KiB" 1 'dirsyncctl: dirsyncd: boldxxx' -- $cmd
	reply "$(doc '<error/>')"
	ask "<error/> empty" 1 'dirsyncctl: dirsyncd: ' -- $cmd
done

# Every kind of document to every command.
for kind in "${KINDS[@]}"; do
	reply "${DOC_OF[$kind]}"
	for cmd in status health sync "sync --confirm-deletes"; do
		ask "$kind document to the wrong command" '[01]' '' -- $cmd
	done
done
reply "$(doc)"
for cmd in status health sync "sync --confirm-deletes"; do
	ask "<dirsync> with nothing in it" '[01]' '' -- $cmd
done

# Another root element, namespaces, a DOCTYPE.
reply "${HEALTH_DOC//dirsync/status}"
for cmd in status health sync "sync --confirm-deletes"; do
	ask "root <status> instead of <dirsync>" 1 'protocol' -- $cmd
done
reply "$DECL<x:dirsync xmlns:x=\"urn:x\" x:protocol=\"$P\"><x:health ok=\"true\">ns</x:health></x:dirsync>"
ask "namespace prefixes" '[01]' '' -- health
reply "$DECL<!DOCTYPE dirsync [<!ATTLIST health ok CDATA \"true\">]><dirsync protocol=\"$P\"><health>from a DTD default</health></dirsync>"
ask "ok from a DTD default" '[01]' '' -- health
echo SECRET-MARKER-7731 >"$HARNESS_DIR/secret"
reply "$DECL<!DOCTYPE dirsync [<!ENTITY x SYSTEM \"file://$HARNESS_DIR/secret\">]><dirsync protocol=\"$P\"><health ok=\"true\">[&x;]</health></dirsync>"
ask "external entity (XXE)" '[01]' '' -- health
t_check "external entity not loaded" bash -c "! grep -q SECRET-MARKER \"\$1\"" _ "$OUT"
lol='<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">'
prev=a
for e in b c d e f g h i j; do
	lol+="<!ENTITY $e \"&$prev;&$prev;&$prev;&$prev;&$prev;&$prev;&$prev;&$prev;&$prev;&$prev;\">"
	prev=$e
done
reply "$DECL<!DOCTYPE dirsync [$lol]><dirsync protocol=\"$P\"><health ok=\"&j;\">&j;</health></dirsync>"
ask "billion laughs" 1 'dirsyncctl: ' -- health
reply "$DECL<!DOCTYPE dirsync [$lol]><dirsync protocol=\"$P\"><error code=\"&j;\">&j;</error></dirsync>"
ask "billion laughs in an error" 1 'dirsyncctl: ' -- status

# Deep nesting: libxml2 refuses more than 256 levels.
printf -v open '%200s' ''
printf -v close '%200s' ''
reply "$(doc "<health ok=\"true\">${open// /<b>}deep${close// /</b>}</health>")"
ask "200 levels in <health>" 0 '^healthy: deep$' -- health
printf -v open '%100000s' ''
reply "$(doc "${open// /<connection>}")"
every_cmd "100000 levels of <connection>"
reply "$(doc "<health ok=\"true\">${open// /<b>}")"
every_cmd "100000 levels, never closed"

# ---- encodings ------------------------------------------------------------------

reply $'\xef\xbb\xbf' "${DOC_OF[health]}"
ask "UTF-8 byte order mark" 1 '^unhealthy' -- health
reply "${DOC_OF[health]/backoff/$'\xff'}"
every_cmd "invalid UTF-8 in text"
reply "${DOC_OF[health]/backoff/$'\xc3'}"
every_cmd "UTF-8 cut in the middle of a character"
reply "${DOC_OF[health]/backoff/$'\xc0\xaf'}"
every_cmd "overlong UTF-8"
reply "${DOC_OF[health]/backoff/$'\xed\xa0\x80'}"
every_cmd "a UTF-16 surrogate in UTF-8"
reply "${DOC_OF[health]/backoff/&#xFFFE;}"
every_cmd "a character reference to U+FFFE"
reply "${DOC_OF[health]/backoff/&#0;}"
every_cmd "a character reference to U+0000"
reply "${DOC_OF[health]/backoff/$'\x1b[2J\x07'}"
every_cmd "control characters in text"
reply "${DOC_OF[health]/UTF-8/ISO-8859-1}"
ask "ISO-8859-1 declared" 1 '^unhealthy' -- health
reply "${DOC_OF[health]/UTF-8/x-no-such-charset}"
ask "unknown encoding declared" '[01]' '' -- health
# The document in UTF-16 (iconv is part of libc-bin).
if printf '%s' "${DOC_OF[health]/UTF-8/UTF-16}" | iconv -f UTF-8 -t UTF-16 >"$R" 2>/dev/null; then
	ask "UTF-16" '[01]' '' -- health
	ask "UTF-16" 0 '' -- raw health
fi
{ printf '%s' "${DOC_OF[health]:0:60}"; printf '\0'; printf '%s' "${DOC_OF[health]:60}"; } >"$R"
every_cmd "a NUL byte in the document"

# ---- truncated ------------------------------------------------------------------

# cut_at KIND N... - the document cut after N bytes, to its command.  Only
# the whole document, or all but its last newline, is well-formed.
for kind in "${KINDS[@]}"; do
	d=${DOC_OF[$kind]}
	len=${#d}
	cuts=(1 5 20 38 39 40 $((len - 12)) $((len - 3)) $((len - 2)) $((len - 1)))
	for ((k = 1; k < 16; k++)); do
		cuts+=($((k * len / 16)))
	done
	for n in "${cuts[@]}"; do
		reply "${d:0:n}"
		if ((n >= len - 1)); then
			ask "$kind document, first $n of $len bytes" '[01]' '' -- ${CMD_OF[$kind]}
		else
			ask "$kind document, first $n of $len bytes" 1 '^dirsyncctl: ' -- ${CMD_OF[$kind]}
		fi
	done
	reply "${d:0:len/2}"
	ask "$kind document, first half" 0 '' -- raw status
done
reply "${DOC_OF[status]:0:700}"
ask "status document cut off" 0 '' -- status --xml
ask "status document cut off" 0 '' -- sync --xml

# ---- nothing, garbage, too much -------------------------------------------------

reply ''
every_cmd "empty reply"
for cmd in "${ALL_CMDS[@]}"; do
	# Closed without reading the command: what was sent may be lost.
	ask "closed at once, command unread" '[01]' '' read=0 -- $cmd
done
reply "${DOC_OF[health]}"
ask "answered before the command was read" '[01]' '' read=0 -- health
printf "$(printf '\\%03o' {0..255})%.0s" {1..16} >"$R"
every_cmd "every byte value, 16 times (4 KiB)"
head -c 65536 /dev/urandom >"$R"
every_cmd "64 KiB from /dev/urandom"
reply $'HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n<html><body>400</body></html>\r\n'
every_cmd "an HTTP server's answer"
reply "${DOC_OF[health]}${DOC_OF[health]}"
every_cmd "two documents"
reply "${DOC_OF[health]}" "garbage after the document"
every_cmd "garbage after the document"

# Sizes around STATUS_MAX_REPLY: up to it is read, beyond it is refused.
max=$(sed -n 's/^#define STATUS_MAX_REPLY (\([0-9]*\) \* \([0-9]*\) \* \([0-9]*\)).*/\1*\2*\3/p' \
    "$top_srcdir/src/common/status_proto.h")
max=$((${max:-4*1024*1024}))
for size in $((max - 2)) $((max - 1)) "$max"; do
	{ printf '%s' "${DOC_OF[health]}"; head -c $((size - ${#DOC_OF[health]})) /dev/zero | tr '\0' ' '; } >"$R"
	ask "health document padded to $size bytes (the limit is $max)" 1 '^unhealthy' -- health
done
{ printf '%s' "${DOC_OF[health]}"; head -c $((max + 1 - ${#DOC_OF[health]})) /dev/zero | tr '\0' ' '; } >"$R"
ask "health document padded to $((max + 1)) bytes" 1 'larger than' -- health
{ printf '%s' "${DOC_OF[status]%</dirsync>*}"; head -c $((10 << 20)) /dev/zero | tr '\0' ' '; } >"$R"
for cmd in "${ALL_CMDS[@]}"; do
	ask "10 MiB reply" 1 'larger than' -- $cmd
done
# A document of many elements dirsyncctl renders one by one, in 500 KiB.
conn='<connection name="ldap" state="ready" server="s" since="t" retries="0"/>'
printf -v many '%8000s' ''
reply "$(doc "$DAEMON" "$CONFIG" "$SCHEMA" "${many// /$conn}")"
T=1 ask "status document with 8000 connections" 0 '^dirsyncd ' -- status

# ---- slow, endless, silent ----------------------------------------------------

reply "${DOC_OF[health]}"
T=3 ask "health document, 4 bytes every 10 ms" 1 '^unhealthy' chunk=4 delay=10 -- health
reply "${DOC_OF[sync]}"
T=3 ask "sync document, 16 bytes every 5 ms" 0 '^mirror ' chunk=16 delay=5 -- sync
reply ''
T=1 ask "no reply, connection kept open" 1 'no complete reply within 1000 ms' hang=1 -- status
reply "${DOC_OF[health]:0:70}"
T=1 ask "half a document, connection kept open" 1 'no complete reply within 1000 ms' hang=1 -- health
reply "${DOC_OF[sync]}"
T=1 ask "whole document, connection kept open" 1 'no complete reply within 1000 ms' hang=1 -- sync
reply "${DOC_OF[status]}"
T=1 ask "the document again and again, slowly" 1 'no complete reply within 1000 ms' endless=1 chunk=512 delay=20 -- raw status
reply "${DOC_OF[result]}"
T=1 ask "the document again and again, fast" 1 'larger than|no complete reply' endless=1 -- sync --confirm-deletes

t_done
