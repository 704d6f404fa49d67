#!/usr/bin/env bash
# tests/e2e/send_timeout.sh - 'newsletter send' against a slow relay and a
# stalled one (tests/tools/smtpd.py --reply-delay, --stall, --data N=stall),
# and against one that refuses our AUTH.
#
# A relay that takes 1.5 s over every reply gets every message with the
# default [smtp] timeout (60 s); with libesmtp's timeouts given in seconds
# (every wait then 1 s) it got none. A relay that never answers fails the
# run within [smtp] timeout (2 s here; twice that for the reply to the end
# of the data), naming the relay and the stage, with nothing lost: those
# not accepted stay pending for the next run.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../tools/send_lib.sh"

nl init >/dev/null 2>&1 || { fail "init"; finish; }
for i in 1 2; do nl enroll "t$i@example.no" --name "Tæst $i" >/dev/null; done
cat >"$SCRATCH/issue.md" <<'MD'
subject: Sakte

Hei {{name}}, [meld av]({{unsubscribe_url}}).
MD
again() { sqlite3 "$DB" "DELETE FROM delivery; DELETE FROM mailing"; }
pending() { sqlite3 "$DB" "SELECT count(*) FROM delivery WHERE state = 'pending'"; }

# --- (a) a slow relay: 1.5 s before every reply, the greeting included ---
# Two recipients (one session: about fourteen replies, 21 s).
start_smtpd --reply-delay 1.5
conf_smtp
expect_rc 0 "a relay 1.5 s slow on every reply, default timeout: exit 0" nl_bounded send "$SCRATCH/issue.md"
check "slow relay: both messages delivered" test "$(nmail)" = 2
check "slow relay: both on record as sent" test "$(deliveries sent)" = 2
check "slow relay: no 'ended early', 'no answer' or 'reconnecting'" \
	test "$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -c -i -E 'ended early|no answer|reconnect')" = 0
nl enroll t3@example.no --name "Tæst 3" >/dev/null || fail "enroll a third"

# --- (b) a relay that accepts the connection and never greets ---
again
start_smtpd --stall greeting
conf_smtp "timeout = 2"
timed "a relay that never greets, timeout = 2: exit 1 naming it and the greeting" 1 \
	"127\.0\.0\.1:$PORT: no answer within 2 s \(\[smtp\] timeout\), waiting for its greeting" 6 \
	nl_bounded send "$SCRATCH/issue.md"
check "no greeting: said once, no reconnection" \
	test "$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -c -i -E 'no answer|reconnect')" = 1
check "no greeting: nothing sent, 3 pending" test "$(nmail) $(pending)" = "0 3"

# --- (b) a relay that takes the data and never answers its end ---
again
start_smtpd --stall data-end
conf_smtp "timeout = 2"
timed "a relay silent after the data, timeout = 2: exit 1 naming the end of the data" 1 \
	"127\.0\.0\.1:$PORT: no answer within 4 s .*waiting for the reply to the end of the message data; the message in flight may arrive twice" 9 \
	nl_bounded send "$SCRATCH/issue.md"
check "silent after the data: nothing on record as sent, 3 pending" \
	test "$(nmail) $(deliveries sent) $(pending)" = "0 0 3"
check "silent after the data: no reconnection" \
	test "$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -c -i 'reconnect')" = 0

# --- a relay that stalls once, after a message went through: go on ---
again
start_smtpd --data 2=stall
conf_smtp "timeout = 2" "connections = 1"
timed "a relay silent once after the first message: exit 0" 0 \
	"no answer within 4 s .*end of the message data.*reconnecting" 12 nl_bounded send "$SCRATCH/issue.md"
check "silent once: all 3 delivered and on record" test "$(nmail) $(deliveries sent)" = "3 3"

# --- a refused AUTH: the relay's reply, at once ---
again
start_smtpd --auth "newsletter:s3cret pass"
printf 'wrong\n' >"$SCRATCH/smtp.pw"
chmod 600 "$SCRATCH/smtp.pw"
conf_smtp "username = newsletter" "password_file = $SCRATCH/smtp.pw"
timed "a wrong password: exit 1 with the relay's refusal" 1 \
	"127\.0\.0\.1:$PORT refused our AUTH .*535 5\.7\.8" 5 nl_bounded send "$SCRATCH/issue.md"
check "wrong password: the hint is to check [smtp] username and password_file" \
	grep -q -E 'refused our AUTH .*535 5\.7\.8.*; check \[smtp\] username and the password in \[smtp\] password_file' <<<"$ERR"
check "wrong password: no advice to run the same command again" \
	test "$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -c 'run the same command again')" = 0
check "wrong password: nothing sent, 3 pending, no deferral recorded" \
	test "$(nmail) $(pending) $(sqlite3 "$DB" "SELECT count(*) FROM delivery WHERE reply IS NOT NULL")" = "0 3 0"
stop_smtpd
finish
