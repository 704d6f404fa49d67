#!/usr/bin/env bash
# tests/e2e/signup.sh - double opt-in over real HTTP (curl) with a real SMTP
# server on 127.0.0.1 (tests/tools/smtpd.py) capturing the confirmation
# mails, which Python's email package reads (policy.default).
#
# The whole flow: the form, the mail (multipart text + HTML,
# Auto-Submitted, the link), GETs of the link that enrol no one, the POST
# that enrols with basis consent and its evidence in 'export', a repeat
# POST, forged and changed links; known, unknown, suppressed and pending
# addresses answered byte for byte alike; the resend limit; the honeypot;
# the per-client limit; a restart of 'serve' while the relay is down (the
# mail still arrives); an expired link, and the pending address gone from
# the database files' bytes; the data page and its JSON download; the
# admin API's POST /api/v1/signups. Routes answer 404 while [signup] is off.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/web_lib.bash"

# subscribe ADDRESS [CURL ARGS...]: POST /subscribe as the form does.
subscribe() {
	local a=$1
	shift
	http POST "$BASE/subscribe" --data-urlencode "email=$a" --data-urlencode "name=" "$@"
}
pending() { sqlite3 "$DB" "SELECT count(*) FROM signup WHERE email IS NOT NULL"; }
db_gone() { ! bytes_contain "$1" "$DB" "$DB-wal" "$DB-shm"; }

mkdir -p "$MAILDIR"
start_smtpd 1

# --- off by default: the routes do not exist ---
signup_conf false 1000
nl init >/dev/null 2>&1 || fail "init"
start_server || finish
http GET "$BASE/subscribe"
check "[signup] enabled = false: GET /subscribe is 404" test "$CODE" = 404
http POST "$BASE/subscribe" --data "email=a@example.no"
check "[signup] enabled = false: POST /subscribe is 404, nothing recorded" \
	test "$CODE:$(pending)" = 404:0
http POST "$ADMIN/api/v1/signups" -H "Authorization: Bearer $ADMIN_TOKEN" --data '{"email":"a@example.no"}'
check "[signup] enabled = false: POST /api/v1/signups is 404" test "$CODE" = 404
stop_server

# --- the form ---
signup_conf true 1000
start_server || finish
http GET "$BASE/subscribe" -H "Accept-Language: en"
expect_http 200 'method="post"' "GET /subscribe: 200, a form that posts"
check "the form has an email field, an optional name, and the consent text before the button" \
	$PY -c 'import re,sys; b=sys.argv[1]
assert re.search(r"<input id=\"email\" name=\"email\" type=\"email\" required", b)
assert re.search(r"name=\"name\"", b) and "name=\"name\" type=\"text\"" in b and "required" not in b.split("name=\"name\"")[1].split(">")[0]
assert b.index(sys.argv[2]) < b.index("<button")' "$BODY" "$CONSENT_EN"
check "the honeypot is hidden from eyes, screen readers and the tab order" \
	$PY -c 'import re,sys; b=sys.argv[1]
m = re.search(r"<div class=\"hp\" hidden aria-hidden=\"true\">.*?</div>", b)
assert m and "tabindex=\"-1\"" in m.group(0) and "autocomplete=\"off\"" in m.group(0)' "$BODY"
check "the form links nowhere and loads nothing" \
	bash -c '! grep -Eq "<a |<script|<img|<link|src=" <<<"$1"' _ "$BODY"
check "CSP, Referrer-Policy, no cookie" \
	bash -c '[ -n "$1" ] && [ "$2" = no-referrer ] && [ -z "$3" ]' _ \
	"$(header content-security-policy)" "$(header referrer-policy)" "$(header set-cookie)"
http GET "$BASE/subscribe" -H "Accept-Language: nb-NO,nb;q=0.9"
check "in Bokmål for a Norwegian reader, with the Norwegian consent text" \
	bash -c 'grep -q "lang=\"nb\"" <<<"$1" && grep -qF "$2" <<<"$1" && grep -q "Meld meg på" <<<"$1"' _ "$BODY" "$CONSENT_NB"

