"""Python `send_batch` vs the Rust path vs the official Python SDK's JSON loop, on the same
1M-row, 10-column mixed data set (seeded), against one emulator process in --discard mode
(so the figures are client cost).

    cargo build --release -p zerobus-emulator --example send_ipc -p arrow-zerobus-sdk-wrapper
    pip install .            # a release build of the package
    python python/bench/send_bench.py [--rows 1000000] [--sdk-rows 100000]

Prints rows/s and CPU seconds per 1M rows for each contender, and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc

from arrow_zerobus_sdk_wrapper import ZerobusWrapper

REPO = Path(__file__).resolve().parents[2]
TABLE = "main.default.bench"
COLUMNS = (
    "device STRING, temp_i32 INT, counter BIGINT NOT NULL, value DOUBLE, ok BOOLEAN, "
    "seen TIMESTAMP, day DATE, samples ARRAY<BIGINT>, meta STRUCT<a: INT, b: STRING>, "
    "attrs MAP<STRING, DOUBLE>"
)


def mixed(rows: int) -> pa.Table:
    """The 10-column mixed schema of the Rust benchmarks, from a fixed seed."""
    r = random.Random(42)
    n = range(rows)
    return pa.table(
        {
            "device": [None if i % 13 == 0 else f"device-{r.randrange(1000)}-{i}" for i in n],
            "temp_i32": pa.array([r.randrange(100_000) - 50_000 for _ in n], pa.int32()),
            "counter": pa.array([r.getrandbits(62) for _ in n], pa.int64()),
            "value": [r.randrange(1_000_000) / 7.0 for _ in n],
            "ok": [r.random() < 0.5 for _ in n],
            "seen": pa.array([1_700_000_000_000_000 + i * 1000 for i in n], pa.timestamp("us", "UTC")),
            "day": pa.array([19_000 + i % 365 for i in n], pa.date32()),
            "samples": pa.array([[r.randrange(1_000_000) for _ in range(i % 4)] for i in n], pa.list_(pa.int64())),
            "meta": pa.array([{"a": i, "b": f"s{i}"} for i in n], pa.struct([("a", pa.int32()), ("b", pa.string())])),
            "attrs": pa.array([[(f"k{k}", float(k)) for k in range(i % 3)] for i in n], pa.map_(pa.string(), pa.float64())),
        }
    )


def start_emulator(warehouse: Path):
    binary = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release" / "zerobus-emulator"
    proc = subprocess.Popen(
        [str(binary), "--warehouse", str(warehouse), "--discard", "--table", f"{TABLE}:{COLUMNS}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    parts = dict(p.split("=", 1) for p in proc.stdout.readline().split()[1:])
    return proc, parts["grpc"], parts["http"]


def cpu_seconds() -> float:
    self_usage = resource.getrusage(resource.RUSAGE_SELF)
    return self_usage.ru_utime + self_usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--sdk-rows", type=int, default=100_000)
    args = ap.parse_args()
    data = mixed(args.rows).combine_chunks()
    batches = data.to_batches(max_chunksize=8192)
    table = pa.Table.from_batches(batches)
    arrow_mb = table.nbytes / 1e6
    print(f"data: {args.rows} rows, 10 columns, {arrow_mb:.1f} MB of Arrow, batches of 8192", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, grpc, http = start_emulator(Path(tmp) / "wh")
        conn = dict(client_id="local", client_secret="local-secret", unity_catalog_url=http)
        try:
            # Ours, from Python.
            w = ZerobusWrapper(grpc, TABLE, **conn)
            w.send_batch_sync(table.slice(0, 8192))  # stream, schema and token ready
            cpu0, t0 = cpu_seconds(), time.perf_counter()
            r = w.send_batch_sync(table)
            secs, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
            w.shutdown_sync()
            assert r.rows == args.rows
            results.append(("ours: Python send_batch (pyarrow Table)", args.rows, secs, cpu))

            # Ours, the Rust path on the same data (separate process).
            ipc = Path(tmp) / "data.arrow"
            with pa.ipc.new_file(ipc, table.schema) as f:
                for b in batches:
                    f.write_batch(b)
            example = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release" / "examples" / "send_ipc"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            out = subprocess.run(
                [str(example), str(ipc), TABLE, grpc, http, "local"],
                env={**os.environ, "DATABRICKS_CLIENT_SECRET": "local-secret"},
                check=True, capture_output=True, text=True,
            ).stdout
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            rust_secs = float(out.split(" in ")[1].split(" s")[0])
            rust_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            results.append(("ours: Rust send_batch (same batches)", args.rows, rust_secs, rust_cpu))

            # The official Python SDK: one JSON record per row.
            from zerobus.sdk.shared import RecordType, StreamConfigurationOptions, TableProperties
            from zerobus.sdk.sync import ZerobusSdk

            n = min(args.sdk_rows, args.rows)
            rows = data.slice(0, n)
            rows = rows.set_column(5, "seen", rows.column("seen").cast(pa.int64()))
            rows = rows.set_column(6, "day", rows.column("day").cast(pa.int32()))
            pylist = rows.to_pylist()
            sdk = ZerobusSdk(grpc, http)
            stream = sdk.create_stream("local", "local-secret", TableProperties(TABLE),
                                       StreamConfigurationOptions(record_type=RecordType.JSON))
            cpu0, t0 = cpu_seconds(), time.perf_counter()
            for row in pylist:
                row["attrs"] = dict(row["attrs"] or [])
                stream.ingest_record_offset(json.dumps(row))
            stream.flush()
            secs, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
            stream.close()
            results.append(("official Python SDK: JSON ingest_record_offset loop", n, secs, cpu))
        finally:
            proc.terminate()
            proc.wait()
    best = max(rows / secs for _, rows, secs, _ in results)
    print("\n| contender | rows | rows/s | MB/s of Arrow | client CPU s per 1M rows | vs fastest |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rows, secs, cpu in results:
        rps = rows / secs
        print(f"| {name} | {rows} | {rps:,.0f} | {arrow_mb * rows / args.rows / secs:.1f} | "
              f"{cpu * 1e6 / rows:.2f} | {rps / best:.2f} |")
    py, rust = results[0], results[1]
    print(f"\nPython / Rust time ratio: {(py[2] / py[1]) / (rust[2] / rust[1]):.2f}")


if __name__ == "__main__":
    sys.exit(main())
