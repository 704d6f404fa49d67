#!/usr/bin/env bash
# tests/e2e/flow.sh - the parts together, as a list lives: buyers enrolled,
# an issue sent over a real SMTP server (aiosmtpd on 127.0.0.1), the links
# in the received messages used against a running 'newsletter serve', and
# the signed return path of a message used by a bounce. Every token is
# taken from mail as it arrived, never made by the test.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../tools/send_lib.sh"

N=40
WPORT=$(free_port)
start_smtpd
flow_conf() {
	write_conf "from = Kurs og Varer <news@example.org>" "language = nb" \
		"[smtp]" "host = 127.0.0.1" "port = $PORT" "connections = 2" "" \
		"[bounce]" "domain = bounce.example.org" "" \
		"[web]" "listen = 127.0.0.1:$WPORT"
	sed -i "s|^base_url = .*|base_url = http://127.0.0.1:$WPORT|" "$CONF"
}
flow_conf
nl init >/dev/null 2>&1
for i in $(seq $N); do
	printf 'buyer%02d@example.no,Kjøpar %d,A-%d,2026-11-0%d\n' "$i" "$i" "$i" $((i % 9 + 1))
done | { echo "email,name,order,date"; cat; } >"$SCRATCH/buyers.csv"
expect_rc 0 "flow: $N buyers imported" nl import "$SCRATCH/buyers.csv"

cat >"$SCRATCH/issue.md" <<'MD'
subject: Nytt frå oss: kurs i Ålesund
id: flow-1

Hei {{name}}, her er nytt om **kursa** våre.
MD
expect_rc 0 "flow: the issue is sent" nl send "$SCRATCH/issue.md"
check "flow: one message per subscriber arrived" test "$(nmail)" -eq $N

# The message to buyer07, and the links it carries.
msg=$(grep -l '^To: .*buyer07@example.no' "$MAILDIR"/*.eml | head -1)
check "flow: buyer07's message is found" test -n "$msg"
url=$(python3 - "$msg" <<'PY'
import email, re, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
print(re.search(r"<(http[^>]+)>", str(m["List-Unsubscribe"])).group(1))
PY
)
check "flow: List-Unsubscribe points at the configured pages" \
	bash -c "[[ '$url' == http://127.0.0.1:$WPORT/u/* ]]"

# serve, started as the pages' own command.
$NEWSLETTER_WRAP "$NEWSLETTER" --config "$CONF" serve >"$SCRATCH/serve.log" 2>&1 &
SRV=$!
track "$SRV"
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$WPORT/healthz" && break; sleep 0.05; done

page=$(curl -s -H 'Accept-Language: nb-NO' "$url")
check "flow: the page of the mailed link names buyer07 masked" \
	bash -c "printf '%s' \"\$1\" | grep -q 'b\*\*\*@example.no'" _ "$page"
check "flow: the page is in Bokmål" bash -c "printf '%s' \"\$1\" | grep -q 'lang=\"nb\"'" _ "$page"
check "flow: the GET changed nothing" test "$(count)" -eq $N
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
	-H 'Content-Type: application/x-www-form-urlencoded' \
	--data 'List-Unsubscribe=One-Click' "$url")
check "flow: a one-click POST to the mailed link answers 200" test "$code" = 200
check "flow: buyer07 is gone" test "$(sub_field buyer07@example.no id)" = none
check "flow: only buyer07 is gone" test "$(count)" -eq $((N - 1))
check "flow: buyer07 is suppressed" test "$(suppressed)" -eq 1
expect_out 0 "" "flow: a new purchase by buyer07 does not enrol them again" \
	nl enroll buyer07@example.no --order A-99
check "flow: still gone after the purchase" test "$(sub_field buyer07@example.no id)" = none

# Another subscriber's link works for that subscriber alone.
msg2=$(grep -l '^To: .*buyer11@example.no' "$MAILDIR"/*.eml | head -1)
url2=$(grep -o 'http://127.0.0.1:[0-9]*/u/[A-Za-z0-9_.-]*' "$msg2" | head -1)
curl -s -o /dev/null -X POST "$url2"
check "flow: the link in buyer11's message unsubscribes buyer11" \
	test "$(sub_field buyer11@example.no id)" = none
check "flow: and nobody else" test "$(count)" -eq $((N - 2))
kill -TERM "$SRV"; wait "$SRV" 2>/dev/null

# A second send of the same issue: nothing new, and nothing to the gone.
before=$(nmail)
expect_rc 0 "flow: the second run of the issue succeeds" nl send "$SCRATCH/issue.md"
check "flow: the second run sent nothing" test "$(nmail)" -eq "$before"

# A new issue reaches the remaining subscribers only.
sed -i 's/^id: flow-1/id: flow-2/' "$SCRATCH/issue.md"
rm -f "$MAILDIR"/*.eml
expect_rc 0 "flow: the next issue is sent" nl send "$SCRATCH/issue.md"
check "flow: the next issue reached the $((N - 2)) left" test "$(nmail)" -eq $((N - 2))
check "flow: nothing went to buyer07 or buyer11" \
	bash -c "! grep -l -E '^To: .*buyer(07|11)@' \"$MAILDIR\"/*.eml"

# The mailer's return path, used by a bounce: the DSN an MTA would send back
# to the envelope sender of buyer20's message deletes buyer20 alone.
from=$(python3 - "$MAILDIR/log.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if any(t.lower() == "buyer20@example.no" for t in r["to"]):
        print(r["from"])
PY
)
from=$(printf '%s\n' "$from" | tail -1)
check "flow: the envelope sender is a VERP address" \
	bash -c "[[ '$from' == bounces+*@bounce.example.org ]]"
dsn() {	# dsn RECIPIENT STATUS: to the return path (lib.sh)
	dsn_mail "$from" "$1" "$2" "550 $2 <$1>: Recipient address rejected: User unknown"
}
dsn buyer20@example.no 5.1.1 >"$SCRATCH/dsn.eml"
expect_rc 0 "flow: the DSN to the return path is handled" \
	env ORIGINAL_RECIPIENT="$from" "$NEWSLETTER" --config "$CONF" bounce "$SCRATCH/dsn.eml"
check "flow: the bounced subscriber is gone" test "$(sub_field buyer20@example.no id)" = none
check "flow: nobody else is gone" test "$(count)" -eq $((N - 3))
check "flow: the audit log keeps the evidence" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE detail LIKE '%5.1.1%'")" -ge 1
# The same return path naming another address changes nothing else.
dsn buyer21@example.no 5.1.1 >"$SCRATCH/dsn2.eml"
env ORIGINAL_RECIPIENT="$from" "$NEWSLETTER" --config "$CONF" bounce "$SCRATCH/dsn2.eml" >/dev/null 2>&1
check "flow: a DSN naming someone else on buyer20's return path deletes no one" \
	test "$(sub_field buyer21@example.no id)" != none
finish
