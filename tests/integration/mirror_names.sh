#!/usr/bin/env bash
# mirror_names.sh - what the directory holds survives the mirror unchanged:
# names and DNs with commas, plus signs, quotes, backslashes, a leading
# '#' or space, a trailing space, '<>;=', SQL metacharacters, tabs,
# newlines and non-ASCII letters arrive byte for byte; DNs that name the
# same entry in other spellings (case, \XX escapes, spaces) resolve to
# it.  Manager links: a cycle, a self-manager, a dangling manager and a
# 25-level chain are stored as sent and resolved where they can be; a
# renamed manager leaves its reports dangling until they follow.
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

LIMIT_MS=${MIRROR_LATENCY_LIMIT_MS:-1000}
PEOPLE=ou=people,$LDAP_BASE
GROUP_OU=ou=groups,$LDAP_BASE

q() { pg_sql "$1" 2>&1 || true; }
qv() { pg_sql_vars "$@" 2>&1 || true; }
sync_attr() { harness_sync_attr "$@" 2>/dev/null || true; }
visible() {
	if harness_pg_poll "$LIMIT_MS" "$2" "$3"; then
		t_pass "$1 (${HARNESS_POLL_MS} ms)"
	else
		t_fail "$1" "not within $LIMIT_MS ms: $3" \
		    "expected: '$2'" "actual:   '$HARNESS_POLL_VALUE'"
	fi
}

# Every value base64-encoded: LDIF then carries any byte unchanged.
attr() { printf '%s:: %s\n' "$1" "$(printf '%s' "$2" | base64 -w0)"; }

# add_person DN UID CN [MANAGER_DN] - an add record.
add_person() {
	attr dn "$1"
	echo "changetype: add"
	echo "objectClass: inetOrgPerson"
	attr uid "$2"
	attr cn "$3"
	attr sn "$3"
	[[ -z ${4:-} ]] || attr manager "$4"
	echo
}

# ---- the people -------------------------------------------------------------

# key | DN as written | uid | cn.  The DNs escape per RFC 4514; the key
# names the entry in the checks below.
NL=$'\n'
TAB=$'\t'
people=(
	"comma|cn=Smith\\, John,$PEOPLE|jsmith|Smith, John"
	"plus|cn=Anne\\+Marie Dupont,$PEOPLE|anne+marie|Anne+Marie Dupont"
	"quotes|cn=Robert \\\"Bobby\\\" Tables,$PEOPLE|rtables|Robert \"Bobby\" Tables"
	"backslash|cn=Back\\\\slash User,$PEOPLE|back\\slash|Back\\slash User"
	"hash|cn=\\#hash Leading,$PEOPLE|hleading|#hash Leading"
	"lead|cn=\\ Leading Space,$PEOPLE|lspace| Leading Space"
	"trail|cn=Trailing Space\\ ,$PEOPLE|tspace|Trailing Space "
	"jose|cn=José Müller,$PEOPLE|jmuller|José Müller"
	"yamada|cn=山田太郎,$PEOPLE|yamada|山田太郎"
	"upper|cn=Ünïcödé Ångström,$PEOPLE|unicode|Ünïcödé Ångström"
	"angles|cn=Lt\\<Gt\\>Semi\\;Colon,$PEOPLE|angles|Lt<Gt>Semi;Colon"
	"equals|cn=Equals=Sign,$PEOPLE|equals|Equals=Sign"
	"sql|cn=Robert')\\; DROP TABLE dir_user\\;--,$PEOPLE|bobby'--|Robert'); DROP TABLE dir_user;--"
	"multi|cn=Multi Value+uid=multi,$PEOPLE|multi|Multi Value"
)
# Values a line-based table cannot hold: an RDN on uid, the cn below.
special_cn_tab="Tab${TAB}Inside"
special_cn_nl="Line${NL}Break"

declare -A DN UIDV CN
for row in "${people[@]}"; do
	IFS='|' read -r key dn uid cn <<<"$row"
	DN[$key]=$dn UIDV[$key]=$uid CN[$key]=$cn
