#!/usr/bin/env bash
# tests/e2e/rectify.sh - after 'rectify OLD NEW' every link, return path and
# unsubscribe address mailed to OLD answers as for a subscriber who is gone:
# the page shows nothing of NEW, the data button exports nothing, a POST,
# a mailed unsubscribe and a bounce change nothing; a bounce that carries a
# current token but is about another address changes nothing either; links
# mailed afterwards work; and OLD is gone from the files' bytes, replies
# that quoted it included. Every token is taken from mail as it arrived
# over a real SMTP server (aiosmtpd), never made by the test.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../tools/send_lib.sh"

OLD=zq-recycled@example.no
NEW=zq-fresh@example.net
WPORT=$(free_port)
# The first RCPT for OLD is refused for policy with the address quoted, as
# many servers do: the failed delivery's reply then holds the old address.
start_smtpd --rcpt "^$OLD\$=550 5.7.1 <$OLD>: refused by policy, try later@once"
write_conf "from = Kurs og Varer <news@example.org>" \
	"[smtp]" "host = 127.0.0.1" "port = $PORT" "connections = 1" "" \
	"[bounce]" "domain = bounce.example.org" "require_verp = true" "" \
	"[web]" "listen = 127.0.0.1:$WPORT"
sed -i "s|^base_url = .*|base_url = http://127.0.0.1:$WPORT|" "$CONF"
nl init >/dev/null 2>&1 || { fail "init"; finish; }
nl enroll "$OLD" --name "Kari Gjenbruk" --order K-1 >/dev/null
nl enroll other@example.no >/dev/null
ID=$(sub_field "$OLD" id)

issue() {	# issue ID: an issue file of that id
	printf 'subject: Nytt %s\nid: %s\n\nHei {{name}}.\n' "$1" "$1" >"$SCRATCH/$1.md"
	echo "$SCRATCH/$1.md"
}
# links_of ADDRESS: "URL MAILTO-TOKEN RETURN-PATH" of the newest message to ADDRESS.
links_of() {
	python3 - "$MAILDIR" "$1" <<'PY'
import email, json, os, re, sys
from email import policy
d, rcpt = sys.argv[1], sys.argv[2].lower()
last = None
for line in open(os.path.join(d, "log.jsonl")):
    r = json.loads(line)
    if rcpt in [t.lower() for t in r["to"]]:
        last = r
m = email.message_from_binary_file(open(os.path.join(d, "%d.eml" % last["n"]), "rb"), policy=policy.default)
lu = str(m["List-Unsubscribe"])
print(re.search(r"<(http[^>]+)>", lu).group(1), re.search(r"mailto:unsubscribe\+([^@]+)@", lu).group(1), last["from"])
PY
}

expect_rc 0 "the first issue is sent (the old address refused)" nl send "$(issue r-1)"
check "the reply quoting the old address is recorded" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM delivery WHERE subscriber_id = $ID AND reply LIKE '%$OLD%'")" = 1
expect_rc 0 "the second issue is sent" nl send "$(issue r-2)"
read -r OLD_URL OLD_MAILTO OLD_FROM <<<"$(links_of "$OLD")"
check "the old address's message carries a link, a mailto and a return path" \
	test -n "$OLD_URL" -a -n "$OLD_MAILTO" -a -n "$OLD_FROM"

$NEWSLETTER_WRAP "$NEWSLETTER" --config "$CONF" serve >"$SCRATCH/serve.log" 2>&1 &
SRV=$!
track "$SRV"
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$WPORT/healthz" && break; sleep 0.05; done
page=$(curl -s "$OLD_URL")
ACCESS=$(printf '%s' "$page" | grep -o '/a/[A-Za-z0-9_.-]*' | head -1)
check "before: the old link's page shows the address masked" bash -c "grep -q 'z\*\*\*@example.no' <<<\"\$1\"" _ "$page"
check "before: the page carries a data access button" test -n "$ACCESS"

expect_out 0 "corrected" "rectify OLD NEW" nl rectify "$OLD" "$NEW"
check "the subscriber keeps their id" test "$(sub_field "$NEW" id)" = "$ID"

# The old link: as for a subscriber who is gone; nothing of the new address.
page=$(curl -s -w '\n%{http_code}' "$OLD_URL")
check "after: GET of the old link answers 200 'subscription has ended'" \
	bash -c "[[ \"\$1\" == *'has ended'* && \"\$1\" == *200 ]]" _ "$page"
