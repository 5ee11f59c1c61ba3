#!/usr/bin/env bash
# docs.sh - the documents that follow from the option table still agree
# with it: conf/dirsync.conf.example is what --print-example-config prints,
# and dirsync.conf(5) names every option.  Needs no servers.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
. "$top_srcdir/tests/harness/testlib.sh"

DIRSYNCD=${DIRSYNCD:-$top_builddir/src/dirsyncd/dirsyncd}
example=$(mktemp)
trap 'rm -f "$example"' EXIT

"$DIRSYNCD" --print-example-config > "$example"
if diff -u "$top_srcdir/conf/dirsync.conf.example" "$example" >&2; then
	t_pass "conf/dirsync.conf.example matches the option table"
else
	t_fail "conf/dirsync.conf.example is stale: run 'make example-config'"
fi

missing=
section=
while IFS= read -r line; do
	case $line in
	\[*\]) section=${line#[}; section=${section%]} ;;
	\#*=* | *=*)
		name=${line#\#}; name=${name%% =*}
		grep -q -- "^\\.B $section\\.$name\$\|$section\\.$name" \
		    "$top_srcdir/man/dirsync.conf.5" || missing="$missing $section.$name" ;;
	esac
done < <(grep -v '^# ' "$example" | grep -v '^#$')
if [ -z "$missing" ]; then
	t_pass "dirsync.conf(5) documents every option"
else
	t_fail "dirsync.conf(5) does not mention:$missing"
fi

for page in dirsyncd.8 dirsyncctl.8 dirsync.conf.5; do
	if command -v man >/dev/null 2>&1; then
		warn=$(MANWIDTH=80 man --warnings -l "$top_srcdir/man/$page" 2>&1 >/dev/null)
		if [ -z "$warn" ]; then
			t_pass "man/$page renders without warnings"
		else
			t_fail "man/$page: $warn"
		fi
	fi
done
t_done
