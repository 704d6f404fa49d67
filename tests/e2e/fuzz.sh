#!/usr/bin/env bash
# tests/e2e/fuzz.sh - a short libFuzzer run over every parser of outside
# input (token, CSV, address, config, bounce), with the kept corpus as
# regression inputs; the bounce parser is also seeded with every message of
# every labelled source in tests/bounce/ (see tests/fuzz/run). 'make fuzz'
# runs them longer.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
if ! ls build/fuzz/fuzz_* >/dev/null 2>&1; then
	fail "fuzz harnesses are built" "run 'make FUZZ=1 fuzz-build' (make check does)"
	finish
fi
tests/fuzz/run "${FUZZ_SECONDS:-10}"
finish
