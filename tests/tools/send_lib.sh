# tests/tools/send_lib.sh - sourced by the send*.sh tests after lib.sh: a
# real SMTP server (tests/tools/smtpd.py, aiosmtpd) on a free port of
# 127.0.0.1, tracked so that cleanup stops it, and the message checker.
PY=/usr/bin/python3
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
MAILDIR=$SCRATCH/mail
SMTPD_PID=

# start_smtpd ARGS...: a fresh server on a free port writing to $MAILDIR.
start_smtpd() {
	[ -n "$SMTPD_PID" ] && stop_smtpd
	PORT=$(free_port)
	rm -rf "$MAILDIR"
	mkdir -p "$MAILDIR"
	$PY "$TOOLS/smtpd.py" --port "$PORT" --dir "$MAILDIR" "$@" >"$SCRATCH/smtpd.out" 2>&1 &
	SMTPD_PID=$!
	track "$SMTPD_PID"
	for _ in $(seq 100); do
		grep -q ready "$SCRATCH/smtpd.out" 2>/dev/null && break
		kill -0 "$SMTPD_PID" 2>/dev/null || break
		sleep 0.1
	done
	# Said where it helps: a send's failure is the server's, not the program's.
	grep -q ready "$SCRATCH/smtpd.out" 2>/dev/null ||
		echo "# the test SMTP server on port $PORT did not start: $(tr '\n' ' ' <"$SCRATCH/smtpd.out" | tail -c 600)"
	conf_smtp
}
stop_smtpd() { [ -n "${KEEP_SMTPD_LOG:-}" ] && cp "$SCRATCH/smtpd.out" "$KEEP_SMTPD_LOG"; kill "$SMTPD_PID" 2>/dev/null; wait "$SMTPD_PID" 2>/dev/null; SMTPD_PID=; }
# conf_smtp [LINES for [smtp]...]: 3 connections unless a line says otherwise
# (a key given twice is an error).
conf_smtp() {
	local conns="connections = 3" a
	for a in "$@"; do
		case $a in connections*) conns= ;; esac
	done
	write_conf "from = Nyheitsbrevet <news@example.org>" "language = nb" "" \
		"[smtp]" "host = 127.0.0.1" "port = $PORT" ${conns:+"$conns"} "$@" "" \
		"[bounce]" "domain = bounce.example.org"
}
mailing_id() { sqlite3 "$DB" "SELECT id FROM mailing WHERE ident = '$1'"; }
deliveries() { sqlite3 "$DB" "SELECT count(*) FROM delivery WHERE state = '$1'"; }
nmail() { ls "$MAILDIR"/*.eml 2>/dev/null | wc -l; }
# checked DIR [ARGS]: runs check_mail.py; its JSON in $CHK.
checked() {
	local d=$1
	shift
	CHK=$($PY "$TOOLS/check_mail.py" "$d" "$DB" "$@")
}
cval() { printf '%s' "$CHK" | jval "$1"; }

# nl under a watchdog: a hang is a failure, not a stuck test.
nl_bounded() { timeout 120 $NEWSLETTER_WRAP "$NEWSLETTER" --config "$CONF" "$@"; }
# timed NAME WANT_RC REGEX MAX CMD...: exit WANT_RC, output matching REGEX,
# within MAX seconds (a stalled relay never ends the session itself); the
# milliseconds it took in $TOOK.
timed() {
	local name=$1 want=$2 re=$3 max=$4 t0
	shift 4
	t0=$(date +%s%N)
	expect_out "$want" "$re" "$name" "$@"
	TOOK=$((($(date +%s%N) - t0) / 1000000))
	check "$name: within $max s (took $TOOK ms)" test "$TOOK" -lt $((max * 1000))
}
