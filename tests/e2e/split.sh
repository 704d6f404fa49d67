#!/usr/bin/env bash
# tests/e2e/split.sh - the two programs: newsletter, the front, links none
# of the network libraries, and its send and serve replace the process with
# newsletter-net (cli/exec_net.c), found beside it or in
# ../libexec/newsletter/, with the same argv: same PID, same options, same
# output and exit codes as newsletter-net run directly. Without
# newsletter-net they fail clearly; --help needs no newsletter-net.
#
# Runs the binaries directly, never under $NEWSLETTER_WRAP: it checks which
# program a PID runs, which a wrapper would be.
. "$(dirname "$0")/lib.sh"

unset NEWSLETTER_CONFIG
FRONT=$NEWSLETTER
NET=$(dirname "$NEWSLETTER")/newsletter-net
# /proc/self/exe is a resolved path: so are the ones compared with it.
S=$(realpath "$SCRATCH")
if [ ! -x "$NET" ]; then
	fail "newsletter-net is beside $FRONT" "run 'make' (or make SANITIZE=1 build/san/newsletter-net)"
	finish
fi
if ! command -v readelf >/dev/null; then
	fail "readelf is installed" "binutils: contrib/install-deps --test"
	finish
fi

# --- 1. what each program links -------------------------------------------
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
NETLIBS="libmicrohttpd libesmtp libopendkim libssl libcrypto libcmark"
front_has= net_lacks=
for l in $NETLIBS; do
	needed "$FRONT" | grep -q "^$l\.so" && front_has="$front_has $l"
	needed "$NET" | grep -q "^$l\.so" || net_lacks="$net_lacks $l"
done
check "the front links none of $NETLIBS" test -z "$front_has"
[ -n "$front_has" ] && echo "#   the front links:$front_has"
check "newsletter-net links every one of $NETLIBS" test -z "$net_lacks"
[ -n "$net_lacks" ] && echo "#   newsletter-net lacks:$net_lacks"

# --- 2. send and serve through the front ----------------------------------
nl init >/dev/null 2>&1 || { fail "init"; finish; }
nl enroll a@example.no >/dev/null && nl enroll b@example.no >/dev/null
printf 'subject: Split\n\nHello {{name}}.\n' >"$SCRATCH/issue.md"
expect_out 0 "rendered 2 messages of mailing" "send --dry-run through the front" \
	nl send --dry-run "$SCRATCH/issue.md"

# same ARGS...: the front and newsletter-net give the same exit code, stdout
# and stderr.
same() {
	local name=$1 frc fout ferr
	shift
	run_cmd timeout 60 "$FRONT" "$@"
	frc=$RC fout=$OUT ferr=$ERR
	run_cmd timeout 60 "$NET" "$@"
	if [ "$frc" = "$RC" ] && [ "$fout" = "$OUT" ] && [ "$ferr" = "$ERR" ]; then
		pass "$name: the front as newsletter-net (exit $RC)"
	else
		fail "$name: the front as newsletter-net" "front: exit $frc, $fout / $ferr" \
			"newsletter-net: exit $RC, $OUT / $ERR"
	fi
}
same "send --dry-run" --config "$CONF" send --dry-run "$SCRATCH/issue.md"
same "send of a missing issue file (exit 2)" --config "$CONF" send "$SCRATCH/missing.md"
same "send with an unknown option (exit 2)" --config "$CONF" send --bogus "$SCRATCH/issue.md"
same "send with no issue (exit 2)" --config "$CONF" send
DOWN=$(free_port)
cp "$CONF" "$SCRATCH/down.conf"
printf '\n[smtp]\nhost = 127.0.0.1\nport = %s\ntls = off\n' "$DOWN" >>"$SCRATCH/down.conf"
same "send --to through a server that is down (exit 1)" --config "$SCRATCH/down.conf" \
	send --to t@example.org "$SCRATCH/issue.md"
check "... which exits 1" test "$RC" = 1
same "serve with an argument (exit 2)" --config "$CONF" serve extra

PORT=$(free_port)
"$FRONT" --config "$CONF" serve --listen "127.0.0.1:$PORT" >"$SCRATCH/serve.log" 2>&1 &
SRV=$!
track "$SRV"
code=$(healthz_code "$PORT" "$SRV")
check "serve started through the front answers /healthz" test "$code" = 200
exe=$(readlink "/proc/$SRV/exe")
check "the PID the shell started runs newsletter-net" test "$exe" = "$(realpath "$NET")"
[ "$exe" = "$(realpath "$NET")" ] || echo "#   /proc/$SRV/exe: $exe"
kill -TERM "$SRV" 2>/dev/null
wait "$SRV"
rc=$?
check "SIGTERM to that PID stops serve, exit 0" test "$rc" = 0
check "serve's log says newsletter and that it stopped" \
	grep -q '^newsletter: .*stopped' "$SCRATCH/serve.log"
[ "$rc" = 0 ] || echo "#   exit $rc: $(tail -3 "$SCRATCH/serve.log")"

