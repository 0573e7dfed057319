#!/usr/bin/env bash
# The fault matrix (tests/it/reliability.rs) in release against the emulator program: prints
# one row per fault and path and writes tests/RELIABILITY.md. Fails if any row is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# --examples: the same feature set as the test build (dev-dependencies), so nothing builds twice.
cargo build --release --workspace --features cli --bins --examples
RELIABILITY_MD="$PWD/tests/RELIABILITY.md" \
  cargo test --release --workspace --features cli --test it -- reliability:: --ignored --nocapture
