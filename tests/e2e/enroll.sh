#!/usr/bin/env bash
# tests/e2e/enroll.sh - 'newsletter enroll' (a purchase enrols the buyer),
# address rules, dates, the suppression list, usage errors and --help.
. "$(dirname "$0")/lib.sh"

today=$(date -u +%F)

nl init >/dev/null 2>&1 || { fail "init"; finish; }

# --- a new subscriber ---
expect_out 0 "enrolled subscriber [0-9]+ \(soft-opt-in\)" "enroll a new buyer (exit 0)" \
	nl enroll kari@example.no --name "Kari Nordmann" --order A-100 --date 2025-03-04
run_cmd nl list --json
check "new: list --json shows one subscriber" test "$(printf '%s' "$OUT" | jval 'len(d["subscribers"])')" = 1
check "new: list --json shows the address, name, order and date" \
	test "$(printf '%s' "$OUT" | jval '[d["subscribers"][0][k] for k in ("email","name","last_order","last_purchase","state","basis")]')" = \
	'["kari@example.no", "Kari Nordmann", "A-100", "2025-03-04", "active", "soft-opt-in"]'
check "new: the name is stored" test "$(sub_field kari@example.no name)" = "Kari Nordmann"
check "new: the order is stored" test "$(sub_field kari@example.no last_order)" = A-100
check "new: the purchase date is stored" test "$(sub_field kari@example.no last_purchase)" = 2025-03-04
check "new: the state is active" test "$(sub_field kari@example.no state)" = active
check "new: the basis is soft opt-in" test "$(sub_field kari@example.no basis)" = soft-opt-in
check "new: no consent date" test "$(sub_field kari@example.no consent_date)" = null
id=$(sub_field kari@example.no id)

# --- refresh: idempotent ---
before=$(nl list --json)
expect_out 0 "subscriber $id was enrolled already" "enroll the same purchase again: refreshed (exit 0)" \
	nl enroll kari@example.no --name "Kari Nordmann" --order A-100 --date 2025-03-04
check "refresh: still one row" test "$(count)" = 1
check "refresh: the same purchase twice changes nothing" test "$(nl list --json)" = "$before"
expect_rc 0 "a newer purchase refreshes" nl enroll kari@example.no --order A-200 --date 2025-06-01
check "refresh: same id" test "$(sub_field kari@example.no id)" = "$id"
check "refresh: the newer date is kept" test "$(sub_field kari@example.no last_purchase)" = 2025-06-01
check "refresh: the newer order is kept" test "$(sub_field kari@example.no last_order)" = A-200
check "refresh: the name stays when none is given" test "$(sub_field kari@example.no name)" = "Kari Nordmann"
expect_rc 0 "an older purchase reported late" nl enroll kari@example.no --order A-050 --date 2024-01-01
check "refresh: an older purchase does not move the last purchase back" \
	test "$(sub_field kari@example.no last_purchase)" = 2025-06-01
check "refresh: an older purchase does not replace the last order" \
	test "$(sub_field kari@example.no last_order)" = A-200
expect_rc 0 "a purchase without a date" nl enroll kari@example.no
check "refresh: no date means today" test "$(sub_field kari@example.no last_purchase)" = "$today"
check "refresh: still one row after four purchases" test "$(count)" = 1
expect_rc 0 "enroll without a date: a new buyer" nl enroll nodate@example.no
check "new without a date: the purchase is today" test "$(sub_field nodate@example.no last_purchase)" = "$today"

# --- address normalisation and identity ---
expect_rc 0 "enroll Ola.Nordmann@EXAMPLE.No" nl enroll Ola.Nordmann@EXAMPLE.No
run_cmd nl list --json
check "the domain is lower-cased, the local part kept as written" \
	grep -Fq '"email":"Ola.Nordmann@example.no"' <<<"$OUT"
expect_rc 0 "enroll Kari@Example.NO (other case)" nl enroll Kari@Example.NO
check "case-insensitive identity: Kari@Example.NO is kari@example.no (one row)" \
	test "$(nl list --json | python3 -c 'import json,sys; print(sum(1 for s in json.load(sys.stdin)["subscribers"] if s["email"].lower()=="kari@example.no"))')" = 1
check "case-insensitive identity: same id" test "$(sub_field Kari@Example.no id)" = "$id"
expect_rc 0 "surrounding white space is trimmed" nl enroll "  spaced@example.no  "
check "trimmed: stored without the spaces" test "$(sub_field spaced@example.no email)" = spaced@example.no
n=$(count)

