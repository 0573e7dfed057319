"""Two builds of a sender, measured in one run: before and after a change.

    python3 benches/compare/ab.py --before OLD/send_ipc --after NEW/send_ipc \
    python3 benches/compare/ab.py --before OLD/zerobus-sql --after NEW/zerobus-sql \
        [--emulator target/release/zerobus-emulator] [--rows 2000000] [--rounds 5] \
        [--env ZEROBUS_TRANSPORT=flight] [--no-quota] [--sql-before SQL] [--sql-before-after SQL]

Each round runs both senders (taking turns at going first) against a fresh
`zerobus-emulator --discard` process, with the service's per-stream quota on unless
`--no-quota`, on the same seeded Arrow IPC file (examples/compare_data), and reads the
sender's CPU seconds from `wait4` (the whole process, reading the file included) and, when
the sender prints `cpu_seconds` (examples/send_ipc does), the send's own. A sender named
`zerobus-sql*` runs `INSERT INTO … SELECT * FROM` the file (its process CPU only, as in
run.py: its query reads the file). Prints, per build,
CPU seconds per 1M rows as min / median / max over the rounds, and the median change.
Nothing is written.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from insert_argv import insert_argv  # noqa: E402 (benches/compare/insert_argv.py)

REPO = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release"
CLIENT_ID, SECRET = "local", "local-secret"
TABLE = "main.default.ab"


def start_emulator(program: str, warehouse: Path, columns: str, quota: bool):
    args = [program, "--warehouse", str(warehouse), "--discard", "--table", f"{TABLE}:{columns}"]
    if not quota:
        args += ["--stream-max-records-per-sec", "0", "--stream-max-bytes-per-sec", "0"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    parts = dict(p.split("=", 1) for p in proc.stdout.readline().split()[1:])
    return proc, parts["grpc"], parts["http"]


def measured(sender: str, data: Path, grpc: str, http: str, env: dict,
             sql_before: list[str]) -> tuple[float, float | None, int | None, float]:
    """(process CPU seconds from wait4, the send's own CPU seconds if it printed them, the
    most streams it had open, peak RSS in MiB). `sql_before`: statements a zerobus-sql
    sender runs first (e.g. a SET)."""
    if Path(sender).name.startswith("zerobus-sql"):
        argv = insert_argv(sender, data, TABLE, grpc, http, CLIENT_ID, sql_before)
    else:
        argv = [sender, str(data), TABLE, grpc, http, CLIENT_ID]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=err,
            env={**os.environ, "DATABRICKS_CLIENT_SECRET": SECRET, **env},
        )
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{sender} failed: {err.read().decode(errors='replace')[-2000:]}")
        last = (out.read().decode().strip().splitlines() or ["{}"])[-1]
        printed = json.loads(last) if last.startswith("{") else {}
    return (usage.ru_utime + usage.ru_stime, printed.get("cpu_seconds"), printed.get("streams"),
            usage.ru_maxrss / 1024)


def spread(values: list[float], fmt: str) -> str:
    return " / ".join(format(v, fmt) for v in (min(values), statistics.median(values), max(values)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--emulator", default=str(TARGET / "zerobus-emulator"))
    ap.add_argument("--data", default=str(TARGET / "examples" / "compare_data"))
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for both senders")
    ap.add_argument("--no-quota", action="store_true")
    ap.add_argument("--sql-before", action="append", default=[], metavar="SQL",
                    help="a statement zerobus-sql senders run before the INSERT (repeatable), "
                         "e.g. a SET; the same for both builds")
    ap.add_argument("--sql-before-after", action="append", default=[], metavar="SQL",
                    help="as --sql-before, for the after build only: measures a setting "
                         "with one binary")
    args = ap.parse_args()
    env = dict(e.split("=", 1) for e in args.env)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "data.arrow"
        columns = subprocess.run(
            [args.data, str(data), str(args.rows)], check=True, capture_output=True, text=True
        ).stdout.strip()
        cpu = {"before": [], "after": []}
        send_cpu = {"before": [], "after": []}
        peak = {"before": [], "after": []}
        for k in range(args.rounds):
            order = ["before", "after"] if k % 2 == 0 else ["after", "before"]
            for which in order:
                proc, grpc, http = start_emulator(args.emulator, work / f"wh{k}{which}", columns, not args.no_quota)
                try:
                    sql = args.sql_before + (args.sql_before_after if which == "after" else [])
                    c, s, streams, rss = measured(getattr(args, which), data, grpc, http, env, sql)
                finally:
                    proc.terminate()
                    proc.wait()
                cpu[which].append(c * 1e6 / args.rows)
                peak[which].append(rss)
                if s is not None:
                    send_cpu[which].append(s * 1e6 / args.rows)
                print(f"round {k + 1} {which}: process {c * 1e6 / args.rows:.3f}, send "
                      f"{'-' if s is None else format(s * 1e6 / args.rows, '.3f')} CPU s per 1M rows, "
                      f"{streams} streams, peak RSS {rss:.0f} MiB", flush=True)
    quota = "no quota" if args.no_quota else "the service's per-stream quota"
    print(f"\n{args.rows:,} rows, {args.rounds} rounds, {quota}, env {env or '{}'}")
    print("| build | process CPU s per 1M rows (min / median / max) | the send's own (min / median / max) "
          "| peak RSS MiB (min / median / max) |")
    print("|---|---:|---:|---:|")
    for which in ("before", "after"):
        own = spread(send_cpu[which], ".3f") if send_cpu[which] else "not printed"
        print(f"| {which} | {spread(cpu[which], '.3f')} | {own} | {spread(peak[which], '.0f')} |")
    change = statistics.median(cpu["after"]) / statistics.median(cpu["before"]) - 1
    print(f"\nmedian process CPU per row: {change:+.1%}")
    if send_cpu["before"] and send_cpu["after"]:
        change = statistics.median(send_cpu["after"]) / statistics.median(send_cpu["before"]) - 1
        print(f"median send CPU per row: {change:+.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
