#!/usr/bin/env bash
# tests/e2e/bounce.sh - 'newsletter bounce' against a real store: a bounce
# piped in as an MTA delivers it (stdin, envelope recipient in the
# environment) deletes the dead subscriber with a suppression entry and an
# audit event; forged bounces delete nobody; soft bounces score once a
# day; unsubscribe by mail; unparseable mail is kept; busy store gives 75;
# Maildir (two runs at once) and mbox; tests/e2e/bounce_maildir.sh has
# the rest of the Maildir.
. "$(dirname "$0")/lib.sh"

need_tool MINT mint-token || finish

KEEP=$SCRATCH/kept
write_conf "[bounce]" "domain = news.example.org" "soft_threshold = 2" "soft_window_days = 30" "keep = $KEEP"
nl init >/dev/null 2>&1
for a in dead@example.net alive@example.net full@example.net leaving@example.net; do
	nl enroll "$a" >/dev/null 2>&1
done
id_of() { sqlite3 "$DB" "SELECT id FROM subscriber WHERE email = '$1'"; }
token() { "$MINT" "$SCRATCH/newsletter.key" "$1" "$2"; }

# A DSN as Postfix writes it (lib.sh): TO, RCPT, STATUS, DIAG.
dsn() { dsn_mail "$@"; }

DEAD=$(id_of dead@example.net)
ALIVE=$(id_of alive@example.net)
FULL=$(id_of full@example.net)
LEAVING=$(id_of leaving@example.net)

# --- forged bounces delete nobody ---
dsn "bounces@news.example.org" alive@example.net 5.1.1 "550 5.1.1 User unknown" >"$SCRATCH/forged1"
expect_rc 0 "a bounce without a VERP token is handled (exit 0)" nl bounce <"$SCRATCH/forged1"
GOOD=$(token bounce "$ALIVE")
BAD=${GOOD:0:10}x${GOOD:11}
[ "${GOOD:10:1}" = x ] && BAD=${GOOD:0:10}y${GOOD:11}
dsn "bounces+$BAD@news.example.org" alive@example.net 5.1.1 "550 5.1.1 User unknown" >"$SCRATCH/forged2"
expect_rc 0 "a bounce with a forged token is handled (exit 0)" nl bounce <"$SCRATCH/forged2"
dsn "bounces+$(token unsubscribe "$ALIVE")@news.example.org" alive@example.net 5.1.1 "550 5.1.1 User unknown" \
	>"$SCRATCH/forged3"
expect_rc 0 "a bounce with a token of another purpose is handled (exit 0)" nl bounce <"$SCRATCH/forged3"
check "forged bounces deleted nobody" test "$(sub_field alive@example.net id)" = "$ALIVE"
check "forged bounces left no suppression entry" test "$(suppressed)" = 0

# --- a real hard bounce through stdin, envelope recipient from the MTA ---
dsn "" dead@example.net 5.1.1 "550 5.1.1 <dead@example.net>: Recipient address rejected: User unknown" \
	>"$SCRATCH/hard"
run_cmd env ORIGINAL_RECIPIENT="bounces+$(token bounce "$DEAD")@news.example.org" \
	$NEWSLETTER_WRAP "$NEWSLETTER" --config "$CONF" bounce <"$SCRATCH/hard"
check "a hard bounce on stdin exits 0" test "$RC" = 0
check "the dead subscriber is deleted" test "$(sub_field dead@example.net id)" = none
check "a suppression entry is kept" test "$(suppressed)" = 1
check "the audit log has the bounce, with its status, by source bounce" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE event = 'bounced' AND source = 'bounce' AND subscriber_id = $DEAD AND detail LIKE '5.1.1%'")" = 1
check "the log names the subscriber by id, not by address" \
	bash -c '! printf "%s" "$1" | grep -q "dead@example.net"' _ "$ERR"
check "the address is gone from the database files" bash -c '! LC_ALL=C grep -a -i -q -F dead@example.net "$1"*' _ "$DB"
expect_out 0 "not enrolled" "a purchase does not enrol the bounced address again" nl enroll dead@example.net

