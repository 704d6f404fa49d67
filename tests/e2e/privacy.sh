#!/usr/bin/env bash
# tests/e2e/privacy.sh - a deleted address is gone from the bytes of the
# database files, and no command writes an address to its logs.
#
# After unsubscribe, erase, rectify (the old address), retention and a
# rolled-back import, the address (and its local part, and the name) must not
# be found in newsletter.db, newsletter.db-wal or newsletter.db-shm: alone in
# the database, among 200 other subscribers (shared pages), and while another
# process keeps the database open. Standard error never names an address;
# standard output does only for list, export and link, which ask for it.
. "$(dirname "$0")/lib.sh"

A=zq-unique-4711@example.no
LOCAL=zq-unique-4711
NAME="Zqxname Uniquesen"
NEW=zz-new-4711@example.no

files() { printf '%s\n' "$DB" "$DB-wal" "$DB-shm"; }
# gone WHAT: WHAT is in none of the database files.
gone() { ! bytes_contain "$1" "$DB" "$DB-wal" "$DB-shm"; }
present() { bytes_contain "$1" "$DB" "$DB-wal" "$DB-shm"; }
# traces_gone LABEL: the address, its local part and the name are all gone.
traces_gone() {
	check "$1: the address is not in the database files" gone "$A"
	check "$1: the local part is not in the database files" gone "$LOCAL"
	check "$1: the name is not in the database files" gone "$NAME"
}
fresh_db() {
	rm -f "$DB" "$DB-wal" "$DB-shm" "$SCRATCH/newsletter.key"
	nl init >/dev/null 2>&1 || fail "init"
}
# 200 other subscribers, their addresses on both sides of A in the index,
# their rows before and after A's.
NEIGH=$SCRATCH/neighbours
{
	echo "email,name"
	for i in $(seq 100); do echo "zq-unique-48$i@example.no,Zqxname Neighbour $i"; done
} >"$NEIGH-1.csv"
{
	echo "email,name"
	for i in $(seq 100); do echo "zr-other-$i@example.no,Other $i"; echo "zp-other-$i@example.no,Other $i"; done
} >"$NEIGH-2.csv"

scenario() {	# LABEL CROWDED(0/1)
	local L=$1 crowded=$2
	fresh_db
	[ "$crowded" = 1 ] && nl import "$NEIGH-1.csv" >/dev/null
	nl enroll "$A" --name "$NAME" --order ZQ-ORDER >/dev/null
	[ "$crowded" = 1 ] && nl import "$NEIGH-2.csv" >/dev/null
	check "$L: while subscribed the address is in the files (the check can see it)" present "$A"

	# unsubscribe
	expect_rc 0 "$L: unsubscribe" nl unsubscribe "$A"
	traces_gone "$L: after unsubscribe"

	# erase (after an explicit re-opt-in)
	nl enroll "$A" --consent --name "$NAME" >/dev/null
	check "$L: re-enrolled with --consent" present "$A"
	expect_rc 0 "$L: erase" nl erase "$A"
	traces_gone "$L: after erase"

	# erase --suppress
	nl enroll "$A" --name "$NAME" >/dev/null
	expect_rc 0 "$L: erase --suppress" nl erase --suppress "$A"
	traces_gone "$L: after erase --suppress"

	# rectify: the old address goes, the new one is there
	nl enroll "$A" --consent --name "Rectified Person" >/dev/null
	expect_rc 0 "$L: rectify" nl rectify "$A" "$NEW"
	check "$L: after rectify the old address is not in the files" gone "$A"
	check "$L: after rectify the old local part is not in the files" gone "$LOCAL"
	check "$L: after rectify the new address is in the files" present "$NEW"
	nl erase "$NEW" >/dev/null
	check "$L: after erasing the new address it is gone too" gone "$NEW"

	# retention
	nl enroll "$A" --name "$NAME" --date 2020-01-01 >/dev/null
	check "$L: an old buyer is in the files" present "$A"
	expect_out 0 "deleted 1 subscriber" "$L: retention deletes the old buyer" nl retention
	traces_gone "$L: after retention"

	# a refused import leaves nothing behind
	printf 'email,name\n%s,%s\nnot-an-address,Bad\n' "$A" "$NAME" >"$SCRATCH/refused.csv"
	expect_rc 2 "$L: an import with a bad line is refused" nl import "$SCRATCH/refused.csv"
	traces_gone "$L: after a refused import"

	if [ "$crowded" = 1 ]; then
		check "$L: the 300 neighbours are all still there" \
			test "$(sqlite3 "$DB" "SELECT count(*) FROM subscriber")" = 300
		check "$L: the neighbours' addresses are still in the files" present "zq-unique-4850@example.no"
	fi
}

scenario "alone" 0
scenario "among 300 others" 1

