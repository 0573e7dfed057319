#!/usr/bin/env bash
# The whole test suite: formatting, lints, Rust tests (against the in-process emulator,
# the official Rust SDK as client), then the Python package (built with maturin into a
# venv) and the Python tests: our package and datafusion-python against the emulator, the
# official Python SDK against the emulator program. Installs everything into ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${CARGO_BUILD_JOBS:-2}"
venv="${ZEROBUS_TEST_VENV:-.venv}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== module graph (no import cycle, no module importing its parent)"
python3 scripts/module-cycles.py

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy -j "$jobs" --workspace --all-targets --all-features -- -D warnings

# Tests and binaries use every feature but `python` (`ballista` includes `cli`; the
# extension module is linked by maturin against the interpreter, and test binaries cannot
# link it).
features="ballista"

echo "== test venv (Python packages; moto's S3 server for the Rust object-store test)"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r python/requirements-test.txt
export ZEROBUS_MOTO_SERVER="$(cd "$venv" && pwd)/bin/moto_server"

echo "== cargo test"
cargo test -j "$jobs" --workspace --features "$features" -- --test-threads 2

echo "== python tests"
# Same feature set as the tests above, so nothing is rebuilt: the emulator program and the
# debug-files example that the Python tests run.
cargo build -j "$jobs" --workspace --features "$features" --bins --examples
echo "== pip install . (the Python package, dev profile, same target dir)"
PATH="$venv/bin:$PATH" MATURIN_PEP517_ARGS="--profile dev" CARGO_BUILD_JOBS="$jobs" \
  "$venv/bin/python" -m pip install --quiet --no-build-isolation --force-reinstall --no-deps .
"$venv/bin/python" -m pytest -q python/tests