# --- invalid addresses: exit 2, "invalid address", nothing stored ---
l64=$(printf 'a%.0s' $(seq 64))
l65=$(printf 'a%.0s' $(seq 65))
lab=$(printf 'b%.0s' $(seq 60))
long="x@$lab.$lab.$lab.$lab.$lab.no"	# 309 characters
while IFS='|' read -r name addr; do
	[ -n "$name" ] || continue
	expect_out 2 "invalid address" "invalid address ($name): exit 2" nl enroll "$addr"
done <<EOF
no @|kari.example.no
two @|kari@nordmann@example.no
empty local part|@example.no
empty domain|kari@
leading dot|.kari@example.no
trailing dot in local part|kari.@example.no
double dot|kari..nordmann@example.no
space|kari nordmann@example.no
no dot in domain|kari@localhost
label with leading hyphen|kari@-example.no
label with trailing hyphen|kari@example-.no
double dot in domain|kari@example..no
domain ends with a dot|kari@example.no.
non-ASCII local part|kåri@example.no
non-ASCII domain|kari@eksempel.blåbær.no
local part of 65 characters|$l65@example.no
address over 254 characters|$long
angle brackets|<kari@example.no>
display name|Kari <kari@example.no>
comma|kari,ola@example.no
address literal|kari@[192.0.2.1]
all-digit top-level label|kari@example.123
empty|
only spaces|   
domain label of 64 characters|x@$(printf 'c%.0s' $(seq 64)).no
address of exactly 255 characters|$l64@$(printf 'c%.0s' $(seq 63)).$(printf 'c%.0s' $(seq 63)).$(printf 'd%.0s' $(seq 59)).no
underscore in the domain|kari@exa_mple.no
a quote inside the local part|kari"x"@example.no
an unclosed quoted local part|"unclosed@example.no
EOF
expect_out 2 "invalid address" "invalid address (a newline inside): exit 2" nl enroll "$(printf 'kari\n@example.no')"
expect_out 2 "invalid address" "invalid address (a tab inside): exit 2" nl enroll "$(printf 'ka\tri@example.no')"
check "invalid addresses: nothing was stored" test "$(count)" = "$n"
expect_rc 0 "a local part of exactly 64 characters is accepted" nl enroll "$l64@example.no"
lab2=$(printf 'c%.0s' $(seq 63))
max="$l64@$lab2.$lab2.$(printf 'd%.0s' $(seq 58)).no"	# 254 characters
check "the boundary address is 254 characters" test "${#max}" = 254
expect_rc 0 "an address of exactly 254 characters is accepted" nl enroll "$max"
expect_rc 0 "a quoted local part is accepted" nl enroll '"kari nordmann"@example.no'
expect_rc 0 "plus and other atext in the local part are accepted" nl enroll "kari+news_1/x=y@sub.example.no"
n=$(count)

# --- bad purchase data: exit 2, nothing stored ---
tomorrow=$(date -u -d tomorrow +%F)
while IFS='|' read -r name d; do
	[ -n "$name" ] || continue
	expect_out 2 "date" "bad date ($name): exit 2" nl enroll dated@example.no --date "$d"
done <<EOF
day.month.year|04.03.2025
no dashes|20250304
one-digit month|2025-3-04
trailing text|2025-03-04x
time included|2025-03-04T10:00:00
month 13|2025-13-01
month 00|2025-00-10
day 00|2025-03-00
February 30|2026-02-30
February 29 in a common year|2025-02-29
April 31|2025-04-31
year before 1970|1969-12-31
tomorrow (future)|$tomorrow
far future|2999-01-01
words|yesterday
EOF
check "bad dates: nothing was stored" test "$(sub_field dated@example.no id)" = none
expect_rc 0 "February 29 in a leap year is accepted" nl enroll leap@example.no --date 2024-02-29
expect_rc 0 "today is accepted" nl enroll today@example.no --date "$today"
n=$(count)
name201=$(printf 'n%.0s' $(seq 201))
order101=$(printf 'o%.0s' $(seq 101))
expect_out 2 "name" "a name over 200 bytes: exit 2" nl enroll named@example.no --name "$name201"
expect_out 2 "name" "a name with a control character: exit 2" nl enroll named@example.no --name "$(printf 'Kari\tNordmann')"
expect_out 2 "name" "a name that is not UTF-8: exit 2" nl enroll named@example.no --name "$(printf 'K\xe5ri')"
expect_out 2 "order" "an order reference over 100 bytes: exit 2" nl enroll named@example.no --order "$order101"
check "bad names and orders: nothing was stored" test "$(count)" = "$n"
expect_rc 0 "a UTF-8 name (æøå) is accepted" nl enroll named@example.no --name "Åse Ærlig Ødegård"
check "the UTF-8 name is stored as given" test "$(sub_field named@example.no name)" = "Åse Ærlig Ødegård"

