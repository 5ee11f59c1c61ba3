#!/usr/bin/env bash
# samba_harness.sh - the Samba AD DC of tests/harness/samba.sh works as
# the AD tests need it: its rootDSE over ldaps (verified with SAMBA_CA)
# offers DirSync and show-deleted; a generated directory loads, with its
# awkward names, manager links, nested and ranged groups; a paged search
# gets every user; a `dirsync` service account may use DirSync and a
# `plain` one may not (but can poll uSNChanged); the DC stops, starts
# again with its data, and nothing is left running, even when a test
# fails.  Needs root and Samba: fails without them unless
# DIRSYNC_TEST_SKIP_AD=1 (then skipped).
# shellcheck disable=SC2119,SC2317  # helpers called indirectly, optional args
# make check may run this with /bin/sh: switch to bash first.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/../.. source=tests/harness/lib.sh
. "${top_srcdir:-$(dirname "$0")/../..}/tests/harness/lib.sh"
# shellcheck source=tests/harness/testlib.sh
. "$top_srcdir/tests/harness/testlib.sh"

harness_need_samba
harness_init

USERS=1600    # more than MaxPageSize (1,000) and MaxValRange (1,500)
PEOPLE=OU=people,DC=dirsync,DC=test

# ---- start ---------------------------------------------------------------

t0=$(harness_now_ms)
harness_start_samba
total_ms=$(($(harness_now_ms) - t0))
harness_log "samba: template provision $(cat "$HARNESS_SAMBA_TEMPLATE/provision.ms") ms" \
    "(once per machine), copy+start ${HARNESS_SAMBA_START_MS} ms" \
    "(this start: ${total_ms} ms), address $SAMBA_HOST"
t_check "samba is running" kill -0 "$SAMBA_PID"
t_match "SAMBA_HOST is a loopback address of its own" \
    '^127\.0\.0\.([2-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-4])$' "$SAMBA_HOST"
t_eq "SAMBA_LDAP_URI" "ldap://$SAMBA_HOST" "$SAMBA_LDAP_URI"
t_eq "SAMBA_LDAPS_URI" "ldaps://$SAMBA_HOST" "$SAMBA_LDAPS_URI"
t_eq "SAMBA_BASE" DC=dirsync,DC=test "$SAMBA_BASE"
t_eq "SAMBA_REALM" DIRSYNC.TEST "$SAMBA_REALM"
t_eq "SAMBA_ADMIN_DN" "CN=Administrator,CN=Users,$SAMBA_BASE" "$SAMBA_ADMIN_DN"
t_eq "the admin password file is 0600" 600 "$(stat -c %a "$SAMBA_ADMIN_PW_FILE")"
t_check "SAMBA_CA verifies the DC's certificate for SAMBA_HOST" \
    openssl verify -CAfile "$SAMBA_CA" -verify_ip "$SAMBA_HOST" \
    "$SAMBA_DIR/tls/server.crt"

# ---- rootDSE over ldaps ----------------------------------------------------

rootdse=$(samba_ldapsearch --no-page -s base -b '' supportedControl \
    dsServiceName highestCommittedUSN defaultNamingContext 2>&1 || true)
t_grep "rootDSE over ldaps: DirSync control" \
    '^supportedControl: 1\.2\.840\.113556\.1\.4\.841$' "$rootdse"
t_grep "rootDSE over ldaps: show-deleted control" \
    '^supportedControl: 1\.2\.840\.113556\.1\.4\.417$' "$rootdse"
t_grep "rootDSE: dsServiceName" '^dsServiceName: CN=NTDS Settings,' "$rootdse"
t_grep "rootDSE: highestCommittedUSN" '^highestCommittedUSN: [0-9]+$' "$rootdse"
t_grep "rootDSE: defaultNamingContext is SAMBA_BASE" \
    "^defaultNamingContext: $SAMBA_BASE\$" "$rootdse"
