"""The local Zerobus emulator, in this process: real gRPC and HTTP endpoints that land
rows in real Delta tables, so everything can be tried with no Databricks account.

>>> from arrow_zerobus_sdk_wrapper import emulator
>>> with emulator.start() as emu:                                # doctest: +SKIP
...     emu.create_table("main.default.events", "id BIGINT NOT NULL, body STRING")
...     print(emu.endpoint, emu.unity_catalog_url)
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Optional, Union

from . import _native

__all__ = ["Emulator", "start"]


class Emulator:
    """A running emulator: its endpoint, Unity Catalog URL and credentials, and the tables
    in its warehouse (a directory of Delta tables, the emulator's only state)."""

    def __init__(self, native: Any) -> None:
        self._native = native

    @property
    def endpoint(self) -> str:
        """The Zerobus (gRPC) endpoint, ``http://127.0.0.1:<port>``."""
        return self._native.endpoint

    @property
    def unity_catalog_url(self) -> str:
        """The workspace URL: token endpoint and Unity Catalog tables API."""
        return self._native.unity_catalog_url

    @property
    def client_id(self) -> str:
        """The OAuth client id the emulator accepts."""
        return self._native.client_id

    @property
    def client_secret(self) -> str:
        """The OAuth client secret the emulator accepts."""
        return self._native.client_secret

    @property
    def warehouse(self) -> str:
        """The warehouse directory."""
        return self._native.warehouse

    def create_table(self, name: str, columns: str) -> str:
        """Create table ``name`` (``catalog.schema.table``) with ``columns`` in Databricks
        SQL spelling (``"id BIGINT NOT NULL, tags ARRAY<STRING>"``); returns the directory
        of its Delta table (read it with ``deltalake.DeltaTable``)."""
        return self._native.create_table(name, columns)

    def table_location(self, name: str) -> Optional[str]:
        """The Delta directory of table ``name``, or None if there is no such table."""
        return self._native.table_location(name)

    def streams_opened(self) -> int:
        """Streams opened since start (reconnections included)."""
        return self._native.streams_opened()

    def stats(self) -> dict:
        """Per-table figures, as ``GET /zerobus-emulator/v1/stats`` shows them:
        ``{"tables": {"main.default.t": {"streams_opened", "streams_open",
        "records_acknowledged", "bytes_acknowledged", "seconds_paced"}}}``."""
        return json.loads(self._native.stats_json())

    def connection(self) -> dict:
        """The keyword arguments that point a ZerobusWrapper or ZerobusCatalog here."""
        return dict(
            client_id=self.client_id,
            client_secret=self.client_secret,
            unity_catalog_url=self.unity_catalog_url,
        )

    def wrapper(self, table_name: str, **options: Any) -> Any:
        """A ZerobusWrapper for ``table_name`` on this emulator."""
        from . import ZerobusWrapper

        return ZerobusWrapper(self.endpoint, table_name, **{**self.connection(), **options})

    def stop(self) -> None:
        """Close every stream (acknowledging what is committed) and stop serving."""
        self._native.stop()

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return repr(self._native)


def start(
    warehouse: Optional[Union[str, "os.PathLike[str]"]] = None,
    *,
    host: str = "127.0.0.1",
    grpc_port: int = 0,
    http_port: int = 0,
    token_ttl_secs: Optional[float] = None,
    discard: bool = False,
    close_stream_after_records: Optional[int] = None,
    unavailable_rate: float = 0.0,
    stream_max_records_per_sec: int = 100_000,
    stream_max_bytes_per_sec: int = 100_000_000,
) -> Emulator:
    """Start an emulator in this process.

    Args:
        warehouse: Directory of its Delta tables (created if missing; a new temporary
            directory, kept after stop, when None). A restarted emulator on the same
            warehouse serves the same tables.
        host: Address to listen on (loopback by default).
        grpc_port: Zerobus port (0: any free port).
        http_port: Token and Unity Catalog port (0: any free port).
        token_ttl_secs: Lifetime of issued tokens (1 hour by default).
        discard: Acknowledge records without writing them (to measure clients).
        close_stream_after_records: Fault: close each stream after this many records.
        unavailable_rate: Fault: answer this share of requests with UNAVAILABLE.
        stream_max_records_per_sec: The service's per-stream quota of records per second
            (0: none), enforced by pacing: acknowledgements come later, nothing is
            refused. Each ZerobusWrapper opens more streams as they fill.
        stream_max_bytes_per_sec: The per-stream quota of record bytes per second.
    """
    if warehouse is None:
        warehouse = tempfile.mkdtemp(prefix="zerobus-warehouse-")
    native = _native.NativeEmulator(
        os.fspath(warehouse),
        host=host,
        grpc_port=grpc_port,
        http_port=http_port,
        token_ttl_secs=token_ttl_secs,
        discard=discard,
        close_stream_after_records=close_stream_after_records,
        unavailable_rate=unavailable_rate,
        stream_max_records_per_sec=stream_max_records_per_sec,
        stream_max_bytes_per_sec=stream_max_bytes_per_sec,
    )
    return Emulator(native)
