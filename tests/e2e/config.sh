#!/usr/bin/env bash
# tests/e2e/config.sh - finding and reading the configuration file.
#
# Without a file the built-in defaults work (/var/lib/newsletter, the
# packaged units' state folder, wherever the command runs; init says what
# to do when that folder is missing); ./newsletter.conf, $NEWSLETTER_CONFIG
# and --config are honoured in that order of strength; every bad line is
# exit 2 with FILE:LINE and the key; relative paths in the file are
# relative to the file's folder, the built-in ones are not.
#
# The test never touches the machine's /var/lib/newsletter: the commands
# that use the defaults run in a private mount namespace (unshare) whose
# /var/lib is an empty tmpfs, with the scratch folder $V mounted as
# /var/lib/newsletter (or, for the missing folder, nothing there).
. "$(dirname "$0")/lib.sh"

unset NEWSLETTER_CONFIG

# The binary without the scratch config: bare ARGS...
bare() { $NEWSLETTER_WRAP "$NEWSLETTER" "$@"; }
# Runs bare in a folder: in_dir DIR ARGS...
in_dir() {
	local d=$1
	shift
	(cd "$d" && bare "$@")
}
count_in() { sqlite3 "$1" 'SELECT count(*) FROM subscriber'; }

# The state folder as the commands below see it: /var/lib/newsletter.
V=$SCRATCH/var-lib-newsletter
mkdir -p "$V"
# Runs bare in a folder, /var/lib/newsletter being $V: in_state DIR ARGS...
# (in_state_missing: with no /var/lib/newsletter at all).
in_state() {
	local d=$1
	shift
	"${UNSHARE[@]}" bash -c 'mount -t tmpfs -o mode=755 tmpfs /var/lib && mkdir /var/lib/newsletter &&
		mount --bind "$1" /var/lib/newsletter && cd "$2" && shift 2 && exec "$@"' \
		_ "$V" "$d" $NEWSLETTER_WRAP "$NEWSLETTER" "$@"
}
in_state_missing() {
	local d=$1
	shift
	"${UNSHARE[@]}" bash -c 'mount -t tmpfs -o mode=755 tmpfs /var/lib && cd "$1" && shift && exec "$@"' \
		_ "$d" $NEWSLETTER_WRAP "$NEWSLETTER" "$@"
}
# A user namespace where allowed; as root without one (a container that
# forbids them), a mount namespace alone.
UNSHARE=(unshare -rm)
if ! "${UNSHARE[@]}" bash -c 'mount -t tmpfs tmpfs /var/lib' 2>"$SCRATCH/unshare.err"; then
	UNSHARE=(unshare -m)
	if [ "$(id -u)" != 0 ] || ! "${UNSHARE[@]}" bash -c 'mount -t tmpfs tmpfs /var/lib' 2>>"$SCRATCH/unshare.err"; then
		fail "a private /var/lib for the default paths" \
			"neither 'unshare -rm' nor (as root) 'unshare -m' can make a mount namespace here:" \
			"$(head -c 400 "$SCRATCH/unshare.err")" \
			"allow user namespaces (sysctl kernel.unprivileged_userns_clone=1), or run as root with CAP_SYS_ADMIN"
		finish
	fi
fi

# --- no configuration file at all: built-in defaults in /var/lib/newsletter ---
P=$SCRATCH/plain
mkdir -p "$P"
expect_out 1 "the folder /var/lib/newsletter \(of \[store\] database\) does not exist: create it, owned by the user that runs newsletter.*or install the newsletter package" \
	"no config file, no /var/lib/newsletter: init says what to do" in_state_missing "$P" init
check "no config file, no /var/lib/newsletter: init made nothing" test -z "$(ls -A "$P")"
expect_out 0 "created the database /var/lib/newsletter/newsletter\.db" "no config file: init works with the defaults" \
	in_state "$P" init
