#!/usr/bin/env bash
# tests/e2e/valgrind.sh - every command of the release build once under
# valgrind's memcheck: no invalid access, no use of uninitialised memory,
# no definite leak. (The other end-to-end tests run the sanitizer build;
# send_valgrind.sh sends for real.)
. "$(dirname "$0")/lib.sh"
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
# vg_case NAME WANT_RC ARGS...
vg_case() {
	local name=$1 want=$2
	shift 2
	run_cmd vg "$@"
	if [ "$RC" -eq "$want" ] && [ ! -s "$SCRATCH/vg.log" ]; then
		pass "valgrind: $name"
	else
		fail "valgrind: $name" "exit $RC (wanted $want)" "$(head -c 1500 "$SCRATCH/vg.log")"
	fi
}
printf 'email,name,order,date\na@example.no,Å Æ,1,2026-01-01\nbad,x,2,2026-01-01\nb@example.no,B,3,2026-01-02\n' >"$SCRATCH/p.csv"
vg_case init 0 init
vg_case enroll 0 enroll kari@example.no --name "Kari Nordmann" --order 7
vg_case "enroll refresh" 0 enroll Kari@Example.no --date 2026-01-01
vg_case "enroll bad address" 2 enroll not-an-address
vg_case "import with a bad line" 2 import "$SCRATCH/p.csv"
vg_case "import --skip-bad" 0 import --skip-bad "$SCRATCH/p.csv"
vg_case list 0 list
vg_case "list --json" 0 list --json
vg_case stats 0 stats --json
vg_case export 0 export kari@example.no
vg_case rectify 0 rectify a@example.no c@example.no
vg_case restrict 0 restrict b@example.no
vg_case unrestrict 0 unrestrict b@example.no
vg_case link 0 link kari@example.no
vg_case unsubscribe 0 unsubscribe kari@example.no
vg_case "enroll suppressed" 0 enroll kari@example.no
vg_case erase 0 erase b@example.no --suppress
vg_case retention 0 retention
vg_case "key rotate" 0 key rotate
vg_case help 0 enroll --help
vg_case "send --help (the front alone)" 0 send --help
printf 'subject: Valgrind\n\nHei {{name}}.\n' >"$SCRATCH/issue.md"
vg_case "send --dry-run" 0 send --dry-run "$SCRATCH/issue.md"
vg_case "serve with a bad argument" 2 serve extra
# What valgrind ran after the exec: newsletter-net (its header names it).
valgrind --trace-children=yes --log-fd=9 "$REL" --config "$CONF" serve extra >/dev/null 2>&1 9>"$SCRATCH/vg-cmd.log"
check "valgrind: serve runs newsletter-net under valgrind" \
	grep -q "Command: .*/newsletter-net --config $CONF serve extra" "$SCRATCH/vg-cmd.log"
# serve until SIGTERM, answering /healthz meanwhile.
port=$(free_port)
: >"$SCRATCH/vg.log"
valgrind -q --trace-children=yes --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--log-fd=9 "$REL" --config "$CONF" serve --listen "127.0.0.1:$port" >"$SCRATCH/serve.log" 2>&1 9>>"$SCRATCH/vg.log" &
srv=$!
track "$srv"
code=$(healthz_code "$port" "$srv" 600)
kill -TERM "$srv" 2>/dev/null
wait "$srv"
rc=$?
if [ "$code" = 200 ] && [ "$rc" -eq 0 ] && [ ! -s "$SCRATCH/vg.log" ]; then pass "valgrind: serve, /healthz, SIGTERM"; else
	fail "valgrind: serve, /healthz, SIGTERM" "/healthz $code, exit $rc" "$(tail -3 "$SCRATCH/serve.log")" \
		"$(head -c 1500 "$SCRATCH/vg.log")"; fi
printf '[smtp]\nport = nope\n' >"$SCRATCH/bad.conf"
run_cmd valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--log-file="$SCRATCH/vg.log" "$REL" --config "$SCRATCH/bad.conf" stats
if [ "$RC" -eq 2 ] && [ ! -s "$SCRATCH/vg.log" ]; then pass "valgrind: bad config"; else
	fail "valgrind: bad config" "exit $RC" "$(head -c 1500 "$SCRATCH/vg.log")"; fi
finish
