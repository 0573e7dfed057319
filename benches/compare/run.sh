#!/usr/bin/env bash
# The head-to-head benchmark in one command: builds the release binaries and examples,
# installs a release build of the Python package and the official Python SDK into a venv,
# then runs benches/compare/run.py (table on stdout and in benches/RESULTS.md).
#
#   ./benches/compare/run.sh [--rows 1000000]
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs="${CARGO_BUILD_JOBS:-2}"
venv="${COMPARE_VENV:-${CARGO_TARGET_DIR:-target}/compare-venv}"

echo "== cargo build --release (zerobus-sql, zerobus-emulator, examples)"
cargo build --release -j"$jobs" --workspace --features cli --bins --examples

echo "== cargo build --release: the official Rust SDK 3.x peer (its own project, arrow 60)"
cargo build --release -j"$jobs" --manifest-path benches/compare/official-rust-sdk3/Cargo.toml \
  --target-dir "${CARGO_TARGET_DIR:-target}/sdk3"

echo "== venv $venv: pyarrow, deltalake, the official SDK, our package (release)"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r python/requirements-test.txt
# `cli` as well as `python` (a `--features` given here replaces pyproject.toml's): the
# build above then serves the extension too.
PATH="$venv/bin:$PATH" CARGO_BUILD_JOBS="$jobs" MATURIN_PEP517_ARGS="--features python,cli" \
  "$venv/bin/python" -m pip install --quiet --no-build-isolation --force-reinstall --no-deps .

echo "== run"
"$venv/bin/python" benches/compare/run.py "$@"
