#!/usr/bin/env bash
# tests/e2e/stats.sh - an issue's history stays true when its readers leave:
# sent to 22 over a real SMTP server (aiosmtpd on 127.0.0.1), two refused
# at RCPT (hard bounces at send time), then one unsubscribed by the CLI,
# one erased, one bounced by a DSN to their message's return path, one by a
# mail to the unsubscribe address of their message (and, after the next
# issue, one by the first issue's one-click link); 'stats' (text and
# --json) and the send's own summary still say 20 sent, with the bounces
# and unsubscribes counted on that issue, not on the next one. Every token
# is taken from mail as it arrived.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../tools/send_lib.sh"

start_smtpd --rcpt '^r2[12]@example\.no$=550 5.1.1 <r2x>: Recipient address rejected: User unknown'
nl init >/dev/null 2>&1
for i in $(seq 22); do
	printf 'r%02d@example.no,Lesar %d,A-%d,2026-11-01\n' "$i" "$i" "$i"
done | { echo "email,name,order,date"; cat; } >"$SCRATCH/buyers.csv"
expect_rc 0 "stats: 22 buyers imported" nl import "$SCRATCH/buyers.csv"
cat >"$SCRATCH/issue.md" <<'MD'
subject: Nytt i desember
id: stats-1

Hei {{name}}.
MD
expect_out 0 "this run: 20 sent, 2 failed \(2 hard bounces" "stats: the issue went to 20, 2 refused" \
	nl send "$SCRATCH/issue.md"
check "stats: 20 messages arrived" test "$(nmail)" -eq 20
# history LINE: the 'stats' line of mailing stats-1, columns squeezed.
history() { nl stats | grep -E '^  [0-9]{4}-[0-9]{2}-[0-9]{2} .* stats-1 ' | tr -s ' '; }
check "stats: the history says 20 sent, 2 failed, 2 hard bounces" \
	test "$(history)" = " $(date -u +%F) 20 2 2 0 stats-1 \"Nytt i desember\""

# The return path and the unsubscribe address of a message as it arrived.
envelope_from() {
	python3 - "$MAILDIR/log.jsonl" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if sys.argv[2] in r["to"]:
        print(r["from"])
PY
}
# list_unsub ADDRESS REGEX: group 1 of REGEX in the List-Unsubscribe of
# the message to ADDRESS as it arrived.
list_unsub() {
	python3 - "$1" "$MAILDIR" "$2" <<'PY'
import email, email.policy, glob, re, sys
for f in glob.glob(sys.argv[2] + "/*.eml"):
    m = email.message_from_bytes(open(f, "rb").read(), policy=email.policy.default)
    if sys.argv[1] in str(m["To"]):
        print(re.search(sys.argv[3], str(m["List-Unsubscribe"])).group(1))
PY
}
# The path of the one-click link (/u/TOKEN), and the mailto address.
link_of() { list_unsub "$1" '<https?://[^/>]+(/u/[^>]+)>'; }
mailto_of() { list_unsub "$1" '<mailto:([^>?]+)'; }
FROM3=$(envelope_from r03@example.no)
MAILTO4=$(mailto_of r04@example.no)
check "stats: r03's return path is a VERP address" bash -c "[[ '$FROM3' == bounces+*@bounce.example.org ]]"
check "stats: r04's message has an unsubscribe address" bash -c "[[ '$MAILTO4' == unsubscribe+*@bounce.example.org ]]"

expect_rc 0 "stats: r01 unsubscribed by the CLI" nl unsubscribe r01@example.no
expect_rc 0 "stats: r02 erased" nl erase r02@example.no
dsn_mail "$FROM3" r03@example.no 5.1.1 "550 5.1.1 <r03@example.no>: Recipient address rejected: User unknown" \
	>"$SCRATCH/dsn.eml"
expect_rc 0 "stats: r03's DSN is handled" env ORIGINAL_RECIPIENT="$FROM3" "$NEWSLETTER" --config "$CONF" \
	bounce "$SCRATCH/dsn.eml"
printf 'From: r04@example.no\nTo: %s\nSubject: unsubscribe\n\n' "$MAILTO4" >"$SCRATCH/unsub.eml"
expect_rc 0 "stats: r04's mail to the unsubscribe address is handled" \
	env ORIGINAL_RECIPIENT="$MAILTO4" "$NEWSLETTER" --config "$CONF" bounce "$SCRATCH/unsub.eml"
