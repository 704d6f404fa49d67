#!/usr/bin/env bash
# tests/e2e/send.sh - 'newsletter send' against a real SMTP server on
# 127.0.0.1 (aiosmtpd, tests/tools/smtpd.py): every message checked by
# Python's email package (tests/tools/check_mail.py), resumable runs,
# 4xx/5xx/421 answers and dropped connections, an unreachable server,
# --dry-run, --preview and --to.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/../tools/send_lib.sh"

nl init >/dev/null 2>&1 || { fail "init"; finish; }
{
	echo "email,name,order,date"
	for i in $(seq 1 300); do
		case $((i % 5)) in
		0) echo "u$i@example.no,Åse Ærlig Ødegård $i,O-$i," ;;
		1) echo "u$i@example.no,\"Lise \"\"Q\"\" Berg, <MSc> & co $i\",O-$i," ;;
		2) echo "u$i@example.no,,O-$i," ;;
		3) echo "u$i@example.no,Ein svært lang namn med æøå ÆØÅ som må delast over fleire linjer $i,O-$i," ;;
		4) echo "u$i@example.no,Per $i,O-$i," ;;
		esac
	done
} >"$SCRATCH/buyers.csv"
nl import "$SCRATCH/buyers.csv" >/dev/null || fail "import of 300 buyers"

cat >"$SCRATCH/issue.md" <<'MD'
subject: Vekas nytt: æøå og ÆØÅ
id: 2026-48
preheader: Sommarkurs og nyheiter

# Hei {{name}}!

Nyheiter med **æøå**: kurs i Ålesund og på Ørland.

<script>alert("x")</script>

- eit punkt
- to punkt

[Meld deg av]({{unsubscribe_url}})
MD

# --- --dry-run and --preview write and send nothing ---
start_smtpd
expect_out 0 "rendered 300 messages" "--dry-run renders every message, exit 0" nl send "$SCRATCH/issue.md" --dry-run
check "--dry-run: nothing reached the server" test "$(nmail)" = 0
check "--dry-run: no mailing and no deliveries recorded" test "$(sqlite3 "$DB" 'SELECT count(*) FROM mailing') $(sqlite3 "$DB" 'SELECT count(*) FROM delivery')" = "0 0"
expect_out 0 "wrote 300 messages" "--preview DIR writes .eml files" nl send "$SCRATCH/issue.md" --preview "$SCRATCH/preview"
check "--preview: 300 files" test "$(ls "$SCRATCH/preview"/*.eml | wc -l)" = 300
if checked "$SCRATCH/preview"; then pass "--preview: every file parses without defects and has every header"; else fail "--preview: check_mail" "$CHK"; fi
check "--preview: nothing sent" test "$(nmail)" = 0

# --- --to: one test copy, not recorded ---
expect_out 0 "one test copy" "--to ADDRESS sends one test copy" nl send "$SCRATCH/issue.md" --to tester@example.org
check "--to: the server got one message for that address" \
	grep -q '"to": \["tester@example.org"\]' "$MAILDIR/log.jsonl"
check "--to: not recorded" test "$(sqlite3 "$DB" 'SELECT count(*) FROM delivery')" = 0
expect_out 2 "" "--to with a bad address: exit 2" nl send "$SCRATCH/issue.md" --to not-an-address

# --- EHLO: [smtp] helo, else a full domain (reject_non_fqdn_helo_hostname) ---
# The name the program should find without [smtp] helo: the machine's
# canonical name when it is a domain with a dot, else the from domain.
helo_default=$($PY - <<'PYEOF'
import re, socket
try:
    name = socket.getaddrinfo(socket.gethostname(), None, 0, socket.SOCK_STREAM, 0,
                              socket.AI_CANONNAME)[0][3]
except OSError:
    name = ""
label = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ok = len(name) <= 253 and re.fullmatch(r"(%s\.)+%s" % (label, label), name) \
    and not name.rsplit(".", 1)[1].isdigit()
print(name.lower() if ok else "example.org")
PYEOF
)
# helos: the distinct EHLO names the server logged, one line.
helos() { $PY -c 'import json, sys; print(" ".join(sorted({json.loads(l)["helo"] for l in open(sys.argv[1])})))' "$MAILDIR/log.jsonl"; }
echo "# EHLO expected without [smtp] helo: $helo_default (the machine's name: $(hostname))"
check "EHLO without [smtp] helo: $helo_default, a name with a dot (the machine's full name or the from domain)" \
	test "$(helos)" = "$helo_default"
