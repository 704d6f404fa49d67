#!/usr/bin/env bash
# tests/e2e/send_tls.sh - 'newsletter send' with STARTTLS (a self-signed
# certificate made here), SMTP AUTH, and DKIM signatures verified by
# python3-dkim with the public key passed in (no DNS).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../tools/send_lib.sh"

nl init >/dev/null 2>&1 || { fail "init"; finish; }
for i in $(seq 1 20); do nl enroll "t$i@example.no" --name "Tæst Øyvind $i" >/dev/null; done
cat >"$SCRATCH/issue.md" <<'MD'
subject: Kryptert æøå

Hei {{name}}, [meld av]({{unsubscribe_url}}).
MD
tls_sent() { grep -c '"tls": true' "$MAILDIR/log.jsonl" 2>/dev/null || echo 0; }
again() { sqlite3 "$DB" "DELETE FROM delivery; DELETE FROM mailing"; }

# --- STARTTLS with certificates made by the test ---
# mkcert NAME SAN: a self-signed certificate NAME.crt naming only SAN (its
# CN names nothing that could match), which is also the CA file that
# trusts it: what it names is the only thing under test.
mkcert() {
	self_signed "$SCRATCH/$1.key" "$SCRATCH/$1.crt" "newsletter test" "$2" || fail "openssl req $1"
}
pending() { sqlite3 "$DB" "SELECT count(*) FROM delivery WHERE state = 'pending'"; }
# refused NAME WHY REGEX: the send exits 1 saying REGEX in one line, with
# no line about a dropped connection or a reconnection before it, and
# leaves everyone pending.
refused() {
	expect_out 1 "$2" "$1: exit 1 saying $3" nl send "$SCRATCH/issue.md"
	check "$1: said once, with no 'connection ended early' or 'reconnecting'" \
		test "$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -c -i -E 'certificate|ended early|reconnect')" = 1
	check "$1: nothing sent, 20 pending" test "$(nmail) $(pending)" = "0 20"
	not_again "$1"
}
# not_again NAME: the last send said that running it again fails the same
# way, and did not advise running it again.
not_again() {
	check "$1: the same command fails the same way until the TLS set-up changes" \
		test "$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -c -e 'fails the same way until the relay' -e 'run the same command again')" = 1
	check "$1: no advice to run the same command again" \
		test "$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -c 'run the same command again')" = 0
}
# clean NAME: the last send said nothing of a dropped connection or a
# reconnection (libesmtp 1.1 and TLS 1.3's session tickets: mailer/send.c).
clean() {
	check "$1: no 'connection ended early' or 'reconnecting'" \
		test "$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -c -i -E 'ended early|reconnect')" = 0
}
mkcert tls "DNS:localhost,IP:127.0.0.1"
mkcert ip "IP:127.0.0.1"
mkcert name "DNS:localhost"
mkcert other "IP:127.0.0.2"

start_smtpd --tls "$SCRATCH/tls.crt" "$SCRATCH/tls.key"
conf_smtp "tls = required" "ca_file = $SCRATCH/tls.crt"
expect_rc 0 "tls = required, host 127.0.0.1, a certificate with DNS:localhost and IP:127.0.0.1: exit 0" \
	nl send "$SCRATCH/issue.md"
check "tls = required: all 20 messages came over TLS" test "$(tls_sent)" = 20
clean "DNS:localhost,IP:127.0.0.1"
if checked "$MAILDIR"; then pass "tls: every message well-formed"; else fail "tls: check_mail" "$CHK"; fi
again
start_smtpd --tls "$SCRATCH/ip.crt" "$SCRATCH/ip.key"
conf_smtp "tls = required" "ca_file = $SCRATCH/ip.crt"
expect_rc 0 "tls = required, host 127.0.0.1, a certificate with IP:127.0.0.1 only: exit 0" \
	nl send "$SCRATCH/issue.md"
check "IP:127.0.0.1: all 20 messages came over TLS" test "$(tls_sent)" = 20
clean "IP:127.0.0.1"
# The dropped first session is a race (session tickets against the EHLO):
# ten sessions in a row make it near certain to show if it is there.
drops=0
for _ in $(seq 10); do
	run_cmd nl send "$SCRATCH/issue.md" --to probe@example.org
	drops=$((drops + $(printf '%s\n%s\n' "$OUT" "$ERR" | grep -c -i -E 'ended early|reconnect')))
done
check "ten test copies over STARTTLS: no session ended early" test "$drops" = 0
again
start_smtpd --tls "$SCRATCH/name.crt" "$SCRATCH/name.key"
conf_smtp "tls = required" "ca_file = $SCRATCH/name.crt"
refused "host 127.0.0.1, a certificate with DNS:localhost only" \
	"certificate does not name 127\.0\.0\.1 \(its names: DNS:localhost\)" \
	"that it does not name 127.0.0.1, and its names"
sed -i 's/^host = 127.0.0.1$/host = localhost/' "$CONF"
expect_rc 0 "tls = required, host localhost, a certificate with DNS:localhost: exit 0" \
	nl send "$SCRATCH/issue.md"
check "host localhost: all 20 messages came over TLS" test "$(tls_sent)" = 20
clean "host localhost"
again
start_smtpd --tls "$SCRATCH/other.crt" "$SCRATCH/other.key"
conf_smtp "tls = required" "ca_file = $SCRATCH/other.crt"
refused "host 127.0.0.1, a certificate with IP:127.0.0.2 only" \
	"certificate does not name 127\.0\.0\.1 \(its names: IP:127\.0\.0\.2\)" \
	"that it does not name 127.0.0.1, and its names"
