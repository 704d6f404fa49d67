#!/usr/bin/env bash
# tests/e2e/postfix.sh - 'newsletter send' and 'newsletter bounce' with a
# real Postfix (Debian's package) between them, wired with the files of
# contrib/postfix/ as shipped.
#
# A private Postfix instance on 127.0.0.1: its own config, queue and data
# folders under the scratch folder, a STARTTLS certificate made here
# (DNS:localhost, IP:127.0.0.1), a virtual mailbox domain (example.no)
# delivering to Maildirs, and the bounce domain (news.example.org) handed
# to the pipe transport of contrib/postfix/master.cf. The contrib files are
# copied and only paths, the port and the pipe's user are substituted (the
# diff is printed). Two smtpd listeners: SUBMIT (mynetworks: what the
# sender uses) and MX (no client is in mynetworks: the Internet's view of
# the bounce domain). The system's /etc/postfix is only read; the test
# checks that it is unchanged. No user is created: the pipe and the
# Maildirs run as PIPE_USER (default nobody), which owns the database
# folder (inside the scratch folder).
#
#   PF_SMTP_HOST=localhost   the [smtp] host 'newsletter send' connects to
#                            (default 127.0.0.1: the certificate's IP entry)
#   PF_WAIT=60               seconds to wait for each delivery step
#   PF_KEEP=FILE             keep Postfix's log there when a check failed
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix_lib.bash"
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
CONTRIB=$(cd "$(dirname "$0")/../../contrib/postfix" && pwd)
PY=/usr/bin/python3
SMTP_HOST=${PF_SMTP_HOST:-127.0.0.1}
WAIT=${PF_WAIT:-60}

pf_require postfix postconf postmap postqueue openssl sqlite3 python3
pf_prepare
VAR=$SCRATCH/var
BIN=$SCRATCH/bin/newsletter
DB=$VAR/newsletter.db
mkdir -p "$VAR" "$SCRATCH/bin"
# A copy of the binaries that PIPE_USER can run wherever the clone is;
# newsletter-net beside the front, where its send looks for it.
cp "$NEWSLETTER" "$BIN" && chmod 755 "$BIN"
cp "$(dirname "$NEWSLETTER")/newsletter-net" "$SCRATCH/bin/newsletter-net" &&
	chmod 755 "$SCRATCH/bin/newsletter-net"

# PF_KEEP=FILE keeps Postfix's log there when a check failed.
trap 'pf_stop; [ -n "${PF_KEEP:-}" ] && [ "$T_FAILED" -gt 0 ] && cp "$PF/maillog" "$PF_KEEP"; cleanup' EXIT
# On failure: what Postfix logged, and other output, as TAP comments.
note() {
	local a
	for a; do [ -n "$a" ] && printf '%s\n' "$a"; done | sed 's/^/#   /'
}

SUBMIT=$(free_port)
MX=$(free_port)
while [ "$MX" = "$SUBMIT" ]; do MX=$(free_port); done

# --- the certificate ---
self_signed "$PF/tls.key" "$PF/tls.crt" localhost DNS:localhost,IP:127.0.0.1 ||
	{ fail "openssl makes a certificate"; finish; }
chmod 600 "$PF/tls.key"

# --- the instance: the test's own lines, then contrib's as shipped ---
{ echo "# The private instance (tests/e2e/postfix.sh); contrib/postfix/main.cf follows."; pf_main_cf; } >"$PF/etc/main.cf"
cat >>"$PF/etc/main.cf" <<CF
smtpd_tls_security_level = may
smtpd_tls_cert_file = $PF/tls.crt
smtpd_tls_key_file = $PF/tls.key
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
# Unknown users of example.no are accepted and bounced by virtual(8): so
# Postfix's own DSNs come back to the bounce domain, as from a remote MX.
smtpd_reject_unlisted_recipient = no
# A deferred message is tried again within seconds, not minutes.
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
CF
for f in main.cf newsletter_transport newsletter_recipients; do
	sed "s|/etc/postfix/|$PF/etc/|g" "$CONTRIB/$f" >"$PF/etc/contrib-$f"
done
cat "$PF/etc/contrib-main.cf" >>"$PF/etc/main.cf"
mv "$PF/etc/contrib-newsletter_transport" "$PF/etc/newsletter_transport"
mv "$PF/etc/contrib-newsletter_recipients" "$PF/etc/newsletter_recipients"
sed -e "s|user=newsletter|user=$PIPE_USER|" -e "/argv=/s|/usr/bin/newsletter|$BIN|" \
	-e "/argv=/s|/etc/newsletter/newsletter.conf|$CONF|" "$CONTRIB/master.cf" >"$PF/etc/contrib-master.cf"
echo "# contrib/postfix as the test uses it (only paths, ports and names changed):"
for f in main.cf master.cf newsletter_transport newsletter_recipients; do
	g=$PF/etc/contrib-$f
	[ -f "$g" ] || g=$PF/etc/$f
	diff -u --label "contrib/postfix/$f" --label "test/$f" "$CONTRIB/$f" "$g" | sed 's/^/#   /'
