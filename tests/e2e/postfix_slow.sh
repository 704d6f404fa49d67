#!/usr/bin/env bash
# tests/e2e/postfix_slow.sh - 'newsletter send' through a real Postfix
# (Debian's package) that takes 2 s over its greeting, its reply to DATA
# and its reply to the end of the data: what a loaded relay, a milter or a
# content filter does. Postfix's own 'sleep' restriction makes the delays,
# in a private instance on 127.0.0.1 (config, queue and mailboxes under
# the scratch folder; the system's /etc/postfix is only read, and checked
# unchanged). With the default [smtp] timeout every message is delivered;
# with libesmtp's timeouts given in seconds (every wait then 1 s) none was.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix_lib.bash"

pf_require postfix postconf postmap postqueue sqlite3 python3
pf_prepare
trap 'pf_stop; cleanup' EXIT

SUBMIT=$(free_port)
{ echo "# The private instance of tests/e2e/postfix_slow.sh."; pf_main_cf; } >"$PF/etc/main.cf"
cat >>"$PF/etc/main.cf" <<CF
# The slow relay: 2 s before the greeting (client restrictions are
# evaluated at the connection, before it, with smtpd_delay_reject = no),
# before the reply to DATA and before the reply to the end of the data.
smtpd_delay_reject = no
smtpd_client_restrictions = sleep 2, permit
smtpd_data_restrictions = sleep 2, permit
smtpd_end_of_data_restrictions = sleep 2, permit
CF
cat >"$PF/etc/master.cf" <<CF
127.0.0.1:$SUBMIT inet n - n - - smtpd
CF
pf_master_services >>"$PF/etc/master.cf"
printf 'reader1@example.no example.no/reader1/\nreader2@example.no example.no/reader2/\n' >"$PF/etc/vmailbox"

write_conf "from = Nyheitsbrevet <news@example.org>" "" "[smtp]" "host = 127.0.0.1" \
	"port = $SUBMIT" "connections = 1" "" "[bounce]" "domain = news.example.org"
nl init >/dev/null 2>&1 || { fail "init"; finish; }
for a in reader1@example.no reader2@example.no; do nl enroll "$a" >/dev/null; done
cat >"$SCRATCH/issue.md" <<'MD'
subject: Sakte relé

Hei {{name}}, [meld av]({{unsubscribe_url}}).
MD

pf_start "postfix check: the slow instance's configuration is clean"

# The greeting comes 2 s after the connection: measured, so that this test
# cannot pass against a relay that is not slow.
GREET_MS=$(python3 - "$SUBMIT" <<'PY'
import socket, sys, time
for _ in range(50):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)
        break
    except OSError:
        time.sleep(0.2)
t = time.monotonic()
s.settimeout(10)
line = s.recv(512)
print(int((time.monotonic() - t) * 1000) if line.startswith(b"220") else -1)
s.sendall(b"QUIT\r\n")
PY
)
check "Postfix greets after 2 s (took ${GREET_MS} ms)" test "${GREET_MS:--1}" -ge 1900

two_delivered() { [ "$(delivered)" = 2 ]; }

T0=$SECONDS
expect_rc 0 "send through a Postfix 2 s slow at the greeting, DATA and the end of data: exit 0" \
	timeout 120 "$NEWSLETTER" --config "$CONF" send "$SCRATCH/issue.md"
[ "$RC" = 0 ] || pf_log 20
check "slow Postfix: no 'ended early', 'no answer' or 'reconnecting'" \
	test "$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -c -i -E 'ended early|no answer|reconnect')" = 0
check "slow Postfix: both on record as sent ($((SECONDS - T0)) s)" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM delivery WHERE state = 'sent'")" = 2
if wait_for 60 two_delivered; then pass "slow Postfix: both delivered to the mailboxes"; else
	fail "slow Postfix: both delivered to the mailboxes" "$(delivered) delivered"
	pf_log 20
fi

pf_stop || fail "Postfix stops" "the master lingered and was killed"
check "the system's /etc/postfix is unchanged" test "$(etc_state)" = "$ETC_BEFORE"
finish