done
DN[tab]="uid=tab,$PEOPLE" UIDV[tab]=tab CN[tab]=$special_cn_tab
DN[newline]="uid=newline,$PEOPLE" UIDV[newline]=newline CN[newline]=$special_cn_nl
keys=("${!DN[@]}")

# Managers, each referring to its manager in another spelling of the DN:
# other case, \XX escapes, spaces after commas.
declare -A MANAGER MANAGER_OF
MANAGER[plus]="CN=smith\\2C john, OU=People, DC=Example, DC=Com"; MANAGER_OF[plus]=comma
MANAGER[quotes]="cn=anne\\2bmarie dupont,ou=people,dc=example,dc=com"; MANAGER_OF[quotes]=plus
MANAGER[yamada]="cn=JOSÉ MÜLLER,ou=people,dc=example,dc=com"; MANAGER_OF[yamada]=jose
MANAGER[upper]="cn=\\E5\\B1\\B1\\E7\\94\\B0\\E5\\A4\\AA\\E9\\83\\8E,$PEOPLE"; MANAGER_OF[upper]=yamada
MANAGER[jose]="cn=ünïcödé ångström,$PEOPLE"; MANAGER_OF[jose]=upper
MANAGER[hash]="cn=\\23hash leading,$PEOPLE"; MANAGER_OF[hash]="hash"     # itself
MANAGER[lead]="cn=Trailing Space\\20,$PEOPLE"; MANAGER_OF[lead]=trail
MANAGER[trail]="cn=\\20Leading Space,$PEOPLE"; MANAGER_OF[trail]=lead  # a cycle
MANAGER[equals]="uid=multi+cn=multi value,$PEOPLE"; MANAGER_OF[equals]=multi
MANAGER[sql]="cn=Robert \\22Bobby\\22 Tables,$PEOPLE"; MANAGER_OF[sql]=quotes
MANAGER[tab]="cn=Back\\5cslash User,$PEOPLE"; MANAGER_OF[tab]=backslash
MANAGER[angles]="uid=ghost,$PEOPLE"                                      # dangling

{
	for key in "${keys[@]}"; do
		add_person "${DN[$key]}" "${UIDV[$key]}" "${CN[$key]}" "${MANAGER[$key]:-}"
	done
	# A 25-level chain, added from the bottom: every manager arrives after
	# its report.
	for ((i = 25; i >= 1; i--)); do
		add_person "uid=chain$i,$PEOPLE" "chain$i" "Chain Level $i" \
		    "$( ((i > 1)) && echo "uid=chain$((i - 1)),$PEOPLE")"
	done
	# A two-person cycle and a self-manager with plain names.
	add_person "uid=cyc.a,$PEOPLE" cyc.a "Cycle A" "uid=cyc.b,$PEOPLE"
	add_person "uid=cyc.b,$PEOPLE" cyc.b "Cycle B" "uid=cyc.a,$PEOPLE"
	add_person "uid=self,$PEOPLE" self "Self Managed" "uid=self,$PEOPLE"
	# Groups with awkward names; members in other spellings.
	attr dn "cn=Sales\\, EMEA,$GROUP_OU"
	echo "changetype: add"
	echo "objectClass: groupOfNames"
	attr cn "Sales, EMEA"
	attr description "Umsatz, Ümlaut & \"quotes\""
	attr member "cn=jos\\c3\\a9 m\\c3\\bcller,$PEOPLE"
	attr member "${DN[yamada]}"
	attr member "CN=SMITH\\, JOHN,OU=PEOPLE,DC=EXAMPLE,DC=COM"
	attr member "cn=R&D \\+ Ops,$GROUP_OU"
	echo
	attr dn "cn=R&D \\+ Ops,$GROUP_OU"
	echo "changetype: add"
	echo "objectClass: groupOfNames"
	attr cn "R&D + Ops"
	attr member "${DN[backslash]}"
	attr member "${DN[newline]}"
	echo
} >"$HARNESS_DIR/names.ldif"
if ! harness_ldif <"$HARNESS_DIR/names.ldif"; then
	t_fail "the test directory loads" "ldapmodify -f $HARNESS_DIR/names.ldif failed"
	t_done