done
cat >"$PF/etc/master.cf" <<CF
# SUBMIT: the sender (in mynetworks). MX: the bounce domain as the Internet
# sees it (no client in mynetworks).
127.0.0.1:$SUBMIT inet n - n - - smtpd
127.0.0.1:$MX inet n - n - - smtpd -o mynetworks=192.0.2.1/32
CF
pf_master_services >>"$PF/etc/master.cf"
cat "$PF/etc/contrib-master.cf" >>"$PF/etc/master.cf"

# Ten readers with a mailbox, two the domain does not know.
KNOWN=() GHOSTS=(ghost1@example.no ghost2@example.no)
for i in $(seq -w 1 10); do KNOWN+=("reader$i@example.no"); done
for a in "${KNOWN[@]}"; do printf '%s example.no/%s/\n' "$a" "${a%@*}"; done >"$PF/etc/vmailbox"
postmap -c "$PF/etc" "hash:$PF/etc/newsletter_transport" || { fail "postmap the transport table"; finish; }

# --- newsletter: config in the scratch folder, data owned by PIPE_USER ---
cat >"$CONF" <<CONF
[store]
database = $DB
key_file = $VAR/newsletter.key

[list]
name = Test List
base_url = https://news.example.org
from = Nyheitsbrevet <news@example.org>
language = nb

[smtp]
host = $SMTP_HOST
port = $SUBMIT
tls = required
ca_file = $PF/tls.crt
connections = 2

[bounce]
domain = news.example.org
CONF
chmod 644 "$CONF"
nl init >/dev/null 2>&1 || { fail "init"; finish; }
for a in "${KNOWN[@]}" "${GHOSTS[@]}"; do nl enroll "$a" --name "Lesar ${a%@*}" >/dev/null; done
# SQLite run by root keeps the journal files' owner the database's.
chown -R "$PIPE_UID:$PIPE_GID" "$VAR"

pf_start "postfix check: the configuration with contrib/postfix is clean"
# Ready: smtpd answers, offers STARTTLS, and its certificate verifies
# against the test's CA for $SMTP_HOST.
tls_ready() {
	$PY - "$SUBMIT" "$SMTP_HOST" "$PF/tls.crt" <<'PY' 2>/dev/null
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[3])
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=5) as s:
    s._host = sys.argv[2]
    s.starttls(context=ctx)
    s.ehlo()
PY
}
for _ in $(seq 50); do tls_ready && break; sleep 0.2; done
check "smtpd offers STARTTLS with a certificate for $SMTP_HOST" tls_ready

queue_empty() { postqueue -c "$PF/etc" -p 2>/dev/null | grep -q '^Mail queue is empty'; }

# --- send an issue through Postfix with STARTTLS ---
cat >"$SCRATCH/issue.md" <<'MD'
subject: Vekas nytt æøå

Hei {{name}}, dette er nytt. [Meld av]({{unsubscribe_url}}).
MD
expect_rc 0 "send to 12 subscribers through Postfix (STARTTLS, tls = required, host $SMTP_HOST): exit 0" \
	nl send "$SCRATCH/issue.md"
# The rest needs the mail sent.
[ "$RC" = 0 ] || { pf_log 30; finish; }
# Postfix took all twelve: the two unknown users come back as DSNs, later.
check "Postfix accepted all 12 at RCPT (this run: 12 sent)" \
	grep -q 'this run: 12 sent' <<<"$OUT"
wait_for "$WAIT" test "$(delivered)" -ge 10
check "10 messages delivered into the Maildirs of example.no" test "$(delivered)" = 10
for a in "${KNOWN[@]}"; do
	[ "$(find "$PF/vmail/example.no/${a%@*}/new" -type f | wc -l)" = 1 ] || fail "one message for $a"
done

# Every delivered message: Python's strict parser, then check_mail.py (with
# the envelope from Postfix's Return-Path and X-Original-To).
mkdir -p "$SCRATCH/got"
n=0
for f in $(find "$PF/vmail" -path '*/new/*' -type f | sort); do
	n=$((n + 1))
	cp "$f" "$SCRATCH/got/$n.eml"
done
run_cmd $PY - "$SCRATCH/got" <<'PY'
import email.parser, email.policy, email.utils, glob, json, os, sys
d = sys.argv[1]
tls = 0
with open(os.path.join(d, "log.jsonl"), "w") as log:
    for f in sorted(glob.glob(os.path.join(d, "*.eml"))):
        raw = open(f, "rb").read()
        msg = email.parser.BytesParser(policy=email.policy.strict).parsebytes(raw)
        for part in msg.walk():
            if part.defects:
                sys.exit("%s: %r" % (f, part.defects))
        env = email.utils.parseaddr(str(msg["Return-Path"]))[1]
        rcpt = email.utils.parseaddr(str(msg["X-Original-To"]))[1]
        n = int(os.path.basename(f).split(".")[0])
        log.write(json.dumps({"n": n, "from": env, "to": [rcpt]}) + "\n")
        # Postfix's smtpd notes the TLS session in its Received header.
        tls += any("by mx.example.org" in str(r) and "using TLS" in str(r)
                   for r in msg.get_all("Received", []))
