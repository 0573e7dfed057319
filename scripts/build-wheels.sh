#!/usr/bin/env bash
# Build the wheels we hand out into target/wheels (or $WHEEL_DIR):
#   arrow_zerobus_sdk_wrapper-*.whl  the library (abi3, Python >= 3.9; features `python` only)
#   zerobus_emulator-*.whl           the emulator program (maturin `bin` wheel)
# with the `dist` profile (no debug info, fat LTO, one codegen unit, stripped). Extra
# arguments go to both `maturin build` calls; `--profile dev` builds quickly for tests.
# $LIBRARY_FEATURES sets the cargo features of the library's wheel only, replacing
# pyproject.toml's `python` (the tests give `python,cli` to share compiled dependencies
# with the test build). Needs maturin on PATH
# (`pip install maturin`). Prints each wheel's size.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${WHEEL_DIR:-target/wheels}"
profile=(--profile dist)
for arg in "$@"; do
  if [ "$arg" = "--profile" ]; then profile=(); fi
done

mkdir -p "$out"
library=()
if [ -n "${LIBRARY_FEATURES:-}" ]; then library=(--features "$LIBRARY_FEATURES"); fi
maturin build "${profile[@]}" --out "$out" "${library[@]}" "$@"
maturin build "${profile[@]}" --manifest-path emulator/Cargo.toml --out "$out" "$@"

echo "== wheels in $out"
for w in "$out"/*.whl; do
  printf '%8.1f MB  %s\n' "$(( $(stat -c %s "$w") ))e-6" "$(basename "$w")"
done
