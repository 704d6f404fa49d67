#!/usr/bin/env bash
# tests/e2e/rights.sh - the data subject's rights and retention: export,
# rectify, restrict/unrestrict, unsubscribe, erase, link, retention.
. "$(dirname "$0")/lib.sh"


audit_events() { sqlite3 "$DB" "SELECT count(*) FROM audit WHERE event = '$1'"; }
# jtrue PYEXPR: the JSON in $OUT (as d) makes PYEXPR true.
jtrue() { printf '%s' "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"; }
stat_json() { nl stats --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
today=$(date -u +%F)

nl init >/dev/null 2>&1 || { fail "init"; finish; }
nl enroll kari@example.no --name "Kari Nordmann" --order A-1 --date 2025-01-02 >/dev/null
kari_id=$(sub_field kari@example.no id)

# --- export ---
expect_rc 0 "export of a subscriber: exit 0" nl export kari@example.no
check "export: valid JSON (python3 -m json.tool)" python3 -m json.tool <<<"$OUT" >/dev/null
check "export: subscriber.email.value is the address" jtrue 'd["subscriber"]["email"]["value"] == "kari@example.no"'
check "export: subscriber.id is the subscriber's id" jtrue "d['subscriber']['id'] == $kari_id"
check "export: the name, order and last purchase are there" \
	jtrue '(d["subscriber"]["name"]["value"], d["subscriber"]["last_order"]["value"], d["subscriber"]["last_purchase"]["value"]) == ("Kari Nordmann", "A-1", "2025-01-02")'
check "export: every subscriber item has a purpose and a legal basis" \
	jtrue 'all(isinstance(v, dict) and v.get("purpose") and v.get("legal_basis") for k, v in d["subscriber"].items() if k != "id")'
check "export: the soft opt-in basis is named" jtrue '"6(1)(f)" in d["subscriber"]["email"]["legal_basis"] and d["subscriber"]["legal_basis"]["value"] == "soft-opt-in"'
check "export: deliveries, suppression and audit each have a purpose and a legal basis" \
	jtrue 'all(d[k]["purpose"] and d[k]["legal_basis"] for k in ("deliveries", "suppression", "audit"))'
check "export: the audit items hold the enrolment" \
	jtrue 'len(d["audit"]["items"]) >= 1 and d["audit"]["items"][0]["event"] == "enrolled" and all(i["at"] and i["source"] for i in d["audit"]["items"])'
check "export: not on the suppression list" jtrue 'd["suppression"]["listed"] is False'
check "export: controller is the list name" jtrue 'd["controller"] == "Test List"'
check "export: recipients and source are stated" jtrue 'd["recipients"] and d["source"]'
expect_rc 0 "export in another case (KARI@EXAMPLE.NO)" nl export KARI@EXAMPLE.NO
check "export in another case finds the same subscriber" jtrue "d['subscriber']['id'] == $kari_id"
expect_rc 0 "export of an unknown address: exit 0" nl export nobody@example.no
check "export of an unknown address: valid JSON" python3 -m json.tool <<<"$OUT" >/dev/null
check "export of an unknown address: subscriber is null" jtrue 'd["subscriber"] is None'
check "export of an unknown address: no audit items, not suppressed" \
	jtrue 'd["audit"]["items"] == [] and d["suppression"]["listed"] is False and d["deliveries"]["items"] == []'
check "export of an unknown address: claims no consent as legal basis" \
	jtrue '"consent" not in d["deliveries"]["legal_basis"]'
expect_out 2 "invalid address" "export of an invalid address: exit 2" nl export not-an-address

# --- rectify ---
nl enroll old@example.no --name "Old Name" --order R-1 --date 2025-02-03 >/dev/null
old_id=$(sub_field old@example.no id)
n=$(count)
expect_out 0 "corrected the address of subscriber $old_id" "rectify OLD NEW: exit 0" nl rectify old@example.no new@example.no
check "rectify: the old address is gone" test "$(sub_field old@example.no id)" = none
check "rectify: the new address has the same id" test "$(sub_field new@example.no id)" = "$old_id"
check "rectify: the rest is kept (name, order, date)" \
	test "$(sub_field new@example.no "name || '/' || last_order || '/' || last_purchase")" = "Old Name/R-1/2025-02-03"
check "rectify: still the same number of subscribers" test "$(count)" = "$n"
run_cmd nl list --json
check "rectify: list --json shows the new address, not the old" \
	jtrue 'any(s["email"] == "new@example.no" for s in d["subscribers"]) and not any(s["email"] == "old@example.no" for s in d["subscribers"])'
check "rectify: two audit events (old and new)" test "$(audit_events rectified)" = 2
run_cmd nl export new@example.no
check "rectify: the export of the new address shows the correction" \
	jtrue 'any(i["event"] == "rectified" for i in d["audit"]["items"])'
expect_out 1 "already a subscriber" "rectify to an existing subscriber: exit 1" nl rectify new@example.no kari@example.no
check "rectify to an existing subscriber: both unchanged" \
	test "$(sub_field new@example.no id)/$(sub_field kari@example.no id)" = "$old_id/$kari_id"
nl unsubscribe blocked@example.no >/dev/null
expect_out 1 "suppression list" "rectify to a suppressed address: exit 1" nl rectify new@example.no blocked@example.no
check "rectify to a suppressed address: nothing changed" \
	test "$(sub_field new@example.no id)/$(sub_field blocked@example.no id)" = "$old_id/none"
expect_out 1 "no subscriber has that address" "rectify of an unknown address: exit 1" nl rectify ghost@example.no ghost2@example.no
check "rectify of an unknown address: nothing made" test "$(sub_field ghost2@example.no id)" = none
expect_out 2 "invalid address" "rectify to an invalid address: exit 2" nl rectify new@example.no not-an-address
expect_out 2 "invalid address" "rectify from an invalid address: exit 2" nl rectify not-an-address new@example.no
check "rectify with invalid addresses: unchanged" test "$(sub_field new@example.no id)" = "$old_id"
expect_rc 0 "rectify may correct the case of the local part" nl rectify new@example.no New@Example.no
check "rectify of the case: stored as New@example.no, same id" \
	test "$(sqlite3 "$DB" "SELECT email || '/' || id FROM subscriber WHERE id = $old_id")" = "New@example.no/$old_id"

# --- restrict / unrestrict ---
a0=$(stat_json 'd["subscribers"]["active"]')
expect_out 0 "subscriber $kari_id is restricted" "restrict: exit 0" nl restrict kari@example.no
run_cmd nl list --json
check "restrict: list --json shows state restricted" \
	jtrue "[s['state'] for s in d['subscribers'] if s['id'] == $kari_id] == ['restricted']"
check "restrict: stats counts one restricted, one active less" \
	test "$(stat_json '(d["subscribers"]["restricted"], d["subscribers"]["active"])')" = "(1, $((a0 - 1)))"
check "restrict: the subscriber is kept" test "$(sub_field kari@example.no name)" = "Kari Nordmann"
expect_rc 0 "restrict again: exit 0" nl restrict kari@example.no
check "restrict again: still restricted" test "$(sub_field kari@example.no state)" = restricted
run_cmd nl export kari@example.no
check "restrict: the export shows the state" jtrue 'd["subscriber"]["state"]["value"] == "restricted"'
expect_rc 0 "a purchase by a restricted subscriber: exit 0" nl enroll kari@example.no --date 2025-03-01
check "a purchase does not lift a restriction" test "$(sub_field kari@example.no state)" = restricted
expect_out 0 "subscriber $kari_id is active" "unrestrict: exit 0" nl unrestrict kari@example.no
run_cmd nl list --json
check "unrestrict: list --json shows state active" \
	jtrue "[s['state'] for s in d['subscribers'] if s['id'] == $kari_id] == ['active']"
check "restrict + unrestrict: two audit events" \
	test "$(audit_events restricted)/$(audit_events unrestricted)" = 1/1
expect_out 1 "no subscriber" "restrict of an unknown address: exit 1" nl restrict ghost@example.no
expect_out 1 "no subscriber" "unrestrict of an unknown address: exit 1" nl unrestrict ghost@example.no
expect_out 2 "invalid address" "restrict of an invalid address: exit 2" nl restrict not-an-address
expect_out 2 "give one address" "restrict without an address: exit 2" nl restrict

# --- unsubscribe ---
nl enroll leave@example.no --name "Leave Me" >/dev/null
s0=$(suppressed)
expect_out 0 "unsubscribed: the subscriber is deleted" "unsubscribe: exit 0" nl unsubscribe leave@example.no
check "unsubscribe: the row is gone" test "$(sub_field leave@example.no id)" = none
check "unsubscribe: stats shows one more suppressed" test "$(stat_json 'd["suppressed"]')" = $((s0 + 1))
run_cmd nl export leave@example.no
check "unsubscribe: the export shows no subscriber, listed as suppressed" \
	jtrue 'd["subscriber"] is None and d["suppression"]["listed"] is True'
check "unsubscribe: the export's audit shows the unsubscription" \
	jtrue '[i["event"] for i in d["audit"]["items"]] == ["enrolled", "unsubscribed"]'
expect_out 0 "no subscriber had that address" "unsubscribe again: exit 0" nl unsubscribe leave@example.no
check "unsubscribe again: no second suppression entry" test "$(suppressed)" = $((s0 + 1))
expect_out 0 "not enrolled" "after unsubscribe a purchase does not enrol" nl enroll leave@example.no
check "after unsubscribe: still no row" test "$(sub_field leave@example.no id)" = none
expect_out 0 "no subscriber had that address" "unsubscribe of an unknown address: exit 0" nl unsubscribe stranger@example.no
check "unsubscribe of an unknown address: suppressed all the same" test "$(suppressed)" = $((s0 + 2))
expect_out 0 "not enrolled" "unknown address unsubscribed: a purchase does not enrol it" nl enroll Stranger@EXAMPLE.no
check "unknown address unsubscribed: no row" test "$(sub_field stranger@example.no id)" = none
nl enroll restricted-leave@example.no >/dev/null
nl restrict restricted-leave@example.no >/dev/null
expect_rc 0 "unsubscribe of a restricted subscriber: exit 0" nl unsubscribe restricted-leave@example.no
check "unsubscribe of a restricted subscriber: the row is gone" test "$(sub_field restricted-leave@example.no id)" = none
expect_out 2 "invalid address" "unsubscribe of an invalid address: exit 2" nl unsubscribe not-an-address

# --- erase ---
nl enroll erase1@example.no --name "Erase One" >/dev/null
e1=$(sub_field erase1@example.no id)
s0=$(suppressed)
expect_out 0 "^erased: " "erase: exit 0" nl erase erase1@example.no
check "erase: the row is gone" test "$(sub_field erase1@example.no id)" = none
check "erase: no suppression entry" test "$(suppressed)" = "$s0"
check "erase: the audit log keeps the event" test "$(audit_events erased)" = 1
check "erase: no audit event about the subscriber is left" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE subscriber_id = $e1")" = 0
check "erase: the erased event names no one (no hash, no id)" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE event = 'erased' AND subject IS NULL AND subscriber_id IS NULL")" = 1
run_cmd nl export erase1@example.no
check "erase: an export of the address afterwards lists no audit event" jtrue 'd["audit"]["items"] == []'
expect_out 0 "enrolled subscriber" "after erase a purchase enrols again" nl enroll erase1@example.no
check "after erase: a new id, never the old one" test "$(sub_field erase1@example.no id)" -gt "$e1"
nl enroll erase2@example.no >/dev/null
expect_out 0 "suppression entry keeps" "erase --suppress: exit 0" nl erase --suppress erase2@example.no
check "erase --suppress: the row is gone" test "$(sub_field erase2@example.no id)" = none
check "erase --suppress: one suppression entry" test "$(suppressed)" = $((s0 + 1))
expect_out 0 "not enrolled" "after erase --suppress a purchase does not enrol" nl enroll erase2@example.no
check "after erase --suppress: no row" test "$(sub_field erase2@example.no id)" = none
expect_rc 0 "erase of an unsubscribed address (without --suppress)" nl erase leave@example.no
check "erase of an unsubscribed address: its suppression entry goes too" test "$(suppressed)" = "$s0"
expect_out 0 "enrolled subscriber" "after erasing the suppression a purchase enrols" nl enroll leave@example.no
expect_out 0 "nothing to erase" "erase of an unknown address: exit 0" nl erase ghost@example.no
expect_out 2 "invalid address" "erase of an invalid address: exit 2" nl erase not-an-address
expect_out 2 "unknown option" "erase with an unknown option: exit 2" nl erase --supress kari@example.no
check "erase with a bad option: nothing erased" test "$(sub_field kari@example.no id)" = "$kari_id"

# --- link ---
expect_out 0 "^https://news\.example\.org/u/[A-Za-z0-9_-]{26}\.[A-Za-z0-9_-]{22}$" \
	"link prints base_url/u/TOKEN (exit 0)" nl link kari@example.no
link1=$OUT
tok=${link1##*/}
check "link: the token has 49 characters" test "${#tok}" = 49
check "link: the token does not hold the address" bash -c '! grep -qi kari <<<"$1"' _ "$link1"
run_cmd nl link kari@example.no
check "link: the same subscriber gets the same link" test "$OUT" = "$link1"
run_cmd nl link erase1@example.no
check "link: another subscriber gets another link" test -n "$OUT" -a "$OUT" != "$link1"
expect_out 1 "no subscriber has that address" "link of an unknown address: exit 1" nl link ghost@example.no
expect_out 2 "invalid address" "link of an invalid address: exit 2" nl link not-an-address

# --- retention: a fresh database ---
rm -f "$DB" "$DB-wal" "$DB-shm" "$SCRATCH/newsletter.key"
nl init >/dev/null 2>&1 || fail "init for retention"
nl enroll old-buyer@example.no --name "Old Buyer" --date 2020-01-01 >/dev/null
nl enroll recent-buyer@example.no --date "$(date -u -d '30 days ago' +%F)" >/dev/null
nl enroll old-consent@example.no --date 2020-01-01 --consent >/dev/null
expect_out 0 "would delete 1 subscriber with no purchase or consent since" "retention --dry-run reports 1 (exit 0)" \
	nl retention --dry-run
check "retention --dry-run: deletes nothing" test "$(count)" = 3
expect_out 0 "deleted 1 subscriber with no purchase or consent since" "retention deletes 1 (exit 0)" nl retention
check "retention: the old buyer is gone" test "$(sub_field old-buyer@example.no id)" = none
check "retention: the recent buyer stays" test "$(sub_field recent-buyer@example.no id)" != none
check "retention: an explicit consent keeps an old buyer" test "$(sub_field old-consent@example.no id)" != none
check "retention: the expiry is in the audit log" test "$(audit_events expired)" = 1
check "retention: no suppression entry for an expired subscriber" test "$(suppressed)" = 0
expect_out 0 "deleted 0 subscribers" "retention again: nothing more" nl retention
expect_out 0 "enrolled subscriber" "an expired buyer who buys again is enrolled" nl enroll old-buyer@example.no
expect_out 2 "takes no arguments" "retention with an argument: exit 2" nl retention now

# Audit events past their age.
nl enroll audit-a@example.no >/dev/null
total=$(sqlite3 "$DB" 'SELECT count(*) FROM audit')
sqlite3 "$DB" "UPDATE audit SET at = '2000-01-01T00:00:00Z' WHERE event = 'enrolled'"
old=$(audit_events enrolled)
expect_out 0 "would delete $old audit events older than" "retention --dry-run counts old audit events" nl retention --dry-run
check "retention --dry-run: the audit log is unchanged" test "$(sqlite3 "$DB" 'SELECT count(*) FROM audit')" = "$total"
expect_out 0 "deleted $old audit events older than" "retention deletes old audit events" nl retention
check "retention: the old audit events are gone" test "$(audit_events enrolled)" = 0
check "retention: newer audit events stay" test "$(sqlite3 "$DB" 'SELECT count(*) FROM audit')" = $((total - old))
check "retention: stats agrees on the audit log" test "$(stat_json 'd["audit_events"]')" = $((total - old))

# months_without_purchase = 1: 45 days ago expires, 5 days ago does not.
write_conf "[retention]" "months_without_purchase = 1"
nl enroll d45@example.no --date "$(date -u -d '45 days ago' +%F)" >/dev/null
nl enroll d5@example.no --date "$(date -u -d '5 days ago' +%F)" >/dev/null
last_month=$(python3 -c '
import datetime
t = datetime.datetime.now(datetime.timezone.utc).date()
y, m = (t.year, t.month - 1) if t.month > 1 else (t.year - 1, 12)
print(f"{y:04d}-{m:02d}")')
expect_out 0 "deleted [0-9]+ subscribers? with no purchase or consent since $last_month-[0-9]{2}" \
	"months_without_purchase = 1: retention runs with a cutoff a month ago" nl retention
check "months_without_purchase = 1: a purchase 45 days ago expires" test "$(sub_field d45@example.no id)" = none
check "months_without_purchase = 1: a purchase 5 days ago stays" test "$(sub_field d5@example.no id)" != none

# 0 disables each limit.
write_conf "[retention]" "months_without_purchase = 0" "audit_months = 0"
nl enroll ancient@example.no --date 2001-01-01 >/dev/null
sqlite3 "$DB" "UPDATE audit SET at = '2000-01-01T00:00:00Z'"
total=$(sqlite3 "$DB" 'SELECT count(*) FROM audit')
n=$(count)
expect_out 0 "no retention limit" "months_without_purchase = 0: retention says there is no limit" nl retention
check "months_without_purchase = 0: the ancient buyer stays" test "$(sub_field ancient@example.no id)" != none
check "months_without_purchase = 0: nobody deleted" test "$(count)" = "$n"
check "audit_months = 0: old audit events stay" test "$(sqlite3 "$DB" 'SELECT count(*) FROM audit')" = "$total"
write_conf

finish