# --- soft bounces: a point a day, in the export ---
FT=$(token bounce "$FULL")
dsn "bounces+$FT@news.example.org" full@example.net 4.2.2 "452 4.2.2 Mailbox full" >"$SCRATCH/soft"
expect_rc 0 "a soft bounce exits 0" nl bounce <"$SCRATCH/soft"
expect_rc 0 "a second soft bounce the same day exits 0" nl bounce <"$SCRATCH/soft"
check "two soft bounces on one day count one point" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM bounce WHERE subscriber_id = $FULL")" = 1
check "the subscriber is kept" test "$(sub_field full@example.net id)" = "$FULL"
run_cmd nl export full@example.net
check "the export shows the bounce score" test "$(printf '%s' "$OUT" | jval 'len(d["bounces"]["items"])')" = 1
# A point from an earlier day within the window reaches the threshold (2).
sqlite3 "$DB" "UPDATE bounce SET day = date('now', '-3 days') WHERE subscriber_id = $FULL"
expect_rc 0 "a soft bounce on a later day exits 0" nl bounce <"$SCRATCH/soft"
check "two days of soft bounces within the window delete" test "$(sub_field full@example.net id)" = none
check "and the audit log says why" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE event = 'bounced' AND subscriber_id = $FULL AND detail LIKE '2 soft bounces%'")" = 1
# Decay: a point older than the window does not count.
nl enroll decay@example.net >/dev/null 2>&1
DECAY=$(id_of decay@example.net)
sqlite3 "$DB" "INSERT INTO bounce(subscriber_id, day, status) VALUES ($DECAY, date('now', '-40 days'), '4.2.2')"
dsn "bounces+$(token bounce "$DECAY")@news.example.org" decay@example.net 4.2.2 "452 4.2.2 Mailbox full" \
	| nl bounce >/dev/null 2>&1
check "a point older than the window decays" test "$(sub_field decay@example.net id)" = "$DECAY"
check "the old point is gone" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM bounce WHERE subscriber_id = $DECAY")" = 1

# --- unsubscribe by mail (List-Unsubscribe mailto) ---
printf 'From: leaving@example.net\nTo: unsubscribe+%s@news.example.org\nSubject: unsubscribe\n\n' \
	"$(token unsubscribe "$LEAVING")" >"$SCRATCH/unsub"
expect_rc 0 "a mail to unsubscribe+TOKEN@ exits 0" nl bounce <"$SCRATCH/unsub"
check "and unsubscribes" test "$(sub_field leaving@example.net id)" = none
check "the audit says how: source mail, detail mailto (not bounce)" \
	test "$(sqlite3 "$DB" "SELECT source || ' ' || coalesce(detail, '-') FROM audit
		WHERE event = 'unsubscribed' AND subscriber_id = $LEAVING")" = "mail mailto"

# --- not a bounce; an auto-reply ---
printf 'From: friend@example.net\nTo: bounces+%s@news.example.org\nSubject: hi\n\nuser unknown\n' \
	"$(token bounce "$ALIVE")" >"$SCRATCH/plain"
expect_rc 0 "a message that is not a bounce is handled (exit 0)" nl bounce <"$SCRATCH/plain"
printf 'From: alive@example.net\nTo: bounces+%s@news.example.org\nSubject: Out of office\nAuto-Submitted: auto-replied\n\naway\n' \
	"$(token bounce "$ALIVE")" >"$SCRATCH/ooo"
expect_out 0 '"action":"ignore"' "an auto-reply is ignored" nl bounce --json <"$SCRATCH/ooo"
check "neither changed the subscriber" test "$(sub_field alive@example.net id)" = "$ALIVE"

# --- --dry-run --json and --explain ---
nl enroll dry@example.net >/dev/null 2>&1
DRY=$(id_of dry@example.net)
dsn "bounces+$(token bounce "$DRY")@news.example.org" dry@example.net 5.1.1 "550 5.1.1 User unknown" >"$SCRATCH/dry"
run_cmd nl bounce --dry-run --json "$SCRATCH/dry"
check "--json: one object with the file and the result" test "$(printf '%s' "$OUT" | jval \
	'[d["file"].endswith("/dry"), d["results"][0]["recipient"], d["results"][0]["action"], d["results"][0]["status"]]')" \
	= '[true, "dry@example.net", "hard", "5.1.1"]'
check "--json: the evidence is the line it decided on" \
	test "$(printf '%s' "$OUT" | jval 'd["results"][0]["evidence"]')" = "550 5.1.1 User unknown"
check "--dry-run changed nothing" test "$(sub_field dry@example.net id)" = "$DRY"
expect_out 0 'would delete' "--explain says what it would do" nl bounce --dry-run --explain "$SCRATCH/dry"
expect_out 0 '"results":\[\]' "--json: results empty for a message that is not a bounce" nl bounce --dry-run --json "$SCRATCH/plain"

