#!/usr/bin/env bash
# Soak run, bounded: 4 concurrent INSERTs looping on an in-process emulator for
# SOAK_SECONDS (default 300); prints rows/s and RSS every 10 s and fails if RSS grew
# (last third vs middle third, and the slope over the last half).
# SOAK_DELTA=1 commits to Delta instead of the emulator's --discard mode.
set -euo pipefail
cd "$(dirname "$0")/.."
# --features cli: the feature set of the release build of scripts/reliability.sh and
# benches/compare, so nothing is built twice.
cargo run --release --features cli --example soak -- "${SOAK_SECONDS:-300}"
