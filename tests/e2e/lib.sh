# tests/e2e/lib.sh - sourced by every end-to-end script.
#
# Gives each script a scratch folder with a config file, a way to run the
# binary (nl), assertions that print TAP-like "ok - NAME" / "not ok - NAME"
# lines for tests/run to count, and a cleanup that stops every server the
# script started (by pid) and removes the scratch folder, also on failure.
set -u

NEWSLETTER=${NEWSLETTER:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/newsletter}
NEWSLETTER_WRAP=${NEWSLETTER_WRAP:-}
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/newsletter-e2e.XXXXXX")
CONF=$SCRATCH/newsletter.conf
PIDS=()
T_FAILED=0

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	chmod -R u+w "$SCRATCH" 2>/dev/null
	rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Remember a background process so that cleanup stops it.
track() { PIDS+=("$1"); }

# Writes a config file into the scratch folder; extra lines are appended.
# The built-in [bounce] keep is /var/lib/newsletter/keep: a test keeps
# none ("keep ="), as the tests were written for, unless it gives a keep line.
write_conf() {
	local a keep="keep ="

	for a in "$@"; do
		case $a in "keep "* | "keep="*) keep= ;; esac
	done
	: >"$CONF"
	[ -n "$keep" ] && printf '[bounce]\n%s\n\n' "$keep" >>"$CONF"
	cat >>"$CONF" <<CONF
[store]
database = $SCRATCH/newsletter.db
key_file = $SCRATCH/newsletter.key

[list]
name = Test List
base_url = https://news.example.org
CONF
	[ $# -gt 0 ] && printf '%s\n' "$@" >>"$CONF"
	return 0
}

# Runs the binary against the scratch config: nl ARGS...
nl() { $NEWSLETTER_WRAP "$NEWSLETTER" --config "$CONF" "$@"; }

# Output and status of the last run_cmd.
OUT= ERR= RC=0
run_cmd() {
	OUT=$("$@" 2>"$SCRATCH/.stderr")
	RC=$?
	ERR=$(cat "$SCRATCH/.stderr")
}

pass() { echo "ok - $1"; }
# skip NAME REASON: a check that cannot run here; tests/run counts it as
# skipped, neither passed nor failed (TAP's "# SKIP" directive).
skip() { echo "ok - $1 # SKIP $2"; }
fail() {
	echo "not ok - $1"
	shift
	[ $# -gt 0 ] && printf '#   %s\n' "$@"
	T_FAILED=$((T_FAILED + 1))
	return 0
}

# expect_rc WANT NAME CMD...: the command exits with WANT.
expect_rc() {
	local want=$1 name=$2
	shift 2
	run_cmd "$@"
	if [ "$RC" -eq "$want" ]; then pass "$name"; else
		fail "$name" "exit $RC, wanted $want" "stdout: ${OUT:0:400}" "stderr: ${ERR:0:400}"
	fi
}

# expect_out WANT_RC REGEX NAME CMD...: exit code and stdout+stderr matching REGEX.
expect_out() {
	local want=$1 re=$2 name=$3
	shift 3
	run_cmd "$@"
	if [ "$RC" -eq "$want" ] && printf '%s\n%s\n' "$OUT" "$ERR" | grep -Eq -- "$re"; then
		pass "$name"
	else
		fail "$name" "exit $RC (wanted $want), output should match /$re/" \
			"stdout: ${OUT:0:400}" "stderr: ${ERR:0:400}"
	fi
}

# check NAME COMMAND...: passes when the command (a test) succeeds.
check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name" "failed: $*"; fi
}

# A free TCP port on 127.0.0.1.
# self_signed KEY CRT CN SAN: a self-signed certificate (2 days, RSA 2048)
# naming SAN ("DNS:a,IP:b"), which is also the CA file that trusts it.
self_signed() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$3" \
		-addext "subjectAltName=$4" -keyout "$1" -out "$2" >/dev/null 2>&1
}
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Whether FILE(s) contain the byte string S (case-insensitive), e.g. an
# address that must be gone.
# PORT PID [TRIES]: waits until http://127.0.0.1:PORT/healthz answers 200,
# or PID has gone, TRIES times 50 ms at most (default 300); prints the
# last HTTP status (000: no answer).
healthz_code() {
	local code=000 i
	for ((i = 0; i < ${3:-300}; i++)); do
		code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/healthz") && [ "$code" = 200 ] && break
		kill -0 "$2" 2>/dev/null || break
		sleep 0.05
	done
	printf '%s\n' "$code"
}
bytes_contain() {
	local s=$1
	shift
	LC_ALL=C grep -a -i -q -F -- "$s" "$@" 2>/dev/null
}

# Lookups straight from the database file (list --json is checked too).
DB=$SCRATCH/newsletter.db
sub_field() {	# ADDRESS FIELD: the field of that subscriber, "null", or "none"
	local a=${1//\'/\'\'} f=$2 v
	[ "$f" = basis ] && f="CASE WHEN consent_date IS NULL THEN 'soft-opt-in' ELSE 'consent' END"
	v=$(sqlite3 "$DB" "SELECT coalesce($f, 'null') FROM subscriber WHERE email = '$a' COLLATE NOCASE")
	echo "${v:-none}"
}
# test_tool NAME: the path of a test tool of tests/tools (built by make
# tools) beside the binary under test, or in a build folder; empty if none.
test_tool() {
	local root m
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	for m in "$(dirname "$NEWSLETTER")/tests/tools/$1" "$root/build/san/tests/tools/$1" \
		"$root/build/release/tests/tools/$1"; do
		[ -x "$m" ] && { echo "$m"; return 0; }
	done
}
# need_tool VAR NAME: sets VAR to the test tool's path, or fails a check
# and returns 1 when it is not built (need_tool MINT mint-token || finish).
need_tool() {
	printf -v "$1" '%s' "$(test_tool "$2")"
	[ -n "${!1}" ] && return 0
	fail "the test tool $2 is built" "run 'make tools' (make check does)"
	return 1
}
count() { sqlite3 "$DB" 'SELECT count(*) FROM subscriber'; }
suppressed() { sqlite3 "$DB" 'SELECT count(*) FROM suppression'; }
# jval EXPR: evaluates EXPR on the JSON document d read from stdin.
jval() { python3 -c 'import json,sys; d=json.load(sys.stdin); v=eval(sys.argv[1]); print(v if isinstance(v,str) else json.dumps(v))' "$1"; }

# dsn_mail TO RCPT STATUS DIAG: a DSN as Postfix writes it, delivered to TO
# (no To header when ""), about the failed recipient RCPT, with the
# enhanced STATUS and the server's DIAG, and the returned message's header.
dsn_mail() {
	cat <<MSG
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
${1:+To: $1
}Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BB"

--BB
Content-Type: text/plain

<$2>: host mx.example.net said: $4 (in reply to RCPT TO command)

--BB
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; $2
Action: failed
Status: $3
Diagnostic-Code: smtp; $4

--BB
Content-Type: message/rfc822

From: news@news.example.org
To: $2
Subject: Our weekly news

Hello.
--BB--
MSG
}

# Ends the script: its status tells tests/run whether anything failed.
finish() { exit $((T_FAILED > 0)); }

write_conf
