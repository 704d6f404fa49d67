#!/usr/bin/env bash
# tests/e2e/web_slowloris.sh - slow clients cannot take the public listener.
#
# A "slowloris" opens twice [web] max_connections (20 here) sockets from
# 127.0.0.1 and sends one byte of a never-ending header every second, so
# that [web] timeout (idleness) never closes them.
#   1. [web] max_connections_per_client = 4: it holds 4 connections at
#      most, and from 127.0.0.2 /healthz and GET /u/TOKEN answer within a
#      second while it goes on.
#   2. Only the whole-request deadline ([web] request_timeout = 2, the cap
#      as high as max_connections): the server cuts the first 20 within the
#      deadline (and a bit: its watchdog looks four times a second) and the
#      20 that waited in the kernel's queue within twice that; a request
#      from 127.0.0.2 sent meanwhile is answered then. A kept-alive
#      connection idle for longer than request_timeout (but less than
#      [web] timeout) is answered on its next request.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/web_lib.bash"

KARI=kari@example.no
LORIS=$SCRATCH/loris.py
cat >"$LORIS" <<'PY'
# loris.py PORT SOCKETS DRIP_SECONDS RUN_SECONDS READY_FILE: opens SOCKETS
# connections, sends the start of a request on each and then one header byte
# every DRIP_SECONDS, for RUN_SECONDS; prints how many the server closed and
# when (seconds after the first connect).
import select, socket, sys, time
port, n, drip, run, ready = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), \
    float(sys.argv[4]), sys.argv[5]
t0 = time.monotonic()
socks, closed = [], {}
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    socks.append(s)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: ")
    except OSError:
        closed[s] = time.monotonic() - t0
    s.setblocking(False)
open(ready, "w").close()
next_drip = time.monotonic() + drip
while time.monotonic() - t0 < run:
    live = [s for s in socks if s not in closed]
    if not live:
        break
    wait = max(0.0, min(0.05, next_drip - time.monotonic()))
    readable, _, _ = select.select(live, [], [], wait)
    for s in readable:
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            closed[s] = time.monotonic() - t0
    if time.monotonic() >= next_drip:
        for s in live:
            if s in closed:
                continue
            try:
                s.send(b"a")
            except OSError:
                closed[s] = time.monotonic() - t0
        next_drip += drip
times = sorted(closed.values())
print("open %d" % (n - len(times)))
print("closed %d" % len(times))
print("times %s" % " ".join("%.2f" % t for t in times))
PY

# loris SOCKETS RUN_SECONDS: starts it in the background (LORIS_PID), output
# in $SCRATCH/loris.out, and waits until every socket is open.
LORIS_PID=
loris() {
	rm -f "$SCRATCH/ready"
	python3 "$LORIS" "$PORT" "$1" 1 "$2" "$SCRATCH/ready" >"$SCRATCH/loris.out" 2>&1 &
	LORIS_PID=$!
	track "$LORIS_PID"
	for _ in $(seq 100); do
		[ -e "$SCRATCH/ready" ] && return 0
		sleep 0.05
	done
	fail "the slow client opened its sockets" "$(cat "$SCRATCH/loris.out")"
}
val() { sed -n "s/^$1 //p" "$SCRATCH/loris.out"; }
# probe URL MAX_SECONDS: GET from 127.0.0.2; sets PCODE and PTIME.
PCODE= PTIME=
probe() {
	local out
	out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -m "$2" --interface 127.0.0.2 "$1")
	PCODE=${out% *} PTIME=${out#* }
}
# answered SECONDS: the last probe got 200 within SECONDS.
answered() {
	[ "$PCODE" = 200 ] &&
		python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "$PTIME" "$1"
}
# how many of the space-separated times in $1 are at most $2
at_most() { python3 -c 'import sys; print(sum(float(t) <= float(sys.argv[2]) for t in sys.argv[1].split()))' "$1" "$2"; }

# --- 1. the per-client cap ---
web_conf en "max_connections = 20" "max_connections_per_client = 4" "timeout = 60" \
	"request_timeout = 60"
nl init >/dev/null 2>&1 || fail "init"
nl enroll "$KARI" --order A-1 >/dev/null || fail "enroll"
start_server || finish
KP=$(link_path "$KARI")
loris 40 7
sleep 1
probe "$BASE/healthz" 2
check "40 slow sockets from 127.0.0.1, cap 4: /healthz from 127.0.0.2 answers 200 within 1 s ($PCODE in $PTIME s)" \
	answered 1
probe "$BASE$KP" 2
check "... and GET /u/TOKEN answers 200 within 1 s ($PCODE in $PTIME s)" \
	answered 1
wait "$LORIS_PID"
check "the slow client kept 4 connections open, no more ($(val open) of 40)" test "$(val open)" = 4
stop_server
check "SIGTERM stops it cleanly (status $STOP_RC)" test "$STOP_RC" = 0

# --- 2. the whole-request deadline alone ---
web_conf en "max_connections = 20" "max_connections_per_client = 20" "timeout = 5" \
	"request_timeout = 2"
start_server || finish
loris 40 9
probe "$BASE/healthz" 8
check "40 slow sockets, no cap: a /healthz from 127.0.0.2 sent meanwhile is answered within 2 x request_timeout ($PCODE in $PTIME s)" \
	answered 5.5
wait "$LORIS_PID"
times=$(val times)
first=$(at_most "$times" 3)
all=$(at_most "$times" 5.5)
check "the 20 slow connections the server held are cut within request_timeout (2 s) and a bit: $first closed by 3 s" \
	test "$first" -ge 20
check "all 40 are cut within twice that ($all closed by 5.5 s; at $times)" test "$all" = 40
cuts=$(grep -c 'connections\? whose request was not in within \[web\] request_timeout (2 s)' "$LOG")
check "the log says so in one line for the 40 (at most one line in 10 s: $cuts)" test "$cuts" = 1

out=$(python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
def ask():
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
    data = b""
    while not data.endswith(b"ok\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.startswith(b"HTTP/1.1 200")
first = ask()
time.sleep(3)
print("keepalive %d %d" % (first, ask()))
PY
)
check "a kept-alive connection idle for 3 s (request_timeout 2, timeout 5) is answered again ($out)" \
	test "$out" = "keepalive 1 1"
check "no sanitizer report or crash in the log" \
	sh -c "! grep -Eqi 'AddressSanitizer|runtime error|segv|abort' '$LOG'"
check "the log holds no token" sh -c "! grep -qF '${KP#/u/}' '$LOG'"

web_conf en "request_timeout = 0"
expect_rc 2 "request_timeout = 0 is refused" nl serve
web_conf en "max_connections_per_client = 0"
expect_rc 2 "max_connections_per_client = 0 is refused" nl serve

stop_server
check "SIGTERM stops it cleanly (status $STOP_RC)" test "$STOP_RC" = 0
finish
