#!/usr/bin/env bash
# tests/e2e/web_admin.sh - the admin API of 'newsletter serve': bearer
# token, purchases, a subscriber's data and rights, health, metrics; and
# that it is off without a token file and refused with a readable one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/web_lib.bash"

web_conf en "admin_token_file = $TOKEN_FILE"
nl init >/dev/null 2>&1 || fail "init"
start_server || finish
AUTH=(-H "Authorization: Bearer $ADMIN_TOKEN")
J=(-H 'Content-Type: application/json')

# --- the bearer token ---
http POST "$ADMIN/api/v1/purchases" "${J[@]}" -d '{"email":"buyer@example.no"}'
expect_http 401 '"error"' "no Authorization: 401 with a JSON error"
check "401 carries WWW-Authenticate: Bearer" grep -q '^Bearer' <<<"$(header www-authenticate)"
http POST "$ADMIN/api/v1/purchases" "${J[@]}" -H "Authorization: Bearer ${ADMIN_TOKEN%?}x" -d '{"email":"buyer@example.no"}'
check "a wrong token (last character changed): 401" test "$CODE" = 401
http POST "$ADMIN/api/v1/purchases" "${J[@]}" -H "Authorization: Bearer ${ADMIN_TOKEN}0" -d '{"email":"buyer@example.no"}'
check "the token with a character more: 401" test "$CODE" = 401
http POST "$ADMIN/api/v1/purchases" "${J[@]}" -H "Authorization: Basic $ADMIN_TOKEN" -d '{"email":"buyer@example.no"}'
check "the token as Basic: 401" test "$CODE" = 401
http GET "$ADMIN/metrics"
check "GET /metrics without the token: 401" test "$CODE" = 401
check "nobody was enrolled by the refused requests" test "$(count)" = 0

# --- purchases ---
http POST "$ADMIN/api/v1/purchases" "${AUTH[@]}" "${J[@]}" \
	-d '{"email":"Buyer@Example.NO","name":"Kari Kjøper","order":"W-1","date":"2026-01-15"}'
expect_http 201 '"enrolled"' "a new buyer: 201 enrolled"
check "the reply is JSON" test "$(header content-type)" = application/json
check "the reply has the id" test "$(jval 'd["id"]' <<<"$BODY")" = 1
check "the store has her, with name and order" test "$(sub_field Buyer@example.no last_order)" = W-1
http POST "$ADMIN/api/v1/purchases" "${AUTH[@]}" "${J[@]}" -d '{"email":"buyer@example.no","order":"W-2"}'
expect_http 200 '"refreshed"' "the same buyer again: 200 refreshed (idempotent, no 409)"
check "one subscriber" test "$(count)" = 1
http POST "$ADMIN/api/v1/purchases" "${AUTH[@]}" "${J[@]}" -d '{"email":"not-an-address"}'
expect_http 422 'invalid address' "a bad address: 422 with the reason"
http POST "$ADMIN/api/v1/purchases" "${AUTH[@]}" "${J[@]}" -d '{"email":"x@example.no","date":"2026-02-30"}'
expect_http 422 '"error"' "a bad date: 422"
http POST "$ADMIN/api/v1/purchases" "${AUTH[@]}" "${J[@]}" -d '{"email":"x@example.no","date":"2999-01-01"}'
expect_http 422 '"error"' "a date in the future: 422"
http POST "$ADMIN/api/v1/purchases" "${AUTH[@]}" "${J[@]}" -d '{"name":"No Address"}'
expect_http 422 'email is missing' "no email: 422"
http POST "$ADMIN/api/v1/purchases" "${AUTH[@]}" "${J[@]}" -d '{"email":"x@example.no",'
expect_http 422 'not JSON' "broken JSON: 422"
http POST "$ADMIN/api/v1/purchases" "${AUTH[@]}" "${J[@]}" -d '["x@example.no"]'
expect_http 422 'JSON object' "a JSON array: 422"
http POST "$ADMIN/api/v1/purchases" "${AUTH[@]}" "${J[@]}" -d '{"email":42}'
expect_http 422 'must be strings' "email as a number: 422"
http POST "$ADMIN/api/v1/purchases" "${AUTH[@]}" "${J[@]}" -d '{"email":"x@example.no","admin":true}'
expect_http 422 'unknown field' "an unknown field: 422"
http POST "$ADMIN/api/v1/purchases" "${AUTH[@]}" "${J[@]}" -d '{"email":"x@example.no","email":"y@example.no"}'
expect_http 422 '"error"' "a duplicate key: 422"
http POST "$ADMIN/api/v1/purchases" "${AUTH[@]}" "${J[@]}" -d "{\"email\":\"x@example.no\",\"name\":\"$(printf 'N%.0s' $(seq 300))\"}"
expect_http 422 '"error"' "a name over the limit: 422"
check "only the one good buyer is enrolled" test "$(count)" = 1
http GET "$ADMIN/api/v1/purchases" "${AUTH[@]}"
check "GET /api/v1/purchases: 405, Allow: POST" test "$CODE" = 405 -a "$(header allow)" = POST