print(tls)
PY
check "every delivered message parses with email.policy.strict" test "$RC" = 0
[ "$RC" = 0 ] || note "$ERR"
check "all 10 came to Postfix over TLS (its Received header says so)" test "$OUT" = 10
if CHK=$($PY "$TOOLS/check_mail.py" "$SCRATCH/got" "$DB"); then
	pass "check_mail.py: headers, parts, tokens, VERP envelope sender of all 10"
else
	fail "check_mail.py" "$CHK"
fi
check "check_mail.py read 10 messages for 10 subscribers" \
	test "$(printf '%s' "$CHK" | jval '[d["messages"], d["subscribers"]]')" = "[10, 10]"

# --- Postfix's own DSNs for the two unknown users come back ---
ghosts_gone() { [ "$(sub_field ghost1@example.no id)" = none ] && [ "$(sub_field ghost2@example.no id)" = none ]; }
if wait_for "$WAIT" ghosts_gone; then
	pass "Postfix's DSNs, piped into 'newsletter bounce', deleted the two unknown users"
else
	fail "Postfix's DSNs, piped into 'newsletter bounce', deleted the two unknown users"
	pf_log
fi
check "the DSNs went through the pipe transport 'newsletter'" \
	test "$(grep -c 'relay=newsletter,.*status=sent' "$PF/maillog")" -ge 2
check "the ten readers with a mailbox are still there" test "$(count)" = 10
check "suppression entries for the two" test "$(suppressed)" = 2
check "audit: two 'bounced' events with Postfix's 5.1.1" test "$(sqlite3 "$DB" \
	"SELECT count(*) FROM audit WHERE event = 'bounced' AND detail LIKE '%5.1.1%'")" = 2
wait_for 20 queue_empty
check "the queue is empty after the DSNs" queue_empty

# --- the bounce domain refuses what is not bounces+ or unsubscribe+ ---
# smtp_rcpt PORT RCPT...: "CODE TEXT" of each RCPT TO, one line each.
smtp_rcpt() {
	$PY - "$@" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
s.ehlo("client.example.net")
s.mail("reader@example.net")
for r in sys.argv[2:]:
    c, t = s.rcpt(r)
    print(c, t.decode())
s.quit()
PY
}
out=$(smtp_rcpt "$MX" postmaster@news.example.org 2>&1)
check "MX: an unknown local part of the bounce domain is refused with 550 5.1.1" \
	bash -c '[[ $1 == "550 5.1.1 "* ]]' _ "$out"


# --- one mail to two unsubscribe+ addresses (List-Unsubscribe mailto) ---
mailto() { sed -n 's/.*<mailto:\(unsubscribe+[^?>]*\)?.*/\1/p' "$1" | head -n 1; }
f1=$(grep -l '^To: .*reader01@example.no' "$SCRATCH"/got/*.eml)
f2=$(grep -l '^To: .*reader02@example.no' "$SCRATCH"/got/*.eml)
u1=$(mailto "$f1") u2=$(mailto "$f2")
check "the mailto addresses of two messages are unsubscribe+TOKEN@news.example.org" \
	bash -c '[[ $1 == unsubscribe+*@news.example.org && $2 == unsubscribe+*@news.example.org && $1 != "$2" ]]' _ "$u1" "$u2"
run_cmd $PY - "$MX" "$u1" "$u2" <<'PY'
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "Lesar <reader@example.net>"
m["To"] = ", ".join(sys.argv[2:])
m["Subject"] = "unsubscribe"
m.set_content("unsubscribe\n")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20) as s:
    refused = s.send_message(m, to_addrs=sys.argv[2:])
    sys.exit(1 if refused else 0)
PY
check "MX: one mail, two unsubscribe+ recipients: accepted" test "$RC" = 0
[ "$RC" = 0 ] || note "$OUT" "$ERR"
both_gone() { [ "$(sub_field reader01@example.no id)" = none ] && [ "$(sub_field reader02@example.no id)" = none ]; }
if wait_for "$WAIT" both_gone; then
	pass "both subscribers unsubscribed by the one mail"
else
	fail "both subscribers unsubscribed by the one mail"
	pf_log
fi
check "eight subscribers left" test "$(count)" = 8
wait_for 20 queue_empty
if queue_empty; then pass "the queue is empty (nothing deferred)"; else
	fail "the queue is empty (nothing deferred)"
	note "$(postqueue -c "$PF/etc" -p 2>&1 | head -n 8)"
fi
# The recipient limit's failure: "mail system configuration error". (Other
# deferrals are retried and end in the empty queue above: the test's own
# sqlite3, as root, may hold the database for a moment.)
check "no delivery was deferred with dsn=4.3.5 (mail system configuration error)" \
	bash -c '! grep -q "dsn=4\.3\.5, status=deferred" "$1"' _ "$PF/maillog"
note "$(grep 'status=deferred' "$PF/maillog" | head -n 3)"

check "'postfix stop' stopped the instance within 5 s" pf_stop
check "the system's /etc/postfix is unchanged" test "$(etc_state)" = "$ETC_BEFORE"
finish
