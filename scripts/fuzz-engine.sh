#!/usr/bin/env bash
# A longer run of the engine's differential test (tests/differential.rs) than CI's: fresh random
# cases for a given time, in release mode, with larger tables. The first failure of each class is
# shrunk, the first two of each kind are appended to tests/differential-seeds.txt (commit them:
# every later run, CI's included, replays that file first), and every reproduction, with the
# server's general log, is written under target/tmp/differential/. One flush runs at a time.
#   scripts/fuzz-engine.sh [minutes]    default 20
# Environment: TOKENFLUSH_DIFF_SEED (base seed), TOKENFLUSH_DIFF_MAX_ROWS (default 5000),
# TOKENFLUSH_DIFF_SHRINK_SECS (default 60), TOKENFLUSH_DIFF_GENERAL_LOG=0 (no general log),
# TOKENFLUSH_DIFF_SET (parameters for every case, e.g. "writes=live charset=default").
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-20}"
export TOKENFLUSH_DIFF_SECONDS=$((minutes * 60))
export TOKENFLUSH_DIFF_CASES="${TOKENFLUSH_DIFF_CASES:-1000000000}"
export TOKENFLUSH_DIFF_MAX_ROWS="${TOKENFLUSH_DIFF_MAX_ROWS:-5000}"
export TOKENFLUSH_DIFF_SHRINK_SECS="${TOKENFLUSH_DIFF_SHRINK_SECS:-60}"
export TOKENFLUSH_DIFF_RECORD=1
if [ "${TOKENFLUSH_DIFF_GENERAL_LOG:-1}" = 0 ]; then
    unset TOKENFLUSH_DIFF_GENERAL_LOG
else
    export TOKENFLUSH_DIFF_GENERAL_LOG=1
fi
exec cargo test --locked --release --test differential the_engine_agrees_with_the_oracle -- --nocapture
