"""Debug files written by the Rust wrapper are readable by pyarrow (IPC stream) and hold
length-delimited protobuf records, one per row."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import REPO


def example_binary() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "examples" / "debug_files"


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def test_pyarrow_reads_the_debug_ipc_files(tmp_path):
    binary = example_binary()
    if not binary.exists():
        pytest.fail(f"{binary} is missing: build it with `cargo build --example debug_files`")
    out = subprocess.run([str(binary), str(tmp_path)], check=True, capture_output=True, text=True).stdout
    files = [Path(line) for line in out.splitlines() if line.strip()]
    ipc = [f for f in files if f.suffix == ".arrows"]
    pb = [f for f in files if f.suffix == ".pb"]
    assert ipc and pb
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f

    table = pa.concat_tables([pa.ipc.open_stream(f.read_bytes()).read_all() for f in ipc])
    assert table.column("id").to_pylist() == list(range(300))
    names = table.column("name").to_pylist()
    assert names[1] == "név-1" and names[7] is None

    records = 0
    for f in pb:
        data = f.read_bytes()
        pos = 0
        while pos < len(data):
            length, pos = read_varint(data, pos)
            record = data[pos : pos + length]
            assert record[0] == 0x08  # field 1 (id), varint
            pos += length
            records += 1
    assert records == 300