sed -i 's/^host = 127.0.0.1$/host = localhost/' "$CONF"
refused "host localhost, a certificate with IP:127.0.0.2 only" \
	"certificate does not name localhost \(its names: IP:127\.0\.0\.2\)" \
	"that it does not name localhost, and its names"
again
start_smtpd --tls "$SCRATCH/tls.crt" "$SCRATCH/tls.key"
conf_smtp "tls = required"
expect_out 1 "certificate did not verify: self-signed certificate" \
	"tls = required, a certificate nobody vouches for: exit 1 with OpenSSL's reason" nl send "$SCRATCH/issue.md"
check "unverified: said once, with no 'connection ended early' or 'reconnecting'" \
	test "$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -c -i -E 'certificate|ended early|reconnect')" = 1
check "tls = required, unverified: nothing sent, nothing lost" \
	test "$(nmail) $(sqlite3 "$DB" "SELECT count(*) FROM delivery WHERE state = 'pending'")" = "0 20"
not_again "tls = required, unverified"
conf_smtp "tls = opportunistic"
expect_rc 0 "tls = opportunistic with a self-signed certificate: exit 0" nl send "$SCRATCH/issue.md"
check "tls = opportunistic: encrypted all the same" test "$(tls_sent)" = 20
clean "tls = opportunistic"
again
start_smtpd
conf_smtp "tls = required"
expect_out 1 "STARTTLS" "tls = required, a server without STARTTLS: exit 1 naming it" nl send "$SCRATCH/issue.md"
check "no STARTTLS: nothing sent" test "$(nmail)" = 0
not_again "tls = required, no STARTTLS"
conf_smtp "tls = opportunistic"
expect_rc 0 "tls = opportunistic, a server without STARTTLS: sent in plain" nl send "$SCRATCH/issue.md"
check "opportunistic, plain: 20 messages" test "$(nmail)" = 20

# --- SMTP AUTH ---
again
start_smtpd --auth "newsletter:s3cret pass"
printf 's3cret pass\n' >"$SCRATCH/smtp.pw"
chmod 600 "$SCRATCH/smtp.pw"
conf_smtp "username = newsletter" "password_file = $SCRATCH/smtp.pw"
expect_rc 0 "AUTH with the password file: exit 0" nl send "$SCRATCH/issue.md"
check "AUTH: 20 messages accepted" test "$(nmail)" = 20
again
start_smtpd --auth "newsletter:s3cret pass"
conf_smtp "username = newsletter" "password_file = $SCRATCH/smtp.pw"
printf 'wrong\n' >"$SCRATCH/smtp.pw"
expect_rc 1 "AUTH with a wrong password: exit 1" nl send "$SCRATCH/issue.md"
check "wrong password: nothing sent" test "$(nmail)" = 0

# --- DKIM ---
again
openssl genrsa -out "$SCRATCH/dkim.key" 2048 >/dev/null 2>&1
chmod 600 "$SCRATCH/dkim.key"
openssl rsa -in "$SCRATCH/dkim.key" -pubout -out "$SCRATCH/dkim.pub" >/dev/null 2>&1
start_smtpd
conf_smtp "" "[dkim]" "domain = example.org" "selector = news" "key_file = $SCRATCH/dkim.key"
expect_rc 0 "DKIM signing: exit 0" nl send "$SCRATCH/issue.md"
if checked "$MAILDIR" --dkim "$SCRATCH/dkim.pub" news example.org; then
	pass "DKIM: python3-dkim verifies every signature (From, Subject, Date, List-Unsubscribe, List-Unsubscribe-Post signed)"
else
	fail "DKIM: check_mail" "$CHK"
fi
check "DKIM: 20 verified" test "$(cval 'd["dkim_verified"]')" = 20
again
nl send "$SCRATCH/issue.md" --preview "$SCRATCH/pv" >/dev/null
f=$(ls "$SCRATCH/pv"/*.eml | head -n 1)
sed -i 's/^Subject: .*/Subject: changed/' "$f"
check "DKIM: a changed subject no longer verifies" $PY -c '
import dkim, sys
pem = open(sys.argv[2]).read()
rec = ("v=DKIM1; k=rsa; p=" + "".join(l for l in pem.splitlines() if "-----" not in l)).encode()
sys.exit(1 if dkim.verify(open(sys.argv[1], "rb").read().replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n"), dnsfunc=lambda n, timeout=5: rec) else 0)' "$f" "$SCRATCH/dkim.pub"
printf -- '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n' >"$SCRATCH/bad.key"
chmod 600 "$SCRATCH/bad.key"
conf_smtp "" "[dkim]" "domain = example.org" "selector = news" "key_file = $SCRATCH/bad.key"
expect_out 2 "cannot sign" "DKIM: a key that cannot sign is refused before anything is sent" nl send "$SCRATCH/issue.md"
conf_smtp "" "[dkim]" "domain = example.org" "selector = news" "key_file = $SCRATCH/dkim.key"
chmod 644 "$SCRATCH/dkim.key"
expect_out 2 "readable by others" "DKIM: a key file others can read is refused" nl send "$SCRATCH/issue.md" --dry-run

finish
