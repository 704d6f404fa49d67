#!/usr/bin/env bash
# tests/e2e/bounce_maildir.sh - what becomes of bounce messages: a handled
# Maildir message is deleted (its subscriber's address leaves the folder),
# or moved into [bounce] keep when keep_handled asks; one that cannot be
# parsed goes to the keep Maildir; a temporary failure leaves it in new/;
# 'retention' expires the keep Maildir after [retention] keep_days; links,
# FIFOs and folders in new/ are refused unread; the summary's counts are
# the flags set; 'bounce -' reads standard input.
. "$(dirname "$0")/lib.sh"

need_tool MINT mint-token || finish

KEEP=$SCRATCH/kept
MD=$SCRATCH/Maildir
conf_plain() { write_conf "[bounce]" "domain = news.example.org" "$@"; }
conf_plain
nl init >/dev/null 2>&1
id_of() { sqlite3 "$DB" "SELECT id FROM subscriber WHERE email = '$1'"; }
token() { "$MINT" "$SCRATCH/newsletter.key" "$1" "$2"; }
enrol() { nl enroll "$1" >/dev/null 2>&1; id_of "$1"; }
fresh_md() { rm -rf "$MD"; mkdir -p "$MD/new" "$MD/cur" "$MD/tmp"; }
files_in() { find "$@" -mindepth 1 \( -type f -o -type l \) 2>/dev/null | wc -l; }

# A DSN of a hard bounce of $1 delivered to its VERP address ($2: id).
dsn() { dsn_mail "bounces+$(token bounce "$2")@news.example.org" "$1" 5.1.1 "550 5.1.1 User unknown"; }
printf 'From: friend@example.net\nTo: bounces@news.example.org\nSubject: hi\n\nhello, keeper@example.net here\n' \
	>"$SCRATCH/plain"
printf 'x' >"$SCRATCH/garbage"