# --- unparseable: kept in the keep Maildir, never dropped ---
printf 'x' >"$SCRATCH/garbage"
expect_rc 0 "a message that cannot be parsed is handled by keeping it" nl bounce <"$SCRATCH/garbage"
check "it is in the keep Maildir's new/" test "$(ls "$KEEP/new" | wc -l)" = 1
check "with its bytes" cmp -s "$KEEP/new/$(ls "$KEEP/new")" "$SCRATCH/garbage"
check "and nothing is left in tmp/" test "$(ls "$KEEP/tmp" | wc -l)" = 0
write_conf "[bounce]" "domain = news.example.org"
expect_rc 75 "without a keep Maildir, an unparseable message makes the MTA retry (75)" nl bounce <"$SCRATCH/garbage"

# --- the store busy: 75, and the message is not lost ---
python3 -c 'import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute("BEGIN EXCLUSIVE"); print("locked", flush=True); time.sleep(9)' "$DB" >"$SCRATCH/lock.out" &
LOCKER=$!
track $LOCKER
for _ in $(seq 50); do grep -q locked "$SCRATCH/lock.out" 2>/dev/null && break; sleep 0.1; done
expect_rc 75 "a locked store gives 75 (the MTA retries)" nl bounce <"$SCRATCH/dry"
kill $LOCKER 2>/dev/null
wait $LOCKER 2>/dev/null
check "and nothing changed" test "$(sub_field dry@example.net id)" = "$DRY"

# --- Maildir: claimed into cur/, handled ones deleted; two runs at once ---
MD=$SCRATCH/Maildir
mkdir -p "$MD/new" "$MD/cur" "$MD/tmp"
nl enroll md@example.net >/dev/null 2>&1
MDID=$(id_of md@example.net)
dsn "bounces+$(token bounce "$MDID")@news.example.org" md@example.net 5.1.1 "550 5.1.1 User unknown" >"$MD/new/1.hard"
cp "$SCRATCH/plain" "$MD/new/2.plain"
cp "$SCRATCH/garbage" "$MD/new/3.garbage"
for i in $(seq 100 159); do cp "$SCRATCH/forged1" "$MD/new/$i.forged"; done
nl bounce --json --maildir "$MD" >"$SCRATCH/md1.out" 2>/dev/null &
P1=$!
nl bounce --json --maildir "$MD" >"$SCRATCH/md2.out" 2>/dev/null &
P2=$!
wait $P1
R1=$?
wait $P2
R2=$?
check "two Maildir runs at once both succeed" test "$R1$R2" = 00
check "every message was handled exactly once" \
	test "$(cat "$SCRATCH/md1.out" "$SCRATCH/md2.out" | wc -l)" = 63
check "new/ is empty" test "$(ls "$MD/new" | wc -l)" = 0
check "handled messages are deleted" test "$(ls "$MD/cur" | grep -c -v ':2,F$')" = 0
check "the unparseable one (no keep Maildir) is flagged for a person" test "$(ls "$MD/cur" | grep -c ':2,F$')" = 1
check "the Maildir bounce deleted its subscriber" test "$(sub_field md@example.net id)" = none

# --- mbox: every message ---
{
	printf 'From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n'; cat "$SCRATCH/dry"; printf '\n'
	printf 'From MAILER-DAEMON Thu Jan  1 00:00:01 2026\n'; cat "$SCRATCH/plain"; printf '\n'
	printf 'From MAILER-DAEMON Thu Jan  1 00:00:02 2026\n'; cat "$SCRATCH/forged1"
} >"$SCRATCH/mbox"
run_cmd nl bounce --dry-run --json --mbox "$SCRATCH/mbox"
check "mbox: one line per message" test "$(printf '%s\n' "$OUT" | wc -l)" = 3
check "mbox: the first is the hard bounce" \
	test "$(printf '%s\n' "$OUT" | head -n 1 | jval 'd["results"][0]["action"]')" = hard
expect_rc 0 "mbox without --dry-run" nl bounce --mbox "$SCRATCH/mbox"
check "mbox: the bounce deleted its subscriber" test "$(sub_field dry@example.net id)" = none

# --- usage ---
expect_rc 2 "files and --maildir together are a usage error" nl bounce --maildir "$MD" "$SCRATCH/dry"
expect_out 0 'maildir' "--help" nl bounce --help
finish
