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
PIPE_USER=${PIPE_USER:-nobody}

for t in postfix postconf postmap postqueue sqlite3; do
	command -v "$t" >/dev/null && continue
	fail "$t is installed" "contrib/install-deps --test installs Debian's postfix and sqlite3"
	finish
done
if [ "$(id -u)" != 0 ]; then
	fail "runs as root" "Postfix's master starts as root (make check runs as root)"
	finish
fi
PIPE_UID=$(id -u "$PIPE_USER" 2>/dev/null) && PIPE_GID=$(id -g "$PIPE_USER") ||
	{ fail "the user $PIPE_USER exists" "set PIPE_USER to an unprivileged user"; finish; }

etc_state() {
	find /etc/postfix -printf '%p %m %u %g %s\n' 2>/dev/null | sort
	find /etc/postfix -type f -exec sha256sum {} + 2>/dev/null | sort
}
ETC_BEFORE=$(etc_state)

PF=$SCRATCH/postfix
chmod 755 "$SCRATCH"
mkdir -p "$PF/etc" "$PF/queue" "$PF/data" "$PF/vmail"
chown postfix "$PF/data"
chown "$PIPE_UID:$PIPE_GID" "$PF/vmail"

# Stops the instance (also on failure): 'postfix stop', then the master by
# pid if it lingers; then lib.sh's cleanup removes the folder.
MASTER_PID=
pf_stop() {
	[ -d "$PF/etc" ] || return 0
	postfix -c "$PF/etc" stop >/dev/null 2>&1
	[ -n "$MASTER_PID" ] || return 0
	for _ in $(seq 50); do kill -0 "$MASTER_PID" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$MASTER_PID" 2>/dev/null
	return 1
}
trap 'pf_stop; cleanup' EXIT
pf_log() { tail -n "${1:-15}" "$PF/maillog" 2>/dev/null | sed 's/^/#   /'; }

SUBMIT=$(free_port)
cat >"$PF/etc/main.cf" <<CF
# The private instance of tests/e2e/postfix_slow.sh.
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.example.org
mydomain = example.org
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
virtual_mailbox_domains = example.no
virtual_mailbox_base = $PF/vmail
virtual_mailbox_maps = texthash:$PF/etc/vmailbox
virtual_uid_maps = static:$PIPE_UID
virtual_gid_maps = static:$PIPE_GID
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
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
CF
printf 'reader1@example.no example.no/reader1/\nreader2@example.no example.no/reader2/\n' >"$PF/etc/vmailbox"

write_conf "from = Nyheitsbrevet <news@example.org>" "" "[smtp]" "host = 127.0.0.1" \
	"port = $SUBMIT" "connections = 1" "" "[bounce]" "domain = news.example.org"
nl init >/dev/null 2>&1 || { fail "init"; finish; }
for a in reader1@example.no reader2@example.no; do nl enroll "$a" >/dev/null; done
cat >"$SCRATCH/issue.md" <<'MD'
subject: Sakte relé

Hei {{name}}, [meld av]({{unsubscribe_url}}).
MD

run_cmd postfix -c "$PF/etc" check
check "postfix check: the slow instance's configuration is clean" test "$RC" = 0 -a -z "$OUT$ERR"
if postfix -c "$PF/etc" start >/dev/null 2>&1; then pass "the private Postfix starts"; else
	fail "the private Postfix starts"
	pf_log
	finish
fi
MASTER_PID=$(tr -d ' ' <"$PF/queue/pid/master.pid" 2>/dev/null)

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

wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -ge "$end" ] && return 1
		sleep 0.5
	done
}
delivered() { find "$PF/vmail" -path '*/new/*' -type f 2>/dev/null | wc -l; }
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