# --- a handled Maildir message is deleted, its address with it ---
fresh_md
GONE=$(enrol gone@example.net)
dsn gone@example.net "$GONE" >"$MD/new/1.hard"
cp "$SCRATCH/plain" "$MD/new/2.plain"
check "the address is in the Maildir before the run" bytes_contain gone@example.net "$MD"/new/*
expect_rc 0 "bounce --maildir exits 0" nl bounce --maildir "$MD"
check "the bounce deleted its subscriber" test "$(sub_field gone@example.net id)" = none
check "the handled messages are deleted: nothing is left in the Maildir" test "$(files_in "$MD")" = 0
check "the subscriber's address is gone from the Maildir's bytes" \
	bash -c '! LC_ALL=C grep -r -a -i -q -F gone@example.net "$1"' _ "$MD"

# --- --dry-run reads the messages where they are and changes nothing ---
fresh_md
DRY=$(enrol dry@example.net)
dsn dry@example.net "$DRY" >"$MD/new/1.hard"
expect_out 0 '"action":"hard"' "bounce --dry-run --maildir gives the verdict" nl bounce --dry-run --json --maildir "$MD"
check "--dry-run leaves the message in new/, unrenamed" test -f "$MD/new/1.hard" -a "$(files_in "$MD")" = 1
check "--dry-run deletes no subscriber" test "$(sub_field dry@example.net id)" = "$DRY"

# --- a temporary failure leaves the message in new/ for the next run ---
python3 -c 'import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute("BEGIN EXCLUSIVE"); print("locked", flush=True); time.sleep(9)' "$DB" >"$SCRATCH/lock.out" &
LOCKER=$!
track $LOCKER
for _ in $(seq 50); do grep -q locked "$SCRATCH/lock.out" 2>/dev/null && break; sleep 0.1; done
expect_rc 75 "a locked store: bounce --maildir exits 75" nl bounce --maildir "$MD"
kill $LOCKER 2>/dev/null
wait $LOCKER 2>/dev/null
check "the message is back in new/ with its bytes" cmp -s "$MD/new/1.hard" <(dsn dry@example.net "$DRY")
check "and nothing else is in the Maildir" test "$(files_in "$MD")" = 1
expect_rc 0 "the next run handles it" nl bounce --maildir "$MD"
check "and deletes it" test "$(files_in "$MD")" = 0
check "and its subscriber" test "$(sub_field dry@example.net id)" = none

# --- unparsed messages move into [bounce] keep; keep_handled keeps the rest ---
conf_plain "keep = $KEEP"
fresh_md
cp "$SCRATCH/garbage" "$MD/new/1.garbage"
cp "$SCRATCH/plain" "$MD/new/2.plain"
expect_rc 0 "with [bounce] keep: bounce --maildir exits 0" nl bounce --maildir "$MD"
check "the source Maildir is empty" test "$(files_in "$MD")" = 0
check "the unparsed message is in the keep Maildir's new/" test "$(files_in "$KEEP/new")" = 1
check "with its bytes" cmp -s "$KEEP/new/$(ls "$KEEP/new")" "$SCRATCH/garbage"
check "the handled one was not kept (keep_handled is off)" \
	bash -c '! LC_ALL=C grep -r -a -q -F keeper@example.net "$1"' _ "$KEEP"
rm -rf "$KEEP"

conf_plain "keep = $KEEP" "keep_handled = true"
fresh_md
KH=$(enrol kh@example.net)
dsn kh@example.net "$KH" >"$MD/new/1.hard"
expect_rc 0 "keep_handled: bounce --maildir exits 0" nl bounce --maildir "$MD"
check "keep_handled: the subscriber is deleted" test "$(sub_field kh@example.net id)" = none
check "keep_handled: the source Maildir is empty" test "$(files_in "$MD")" = 0
check "keep_handled: the handled message is in the keep Maildir" \
	cmp -s "$KEEP/new/$(ls "$KEEP/new")" <(dsn kh@example.net "$KH")
rm -rf "$KEEP"
KH2=$(enrol kh2@example.net)
dsn kh2@example.net "$KH2" >"$SCRATCH/kh2"
expect_rc 0 "keep_handled: a bounce on stdin exits 0" nl bounce <"$SCRATCH/kh2"
check "keep_handled: the stdin message is kept" cmp -s "$KEEP/new/$(ls "$KEEP/new")" "$SCRATCH/kh2"
rm -rf "$KEEP"
conf_plain "keep = $KEEP"
KH3=$(enrol kh3@example.net)
dsn kh3@example.net "$KH3" >"$SCRATCH/kh3"
expect_rc 0 "without keep_handled: a bounce on stdin exits 0" nl bounce <"$SCRATCH/kh3"
check "without keep_handled: a handled stdin message is stored nowhere" test "$(files_in "$KEEP")" = 0

# The keep Maildir cannot be written (a file in its place): nothing is lost.
: >"$SCRATCH/notadir"
conf_plain "keep = $SCRATCH/notadir"
fresh_md
cp "$SCRATCH/garbage" "$MD/new/1.garbage"
expect_out 1 "1 failed \(left in cur/\)" "a message that cannot be kept: exit 1, counted as failed" \
	nl bounce --maildir "$MD"
check "and it stays in cur/ flagged F with its bytes" cmp -s "$MD/cur/1.garbage:2,F" "$SCRATCH/garbage"

conf_plain "keep_handled = true"
expect_out 2 "keep_handled = true needs \[bounce\] keep" "keep_handled without keep: exit 2, says why" \
	nl bounce --maildir "$MD"
conf_plain "keep = $MD"
expect_out 2 "is the \[bounce\] keep Maildir" "--maildir the keep Maildir: exit 2, says why" \
	nl bounce --maildir "$MD"

# --- retention expires the keep Maildir after keep_days ---
conf_plain "keep = $KEEP"
rm -rf "$KEEP"
mkdir -p "$KEEP/new" "$KEEP/cur" "$KEEP/tmp"
echo "old-new gone@example.net" >"$KEEP/new/old1"
echo "old-cur gone@example.net" >"$KEEP/cur/old2:2,S"
echo "old-tmp gone@example.net" >"$KEEP/tmp/old3"
echo "fresh" >"$KEEP/new/fresh"
echo "20 days" >"$KEEP/cur/twenty:2,"
echo "outside" >"$SCRATCH/outside"
ln -s "$SCRATCH/outside" "$KEEP/new/oldlink"
touch -d '31 days ago' "$KEEP/new/old1" "$KEEP/cur/old2:2,S" "$KEEP/tmp/old3"
touch -h -d '31 days ago' "$KEEP/new/oldlink"
touch -d '20 days ago' "$KEEP/cur/twenty:2,"
expect_out 0 "would delete 4 kept bounce messages older than 30 days" "retention --dry-run counts old kept messages" \
	nl retention --dry-run
check "retention --dry-run deletes none of them" test "$(files_in "$KEEP")" = 6
expect_out 0 "deleted 4 kept bounce messages older than 30 days" "retention deletes kept messages older than 30 days" \
	nl retention
check "the old ones in new/, cur/ and tmp/ are gone" \
	test ! -e "$KEEP/new/old1" -a ! -e "$KEEP/cur/old2:2,S" -a ! -e "$KEEP/tmp/old3"
check "their address is gone from the keep Maildir's bytes" \
	bash -c '! LC_ALL=C grep -r -a -q -F gone@example.net "$1"' _ "$KEEP"
check "a link is judged by its own age and removed as a link: its fresh target stays" \
	test ! -L "$KEEP/new/oldlink" -a -f "$SCRATCH/outside"
check "younger messages stay" test -f "$KEEP/new/fresh" -a -f "$KEEP/cur/twenty:2,"
conf_plain "keep = $KEEP" "[retention]" "keep_days = 10"
expect_out 0 "deleted 1 kept bounce message older than 10 days" "keep_days = 10: the 20-day-old one goes" nl retention
check "keep_days = 10: the fresh one stays" test "$(files_in "$KEEP")" = 1
conf_plain "[retention]" "keep_days = 0"
expect_out 2 "keep_days" "keep_days = 0 is refused (exit 2)" nl retention
conf_plain
expect_out 0 "kept bounce messages: none" "without [bounce] keep, retention says nothing is kept" nl retention

# --- links, FIFOs and folders in new/ are refused, never read ---
conf_plain
fresh_md
VICTIM=$(enrol victim@example.net)
dsn victim@example.net "$VICTIM" >"$SCRATCH/target"
cp "$SCRATCH/target" "$SCRATCH/target.orig"
ln -s "$SCRATCH/target" "$MD/new/1.link"
mkfifo "$MD/new/2.fifo"
mkdir "$MD/new/3.dir"
run_cmd timeout 60 $NEWSLETTER_WRAP "$NEWSLETTER" --config "$CONF" bounce --json --maildir "$MD"
check "a FIFO in new/ does not stop the run (exit 0)" test "$RC" = 0
check "a link in new/ is not followed: its target's subscriber stays" test "$(sub_field victim@example.net id)" = "$VICTIM"
check "the link's target is untouched" cmp -s "$SCRATCH/target" "$SCRATCH/target.orig"
check "each is reported, a line each" test "$(printf '%s\n' "$OUT" | grep -c '"error"')" = 3
check "the link is reported as a refused link" bash -c 'printf "%s" "$1" | grep -q "1.link.*symbolic link, not a message: refused"' _ "$OUT"
check "the FIFO is reported as refused" bash -c 'printf "%s" "$1" | grep -q "2.fifo.*a FIFO, not a message: refused"' _ "$OUT"
check "the three are left in cur/ flagged F" test "$(ls "$MD/cur" | grep -c ':2,F$')" = 3
check "the link is still a link" test -L "$MD/cur/1.link:2,F"

# --- the summary's counts are the flags set ---
fresh_md
S1=$(enrol s1@example.net)
dsn s1@example.net "$S1" >"$MD/new/1.hard"
cp "$SCRATCH/plain" "$MD/new/2.plain"
cp "$SCRATCH/garbage" "$MD/new/3.garbage"
printf 'no header here\n' >"$MD/new/4.garbage"
ln -s "$SCRATCH/target" "$MD/new/5.link"
mkdir "$MD/new/6.dir"
mkfifo "$MD/new/7.fifo"
: >"$MD/new/8.empty"
run_cmd timeout 60 $NEWSLETTER_WRAP "$NEWSLETTER" --config "$CONF" bounce --json --maildir "$MD"
SUM=$(printf '%s\n' "$ERR" | grep 'messages:')
num() { printf '%s\n' "$SUM" | sed -n "s/.* \([0-9][0-9]*\) $1.*/\1/p"; }
FLAGGED=$(ls "$MD/cur" | grep -c ':2,F$')
check "one JSON line per message in new/" test "$(printf '%s\n' "$OUT" | wc -l)" = 8
check "the summary counts every message" bash -c 'printf "%s" "$1" | grep -q "bounce: 8 messages:"' _ "$SUM"
check "the summary's handled count is the messages deleted" \
	test "$(num handled)" = 2 -a "$(num deleted)" = 2
