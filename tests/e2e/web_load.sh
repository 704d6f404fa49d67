#!/usr/bin/env bash
# tests/e2e/web_load.sh - 'newsletter serve' under bad input and load:
# bodies, headers and header counts over the limits, garbage on the socket,
# a client that vanishes mid-request; then 200 concurrent clients mixing
# GET and POST with no error, every POST's subscriber deleted and every
# GET-only subscriber kept; page views under load while other processes
# enrol and unsubscribe; and SIGTERM while requests are in flight.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/web_lib.bash"

# The 200 clients below all come from 127.0.0.1, as from a reverse proxy.
web_conf en "admin_token_file = $TOKEN_FILE" "max_connections_per_client = 1000"
nl init >/dev/null 2>&1 || fail "init"
{
	echo "email,name"
	for i in $(seq 400); do echo "load$i@example.no,Load Person $i"; done
} >"$SCRATCH/load.csv"
nl import "$SCRATCH/load.csv" >/dev/null
start_server || finish
alive() { [ "$(curl -s -m 5 "$BASE/healthz")" = ok ]; }
P1=$(link_path load1@example.no)

# --- over the limits ---
head -c 100000 /dev/zero | tr '\0' a >"$SCRATCH/big"
http POST "$BASE$P1" --data-binary @"$SCRATCH/big"
check "a 100 kB body on /u/: 413" test "$CODE" = 413
check "... and the subscriber is kept" is_sub load1@example.no
http POST "$BASE$P1" -H 'Transfer-Encoding: chunked' --data-binary @"$SCRATCH/big"
check "a 100 kB chunked body (no length): 413" test "$CODE" = 413
check "... and the subscriber is kept" is_sub load1@example.no
http POST "$ADMIN/api/v1/purchases" -H "Authorization: Bearer $ADMIN_TOKEN" --data-binary @"$SCRATCH/big"
check "a 100 kB body on the API: 413 JSON" test "$CODE" = 413 -a "$(header content-type)" = application/json
http GET "$BASE$P1" -H "Cookie: $(head -c 4000 /dev/zero | tr '\0' c)"
check "a 4 kB header (a large cookie) is served: 200 (got $CODE)" test "$CODE" = 200
http GET "$BASE$P1" -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' b)"
check "a 20 kB header: refused with 4xx (got $CODE)" test "$CODE" -ge 400 -a "$CODE" -lt 500
many=()
for i in $(seq 80); do many+=(-H "X-H$i: $i"); done
http GET "$BASE$P1" "${many[@]}"
check "80 header fields: 431" test "$CODE" = 431
http GET "$BASE/u/$(head -c 20000 /dev/zero | tr '\0' A)"
check "a 20 kB path: refused with 4xx (got $CODE)" test "$CODE" -ge 400 -a "$CODE" -lt 500
check "the server is alive after all that" alive

# --- garbage and rude clients ---
python3 - "$PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def send(data, read=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(data)
        if read:
            try: s.recv(4096)
            except Exception: pass
    finally:
        s.close()
for data in [b"\x00\xff\x10garbage\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
             b"POST /u/x HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n",
             b"POST /u/x HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
             b"GET /u/%zz%%%00 HTTP/1.1\r\nHost: a\r\n\r\n",
             b"GET /u/x HTTP/1.1\r\nHost: a\r\nBad Header Line\r\n\r\n",
             b"\r\n" * 5000]:
    send(data)
# vanish in the middle of a request, of a body, of a reply
send(b"POST /u/x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc", read=False)
send(b"GET /u/x HTTP/1.1\r\nHo", read=False)
for _ in range(50):
    send(b"GET /u/x HTTP/1.1\r\nHost: a\r\n\r\n", read=False)
PY
check "after garbage and vanishing clients the server is alive" alive
check "... and still answers a page" test "$(curl -s -o /dev/null -w '%{http_code}' "$BASE$P1")" = 200

# --- 200 concurrent clients, GET and POST mixed ---
nl link $(for i in $(seq 400); do echo "load$i@example.no"; done) | sed 's|^https://news.example.org||' >"$SCRATCH/paths"
python3 - "$BASE" "$SCRATCH/paths" >"$SCRATCH/load.out" <<'PY'
import sys, threading, http.client, urllib.parse
base, paths = sys.argv[1], open(sys.argv[2]).read().split()
host = urllib.parse.urlparse(base)
errors, codes, lock = [], {}, threading.Lock()
start = threading.Barrier(200)
def client(n):
    # Clients 0-99 GET their page and POST (unsubscribe); 100-199 only GET,
    # several times, some of them pages of subscribers being unsubscribed.
    try:
        c = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        start.wait()
        mine = paths[n]
        seq = [("GET", mine), ("POST", mine), ("POST", mine)] if n < 100 else \
              [("GET", mine), ("GET", paths[n - 100]), ("GET", mine), ("HEAD", mine)]
        for m, p in seq:
            body = "List-Unsubscribe=One-Click" if m == "POST" else None
            hdr = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
            c.request(m, p, body=body, headers=hdr)
            r = c.getresponse()
            r.read()
            with lock:
                codes[r.status] = codes.get(r.status, 0) + 1
            if r.status != 200:
                errors.append(f"{m} {r.status}")
        c.close()
    except Exception as e:
        errors.append(repr(e))
