#!/usr/bin/env bash
# Fuzz for a bounded time (release build): the emulator's record decoders (random,
# wire-shaped and mutated protobuf; JSON token soup and mutated objects), then the
# encoder's property test (random nested schemas and data, every row decoded back and
# compared) with as many cases as fit. Each target gets FUZZ_SECONDS (default 60).
# Exits non-zero on the first panic or wrong value; FUZZ_SEED reproduces a decoder run.
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_SECONDS="${FUZZ_SECONDS:-60}"

echo "== emulator decoders, ${FUZZ_SECONDS} s per target"
# --workspace: the same features as the other release builds, so nothing is rebuilt twice.
cargo test --release --workspace --test it -- decode_fuzz:: --nocapture --test-threads 1

echo "== encoder property test, ${FUZZ_SECONDS} s"
cargo test --release --workspace --test it --no-run
start=$(date +%s)
set +e
PROPTEST_CASES=10000000 timeout "${FUZZ_SECONDS}" \
  cargo test --release --workspace --test it -- encode_props::every_row_decodes_to_its_source_values
rc=$?
set -e
if [ "$rc" -eq 124 ]; then
  echo "encoder: no failure in $(( $(date +%s) - start )) s"
elif [ "$rc" -ne 0 ]; then
  echo "encoder property test failed (exit $rc)"
  exit "$rc"
fi
