"""Send Apache Arrow data to Databricks Delta tables through Zerobus Ingest.

The Rust core encodes Arrow columns straight into Protobuf records and sends them with the
official Zerobus SDK (retry with backoff, token refresh, dead-letter files, debug files);
this package adapts it to Python. Anything that speaks the Arrow PyCapsule interface is
accepted without a copy: pyarrow ``RecordBatch``/``Table``/``RecordBatchReader``, polars
``DataFrame``, DuckDB results, nanoarrow streams. pyarrow itself is not required.

>>> import pyarrow as pa                                       # doctest: +SKIP
>>> from arrow_zerobus_sdk_wrapper import ZerobusWrapper, emulator
>>> with emulator.start() as emu:                              # doctest: +SKIP
...     emu.create_table("main.default.t", "id BIGINT NOT NULL, name STRING")
...     with emu.wrapper("main.default.t") as w:
...         w.send_batch_sync(pa.table({"id": [1, 2], "name": ["a", "b"]}))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Tuple, Union
import os
import uuid
import weakref

from . import _native
from ._native import (
    AuthenticationError,
    ConfigurationError,
    ConnectionError,
    ConversionError,
    RetryExhausted,
    TokenRefreshError,
    TransmissionError,
    ZerobusCatalog,
    ZerobusError,
    ZerobusTable,
    ZerobusTableFactory,
)

__version__: str = _native.__version__

__all__ = [
    "ZerobusWrapper",
    "TransmissionResult",
    "ZerobusError",
    "ConfigurationError",
    "AuthenticationError",
    "ConnectionError",
    "ConversionError",
    "TransmissionError",
    "RetryExhausted",
    "TokenRefreshError",
    "ZerobusCatalog",
    "ZerobusTableFactory",
    "ZerobusTable",
    "register",
    "sql",
    "fold_sql",
]

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class TransmissionResult:
    """Result of one ``send_batch``.

    ``rows`` and ``ack_offset`` go beyond the contract: the rows acknowledged and the
    stream offset of the last acknowledgement.
    """

    success: bool
    """Whether every row was acknowledged."""
    error: Optional[str]
    """Error message if transmission failed."""
    attempts: int
    """Number of attempts made (the most any batch of the input needed)."""
    latency_ms: Optional[int]
    """Milliseconds from the call to the last acknowledgement (if successful)."""
    batch_size_bytes: int
    """Encoded size of the data sent, in bytes."""
    rows: int = 0
    """Rows acknowledged."""
    ack_offset: Optional[int] = None
    """Stream offset of the last acknowledged request."""


class ZerobusWrapper:
    """Sends Arrow data to one Zerobus table. Thread-safe: calls from many threads and
    asyncio tasks at once share the wrapper's streams (up to ``max_streams``); the GIL is
    released while Rust works.

    Every method has an ``async`` form (``send_batch``, ``flush``, ``shutdown``) and a
    blocking twin for scripts without an event loop (``send_batch_sync``, ``flush_sync``,
    ``shutdown_sync``). Use it as a context manager (``with`` or ``async with``): leaving
    the block flushes and closes the stream, so nothing accepted is left unsent.

    Args:
        endpoint: Zerobus endpoint URL (``https://<id>.zerobus.<region>.cloud.databricks.com``,
            or the emulator's ``http://127.0.0.1:<port>``).
        table_name: Target table, ``catalog.schema.table``.
        client_id: OAuth client id of the service principal.
        client_secret: Its secret (never shown in errors, logs or ``repr``).
        unity_catalog_url: Workspace URL (token endpoint and Unity Catalog API).
        observability_enabled: Turn on OpenTelemetry metrics and traces (OTLP export).
        observability_config: OTLP exporter settings: ``endpoint``, ``protocol``
            (``"grpc"`` or ``"http/protobuf"``), ``headers`` (a dict, or
            ``"key=value,key2=value2"``), ``export_interval_ms``, ``timeout_ms``,
            ``service_name``; keys left out come from the ``OTEL_*`` variables.
            ``shutdown`` (and leaving a ``with`` block) flushes the exports.
        debug_enabled: Write debug files (Arrow IPC and the Protobuf records sent).
        debug_output_dir: Where debug files go.
        debug_flush_interval_secs: How often debug files are flushed.
        debug_max_file_size: Size in bytes at which a debug file is rotated.
        retry_max_attempts: Attempts for transient failures.
        retry_base_delay_ms: Base of the exponential backoff (full jitter).
        retry_max_delay_ms: Cap of the backoff.
        dead_letter_dir: Where rows that could not be delivered after retries are written
            (Arrow IPC); ``RetryExhausted.dead_letter`` names the file.
        journal_dir: Where :meth:`copy_into` keeps its load journal (a path or an
            object-store URL; default ``$ZEROBUS_JOURNAL_DIR``, else
            ``~/.local/state/arrow-zerobus/journal``).
        allow_plaintext: Allow ``http://`` to a host that is not loopback.
        ack_timeout_ms: How long to wait for an acknowledgement before the stream counts
            as broken and the batch is retried on a new one (default: the SDK's 60 s).
        max_streams: Most streams (lanes) open to the table at once (default 16). The
            service caps each stream (100,000 records/s); a table or stream of batches
            opens another lane while the open ones have a backlog. Order is kept within
            a lane only; ``max_streams=1`` keeps every row in order.
        max_inflight_bytes: Most bytes of rows in flight at once, over every stream and
            every send of this wrapper, counted as Arrow data (default 128 MiB, at least
            64 KiB). A send waits for room; one larger than the whole budget goes alone.
            Lower it to bound memory with wide rows; at the quota, ordinary rows keep
            about 30 MB in flight.
        transport: ``"proto"`` (default): protobuf records over the SDK's gRPC stream;
            ``"flight"``: Arrow batches over its Arrow Flight stream, cast to the table's
            Flight schema. Both accept and refuse the same data; see the README for which
            to pick.
        flight_compression: IPC compression of the ``"flight"`` transport: ``"lz4"``
            (default), ``"zstd"`` or ``"none"``.
        null_collections: What the ``"proto"`` transport does with a NULL ARRAY or MAP,
            which protobuf cannot carry: ``"refuse"`` (default; ``ConversionError``
            naming column and row) or ``"empty"`` (sent as an empty one). The
            ``"flight"`` transport carries NULL as NULL.

    Raises:
        ConfigurationError: If the configuration is invalid (the message names the field).
    """

    def __init__(
        self,
        endpoint: str,
        table_name: str,
        *,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        unity_catalog_url: Optional[str] = None,
        observability_enabled: bool = False,
        observability_config: Optional[Dict[str, Any]] = None,
        debug_enabled: bool = False,
        debug_output_dir: Optional[PathLike] = None,
        debug_flush_interval_secs: int = 5,
        debug_max_file_size: Optional[int] = None,
        retry_max_attempts: int = 5,
        retry_base_delay_ms: int = 100,
        retry_max_delay_ms: int = 30000,
        dead_letter_dir: Optional[PathLike] = None,
        journal_dir: Optional[PathLike] = None,
        allow_plaintext: bool = False,
        ack_timeout_ms: Optional[int] = None,
        max_streams: int = 16,
        max_inflight_bytes: int = 134217728,
        transport: str = "proto",
        flight_compression: str = "lz4",
        null_collections: str = "refuse",
    ) -> None:
        self._native = _native.NativeWrapper(
            endpoint,
            table_name,
            client_id=client_id,
            client_secret=client_secret,
            unity_catalog_url=unity_catalog_url,
            observability_enabled=observability_enabled,
            observability_config=observability_config,
            debug_enabled=debug_enabled,
            debug_output_dir=None if debug_output_dir is None else os.fspath(debug_output_dir),
            debug_flush_interval_secs=debug_flush_interval_secs,
            debug_max_file_size=debug_max_file_size,
            retry_max_attempts=retry_max_attempts,
            retry_base_delay_ms=retry_base_delay_ms,
            retry_max_delay_ms=retry_max_delay_ms,
            dead_letter_dir=None if dead_letter_dir is None else os.fspath(dead_letter_dir),
            journal_dir=None if journal_dir is None else os.fspath(journal_dir),
            allow_plaintext=allow_plaintext,
            ack_timeout_ms=ack_timeout_ms,
            max_streams=max_streams,
            max_inflight_bytes=max_inflight_bytes,
            transport=transport,
            flight_compression=flight_compression,
            null_collections=null_collections,
        )

    @property
    def table_name(self) -> str:
        """The target table."""
        return self._native.table_name

    @property
    def endpoint(self) -> str:
        """The Zerobus endpoint."""
        return self._native.endpoint

    async def send_batch(self, batch: Any) -> TransmissionResult:
        """Send Arrow data: a record batch, or a table or stream (sent batch by batch,
        never concatenated, at most ``max(16, 2 * max_streams + 2)`` batches in flight,
        spread over the lanes).

        Returns:
            TransmissionResult once every row is durably acknowledged.

        Raises:
            ConversionError: The data does not fit the table (names the column and row);
                nothing of that batch was sent.
            RetryExhausted: Transient failures outlasted the retries; the rows not
                acknowledged are in the files ``err.dead_letters`` (``err.dead_letter``
                is the first).
            AuthenticationError, ConnectionError, TransmissionError, TokenRefreshError.

        Every error raised carries ``err.dead_letters`` (a list of paths, empty when no
        row was dead-lettered). When a table or stream stops part-way it also carries
        ``rows_read``, ``rows_acknowledged``, ``rows_dead_lettered`` and
        ``input_complete`` (False: the rest of the input was not sent; send it again,
        delivery is at-least-once).
        """
        return TransmissionResult(*await self._native.send_batch(batch))

    def send_batch_sync(self, batch: Any) -> TransmissionResult:
        """``send_batch`` for code without an event loop (blocks; GIL released)."""
        return TransmissionResult(*self._native.send_batch_sync(batch))

    async def flush(self) -> None:
        """Wait until everything sent so far is acknowledged."""
        await self._native.flush()

    def flush_sync(self) -> None:
        """``flush`` for code without an event loop."""
        self._native.flush_sync()

    async def shutdown(self) -> None:
        """Flush, close the stream and stop. Further sends raise TransmissionError."""
        await self._native.shutdown()

    def shutdown_sync(self) -> None:
        """``shutdown`` for code without an event loop."""
        self._native.shutdown_sync()

    def replay_dead_letters(self, path: PathLike) -> int:
        """Resend the rows of a dead-letter file, or of every ``*.dead.arrow`` file of a
        directory (blocking); returns the rows acknowledged. A replayed file is renamed
        ``*.replayed``; if the replay stops part-way the error names the new dead-letter
        files, and no file is left whose rows were both re-sent and kept."""
        return self._native.replay_dead_letters_sync(os.fspath(path))

    def copy_into(
        self,
        inputs: Any,
        *,
        file_format: Optional[str] = None,
        force: bool = False,
        journal_dir: Optional[PathLike] = None,
        source_file_column: Optional[str] = None,
        source_row_column: Optional[str] = None,
    ) -> dict:
        """Load Parquet, CSV or JSON files into the table, journaled (blocking).

        ``inputs``: a path, directory, glob or object-store URL (``s3://…``), or a list of
        them. The journal (``journal_dir``, else the ``journal_dir`` option, else
        ``$ZEROBUS_JOURNAL_DIR``, else ``~/.local/state/arrow-zerobus/journal``) records
        which rows of each file the service acknowledged: run again, files already loaded
        are skipped and an interrupted load sends only the rows not acknowledged. A file
        changed since it was loaded is refused unless ``force=True``, which loads every
        file from its start. ``source_file_column`` / ``source_row_column`` fill those
        table columns with each row's file URL and row number, so the few duplicates of an
        interrupted window can be removed exactly.

        Returns the load's account: ``files``, ``files_skipped``, ``rows_acknowledged``,
        ``rows_skipped``, ``rows_resent`` (the bound of duplicates), ``summary`` (one
        line), …. Ctrl-C stops reading, settles what is in flight, journals it and raises
        KeyboardInterrupt.
        """
        if isinstance(inputs, (str, os.PathLike)):
            inputs = [inputs]
        return self._native.copy_into_sync(
            [os.fspath(i) for i in inputs],
            file_format,
            force,
            None if journal_dir is None else os.fspath(journal_dir),
            source_file_column,
            source_row_column,
        )

    def debug_files(self) -> list:
        """Paths of the debug files written so far."""
        return self._native.debug_files()

    def __enter__(self) -> "ZerobusWrapper":
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self._native.shutdown_sync()

    async def __aenter__(self) -> "ZerobusWrapper":
        return self

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        await self.shutdown()

    def __repr__(self) -> str:
        return repr(self._native)


def fold_sql(query: str, catalogs: Iterable[str] = ("zerobus",)) -> str:
    """Rewrite ``zerobus.catalog.schema.table`` (4 parts, for each catalog name in
    ``catalogs``) into ``zerobus."catalog.schema".table``, the spelling DataFusion resolves.
    Other text is returned unchanged."""
    return _native.fold_sql(query, list(catalogs))


# The connections `register` gave each session's Zerobus catalogs, by catalog name: what
# `sql` needs to write an INSERT exactly.
_REGISTERED: "weakref.WeakKeyDictionary[Any, Dict[str, Tuple[str, Dict[str, Any]]]]" = (
    weakref.WeakKeyDictionary()
)


def sql(ctx: Any, query: str, catalogs: Iterable[str] = ("zerobus",)) -> Any:
    """``ctx.sql(query)`` on a datafusion-python ``SessionContext`` with 4-part Zerobus
    names folded (see :func:`fold_sql`); returns its DataFrame (call ``.collect()``).

    An ``INSERT INTO`` a catalog made by :func:`register` is written exactly, as in Rust
    sessions: DataFusion would cast each query column to the table's type (rounding
    decimals, truncating fractions and nanoseconds); here the query keeps its own types
    and each value is converted exactly or refused with a ``ConversionError`` naming the
    table, column, row and value."""
    catalogs = list(catalogs)
    folded = fold_sql(query, catalogs)
    insert = _native.insert_parts(folded, catalogs)
    if insert is None:
        return ctx.sql(folded)
    catalog, table, columns, source = insert
    try:
        registered = _REGISTERED.get(ctx, {})
    except TypeError:
        registered = {}
    connection = registered.get(catalog.lower())
    if connection is None:
        return ctx.sql(folded)
    endpoint, options = connection
    target = _native.InsertTarget(endpoint, table, columns, ctx.sql(source).schema(), **options)
    name = f"zerobus_insert_{uuid.uuid4().hex}"
    ctx.register_table(name, target)
    try:
        # The DataFrame holds the target; it stays valid after the name is dropped.
        return ctx.sql(f'INSERT INTO "{name}" {source}')
    finally:
        ctx.deregister_table(name)


def register(
    ctx: Any,
    endpoint: str,
    *,
    name: str = "zerobus",
    client_id: Optional[str] = None,
    client_secret: Optional[str] = None,
    unity_catalog_url: Optional[str] = None,
    retry_max_attempts: int = 5,
    retry_base_delay_ms: int = 100,
    retry_max_delay_ms: int = 30000,
    dead_letter_dir: Optional[PathLike] = None,
    allow_plaintext: bool = False,
    **more: Any,
) -> None:
    """Register a :class:`ZerobusCatalog` as ``name`` and the ``STORED AS ZEROBUS`` table
    factory on a datafusion-python ``SessionContext``. Any other keyword of
    :class:`ZerobusWrapper` (``max_streams``, ``debug_enabled``, ``ack_timeout_ms``, …)
    is passed on too."""
    options: Dict[str, Any] = dict(
        more,
        client_id=client_id,
        client_secret=client_secret,
        unity_catalog_url=unity_catalog_url,
        retry_max_attempts=retry_max_attempts,
        retry_base_delay_ms=retry_base_delay_ms,
        retry_max_delay_ms=retry_max_delay_ms,
        dead_letter_dir=None if dead_letter_dir is None else os.fspath(dead_letter_dir),
        allow_plaintext=allow_plaintext,
    )
    ctx.register_catalog_provider(name, ZerobusCatalog(endpoint, **options))
    try:
        _REGISTERED.setdefault(ctx, {})[name.lower()] = (endpoint, options)
    except TypeError:  # a session that takes no weak reference: plain ctx.sql semantics
        pass
    ctx.register_table_factory("ZEROBUS", ZerobusTableFactory(endpoint, **options))
