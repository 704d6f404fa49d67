#!/usr/bin/env bash
# tests/e2e/signup_mail.sh - serve's side of the double opt-in: with
# [signup] enabled, a pending signup's confirmation mail leaves within
# seconds through [smtp] (a real SMTP server on loopback, the message
# parsed by Python's email package, policy.default); with the relay down
# nothing is lost, and after a restart of serve with the relay up again
# the mail arrives; an expired signup is deleted from the files' bytes;
# the log names signup ids, never an address; SIGTERM stops serve and its
# signup thread. The pending signups are recorded by the test tool
# signup-request (store_signup_request, as the form does): the form, the
# confirmation pages and their end-to-end flow are tests/e2e/signup*.sh of
# the web side.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/web_lib.bash"

need_tool REQ signup-request || finish
PY=/usr/bin/python3
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
SPORT=$(free_port)
SMTPD=
STARTS=0

# start_smtpd [ARGS...]: the server on $SPORT, writing to a folder of its
# own (it numbers its messages from 1 each time).
start_smtpd() {
	STARTS=$((STARTS + 1))
	MAILDIR=$SCRATCH/mail.$STARTS
	mkdir -p "$MAILDIR"
	: >"$SCRATCH/smtpd.out"
	$PY "$TOOLS/smtpd.py" --port "$SPORT" --dir "$MAILDIR" "$@" >"$SCRATCH/smtpd.out" 2>&1 &
	SMTPD=$!
	track "$SMTPD"
	for _ in $(seq 100); do
		grep -q ready "$SCRATCH/smtpd.out" 2>/dev/null && return 0
		kill -0 "$SMTPD" 2>/dev/null || break
		sleep 0.1
	done
	fail "the test SMTP server starts" "$(tail -3 "$SCRATCH/smtpd.out")"
	return 1
}
stop_smtpd() { kill "$SMTPD" 2>/dev/null; wait "$SMTPD" 2>/dev/null; SMTPD=; }
# mails: how many messages the server received, over its restarts.
mails() { find "$SCRATCH" -path "$SCRATCH/mail.*" -name '*.eml' | wc -l; }
# newest: the last message received.
newest() { ls -t "$SCRATCH"/mail.*/*.eml | head -1; }
# wait_mails N: until N messages are received, 10 s at most.
wait_mails() {
	for _ in $(seq 100); do
		[ "$(mails)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
# The message checks, by a parser that is not ours.
check_message() {	# FILE TO LANG
	$PY - "$@" <<'PY'
import email, email.policy, re, sys
path, to, lang = sys.argv[1:4]
m = email.message_from_binary_file(open(path, "rb"), policy=email.policy.default)
def need(cond, what):
    if not cond:
        print("# " + what); sys.exit(1)
need(not m.defects, "defects: %r" % m.defects)
need(m["To"].addresses[0].addr_spec == to, "To is %s" % m["To"])
need(m["Auto-Submitted"] == "auto-generated", "Auto-Submitted: %s" % m["Auto-Submitted"])
need(m["List-Unsubscribe"] is None and m["List-Id"] is None, "a List-* header")
need(m["Message-ID"] and m["Date"] and m["From"], "Message-ID, Date, From")
need(m.get_content_type() == "multipart/alternative", m.get_content_type())
parts = [p.get_content_type() for p in m.iter_parts()]
need(parts == ["text/plain", "text/html"], "parts %r" % parts)
subject = {"nb": "Bekreft påmeldingen til Kurs & Varer AS",
           "en": "Confirm your subscription to Kurs & Varer AS"}[lang]
need(str(m["Subject"]) == subject, "Subject: %s" % m["Subject"])
for p in m.iter_parts():
    body = p.get_content()
    links = re.findall(r"https://news\.example\.org/c/([A-Za-z0-9_-]{26}\.[A-Za-z0-9_-]{22})", body)
    need(links, "no /c/TOKEN link in " + p.get_content_type())
    need("<img" not in body, "an image")
PY
}

web_conf en "" "[smtp]" "host = 127.0.0.1" "port = $SPORT" "" \
	"[bounce]" "domain = bounce.example.org" "keep =" "" "[signup]" "enabled = true"
# web_conf writes no [bounce] keep: the built-in one is the package's.
nl init >/dev/null 2>&1 || fail "init"
start_smtpd || finish

# --- a pending signup's mail leaves within seconds ---
check "a signup is queued" test "$("$REQ" "$DB" "$SCRATCH/newsletter.key" first@example.org nb)" = queued
start_server || finish
if wait_mails 1; then pass "the confirmation mail arrives within seconds"; else fail "the confirmation mail arrives within seconds" "$(tail -5 "$LOG")"; fi
M1=$(newest)
check "the mail: To, Auto-Submitted, no List-*, text and HTML with the /c/ link (nb)" \
	check_message "$M1" first@example.org nb
check "the store says sent, not due" \
	test "$(sqlite3 "$DB" "SELECT mail_due IS NULL AND mail_sent IS NOT NULL FROM signup")" = 1
check "the log names the signup id" grep -q 'signup 1: confirmation mail sent' "$LOG"
# an English one, while serve runs
"$REQ" "$DB" "$SCRATCH/newsletter.key" second@example.org en >/dev/null
if wait_mails 2; then pass "a second signup's mail arrives"; else fail "a second signup's mail arrives"; fi
M2=$(newest)
check "the second mail is in English" check_message "$M2" second@example.org en

# --- the relay down: nothing lost; serve restarted with the relay up: it arrives ---
stop_smtpd
"$REQ" "$DB" "$SCRATCH/newsletter.key" third@example.org en >/dev/null
for _ in $(seq 50); do
	grep -q 'signup 3: confirmation mail not sent' "$LOG" && break
	sleep 0.1
done
check "the relay down: the mail is tried, and kept for a retry" \
	test "$(sqlite3 "$DB" "SELECT mail_attempts = 1 AND mail_due IS NOT NULL FROM signup WHERE id = 3")" = 1
T0=$(date +%s.%N)
stop_server
T1=$(date +%s.%N)
check "SIGTERM stops serve and its signup thread: exit 0" test "$STOP_RC" = 0
check "... within 3 s" $PY -c "import sys; sys.exit(not ($T1 - $T0) < 3)"
start_smtpd || finish
# The back-off (60 s) passed: what time would do, done to the row.
sqlite3 "$DB" "UPDATE signup SET mail_due = '2000-01-01T00:00:00Z' WHERE id = 3"
start_server || finish
if wait_mails 3; then pass "after a restart with the relay up, the mail arrives"; else fail "after a restart with the relay up, the mail arrives" "$(tail -5 "$LOG")"; fi
M3=$(newest)
check "... to the third address" check_message "$M3" third@example.org en

# --- expiry: the address leaves the files' bytes ---
"$REQ" "$DB" "$SCRATCH/newsletter.key" zq-expiring-4711@example.org en >/dev/null
wait_mails 4
sqlite3 "$DB" "UPDATE signup SET expires = '2000-01-01T00:00:00Z' WHERE email = 'zq-expiring-4711@example.org'"
stop_server
check "serve stopped cleanly (exit 0, no sanitizer report)" test "$STOP_RC" = 0
check "the pending address is in the files before the expiry" bytes_contain zq-expiring-4711 "$DB" "$DB-wal"
start_server || finish	# the expiry runs when the thread starts, then every minute
for _ in $(seq 50); do
	grep -q 'expired and deleted' "$LOG" && break
	sleep 0.1
done
check "serve deletes the expired signup" grep -q '1 unconfirmed signup expired and deleted' "$LOG"
check "the expired address is gone from the files' bytes" bash -c '! LC_ALL=C grep -a -i -q -F zq-expiring-4711 "$1" "$1-wal" "$1-shm" 2>/dev/null' _ "$DB"
stop_server
check "serve stopped cleanly again" test "$STOP_RC" = 0
check "no sanitizer report in the log" bash -c '! grep -q -E "Sanitizer|runtime error" "$1"' _ "$LOG"
check "the log never names an address" bash -c '! grep -E -q "(first|second|third|zq-expiring-4711)@example" "$1"' _ "$LOG"

# --- SMTP AUTH and DKIM: mail after mail from the one signup thread ---
stop_smtpd
start_smtpd --auth "newsletter:s3cret pass" || finish
printf 's3cret pass\n' >"$SCRATCH/smtp.pass"
chmod 600 "$SCRATCH/smtp.pass"
openssl genrsa -out "$SCRATCH/dkim.key" 2048 >/dev/null 2>&1
chmod 600 "$SCRATCH/dkim.key"
openssl rsa -in "$SCRATCH/dkim.key" -pubout -out "$SCRATCH/dkim.pub" >/dev/null 2>&1
web_conf en "" "[smtp]" "host = 127.0.0.1" "port = $SPORT" "username = newsletter" \
	"password_file = $SCRATCH/smtp.pass" "" "[bounce]" "domain = bounce.example.org" "keep =" "" \
	"[dkim]" "domain = example.org" "selector = news" "key_file = $SCRATCH/dkim.key" "" \
	"[signup]" "enabled = true"
start_server || finish
N=$(mails)
for who in auth1 auth2 auth3; do
	"$REQ" "$DB" "$SCRATCH/newsletter.key" "$who@example.org" en >/dev/null
	sleep 0.3
done
if wait_mails $((N + 3)); then pass "with [smtp] username: three mails in a row, each through AUTH"; else fail "with [smtp] username: three mails in a row, each through AUTH" "$(tail -5 "$LOG")"; fi
check "the server saw AUTH for each" test "$(grep -c '"auth": true' "$MAILDIR/log.jsonl")" = 3
check "DKIM: python3-dkim verifies the signature (From, Subject, Date, Auto-Submitted signed)" \
	$PY - "$(newest)" "$SCRATCH/dkim.pub" <<'PY'
import dkim, email, email.policy, re, sys
raw = open(sys.argv[1], "rb").read()
msg = email.message_from_bytes(raw, policy=email.policy.default)
der = "".join(l for l in open(sys.argv[2]).read().splitlines() if "-----" not in l)
rec = ("v=DKIM1; k=rsa; p=" + der).encode()
def dnsfunc(name, timeout=5):
    return rec
sig = msg["DKIM-Signature"]
if sig is None: print("# no DKIM-Signature"); sys.exit(1)
h = re.search(r"(?:^|;)h=([^;]+)", re.sub(r"\s", "", str(sig))).group(1).lower().split(":")
for want in ("from", "subject", "date", "to", "auto-submitted"):
    if want not in h: print("# %s not signed" % want); sys.exit(1)
sys.exit(0 if dkim.verify(raw, dnsfunc=dnsfunc) else 1)
PY
stop_server
check "serve stopped cleanly after the AUTH runs" test "$STOP_RC" = 0

# --- [signup] enabled = false: no mail goes ---
web_conf en "" "[smtp]" "host = 127.0.0.1" "port = $SPORT" "" \
	"[bounce]" "domain = bounce.example.org" "keep ="
"$REQ" "$DB" "$SCRATCH/newsletter.key" fifth@example.org en >/dev/null
N=$(mails)
start_server || finish
sleep 2
check "signup disabled: serve mails no confirmation" test "$(mails)" = "$N"
stop_server
finish
