#!/usr/bin/env bash
# tests/e2e/import.sh - 'newsletter import FILE.csv': RFC 4180 CSV of
# purchases; every bad line reported as FILE:LINE: reason; all or nothing
# unless --skip-bad.
. "$(dirname "$0")/lib.sh"

D=$SCRATCH/csv
mkdir -p "$D"

# Whether stderr of the last run reports LINE of FILE (basename match).
reports_line() { grep -Eq "(^|/)$1:$2: " <<<"$ERR"; }
bad_line_count() { grep -Ec "(^|/)$1:[0-9]+: " <<<"$ERR"; }
imp_stdin() { nl import - "$@" <"$STDIN_FILE"; }

nl init >/dev/null 2>&1 || { fail "init"; finish; }

# --- a good file: BOM, CRLF, quotes, commas, doubled quotes, UTF-8 names ---
printf '\xef\xbb\xbfemail,name,order,date\r\n' >"$D/good.csv"
printf '"ola@example.no","Nordmann, Ola ""Olsen""",A-1,2025-01-02\r\n' >>"$D/good.csv"
printf 'ase@example.no,Åse Ærlig Ødegård,"B-2, gift",\r\n' >>"$D/good.csv"
printf 'per@example.no,,,2024-06-30\r\n' >>"$D/good.csv"
printf '\r\n' >>"$D/good.csv"
printf 'Bjorn@Example.NO,"Bjørn ""Bamse"" Blåbær","",2023-12-24\r\n' >>"$D/good.csv"
expect_out 0 "imported 4 rows: 4 new, 0 refreshed, 0 suppressed" "a good CSV imports every row (exit 0)" \
	nl import "$D/good.csv"
check "good CSV: 4 subscribers" test "$(count)" = 4
check "good CSV: a quoted name with a comma and doubled quotes" \
	test "$(sub_field ola@example.no name)" = 'Nordmann, Ola "Olsen"'
check "good CSV: the order of the first row" test "$(sub_field ola@example.no last_order)" = A-1
check "good CSV: the date of the first row" test "$(sub_field ola@example.no last_purchase)" = 2025-01-02
check "good CSV: æøå in a name survive" test "$(sub_field ase@example.no name)" = "Åse Ærlig Ødegård"
check "good CSV: a quoted order with a comma" test "$(sub_field ase@example.no last_order)" = "B-2, gift"
check "good CSV: an empty date means today" test "$(sub_field ase@example.no last_purchase)" = "$(date -u +%F)"
check "good CSV: empty name and order are none" \
	test "$(sub_field per@example.no name)/$(sub_field per@example.no last_order)" = null/null
check "good CSV: the BOM is not part of the first address" test "$(sub_field ola@example.no id)" != none
check "good CSV: the domain is lower-cased" grep -Fq '"email":"Bjorn@example.no"' <<<"$(nl list --json)"
check "good CSV: the CR of CRLF is not part of the date" test "$(sub_field Bjorn@example.no last_purchase)" = 2023-12-24
check "good CSV: a name with quotes and æøå" test "$(sub_field bjorn@example.no name)" = 'Bjørn "Bamse" Blåbær'
run_cmd sqlite3 "$SCRATCH/newsletter.db" "SELECT count(*) FROM audit WHERE event = 'enrolled' AND source = 'import'"
check "good CSV: each row is in the audit log as an import" test "$OUT" = 4

# Columns in another order, header in other case, only some columns.
printf 'Date,EMAIL\n2025-05-05,kari@example.no\n' >"$D/order.csv"
expect_out 0 "1 new" "columns in any order and case" nl import "$D/order.csv"
check "columns in any order: the date went to the date" test "$(sub_field kari@example.no last_purchase)" = 2025-05-05
printf 'email\n' >"$D/header-only.csv"
expect_out 0 "imported 0 rows" "a header-only file imports nothing (exit 0)" nl import "$D/header-only.csv"

printf 'email,name\nnofinal1@example.no,A\nnofinal2@example.no,B' >"$D/nofinal.csv"
expect_out 0 "imported 2 rows: 2 new" "a last line without a newline is imported" nl import "$D/nofinal.csv"
check "no final newline: the last row is there, its name whole" test "$(sub_field nofinal2@example.no name)" = B
printf 'email,name\rcr1@example.no,C\rcr2@example.no,D\r' >"$D/cr.csv"
expect_out 0 "imported 2 rows: 2 new" "CR-only line ends are lines too" nl import "$D/cr.csv"

# --- bad lines: every one reported, nothing imported, exit 2 ---
n0=$(count)
cat >"$D/bad.csv" <<'CSV'
email,name,order,date
good1@example.no,Good One,G-1,2025-01-01
no-at-sign,Bad Address,B-1,2025-01-01
good2@example.no,Good Two,G-2,2025-01-02
bad-date@example.no,Bad Date,B-2,2026-02-30
too@many@example.no,Two Ats,B-3,
good3@example.no,Good Three,G-3,
fewer@example.no,Fewer Fields
more@example.no,More,Fields,2025-01-01,extra
quote@example.no,"a"b,B-4,
future@example.no,Future,B-5,2999-01-01
good4@example.no,Good Four,G-4,2025-01-04
CSV
printf 'nul@example.no,N\0UL,B-6,\n' >>"$D/bad.csv"
printf '"unterminated@example.no,Open,B-7,\n' >>"$D/bad.csv"
expect_out 2 "9 bad lines of 13: nothing imported" "a CSV with bad lines: exit 2, nothing imported" \
	nl import "$D/bad.csv"