ts = [threading.Thread(target=client, args=(i,)) for i in range(200)]
for t in ts: t.start()
for t in ts: t.join()
print("codes", sorted(codes.items()))
print("errors", len(errors), errors[:5])
PY
check "200 concurrent clients, 700 requests: all 200, no error ($(tr '\n' ' ' <"$SCRATCH/load.out"))" \
	grep -q '^errors 0 ' "$SCRATCH/load.out"
check "the 100 who POSTed are deleted" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM subscriber WHERE CAST(substr(email, 5, instr(email, '@') - 5) AS INTEGER) <= 100")" = 0
check "the 300 who were only fetched are kept" test "$(count)" = 300
check "100 suppression entries" test "$(suppressed)" = 100
check "the server is alive" alive

# --- page views under load while other processes write ---
# The server holds a read transaction while the log is empty (its GETs
# then cost no lock call); commands of other processes must still commit
# and truncate the log beside it, and no page view may fail meanwhile.
python3 - "$BASE$P1" >"$SCRATCH/views.out" 2>&1 <<'PY' &
import http.client, sys, threading, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
codes, stop = {}, time.time() + 4
def viewer():
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    while time.time() < stop:
        c.request("GET", u.path)
        r = c.getresponse(); r.read()
        codes[r.status] = codes.get(r.status, 0) + 1
ts = [threading.Thread(target=viewer) for _ in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print("codes", sorted(codes.items()))
PY
viewers=$!
cli_fail=0
for i in $(seq 15); do
	nl -q enroll "busy$i@example.no" --name "Busy $i" >/dev/null 2>&1 || cli_fail=$((cli_fail + 1))
	nl -q unsubscribe "busy$i@example.no" >/dev/null 2>&1 || cli_fail=$((cli_fail + 1))
done
wait $viewers
check "30 enrol and unsubscribe commands beside page views under load: all exit 0 (failures $cli_fail)" \
	test "$cli_fail" = 0
check "... and every page view answered 200 ($(cat "$SCRATCH/views.out"))" \
	bash -c 'grep -q "^codes \[(200, [0-9]*)\]$" "$1"' _ "$SCRATCH/views.out"
in_files() { LC_ALL=C grep -a -q -F "$1" "$DB" "$DB-wal" "$DB-shm" 2>/dev/null; }
check "the files hold a subscriber's address (the search below works)" in_files load300@example.no
check "... and the addresses of the unsubscribed are out of the files" \
	bash -c '! LC_ALL=C grep -a -q -e "busy1@example.no" -e "busy15@example.no" "$1" "$1-wal" "$1-shm" 2>/dev/null' _ "$DB"

# --- SIGTERM with requests in flight: they finish ---
python3 - "$BASE" "$SCRATCH/paths" >"$SCRATCH/term.out" <<'PY' &
import sys, threading, http.client, urllib.parse
base, paths = sys.argv[1], open(sys.argv[2]).read().split()[200:260]
host = urllib.parse.urlparse(base)
bad = []
def one(p):
    try:
        c = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
        c.request("POST", p, body="", headers={"Content-Length": "0"})
        r = c.getresponse(); r.read()
        if r.status != 200: bad.append(r.status)
    except Exception as e:
        bad.append("refused")	# after the listener closed: allowed
ts = [threading.Thread(target=one, args=(p,)) for p in paths]
for t in ts: t.start()
for t in ts: t.join()
print("non-200", [b for b in bad if b != "refused"])
PY
client=$!
sleep 0.05
stop_server
wait $client
check "SIGTERM under load: exit 0" test "$STOP_RC" = 0
check "no request got an error reply during shutdown ($(cat "$SCRATCH/term.out"))" grep -q '^non-200 \[\]' "$SCRATCH/term.out"
check "the log ends with 'stopped'" bash -c 'tail -n 1 "$1" | grep -q stopped' _ "$LOG"
check "the log never names an address" bash -c '! grep -q "@example" "$1"' _ "$LOG"

finish