# The CA is what makes ldaps work: a client trusting other CAs refuses.
rc=0
LDAPTLS_CACERT=/etc/ssl/certs/ca-certificates.crt LDAPTLS_REQCERT=demand \
    ldapsearch -x -LLL -o nettimeout=5 -H "$SAMBA_LDAPS_URI" -s base -b '' \
    dsServiceName >/dev/null 2>&1 || rc=$?
t_eq "ldaps with another CA: the handshake fails (LDAP 255)" 255 "$rc"
t_grep "StartTLS on ldap:// with SAMBA_CA" '^dsServiceName: ' \
    "$(LDAPTLS_CACERT=$SAMBA_CA LDAPTLS_REQCERT=demand ldapsearch -x -ZZ -LLL \
        -o nettimeout=5 -H "$SAMBA_LDAP_URI" -s base -b '' dsServiceName 2>&1 || true)"
t_grep "ldap:// answers too (simple bind as Administrator)" '^dn: CN=Administrator' \
    "$(ldapsearch -x -LLL -o nettimeout=5 -H "$SAMBA_LDAP_URI" -D "$SAMBA_ADMIN_DN" \
        -y "$SAMBA_ADMIN_PW_FILE" -b "$SAMBA_ADMIN_DN" -s base 1.1 2>&1 || true)"

# ---- a generated directory -------------------------------------------------

"$top_srcdir/tests/harness/gen-directory-ad" --users "$USERS" --groups 20 \
    --big-group "$USERS" >"$HARNESS_DIR/ad.ldif"
t0=$(harness_now_ms)
t_check "harness_samba_load: $USERS users, 21 groups" \
    harness_samba_load "$HARNESS_DIR/ad.ldif"
harness_log "samba: loaded $USERS users in $(($(harness_now_ms) - t0)) ms"

count_people() {
	samba_ldapsearch -b "$PEOPLE" '(objectClass=user)' 1.1 |
	    grep -c '^dn' || true
}
t_eq "a paged search returns every user" "$USERS" "$(count_people)"
# Windows stops an unpaged search at MaxPageSize (1,000) with
# sizeLimitExceeded; Samba 4.17 does not, so this only shows that the
# unpaged search works: tests of paging must not count on the limit.
t_eq "an unpaged search (Samba: no MaxPageSize cut)" "$USERS" \
    "$(samba_ldapsearch --no-page -b "$PEOPLE" '(objectClass=user)' 1.1 |
        grep -c '^dn' || true)"
t_eq "every 17th user is disabled (userAccountControl 514)" $((USERS / 17)) \
    "$(samba_ldapsearch -b "$PEOPLE" \
        '(userAccountControl:1.2.840.113556.1.4.803:=2)' 1.1 | grep -c '^dn' || true)"
jose=$(samba_ldapsearch -b "$PEOPLE" '(sAMAccountName=jmuller)' cn manager \
    memberOf 2>&1 || true)
t_grep "non-ASCII cn round-trips" "^cn:: $(printf 'José Müller' | base64 -w0)\$" "$jose"
t_grep "manager: a DN" '^manager: CN=[^,]+,OU=people,DC=dirsync,DC=test$' "$jose"
t_grep "memberOf is maintained (the big group)" '^memberOf: CN=big-group,' "$jose"
t_grep "an escaped comma in a DN" '^dn: CN=Smith\\, John,OU=people,' \
    "$(samba_ldapsearch -b "$PEOPLE" '(sAMAccountName=jsmith)' 1.1 2>&1 || true)"
t_grep "an escaped backslash in a DN" '^dn: CN=Back\\\\slash User,OU=people,' \
    "$(samba_ldapsearch -b "$PEOPLE" '(sAMAccountName=bslash)' 1.1 2>&1 || true)"