# --- while another process keeps the database open (as 'serve' will) ---
fresh_db
nl import "$NEIGH-1.csv" >/dev/null
python3 - "$DB" >"$SCRATCH/holder.out" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("SELECT count(*) FROM subscriber").fetchall()
print("open", flush=True)
time.sleep(20)
PY
holder=$!
track $holder
for _ in $(seq 100); do grep -q open "$SCRATCH/holder.out" 2>/dev/null && break; sleep 0.05; done
nl enroll "$A" --name "$NAME" >/dev/null
nl import "$NEIGH-2.csv" >/dev/null
check "held open: while subscribed the address is in the files" present "$A"
check "held open: the write-ahead log exists (another process holds the database)" test -e "$DB-wal"
check "held open: the write-ahead log is mode 0600 (got $(stat -c %a "$DB-wal"))" test "$(stat -c %a "$DB-wal")" = 600
check "held open: the -shm file is mode 0600 (got $(stat -c %a "$DB-shm"))" test "$(stat -c %a "$DB-shm")" = 600
expect_rc 0 "held open: unsubscribe" nl unsubscribe "$A"
traces_gone "held open: after unsubscribe"
nl enroll "$A" --consent --name "$NAME" >/dev/null
nl rectify "$A" "$NEW" >/dev/null
check "held open: after rectify the old address is not in the files" gone "$A"
nl erase "$NEW" >/dev/null
check "held open: after erase the new address is not in the files" gone "$NEW"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

# --- no command logs an address ---
fresh_db
mentions() { grep -Eqi "zq-unique-4711|zz-new-4711|zqxname" <<<"$1"; }
# quiet CMD...: neither standard output nor standard error names the address.
quiet() {
	local what="${*:2}"
	what=${what//$SCRATCH\//}
	run_cmd "$@"
	if mentions "$OUT$ERR"; then
		fail "no address in the output of: $what" "exit $RC" "stdout: ${OUT:0:300}" "stderr: ${ERR:0:300}"
	else pass "no address in the output of: $what (exit $RC)"; fi
}
# quiet_stderr CMD...: standard error does not name the address (stdout may).
quiet_stderr() {
	local what="${*:2}"
	what=${what//$SCRATCH\//}
	run_cmd "$@"
	if mentions "$ERR"; then
		fail "no address on stderr of: $what" "exit $RC" "stderr: ${ERR:0:300}"
	else pass "no address on stderr of: $what (exit $RC)"; fi
}
printf 'email,name\n%s,%s\n' "$A" "$NAME" >"$SCRATCH/one.csv"
printf 'email,name,date\n%s,%s,\n%s,x,2026-02-30\n%s,x,2999-01-01\nZQ-UNIQUE-4711@@example.no,x,\n%s,"bad\001name",\n' \
	"$A" "$NAME" "$A" "$A" "$A" >"$SCRATCH/bad-lines.csv"
quiet nl -v enroll "$A" --name "$NAME"
quiet nl -v enroll "$A" --name "$NAME"
quiet nl -v enroll "$A" --date 2026-02-30
quiet nl -v enroll "$A" --date 2999-01-01
quiet nl -v enroll "$A" --name "$(printf 'Zqxname\tX')"
quiet nl -v enroll zq-unique-4711@example
quiet nl -v enroll zq-unique-4711@@example.no
quiet nl -v enroll "<$A>"
quiet nl -v enroll "zq-unique-4711 @example.no"
quiet nl -v enroll "$A" "$NEW"
quiet nl -v enroll --bogus "$A"
quiet nl -v import "$SCRATCH/one.csv"
quiet nl -v import "$SCRATCH/bad-lines.csv"
quiet nl -v import --skip-bad "$SCRATCH/bad-lines.csv"
quiet_stderr nl -v list
quiet_stderr nl -v list --json
check "list --json does print the address on stdout (it was asked for)" mentions "$OUT"
quiet nl -v stats
quiet nl -v stats --json
quiet_stderr nl -v export "$A"
quiet_stderr nl -v export "$NEW"
quiet_stderr nl -v link "$A"
quiet nl -v link "$NEW"
quiet nl -v restrict "$A"
quiet nl -v unrestrict "$A"
quiet nl -v restrict "$NEW"
quiet nl -v rectify "$A" "$NEW"
quiet nl -v rectify "$NEW" "$A"
quiet nl -v rectify "$NEW" "$A"
nl enroll other@example.no >/dev/null
quiet nl -v rectify other@example.no "$A"
quiet nl -v rectify "$A" zq-unique-4711@example
quiet nl -v unsubscribe "$A"
quiet nl -v unsubscribe "$A"
quiet nl -v enroll "$A"
quiet nl -v rectify other@example.no "$A"
quiet nl -v enroll "$A" --consent
quiet nl -v erase "$A"
quiet nl -v erase "$A"
quiet nl -v enroll "$A" --date 2020-01-01
quiet nl -v retention --dry-run
quiet nl -v retention
quiet nl -v erase --suppress "$A"
quiet nl -v key rotate
quiet nl -v stats
# And the audit log holds no address either.
audit_clean() {
	! sqlite3 "$DB" "SELECT hex(subject), event, source, coalesce(detail, '') FROM audit" |
		grep -Eqi 'zq-unique|zz-new|zqxname|@'
}
check "the audit log holds no address" audit_clean
check "the audit log is not empty (the check reads something)" \
	test "$(sqlite3 "$DB" 'SELECT count(*) FROM audit')" -gt 5

finish
