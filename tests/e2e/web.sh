#!/usr/bin/env bash
# tests/e2e/web.sh - 'newsletter serve': the unsubscribe pages and RFC 8058
# one-click POST against the running binary, with curl.
#
# A GET (and 100 of them, and HEAD) changes nothing; a POST unsubscribes
# whatever its body (urlencoded one-click, multipart one-click, none, the
# page's button); a repeated POST and an old link say "you are
# unsubscribed"; every one-byte change of a valid token gets 400 and
# changes nothing; pages come in Bokmål and English by Accept-Language with
# <html lang>, the security headers, no cookie and nothing from other hosts;
# the data button gives the export; the log names routes, never an address
# or a token; the address leaves the database files; SIGTERM stops cleanly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/web_lib.bash"

web_conf nb
nl init >/dev/null 2>&1 || fail "init"
for who in kari ola per siri lise nils anne tore eva; do
	nl enroll "$who.unique-42@example.no" --name "Zqname $who" --order "A-$who" >/dev/null
done
KARI=kari.unique-42@example.no
start_server || finish
KP=$(link_path $KARI)
check "the link is /u/ and a token of ${#KP} characters" test "${KP:0:3}" = /u/ -a ${#KP} -gt 40

# --- GET: the confirmation page, which changes nothing ---
http GET "$BASE$KP" -H 'Accept-Language: nb-NO,nb;q=0.9,en;q=0.5'
expect_http 200 'Meld meg av' "GET with Accept-Language nb-NO: 200, the Bokmål page"
check "nb: <html lang=\"nb\">" grep -q '<html lang="nb">' <<<"$BODY"
check "nb: the masked address k***@example.no is shown" grep -qF 'k***@example.no' <<<"$BODY"
check "nb: the list's name is shown, escaped" grep -qF 'Kurs &amp; Varer AS' <<<"$BODY"
check "the full address is not on the page" bash -c '! grep -qi "kari.unique" <<<"$1"' _ "$BODY"
check "the page has one form that posts to itself (no action)" \
	test "$(grep -c '<form method="post">' <<<"$BODY")" = 1
check "the page has a data access button posting elsewhere" grep -q 'action="../a/' <<<"$BODY"
check "Vary: Accept-Language (the page is chosen by it)" test "$(header vary)" = Accept-Language
http GET "$BASE$KP" -H 'Accept-Language: en'
expect_http 200 'Unsubscribe' "GET with Accept-Language en: 200, the English page"
check "en: <html lang=\"en\">" grep -q '<html lang="en">' <<<"$BODY"
check "en: the data button reads 'See the data you hold about me'" grep -q 'See the data you hold about me' <<<"$BODY"
http GET "$BASE$KP"
check "no Accept-Language: the [list] language (nb)" grep -q '<html lang="nb">' <<<"$BODY"
http GET "$BASE$KP" -H 'Accept-Language: de-DE, en;q=0.3, nb;q=0.8'
check "Accept-Language by q value: nb (0.8) over en (0.3)" grep -q '<html lang="nb">' <<<"$BODY"
http GET "$BASE$KP" -H 'Accept-Language: fr, en-GB;q=0.9'
check "Accept-Language en-GB: English" grep -q '<html lang="en">' <<<"$BODY"

# --- headers: nothing from other hosts, no cookie, strict policy ---
http GET "$BASE$KP"
CSP=$(header content-security-policy)
check "Content-Security-Policy starts with default-src 'none'" grep -q "^default-src 'none'" <<<"$CSP"
check "CSP: frame-ancestors 'none', form-action 'self'" grep -q "frame-ancestors 'none'.*" <<<"$CSP"
check "CSP: form-action 'self'" grep -q "form-action 'self'" <<<"$CSP"
style_hash=$(python3 -c '
import base64, hashlib, re, sys
s = re.search(r"<style>(.*?)</style>", sys.stdin.read(), re.S).group(1)
print(base64.b64encode(hashlib.sha256(s.encode()).digest()).decode())' <<<"$BODY")
check "CSP allows the page's own style by its sha256 hash" grep -qF "'sha256-$style_hash'" <<<"$CSP"
check "Referrer-Policy: no-referrer" test "$(header referrer-policy)" = no-referrer
check "X-Content-Type-Options: nosniff" test "$(header x-content-type-options)" = nosniff
check "Cache-Control: no-store" test "$(header cache-control)" = no-store
check "X-Frame-Options: DENY" test "$(header x-frame-options)" = DENY
check "no Set-Cookie" bash -c '! grep -qi "^set-cookie" <<<"$1"' _ "$HDRS"
check "no script on the page" bash -c '! grep -qi "<script" <<<"$1"' _ "$BODY"
check "nothing loaded from anywhere (no src=, no link href, no url())" \
	bash -c '! grep -Eqi "src=|<link|url\\(" <<<"$1"' _ "$BODY"
check "a viewport for small screens" grep -q 'name="viewport"' <<<"$BODY"

# --- GET and HEAD change nothing ---
http HEAD "$BASE$KP" -I
check "HEAD: 200 and no body (only the header)" bash -c '[ "$1" = 200 ] && ! grep -q "<html" <<<"$2"' _ "$CODE" "$BODY"
for _ in $(seq 100); do curl -s -o /dev/null "$BASE$KP"; done
check "after 100 GETs and a HEAD Kari is still subscribed" is_sub $KARI
check "after 100 GETs nothing is suppressed" test "$(suppressed)" = 0

# --- the data access button ---
http GET "$BASE$KP"
ACCESS=$(grep -o 'action="../a/[^"]*"' <<<"$BODY" | sed 's|action="../a/||; s|"$||')
http POST "$BASE/a/$ACCESS"
check "POST /a/ACCESS: 200, the data page in HTML" \
	test "$CODE" = 200 -a "$(header content-type)" = "text/html; charset=utf-8"
http POST "$BASE/a/$ACCESS" --data format=json
check "POST /a/ACCESS format=json: 200 JSON" test "$CODE" = 200 -a "$(header content-type)" = application/json
check "the JSON is the export, with the address" \
	test "$(jval 'd["subscriber"]["email"]["value"]' <<<"$BODY")" = $KARI
check "the JSON has a purpose and legal basis" grep -q legal_basis <<<"$BODY"
http GET "$BASE/a/$ACCESS"
check "GET /a/ACCESS: 405 with Allow: POST (a GET never shows personal data)" \
	test "$CODE" = 405 -a "$(header allow)" = POST
check "... and no address in it" bash -c '! grep -qi unique-42 <<<"$1"' _ "$BODY"
http POST "$BASE$(sed 's|/u/|/a/|' <<<"$KP")"
expect_http 400 'ikke gyldig' "an unsubscribe token is no access token: 400"
http POST "$BASE/u/$ACCESS"
expect_http 400 'ikke gyldig' "an access token is no unsubscribe token: 400"
check "Kari is still subscribed" is_sub $KARI

# --- every one-byte change of a valid token: 400, nothing changes ---
# (%ff: a byte libsodium's decoder alone would read as '_')
TOK=${KP#/u/}
bad=0 changed=0
for ((i = 0; i < ${#TOK}; i++)); do
	c=${TOK:i:1}
	for r in A _ %ff; do
		[ "$r" = "$c" ] && r=B
		t="${TOK:0:i}$r${TOK:i+1}"
		code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d 'List-Unsubscribe=One-Click' "$BASE/u/$t")
		[ "$code" = 400 ] || { bad=$((bad + 1)); echo "#   position $i -> $r: $code"; }
		changed=$((changed + 1))
	done
done
check "each of $changed one-byte changes of a valid token (POST): 400" test $bad = 0
check "after them Kari is still subscribed" is_sub $KARI

# Kari's tokens of other mailings until one has a '_' (about 3 in 10 do),
# that '_' sent as the byte %ff, which libsodium's decoder alone reads as '_'.
MINT=$(test_tool mint-token)
UT=
for mailing in $(seq 1 200); do
	[ -n "$MINT" ] || break
	t=$("$MINT" "$SCRATCH/newsletter.key" unsubscribe "$(sub_field $KARI id)" "$mailing")
	case $t in *_*) UT=$t; break ;; esac
done
check "a token of Kari's with a '_' (the test tool mint-token, built by make tools)" test -n "$UT"
if [ -n "$UT" ]; then
	http GET "$BASE/u/$UT"
	expect_http 200 'Meld meg av' "that token as it is: the confirmation page"
	http POST "$BASE/u/${UT/_/%ff}" -d 'List-Unsubscribe=One-Click'
	expect_http 400 'ikke gyldig' "the same token with its '_' sent as %ff (POST): 400"
	check "Kari is still subscribed" is_sub $KARI
fi
# One check for the lot: it passes only when every case got its status.
bad=0
malformed=0
for t in "" x "$TOK." "${TOK:0:20}" "$TOK$TOK" "$(printf 'A%.0s' $(seq 300))" "..%2e%2f" "$TOK%00" "%ff%fe"; do
	http GET "$BASE/u/$t"
	[ -z "$t" ] && want=404 || want=400
	[ "$CODE" = $want ] || { bad=$((bad + 1)); echo "#   GET /u/<malformed '${t:0:20}'>: want $want, got $CODE"; }
	malformed=$((malformed + 1))
done
check "each of $malformed malformed tokens (empty, short, long, extra dot, NUL, bad escapes): 400 (404 for none)" \
	test "$bad" = 0 -a "$malformed" = 9
http GET "$BASE/u/${TOK:0:30}AAAA${TOK:34}" -H 'Accept-Language: en'
expect_http 400 'This link is not valid' "a forged token: 400, 'This link is not valid'"
check "the 400 page says what to do" grep -q 'reply to the newsletter' <<<"$BODY"
check "the 400 page is HTML with lang" grep -q '<html lang="en">' <<<"$BODY"

# --- POST unsubscribes, whatever the body ---
http POST "$BASE$KP" -H 'Content-Type: application/x-www-form-urlencoded' -d 'List-Unsubscribe=One-Click'
expect_http 200 'Du er meldt av' "one-click POST (urlencoded): 200, 'Du er meldt av'"
check "not a redirect (no Location)" test -z "$(header location)"
check "Kari is deleted" not_sub $KARI
check "a suppression entry is kept" test "$(suppressed)" = 1
OLA=ola.unique-42@example.no
http POST "$BASE$(link_path $OLA)" -F 'List-Unsubscribe=One-Click'
expect_http 200 'meldt av' "one-click POST (multipart/form-data): 200"
check "Ola is deleted" not_sub $OLA
PER=per.unique-42@example.no
http POST "$BASE$(link_path $PER)" -H 'Content-Length: 0'
expect_http 200 'meldt av' "POST with no body: 200"
check "Per is deleted" not_sub $PER
SIRI=siri.unique-42@example.no
SP=$(link_path $SIRI)
http POST "$BASE$SP" -d 'anything=at all&List-Unsubscribe=Nope'
expect_http 200 'meldt av' "POST with any other body: 200"
check "Siri is deleted" not_sub $SIRI
check "four suppression entries" test "$(suppressed)" = 4

# --- again, and old links ---
http POST "$BASE$KP" -d 'List-Unsubscribe=One-Click' -H 'Accept-Language: en'
expect_http 200 'You are unsubscribed' "a repeated POST: 200, 'You are unsubscribed'"
check "... that page names the subscription as ended" grep -q 'has ended' <<<"$BODY"
http GET "$BASE$KP" -H 'Accept-Language: en'
expect_http 200 'You are unsubscribed' "GET of an old link: 200, 'You are unsubscribed'"
check "... with no button" bash -c '! grep -q "<button" <<<"$1"' _ "$BODY"
http POST "$BASE/a/$ACCESS" -H 'Accept-Language: en'
expect_http 200 'Nothing held' "the data button of someone gone: 200, nothing held"
check "four suppression entries still (a repeat adds nothing)" test "$(suppressed)" = 4

# --- the address leaves the files ---
gone_from_files() {
	for _ in $(seq 40); do
		bytes_contain "$1" "$DB" "$DB-wal" "$DB-shm" || return 0
		sleep 0.1
	done
	return 1
}
check "Kari's address is gone from the database files (-wal, -shm too) within 4 s" gone_from_files kari.unique-42
check "Ola's name is gone from the database files" gone_from_files "Zqname ola"
check "the audit log records the unsubscriptions by the web" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE event = 'unsubscribed' AND source = 'web'")" = 4

# --- another process deletes while the server runs ---
# While the log is empty the server holds a read transaction open (its GETs
# then cost no lock call); the command's own truncating checkpoint must
# still finish, soon, and take the address out of the files.
nl enroll pin.unique-42@example.no --name "Zqname pin" --order A-pin >/dev/null
sleep 0.5	# the server lets go, truncates the log, holds again
for _ in 1 2 3; do http GET "$BASE$(link_path nils.unique-42@example.no)"; done
t0=$(date +%s%N)
nl unsubscribe pin.unique-42@example.no >/dev/null
RC=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "'newsletter unsubscribe' beside the running server: exit 0 in under 2 s (took $ms ms)" \
	test "$RC" = 0 -a "$ms" -lt 2000
check "... and the address is out of the files as it returns" \
	bash -c '! LC_ALL=C grep -a -q -F "pin.unique-42" "$1" "$1-wal" "$1-shm" 2>/dev/null' _ "$DB"
http GET "$BASE$(link_path nils.unique-42@example.no)"
expect_http 200 'n\*\*\*@example.no' "the server still reads after that"
nl enroll pin2.unique-42@example.no --name "Zqname pin2" --order A-pin2 >/dev/null
PIN2=$(link_path pin2.unique-42@example.no)
http GET "$BASE$PIN2"
expect_http 200 'p\*\*\*@example.no' "a subscriber enrolled by another process a moment ago: their page at once"

# --- other methods and paths ---
http PUT "$BASE$(link_path nils.unique-42@example.no)"
check "PUT /u/TOKEN: 405 with Allow: GET, HEAD, POST" test "$CODE" = 405 -a "$(header allow)" = "GET, HEAD, POST"
http DELETE "$BASE$(link_path nils.unique-42@example.no)"
check "DELETE /u/TOKEN: 405" test "$CODE" = 405
check "Nils is still subscribed" is_sub nils.unique-42@example.no
http GET "$BASE/" -H 'Accept-Language: en'
expect_http 404 'Page not found' "GET /: 404 page"
http GET "$BASE/favicon.ico"
check "GET /favicon.ico: 404 with the security headers" test "$CODE" = 404 -a "$(header x-frame-options)" = DENY
http POST "$BASE/api/v1/purchases" -d '{}'
check "the admin API is not on the public listener: 404" test "$CODE" = 404
http GET "$BASE/healthz"
expect_http 200 '^ok' "GET /healthz on the public listener: 200 ok"
http GET "$BASE/u/../etc/passwd"
check "a path with ..: 400 or 404, never 200 or 500" test "$CODE" = 400 -o "$CODE" = 404

# --- a prefix in base_url: the pages live under it ---
stop_server
check "SIGTERM: the server exits 0" test "$STOP_RC" = 0
check "the log says it stopped" grep -q 'stopped' "$LOG"
sed -i 's|^base_url = .*|base_url = https://example.org/news/|' "$CONF"
start_server || finish
NP=$(nl link nils.unique-42@example.no | sed 's|^https://example.org||')
check "with base_url .../news the link is /news/u/TOKEN" test "${NP:0:8}" = /news/u/
http GET "$BASE$NP"
expect_http 200 'n\*\*\*@example.no' "GET /news/u/TOKEN: the page"

# --- the log: routes, statuses and times; never an address or a token ---
check "the log has one line per request: 'web GET unsubscribe 200'" grep -q 'web GET unsubscribe 200 ' "$LOG"
check "the log has the 400s and 405s" grep -q 'web POST unsubscribe 400 ' "$LOG"
check "the log names no address" bash -c '! grep -qi "unique-42\|@example" "$1"' _ "$LOG"
check "the log holds no token" bash -c '! grep -qF "${2:0:16}" "$1" && ! grep -qF "${3:0:16}" "$1"' _ "$LOG" "$TOK" "$ACCESS"
check "the log holds no path" bash -c '! grep -q "/u/" "$1"' _ "$LOG"

# --- command line ---
expect_out 2 'ADDRESS:PORT' "serve --listen garbage: exit 2" nl serve --listen nonsense
expect_out 2 'port' "serve --listen 127.0.0.1:99999: exit 2" nl serve --listen 127.0.0.1:99999
expect_out 1 'cannot listen' "serve on a port in use: exit 1, says so" nl serve --listen "127.0.0.1:$PORT"
expect_out 0 'listen ADDRESS:PORT' "serve --help" nl serve --help
stop_server
check "SIGTERM again: exit 0" test "$STOP_RC" = 0

finish