# --- a request, and its mail ---
A=kari.signup@example.no
subscribe "$A" -H "Accept-Language: nb"
expect_http 200 'Sjekk innboksen' "POST /subscribe: 200, 'check your mailbox'"
PAGE_NEW=$BODY
check "nothing is enrolled yet" test "$(count)" = 0
check "the pending signup is recorded" test "$(pending)" = 1
if wait_mail "$A"; then pass "the confirmation mail arrives within 15 s"; else fail "the confirmation mail arrives within 15 s" "$(tail -5 "$LOG")"; fi
read_mail "$A"
check "the mail is multipart/alternative: text and HTML" \
	test "$(mval type)|$(mval parts)" = 'multipart/alternative|["text/html", "text/plain"]'
check "the mail says Auto-Submitted: auto-generated" test "$(mval auto)" = auto-generated
check "the mail carries a /c/ link in both parts, and no tracking" \
	bash -c '[ -n "$1" ] && [ "$1" = "$2" ] && [ "$3" = false ]' _ "$(mval token)" "$(mval html_token)" "$(mval tracking)"
TOK=$(mval token)

# --- GETs change nothing ---
for _ in $(seq 20); do
	http GET "$BASE/c/$TOK"
	[ "$CODE" = 200 ] || break
done
expect_http 200 'method="post"' "GET /c/TOKEN: 200, a page with one button"
check "20 GETs of the link enrol no one" test "$(count):$(pending)" = 0:1
http HEAD "$BASE/c/$TOK" -I
check "HEAD /c/TOKEN: 200, no one enrolled" test "$CODE:$(count)" = 200:0

# --- the POST enrols ---
http POST "$BASE/c/$TOK" -H "Accept-Language: en"
expect_http 200 'You are subscribed' "POST /c/TOKEN: 200, subscribed"
DONE=$BODY
check "$A is a subscriber with basis consent" test "$(sub_field "$A" basis)" = consent
check "the page carries their own unsubscribe link and data button" \
	bash -c 'grep -Eq "href=\"\.\./u/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\"" <<<"$1" && grep -Eq "action=\"\.\./a/" <<<"$1"' _ "$DONE"
UTOK=$(sed -n 's|.*href="\.\./u/\([^"]*\)".*|\1|p' <<<"$DONE" | head -1)
ATOK=$(sed -n 's|.*action="\.\./a/\([^"]*\)".*|\1|p' <<<"$DONE" | head -1)
check "that unsubscribe link is theirs (nl link gives the same page)" \
	test "$UTOK" = "$(link_path "$A" | sed 's|^/u/||')"
run_cmd nl export "$A"
check "export shows the consent evidence: requested, confirmed, channel web-form, the text's hash" \
	$PY -c 'import json,sys; d=json.loads(sys.argv[1]); c=d["consent"]
assert c["channel"] == "web-form" and c["requested"] and c["confirmed"] and len(c["consent_text_hash"]) >= 32
assert c["consent_text"] == sys.argv[2]
assert d["subscriber"]["legal_basis"]["value"] == "consent"' "$OUT" "$CONSENT_NB"
http POST "$BASE/c/$TOK"
expect_http 200 'You are subscribed' "a repeat POST: 200"
check "a repeat POST changes nothing more: one subscriber" test "$(count)" = 1
http GET "$BASE/c/$TOK"
expect_http 200 'method="post"' "GET of a confirmed link: still the button page (its POST answers 200)"

# --- links that are not valid ---
BAD=${TOK%?}$([ "${TOK: -1}" = A ] && echo B || echo A)
http POST "$BASE/c/$BAD"
expect_http 400 'subscribe' "a forged link (MAC changed): 400, saying to sign up again"
http GET "$BASE/c/$BAD"
check "GET of a forged link: 400" test "$CODE" = 400
http POST "$BASE/c/$UTOK"
expect_http 400 'not valid' "an unsubscribe token at /c/ (purpose changed): 400"
http POST "$BASE/c/x$TOK"
check "a changed link: 400" test "$CODE" = 400
check "none of them enrolled anyone" test "$(count)" = 1

# --- the data page ---
http POST "$BASE/a/$ATOK" -H "Accept-Language: en"
expect_http 200 '<table>' "POST /a/TOKEN: 200, an HTML page with tables"
check "the data page shows the address, the consent text's channel, purposes and bases" \
	bash -c 'grep -qF "$2" <<<"$1" && grep -q "web-form" <<<"$1" && grep -q "What it is for" <<<"$1" && grep -q "GDPR art. 6(1)(a), consent" <<<"$1"' _ "$BODY" "$A"
