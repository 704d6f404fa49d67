#!/usr/bin/env bash
# tests/e2e/send_kill.sh - a send killed with SIGKILL at several points is
# completed by the next run: every subscriber gets at least one copy, and
# no more copies are sent twice than connections were open at each kill.
# Someone who unsubscribes or is restricted during a send gets nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../tools/send_lib.sh"

N=3000
nl init >/dev/null 2>&1 || { fail "init"; finish; }
{
	echo "email,name"
	for i in $(seq 1 $N); do echo "k$i@example.no,Kåre $i"; done
} >"$SCRATCH/buyers.csv"
nl import "$SCRATCH/buyers.csv" >/dev/null || fail "import"
cat >"$SCRATCH/issue.md" <<'MD'
subject: Drept og gjenoppstått

Hei {{name}}.
MD

# send_killed SECONDS: starts a send (3 connections, 1500 messages/s) and
# kills it with SIGKILL after SECONDS.
send_killed() {
	$NEWSLETTER_WRAP "$NEWSLETTER" --config "$CONF" send "$SCRATCH/issue.md" --rate 1500 \
		>/dev/null 2>&1 &
	local pid=$!
	sleep "$1"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

start_smtpd
kills=0
for t in 0.05 0.6 0.9 0.7; do
	send_killed "$t"
	kills=$((kills + 1))
done
sent=$(deliveries sent)
check "the killed runs sent part of the mailing ($sent of $N recorded)" test "$sent" -gt 0 -a "$sent" -lt $N
expect_out 0 "still to send" "the next run completes the mailing and says what was sent before" \
	nl send "$SCRATCH/issue.md"
check "all $N deliveries are recorded as sent" test "$(deliveries sent)" = $N
if checked "$MAILDIR"; then pass "after the kills: every message well-formed"; else fail "check_mail" "$CHK"; fi
check "after $kills kills: every subscriber got at least one copy" test "$(cval 'd["subscribers"]')" = $N
dups=$(cval 'd["duplicates"]')
check "after $kills kills: $dups duplicates, at most 3 connections x $kills kills" test "$dups" -le $((3 * kills))

# --- unsubscribed or restricted while the send runs ---
cat >"$SCRATCH/issue2.md" <<'MD'
subject: Medan det går

Hei {{name}}.
MD
start_smtpd
$NEWSLETTER_WRAP "$NEWSLETTER" --config "$CONF" send "$SCRATCH/issue2.md" --rate 400 --connections 2 \
	>"$SCRATCH/send2.out" 2>&1 &
pid=$!
sleep 1
nl unsubscribe k2999@example.no >/dev/null
nl restrict k3000@example.no >/dev/null
before=$(nmail)
wait "$pid"
rc=$?
check "the send that ran meanwhile ended with exit 0" test "$rc" = 0
check "the send was under way when they left ($before messages out)" test "$before" -gt 0 -a "$before" -lt $((N - 400))
check "the unsubscribed subscriber got nothing" sh -c "! grep -q '\"k2999@example.no\"' $MAILDIR/log.jsonl"
check "the restricted subscriber got nothing" sh -c "! grep -q '\"k3000@example.no\"' $MAILDIR/log.jsonl"
check "everyone else got it" test "$(nmail)" = $((N - 2))

finish
