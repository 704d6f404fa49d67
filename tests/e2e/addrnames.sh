#!/usr/bin/env bash
# tests/e2e/addrnames.sh - one mailbox, one identity: a quoted local part
# ("per.x"@, "per\.x"@) is the plain address for suppression, lookups and
# bounce attribution; names with bidi controls or other invisible format
# characters are refused at the door; a name that looks like an RFC 2047
# encoded word reaches the To header as typed (read by Python's email
# package), never as what it encodes.
. "$(dirname "$0")/lib.sh"

MINT=$(test_tool mint-token)
write_conf "from = Nyheitsbrevet <news@example.org>" "" "[bounce]" "domain = news.example.org"
nl init >/dev/null 2>&1 || { fail "init"; finish; }

# --- quoted local parts: stored, looked up and suppressed as the plain address ---
expect_rc 0 'enroll "per.y"@Example.com' nl enroll '"per.y"@Example.com'
check 'stored as per.y@example.com' test "$(sqlite3 "$DB" 'SELECT email FROM subscriber')" = per.y@example.com
expect_out 0 "was enrolled already" 'enroll "per\.y"@example.com: the same subscriber' \
	nl enroll '"per\.y"@example.com'
check "one row for the three spellings" test "$(count)" = 1
expect_rc 0 'unsubscribe "p\er.y"@example.com unsubscribes per.y' nl unsubscribe '"p\er.y"@example.com'
check "per.y is gone" test "$(count)" = 0

expect_rc 0 "enroll per.x@example.com" nl enroll per.x@example.com
expect_rc 0 "unsubscribe per.x@example.com" nl unsubscribe per.x@example.com
check "per.x is suppressed" test "$(suppressed)/$(count)" = 2/0
for a in '"per.x"@example.com' '"per\.x"@example.com' '"\p\e\r\.\x"@EXAMPLE.com' '"Per.X"@example.com'; do
	expect_out 0 "not enrolled" "enroll '$a' after unsubscribe per.x: suppressed, not enrolled" nl enroll "$a"
done
printf 'email,name\n"""per.x""@example.com",Per\n"""per\\.x""@example.com",Per\n' >"$SCRATCH/quoted.csv"
expect_out 0 "imported 2 rows: 0 new, 0 refreshed, 2 suppressed" "import of the quoted forms: both suppressed" \
	nl import "$SCRATCH/quoted.csv"
check "no quoted spelling enrolled per.x again" test "$(count)" = 0
expect_rc 0 'a quoted local part that needs its quotes is accepted' nl enroll '"per\ x"@example.com'
check 'it is stored in its shortest quoted form' \
	test "$(sqlite3 "$DB" 'SELECT email FROM subscriber')" = '"per x"@example.com'
expect_rc 0 'unsubscribe "per x"@example.com' nl unsubscribe '"per x"@example.com'
expect_out 0 "not enrolled" 'then "per\ x"@example.com is suppressed' nl enroll '"per\ x"@example.com'

# --- bounces name the quoted form: attributed to the subscriber ---
dsn() { dsn_mail "" "$1" 5.1.1 "550 5.1.1 User unknown"; }	# $1 as the report writes it (lib.sh)
if [ -z "$MINT" ]; then
	fail "the test tool mint-token is built" "run 'make tools' (make check does)"
else
	nl enroll bob.x@example.net >/dev/null 2>&1
	nl enroll x@example.net >/dev/null 2>&1
	BOB=$(sub_field bob.x@example.net id)
	dsn '"bob\.x"@example.net' >"$SCRATCH/dsn-verp"
	run_cmd env ORIGINAL_RECIPIENT="bounces+$("$MINT" "$SCRATCH/newsletter.key" bounce "$BOB")@news.example.org" \
		$NEWSLETTER_WRAP "$NEWSLETTER" --config "$CONF" bounce <"$SCRATCH/dsn-verp"
	check 'a VERP bounce whose Final-Recipient is "bob\.x"@: exit 0' test "$RC" = 0
	check "and the subscriber bob.x is deleted as a hard bounce" test "$(sub_field bob.x@example.net id)" = none
	check "x@example.net, a subscriber the report does not name, is untouched" test "$(sub_field x@example.net id)" != none
	write_conf "from = Nyheitsbrevet <news@example.org>" "" "[bounce]" "domain = news.example.org" "require_verp = false"
	nl enroll carol.x@example.net >/dev/null 2>&1
	dsn '"carol\.x"@example.net' >"$SCRATCH/dsn-plain"
	expect_rc 0 'a bounce without a token naming "carol\.x"@: exit 0' nl bounce <"$SCRATCH/dsn-plain"
	check "without a token (require_verp = false) it is attributed by that address: carol.x deleted" \
		test "$(sub_field carol.x@example.net id)" = none
	check "and x@example.net is still there" test "$(sub_field x@example.net id)" != none
	write_conf "from = Nyheitsbrevet <news@example.org>" "" "[bounce]" "domain = news.example.org"
