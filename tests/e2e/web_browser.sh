#!/usr/bin/env bash
# tests/e2e/web_browser.sh - the subscriber's pages in a real browser:
# headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core
# from tests/browser/) opens real links of 'newsletter serve' in Bokmål and
# English, clicks through, and saves screenshots under
# build/test-output/browser/. See tests/browser/unsubscribe.mjs, and
# tests/browser/signup.mjs for the signup form, whose confirmation mails a
# real SMTP server on 127.0.0.1 captures.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/web_lib.bash"

top=$(cd "$(dirname "$0")/../.." && pwd)
browser_dir=$top/tests/browser
out=$top/build/test-output/browser

if [ ! -x /usr/bin/chromium ] || ! command -v node >/dev/null; then
	fail "chromium and node are installed (contrib/install-deps --test)"
	finish
fi
if [ ! -d "$browser_dir/node_modules/playwright-core" ]; then
	(cd "$browser_dir" && npm ci --no-audit --no-fund >/dev/null 2>&1)
fi
check "playwright-core is installed in tests/browser (npm ci)" test -d "$browser_dir/node_modules/playwright-core"

mkdir -p "$MAILDIR"
start_smtpd 1
signup_conf true 1000
nl init >/dev/null 2>&1 || fail "init"
nl enroll kari.browser@example.no --name "Kari Browser" >/dev/null
nl enroll kari.browser2@example.no --name "Kari Browser" >/dev/null
start_server || finish
rm -rf "$out"
node "$browser_dir/unsubscribe.mjs" "$out" \
	"$BASE$(link_path kari.browser@example.no)" "$BASE$(link_path kari.browser2@example.no)" \
	2>"$SCRATCH/node.err"
rc=$?
[ $rc -eq 0 ] || { echo "# node exited $rc"; sed 's/^/#   /' "$SCRATCH/node.err" | head -20; }
check "both subscribers are deleted after the clicks" test "$(count)" = 0
for f in confirm-nb confirm-nb-320px done-nb confirm-en data-en done-en; do
	check "a screenshot $f.png in build/test-output/browser/" test -s "$out/$f.png"
done

node "$browser_dir/signup.mjs" "$out" "$BASE" "$MAILDIR" 2>"$SCRATCH/node.err"
rc=$?
[ $rc -eq 0 ] || { echo "# node exited $rc"; sed 's/^/#   /' "$SCRATCH/node.err" | head -20; }
check "the two who signed up in the browser are subscribers with basis consent" \
	test "$(sub_field kari.signup.browser@example.no basis):$(sub_field ola.signup.browser@example.no basis)" = consent:consent
for l in nb en; do
	for f in signup-form-$l signup-form-$l-320px signup-check-mail-$l signup-confirm-$l signup-done-$l signup-data-$l; do
		check "a screenshot $f.png in build/test-output/browser/" test -s "$out/$f.png"
	done
done
check "the server saw GETs and POSTs from the browser" \
	bash -c 'grep -q "web GET unsubscribe 200" "$1" && grep -q "web POST unsubscribe 200" "$1"' _ "$LOG"
stop_server
stop_smtpd

finish
