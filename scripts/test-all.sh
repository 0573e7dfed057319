#!/usr/bin/env bash
# The whole test suite: formatting, lints, Rust tests (against the in-process emulator,
# the official Rust SDK as client), then the Python tests (the official Python SDK against
# the emulator program). Installs the Python test dependencies into ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${CARGO_BUILD_JOBS:-2}"
venv="${ZEROBUS_TEST_VENV:-.venv}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy -j "$jobs" --workspace --all-targets --all-features -- -D warnings

echo "== cargo test"
cargo test -j "$jobs" --workspace --all-features -- --test-threads 2

echo "== python tests"
# Same feature set as the tests above, so nothing is rebuilt: the emulator program and the
# debug-files example that the Python tests run.
cargo build -j "$jobs" --workspace --all-features --bins --examples
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r python/requirements-test.txt
"$venv/bin/python" -m pytest -q python/tests
