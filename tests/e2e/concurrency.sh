#!/usr/bin/env bash
# tests/e2e/concurrency.sh - several processes on one database, and the
# database in a bad way: read-only, locked by another process (busy: exit
# 75 after the 5 s busy timeout), damaged.
. "$(dirname "$0")/lib.sh"


now_ms() { echo $(($(date +%s%N) / 1000000)); }

nl init >/dev/null 2>&1 || { fail "init"; finish; }

# --- four writers and a reader at once ---
# writer TAG N: enrols N distinct addresses; writes the number that failed.
writer() {
	local tag=$1 n=$2 f=0 i
	for i in $(seq "$n"); do
		nl -q enroll "$tag-$i@example.org" --order "$tag-$i" >/dev/null 2>>"$SCRATCH/$tag.err" || f=$((f + 1))
	done
	echo "$f" >"$SCRATCH/$tag.failed"
}
# reader TAG N: lists N times; writes how many runs failed or gave bad JSON.
reader() {
	local tag=$1 n=$2 f=0 i
	for i in $(seq "$n"); do
		nl list --json >"$SCRATCH/$tag.json" 2>>"$SCRATCH/$tag.err" &&
			python3 -m json.tool "$SCRATCH/$tag.json" >/dev/null 2>&1 || f=$((f + 1))
	done
	echo "$f" >"$SCRATCH/$tag.failed"
}
pids=()
for p in w1 w2 w3 w4; do
	writer "$p" 100 &
	pids+=($!)
	track $!
done
reader r1 10 &
pids+=($!)
track $!
for pid in "${pids[@]}"; do wait "$pid"; done
for p in w1 w2 w3 w4; do
	check "4 writers: writer $p had no failed enrolment ($(cat "$SCRATCH/$p.failed" 2>/dev/null) failed)" \
		test "$(cat "$SCRATCH/$p.failed" 2>/dev/null)" = 0
	check "4 writers: all 100 of $p are there" \
		test "$(sqlite3 "$DB" "SELECT count(*) FROM subscriber WHERE email LIKE '$p-%'")" = 100
done
check "4 writers: 400 subscribers in all" test "$(count)" = 400
check "4 writers: 400 enrolment events in the audit log" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE event = 'enrolled'")" = 400
check "4 writers: each order went to its own address" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM subscriber WHERE email = last_order || '@example.org'")" = 400
check "4 writers: no error messages" test ! -s "$SCRATCH/w1.err" -a ! -s "$SCRATCH/w2.err" -a ! -s "$SCRATCH/w3.err" -a ! -s "$SCRATCH/w4.err"
check "a reader during the writes: every list succeeded with valid JSON" test "$(cat "$SCRATCH/r1.failed" 2>/dev/null)" = 0
run_cmd nl stats --json
check "4 writers: stats agrees" grep -q '"total": 400' <<<"$OUT"
check "4 writers: the database passes SQLite's integrity check" test "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok

# --- two writers enrolling the same addresses ---
pids=()
for p in s1 s2; do
	(
		f=0
		for i in $(seq 60); do nl -q enroll "same-$i@example.org" >/dev/null 2>&1 || f=$((f + 1)); done
		echo "$f" >"$SCRATCH/$p.failed"
	) &
	pids+=($!)
	track $!
done
for pid in "${pids[@]}"; do wait "$pid"; done
check "same addresses twice at once: no enrolment failed" \
	test "$(cat "$SCRATCH/s1.failed" 2>/dev/null)/$(cat "$SCRATCH/s2.failed" 2>/dev/null)" = 0/0
check "same addresses twice at once: each address is there once (60 rows)" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM subscriber WHERE email LIKE 'same-%'")" = 60

# --- imports and enrolments at once ---
for f in i1 i2; do
	{
		echo email,name
		for i in $(seq 1000); do echo "$f-$i@example.org,Import $i"; done
	} >"$SCRATCH/$f.csv"
done
pids=()
for f in i1 i2; do
	(nl -q import "$SCRATCH/$f.csv" >/dev/null 2>"$SCRATCH/$f.err"; echo $? >"$SCRATCH/$f.rc") &
	pids+=($!)
	track $!
