#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script):
#   1. scripts/setup.sh installs the Debian packages the tests need (a no-op when present);
#   2. formatting and clippy, warnings as errors;
#   3. cargo test: unit tests and the integration tests in tests/*.rs, each binary against a
#      throwaway MariaDB server of its own;
#   4. the end-to-end suites that drive whole clusters (tests/*/e2e.sh): Pacemaker + Corosync
#      with the installed agent, and a 3-node Galera cluster.
# It ends with one line, "N passed, M failed", summing every suite.
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp -d /tmp/tokenflush-test.XXXXXX)
trap 'rm -rf "$log"' EXIT
started=$(date +%s)
passed=0
failed=0

step() { printf '\n==> %s\n' "$*"; }

step "setup"
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

step "cargo fmt --check and clippy"
if cargo fmt --all -- --check && cargo clippy --locked --all-targets -- -D warnings; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
fi

step "cargo build --release"
cargo build --locked --release || { echo "0 passed, 1 failed"; exit 1; }

step "cargo test"
cargo test --locked 2>&1 | tee "$log/cargo.out"
cargo_rc=${PIPESTATUS[0]}
read -r p f < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p+0, f+0 }' "$log/cargo.out")
passed=$((passed + p)); failed=$((failed + f))
if [ "$cargo_rc" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); fi

for suite in tests/*/e2e.sh; do
    [ -f "$suite" ] || continue
    step "$suite"
    bash "$suite" 2>&1 | tee "$log/suite.out"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log/suite.out" | tail -1)
    if [ -n "$line" ]; then
        p=$(echo "$line" | awk '{print $1}'); f=$(echo "$line" | awk '{print $3}')
        passed=$((passed + p)); failed=$((failed + f))
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); fi
    else
        if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    fi
done

printf '\nwhole suite took %ss\n' "$(( $(date +%s) - started ))"
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