fi

# --- names: no bidi controls or other invisible format characters ---
n=$(count)
while IFS='|' read -r what name why; do
	[ -n "$what" ] || continue
	expect_out 2 "name has .*$why" "a name with $what: exit 2, the reason named" \
		nl enroll named@example.org --name "$(printf "$name")"
done <<EOF
U+202E RIGHT-TO-LEFT OVERRIDE|Admin \\xe2\\x80\\xaegro.live|bidirectional control character \\(U\\+202E\\)
U+2066 LEFT-TO-RIGHT ISOLATE|\\xe2\\x81\\xa6Kari|bidirectional control character \\(U\\+2066\\)
U+200F RIGHT-TO-LEFT MARK|Kari\\xe2\\x80\\x8f|bidirectional control character \\(U\\+200F\\)
U+200B ZERO WIDTH SPACE|Ka\\xe2\\x80\\x8bri|invisible format character \\(U\\+200B\\)
U+FEFF BYTE ORDER MARK|\\xef\\xbb\\xbfKari|invisible format character \\(U\\+FEFF\\)
U+2028 LINE SEPARATOR|Kari\\xe2\\x80\\xa8Nordmann|line or paragraph separator \\(U\\+2028\\)
U+0085 NEXT LINE (C1)|Kari\\xc2\\x85|control character
EOF
printf 'email,name\nnamed@example.org,Admin \xe2\x80\xaegro.live\n' >"$SCRATCH/bidi.csv"
expect_out 2 "bidi.csv:2: .*bidirectional control character \(U\+202E\)" "import: a name with U+202E is a bad line naming why" \
	nl import "$SCRATCH/bidi.csv"
check "names refused: nothing stored" test "$(count)" = "$n"
expect_rc 0 "a name with U+200D ZERO WIDTH JOINER (an emoji sequence) is accepted" \
	nl enroll zwj@example.org --name "$(printf 'Kari \xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb')"
expect_rc 0 "a name with U+200C ZERO WIDTH NON-JOINER (Persian) is accepted" \
	nl enroll zwnj@example.org --name "$(printf '\xd9\x85\xdb\x8c\xe2\x80\x8c\xd8\xae\xd9\x88\xd8\xa7\xd9\x87')"
nl erase zwj@example.org >/dev/null 2>&1
nl erase zwnj@example.org >/dev/null 2>&1

# --- a name that is an encoded word shows as typed in To ---
EW='=?utf-8?b?QWRtaW4gPGFkbWluQGV2aWwub3JnPg==?='
expect_rc 0 "a name that looks like an encoded word is accepted as text" nl enroll victim@example.org --name "$EW"
expect_rc 0 "a long name with =? and æøå is accepted" \
	nl enroll long@example.org --name "Åse =?utf-8?q?Admin?= og eit langt namn med æøå som går over fleire ord"
cat >"$SCRATCH/issue.md" <<'MD'
subject: Nytt
id: names

Hei {{name}}!

[Meld av]({{unsubscribe_url}})
MD
expect_out 0 "wrote [0-9]+ messages" "--preview writes the messages" nl send "$SCRATCH/issue.md" --preview "$SCRATCH/pv"
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
if CHK=$(python3 "$TOOLS/check_mail.py" "$SCRATCH/pv" "$DB"); then
	pass "check_mail.py: every To name displays as stored, every To address is its subscriber's"
else
	fail "check_mail.py: every To name displays as stored" "$CHK"
fi
run_cmd python3 - "$SCRATCH/pv" "$EW" <<'PY'
import email, email.policy, glob, sys
for f in glob.glob(sys.argv[1] + "/*.eml"):
    m = email.message_from_bytes(open(f, "rb").read(), policy=email.policy.default)
    a = m["To"].addresses[0]
    if a.addr_spec == "victim@example.org":
        print("name=%s|addrs=%d" % (a.display_name, len(m["To"].addresses)))
PY
check "Python reads the To name as typed: $EW" grep -qxF "name=$EW|addrs=1" <<<"$OUT"
check "no message shows admin@evil.org as a recipient" \
	bash -c '! python3 -c "
import email, email.policy, glob, sys
for f in glob.glob(sys.argv[1] + \"/*.eml\"):
    m = email.message_from_bytes(open(f, \"rb\").read(), policy=email.policy.default)
    print(str(m[\"To\"]))
" "$1" | grep -qi "admin@evil.org"' _ "$SCRATCH/pv"

finish
