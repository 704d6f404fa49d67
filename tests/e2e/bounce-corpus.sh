#!/usr/bin/env bash
# tests/e2e/bounce-corpus.sh - the labelled bounce corpus: 'newsletter
# bounce --dry-run --json' over every message, against the floors
# (recipient recall >= 97 %, verdict agreement >= 95 %, no false hard
# verdict). Fails below them. 'make bounce-eval' prints the same figures.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
run_cmd "$ROOT/tests/bounce-eval" --newsletter "$NEWSLETTER" -v
printf '%s\n' "$OUT" | tail -n 7 | sed 's/^/# /'
if [ "$RC" -eq 0 ]; then
	pass "bounce corpus at or above its floors"
else
	fail "bounce corpus at or above its floors" "$(printf '%s\n' "$OUT" | grep -E '^(recipient|verdict|false)')"
fi
finish