t_grep "nested groups: all-staff contains 'Sales, EMEA'" \
    '^member: CN=Sales\\, EMEA,OU=groups,' \
    "$(samba_ldapsearch -b "CN=all-staff,OU=groups,$SAMBA_BASE" -s base \
        '(objectClass=*)' member 2>&1 || true)"
# member_lines ATTR - the big group's ATTR values, as "count attr".
member_lines() {
	samba_ldapsearch -b "CN=big-group,OU=groups,$SAMBA_BASE" -s base \
	    '(objectClass=*)' "$1" | sed -n 's/^\(member[^:]*\)::\{0,1\} .*/\1/p' |
	    uniq -c | sed 's/^ *//'
}
# Unlike Windows (MaxValRange 1,500), Samba sends every value unless the
# client asks for a range; asked, it answers in ranges as AD does.
t_eq "big group: all $USERS members without a range (Samba does not cut)" \
    "$USERS member" "$(member_lines member)"
t_eq "big group: member;range=0-1499" "1500 member;range=0-1499" \
    "$(member_lines 'member;range=0-1499')"
t_eq "big group: member;range=1500-*" "$((USERS - 1500)) member;range=1500-*" \
    "$(member_lines 'member;range=1500-*')"

# ---- service accounts and DirSync -----------------------------------------

ds_dn=$(harness_samba_add_account svc-dirsync "$HARNESS_DIR/dirsync.pw" dirsync)
plain_dn=$(harness_samba_add_account svc-plain "$HARNESS_DIR/plain.pw" plain)
t_eq "dirsync account DN" "CN=svc-dirsync,OU=services,$SAMBA_BASE" "$ds_dn"
t_eq "a made-up password file is 0600" 600 "$(stat -c %a "$HARNESS_DIR/dirsync.pw")"
t_grep "dsacl: the account has Replicating Directory Changes on the domain" \
    '\(OA;;CR;1131f6aa-9c07-11d1-f79f-00c04fc2dcd2;;S-1-5-21-[0-9-]+\)' \
    "$(samba_tool dsacl get -H "tdb://$SAMBA_DIR/private/sam.ldb" \
        --objectdn="$SAMBA_BASE" 2>&1 || true)"

# as_account DN PWFILE BASE ARGS... - ldapsearch over ldaps as a
# service account.
as_account() {
	local dn=$1 pw=$2 base=$3
	shift 3
	LDAPTLS_CACERT=$SAMBA_CA LDAPTLS_REQCERT=demand ldapsearch -x -LLL \
	    -o ldif-wrap=no -o nettimeout=10 -H "$SAMBA_LDAPS_URI" -D "$dn" \
	    -y "$pw" -b "$base" "$@"
}

# DirSync searches a whole naming context (its base must be an NC root).
out=$(as_account "$ds_dn" "$HARNESS_DIR/dirsync.pw" "$SAMBA_BASE" \
    -E '!dirSync=0/0' '(objectClass=user)' sAMAccountName 2>&1) || true
t_grep "dirsync account: a DirSync search returns a cookie" '^# cookie:: ' "$out"
t_eq "dirsync account: ... and every user" "$USERS" \
    "$(_harness_ldif_dns <<<"$out" | grep -c ",$PEOPLE\$" || true)"
cookie=$(sed -n 's/^# cookie:: //p' <<<"$out")

rc=0
out=$(as_account "$plain_dn" "$HARNESS_DIR/plain.pw" "$SAMBA_BASE" \
    -E '!dirSync=0/0' '(objectClass=user)' sAMAccountName 2>&1) || rc=$?
t_eq "plain account: DirSync is refused (insufficientAccessRights)" 50 "$rc"
usn=$(samba_ldapsearch --no-page -s base -b '' highestCommittedUSN |
    sed -n 's/^highestCommittedUSN: //p')
samba_ldapmodify <<EOF
dn: CN=Smith\\, John,$PEOPLE
changetype: modify
replace: title
title: changed by samba_harness.sh
EOF
out=$(as_account "$plain_dn" "$HARNESS_DIR/plain.pw" "$PEOPLE" -E pr=500/noprompt \
    "(uSNChanged>=$((usn + 1)))" sAMAccountName 2>&1 || true)