done
writer w5 50 &
pids+=($!)
track $!
for pid in "${pids[@]}"; do wait "$pid"; done
check "two imports at once: both exit 0" \
	test "$(cat "$SCRATCH/i1.rc" 2>/dev/null)/$(cat "$SCRATCH/i2.rc" 2>/dev/null)" = 0/0
check "two imports at once: 2000 rows" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM subscriber WHERE email LIKE 'i_-%'")" = 2000
check "enrolments during the imports: none failed" test "$(cat "$SCRATCH/w5.failed" 2>/dev/null)" = 0
check "enrolments during the imports: all 50 there" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM subscriber WHERE email LIKE 'w5-%'")" = 50

# --- a read-only database ---
RO=$SCRATCH/ro
if ! setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
	skip "read-only database" "setpriv cannot switch to uid 65534 here"
else
	chmod 711 "$SCRATCH"
	mkdir -p "$RO/data"
	cat >"$RO/ro.conf" <<CONF
[store]
database = $RO/data/newsletter.db
key_file = $RO/newsletter.key
CONF
	"$NEWSLETTER" --config "$RO/ro.conf" init >/dev/null
	"$NEWSLETTER" --config "$RO/ro.conf" enroll first@example.no >/dev/null
	chown 65534:65534 "$RO/newsletter.key"
	chmod 600 "$RO/newsletter.key"
	chmod 755 "$RO" "$RO/data"
	chmod 644 "$RO/data"/newsletter.db* "$RO/ro.conf"
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups $NEWSLETTER_WRAP "$NEWSLETTER" --config "$RO/ro.conf" "$@"; }
	ro_count() { sqlite3 "$RO/data/newsletter.db" 'SELECT count(*) FROM subscriber'; }
	sum=$(sha256sum "$RO/data/newsletter.db")
	# A file and a folder the user cannot write.
	expect_out 1 "read-only" "read-only database and folder: enroll exits 1 saying read-only" as_nobody enroll second@example.no
	expect_out 1 "read-only" "read-only database and folder: unsubscribe exits 1 saying read-only" as_nobody unsubscribe first@example.no
	check "read-only database and folder: the file is unchanged" test "$(sha256sum "$RO/data/newsletter.db")" = "$sum"
	check "read-only database and folder: still one subscriber" test "$(ro_count)" = 1
	# A folder the user can write, a database file it cannot.
	chmod 777 "$RO/data"
	expect_out 1 "read-only" "read-only database file: enroll exits 1 saying read-only" as_nobody enroll second@example.no
	expect_out 1 "read-only" "read-only database file: erase exits 1 saying read-only" as_nobody erase first@example.no
	check "read-only database file: nothing changed" \
		test "$(ro_count)" = 1 -a "$(sqlite3 "$RO/data/newsletter.db" "SELECT count(*) FROM subscriber WHERE email = 'second@example.no'")" = 0
	rm -f "$RO/data/newsletter.db-wal" "$RO/data/newsletter.db-shm"
	chmod 700 "$SCRATCH"
fi

# --- a busy database: another process holds the write lock for 7 s ---
before=$(count)
sup_before=$(sqlite3 "$DB" 'SELECT count(*) FROM suppression')
printf 'email\nbusy-import@example.no\n' >"$SCRATCH/busy.csv"
python3 - "$DB" >"$SCRATCH/lock.out" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(7)
c.execute("ROLLBACK")
PY
locker=$!
track $locker
for _ in $(seq 200); do grep -q locked "$SCRATCH/lock.out" 2>/dev/null && break; sleep 0.05; done
t0=$(now_ms)
busy_run() {	# TAG ARGS...: runs nl in the background, keeps rc, stderr and time
	local tag=$1
	shift
	(
		nl "$@" >/dev/null 2>"$SCRATCH/$tag.err"
		echo $? >"$SCRATCH/$tag.rc"
		now_ms >"$SCRATCH/$tag.end"
	) &
	bpids+=($!)
	track $!
}
bpids=()
busy_run b-enroll enroll busy@example.no
busy_run b-unsub unsubscribe w1-1@example.org
busy_run b-import import "$SCRATCH/busy.csv"
busy_run b-rectify rectify w1-2@example.org busy-rect@example.no
# A reader is not blocked by a writer.
expect_rc 0 "busy: list still works while another process holds the write lock" nl list --json
check "busy: list answered at once ($(($(now_ms) - t0)) ms)" test $(($(now_ms) - t0)) -lt 3000
for pid in "${bpids[@]}"; do wait "$pid"; done
for tag in b-enroll b-unsub b-import b-rectify; do
	rc=$(cat "$SCRATCH/$tag.rc" 2>/dev/null)
	el=$(($(cat "$SCRATCH/$tag.end" 2>/dev/null || echo 0) - t0))
	check "busy: ${tag#b-} exits 75 (got $rc)" test "$rc" = 75
	check "busy: ${tag#b-} says busy, try again" grep -Eqi "busy.*try again" "$SCRATCH/$tag.err"
	check "busy: ${tag#b-} waited the busy timeout (${el} ms, 4500 to 6900)" test "$el" -ge 4500 -a "$el" -lt 6900
