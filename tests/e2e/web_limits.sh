#!/usr/bin/env bash
# tests/e2e/web_limits.sh - [web] timeout and [web] max_connections: an
# idle connection, one stalled in the middle of its request and an idle
# keep-alive connection are closed after the timeout (2 s here), while a
# connection that keeps sending requests is not; a burst of connections
# beyond the cap (4 here) never has more than the cap open in the server,
# every request of the burst is answered in the end, and the server stays
# up and answers afterwards; a Content-Length that is no number ("-1",
# "0x10", "+5", "1 2") gets one 400, and one too large for 64 bits one 413
# (libmicrohttpd 0.9.75 sent the status line and header twice), also on a
# kept-alive connection and while another connection is part-way through
# its header.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/web_lib.bash"

web_conf en "timeout = 2" "max_connections = 4"
nl init >/dev/null 2>&1 || fail "init"
start_server || finish

# --- the timeout ---
out=$(python3 - "$PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
REQ = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"

def closed_after(s, limit=12):
    """Seconds until the server closes @s (reading and discarding)."""
    t0 = time.monotonic()
    s.settimeout(limit)
    try:
        while s.recv(4096):
            pass
    except socket.timeout:
        return -1
    except OSError:
        pass
    return time.monotonic() - t0

def conn():
    return socket.create_connection(("127.0.0.1", port), timeout=5)

s = conn()
print("idle %.2f" % closed_after(s))
s = conn()
s.sendall(b"GET /healthz HTTP/1.1\r\nHo")
print("stalled %.2f" % closed_after(s))
s = conn()
s.sendall(REQ)
time.sleep(0.3)
got = s.recv(4096)
print("keepalive_answered %d" % got.startswith(b"HTTP/1.1 200"))
print("keepalive %.2f" % closed_after(s))
# Busy: a request every second for 4.5 s, longer than the timeout in all.
s = conn()
ok = 0
for i in range(5):
    s.sendall(REQ)
    s.settimeout(5)
    data = b""
    while not data.endswith(b"ok\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    ok += data.startswith(b"HTTP/1.1 200") and data.endswith(b"ok\n")
    time.sleep(1.0 if i < 4 else 0)
print("busy_answered %d" % ok)
PY
)
val() { printf '%s\n' "$out" | sed -n "s/^$1 //p"; }
within() { python3 -c "import sys; v = float(sys.argv[1]); sys.exit(0 if $2 <= v <= $3 else 1)" "$1"; }
check "an idle connection is closed after the 2 s timeout (after $(val idle) s)" within "$(val idle)" 1.5 6
check "a connection stalled mid-request is closed after the timeout (after $(val stalled) s)" \
	within "$(val stalled)" 1.5 6
check "a keep-alive connection is answered" test "$(val keepalive_answered)" = 1
check "... and closed when idle for the timeout (after $(val keepalive) s)" within "$(val keepalive)" 1.2 6
check "a connection sending a request every second is kept: 5 of 5 answered over 4 s" \
	test "$(val busy_answered)" = 5
check "no sanitizer report or crash in the log" \
	sh -c "! grep -Eqi 'AddressSanitizer|runtime error|segv|abort' '$LOG'"

# --- the connection cap ---
out=$(python3 - "$PORT" "$SRV" <<'PY'
import os, socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]

def server_sockets():
    """Open TCP sockets of the server: listeners and connections."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n

base = server_sockets()		# the two listeners
burst = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(16)]
time.sleep(0.7)
print("held %d" % (server_sockets() - base))
req = b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
for s in burst:
    s.sendall(req)
answered = 0
deadline = time.monotonic() + 30
for s in burst:
    data = b""
    try:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    answered += data.startswith(b"HTTP/1.1 200") and data.endswith(b"ok\n")
    s.close()
print("answered %d" % answered)
PY
)
held=$(val held)
check "16 connections at once with max_connections = 4: the server holds $held (1 to 4)" \
	test "${held:-0}" -ge 1 -a "${held:-99}" -le 4
check "every request of the burst is answered in the end ($(val answered) of 16)" \
	test "$(val answered)" = 16
check "the server is still running" kill -0 "$SRV"
http GET "$BASE/healthz"
expect_http 200 '^ok$' "and answers after the burst"

# --- a Content-Length that is no number: one reply ---
# libmicrohttpd 0.9.75 sent its status line and header twice for these.
out=$(python3 - "$PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])

def replies(data):
    """Status lines in a raw reply, and whether its body is as long as said."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    n = data.count(b"HTTP/1.1 ")
    cl = [l for l in lines if l.lower().startswith(b"content-length:")]
    ok = len(cl) == 1 and int(cl[0].split(b":")[1]) == len(body)
    return "%d %s %d" % (n, lines[0].split(b" ")[1].decode(), ok)

def ask(req, first=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if first:
        s.sendall(first)
        data = b""
        while not data.endswith(b"ok\n"):
            data += s.recv(4096)
    s.sendall(req)
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data

# Another connection part-way through its header meanwhile.
slow = socket.create_connection(("127.0.0.1", port), timeout=5)
slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: ")
for v in ["-1", "0x10", "+5", "1 2", "99999999999999999999999"]:
    req = b"POST /u/abc HTTP/1.1\r\nHost: a\r\nContent-Length: %s\r\n\r\nabcde" % v.encode()
    print("cl[%s] %s" % (v, replies(ask(req))))
ok = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
print("keepalive %s" % replies(ask(b"POST /u/abc HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", ok)))
PY
)
for v in -1 0x10 +5 '1 2'; do
	check "Content-Length: $v gets one status line, 400, and a body as long as it says ($(val "cl\\[$v\\]"))" \
		test "$(val "cl\\[$v\\]")" = "1 400 1"
done
check "Content-Length: 99999999999999999999999 gets one status line, 413 ($(val 'cl\[99999999999999999999999\]'))" \
	test "$(val 'cl\[99999999999999999999999\]')" = "1 413 1"
check "Content-Length: -1 after a request on a kept-alive connection: one 400 ($(val keepalive))" \
	test "$(val keepalive)" = "1 400 1"
check "the server is still running" kill -0 "$SRV"

# A configuration out of range is refused before anything starts.
web_conf en "timeout = 0"
expect_rc 2 "timeout = 0 is refused" nl serve
web_conf en "max_connections = 0"
expect_rc 2 "max_connections = 0 is refused" nl serve

stop_server
check "SIGTERM stops it cleanly (status $STOP_RC)" test "$STOP_RC" = 0
finish
