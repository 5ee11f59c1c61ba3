#!/bin/bash
# tests/bench/bench-sync-ad.sh - `make bench-sync-ad`: the directory
# mirror against Active Directory (a throwaway Samba AD DC), issue 6's
# benchmark.  Results go to docs/BENCHMARKS.md.
#
# Generates 10,000 users in an 8-level manager tree and 500 groups with
# tests/harness/gen-directory-ad, loads them into the harness DC, starts
# the harness PostgreSQL, and measures in the same run:
#   (a)  a raw paged ldapsearch (-E pr=1000) of the same entries and
#        attributes, as the DirSync bind account, best of 3: the baseline;
#   (b)  dirsyncd's initial sync in mode dirsync, from process start until
#        `dirsyncctl sync` reports phase persist (target <= 1.5 x (a));
#   (b') the same in mode usn with an account without the DirSync right;
#   (d)  from an LDAP modify returning to the change being visible through
#        LISTEN dirsync_directory, in mode dirsync at poll_interval = 1s
#        (target p99 < 1.5 s);
#   (f)  nested group flattening: the mirror's dir_group_member_flat view
#        against AD's in-chain matching rule (1.2.840.113556.1.4.1941),
#        same groups, counts compared.
# Sizes: BENCH_AD_USERS, BENCH_AD_GROUPS, BENCH_AD_MEMBERSHIPS,
# BENCH_AD_MODIFIES, BENCH_SEARCH_RUNS; BENCH_STRICT=1 exits 1 on a
# missed target.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
. "${top_srcdir:-$(dirname "$0")/../..}/tests/harness/lib.sh"

USERS=${BENCH_AD_USERS:-10000}
GROUP_COUNT=${BENCH_AD_GROUPS:-500}
MEMBERSHIPS=${BENCH_AD_MEMBERSHIPS:-20000}
MODIFIES=${BENCH_AD_MODIFIES:-50}
RUNS=${BENCH_SEARCH_RUNS:-3}

harness_have_servers || exit 77
harness_need_dirsyncd
harness_init
harness_need_samba

. "$top_srcdir/tests/bench/benchlib.sh"
bench_machine

# ---- the directory ------------------------------------------------------------

harness_start_samba
harness_start_pg
t0=$(now)
"$top_srcdir/tests/harness/gen-directory-ad" --users "$USERS" \
    --groups "$GROUP_COUNT" --memberships "$MEMBERSHIPS" --levels 8 \
    --base "$SAMBA_BASE" >"$HARNESS_DIR/ad.ldif"
harness_samba_load "$HARNESS_DIR/ad.ldif"
say "generated and loaded $USERS users, $GROUP_COUNT groups: $(($(now) - t0)) ms"
SVC_DN=$(harness_samba_add_account svc-dirsync "$HARNESS_DIR/svc.pw" dirsync)
PLAIN_DN=$(harness_samba_add_account svc-plain "$HARNESS_DIR/plain.pw" plain)

USER_FILTER='(&(objectCategory=person)(objectClass=user))'
GROUP_FILTER='(objectClass=group)'
ATTRS=(objectGUID objectClass objectCategory sAMAccountName
    userPrincipalName displayName givenName sn mail manager
    userAccountControl employeeType cn name description member)

# ---- (a) the baseline -----------------------------------------------------------

raw_search() {
	LDAPTLS_CACERT=$SAMBA_CA ldapsearch -x -LLL -o ldif-wrap=no \
	    -E pr=1000/noprompt -H "$SAMBA_LDAPS_URI" -D "$SVC_DN" \
	    -y "$HARNESS_DIR/svc.pw" -b "$SAMBA_BASE" \
	    "(|$USER_FILTER$GROUP_FILTER)" "${ATTRS[@]}" >/dev/null
}
say "(a) paged ldapsearch as the DirSync account, best of $RUNS:"
search_ms=$(best_of "$RUNS" raw_search)

# ---- (b) initial syncs --------------------------------------------------------------

