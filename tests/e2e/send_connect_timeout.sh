#!/usr/bin/env bash
# tests/e2e/send_connect_timeout.sh - 'newsletter send' against a relay that
# never answers the TCP connect: a port whose listen queue is full, so that
# the kernel drops every SYN to it (tests/tools/full_listener.py), as a
# firewall that drops packets or a host that is down do.
#
# With [smtp] timeout = 2 the run fails within a few seconds, not after the
# kernel's SYN retries (about two minutes), exit 1, naming the relay and the
# stage, with every message left pending; the same store then sends
# everything to a working relay.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../tools/send_lib.sh"

# The kernel drops SYNs to a full queue only with this at 0 (read, never changed).
abort=$(cat /proc/sys/net/ipv4/tcp_abort_on_overflow 2>/dev/null)
if [ "$abort" != 0 ]; then
	skip "a relay that never answers the connect" \
		"net.ipv4.tcp_abort_on_overflow is '${abort:-unreadable}', not 0: a full queue refuses SYNs instead of dropping them"
	finish
fi

nl init >/dev/null 2>&1 || { fail "init"; finish; }
for i in 1 2 3; do nl enroll "t$i@example.no" --name "Tæst $i" >/dev/null; done
cat >"$SCRATCH/issue.md" <<'MD'
subject: Ingen svar

Hei {{name}}, [meld av]({{unsubscribe_url}}).
MD
pending() { sqlite3 "$DB" "SELECT count(*) FROM delivery WHERE state = 'pending'"; }

# --- a relay whose connects hang ---
$PY "$TOOLS/full_listener.py" >"$SCRATCH/listener.out" 2>&1 &
LISTENER_PID=$!
track "$LISTENER_PID"
for _ in $(seq 50); do
	grep -q '^ready ' "$SCRATCH/listener.out" 2>/dev/null && break
	kill -0 "$LISTENER_PID" 2>/dev/null || break
	sleep 0.1
done
PORT=$(sed -n 's/^ready \([0-9]*\)$/\1/p' "$SCRATCH/listener.out")
if [ -z "$PORT" ]; then
	fail "the listener whose connects hang started" "$(tr '\n' ' ' <"$SCRATCH/listener.out" | tail -c 600)"
	finish
fi
# The listener works as meant: a plain connect to it does not finish in 1 s.
check "a plain connect to the full port hangs (1 s)" \
	test "$($PY -c 'import socket,sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("127.0.0.1", int(sys.argv[1]))); print("connected")
except socket.timeout:
    print("hangs")
except OSError as e:
    print(e)' "$PORT")" = hangs

conf_smtp "timeout = 2"
timed "a relay that never answers the connect, timeout = 2: exit 1 naming it and the stage" 1 \
	"the SMTP server 127\.0\.0\.1:$PORT: no answer within 2 s \(\[smtp\] timeout\), waiting for the TCP handshake" \
	8 nl_bounded send "$SCRATCH/issue.md"
check "no answer to the connect: it waited the timeout (took $TOOK ms, at least 2 s)" \
	test "$TOOK" -ge 1900
check "no answer to the connect: said once, no reconnection" \
	test "$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -c -i -E 'no answer|reconnect')" = 1
check "no answer to the connect: the hint is to run the same command again" \
	grep -q 'run the same command again to send the rest' <<<"$ERR"
check "no answer to the connect: nothing sent, all 3 pending" \
	test "$(deliveries sent) $(pending)" = "0 3"

# The same with one connection, and a timeout of 3: the limit is the configured one.
conf_smtp "timeout = 3" "connections = 1"
timed "one connection, timeout = 3: exit 1 after 3 s" 1 \
	"127\.0\.0\.1:$PORT: no answer within 3 s \(\[smtp\] timeout\), waiting for the TCP handshake" \
	8 nl_bounded send "$SCRATCH/issue.md"
check "timeout = 3: it waited 3 s (took $TOOK ms)" test "$TOOK" -ge 2900
check "timeout = 3: nothing sent, all 3 pending" test "$(deliveries sent) $(pending)" = "0 3"
kill "$LISTENER_PID" 2>/dev/null
wait "$LISTENER_PID" 2>/dev/null

# --- the relay back: the same store sends everything ---
start_smtpd
conf_smtp "timeout = 2"
expect_out 0 "3 sent, 0 failed, 0 pending" "a working relay: the rest goes, exit 0" \
	nl_bounded send "$SCRATCH/issue.md"
check "a working relay: all 3 delivered and on record" test "$(nmail) $(deliveries sent) $(pending)" = "3 3 0"
stop_smtpd
finish