check "the summary's unparsed plus unread counts are the messages flagged F" \
	test "$(( $(num 'could not be parsed') + $(num 'could not be read') ))" = "$FLAGGED" -a "$FLAGGED" = 6
check "the summary's flagged count is the flags set" test "$(num 'left in cur')" = "$FLAGGED"
check "nothing is left without a flag" test "$(files_in "$MD/new")" = 0 -a "$(ls "$MD/cur" | grep -vc ':2,F$')" = 0

# --- 'bounce -' reads standard input ---
conf_plain "keep = $KEEP"
rm -rf "$KEEP"
DASH=$(enrol dash@example.net)
dsn dash@example.net "$DASH" >"$SCRATCH/dash"
( cd "$SCRATCH" && printf 'From: x\n' >./- )
expect_out 0 '"file":"-"' "bounce --json - reads the message on standard input" \
	bash -c 'cd "$1" && "${@:2}" <"$1/dash"' _ "$SCRATCH" $NEWSLETTER_WRAP "$NEWSLETTER" --config "$CONF" bounce --json -
check "bounce - acted on it" test "$(sub_field dash@example.net id)" = none
printf 'x' | nl bounce - >/dev/null 2>&1
check "bounce - keeps an unparsed message as stdin does" test "$(files_in "$KEEP/new")" = 1
expect_out 0 '"file":"-"' "a FILE '-' among files is standard input" \
	bash -c '"${@:2}" <"$1"' _ "$SCRATCH/plain" $NEWSLETTER_WRAP "$NEWSLETTER" --config "$CONF" bounce --dry-run --json "$SCRATCH/garbage" -
expect_out 2 "may be given once" "'-' twice is a usage error" nl bounce - -
expect_out 1 '"file":"[^"]*/missing","results":\[\],"error":"cannot open' \
	"a FILE that cannot be read: exit 1, and a JSON line that says why" nl bounce --dry-run --json "$SCRATCH/missing"
finish