done
wait "$locker"
check "busy: nothing was enrolled" test "$(count)" = "$before"
check "busy: nothing was unsubscribed or suppressed" \
	test "$(sqlite3 "$DB" 'SELECT count(*) FROM suppression')" = "$sup_before" -a \
	"$(sqlite3 "$DB" "SELECT count(*) FROM subscriber WHERE email = 'w1-1@example.org'")" = 1
check "busy: nothing was rectified" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM subscriber WHERE email = 'w1-2@example.org'")" = 1
expect_rc 0 "busy: once the lock is released, enroll works" nl enroll busy@example.no
check "busy: and the subscriber is there" test "$(count)" = $((before + 1))

# --- damaged databases ---
# A consistent copy of the good database, and a way to put a file in its place
# (without the old write-ahead log, which belongs to the old file).
sqlite3 "$DB" ".backup '$SCRATCH/good.db'"
put_db() { rm -f "$DB" "$DB-wal" "$DB-shm"; cp "$1" "$DB"; }
damaged() {	# NAME: the database as prepared is refused by list and enroll, exit 1
	expect_out 1 "damaged or not a newsletter database" "$1: list exits 1, damaged or not a newsletter database" nl list
	expect_out 1 "damaged or not a newsletter database" "$1: enroll exits 1, damaged or not a newsletter database" \
		nl enroll new@example.no
}
put_db "$SCRATCH/good.db"
printf 'this is not sqlite' | dd of="$DB" bs=1 seek=0 conv=notrunc status=none
damaged "first bytes overwritten"
rm -f "$DB-wal" "$DB-shm"
head -c 65536 /dev/urandom >"$DB"
damaged "random bytes"
# Overwritten header past the magic string: page size and counts nonsense.
put_db "$SCRATCH/good.db"
printf '\377\377\377\377\377\377\377\377' | dd of="$DB" bs=1 seek=16 conv=notrunc status=none
expect_rc 1 "damaged header fields: list exits 1" nl list
put_db "$SCRATCH/good.db"
sqlite3 "$DB" 'PRAGMA user_version = 99'
expect_out 1 "newer than this program" "a database of a newer schema: exit 1 saying so" nl list
put_db "$SCRATCH/good.db"
expect_rc 0 "the good copy works again" nl stats
check "the good copy holds the subscribers" test "$(count)" -gt 2000
# An empty file is not a database: it must not silently become a new, empty one
# (the suppression list would be lost without a word).
rm -f "$DB-wal" "$DB-shm"
: >"$DB"
expect_rc 1 "an empty (0-byte) database file is refused, exit 1" nl enroll empty@example.no
check "an empty database file is not turned into a database" test ! -s "$DB"
# Another program's SQLite database is not a newsletter database.
rm -f "$DB" "$DB-wal" "$DB-shm"
sqlite3 "$DB" "CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT); INSERT INTO orders(item) VALUES ('book');"
expect_rc 1 "another program's SQLite database is refused, exit 1" nl list
check "another program's SQLite database is not changed (no tables added)" \
	test "$(sqlite3 "$DB" "SELECT group_concat(name) FROM sqlite_master WHERE type = 'table'")" = orders
put_db "$SCRATCH/good.db"

finish
