"""Fixtures shared by the Python tests: a real zerobus-emulator process per test module."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def emulator_binary() -> Path:
    """The emulator program: $ZEROBUS_EMULATOR_BIN, else the workspace's debug build."""
    explicit = os.environ.get("ZEROBUS_EMULATOR_BIN")
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "zerobus-emulator"


# `arrow_zerobus_sdk_wrapper.emulator.start()` runs the same program (in a fresh
# environment it finds the one the zerobus-emulator wheel installed).
if emulator_binary().exists():
    os.environ.setdefault("ZEROBUS_EMULATOR_BIN", str(emulator_binary()))


@dataclass
class RunningEmulator:
    grpc_url: str
    http_url: str
    warehouse: Path
    client_id: str
    client_secret: str
    process: subprocess.Popen

    def table_path(self, full_name: str) -> Path:
        catalog, schema, table = full_name.split(".")
        return self.warehouse / catalog / schema / table


def start_emulator(warehouse: Path, tables: list[str], extra: list[str] | None = None) -> RunningEmulator:
    binary = emulator_binary()
    if not binary.exists():
        pytest.fail(f"{binary} is missing: build it with `cargo build -p zerobus-emulator`")
    args = [str(binary), "--warehouse", str(warehouse)]
    for t in tables:
        args += ["--table", t]
    args += extra or []
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    line = proc.stdout.readline().strip()
    parts = dict(p.split("=", 1) for p in line.split(" ")[1:])
    if not line.startswith("ready ") or "grpc" not in parts:
        proc.kill()
        pytest.fail(f"emulator did not start: {line!r}")
    return RunningEmulator(
        grpc_url=parts["grpc"],
        http_url=parts["http"],
        warehouse=Path(parts["warehouse"]),
        client_id="local",
        client_secret="local-secret",
        process=proc,
    )


def stop_emulator(emu: RunningEmulator) -> None:
    emu.process.terminate()
    try:
        code = emu.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        emu.process.kill()
        raise
    assert code == 0, f"emulator exited with {code} on SIGTERM"
