#!/usr/bin/env bash
# Soak run, bounded: 4 concurrent INSERTs looping on an in-process emulator for
# SOAK_SECONDS (default 300); prints rows/s and RSS every 10 s and fails if RSS grew
# (last third vs middle third, and the slope over the last half).
# SOAK_DELTA=1 commits to Delta instead of the emulator's --discard mode.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --example soak -- "${SOAK_SECONDS:-300}"