check "stats: the four are gone (16 left)" test "$(sqlite3 "$DB" 'SELECT count(*) FROM subscriber')" = 16
check "stats: their deliveries went with them" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM delivery WHERE state = 'sent'")" = 16
check "stats: r04's unsubscribe is audited as mail, mailto" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE event = 'unsubscribed' AND source = 'mail' AND detail = 'mailto'")" = 1

check "stats: the history still says 20 sent; 3 hard bounces, 3 unsubscribes" \
	test "$(history)" = " $(date -u +%F) 20 2 3 3 stats-1 \"Nytt i desember\""
expect_out 0 "^last mailing: +stats-1 \"Nytt i desember\" \(.*\): 20 sent, 0 pending, 2 failed$" \
	"stats: the last mailing's line keeps its numbers" nl stats
run_cmd nl send "$SCRATCH/issue.md"
check "stats: a second run of the send plans from 20 sent too" \
	grep -q "^mailing stats-1: 20 sent and 2 failed in earlier runs; 0 still to send$" <<<"$OUT"
check "stats: and its summary says 20 sent" grep -q "^mailing stats-1: 20 sent, 2 failed, 0 pending$" <<<"$OUT"
run_cmd nl stats --json
check "stats --json: the mailing's history" test "$(printf '%s' "$OUT" | jval \
	'" ".join(str(d["mailings"][0][k]) for k in ("id", "sent", "failed", "pending", "hard_bounces", "unsubscribes"))')" \
	= "stats-1 20 2 0 3 3"
check "stats --json: last_mailing agrees" \
	test "$(printf '%s' "$OUT" | jval 'd["last_mailing"]["sent"]')" = 20

# The next issue: its own counts; a late leave by a link of the first
# issue is counted on the first.
sed -i 's/^id: stats-1/id: stats-2/' "$SCRATCH/issue.md"
MAILTO5=$(mailto_of r05@example.no)
LINK7=$(link_of r07@example.no)
check "stats: r07's message has a one-click link" bash -c "[[ '$LINK7' == /u/* ]]"
rm -f "$MAILDIR"/*.eml
expect_out 0 "this run: 16 sent, 0 failed" "stats: the next issue went to the 16 left" nl send "$SCRATCH/issue.md"
printf 'From: r05@example.no\nTo: %s\nSubject: unsubscribe\n\n' "$MAILTO5" >"$SCRATCH/unsub5.eml"
expect_rc 0 "stats: r05 leaves by the first issue's unsubscribe address" \
	env ORIGINAL_RECIPIENT="$MAILTO5" "$NEWSLETTER" --config "$CONF" bounce "$SCRATCH/unsub5.eml"
expect_rc 0 "stats: r06 unsubscribed by the CLI after the second issue" nl unsubscribe r06@example.no
# r07 by the first issue's one-click link, through 'serve'.
WPORT=$(free_port)
printf '\n[web]\nlisten = 127.0.0.1:%s\n' "$WPORT" >>"$CONF"
$NEWSLETTER_WRAP "$NEWSLETTER" --config "$CONF" serve >"$SCRATCH/serve.log" 2>&1 &
SRV=$!
track "$SRV"
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$WPORT/healthz" && break; sleep 0.05; done
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
	--data 'List-Unsubscribe=One-Click' "http://127.0.0.1:$WPORT$LINK7")
check "stats: r07's one-click POST of the first issue's link answers 200" test "$code" = 200
kill -TERM "$SRV"
wait "$SRV" 2>/dev/null
check "stats: r07 is gone" test "$(sub_field r07@example.no id)" = none
run_cmd nl stats --json
check "stats --json: the first issue counts r05's and r07's leaves (5 unsubscribes)" test "$(printf '%s' "$OUT" | jval \
	'" ".join(str(d["mailings"][0][k]) for k in ("id", "sent", "hard_bounces", "unsubscribes"))')" = "stats-1 20 3 5"
check "stats --json: the second counts r06's (the newest they got)" test "$(printf '%s' "$OUT" | jval \
	'" ".join(str(d["mailings"][1][k]) for k in ("id", "sent", "failed", "hard_bounces", "unsubscribes"))')" = "stats-2 16 0 0 1"
run_cmd nl stats
check "stats: a history line per issue, oldest first" \
	test "$(printf '%s\n' "$OUT" | grep -E '^  [0-9]{4}-' | grep -Eo ' stats-[12] ' | tr -d ' ' | paste -sd,)" = "stats-1,stats-2"
check "stats: no address is in the output" bash -c '! printf "%s" "$1" | grep -q "@"' _ "$OUT"
finish
