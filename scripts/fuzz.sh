#!/usr/bin/env bash
# A longer fuzzing run than CI's: the proptest properties of tests/fuzz.rs with many more cases,
# in release mode. Any failure is saved to tests/proptest-regressions/fuzz.txt (commit it, and
# turn the case into an explicit test) and replayed first by every later run, CI included.
#   scripts/fuzz.sh [cases]      default 20000 cases per property (a few minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
PROPTEST_CASES="${1:-20000}" exec cargo test --locked --release --test fuzz