fi

# ---- initial sync ------------------------------------------------------------

harness_write_mirror_config
harness_start_dirsyncd
t_check "initial sync reaches persist" harness_sync_wait_phase persist 60

t_check "the mirror equals the directory (DNs in canonical form)" \
    harness_mirror_compare --flat
t_check "the mirror equals the directory (DNs byte for byte as sent)" \
    harness_mirror_compare --exact-dn

declare -A ID
for key in "${keys[@]}"; do
	ID[$key]=$(harness_ldap_uuid "${DN[$key]}")
done

for key in "${keys[@]}"; do
	sent_dn=$(harness_ldap_value "${DN[$key]}" dn)
	t_eq "$key: full_name is the cn, byte for byte" t \
	    "$(qv "SELECT full_name = :'cn' FROM dir_user WHERE id = :'id'" \
	        "cn=${CN[$key]}" "id=${ID[$key]}")"
	t_eq "$key: login is the uid, byte for byte" t \
	    "$(qv "SELECT uid = :'uid' FROM dir_user WHERE id = :'id'" \
	        "uid=${UIDV[$key]}" "id=${ID[$key]}")"
	t_eq "$key: dn is what ldapsearch returns" t \
	    "$(qv "SELECT dn = :'dn' FROM dir_user WHERE id = :'id'" \
	        "dn=$sent_dn" "id=${ID[$key]}")"
done

for key in "${!MANAGER_OF[@]}"; do
	mgr=${MANAGER_OF[$key]}
	sent=$(harness_ldap_value "${DN[$key]}" manager)
	t_eq "$key: manager_dn is the value as sent" t \
	    "$(qv "SELECT manager_dn = :'m' FROM dir_user WHERE id = :'id'" \
	        "m=$sent" "id=${ID[$key]}")"
	t_eq "$key: manager written as '${MANAGER[$key]}' resolves to $mgr" \
	    "${ID[$mgr]}" "$(q "SELECT manager_id FROM dir_user WHERE id = '${ID[$key]}'")"
done

# ---- manager links that end early ---------------------------------------------

t_eq "self-manager: manager_id is its own id" t \
    "$(q "SELECT manager_id = id FROM dir_user WHERE uid = 'self'")"
t_eq "cycle: A -> B -> A, both resolved" 2 \
    "$(q "SELECT count(*) FROM dir_user a JOIN dir_user b ON b.id = a.manager_id
          WHERE b.manager_id = a.id AND a.uid IN ('cyc.a', 'cyc.b')")"
# Walk the chain upwards, stopping at a repeat: a cycle ends the walk.
walk() {
	q "WITH RECURSIVE walk (id, depth, path) AS (
	       SELECT id, 1, ARRAY[id] FROM dir_user WHERE uid = '$1'
	     UNION ALL
	       SELECT u.manager_id, w.depth + 1, w.path || u.manager_id
	       FROM walk w JOIN dir_user u ON u.id = w.id
	       WHERE u.manager_id IS NOT NULL AND u.manager_id <> ALL (w.path))
	   SELECT max(w.depth) || '|' || (SELECT uid FROM dir_user u, walk x
	                                  WHERE u.id = x.id ORDER BY x.depth DESC LIMIT 1)
	   FROM walk w"
}
t_eq "25-level chain: walked to the top" "25|chain1" "$(walk chain25)"
t_eq "cycle: the walk ends after 2" "2|cyc.b" "$(walk cyc.a)"
t_eq "dangling manager: kept as sent, not resolved" "uid=ghost,$PEOPLE|" \
    "$(q "SELECT manager_dn, manager_id FROM dir_user WHERE id = '${ID[angles]}'")"
