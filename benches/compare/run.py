"""Head-to-head: every way into Zerobus we know, on the same data, against the same
emulator, one after another. Run through `benches/compare/run.sh` (which builds and
installs what this needs); the table goes to stdout and to benches/RESULTS.md.

    python benches/compare/run.py [--rows 1000000] [--check-rows 20000] [--out FILE]
    python benches/compare/run.py --quota [--rows 2000000]

Two tables, each kept in its own section of benches/RESULTS.md:
- `--quota`: "against the service's quota": the emulator holds each stream to the
  service's 100,000 records/s (and 100 MB/s), `--discard` so only the quota and the
  client count; ours with max_streams 1, 2, 4, 8, 16 and the default, the official SDKs
  on one stream and (Rust) on its multiplexed stream. Streams used come from the
  emulator's stats endpoint.
- default: "client efficiency": no quota, every contender on the same data.

1. A seeded data set (the 10-column mixed schema of the Rust benchmarks) is written once
   as an Arrow IPC file of 8,192-row batches (`examples/compare_data`).
2. Check: each contender sends the first `--check-rows` rows to an emulator that writes
   Delta; the table is read back (`deltalake`) and must hold exactly those rows (count and
   sum of a column). A contender that fails the check is reported, not timed.
3. Timing: each contender sends all rows to one emulator process in `--discard` mode
   (acknowledges without writing, so the figures are the client's), in a process of its
   own: rows/s from the contender's own clock (first byte sent → last acknowledgement;
   reading the file is not timed, except for zerobus-sql whose query reads it, timed by
   the process's wall clock); CPU seconds and peak RSS of the whole client process
   (`wait4`), so loading the data counts there.
"""

from __future__ import annotations

import argparse
import datetime
import http.server
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute
import pyarrow.ipc

sys.path.insert(0, str(Path(__file__).resolve().parent))
import charts  # noqa: E402 (benches/compare/charts.py, beside this file)
from insert_argv import insert_argv  # noqa: E402 (benches/compare/insert_argv.py)

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
TARGET = BUILD / "release"
# The official Rust SDK 3.x peer, its own Cargo project (benches/compare/official-rust-sdk3).
SDK3 = BUILD / "sdk3" / "release" / "official-rust-sdk3"
HERE = Path(__file__).resolve().parent
CLIENT_ID, SECRET = "local", "local-secret"