# --- a subscriber ---
http GET "$ADMIN/api/v1/subscribers/buyer@example.no" "${AUTH[@]}"
expect_http 200 'legal_basis' "GET a subscriber: 200, the export"
check "the export has her name" test "$(jval 'd["subscriber"]["name"]["value"]' <<<"$BODY")" = "Kari Kjøper"
http GET "$ADMIN/api/v1/subscribers/buyer%40example.no" "${AUTH[@]}"
check "GET with %40 for @: 200" test "$CODE" = 200
http GET "$ADMIN/api/v1/subscribers/nobody@example.no" "${AUTH[@]}"
expect_http 404 'no subscriber' "GET an unknown address: 404 JSON error"
http POST "$ADMIN/api/v1/subscribers/buyer@example.no/restrict" "${AUTH[@]}"
expect_http 200 '"restricted"' "restrict: 200, state restricted"
check "the store says restricted" test "$(sub_field buyer@example.no state)" = restricted
http POST "$ADMIN/api/v1/subscribers/buyer@example.no/unrestrict" "${AUTH[@]}"
expect_http 200 '"active"' "unrestrict: 200, state active"
http POST "$ADMIN/api/v1/subscribers/nobody@example.no/restrict" "${AUTH[@]}"
check "restrict an unknown address: 404" test "$CODE" = 404
http POST "$ADMIN/api/v1/subscribers/buyer@example.no/forget" "${AUTH[@]}"
check "an unknown action: 404" test "$CODE" = 404
http GET "$ADMIN/api/v1/subscribers/buyer@example.no/restrict" "${AUTH[@]}"
check "GET on an action: 405" test "$CODE" = 405
http POST "$ADMIN/api/v1/subscribers/buyer@example.no/unsubscribe" "${AUTH[@]}"
expect_http 200 '"was_subscribed": true' "unsubscribe: 200, was subscribed"
deleted_kept() { [ "$(sub_field buyer@example.no id)" = none ] && [ "$(suppressed)" = 1 ]; }
check "she is deleted, a suppression entry kept" deleted_kept
http POST "$ADMIN/api/v1/purchases" "${AUTH[@]}" "${J[@]}" -d '{"email":"buyer@example.no","order":"W-3"}'
expect_http 200 '"suppressed"' "a purchase by the unsubscribed address: 200, suppressed, not enrolled"
check "not enrolled" test "$(count)" = 0
http POST "$ADMIN/api/v1/purchases" "${AUTH[@]}" "${J[@]}" -d '{"email":"buyer@example.no","consent":true}'
expect_http 201 '"enrolled"' "with consent: true she is enrolled again (201)"
check "the audit log holds the API's events" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE source = 'api'")" -ge 5
http DELETE "$ADMIN/api/v1/subscribers/buyer@example.no" "${AUTH[@]}"
expect_http 200 '"existed": true' "DELETE: erased"
all_gone() { [ "$(count)" = 0 ] && [ "$(suppressed)" = 0 ]; }
check "erased: no subscriber and no suppression entry" all_gone
http DELETE "$ADMIN/api/v1/subscribers/buyer@example.no" "${AUTH[@]}"
expect_http 200 '"existed": false' "DELETE again: 200, existed false"
check "after the erasures, the API's events left are two 'erased' naming no one" \
	test "$(sqlite3 "$DB" "SELECT group_concat(event || ':' || coalesce(subject, '-') || ':' || coalesce(subscriber_id, '-')) FROM audit WHERE source = 'api'")" = "erased:-:-,erased:-:-"

# --- health and metrics ---
http GET "$ADMIN/healthz"
expect_http 200 '^ok' "GET /healthz (no token needed): 200 ok"
nl enroll a1@example.no >/dev/null; nl enroll a2@example.no >/dev/null; nl restrict a2@example.no >/dev/null
curl -s -o /dev/null -X POST "$BASE$(link_path a1@example.no)"
http GET "$ADMIN/metrics" "${AUTH[@]}"
check "GET /metrics: 200, Prometheus text" grep -q '^text/plain; version=0.0.4' <<<"$(header content-type)"
check "metrics: requests by route and status" grep -q 'newsletter_http_requests_total{route="api_purchases",status="201"} 2' <<<"$BODY"
check "metrics: the 401s are counted" grep -q 'route="api_purchases",status="401"} 4' <<<"$BODY"
check "metrics: the public POST is counted" grep -q 'route="unsubscribe",status="200"} 1' <<<"$BODY"
check "metrics: unsubscribes (API and web)" grep -q '^newsletter_unsubscribes_total 2$' <<<"$BODY"
check "metrics: enrolments by result" grep -q 'newsletter_enrolments_total{result="suppressed"} 1' <<<"$BODY"
check "metrics: subscribers by state" bash -c 'grep -q "newsletter_subscribers{state=\"active\"} 0" <<<"$1" && grep -q "newsletter_subscribers{state=\"restricted\"} 1" <<<"$1"' _ "$BODY"
check "metrics: no address in them" bash -c '! grep -q "@" <<<"$1"' _ "$BODY"
check "the log names no address" bash -c '! grep -qi "buyer@\|example.no" "$1"' _ "$LOG"
check "the log has admin lines by route" grep -q 'admin POST api_purchases 201 ' "$LOG"
check "the log does not hold the bearer token" bash -c '! grep -qF "$2" "$1"' _ "$LOG" "$ADMIN_TOKEN"
stop_server
check "SIGTERM: exit 0" test "$STOP_RC" = 0

# --- no token file: no admin API ---
web_conf en
start_server || finish
code=$(curl -s -o /dev/null -w '%{http_code}' "$ADMIN/healthz")
check "without admin_token_file nothing listens on admin_listen" test "$code" = 000
check "the log says there is no admin API" grep -q 'no admin API' "$LOG"
stop_server

# --- a token file others can read, or a short token: refused ---
web_conf en "admin_token_file = $TOKEN_FILE"
chmod 644 "$TOKEN_FILE"
expect_out 1 'readable by others' "a token file of mode 644: serve refuses (exit 1)" nl serve
chmod 600 "$TOKEN_FILE"
echo short >"$TOKEN_FILE"
expect_out 1 'at least 16' "a short token: serve refuses (exit 1)" nl serve
rm -f "$TOKEN_FILE"
expect_out 1 'admin token file' "a missing token file: serve refuses (exit 1)" nl serve

finish