dangling=$(q 'SELECT count(*) FROM dir_user WHERE manager_dn IS NOT NULL AND manager_id IS NULL')
t_eq "exactly one dangling manager" 1 "$dangling"
t_eq "status: dangling managers counted" "$dangling" "$(sync_attr dangling)"
t_check "status with awkward data validates" harness_sync_validate

# ---- groups with awkward names ----------------------------------------------

t_eq "group names byte for byte" "R&D + Ops|Sales, EMEA" \
    "$(q "SELECT string_agg(name, '|' ORDER BY name) FROM dir_group")"
t_eq "group description byte for byte" t \
    "$(qv "SELECT description = :'d' FROM dir_group WHERE name = 'Sales, EMEA'" \
        "d=Umsatz, Ümlaut & \"quotes\"")"
t_eq "members written in other spellings resolve" "0|4" \
    "$(q "SELECT count(*) FILTER (WHERE member_user_id IS NULL AND member_group_id IS NULL)
               || '|' || count(*)
          FROM dir_group_member m JOIN dir_group g ON g.id = m.group_id
          WHERE g.name = 'Sales, EMEA'")"
t_eq "nested through an escaped group DN" "back\\slash,jmuller,jsmith,newline,yamada" \
    "$(q "SELECT string_agg(u.uid, ',' ORDER BY u.uid) FROM dir_group_member_flat f
          JOIN dir_group g ON g.id = f.group_id JOIN dir_user u ON u.id = f.user_id
          WHERE g.name = 'Sales, EMEA'")"

# ---- renames ------------------------------------------------------------------

# Rename the manager of 'plus' (no refint overlay here): same id, new DN;
# the report's manager_dn still names the old DN, so its link dangles.
harness_ldif <<-EOF
dn: ${DN[comma]}
changetype: modrdn
newrdn: cn=Smith\, Jane
deleteoldrdn: 1
EOF
new_dn="cn=Smith\\, Jane,$PEOPLE"
visible "rename with an escaped RDN: same id, new name" "Smith, Jane" \
    "SELECT full_name FROM dir_user WHERE id = '${ID[comma]}'"
sent_dn=$(harness_ldap_value "$new_dn" dn)
t_eq "rename: dn is what ldapsearch returns" t \
    "$(qv "SELECT dn = :'dn' FROM dir_user WHERE id = :'id'" "dn=$sent_dn" "id=${ID[comma]}")"
visible "rename: a report naming the old DN dangles" "" \
    "SELECT manager_id FROM dir_user WHERE id = '${ID[plus]}'"
harness_ldif <<-EOF
dn: ${DN[plus]}
changetype: modify
replace: manager
manager: cn=smith\2c jane,ou=people,dc=example,dc=com
EOF
visible "rename: the report follows, the link resolves again" "${ID[comma]}" \
    "SELECT manager_id FROM dir_user WHERE id = '${ID[plus]}'"

# A rename to a name needing base64 in LDIF and hex in the DN.
attr dn "${DN[upper]}" >"$HARNESS_DIR/rename.ldif"
{
	echo "changetype: modrdn"
	attr newrdn "cn=\\ Ωmega Ünïcödé"
	echo "deleteoldrdn: 1"
} >>"$HARNESS_DIR/rename.ldif"
harness_ldif <"$HARNESS_DIR/rename.ldif"
visible "rename to a leading space and Greek: name byte for byte" t \
    "SELECT full_name = ' Ωmega Ünïcödé' FROM dir_user WHERE id = '${ID[upper]}'"
t_eq "rename: the old name is gone" 0 \
    "$(q "SELECT count(*) FROM dir_user WHERE full_name = 'Ünïcödé Ångström'")"

t_check "after the renames: the mirror equals the directory" \
    harness_mirror_compare --flat --exact-dn

harness_stop_dirsyncd
t_eq "SIGTERM: exit status 0" 0 "$HARNESS_STOP_RC"
t_done