def start_emulator(warehouse: Path, tables: list[str], columns: str, discard: bool, quota: bool = False):
    args = [str(TARGET / "zerobus-emulator"), "--warehouse", str(warehouse)]
    if discard:
        args.append("--discard")
    if not quota:
        args += ["--stream-max-records-per-sec", "0", "--stream-max-bytes-per-sec", "0"]
    for t in tables:
        args += ["--table", f"{t}:{columns}"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    parts = dict(p.split("=", 1) for p in proc.stdout.readline().split()[1:])
    return proc, parts["grpc"], parts["http"]


class OtlpSink(http.server.BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP exports and throws them away (for the telemetry-on contender)."""

    received = 0

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("content-length", 0)))
        OtlpSink.received += 1
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def contenders(otlp: str):
    """(name, argv builder, extra env, timed by the process's wall clock)."""
    py = [sys.executable, str(HERE / "contenders.py")]
    ex = TARGET / "examples"

    def sql(file, table, grpc, uc):
        return insert_argv(TARGET / "zerobus-sql", file, table, grpc, uc, CLIENT_ID)

    def args(*head):
        return lambda file, table, grpc, uc: [*map(str, head), file, table, grpc, uc, CLIENT_ID]

    return [
        ("ours: `INSERT INTO … SELECT` (zerobus-sql)", sql, {}, True),
        ("ours: Rust `send_batch`", args(ex / "send_ipc"), {}, False),
        ("ours: Rust `send_batch`, telemetry on (OTLP/HTTP)", args(ex / "send_ipc"),
         {"ZEROBUS_BENCH_OTLP": otlp}, False),
        ("ours: Python `send_batch_sync(pyarrow.Table)`", args(*py, "ours"), {}, False),
        ("ours: Rust `send_batch`, transport flight (LZ4)", args(ex / "send_ipc"),
         {"ZEROBUS_TRANSPORT": "flight"}, False),
        ("ours: Rust `send_batch`, transport flight (ZSTD)", args(ex / "send_ipc"),
         {"ZEROBUS_TRANSPORT": "flight", "ZEROBUS_FLIGHT_COMPRESSION": "zstd"}, False),
        ("ours: Rust `send_batch`, transport flight (no compression)", args(ex / "send_ipc"),
         {"ZEROBUS_TRANSPORT": "flight", "ZEROBUS_FLIGHT_COMPRESSION": "none"}, False),
        ("ours: Python `send_batch_sync(pyarrow.Table)`, transport flight", args(*py, "ours"),
         {"ZEROBUS_TRANSPORT": "flight"}, False),
        ("official Rust SDK 2.12: JSON (arrow-json), `ingest_records_offset`",
         args(ex / "official_sdk", "json"), {}, False),
        ("official Rust SDK 2.12: dynamic proto (prost-reflect), `ingest_records_offset`",
         args(ex / "official_sdk", "proto"), {}, False),
        ("official Python SDK 1.10: JSON, `ingest_record_offset` loop", args(*py, "sdk-json"), {}, False),
        ("official Python SDK 1.10: proto records, `ingest_records_offset`", args(*py, "sdk-proto"), {}, False),
        ("official Rust SDK 2.12: Arrow Flight (`build_arrow`, `ingest_batch`)",
         args(ex / "official_sdk", "arrow"), {}, False),
        ("official Rust SDK 3.1: dynamic proto (prost-reflect), `ingest_records_offset`",
         args(SDK3, "proto"), {}, False),
        ("official Rust SDK 3.1: Arrow Flight (`build_arrow`, `ingest_batch`)",
         args(SDK3, "arrow"), {}, False),
        ("official Python SDK 1.10: Arrow Flight stream", args(*py, "sdk-flight"), {}, False),
    ]


def quota_contenders():
    """(name, argv builder, extra env, timed by wall clock) against the quota."""
    py = [sys.executable, str(HERE / "contenders.py")]
    ex = TARGET / "examples"

    def args(*head):
        return lambda file, table, grpc, uc: [*map(str, head), file, table, grpc, uc, CLIENT_ID]

    ours = [
        (f"ours: Rust `send_all`, max_streams {n}", args(ex / "send_ipc"), {"ZEROBUS_MAX_STREAMS": str(n)}, False)
        for n in (1, 2, 4, 8, 16)
    ]
    return [
        *ours,
        ("ours: Rust `send_all`, default (adaptive, up to 16)", args(ex / "send_ipc"), {}, False),
        ("ours: Rust `send_all`, transport flight, max_streams 1", args(ex / "send_ipc"),
         {"ZEROBUS_TRANSPORT": "flight", "ZEROBUS_MAX_STREAMS": "1"}, False),
        ("ours: Rust `send_all`, transport flight, default (adaptive, up to 16)", args(ex / "send_ipc"),
         {"ZEROBUS_TRANSPORT": "flight"}, False),
        ("ours: Rust `send_all`, transport flight (no compression), max_streams 1", args(ex / "send_ipc"),
         {"ZEROBUS_TRANSPORT": "flight", "ZEROBUS_FLIGHT_COMPRESSION": "none", "ZEROBUS_MAX_STREAMS": "1"}, False),
        ("ours: Python `send_batch_sync`, transport flight, max_streams 1", args(*py, "ours"),
         {"ZEROBUS_TRANSPORT": "flight", "ZEROBUS_MAX_STREAMS": "1"}, False),
        ("ours: Python `send_batch_sync`, transport flight, default", args(*py, "ours"),
         {"ZEROBUS_TRANSPORT": "flight"}, False),
        ("ours: `INSERT INTO … SELECT` (zerobus-sql), default", contenders("")[0][1], {}, True),
        ("official Rust SDK 2.12: dynamic proto, one stream", args(ex / "official_sdk", "proto"), {}, False),
        ("official Rust SDK 2.12: dynamic proto, `.multiplexed(8)`", args(ex / "official_sdk", "proto-mux"),
         {"ZEROBUS_BENCH_MUX": "8"}, False),
        ("official Rust SDK 2.12: Arrow Flight, one stream", args(ex / "official_sdk", "arrow"), {}, False),
        ("official Rust SDK 3.1: dynamic proto, one stream", args(SDK3, "proto"), {}, False),
        ("official Rust SDK 3.1: dynamic proto, `.multiplexed(8)`", args(SDK3, "proto-mux"),
         {"ZEROBUS_BENCH_MUX": "8"}, False),
        ("official Rust SDK 3.1: Arrow Flight, one stream", args(SDK3, "arrow"), {}, False),
        ("official Python SDK 1.10: proto records, one stream", args(*py, "sdk-proto"), {}, False),
        ("official Python SDK 1.10: Arrow Flight, one stream", args(*py, "sdk-flight"), {}, False),
    ]


def emulator_streams(uc: str, table: str) -> int:
    import urllib.request

    with urllib.request.urlopen(f"{uc}/zerobus-emulator/v1/stats") as r:
        stats = json.load(r)
    return stats["tables"].get(table, {}).get("streams_opened", 0)


def replace_section(path: Path, heading: str, body: str) -> None:
    """Put `## heading` + body into RESULTS.md, keeping the other sections; the quota
    table comes first."""
    text = path.read_text() if path.exists() else ""
    if text and not text.startswith("# Benchmark results"):
        # A file of one table (before sections): it is the client-efficiency table.
        text = "## Client efficiency (no quota)\n\n" + text.split("\n", 1)[1].lstrip()
    elif text:
        text = text.split("\n", 1)[1]
    sections = [s.strip() for s in ("\n" + text).split("\n## ") if s.strip()]
    sections = [s for s in sections if not s.startswith(heading)]
    new = f"{heading}\n\n{body.strip()}"
    ordered = [new, *sections] if heading.startswith("Against") else [*sections, new]
    path.write_text("# Benchmark results\n\n" + "\n\n".join("## " + s for s in ordered) + "\n")


def make_data(work: Path, rows: int):
    """The seeded data set as an Arrow IPC file: (its path, the table's columns, the data)."""
    data_path = work / "data.arrow"
    columns = subprocess.run(
        [str(TARGET / "examples" / "compare_data"), str(data_path), str(rows)],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    with pa.ipc.open_file(data_path) as f:
        data = f.read_all()
    return data_path, columns, data


def picked(only: str, name: str) -> bool:
    """`--only`: names holding any of the `|`-separated texts (all when empty)."""
    return not only or any(o and o in name for o in only.split("|"))


def run_quota(args) -> int:
    entries = [e for e in quota_contenders() if picked(args.only, e[0])]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data_path, columns, data = make_data(work, args.rows)
        verdicts = check(work, data, columns, entries, min(args.check_rows, args.rows))
        for name, v in verdicts.items():
            print(f"check {'ok' if not v else v}: {name}", flush=True)
        rows_out = []
        one_stream = None
        for k, (name, argv, env, by_wall) in enumerate(entries):
            if verdicts.get(name):
                rows_out.append((name, None, verdicts[name]))
                continue
            table = f"main.default.quota_{k}"
            proc, grpc, uc = start_emulator(work / f"wh{k}", [table], columns, discard=True, quota=True)
            try:
                r = run_measured(argv(str(data_path), table, grpc, uc), env)
                r["streams"] = emulator_streams(uc, table)
            finally:
                proc.terminate()
                proc.wait()
            if not r["ok"]:
                rows_out.append((name, None, "failed: " + first_error_line(r["stderr"])))
                continue
            r["secs"] = r["wall"] if by_wall else r["seconds"]
            rps = args.rows / r["secs"]
            if name.endswith("max_streams 1"):
                one_stream = rps
            print(f"{name}: {rps:,.0f} rows/s ({r['secs']:.2f} s, CPU {r['cpu']:.2f} s, "
                  f"{r['streams']} streams opened)", flush=True)
            rows_out.append((name, r, ""))
    lines = [
        "| contender | rows/s | × ours on one stream | of streams × quota | client CPU s per 1M rows | "
        "client cores busy | process CPU s per 1M rows | streams opened |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r, why in rows_out:
        if r is None:
            lines.append(f"| {name} | {why} | | | | | | |")
            continue
        rps = args.rows / r["secs"]
        used = max(r["streams"], 1)
        lines.append(
            f"| {name} | {rps:,.0f} | {rps / one_stream if one_stream else 0:.2f} | "
            f"{rps / (used * 100_000):.2f} | {r['cpu'] * 1e6 / args.rows:.2f} | "
            f"{r['cpu'] / r['secs']:.2f} | {r['cpu_process'] * 1e6 / args.rows:.2f} | {r['streams']} |"
        )
    table_md = "\n".join(lines)
    print("\n" + table_md)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = (
        f"Machine: {machine()}. Date: {now}. Command: `./benches/compare/run.sh --quota` "
        f"(here: `run.py --quota --rows {args.rows}`), one run per contender.\n\n"
        f"Emulator: its own process per contender, `--discard`, with the service's per-stream quota on "
        f"(100,000 records/s, 100 MB/s; enforced by pacing). Data: {args.rows:,} rows of the seeded "
        f"10-column schema, 8,192-row batches. Each contender first sent {min(args.check_rows, args.rows):,} "
        f"rows to an emulator writing Delta and read back exactly those rows. \"of streams × quota\": rows/s "
        f"over (streams opened × 100,000); streams opened from `GET /zerobus-emulator/v1/stats` "
        f"(reconnections would count too). \"client CPU\": the CPU seconds (every thread) of the "
        f"contender's timed phase, from creating the stream to the last acknowledgement, as the "
        f"contender reads them from getrusage: reading the data file and starting Python are not "
        f"counted (zerobus-sql: the whole process, its query reads the file). \"process CPU\": the "
        f"whole client process (wait4), for comparison. \"client cores busy\": client CPU seconds over "
        f"the run's seconds; the emulator process shares the same 2 cores.\n\n" + table_md
        + "\n\n" + charts.QUOTA_IMAGES
    )
    replace_section(Path(args.out), "Against the service's quota", body)
    if not args.only:
        charts.draw(Path(args.out), Path(args.out).parent / "charts")
    print(f"\nwritten to {args.out}")
    return 0


def run_measured(argv: list[str], env: dict) -> dict:
    """Run `argv` and return its exit status, wall time, CPU seconds and peak RSS."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "DATABRICKS_CLIENT_SECRET": SECRET, **env},
    )
    # Read the pipes on threads, then reap with wait4 for this child's own rusage.
    chunks: dict[str, str] = {}
    readers = [
        threading.Thread(target=lambda k=k, f=f: chunks.__setitem__(k, f.read()))
        for k, f in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = {
        "wall": wall,
        "ok": proc.returncode == 0,
        "stderr": chunks.get("err", "").strip(),
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mib": usage.ru_maxrss / 1024,
    }
    for line in reversed(chunks.get("out", "").splitlines()):
        if line.startswith("{"):
            result.update(json.loads(line))
            break
    # A contender that prints the CPU of its timed phase (`cpu_seconds`) is measured by
    # it: reading the file and starting the interpreter are not the send's cost. The whole
    # process stays in `cpu_process`; zerobus-sql, whose query reads the file, has only it.
    result["cpu_process"] = result["cpu"]
    if isinstance(result.get("cpu_seconds"), (int, float)):
        result["cpu"] = result["cpu_seconds"]
    return result


def first_error_line(text: str) -> str:
    lines = [l for l in text.splitlines() if l.strip()]
    for l in lines:
        if "Error" in l or "error" in l:
            return l.strip()[:200]
    return (lines[-1] if lines else "no output")[:200]


def check(work: Path, data: pa.Table, columns: str, entries, rows: int) -> dict[str, str]:
    """Each contender's first `rows` rows into Delta, read back: name → '' or the problem."""
    from deltalake import DeltaTable

    subset = data.slice(0, rows)
    path = work / "check.arrow"
    with pa.ipc.new_file(path, subset.schema) as f:
        for b in subset.to_batches(max_chunksize=8192):
            f.write_batch(b)
    # The official SDK 3.x peer reads the protobuf descriptor beside its data file.
    descriptor = work / "data.descriptor.pb"
    if descriptor.exists():
        (work / "check.descriptor.pb").write_bytes(descriptor.read_bytes())
    want_sum = pa.compute.sum(subset.column("counter")).as_py()
    tables = [f"main.default.check_{i}" for i in range(len(entries))]
    proc, grpc, uc = start_emulator(work / "check-wh", tables, columns, discard=False)
    verdicts = {}
    try:
        for (name, argv, env, _), table in zip(entries, tables):
            r = run_measured(argv(str(path), table, grpc, uc), env)
            if not r["ok"]:
                verdicts[name] = "failed: " + first_error_line(r["stderr"])
                continue
            time.sleep(1.5)  # the emulator commits to Delta every second
            location = work / "check-wh" / Path(*table.split("."))
            got = DeltaTable(str(location)).to_pyarrow_table(columns=["counter"])
            got_sum = pa.compute.sum(got.column("counter")).as_py()
            if got.num_rows != rows or got_sum != want_sum:
                verdicts[name] = f"wrong data in Delta: {got.num_rows} rows (want {rows}), sum {got_sum} (want {want_sum})"
            else:
                verdicts[name] = ""
    finally:
        proc.terminate()
        proc.wait()
    return verdicts


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores available{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--check-rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds (median kept)")
    ap.add_argument("--out", default=str(REPO / "benches" / "RESULTS.md"))
    ap.add_argument("--quota", action="store_true", help="the table against the service's quota")
    ap.add_argument("--only", default="", help="time only the contenders whose name holds one of these |-separated texts "
                    "(a quick look; RESULTS.md is written only for a full run)")
    args = ap.parse_args()
    if args.only:
        args.out = os.devnull
    if args.quota:
        if args.rows == 1_000_000:
            args.rows = 2_000_000
        return run_quota(args)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OtlpSink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    otlp = f"http://127.0.0.1:{server.server_address[1]}"
    entries = [e for e in contenders(otlp) if picked(args.only, e[0])]

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data_path, columns, data = make_data(work, args.rows)
        arrow_mb = data.nbytes / 1e6
        print(f"data: {data.num_rows:,} rows, {data.num_columns} columns, {arrow_mb:.1f} MB of Arrow, "
              f"{data.to_batches()[0].num_rows}-row batches", flush=True)

        verdicts = check(work, data, columns, entries, min(args.check_rows, args.rows))
        for name, v in verdicts.items():
            print(f"check {'ok' if not v else v}: {name}", flush=True)

        table = "main.default.bench"
        proc, grpc, uc = start_emulator(work / "wh", [table], columns, discard=True)
        results = []
        try:
            # Rounds: every contender once per round, so slow drifts of the machine spread
            # over all of them instead of favouring whoever ran first.
            runs: dict[str, list] = {name: [] for name, *_ in entries}
            failed: dict[str, str] = {}
            for _ in range(args.repeat):
                for name, argv, env, by_wall in entries:
                    if verdicts.get(name) or name in failed:
                        continue
                    r = run_measured(argv(str(data_path), table, grpc, uc), env)
                    if not r["ok"]:
                        failed[name] = "failed: " + first_error_line(r["stderr"])
                        continue
                    r["secs"] = r["wall"] if by_wall else r["seconds"]
                    print(f"{name}: {args.rows / r['secs']:,.0f} rows/s ({r['secs']:.2f} s, CPU "
                          f"{r['cpu']:.2f} s, peak RSS {r['rss_mib']:.0f} MiB)", flush=True)
                    runs[name].append(r)
            for name, *_ in entries:
                if verdicts.get(name) or name in failed:
                    results.append((name, None, verdicts.get(name) or failed[name]))
                    continue
                # The median run by time; CPU and RSS are that run's.
                done = sorted(runs[name], key=lambda x: x["secs"])
                median = done[len(done) // 2]
                median["spread"] = (args.rows / done[-1]["secs"], args.rows / done[0]["secs"])
                median["cpu_all"] = sorted(x["cpu"] for x in done)
                results.append((name, median, ""))
        finally:
            proc.terminate()
            proc.wait()
    server.shutdown()

    measured = [r for _, r, _ in results if r]
    best = max(args.rows / r["secs"] for r in measured)
    lines = [
        f"| contender | rows/s (median of {args.repeat} rounds) | min–max rows/s | MB/s of Arrow | "
        "client CPU s per 1M rows | peak RSS MiB | vs fastest |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r, why in results:
        if r is None:
            lines.append(f"| {name} | {why} | | | | | |")
            continue
        rps = args.rows / r["secs"]
        lo, hi = r["spread"]
        lines.append(
            f"| {name} | {rps:,.0f} | {lo:,.0f}–{hi:,.0f} | {arrow_mb / r['secs']:.1f} | "
            f"{r['cpu'] * 1e6 / args.rows:.2f} | {r['rss_mib']:.0f} | {rps / best:.2f} |"
        )
    table_md = "\n".join(lines)
    print("\n" + table_md)
    on = [r for n, r, _ in results if r and "telemetry on" in n]
    off = [r for n, r, _ in results if r and n == "ours: Rust `send_batch`"]
    telemetry = ""
    if on and off:
        med = lambda xs: xs[len(xs) // 2]  # noqa: E731
        telemetry = (
            f"\nTelemetry on vs off (Rust `send_batch`, same data, interleaved rounds): median "
            f"{on[0]['secs'] / off[0]['secs']:.2f}× the time (spread off "
            f"{off[0]['spread'][0]:,.0f}–{off[0]['spread'][1]:,.0f}, on "
            f"{on[0]['spread'][0]:,.0f}–{on[0]['spread'][1]:,.0f} rows/s), median CPU "
            f"{med(on[0]['cpu_all']) / med(off[0]['cpu_all']):.2f}×; "
            f"{OtlpSink.received} OTLP/HTTP exports received.\n"
        )
        print(telemetry)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    replace_section(
        Path(args.out),
        "Client efficiency (no quota)",
        f"Machine: {machine()}. Date: {now}.\n\n"
        f"Command: `./benches/compare/run.sh` (here: `run.py --rows {args.rows} --repeat {args.repeat}`).\n\n"
        f"Data: {args.rows:,} rows of the seeded 10-column mixed schema (strings with nulls, INT, BIGINT, "
        f"DOUBLE, BOOLEAN, TIMESTAMP, DATE, ARRAY, STRUCT, MAP), {arrow_mb:.1f} MB of Arrow, 8,192-row batches, "
        f"one Arrow IPC file read by every contender. Emulator: its own process, `--discard`, per-stream quota off (acknowledges "
        f"after checking record sizes, writes nothing), so the figures are the client's. Before timing, each "
        f"contender sent the first {min(args.check_rows, args.rows):,} rows to an emulator writing Delta, and "
        f"the table read back held exactly those rows (count and sum of `counter`).\n\n"
        "rows/s: the contender's own clock from creating the stream to the last acknowledgement (file "
        "reading not timed), except zerobus-sql: process wall clock, its query reads the file. CPU: the "
        "contender's timed phase as it reads it from getrusage (every thread; zerobus-sql: the whole "
        "process). Peak RSS: the whole client process (`wait4`), so loading the data counts there.\n\n"
        + table_md + "\n" + telemetry + "\n" + charts.NO_QUOTA_IMAGES,
    )
    if not args.only:
        charts.draw(Path(args.out), Path(args.out).parent / "charts")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