check "the data page has a button for the JSON" grep -q 'name="format" value="json"' <<<"$BODY"
http POST "$BASE/a/$ATOK" -H "Accept-Language: nb"
check "the data page in Bokmål" \
	bash -c 'grep -q "lang=\"nb\"" <<<"$1" && grep -q "Hva den brukes til" <<<"$1" && grep -q "samtykke" <<<"$1"' _ "$BODY"
http POST "$BASE/a/$ATOK" --data "format=json"
check "format=json: a JSON download (attachment), no address in its name" \
	bash -c '[[ "$1" == attachment\;\ filename=\"newsletter-data-*.json\" ]] && [[ "$1" != *@* ]] && [ "$2" = application/json ]' _ \
	"$(header content-disposition)" "$(header content-type)"
check "the download is the export" \
	$PY -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["subscriber"]["email"]["value"] == sys.argv[2]' "$BODY" "$A"
http POST "$BASE/a/$ATOK" -F "format=json"
check "format=json as multipart/form-data too" bash -c '[[ "$1" == attachment* ]]' _ "$(header content-disposition)"
http GET "$BASE/a/$ATOK"
check "GET /a/TOKEN still reveals nothing: 405" test "$CODE" = 405

# --- no enumeration: the same bytes whatever the address's state ---
SUPP=supp.signup@example.no
nl enroll "$SUPP" >/dev/null 2>&1 && nl unsubscribe "$SUPP" >/dev/null 2>&1
PEND=pend.signup@example.no
subscribe "$PEND" -H "Accept-Language: nb"
for who in "$A" "$SUPP" "$PEND" new.signup@example.no; do
	subscribe "$who" -H "Accept-Language: nb"
	if [ "$CODE" = 200 ] && [ "$BODY" = "$PAGE_NEW" ]; then
		pass "same status and bytes for ${who%%@*} (subscribed / suppressed / pending / unknown)"
	else
		fail "same status and bytes for ${who%%@*}" "status $CODE" "$(diff <(echo "$PAGE_NEW") <(echo "$BODY") | head -5)"
	fi
done
check "the suppressed address is still suppressed and not enrolled" \
	test "$(sub_field "$SUPP" id)" = none
# Comparable time: the same work for every state. Samples taken in turn,
# so that the load of this shared machine weighs on all three alike, and a
# loose bound: skipping the store for a known address would answer some
# twenty times faster than a group commit does.
for _ in $(seq 11); do
	for who in "$A" unknown.timing@example.no "$SUPP"; do
		printf '%s %s\n' "$who" "$(curl -s -o /dev/null -w '%{time_total}' -H "Accept-Language: nb" \
			--data-urlencode "email=$who" "$BASE/subscribe")"
	done
done >"$SCRATCH/times"
read -r t_known t_unknown t_supp < <($PY - "$SCRATCH/times" "$A" unknown.timing@example.no "$SUPP" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    a, s = line.split()
    t.setdefault(a, []).append(float(s))
print(" ".join("%.6f" % statistics.median(t[a]) for a in sys.argv[2:]))
PY
)
echo "# median time of 11 requests: subscribed $t_known s, unknown $t_unknown s, suppressed $t_supp s"
check "comparable time: the medians for subscribed, unknown and suppressed are within 5x of each other" \
	$PY -c 'import sys; t=[float(x) for x in sys.argv[1:]]; assert max(t) < 5 * min(t), t' "$t_known" "$t_unknown" "$t_supp"

# --- one mail per resend_hours ---
wait_mail "$PEND" 1 || true
wait_mail new.signup@example.no 1 || true
sleep 1.5
check "two requests for one address: one mail" test "$(mails_to "$PEND")" = 1

# --- the honeypot ---
HP=honeypot.zq@example.no
subscribe "$HP" -H "Accept-Language: nb" --data-urlencode "website=http://spam.example"
check "honeypot filled: the same 200 page" test "$CODE" = 200 -a "$BODY" = "$PAGE_NEW"
sleep 1.5
check "honeypot filled: no mail" test "$(mails_to "$HP")" = 0
check "honeypot filled: nothing in the database files" db_gone "$HP"

# --- bad input ---
subscribe "not-an-address" -H "Accept-Language: en"
expect_http 400 'role="alert"' "an invalid address: 400 with the reason"
check "the 400 page has the form again, with what was typed" \
	grep -q 'value="not-an-address"' <<<"$BODY"
