# How the end-to-end suites (tests/*/e2e.sh) report, shared by all of them (sourced).
# shellcheck shell=bash
#
# Each case prints "ok     - NAME" or "FAILED - NAME" (or "skip   - NAME" for a case that cannot
# run yet); `summary` prints the line scripts/test.sh reads, "N passed, M failed" (", K skipped"
# after it when some were), and the names of the failed cases above it.

PASSED=0
FAILED=0
SKIPPED=0
FAILURES=()

pass() { PASSED=$((PASSED + 1)); echo "ok     - $*"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); echo "FAILED - $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "skip   - $*"; }
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
    if [ "$SKIPPED" -gt 0 ]; then
        echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
    else
        echo "$PASSED passed, $FAILED failed"
    fi
    [ "$FAILED" = 0 ]
}