check "no config file: newsletter.db is made in /var/lib/newsletter" test -s "$V/newsletter.db"
check "no config file: newsletter.key is made in /var/lib/newsletter" test -s "$V/newsletter.key"
check "no config file: nothing is made in the current folder" test -z "$(ls -A "$P")"
check "no config file: nothing is made in the scratch folder" test ! -e "$SCRATCH/newsletter.db"
expect_rc 0 "no config file: enroll works" in_state "$P" enroll kari@example.no
check "no config file: the subscriber is in /var/lib/newsletter/newsletter.db" test "$(count_in "$V/newsletter.db")" = 1
run_cmd in_state "$P" list --json
check "no config file: list shows the subscriber" \
	test "$(printf '%s' "$OUT" | jval 'd["subscribers"][0]["email"]')" = kari@example.no
expect_out 0 "^http://127\.0\.0\.1:8080/u/[A-Za-z0-9_-]{26}\.[A-Za-z0-9_-]{22}$" \
	"no config file: link uses the default base_url" in_state "$P" link kari@example.no
printf 'x' >"$SCRATCH/garbage"
expect_rc 0 "no config file: an unparseable bounce is kept (exit 0)" in_state "$P" bounce <"$SCRATCH/garbage"
check "no config file: in /var/lib/newsletter/keep/new" test "$(ls "$V/keep/new" | wc -l)" = 1
run_cmd in_state "$P" export kari@example.no
check "no config file: export names the default list as controller" \
	test "$(printf '%s' "$OUT" | jval 'd["controller"]')" = Newsletter

# --- ./newsletter.conf in the current folder is read when present ---
C=$SCRATCH/withconf
mkdir -p "$C"
cat >"$C/newsletter.conf" <<CONF
[store]
database = data.db
key_file = data.key
[list]
name = Folder List
CONF
expect_rc 0 "./newsletter.conf: init uses it" in_dir "$C" init
check "./newsletter.conf: its database name is used" test -s "$C/data.db" -a ! -e "$C/newsletter.db"
check "./newsletter.conf: its key file name is used" test -s "$C/data.key"
in_dir "$C" enroll ola@example.no >/dev/null 2>&1
run_cmd in_dir "$C" export ola@example.no
check "./newsletter.conf: its list name is used" \
	test "$(printf '%s' "$OUT" | jval 'd["controller"]')" = "Folder List"
printf '[store]\nbogus = 1\n' >"$SCRATCH/plain/newsletter.conf"
expect_out 2 "newsletter\.conf:2:.*bogus" "a bad ./newsletter.conf is an error, not ignored" in_dir "$P" stats
printf '[list]\nname = Bad\001Name\n' >"$SCRATCH/plain/newsletter.conf"
expect_out 2 "newsletter\.conf:2: name: the value has a control character" \
	"a control character in a name is refused, by line and key" in_dir "$P" stats
rm "$SCRATCH/plain/newsletter.conf"

# --- NEWSLETTER_CONFIG ---
E=$SCRATCH/elsewhere
mkdir -p "$E"
expect_rc 0 "NEWSLETTER_CONFIG: init uses the file it names" \
	env NEWSLETTER_CONFIG="$CONF" bash -c 'cd "$1" && shift && "$@"' _ "$E" $NEWSLETTER_WRAP "$NEWSLETTER" init
check "NEWSLETTER_CONFIG: the database is where the file says" test -s "$SCRATCH/newsletter.db"
check "NEWSLETTER_CONFIG: nothing is made in the current folder" test ! -e "$E/newsletter.db"
NEWSLETTER_CONFIG=$CONF in_dir "$E" enroll per@example.no >/dev/null 2>&1
check "NEWSLETTER_CONFIG: enroll writes to the configured database" test "$(count_in "$SCRATCH/newsletter.db")" = 1
expect_out 0 "^https://news\.example\.org/u/" "NEWSLETTER_CONFIG: the configured base_url is used" \
	env NEWSLETTER_CONFIG="$CONF" $NEWSLETTER_WRAP "$NEWSLETTER" link per@example.no
expect_out 2 "missing\.conf" "NEWSLETTER_CONFIG naming a missing file: exit 2 naming it" \
	env NEWSLETTER_CONFIG="$SCRATCH/missing.conf" $NEWSLETTER_WRAP "$NEWSLETTER" stats