for l in 3 5 6 8 9 10 11 13 14; do
	check "bad CSV: line $l is reported as bad.csv:$l:" reports_line bad.csv "$l"
done
check "bad CSV: exactly 9 lines are reported" test "$(bad_line_count bad.csv)" = 9
check "bad CSV: no good line is reported" \
	bash -c '! grep -Eq "bad\.csv:(2|4|7|12): " <<<"$1"' _ "$ERR"
check "bad CSV: the address error says why" grep -Eq "bad\.csv:3: invalid address" <<<"$ERR"
check "bad CSV: the date error says why" grep -Eq "bad\.csv:5: .*no such day" <<<"$ERR"
check "bad CSV: the field count error says why" grep -Eq "bad\.csv:8: 2 fields where the header has 4" <<<"$ERR"
check "bad CSV: the extra field error says why" grep -Eq "bad\.csv:9: 5 fields where the header has 4" <<<"$ERR"
check "bad CSV: the future date error says why" grep -Eq "bad\.csv:11: .*future" <<<"$ERR"
check "bad CSV: the unclosed quote error says why" grep -Eq "bad\.csv:14: .*quoted field is not closed" <<<"$ERR"
check "bad CSV: nothing was imported (count unchanged)" test "$(count)" = "$n0"
check "bad CSV: not even the good rows" test "$(sub_field good1@example.no id)" = none

# --- --skip-bad imports the good rows ---
expect_out 0 "imported 13 rows: 4 new, 0 refreshed, 0 suppressed \(not enrolled\), 9 bad \(skipped\)" \
	"--skip-bad imports the good rows (exit 0)" nl import --skip-bad "$D/bad.csv"
check "--skip-bad: still reports every bad line" test "$(bad_line_count bad.csv)" = 9
check "--skip-bad: four more subscribers" test "$(count)" = $((n0 + 4))
for a in good1 good2 good3 good4; do
	check "--skip-bad: $a is enrolled" test "$(sub_field $a@example.no id)" != none
done
for a in fewer more quote future bad-date nul unterminated; do
	check "--skip-bad: $a is not enrolled" test "$(sub_field $a@example.no id)" = none
done

# --- bad headers and files: exit 2, nothing imported ---
n0=$(count)
printf 'name,order\nNo Email,X-1\n' >"$D/noemail.csv"
expect_out 2 "noemail\.csv:1: .*no 'email' column" "a header without email: exit 2" nl import "$D/noemail.csv"
printf 'email,phone\nphone@example.no,12345678\n' >"$D/unknown.csv"
expect_out 2 "unknown\.csv:1: .*unknown column 'phone'" "an unknown column: exit 2 naming it" nl import "$D/unknown.csv"
printf 'email,name,email\ndup@example.no,D,dup@example.no\n' >"$D/dupcol.csv"
expect_out 2 "dupcol\.csv:1: .*twice" "a column named twice: exit 2" nl import "$D/dupcol.csv"
: >"$D/empty.csv"
expect_out 2 "empty\.csv is empty" "an empty file: exit 2" nl import "$D/empty.csv"
mkdir -p "$D/folder"
expect_out 2 "folder is a folder: give a CSV file" "a folder is named as such (exit 2), not 'empty'" nl import "$D/folder"
printf '\xef\xbb\xbf' >"$D/bom-only.csv"
expect_out 2 "empty" "a file with only a BOM is reported as empty (exit 2)" nl import "$D/bom-only.csv"
expect_out 2 "missing\.csv" "a missing file: exit 2 naming it" nl import "$D/missing.csv"
expect_out 2 "give one" "two files: exit 2" nl import "$D/good.csv" "$D/good.csv"
expect_out 2 "unknown option" "an unknown option: exit 2" nl import --bogus "$D/good.csv"
check "bad headers and files: nothing imported" test "$(count)" = "$n0"

# More fields than a record may have, an empty address, a quoted comma.
printf 'email,name\n%s\n,Empty\n"x,y@example.no",Comma\nfine-fields@example.no,F\n' "$(printf 'f,%.0s' $(seq 40))" >"$D/fields.csv"
expect_out 2 "3 bad lines of 4" "40 fields, an empty address, a comma in an address: exit 2" nl import "$D/fields.csv"
check "40 fields: reported as fields.csv:2:" grep -Eq "fields\.csv:2: .*fields" <<<"$ERR"
check "an empty address: reported as fields.csv:3:" grep -Eq "fields\.csv:3: invalid address" <<<"$ERR"
check "a comma in an address: reported as fields.csv:4:" grep -Eq "fields\.csv:4: invalid address" <<<"$ERR"
check "fields.csv: the good row was not imported either" test "$(sub_field fine-fields@example.no id)" = none