# --- the suppression list ---
expect_rc 0 "unsubscribe ola.nordmann" nl unsubscribe Ola.Nordmann@example.no
check "unsubscribed: the row is gone" test "$(sub_field Ola.Nordmann@example.no id)" = none
s0=$(suppressed)
expect_out 0 "not enrolled" "a purchase by a suppressed address: exit 0, 'not enrolled'" \
	nl enroll Ola.Nordmann@example.no --name "Ola" --date 2025-01-01
check "suppressed: not enrolled" test "$(sub_field Ola.Nordmann@example.no id)" = none
expect_out 0 "not enrolled" "suppression ignores case (OLA.NORDMANN@EXAMPLE.NO)" nl enroll OLA.NORDMANN@EXAMPLE.NO
check "suppressed in another case: not enrolled" test "$(sub_field ola.nordmann@example.no id)" = none
expect_out 0 "enrolled subscriber [0-9]+ \(consent\)" "--consent enrols a suppressed address" \
	nl enroll ola.nordmann@example.no --consent
check "--consent: the subscriber is there" test "$(sub_field ola.nordmann@example.no state)" = active
check "--consent: the basis is consent" test "$(sub_field ola.nordmann@example.no basis)" = consent
check "--consent: the consent date is today" test "$(sub_field ola.nordmann@example.no consent_date)" = "$today"
check "--consent: the suppression entry is cleared" test "$(suppressed)" = $((s0 - 1))
check "--consent: stats --json agrees" test "$(nl stats --json | jval 'd["suppressed"]')" = $((s0 - 1))
expect_out 0 "consent recorded" "--consent on an existing subscriber records consent" \
	nl enroll kari@example.no --consent
check "--consent on an existing subscriber: basis consent, same id" \
	test "$(sub_field kari@example.no basis)/$(sub_field kari@example.no id)" = "consent/$id"

# --- usage errors ---
n=$(count)
expect_out 2 "give one address" "enroll without an address: exit 2" nl enroll
expect_out 2 "give one address" "enroll with two addresses: exit 2" nl enroll a@example.no b@example.no
expect_out 2 "unknown option" "enroll with an unknown option: exit 2" nl enroll --bogus a@example.no
expect_out 2 "unknown option" "enroll with an unknown short option: exit 2" nl enroll -x a@example.no
expect_out 2 "needs a value" "enroll --name without a value: exit 2" nl enroll a@example.no --name
expect_out 2 "needs a value" "enroll --date without a value: exit 2" nl enroll a@example.no --date
check "usage errors: nothing was stored" test "$(count)" = "$n"
expect_out 2 "unknown command" "an unknown command: exit 2" nl enrol a@example.no
expect_out 2 "usage: newsletter" "no command at all: exit 2 with the usage" nl
expect_out 2 "unknown option" "an unknown global option: exit 2" nl --bogus stats
expect_out 2 "takes no arguments" "list with an argument: exit 2" nl list extra
expect_out 2 "takes no arguments" "stats with an argument: exit 2" nl stats extra
expect_out 2 "give the old and the new address" "rectify with one address: exit 2" nl rectify a@example.no
expect_out 2 "give one" "import without a file: exit 2" nl import

# --- help ---
for cmd in init enroll import list stats export rectify restrict unrestrict unsubscribe erase retention link key; do
	expect_out 0 "^usage: newsletter $cmd" "$cmd --help: exit 0 with its usage" nl "$cmd" --help
	expect_out 0 "^usage: newsletter $cmd" "$cmd -h: exit 0 with its usage" nl "$cmd" -h
done
expect_out 0 "^usage: newsletter " "newsletter --help: exit 0" nl --help
run_cmd nl --help
for cmd in init enroll import list stats export rectify restrict unrestrict unsubscribe erase retention link key; do
	check "newsletter --help lists $cmd" grep -Eq "^  $cmd " <<<"$OUT"
done
expect_out 0 "^usage: newsletter " "newsletter -h: exit 0" nl -h
expect_out 0 "^usage: newsletter enroll EMAIL" "newsletter help enroll: exit 0 with enroll's usage" nl help enroll
expect_out 0 "^usage: newsletter " "newsletter help: exit 0" nl help
expect_out 0 "^newsletter [0-9]+\.[0-9]+\.[0-9]+$" "newsletter --version: exit 0 with a version" nl --version
expect_out 0 "^usage: newsletter enroll" "enroll --help after other arguments still helps" nl enroll a@example.no --help
check "--help enrolled nobody" test "$(sub_field a@example.no id)" = none

finish