expect_rc 0 "--config wins over NEWSLETTER_CONFIG" \
	env NEWSLETTER_CONFIG="$SCRATCH/missing.conf" $NEWSLETTER_WRAP "$NEWSLETTER" --config "$CONF" stats
empty_config() { (export NEWSLETTER_CONFIG= && in_state "$@"); }
expect_rc 0 "an empty NEWSLETTER_CONFIG falls back to the current folder" empty_config "$P" list

# --- --config ---
expect_out 2 "nope\.conf" "--config with a missing file: exit 2 naming the file" \
	bare --config "$SCRATCH/nope.conf" stats
expect_out 2 "not a regular file" "--config with a folder: exit 2" bare --config "$SCRATCH" stats
expect_rc 2 "--config without a file name is a usage error" bare --config
expect_out 0 "usage: newsletter enroll" "--help needs no configuration (missing --config file)" \
	bare --config "$SCRATCH/nope.conf" enroll --help

# --- bad files: exit 2, FILE:LINE and the key ---
# One file per case: the bad line is line 6, under the section given.
BAD=$SCRATCH/bad.conf
conf_case() {	# NAME SECTION LINE KEYRE
	local name=$1 section=$2 line=$3 re=$4
	printf '# newsletter test config\n\n[store]\ndatabase = %s\n[%s]\n%s\n' \
		"$SCRATCH/newsletter.db" "$section" "$line" >"$BAD"
	expect_out 2 "bad\.conf:6: $re" "config: $name: exit 2 with bad.conf:6 and the key" \
		bare --config "$BAD" stats
}
conf_case "unknown section" "nosuch" "x = 1" "x: .*unknown section.*nosuch"
conf_case "unknown key" "smtp" "bogus = 1" "bogus: .*unknown key"
conf_case "bad int" "smtp" "port = abc" "port: .*abc.*not a whole number"
conf_case "int with trailing text" "smtp" "port = 25x" "port: "
conf_case "empty int" "smtp" "port =" "port: "
conf_case "port 0 out of range" "smtp" "port = 0" "port: .*out of range"
conf_case "port 70000 out of range" "smtp" "port = 70000" "port: .*out of range"
conf_case "connections 65 out of range" "smtp" "connections = 65" "connections: .*out of range"
conf_case "smtp timeout 0 out of range" "smtp" "timeout = 0" "timeout: .*out of range"
conf_case "smtp timeout 3601 out of range" "smtp" "timeout = 3601" "timeout: .*out of range"
conf_case "int beyond long" "smtp" "rate = 99999999999999999999999" "rate: "
conf_case "negative retention" "retention" "months_without_purchase = -1" "months_without_purchase: .*out of range"
conf_case "bad tls" "smtp" "tls = maybe" "tls: .*maybe"
conf_case "bad bool" "bounce" "require_verp = perhaps" "require_verp: .*perhaps"
conf_case "not key=value" "smtp" "this is not a key value line" "not a 'key = value' line"
conf_case "bad base_url" "list" "base_url = ftp://news.example.org" "base_url: "
conf_case "base_url with a space" "list" "base_url = https://news.example.org/a b" "base_url: "
conf_case "bad language" "list" "language = de" "language: .*de"
conf_case "empty list name" "list" "name =" "name: .*empty"
conf_case "empty key_file" "store" "key_file =" "key_file: .*empty"
conf_case "bad listen" "web" "listen = 8080" "listen: "
conf_case "listen port out of range" "web" "listen = 127.0.0.1:99999" "listen: "
printf 'database = x.db\n[store]\n' >"$BAD"
expect_out 2 "bad\.conf:1: database: .*before any \[section\]" \
	"config: a key before any section: exit 2 with bad.conf:1 and the key" bare --config "$BAD" stats
check "bad config files created no database anywhere" test ! -e "$SCRATCH/x.db"

# The line number is the bad line's, after good lines, comments and blanks.
cat >"$BAD" <<CONF
# comment
; comment too