# --- 3. global options reach newsletter-net --------------------------------
# From another folder, --config is all that names the database: without it
# send would find no newsletter.conf and no /var/lib/newsletter.
expect_out 0 "mailing .*: 2 recipients" "--config reaches newsletter-net (the configured database's 2 recipients)" \
	bash -c 'cd / && exec "$@"' _ "$FRONT" --config "$CONF" send --dry-run "$SCRATCH/issue.md"
expect_out 0 "config $CONF; database $SCRATCH/newsletter\.db" "-v reaches newsletter-net (its debug line)" \
	"$FRONT" -v --config "$CONF" send --dry-run "$SCRATCH/issue.md"
printf '[store]\ndatabse = x.db\n' >"$SCRATCH/bad.conf"
same "--config of a file with a bad key" --config "$SCRATCH/bad.conf" send "$SCRATCH/issue.md"
expect_out 2 "bad\.conf:2.*databse" "... is exit 2 naming the line and the key" \
	"$FRONT" --config "$SCRATCH/bad.conf" send "$SCRATCH/issue.md"
PORT=$(free_port)
"$FRONT" -q --config "$CONF" serve --listen "127.0.0.1:$PORT" >"$SCRATCH/serve-q.log" 2>&1 &
SRV=$!
track "$SRV"
code=$(healthz_code "$PORT" "$SRV")
kill -TERM "$SRV" 2>/dev/null
wait "$SRV"
check "-q reaches newsletter-net: serve answers and logs nothing" \
	test "$code" = 200 -a ! -s "$SCRATCH/serve-q.log"
[ -s "$SCRATCH/serve-q.log" ] && echo "#   $(head -3 "$SCRATCH/serve-q.log")"
check "... where it logs its start without -q" grep -q 'serving the subscriber pages' "$SCRATCH/serve.log"

# --- where newsletter-net is looked for ------------------------------------
# Installed: PREFIX/bin/newsletter, PREFIX/libexec/newsletter/newsletter-net.
mkdir -p "$S/prefix/bin" "$S/prefix/libexec/newsletter"
cp "$FRONT" "$S/prefix/bin/newsletter"
cp "$NET" "$S/prefix/libexec/newsletter/newsletter-net"
expect_out 0 "rendered 2 messages" "installed layout: bin/newsletter runs ../libexec/newsletter/newsletter-net" \
	"$S/prefix/bin/newsletter" --config "$CONF" send --dry-run "$SCRATCH/issue.md"
# A symbolic link to the front (a PATH folder) finds it where the front is.
mkdir -p "$S/link"
ln -s "$FRONT" "$S/link/newsletter"
expect_out 0 "rendered 2 messages" "a symbolic link to the front finds newsletter-net beside the front" \
	"$S/link/newsletter" --config "$CONF" send --dry-run "$SCRATCH/issue.md"

# --- 4. without newsletter-net ---------------------------------------------
mkdir -p "$S/alone/bin"
cp "$FRONT" "$S/alone/bin/newsletter"
expect_out 1 "newsletter-net.*$S/alone/bin/newsletter-net .*$S/alone/libexec/newsletter/newsletter-net .*reinstall newsletter" \
	"no newsletter-net: send is exit 1 naming both paths tried and what to do" \
	"$S/alone/bin/newsletter" --config "$CONF" send --dry-run "$SCRATCH/issue.md"
expect_out 1 "newsletter: error: serve: cannot run newsletter-net" "no newsletter-net: serve is exit 1 too" \
	"$S/alone/bin/newsletter" --config "$CONF" serve --listen "127.0.0.1:$(free_port)"
expect_out 0 "^usage: newsletter send ISSUE\.md" "no newsletter-net: send --help still prints the help" \
	"$S/alone/bin/newsletter" --config "$CONF" send --help
expect_out 0 "^usage: newsletter serve " "no newsletter-net: help serve still prints the help" \
	"$S/alone/bin/newsletter" help serve
expect_out 0 "active 2" "no newsletter-net: the other commands work" \
	"$S/alone/bin/newsletter" --config "$CONF" stats
# A copy of the front named newsletter-net is refused, not run for ever.
cp "$FRONT" "$S/alone/bin/newsletter-net"
expect_out 1 "$S/alone/bin/newsletter-net \(it is this program" \
	"a copy of the front as newsletter-net: exit 1, no loop" \
	timeout 20 "$S/alone/bin/newsletter" --config "$CONF" send --dry-run "$SCRATCH/issue.md"

# --- 5. help from the front -------------------------------------------------
expect_out 0 "^  send +send an issue" "newsletter --help lists send" "$FRONT" --help
expect_out 0 "^  serve +serve the unsubscribe pages" "newsletter --help lists serve" "$FRONT" --help
expect_out 0 "^usage: newsletter serve \[--listen ADDRESS:PORT\]" "newsletter serve --help" "$FRONT" serve --help
expect_out 0 "^  --dry-run +render every message" "newsletter help send" "$FRONT" help send

finish