check "the reason in English: an address has an @" grep -q 'An e-mail address has an @' <<<"$BODY"
subscribe "not-an-address" -H "Accept-Language: nb"
expect_http 400 'En e-postadresse har @ mellom navnet og domenet' "an invalid address, nb: the reason in Bokmål"
check "nb: not lib's English sentence" bash -c '! grep -q "has no" <<<"$1"' _ "$BODY"
# reason of lib (kept for the CLI) -> the sentence each language gets
while IFS='|' read -r addr en nb; do
	subscribe "$addr" -H "Accept-Language: en"
	expect_http 400 "$en" "'$addr', en: '$en'"
	subscribe "$addr" -H "Accept-Language: nb"
	expect_http 400 "$nb" "'$addr', nb: '$nb'"
	check "'$addr', nb: no English reason" bash -c '! grep -Eiq "local part|domain|the address" <<<"$1"' _ "$BODY"
done <<'EOF2'
kari@localhost|not a valid domain|Delen etter @ er ikke et gyldig domene
kari..n@example.no|The part before the @|Delen før @ har tegn
a@b@example.no|only one @|bare én @
Kari <kari@example.no>|without a name or angle brackets|uten navn eller vinkelparenteser
EOF2
long=$(printf 'x%.0s' $(seq 250))@example.no
subscribe "$long" -H "Accept-Language: nb"
expect_http 400 'E-postadressen er for lang' "a too long address, nb"
http POST "$BASE/subscribe" -H "Accept-Language: nb" --data-urlencode "email=ok.name@example.no" \
	--data-urlencode "name=$(printf 'bad\001name')"
expect_http 400 'Navnet har tegn som ikke kan brukes' "a name with a control character, nb"
http POST "$BASE/subscribe" -H "Accept-Language: nb" --data "email="
expect_http 400 'Skriv inn e-postadressen din' "an empty address, nb"
http POST "$BASE/subscribe" -F "email=multi.part@example.no" -F "name=Multi Part"
check "multipart/form-data: 200" test "$CODE" = 200
check "multipart/form-data: recorded (a mail follows)" wait_mail multi.part@example.no
# A part without a name (found by tests/fuzz/fuzz_form): no field, no crash.
printf -- '--XyZ\r\nContent-Disposition: form-data\r\n\r\nnameless\r\n--XyZ\r\nContent-Disposition: form-data; name="email"\r\n\r\nno.name.part@example.no\r\n--XyZ--\r\n' >"$SCRATCH/noname"
http POST "$BASE/subscribe" -H "Content-Type: multipart/form-data; boundary=XyZ" --data-binary "@$SCRATCH/noname"
check "multipart with a part that has no name: 200, the named field read" test "$CODE" = 200
http GET "$BASE/subscribe"
check "... and serve still answers" test "$CODE" = 200
http POST "$BASE/subscribe" -H "Content-Type: text/plain" --data "email=x@example.no"
check "a body that is no form: 400" test "$CODE" = 400
http POST "$BASE/subscribe" --data "email="
expect_http 400 'enter your e-mail' "an empty address: 400"

# --- the admin API ---
http POST "$ADMIN/api/v1/signups" -H "Authorization: Bearer $ADMIN_TOKEN" \
	--data '{"email":"api.signup@example.no","name":"Api Person"}'
expect_http 202 '"result": "pending"' "POST /api/v1/signups: 202"
check "the API signup's mail arrives" wait_mail api.signup@example.no
check "the API signup enrols no one by itself" test "$(sub_field api.signup@example.no id)" = none
http POST "$ADMIN/api/v1/signups" -H "Authorization: Bearer $ADMIN_TOKEN" --data '{"email":"nope"}'
expect_http 400 '"error"' "POST /api/v1/signups with an invalid address: 400 with the reason"
http POST "$ADMIN/api/v1/signups" --data '{"email":"api2@example.no"}'
check "POST /api/v1/signups without the token: 401" test "$CODE" = 401
read_mail api.signup@example.no
http POST "$BASE/c/$(mval token)"
run_cmd nl export api.signup@example.no
check "confirmed from the API's mail: channel api in the evidence, the [list] language's text" \
	$PY -c 'import json,sys; c=json.loads(sys.argv[1])["consent"]; assert c["channel"] == "api" and c["consent_text"] == sys.argv[2]' "$OUT" "$CONSENT_EN"

