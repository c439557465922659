# How the end-to-end suites (tests/*/e2e.sh) report, shared by all of them (sourced).
# shellcheck shell=bash
#
# Each case prints "ok     - NAME" or "FAILED - NAME"; `summary` prints the line scripts/test.sh
# reads, "N passed, M failed", and the names of the failed cases above it.

PASSED=0
FAILED=0
FAILURES=()

pass() { PASSED=$((PASSED + 1)); echo "ok     - $*"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); echo "FAILED - $*"; }
note() { echo "         $*"; }
section() { echo; echo "=== $* ==="; }

# check NAME CMD...: one test case; CMD's exit status decides it.
check() {
    local name=$1; shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}

# summary: the failed cases, then "N passed, M failed". Returns non-zero when anything failed.
summary() {
    local f
    for f in "${FAILURES[@]}"; do echo "  failed: $f"; done
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ]
}