t_eq "plain account: uSNChanged polling sees the one change" jsmith \
    "$(sed -n 's/^sAMAccountName: //p' <<<"$out" | paste -sd,)"
out=$(as_account "$ds_dn" "$HARNESS_DIR/dirsync.pw" "$SAMBA_BASE" -E "!dirSync=0/0/$cookie" \
    '(objectClass=user)' title 2>&1 || true)
t_eq "dirsync account: DirSync with the cookie returns just the change" \
    "title: changed by samba_harness.sh" "$(grep '^title:' <<<"$out" || true)"

# ---- stop and start again --------------------------------------------------

old_pid=$SAMBA_PID
harness_stop_samba
t_check "stopped: the process is gone" bash -c "! kill -0 $old_pid 2>/dev/null"
rc=0
ldapsearch -x -LLL -o nettimeout=2 -H "$SAMBA_LDAP_URI" -s base -b '' \
    dsServiceName >/dev/null 2>&1 || rc=$?
t_eq "stopped: LDAP does not answer (LDAP 255)" 255 "$rc"
t0=$(harness_now_ms)
# Not through t_check: that runs its command in a subshell, and the pid
# must reach this shell.
harness_start_samba_again
t_check "started again" kill -0 "$SAMBA_PID"
harness_log "samba: restart took $(($(harness_now_ms) - t0)) ms"
t_eq "started again: same address" "ldap://$SAMBA_HOST" "$SAMBA_LDAP_URI"
t_eq "started again: the data is still there" "$USERS" "$(count_people)"
t_grep "started again: the change too" '^title: changed by samba_harness.sh$' \
    "$(samba_ldapsearch -b "$PEOPLE" '(sAMAccountName=jsmith)' title 2>&1 || true)"

# ---- nothing left behind ---------------------------------------------------

# A second test's DC, started while ours runs, gets another address; its
# EXIT trap stops it whether that test passes or fails.
child() {
	# shellcheck disable=SC2016  # expanded by the child
	bash -c '
		set -euo pipefail
		. "$top_srcdir/tests/harness/lib.sh"
		harness_init
		harness_start_samba
		echo "$SAMBA_PID $SAMBA_HOST $HARNESS_DIR" >"$1"
		[[ $2 == pass ]]
	' child "$@" >/dev/null 2>&1
}
for how in pass fail; do
	rc=0
	child "$HARNESS_DIR/child-$how" "$how" || rc=$?
	read -r cpid chost cdir <"$HARNESS_DIR/child-$how" || true
	t_eq "a second DC ($how): exit status" "$([[ $how == pass ]] && echo 0 || echo 1)" "$rc"
	t_check "a second DC ($how) had an address of its own" \
	    test -n "$chost" -a "$chost" != "$SAMBA_HOST"
	t_check "a second DC ($how): stopped by the EXIT trap" \
	    bash -c "! kill -0 ${cpid:-0} 2>/dev/null"
	t_check "a second DC ($how): its address lock is released" \
	    test ! -e "$HARNESS_PORT_LOCKDIR/samba-$chost"
	# A failed test keeps its directory for the logs: ours to remove.
	[[ -z ${cdir:-} || $cdir != "${TMPDIR:-/tmp}"/dirsync-test.* ]] || rm -rf "$cdir"
done

last_pid=$SAMBA_PID
harness_stop_samba
t_check "our DC is stopped" bash -c "! kill -0 $last_pid 2>/dev/null"
# samba renames itself ("samba: root process"): look for listeners.
t_eq "nothing listens on $SAMBA_HOST any more" "" \
    "$(ss -Htln 2>/dev/null | awk -v h="$SAMBA_HOST" 'index($4, h ":") == 1' || true)"

t_done