[store]
database = $SCRATCH/newsletter.db
key_file = $SCRATCH/newsletter.key

[smtp]
host = mail.example.org
port = 587
tls = starttls
tls = sometimes
CONF
expect_out 2 "bad\.conf:12: tls" "config: the error names the right line (12)" bare --config "$BAD" stats

# The README's lengths: a value of 1,024 bytes is taken whole (inih's own
# line buffer of 200 bytes cut such lines short), 1,025 is refused by line,
# key and limit.
long_conf() {	# BYTES: a file whose [list] name is BYTES long, on line 2
	printf '[list]\nname = %s\n[store]\ndatabase = %s\nkey_file = %s\n' \
		"$(head -c "$1" /dev/zero | tr '\0' N)" "$SCRATCH/newsletter.db" "$SCRATCH/newsletter.key" \
		>"$SCRATCH/long.conf"
}
for n in 1000 1024; do
	long_conf $n
	run_cmd bare --config "$SCRATCH/long.conf" export per@example.no
	check "config: a $n-byte value is accepted (exit $RC)" test "$RC" = 0
	check "config: the $n-byte value is taken whole" \
		test "$(printf '%s' "$OUT" | jval 'str(len(d["controller"]))')" = $n
done
long_conf 1025
expect_out 2 "long\.conf:2: name: the value is longer than 1024 bytes" \
	"config: a 1025-byte value is refused, naming its line and the limit" \
	bare --config "$SCRATCH/long.conf" export per@example.no
# A key of another kind has a limit of its own, named with the length.
printf '[smtp]\nport = %s25\n' "$(head -c 31 /dev/zero | tr '\0' 0)" >"$SCRATCH/long.conf"
expect_out 2 "long\.conf:2: port: the value is longer than 32 bytes \(it has 33\)" \
	"config: a 33-byte number is refused, naming the key, the limit and the length" \
	bare --config "$SCRATCH/long.conf" stats
long_conf 2100
expect_out 2 "long\.conf:2: the line is longer than 2048 bytes" \
	"config: a 2100-byte line is refused, naming its line and the limit" \
	bare --config "$SCRATCH/long.conf" export per@example.no

# A key given twice: the second would silently win over the first.
printf '[smtp]\nport = 25\n\n[store]\ndatabase = %s\n[smtp]\nport = 2525\n' "$SCRATCH/newsletter.db" >"$BAD"
expect_out 2 "bad\.conf:7: port: a second value for \[smtp\] port \(the first is on line 2\)" \
	"config: a duplicate key is refused with FILE:LINE and the first line" bare --config "$BAD" stats

# --- good variants are accepted ---
cat >"$SCRATCH/good.conf" <<CONF
# comment
; comment
[store]
database = $SCRATCH/newsletter.db
key_file   =   $SCRATCH/newsletter.key

[list]
name = Good List
id = list.example.org
from = News <news@example.org>
base_url = https://good.example.org/news/
language = nb

[smtp]
host = smtp.example.org
port = 465
tls = required
username =
connections = 64
rate = 0
timeout = 3600

[bounce]
domain = example.org
soft_threshold = 1000
soft_window_days = 1
require_verp = no
keep = $SCRATCH/kept
keep_handled = yes

[web]
listen = 0.0.0.0:80
admin_listen = [::1]:8081
timeout = 3600
max_connections = 100000
request_timeout = 1
max_connections_per_client = 100000

[retention]
months_without_purchase = 0
audit_months = 1200
keep_days = 3650
CONF
expect_rc 0 "config: a full file with every key is accepted" bare --config "$SCRATCH/good.conf" stats
expect_out 0 "^https://good\.example\.org/news/u/[A-Za-z0-9_-]{26}\." \
	"config: a trailing slash of base_url is not doubled in links" \
	bare --config "$SCRATCH/good.conf" link per@example.no
