#!/usr/bin/env bash
# tests/e2e/init.sh - 'newsletter init', the key file and 'key rotate'.
#
# init makes the database and the key file (both mode 0600) and refuses to
# touch either again; every other command, before init, says to run it; a
# key file that others can read, or that is damaged, is refused; 'key
# rotate' adds a key that signs new links while the first one stays.
. "$(dirname "$0")/lib.sh"

KEY=$SCRATCH/newsletter.key

mode() { stat -c %a "$1"; }
sum() { sha256sum "$@" 2>/dev/null; }
# The key id inside a link's token (payload byte 1).
link_key_id() {
	python3 -c '
import base64, sys
tok = sys.argv[1].rsplit("/", 1)[1].split(".")[0]
p = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
print(p[1])' "$1"
}
# The subscriber id inside a link's token (payload bytes 3..10, big-endian).
link_sub_id() {
	python3 -c '
import base64, sys
tok = sys.argv[1].rsplit("/", 1)[1].split(".")[0]
p = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
print(int.from_bytes(p[3:11], "big"))' "$1"
}
key_lines() { grep -Ec '^[0-9]+ ' "$KEY"; }

# --- before init: every command says what to do, and creates nothing ---
printf 'email\nkari@example.no\n' >"$SCRATCH/one.csv"
while IFS='|' read -r name args; do
	[ -n "$name" ] || continue
	# shellcheck disable=SC2086
	expect_out 1 "newsletter init" "before init: $name fails naming 'newsletter init'" nl $args
done <<EOF
enroll|enroll kari@example.no
import|import $SCRATCH/one.csv
list|list
list --json|list --json
stats|stats
export|export kari@example.no
rectify|rectify kari@example.no kari2@example.no
restrict|restrict kari@example.no
unrestrict|unrestrict kari@example.no
unsubscribe|unsubscribe kari@example.no
erase|erase kari@example.no
retention|retention
link|link kari@example.no
key rotate|key rotate
EOF
check "before init: no command created a database or a key file" \
	test ! -e "$DB" -a ! -e "$DB-wal" -a ! -e "$KEY"

# --- init --help and bad arguments create nothing ---
expect_out 0 "usage: newsletter init" "init --help prints its usage, exit 0" nl init --help
check "init --help created nothing" test ! -e "$DB" -a ! -e "$KEY"
expect_rc 2 "init with an argument is a usage error" nl init extra
check "init with an argument created nothing" test ! -e "$DB" -a ! -e "$KEY"

# --- init ---
expect_out 0 "created the database" "init creates the database and the key file" nl init
check "init: the database exists" test -s "$DB"
check "init: the key file exists" test -s "$KEY"
check "init: the key file has mode 0600 (got $(mode "$KEY"))" test "$(mode "$KEY")" = 600
check "init: the database has mode 0600 (got $(mode "$DB"))" test "$(mode "$DB")" = 600
check "init: the key file holds exactly one key" test "$(key_lines)" = 1
check "init: the database has the schema" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM sqlite_master WHERE name IN ('subscriber','suppression','audit')")" = 3
expect_out 0 "subscribers: +0" "after init: stats works on the empty database" nl stats

nl enroll kari@example.no >/dev/null 2>&1
before=$(sum "$DB" "$KEY")
expect_out 1 "exists already" "a second init is refused (exit 1)" nl init
check "a second init changes neither the database nor the key file" test "$(sum "$DB" "$KEY")" = "$before"
check "a second init keeps the subscriber" test "$(sqlite3 "$DB" 'SELECT count(*) FROM subscriber')" = 1

# Database gone, key file still there: init refuses to overwrite the key.
mv "$DB" "$SCRATCH/saved.db"
keysum=$(sum "$KEY")
expect_out 1 "key file .* exists already" "init with a key file left over is refused (exit 1)" nl init
check "init with a key file left over: key unchanged, no database made" \
	test "$(sum "$KEY")" = "$keysum" -a ! -e "$DB"
expect_out 1 "does not exist: run 'newsletter init' first" \
	"a missing database (key present) is named, with 'newsletter init'" nl stats
check "a missing database is not created by a command" test ! -e "$DB"
mv "$SCRATCH/saved.db" "$DB"

# A database folder that does not exist: init fails and leaves no key file behind.
mkdir -p "$SCRATCH/other"
cat >"$SCRATCH/other.conf" <<CONF
[store]
database = $SCRATCH/no/such/folder/newsletter.db
key_file = $SCRATCH/other/newsletter.key
CONF
expect_rc 1 "init into a missing folder fails (exit 1)" \
	"$NEWSLETTER" --config "$SCRATCH/other.conf" init
check "init into a missing folder leaves no key file behind" test ! -e "$SCRATCH/other/newsletter.key"

