#!/usr/bin/env bash
# tests/e2e/demo.sh - what 'make demo' runs (contrib/demo, without the
# package install): it ends with status 0, sends through its own SMTP
# server on loopback, and the link it prints works as its text says: with
# 'newsletter serve' started in its folder, a GET shows the page and
# changes nothing, a POST unsubscribes.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

# The demo's folder goes into the scratch folder, which cleanup removes.
OUT=$(TMPDIR=$SCRATCH NEWSLETTER=$NEWSLETTER "$ROOT/contrib/demo" </dev/null 2>"$SCRATCH/demo.err")
RC=$?
check "contrib/demo ends with status 0" test "$RC" = 0
[ "$RC" = 0 ] || echo "#   $(tail -3 "$SCRATCH/demo.err")"
DIR=$(sed -n 's/^A demo in \([^ ]*\) .*/\1/p' <<<"$OUT")
LINK=$(tail -n 1 <<<"$OUT" | tr -d ' ')
check "it names its folder, inside TMPDIR" test -n "$DIR" -a -d "$DIR" -a "${DIR#"$SCRATCH"/}" != "$DIR"
check "it ends with a link to open: http://127.0.0.1:PORT/u/TOKEN" \
	grep -qE '^http://127\.0\.0\.1:[0-9]+/u/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' <<<"$LINK"
check "its SMTP server on loopback received the messages" test -s "$DIR/mail/1.eml"
# Processes whose working folder is the demo's (its SMTP server, its serve).
left_in() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/cwd" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"
	done
	return 0
}
check "the signup's confirmation mail reached its SMTP server (Auto-Submitted)" \
	bash -c 'grep -l -s "^Auto-Submitted: auto-generated" "$1"/mail/*.eml | grep -q .' _ "$DIR"
check "the demo's signup, confirmed, is a subscriber with basis consent" \
	test "$(sqlite3 "$DIR/newsletter.db" "SELECT consent_date IS NOT NULL AND consent_confirmed IS NOT NULL FROM subscriber WHERE email = 'nora@example.no'")" = 1
check "it says how to sign up in a browser" grep -qE '^open http://127\.0\.0\.1:[0-9]+/subscribe' <<<"$OUT"
check "no server of the demo is left running" test -z "$(left_in "$DIR")"
[ -n "$DIR" ] && [ -d "$DIR" ] || finish

# The reader's part, as the demo's last lines say: serve in that folder.
TO=$(sed -n 's/^To: .*<\(.*\)>.*/\1/p; s/^To: \([^<>]*@[^<> ]*\)$/\1/p' "$DIR/mail/1.eml" | head -n 1 | tr -d '\r')
in_db() { sqlite3 "$DIR/newsletter.db" "SELECT count(*) FROM subscriber WHERE email = '$1'"; }
check "the first message's recipient ($TO) is subscribed" test "$(in_db "$TO")" = 1
(cd "$DIR" && exec "$NEWSLETTER" serve) >"$SCRATCH/serve.log" 2>&1 &
track $!
for _ in $(seq 100); do
	curl -s -o /dev/null "${LINK%%/u/*}/healthz" && break
	sleep 0.1
done
CODE=$(curl -s -o "$SCRATCH/page" -w '%{http_code}' "$LINK")
check "GET of the link: 200, a page with a form" \
	bash -c '[ "$1" = 200 ] && grep -q "<form method=\"post\">" "$2"' _ "$CODE" "$SCRATCH/page"
check "the page shows the address masked, not in full" \
	bash -c 'grep -qF "${1:0:1}***@${1#*@}" "$2" && ! grep -qF "$1" "$2"' _ "$TO" "$SCRATCH/page"
check "after the GET the recipient is still subscribed" test "$(in_db "$TO")" = 1
CODE=$(curl -s -o "$SCRATCH/done" -w '%{http_code}' -X POST "$LINK")
check "POST of the link (the page's button): 200" test "$CODE" = 200
check "the recipient is unsubscribed: the row is gone" test "$(in_db "$TO")" = 0
finish