for b in true false yes no on off 1 0; do
	printf '[bounce]\nrequire_verp = %s\n[store]\ndatabase = %s\nkey_file = %s\n' \
		"$b" "$SCRATCH/newsletter.db" "$SCRATCH/newsletter.key" >"$SCRATCH/b.conf"
	expect_rc 0 "config: bool '$b' is accepted" bare --config "$SCRATCH/b.conf" stats
done
for t in off opportunistic required starttls; do
	printf '[smtp]\ntls = %s\n[store]\ndatabase = %s\nkey_file = %s\n' \
		"$t" "$SCRATCH/newsletter.db" "$SCRATCH/newsletter.key" >"$SCRATCH/t.conf"
	expect_rc 0 "config: tls '$t' is accepted" bare --config "$SCRATCH/t.conf" stats
done

# --- relative paths are relative to the config file's folder ---
R=$SCRATCH/rel
mkdir -p "$R/etc/keys" "$R/var" "$R/cwd"
cat >"$R/etc/nl.conf" <<'CONF'
[store]
database = ../var/nl.db
key_file = keys/nl.key
CONF
expect_rc 0 "relative paths: init with an absolute --config from another folder" \
	in_dir "$R/cwd" --config "$R/etc/nl.conf" init
check "relative paths: the database is beside the config file's folder (../var)" test -s "$R/var/nl.db"
check "relative paths: the key file is under the config file's folder (keys/)" test -s "$R/etc/keys/nl.key"
check "relative paths: nothing is made in the current folder" \
	test -z "$(ls -A "$R/cwd")"
expect_rc 0 "relative paths: enroll with a relative --config (../etc/nl.conf)" \
	in_dir "$R/cwd" --config ../etc/nl.conf enroll rel@example.no
check "relative paths: the relative --config reached the same database" test "$(count_in "$R/var/nl.db")" = 1
expect_rc 0 "relative paths: enroll through NEWSLETTER_CONFIG from yet another folder" \
	env NEWSLETTER_CONFIG="$R/etc/nl.conf" bash -c 'cd / && shift && "$@"' _ x $NEWSLETTER_WRAP "$NEWSLETTER" enroll rel2@example.no
check "relative paths: NEWSLETTER_CONFIG reached the same database" test "$(count_in "$R/var/nl.db")" = 2
expect_rc 0 "relative paths: --config given as a bare file name in its own folder" \
	in_dir "$R/etc" --config nl.conf enroll rel3@example.no
check "relative paths: the bare file name reached the same database" test "$(count_in "$R/var/nl.db")" = 3
check "relative paths: still nothing in the current folders" \
	test -z "$(ls -A "$R/cwd")" -a ! -e "$R/etc/var" -a ! -e /var/nl.db

# Built-in default paths are absolute: not beside a config file that sets
# none (/etc/newsletter is read-only under the units' ProtectSystem=strict).
mkdir -p "$R/only-list" "$R/cwd2"
printf '[list]\nname = Only List\n' >"$R/only-list/nl.conf"
rm -rf "$V" && mkdir -p "$V"
expect_rc 0 "default paths: init with a config file that has no [store]" \
	in_state "$R/cwd2" --config "$R/only-list/nl.conf" init
check "default paths: newsletter.db is made in /var/lib/newsletter" test -s "$V/newsletter.db"
check "default paths: newsletter.key is made in /var/lib/newsletter" test -s "$V/newsletter.key"
check "default paths: nothing is made beside the config file" test "$(ls -A "$R/only-list")" = nl.conf
check "default paths: nothing is made in the current folder" test -z "$(ls -A "$R/cwd2")"

