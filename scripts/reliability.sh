#!/usr/bin/env bash
# The fault matrix (tests/reliability.rs) in release against the emulator program: prints
# one row per fault and path and writes tests/RELIABILITY.md. Fails if any row is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins
RELIABILITY_MD="$PWD/tests/RELIABILITY.md" \
  cargo test --release --workspace --test reliability -- --ignored --nocapture
