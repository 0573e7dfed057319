#!/usr/bin/env bash
# The packages as a user gets them: the wheels in DIR (scripts/build-wheels.sh) installed
# into a fresh venv, with no Rust toolchain on PATH, and README's Python snippet run as
# written against the packaged emulator; the landed rows are then read back with the
# `deltalake` package.
#   ./scripts/test-packages.sh DIR
set -euo pipefail
cd "$(dirname "$0")/.."
wheels="$(cd "${1:?usage: test-packages.sh WHEEL_DIR}" && pwd)"
repo="$(pwd)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install --quiet --upgrade pip
# What the snippet imports (pyarrow) and what reads the table back (deltalake) come from
# PyPI; our two packages only from DIR (--no-index: never a same-named package elsewhere).
"$py" -m pip install --quiet "pyarrow>=16" "deltalake==1.6.6"
"$py" -m pip install --quiet --no-index --find-links "$wheels" "arrow-zerobus-sdk-wrapper[emulator]"

# README's first Python block under "## Python", as written.
python3 - "$repo/README.md" > "$work/snippet.py" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
section = text[text.index("## Python: `arrow_zerobus_sdk_wrapper`"):]
print(re.search(r"```python\n(.*?)```", section, re.S).group(1))
PY
# The check ends with os._exit: deltalake 1.6.6 with pyarrow 26.0.1 aborts at interpreter
# exit ("terminate called without an active exception") in about 1 run of 20 after
# reading any Delta table, without our package loaded (3 of 60 plain runs, 0 of 60 with
# os._exit, 2026-12-07). Everything checked is checked before it.
cat > "$work/check.py" <<'PY'
import os
import sys

from deltalake import DeltaTable
rows = DeltaTable("zerobus-warehouse/main/default/events").to_pyarrow_table().sort_by("id").to_pylist()
assert rows == [{"id": 1, "body": "a"}, {"id": 2, "body": "b"}], rows
print("README snippet landed", len(rows), "rows in main.default.events")
sys.stdout.flush()
os._exit(0)
PY

mkdir "$work/run"
cd "$work/run"
# Only the venv and the system's directories on PATH: no cargo, no rustc, no target dir.
clean_path="$work/venv/bin:/usr/local/bin:/usr/bin:/bin"
run() { env -i HOME="$work" PATH="$clean_path" LANG=C.UTF-8 "$@"; }
if run sh -c 'command -v cargo || command -v rustc' >/dev/null; then
  echo "test-packages: a Rust toolchain is on the clean PATH ($clean_path)"; exit 1
fi
program="$(run "$py" -c 'from arrow_zerobus_sdk_wrapper import emulator; print(emulator.find_program())')"
echo "emulator program: $program"
case "$program" in
  "$work/venv/"*) ;;
  *) echo "test-packages: start() would run $program, not the packaged emulator"; exit 1 ;;
esac
run "$py" "$work/snippet.py"
run "$py" "$work/check.py"