# --- values that reach mail headers (issue #13) ---
# The attacks of the issue, each against a real send to a real SMTP server:
# refused at start (exit 2, FILE:LINE and the key), nothing sent. Without
# the checks each of them was a message with a second mailto in
# List-Unsubscribe, a link https:/u/TOKEN, a List-Id of <<x>>, ...
. "$(dirname "$0")/../tools/send_lib.sh"
start_smtpd	# writes $CONF: this database, the server, [bounce] domain
GOOD=$SCRATCH/good-send.conf
cp "$CONF" "$GOOD"
printf 'subject: Nytt\n\nHei.\n' >"$SCRATCH/issue.md"
# refused_send NAME RE: $BAD is refused with RE at line $LINE, and no mail leaves.
refused_send() {
	expect_out 2 "bad\.conf:$LINE: $2" "config: $1: send refuses it by line and key" \
		bare --config "$BAD" send "$SCRATCH/issue.md"
	check "config: $1: no message was sent" test "$(nmail)" = 0
}
# replaced KEY VALUE: $BAD is the good file with KEY's value replaced.
replaced() {
	LINE=$(grep -n "^$1 = " "$GOOD" | cut -d: -f1)
	sed "${LINE}s|=.*|= $2|" "$GOOD" >"$BAD"
}
# appended SECTION LINE: $BAD is the good file and "[SECTION]", LINE.
appended() {
	{ cat "$GOOD"; printf '[%s]\n%s\n' "$1" "$2"; } >"$BAD"
	LINE=$(wc -l <"$BAD")
}
replaced domain 'evil.org>, <mailto:x@evil.org'
refused_send "[bounce] domain with '>, <mailto:'" "domain: '>' is not allowed"
replaced domain 'a b'
refused_send "[bounce] domain = a b" "domain: a space is not allowed"
replaced base_url 'https://'
refused_send "base_url = https://" "base_url: the URL has no host"
replaced base_url 'https://news.example.org/?q=1'
refused_send "base_url with a query" "base_url: a query \('\?'\) is not allowed"
replaced base_url 'https://news.example.org/n#f'
refused_send "base_url with a fragment" "base_url: a fragment \('#'\) is not allowed"
appended list 'id = <x>'
refused_send "[list] id = <x>" "id: '<' is not allowed"
appended bounce 'domain = evil.org'
refused_send "a second [bounce] domain" "domain: a second value for \[bounce\] domain"

# The same send with good values at the lengths the README allows: a
# 1,000-byte list name, a 75-byte List-Id, a 512-byte base_url. One message
# each, whose List-Id and List-Unsubscribe carry them literally.
LONG_ID=$(head -c 63 /dev/zero | tr '\0' l).example.org
LONG_URL=https://news.example.org/$(head -c 487 /dev/zero | tr '\0' p)
check "config: the long values are 75 and 512 bytes" test "${#LONG_ID} ${#LONG_URL}" = "75 512"
{ cat "$GOOD"; printf '[list]\nid = %s\n' "$LONG_ID"; } |
	sed -e "s|^name = .*|name = $(head -c 1000 /dev/zero | tr '\0' N)|" \
	    -e "s|^base_url = .*|base_url = $LONG_URL|" >"$SCRATCH/long-send.conf"
expect_rc 0 "config: a send with values at the documented lengths works" \
	bare --config "$SCRATCH/long-send.conf" send "$SCRATCH/issue.md"
check "config: it sent one message" test "$(nmail)" = 1
msg=$(ls "$MAILDIR"/*.eml 2>/dev/null | head -1)
msg=${msg:-/dev/null}
hdr() {	# NAME: the header's value, unfolded, as the message has it
	$PY -c 'import email,sys; m=email.message_from_binary_file(open(sys.argv[1],"rb")); print(" ".join(m.get(sys.argv[2],"").split()))' "$msg" "$1"
}
check "config: the 75-byte List-Id arrives literally" bash -c '[[ "$1" == *" <$2>" ]]' _ "$(hdr List-Id)" "$LONG_ID"
unsub=$(hdr List-Unsubscribe)
check "config: List-Unsubscribe holds the 512-byte base_url's link and one mailto" \
	bash -c '[[ "$1" =~ ^\<"$2"/u/[A-Za-z0-9_.-]+\>,\ \<mailto:unsubscribe\+[^@]+@bounce\.example\.org\?subject=unsubscribe\>$ ]]' \
	_ "$unsub" "$LONG_URL"
check "config: no header line is longer than 998 bytes" \
	test "$(awk '/^\r?$/ { exit } { if (length($0) > 999) n++ } END { print n + 0 }' "$msg")" = 0
stop_smtpd

finish