# --- expiry: the link stops working and the address leaves the files ---
EX=zq-expiring-4711@example.no
subscribe "$EX"
wait_mail "$EX" || fail "the expiring signup's mail arrives"
read_mail "$EX"
EXTOK=$(mval token)
check "the pending address is in the database files before expiry" bytes_contain "$EX" "$DB" "$DB-wal" "$DB-shm"
# The test's clock: the link's end moves into the past.
sqlite3 -cmd ".timeout 5000" "$DB" "UPDATE signup SET expires = '2000-01-01T00:00:00Z' WHERE email = '$EX'"
http GET "$BASE/c/$EXTOK" -H "Accept-Language: en"
expect_http 400 'sign up again' "GET of an expired link (not yet deleted): 400, saying to sign up again"
check "that GET changed nothing: the expired row is still there" \
	test "$(sqlite3 -cmd ".timeout 5000" "$DB" "SELECT count(*) FROM signup WHERE email = '$EX'")" = 1
nl retention >/dev/null 2>"$SCRATCH/retention.err" || fail "retention" "$(cat "$SCRATCH/retention.err")"
http GET "$BASE/c/$EXTOK" -H "Accept-Language: nb"
expect_http 400 '/subscribe' "GET of a deleted signup's link, nb: 400, the expired page"
check "no button on the expired page" bash -c '! grep -q "<button" <<<"$1"' _ "$BODY"
http POST "$BASE/c/$EXTOK"
expect_http 400 'sign up again' "an expired link: 400, saying to sign up again"
check "the expired signup enrolled no one" test "$(sub_field "$EX" id)" = none
stop_server
check "the expired address is gone from the database files' bytes" db_gone "$EX"

# --- the per-client limit (in memory: a restart starts it afresh) ---
# With max_pending = 1 (already passed): the same 200 page, nothing recorded.
signup_conf true 3 "max_pending = 1"
start_server || finish
codes=
for i in 1 2 3 4; do
	subscribe "limit$i@example.no" -H "Accept-Language: nb"
	codes="$codes $CODE"
	[ "$i" = 1 ] && FULL_BODY=$BODY
done
check "max_pending reached: the same 200 page" test "$FULL_BODY" = "$PAGE_NEW"
check "max_pending reached: nothing recorded" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM signup WHERE email LIKE 'limit%'")" = 0
check "max_pending reached: a warning in the log, without the address" \
	bash -c 'grep -q "max_pending" "$1" && ! grep -q "limit1@" "$1"' _ "$LOG"
check "client_hourly = 3: three 200s, then 429 (got$codes)" test "$codes" = " 200 200 200 429"
check "the 429 page says to try later, with Retry-After" \
	bash -c 'grep -Eq "try again|Prøv igjen" <<<"$1" && [ "$2" = 3600 ]' _ "$BODY" "$(header retry-after)"
check "the limited request recorded nothing" test "$(sqlite3 "$DB" "SELECT count(*) FROM signup WHERE email = 'limit4@example.no'")" = 0
stop_server

# --- a restart of serve while the relay is down: the mail still arrives ---
signup_conf true 1000
stop_smtpd
start_server || finish
R=relay.down@example.no
subscribe "$R"
check "relay down: the request is answered 200" test "$CODE" = 200
sleep 2
check "relay down: the mail is still queued after a failed attempt" \
	test "$(sqlite3 -cmd ".timeout 5000" "$DB" "SELECT mail_due IS NOT NULL AND mail_sent IS NULL FROM signup WHERE email = '$R'")" = 1
stop_server
start_smtpd 2
# The test's clock: the back-off (a minute after the first failure) is over.
sqlite3 -cmd ".timeout 5000" "$DB" "UPDATE signup SET mail_due = '2000-01-01T00:00:00Z' WHERE email = '$R'"
start_server || finish
if wait_mail "$R" 1 30; then pass "after the restart and the relay's return, the mail arrives"; else
	fail "after the restart and the relay's return, the mail arrives (30 s)" "$(grep -i signup "$LOG" | tail -5)"
fi
stop_server

# --- privacy: the server's log names no address, no token ---
check "the server's log names no address" bash -c '! grep -Eq "@example\.no|signup@" "$1"' _ "$LOG"
check "the server's log holds no confirmation token" bash -c '[ -n "$2" ] && ! grep -qF "$2" "$1"' _ "$LOG" "$TOK"
stop_smtpd

finish