check "EHLO without [smtp] helo: never the bare host name" bash -c '[[ "$1" == *.* ]]' _ "$(helos)"
start_smtpd
conf_smtp "helo = Relay-Out.Example.NET"
expect_rc 0 "[smtp] helo: the test copy is sent" nl send "$SCRATCH/issue.md" --to tester@example.org
check "[smtp] helo: EHLO gives it, lower-cased" test "$(helos)" = relay-out.example.net
conf_smtp "helo = localhost"
expect_out 2 "helo: no dot: a full domain" "[smtp] helo without a dot: refused at load, exit 2" \
	nl send "$SCRATCH/issue.md" --to tester@example.org
conf_smtp

# --- the real send ---
start_smtpd
expect_out 0 "2026-48 \(new\): 300 recipients" "send to 300 subscribers: exit 0" nl send "$SCRATCH/issue.md"
MID=$(mailing_id 2026-48)
check "300 messages arrived" test "$(nmail)" = 300
if checked "$MAILDIR" --mailing "$MID"; then pass "every message parses without defects (email, policy.default), carries every header, and its tokens name its recipient"; else fail "check_mail" "$CHK"; fi
check "every subscriber got exactly one message" test "$(cval 'd["subscribers"]') $(cval 'd["max_copies"]')" = "300 1"
check "300 unique unsubscribe tokens and Message-IDs" test "$(cval 'd["unique_tokens"]') $(cval 'd["unique_message_ids"]')" = "300 300"
check "300 deliveries recorded as sent" test "$(deliveries sent)" = 300
check "EHLO on every connection of the run: $helo_default" test "$(helos)" = "$helo_default"
check "the mailing is finished" test -n "$(sqlite3 "$DB" "SELECT finished FROM mailing WHERE id = $MID")"
f=$(grep -l 'u5@example.no' "$MAILDIR"/*.eml | head -n 1)
check "æøå arrive intact in subject, text and HTML" $PY - "$f" <<'PYEOF'
import email, email.policy, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=email.policy.default)
t, h = [p.get_content() for p in m.iter_parts()]
ok = m["Subject"] == "Vekas nytt: æøå og ÆØÅ" and "Åse Ærlig Ødegård 5" in t and "kurs i Ålesund og på Ørland" in t \
    and "Åse Ærlig Ødegård 5" in h and "<strong>æøå</strong>" in h and "Meld deg av" in h
sys.exit(0 if ok else 1)
PYEOF
check "raw HTML in the Markdown is dropped" sh -c "! grep -l '<script>' $MAILDIR/*.eml >/dev/null 2>&1 && ! grep -q 'alert' $f"
expect_out 0 "nothing to send" "a second run sends nothing and says so" nl send "$SCRATCH/issue.md"
check "the second run sent nothing" test "$(nmail)" = 300
nl enroll late@example.no --name "Sein Kunde" >/dev/null
expect_out 0 "300 sent and 0 failed in earlier runs; 1 still to send" "a new subscriber: the next run sends only to them" nl send "$SCRATCH/issue.md"
check "only the new subscriber got it" test "$(nmail)" = 301

# --- 5xx, 4xx, 421 and a connection closed before the answer ---
cat >"$SCRATCH/issue2.md" <<'MD'
subject: Andre nummer

Hei {{name}}.
MD
nl enroll gone@example.no --name Gone >/dev/null
nl enroll spam@example.no --name Spam >/dev/null
nl enroll grey@example.no --name Grey >/dev/null
gone_id=$(sub_field gone@example.no id)
start_smtpd --rcpt 'gone@=550 5.1.1 <gone@example.no>: Recipient address rejected: User unknown' \
	--rcpt 'spam@=554 5.7.1 Message rejected as spam' \
	--rcpt 'grey@=451 4.7.1 Greylisted, try again@once' \
	--data '20=421 4.3.2 Service shutting down' --data '40=close' --data '60=451 4.3.0 Try again later'
total=$(count)
expect_out 0 "this run: $((total - 2)) sent, 2 failed \(1 hard bounces" "550/554/451/421 and a dropped connection: the run completes (exit 0)" \
	nl send "$SCRATCH/issue2.md"
if checked "$MAILDIR"; then pass "failures: every message that arrived is well-formed"; else fail "failures: check_mail" "$CHK"; fi
check "failures: everyone else got at least one copy" test "$(cval 'd["subscribers"]')" = $((total - 2))
check "failures: duplicates no more than the connections (3)" test "$(cval 'd["duplicates"]')" -le 3
check "550 5.1.1: the subscriber is deleted" test "$(sub_field gone@example.no id)" = none
check "550 5.1.1: the address is suppressed" sh -c "nl(){ $NEWSLETTER --config $CONF \"\$@\"; }; nl export gone@example.no | grep -q '\"listed\": true'"
check "550 5.1.1: an audit event 'bounced' for that subscriber" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE event = 'bounced' AND subscriber_id = $gone_id")" = 1
check "554 5.7.1 (policy): nobody deleted, the delivery is failed with the reply" \
	test "$(sqlite3 "$DB" "SELECT d.state || ' ' || substr(d.reply, 1, 9) FROM delivery d JOIN subscriber s ON s.id = d.subscriber_id WHERE s.email = 'spam@example.no'")" = "failed 554 5.7.1"
check "451 once: retried within the run and sent" \
	test "$(sqlite3 "$DB" "SELECT d.state FROM delivery d JOIN subscriber s ON s.id = d.subscriber_id WHERE s.email = 'grey@example.no' AND d.mailing_id = (SELECT max(id) FROM mailing)")" = sent

# --- a server that keeps saying 451: pending, exit 75, the next run sends ---
cat >"$SCRATCH/issue3.md" <<'MD'
subject: Tredje

Hei.
MD
start_smtpd --rcpt 'grey@=451 4.7.1 Greylisted'
expect_rc 75 "a recipient answered 451 all run long: exit 75" nl send "$SCRATCH/issue3.md"
check "451: left pending" test "$(sqlite3 "$DB" "SELECT d.state FROM delivery d JOIN subscriber s ON s.id = d.subscriber_id WHERE s.email = 'grey@example.no' AND d.mailing_id = (SELECT max(id) FROM mailing)")" = pending
start_smtpd
expect_out 0 "1 still to send" "the next run sends the pending one" nl send "$SCRATCH/issue3.md"
check "the pending one arrived" test "$(nmail)" = 1

# --- an unreachable server: exit 1 naming host:port, nothing lost ---
stop_smtpd
PORT=$(free_port)
conf_smtp
cat >"$SCRATCH/issue4.md" <<'MD'
subject: Fjerde

Hei.
MD
expect_out 1 "127.0.0.1:$PORT" "server unreachable: exit 1 naming host:port" nl send "$SCRATCH/issue4.md"
check "server unreachable: nothing sent or failed, all pending" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM delivery WHERE mailing_id = (SELECT max(id) FROM mailing) AND state <> 'pending'")" = 0
start_smtpd
expect_rc 0 "after the server is back the same command completes the mailing" nl send "$SCRATCH/issue4.md"
check "every subscriber got the fourth issue" test "$(nmail)" = "$(count)"

# --- limits: a password file is not cut to its limit, it is refused ---
sent_before=$(nmail)
printf '%01025d\n' 0 >"$SCRATCH/smtp.pw"
chmod 600 "$SCRATCH/smtp.pw"
conf_smtp "username = u" "password_file = $SCRATCH/smtp.pw"
expect_out 1 "smtp.pw: the password \(its first line\) is longer than 1024 bytes" \
	"a password file longer than the limit: exit 1 naming the file and the limit" nl send "$SCRATCH/issue4.md" --to probe@example.no
printf '%01024d\n' 0 >"$SCRATCH/smtp.pw"
expect_rc 0 "a password of exactly the limit is read whole (the server asks for none)" \
	nl send "$SCRATCH/issue4.md" --to probe@example.no
conf_smtp
check "the over-long password sent nothing" test "$(nmail)" = $((sent_before + 1))

# --- options ---
expect_rc 2 "no issue file: exit 2" nl send
expect_rc 2 "--connections 0: exit 2" nl send "$SCRATCH/issue.md" --connections 0
printf 'no header\n' >"$SCRATCH/bad.md"
expect_out 2 "header block" "an issue without a header block: exit 2 with the reason" nl send "$SCRATCH/bad.md"
expect_out 0 "usage: newsletter send" "send --help" nl send --help

finish