ad_config() {
	local dn=$1 pw=$2 mode=$3
	harness_write_config '[ldap]' "uri = $SAMBA_LDAPS_URI" "bind_dn = $dn" \
	    "bind_password_file = $pw" "tls_ca_file = $SAMBA_CA" \
	    '[mirror]' 'profile = ad' "mode = $mode" "base = $SAMBA_BASE" \
	    "user_filter = $USER_FILTER" "group_filter = $GROUP_FILTER" \
	    'poll_interval = 1s'
}
empty_mirror() {
	pg_sql 'DELETE FROM dir_group_member; DELETE FROM dir_group;
	        DELETE FROM dir_user; DELETE FROM dir_sync_state' >/dev/null
}
DIRSYNCD_CONF=$HARNESS_DIR/dirsync.conf
DIRSYNCD_LOG=$HARNESS_DIR/dirsyncd.log
HARNESS_STATUS_SOCKET=$HARNESS_DIR/status.sock

# initial_sync MODE BINDDN PWFILE: SYNC_MS and DIRSYNCD_PID, as
# bench_initial_sync.
initial_sync() {
	ad_config "$2" "$3" "$1"
	bench_initial_sync "$DIRSYNCD_CONF" "$DIRSYNCD_LOG"
}

# The schema first (a warm-up run on the usn account), so neither
# measured start includes the migration.
initial_sync usn "$PLAIN_DN" "$HARNESS_DIR/plain.pw"
say "(warm-up) usn initial sync: $SYNC_MS ms"
harness_stop_dirsyncd "$DIRSYNCD_PID"
empty_mirror
initial_sync usn "$PLAIN_DN" "$HARNESS_DIR/plain.pw"
usn_ms=$SYNC_MS
usn_users=$(pg_sql 'SELECT count(*) FROM dir_user')
say "(b') usn: persist after $usn_ms ms; $usn_users users"
harness_stop_dirsyncd "$DIRSYNCD_PID"
empty_mirror
initial_sync dirsync "$SVC_DN" "$HARNESS_DIR/svc.pw"
sync_ms=$SYNC_MS
mirrored=$(pg_sql 'SELECT count(*) FROM dir_user')
say "(b) dirsync: persist after $sync_ms ms; $mirrored users"

# ---- (d) change delay in DirSync mode ----------------------------------------------

helper=$(bench_notify_latency)
target_dn=$(samba_ldapsearch -b "OU=people,$SAMBA_BASE" '(sAMAccountName=*)' 1.1 |
    _harness_ldif_dns | sed -n 1p)
say "(d) $MODIFIES modifies of $target_dn at poll_interval = 1s"
latency=$(LDAPTLS_CACERT=$SAMBA_CA "$helper" -g -H "$SAMBA_LDAPS_URI" \
    -D "$SAMBA_ADMIN_DN" -y "$SAMBA_ADMIN_PW_FILE" -b "$target_dn" \
    -d "host=$PG_SOCKDIR port=$PG_PORT user=postgres dbname=dirsync" \
    -n "$MODIFIES" -w 2 -t 5000 -o "$HARNESS_DIR/latency.ms") || true
say "(d) $latency"
field() { sed -n "s/.*[[:space:]]$1=\\([^[:space:]]*\\).*/\\1/p" <<<" $latency"; }
p50=$(field p50) p99=$(field p99) timeouts=$(field timeouts)
harness_stop_dirsyncd "$DIRSYNCD_PID"

# ---- (f) nested groups: the mirror's view against AD's in-chain rule ----------------

