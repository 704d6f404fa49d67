#!/usr/bin/env bash
# tests/e2e/bounce_mime.sh - the MIME walk of 'newsletter bounce' as
# bounce/parse.c and bounce/run.c make it fast: a returned message
# (message/rfc822) is one leaf whose headers still name the recipient; a
# delivery report forwarded as such an attachment is still the report; and
# many FILE arguments, parsed by worker processes, come out in argument
# order with the results each file gets on its own. Dry runs, no store.
. "$(dirname "$0")/lib.sh"
write_conf
M=$SCRATCH/m
mkdir "$M"

# A person forwards a bounce: the report is inside a message/rfc822.
cat >"$M/forwarded.eml" <<'MSG'
From: Kari Nordmann <kari@example.org>
To: news@news.example.org
Subject: Fwd: this came back
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="OUTER"

--OUTER
Content-Type: text/plain; charset=us-ascii

Forwarding the bounce below, it came back to me.

--OUTER
Content-Type: message/rfc822
Content-Disposition: attachment

From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: kari@example.org
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="INNER"

--INNER
Content-Type: text/plain

<gone@example.net>: host mx.example.net said: 550 5.1.1 User unknown (in reply to RCPT TO command)

--INNER
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; gone@example.net
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--INNER
Content-Type: message/rfc822

From: kari@example.org
To: gone@example.net
Subject: hello

hello
--INNER--

--OUTER--
MSG

# A bounce in words that names nobody: only the returned message's To:
# (its headers, after a Received line; its body names someone else).
cat >"$M/returned-to.eml" <<'MSG'
From: postmaster@mail.example.com
To: news@news.example.org
Subject: Delivery failure
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="B1"

--B1
Content-Type: text/plain

Your message could not be delivered: the mailbox is unavailable.

--B1
Content-Type: message/rfc822

Received: from news.example.org by mail.example.com
From: news@news.example.org
To: lost@example.com
Subject: Our weekly news
Content-Type: multipart/alternative; boundary="ALT"

--ALT
Content-Type: text/plain

Weekly news, with an address in it: other@example.com

--ALT
Content-Type: text/html

<p>Weekly news</p>
--ALT--

--B1--
MSG

expect_out 0 '"recipient":"gone@example.net","action":"hard","status":"5.1.1"' \
	"a report forwarded as a message/rfc822 attachment is read as the report" \
	nl -q bounce --dry-run --json "$M/forwarded.eml"
expect_out 0 '"recipient":"lost@example.com"' \
	"the returned message's To: names the recipient of a bounce in words" \
	nl -q bounce --dry-run --json "$M/returned-to.eml"
check "its body's address is not taken for the recipient" bash -c '! printf "%s" "$1" | grep -q other@example.com' _ "$OUT"
# The same with a header block longer than one read of the part (120
# Received lines before the To:).
awk '{ print } /^Content-Type: message\/rfc822$/ { getline; print; for (i = 0; i < 120; i++) printf "Received: from relay%d.example.com by relay%d.example.com with ESMTP id abcdefghij%d\n", i, i + 1, i }' \
	"$M/returned-to.eml" >"$M/long-headers.eml"
expect_out 0 '"recipient":"lost@example.com"' \
	"a returned message's To: after a header block of 10 KB" \
	nl -q bounce --dry-run --json "$M/long-headers.eml"
# The same with the returned message base64-encoded (RFC 2046 forbids it;
# GMime decodes it, and so must its reader here).
{
	sed -n '1,/^Content-Type: message\/rfc822$/p' "$M/returned-to.eml"
	printf 'Content-Transfer-Encoding: base64\n\n'
	printf 'From: news@news.example.org\nTo: lost@example.com\nSubject: Our weekly news\n\nhello\n' | base64
	printf '\n--B1--\n'
} >"$M/encoded.eml"
expect_out 0 '"recipient":"lost@example.com"' \
	"the To: of a base64-encoded returned message" \
	nl -q bounce --dry-run --json "$M/encoded.eml"

# Many files at once (worker processes) against each file alone (no
# worker): the same lines, in argument order. 290 files: more than the
# ring of 256 slots (bounce/run.c PARSE_RING), so that slots are reused.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CORPUS=$ROOT/tests/bounce-corpus/messages
[ -d "$ROOT/tests/bounce/sisimai/messages" ] && CORPUS=$ROOT/tests/bounce/sisimai/messages
mapfile -t some < <(ls "$CORPUS" | head -n 48)
files=("$M/forwarded.eml" "$M/returned-to.eml")
for ((c = 0; c < 6; c++)); do
	for f in "${some[@]}"; do
		cp "$CORPUS/$f" "$M/$c-$f"
		files+=("$M/$c-$f")
	done
done
: >"$SCRATCH/alone"
for f in "${files[@]}"; do
	nl -q bounce --dry-run --json "$f" >>"$SCRATCH/alone" 2>/dev/null
done
run_cmd nl -q bounce --dry-run --json "${files[@]}"
printf '%s\n' "$OUT" >"$SCRATCH/together"
check "${#files[@]} files at once give one line each" test "$(wc -l <"$SCRATCH/together")" -eq "${#files[@]}"
if cmp -s "$SCRATCH/alone" "$SCRATCH/together"; then
	pass "files parsed by worker processes: the results of each file alone, in argument order"
else
	fail "files parsed by worker processes: the results of each file alone, in argument order" \
		"$(diff "$SCRATCH/alone" "$SCRATCH/together" | head -n 6)"
fi
finish
