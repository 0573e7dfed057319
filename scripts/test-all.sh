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

echo "== benches/charts drawn from the figures in benches/RESULTS.md"
charts="$(mktemp -d)"
python3 benches/compare/charts.py --out "$charts" >/dev/null
diff -r "$charts" benches/charts || { echo "benches/charts is stale: run python3 benches/compare/charts.py"; exit 1; }
rm -rf "$charts"

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
echo "== the wheels (dev profile): the library, and the emulator program"
# The library with `cli` as well, as the tests above were built, so that nothing of
# DataFusion, delta-rs or the SDK is compiled again (the release wheel has `python` only:
# scripts/build-wheels.sh).
wheels="${CARGO_TARGET_DIR:-target}/wheels-test"
rm -rf "$wheels"
PATH="$venv/bin:$PATH" CARGO_BUILD_JOBS="$jobs" WHEEL_DIR="$wheels" LIBRARY_FEATURES=python,cli \
  ./scripts/build-wheels.sh --profile dev --quiet
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$wheels"/arrow_zerobus_sdk_wrapper-*.whl
"$venv/bin/python" -m pytest -q python/tests

echo "== the packages in a fresh venv, no Rust on PATH: README's Python snippet"
./scripts/test-packages.sh "$wheels"
