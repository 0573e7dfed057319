"""The `zerobus-sql` command line of the INSERT contender, shared by run.py and ab.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def insert_argv(program: str | Path, file: str | Path, table: str, grpc: str, uc: str,
                client_id: str, sql_before: Sequence[str] = ()) -> list[str]:
    """`INSERT INTO zerobus.TABLE SELECT * FROM` the Arrow IPC `file`, against the endpoint
    `grpc` and Unity Catalog `uc`, after the statements `sql_before` (e.g. a SET)."""
    return [
        str(program), "--endpoint", grpc, "--unity-catalog-url", uc,
        "--client-id", client_id, "--quiet", "--format", "csv",
        *[arg for sql in sql_before for arg in ("-c", sql)],
        "-c", f"CREATE EXTERNAL TABLE src STORED AS ARROW LOCATION '{file}'",
        "-c", f"INSERT INTO zerobus.{table} SELECT * FROM src",
    ]