check "after: the old link's page shows nothing of the new address" \
	bash -c "! grep -q -e 'z\*\*\*@example.net' -e '/a/' <<<\"\$1\"" _ "$page"
data=$(curl -s -X POST "http://127.0.0.1:$WPORT$ACCESS")
check "after: the old data access button exports nothing" \
	bash -c "! grep -q -i -e 'fresh' -e 'Gjenbruk' -e 'K-1' <<<\"\$1\" && grep -q -i 'nothing held' <<<\"\$1\"" _ "$data"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data 'List-Unsubscribe=One-Click' "$OLD_URL")
check "after: a one-click POST to the old link answers 200" test "$code" = 200
check "after: ... and the subscriber is still there" test "$(sub_field "$NEW" id)" = "$ID"

# A mailed unsubscribe to the old unsubscribe+ address.
printf 'From: %s\nTo: unsubscribe+%s@bounce.example.org\nSubject: unsubscribe\n\n' "$OLD" "$OLD_MAILTO" \
	>"$SCRATCH/unsub.eml"
expect_out 0 "no longer has" "after: a mail to the old unsubscribe address is handled and explained" \
	nl bounce --explain "$SCRATCH/unsub.eml"
check "after: ... and the subscriber is still there" test "$(sub_field "$NEW" id)" = "$ID"

dsn() {	# dsn RETURN-PATH RECIPIENT: a DSN of a hard bounce (lib.sh)
	dsn_mail "$1" "$2" 5.1.1 "550 5.1.1 <$2>: Recipient address rejected: User unknown"
}
dsn "$OLD_FROM" "$OLD" >"$SCRATCH/old.eml"
expect_out 0 "no longer has" "after: a bounce to the old return path is handled and explained" \
	env ORIGINAL_RECIPIENT="$OLD_FROM" "$NEWSLETTER" --config "$CONF" bounce --explain "$SCRATCH/old.eml"
check "after: ... and the subscriber is still there" test "$(sub_field "$NEW" id)" = "$ID"

# Mail sent after the correction: its links work, for the new address.
expect_rc 0 "the third issue is sent to the new address" nl send "$(issue r-3)"
read -r NEW_URL NEW_MAILTO NEW_FROM <<<"$(links_of "$NEW")"
page=$(curl -s "$NEW_URL")
check "the new link's page shows the new address masked" bash -c "grep -q 'z\*\*\*@example.net' <<<\"\$1\"" _ "$page"
# A bounce with the current return path but about the old address.
dsn "$NEW_FROM" "$OLD" >"$SCRATCH/mixed.eml"
expect_out 0 "another address" "a bounce with a current token about the old address: nothing, and why" \
	env ORIGINAL_RECIPIENT="$NEW_FROM" "$NEWSLETTER" --config "$CONF" bounce --explain "$SCRATCH/mixed.eml"
check "... and the subscriber is still there" test "$(sub_field "$NEW" id)" = "$ID"

# The files: the old address is nowhere, the reply keeps its words.
run_cmd nl export "$NEW"
check "the export shows no trace of the old address" bash -c "! grep -q -i 'recycled' <<<\"\$1\"" _ "$OUT"
check "the export keeps the reply's words" bash -c "grep -q 'refused by policy' <<<\"\$1\"" _ "$OUT"
kill -TERM "$SRV"; wait "$SRV" 2>/dev/null
check "the old address is gone from the database files" bash -c '! LC_ALL=C grep -a -i -q -F recycled "$1"*' _ "$DB"
check "nor in the server's log" bash -c '! grep -a -i -q -e recycled -e zq-fresh "$1"' _ "$SCRATCH/serve.log"

# The bounce that is about the subscriber's current address still acts.
dsn "$NEW_FROM" "$NEW" >"$SCRATCH/new.eml"
expect_rc 0 "a bounce about the current address is handled" \
	env ORIGINAL_RECIPIENT="$NEW_FROM" "$NEWSLETTER" --config "$CONF" bounce "$SCRATCH/new.eml"
check "... and deletes the subscriber" test "$(sub_field "$NEW" id)" = none
check "the other subscriber is untouched" test "$(sub_field other@example.no id)" != none
finish