# The users of each of the NESTED groups with the most members, through
# nested groups: from dir_group_member_flat (one query each), and from AD
# with the LDAP_MATCHING_RULE_IN_CHAIN filter (one paged search each).
# Both must give the same counts; the times say whether asking AD would
# be faster than the mirror's own recursive view.
NESTED=${BENCH_AD_NESTED:-5}  # in-chain searches take seconds each on Samba
mapfile -t nested < <(pg_sql "SELECT g.id || '|' || g.dn FROM dir_group g
    WHERE EXISTS (SELECT FROM dir_group_member m WHERE m.group_id = g.id
                  AND m.member_group_id IS NOT NULL)
    ORDER BY (SELECT count(*) FROM dir_group_member m
              WHERE m.group_id = g.id) DESC, g.id LIMIT $NESTED")
# The view's counts in one psql call, less a psql call doing nothing
# (process start and connection): the queries' own time.
ids=
for line in "${nested[@]}"; do ids+="${ids:+,}'${line%%|*}'"; done
t0=$(now)
pg_sql 'SELECT 1' >/dev/null
idle_ms=$(($(now) - t0))
t0=$(now)
mapfile -t counts < <(pg_sql "SELECT (SELECT count(*) FROM dir_group_member_flat f
    WHERE f.group_id = g) FROM unnest(ARRAY[${ids:-NULL}]::text[])
    WITH ORDINALITY AS x(g, i) ORDER BY i")
flat_ms=$(($(now) - t0 - idle_ms))
((flat_ms >= 0)) || flat_ms=0
# RFC 4515: a DN inside a filter value needs \, ( ) and * escaped.
filter_escape() {
	local v=${1//\\/\\5c}
	v=${v//(/\\28}
	v=${v//)/\\29}
	printf '%s' "${v//\*/\\2a}"
}
chain_ms=0 flat_equal=0 i=0
for line in "${nested[@]}"; do
	gdn=${line#*|}
	t0=$(now)
	n_ad=$(samba_ldapsearch -b "$SAMBA_BASE" \
	    "(&$USER_FILTER(memberOf:1.2.840.113556.1.4.1941:=$(filter_escape "$gdn")))" 1.1 |
	    grep -c '^dn:' || true)
	chain_ms=$((chain_ms + $(now) - t0))
	if [[ ${counts[i]:-} == "$n_ad" ]]; then
		flat_equal=$((flat_equal + 1))
	else
		say "(f) $gdn: view ${counts[i]:-?} users, in-chain $n_ad"
	fi
	i=$((i + 1))
done
say "(f) ${#nested[@]} nested groups: view $flat_ms ms, in-chain $chain_ms ms, equal $flat_equal"

# ---- the table -----------------------------------------------------------------------

b_ok=$(verdict "$sync_ms <= 1.5 * $search_ms" "$sync_ms")
d_ok=$(verdict "${p99:-99999} < 1500 && ${timeouts:-1} == 0" "$p99")
row() { printf '%-34s | %-12s | %-22s | %-6s | %-9s | %s\n' "$@"; }
echo
echo "bench-sync-ad: $USERS users, $GROUP_COUNT groups, $MEMBERSHIPS memberships" \
    "in Samba $(_samba_version); $(nproc) CPUs, ${cpu_model:-unknown CPU}, $ram"
row measure value baseline ratio target result
row "(a) paged ldapsearch, best of $RUNS" "$search_ms ms" "" "" "" ""
row "(b) dirsync initial sync" "$sync_ms ms" "(a) $search_ms ms" \
    "$(ratio "$sync_ms" "$search_ms")" "<= 1.5" "$b_ok"
row "(b') usn initial sync" "$usn_ms ms" "(a) $search_ms ms" \
    "$(ratio "$usn_ms" "$search_ms")" "" ""
row "(d) modify -> NOTIFY, p50" "${p50:-?} ms" "poll_interval 1000 ms" "" "" ""
row "(d) modify -> NOTIFY, p99" "${p99:-?} ms" "timeouts: ${timeouts:-?}" \
    "$(ratio "${p99:-0}" 1000)" "< 1500 ms" "$d_ok"
row "(f) nested: flat view, ${#nested[@]} groups" "$flat_ms ms" \
    "in-chain $chain_ms ms" "$(ratio "$flat_ms" "$((chain_ms > 0 ? chain_ms : 1))")" \
    "" "equal $flat_equal/${#nested[@]}"
echo
bench_exit "$b_ok" "$d_ok"