# --- key file permissions ---
for m in 644 640 604 660 602 666; do
	chmod "$m" "$KEY"
	expect_out 1 "chmod 600" "key file mode $m is refused, naming chmod" nl stats
done
chmod 600 "$KEY"
# The message names the key file's path and its mode.
chmod 644 "$KEY"
expect_out 1 "newsletter\.key.*644" "the mode message names the key file and its mode" nl list
chmod 400 "$KEY"
expect_rc 0 "key file mode 0400 (stricter) is accepted" nl stats
chmod 600 "$KEY"
expect_rc 0 "key file mode 0600 is accepted" nl stats

# --- damaged key files ---
cp -p "$KEY" "$SCRATCH/good.key"
first=$(grep -E '^1 ' "$KEY")
corrupt_key() {	# NAME CONTENT: the key file with CONTENT appended (or replacing)
	local name=$1
	shift
	cp -p "$SCRATCH/good.key" "$KEY"
	"$@"
	chmod 600 "$KEY"
	expect_out 1 "newsletter\.key" "damaged key file ($name) is refused, naming the file" nl stats
	cp -p "$SCRATCH/good.key" "$KEY"
}
k_garbage() { echo 'this is garbage' >>"$KEY"; }
k_badid() { echo '0 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' >>"$KEY"; }
k_bigid() { echo '256 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' >>"$KEY"; }
k_short() { echo '2 AAAA' >>"$KEY"; }
k_dup() { echo "$first" >>"$KEY"; }
k_nokey() { grep '^#' "$SCRATCH/good.key" >"$KEY"; }
k_empty() { : >"$KEY"; }
k_nobase64() { echo '2 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!=' >>"$KEY"; }
k_long() { printf '2 %0300d\n' 0 >>"$KEY"; }
corrupt_key "a garbage line" k_garbage
corrupt_key "key id 0" k_badid
corrupt_key "key id 256" k_bigid
corrupt_key "a short key" k_short
corrupt_key "a key id twice" k_dup
corrupt_key "comments only" k_nokey
corrupt_key "an empty file" k_empty
corrupt_key "not base64" k_nobase64
corrupt_key "a very long line" k_long
# The garbage line is named by its line number.
cp -p "$SCRATCH/good.key" "$KEY"
echo 'garbage' >>"$KEY"
n=$(wc -l <"$KEY")
expect_out 1 "newsletter\.key:$n:" "a garbage key line is named file:LINE" nl stats
cp -p "$SCRATCH/good.key" "$KEY"
expect_rc 0 "the restored key file works again" nl stats

# --- key rotate ---
nl unsubscribe gone@example.no >/dev/null 2>&1
run_cmd nl link kari@example.no
link1=$OUT
check "link before rotation is signed with key 1" test "$(link_key_id "$link1")" = 1
expect_out 0 "added key 2" "key rotate adds key 2 (exit 0)" nl key rotate
check "after rotation the key file holds two keys" test "$(key_lines)" = 2
check "after rotation the first key line is unchanged" test "$(grep -E '^1 ' "$KEY")" = "$first"
check "after rotation the key file has a key 2" grep -Eq '^2 [A-Za-z0-9+/]{43}=$' "$KEY"
check "after rotation the key file is still mode 0600 (got $(mode "$KEY"))" test "$(mode "$KEY")" = 600
check "after rotation no temporary key file is left" test ! -e "$KEY.new"
run_cmd nl link kari@example.no
link2=$OUT
check "link after rotation is signed with key 2" test "$(link_key_id "$link2")" = 2
check "link after rotation differs from the old one" test "$link1" != "$link2"
check "link after rotation names the same subscriber" \
	test "$(link_sub_id "$link1")" = "$(link_sub_id "$link2")"
expect_out 0 "not enrolled" "after rotation the suppression list still works (first key kept)" \
	nl enroll gone@example.no
check "after rotation the suppressed address is still not a subscriber" \
	test "$(sqlite3 "$DB" "SELECT count(*) FROM subscriber WHERE email = 'gone@example.no'")" = 0
expect_out 0 "added key 3" "a second rotation adds key 3" nl key rotate
check "after two rotations the key file holds three keys" test "$(key_lines)" = 3
run_cmd nl link kari@example.no
check "link after the second rotation is signed with key 3" test "$(link_key_id "$OUT")" = 3
chmod 644 "$KEY"
keysum=$(sum "$KEY")
expect_out 1 "chmod" "key rotate refuses a key file readable by others" nl key rotate
check "a refused rotation leaves the key file unchanged" test "$(sum "$KEY")" = "$keysum"
chmod 600 "$KEY"
expect_rc 2 "key without a subcommand is a usage error" nl key
expect_rc 2 "key with an unknown subcommand is a usage error" nl key remove
expect_out 0 "usage: newsletter key" "key --help exits 0" nl key --help

finish