# --- a line over 8192 bytes ---
{
	echo "email,name"
	echo "long@example.no,$(head -c 9000 /dev/zero | tr '\0' x)"
	echo "after-long@example.no,After"
	echo "bad-after-long,Bad"
} >"$D/long.csv"
expect_out 2 "2 bad lines of 3" "a line over 8192 bytes: exit 2" nl import "$D/long.csv"
check "long line: reported as long.csv:2: with the limit" grep -Eq "long\.csv:2: .*8192" <<<"$ERR"
check "long line: the next lines keep their numbers (long.csv:4:)" reports_line long.csv 4
check "long line: nothing imported" test "$(sub_field after-long@example.no id)" = none
expect_rc 0 "long line with --skip-bad" nl import --skip-bad "$D/long.csv"
check "long line with --skip-bad: the line after it is imported" test "$(sub_field after-long@example.no id)" != none
check "long line with --skip-bad: the long one is not" test "$(sub_field long@example.no id)" = none

# A quoted field over several lines counts its lines.
printf 'email,name\n"multi@example.no","Line one\nline two"\nbad-after-multi,B\n' >"$D/multi.csv"
expect_rc 2 "a record over two lines, then a bad line" nl import "$D/multi.csv"
check "multi-line record: the bad line after it is line 4" reports_line multi.csv 4

# --- duplicates and suppressed rows ---
n0=$(count)
cat >"$D/dups.csv" <<'CSV'
email,name,date
dup@example.no,First,2025-01-01
dup@example.no,Second,2025-02-01
DUP@EXAMPLE.NO,,2025-03-01
new-one@example.no,New,
CSV
expect_out 0 "imported 4 rows: 2 new, 2 refreshed, 0 suppressed" "duplicates in a file count as refreshed" \
	nl import "$D/dups.csv"
check "duplicates: one row for the address" test "$(count)" = $((n0 + 2))
check "duplicates: the latest purchase wins" test "$(sub_field dup@example.no last_purchase)" = 2025-03-01
check "duplicates: the last given name wins" test "$(sub_field dup@example.no name)" = Second
expect_out 0 "imported 4 rows: 0 new, 4 refreshed" "importing the same file again: all refreshed" nl import "$D/dups.csv"
check "importing again: no new rows" test "$(count)" = $((n0 + 2))

nl unsubscribe sup1@example.no >/dev/null 2>&1
nl unsubscribe Sup2@Example.no >/dev/null 2>&1
n0=$(count)
printf 'email\nsup1@example.no\nSUP2@example.no\nnot-sup@example.no\nsup1@example.no\n' >"$D/sup.csv"
expect_out 0 "imported 4 rows: 1 new, 0 refreshed, 3 suppressed \(not enrolled\)" \
	"suppressed rows are counted, not enrolled" nl import "$D/sup.csv"
check "suppressed rows: not enrolled" \
	test "$(sub_field sup1@example.no id)/$(sub_field sup2@example.no id)" = none/none
check "suppressed rows: the others are" test "$(count)" = $((n0 + 1))

# --- standard input ---
STDIN_FILE=$D/stdin.csv
printf 'email,name\nstdin1@example.no,In One\nstdin2@example.no,In Two\n' >"$STDIN_FILE"
expect_out 0 "imported 2 rows: 2 new" "import from standard input ('-')" imp_stdin
check "stdin: both imported" \
	test "$(sub_field stdin1@example.no name)/$(sub_field stdin2@example.no name)" = "In One/In Two"
printf 'email\nstdin3@example.no\nbad-stdin\n' >"$STDIN_FILE"
expect_out 2 "\(stdin\):3: " "stdin: a bad line is named (stdin):3:" imp_stdin
check "stdin: nothing imported from the bad input" test "$(sub_field stdin3@example.no id)" = none
: >"$STDIN_FILE"
expect_rc 2 "stdin: empty input is exit 2" imp_stdin

# --- a bigger file is one quick transaction ---
n0=$(count)
{
	echo "email,name,order,date"
	for i in $(seq 5000); do echo "bulk$i@example.org,Bulk $i,O-$i,2025-01-01"; done
} >"$D/bulk.csv"
t0=$(date +%s%N)
expect_out 0 "imported 5000 rows: 5000 new" "a file of 5000 rows imports" nl import "$D/bulk.csv"
ms=$((($(date +%s%N) - t0) / 1000000))
check "5000 rows: all there" test "$(count)" = $((n0 + 5000))
check "5000 rows imported in under 10 s (took ${ms} ms)" test "$ms" -lt 10000
n0=$(count)
{
	echo "email,name"
	for i in $(seq 3000); do echo "late$i@example.org,Late $i"; done
	echo "not-an-address,Bad"
} >"$D/bulk-bad.csv"
expect_out 2 "1 bad line of 3001" "3001 rows with one bad at the end: exit 2" nl import "$D/bulk-bad.csv"
check "one bad row at the end: none of the 3000 good rows is imported" test "$(count)" = "$n0"

finish
