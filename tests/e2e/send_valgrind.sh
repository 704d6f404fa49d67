#!/usr/bin/env bash
# tests/e2e/send_valgrind.sh - 'newsletter send' of the release build under
# valgrind's memcheck: no invalid access, no use of uninitialised memory, no
# definite leak, through DKIM, a refused recipient, --dry-run,
# --preview, --to and an unreachable server. (GLib's own one-time
# allocations show as "still reachable", which is fine.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../tools/send_lib.sh"
REL=$(cd "$(dirname "$0")/../.." && pwd)/newsletter
if [ ! -x "$REL" ] || ! command -v valgrind >/dev/null; then
	fail "valgrind and the release build are present" "run 'make' and contrib/install-deps --test"
	finish
fi
# send and serve go on in newsletter-net (execv, same PID): valgrind follows
# it, and both programs append to one log (a --log-file would be truncated
# by the second).
vg() {
	: >"$SCRATCH/vg.log"
	valgrind -q --trace-children=yes --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite --log-fd=9 "$REL" --config "$CONF" "$@" 9>>"$SCRATCH/vg.log"
}
vg_case() {
	local name=$1 want=$2
	shift 2
	run_cmd vg "$@"
	if [ "$RC" -eq "$want" ] && [ ! -s "$SCRATCH/vg.log" ]; then
		pass "valgrind: $name"
	else
		fail "valgrind: $name" "exit $RC (wanted $want)" "$ERR" "$(head -c 1500 "$SCRATCH/vg.log")"
	fi
}

nl init >/dev/null 2>&1 || { fail "init"; finish; }
for i in 1 2 3 4 5; do nl enroll "v$i@example.no" --name "Vær $i" >/dev/null; done
nl enroll gone@example.no >/dev/null
printf 'subject: Valgrind æøå\n\nHei {{name}}, [meld av]({{unsubscribe_url}}).\n' >"$SCRATCH/issue.md"
openssl genrsa -out "$SCRATCH/dkim.key" 2048 >/dev/null 2>&1
chmod 600 "$SCRATCH/dkim.key"
# Plain SMTP: aiosmtpd's STARTTLS stops answering when the client is as
# slow as valgrind makes it (send_tls.sh covers STARTTLS at full speed).
start_smtpd --rcpt 'gone@=550 5.1.1 no such user'
conf_smtp "connections = 2" "" "[dkim]" "domain = example.org" "selector = s" \
	"key_file = $SCRATCH/dkim.key"
vg_case "send --dry-run" 0 send "$SCRATCH/issue.md" --dry-run
# What valgrind ran after the exec: newsletter-net (its header names it).
valgrind --trace-children=yes --log-fd=9 "$REL" --config "$CONF" send "$SCRATCH/issue.md" --dry-run \
	>/dev/null 2>&1 9>"$SCRATCH/vg-cmd.log"
check "valgrind: send runs newsletter-net under valgrind" \
	grep -q "Command: .*/newsletter-net --config $CONF send " "$SCRATCH/vg-cmd.log"
vg_case "send --preview" 0 send "$SCRATCH/issue.md" --preview "$SCRATCH/pv"
vg_case "send --to" 0 send "$SCRATCH/issue.md" --to test@example.org
vg_case "send (DKIM, a 550 5.1.1)" 0 send "$SCRATCH/issue.md"
check "valgrind: the test copy and five messages arrived" test "$(nmail)" = 6
check "valgrind: the 550 5.1.1 recipient is deleted" test "$(sub_field gone@example.no id)" = none
vg_case "send again: nothing to send" 0 send "$SCRATCH/issue.md"
stop_smtpd
printf 'subject: Two\n\nx\n' >"$SCRATCH/issue2.md"
vg_case "send to an unreachable server" 1 send "$SCRATCH/issue2.md"
vg_case "send of a bad issue file" 2 send "$SCRATCH/dkim.key"
finish
