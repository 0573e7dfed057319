"""The Python package against its own in-process emulator: the contract's usage example,
every Arrow input kind, large tables, concurrency, and every exception class raised by a
real cause. Rows are read back from Delta with the `deltalake` package."""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc
import pytest
from deltalake import DeltaTable

import arrow_zerobus_sdk_wrapper as zb
from arrow_zerobus_sdk_wrapper import ZerobusWrapper, emulator

COLUMNS = "id BIGINT NOT NULL, name STRING"


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    with emulator.start(tmp_path_factory.mktemp("warehouse")) as e:
        yield e


_tables = iter(range(10_000))


@pytest.fixture
def table(emu):
    """A new empty table per test: main.default.t<n> (id BIGINT NOT NULL, name STRING)."""
    name = f"main.default.t{next(_tables)}"
    emu.create_table(name, COLUMNS)
    return name


def landed_ids(emu, table: str) -> list:
    data = DeltaTable(emu.table_location(table)).to_pyarrow_table(columns=["id"])
    return sorted(data.column("id").to_pylist())


def ids_batch(start: int, stop: int) -> pa.RecordBatch:
    ids = list(range(start, stop))
    return pa.RecordBatch.from_pydict(
        {"id": pa.array(ids, pa.int64()), "name": [f"n{i}" for i in ids]}
    )


def test_the_contracts_usage_example_lands_its_rows(emu, table, tmp_path, capsys):
    # The contract's example, verbatim apart from the connection and the table name.
    async def main():
        # Initialize wrapper
        wrapper = ZerobusWrapper(
            endpoint=emu.endpoint,
            table_name=table,
            client_id=emu.client_id,
            client_secret=emu.client_secret,
            unity_catalog_url=emu.unity_catalog_url,
            debug_enabled=True,
            debug_output_dir=str(tmp_path / "debug_output"),
        )

        # Create Arrow RecordBatch (example)
        schema = pa.schema([
            pa.field("id", pa.int64()),
            pa.field("name", pa.string()),
        ])
        arrays = [
            pa.array([1, 2, 3], type=pa.int64()),
            pa.array(["a", "b", "c"], type=pa.string()),
        ]
        batch = pa.RecordBatch.from_arrays(arrays, schema=schema)

        # Send batch
        result = await wrapper.send_batch(batch)

        if result.success:
            print(f"Batch sent successfully in {result.latency_ms}ms")
        else:
            print(f"Transmission failed: {result.error}")

        # Shutdown
        await wrapper.shutdown()

    def create_record_batch():
        return pa.RecordBatch.from_pydict({"id": [4, 5], "name": ["d", "e"]})

    # Using async context manager
    async def main_with_context():
        async with ZerobusWrapper(
            endpoint=emu.endpoint,
            table_name=table,
            client_id=emu.client_id,
            client_secret=emu.client_secret,
            unity_catalog_url=emu.unity_catalog_url,
        ) as wrapper:
            batch = create_record_batch()
            result = await wrapper.send_batch(batch)
            print(f"Result: {result.success}")

    asyncio.run(main())
    asyncio.run(main_with_context())
    out = capsys.readouterr().out
    assert "Batch sent successfully in" in out and "Result: True" in out, out
    assert landed_ids(emu, table) == [1, 2, 3, 4, 5]
    rows = DeltaTable(emu.table_location(table)).to_pyarrow_table().sort_by("id")
    assert rows.column("name").to_pylist() == ["a", "b", "c", "d", "e"]
    # The debug files hold the batch as Arrow IPC.
    ipc = sorted((tmp_path / "debug_output").rglob("*.arrow*"))
    assert ipc, list((tmp_path / "debug_output").rglob("*"))
    with pa.ipc.open_stream(ipc[0]) as reader:
        debug_rows = reader.read_all()
    assert debug_rows.column("id").to_pylist() == [1, 2, 3]


def test_transmission_result_has_the_contract_fields(emu, table):
    with emu.wrapper(table) as w:
        r = w.send_batch_sync(ids_batch(0, 10))
    assert isinstance(r, zb.TransmissionResult)
    assert r.success is True and r.error is None
    assert r.attempts == 1 and r.rows == 10
    assert r.latency_ms is not None and r.latency_ms >= 0
    assert r.batch_size_bytes > 10 * 4


def test_every_arrow_input_kind_is_accepted(emu, table):
    import duckdb
    import nanoarrow
    import polars as pl

    table_chunks = pa.Table.from_batches([ids_batch(100, 150), ids_batch(150, 200)])
    inputs = {
        "pyarrow RecordBatch": ids_batch(0, 100),
        "pyarrow Table of 2 chunks": table_chunks,
        "pyarrow RecordBatchReader": pa.RecordBatchReader.from_batches(
            ids_batch(200, 201).schema, [ids_batch(200, 250), ids_batch(250, 300)]
        ),
        "polars DataFrame": pl.DataFrame(
            {"id": list(range(300, 400)), "name": [f"n{i}" for i in range(300, 400)]}
        ),
        "nanoarrow stream": nanoarrow.c_array_stream(
            pa.Table.from_batches([ids_batch(400, 500)])
        ),
        "DuckDB result": duckdb.sql(
            "SELECT CAST(i AS BIGINT) AS id, 'n' || i AS name FROM range(500, 600) t(i)"
        ),
    }
    with emu.wrapper(table) as w:
        for kind, data in inputs.items():
            r = w.send_batch_sync(data)
            assert r.success and r.rows in (50 * 2, 100), (kind, r)
    assert landed_ids(emu, table) == list(range(600))


def test_a_non_arrow_input_is_a_type_error(emu, table):
    with emu.wrapper(table) as w:
        with pytest.raises(TypeError, match="__arrow_c_stream__"):
            w.send_batch_sync([1, 2, 3])


@pytest.mark.parametrize("kind", ["pyarrow", "polars"])
def test_a_million_row_table(emu, table, kind):
    n = 1_000_000
    ids = pa.array(range(n), pa.int64())
    data = pa.table({"id": ids, "name": pa.array([None] * n, pa.string())})
    if kind == "polars":
        import polars as pl

        data = pl.from_arrow(data)
    with emu.wrapper(table) as w:
        r = w.send_batch_sync(data)
    assert r.success and r.rows == n
    got = landed_ids(emu, table)
    assert len(got) == n and got[0] == 0 and got[-1] == n - 1
    assert len(set(got)) == n


@pytest.mark.parametrize("compression", ["lz4", "zstd", "none"])
def test_transport_flight_lands_a_table_and_refuses_like_proto(emu, table, compression):
    n = 200_000
    data = pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "name": pa.array([None if i % 9 == 0 else f"n{i}" for i in range(n)], pa.string()),
        }
    )
    with emu.wrapper(table, transport="flight", flight_compression=compression) as w:
        r = w.send_batch_sync(data)
        assert r.success and r.rows == n
        bad = pa.RecordBatch.from_pydict({"id": pa.array([1, None], pa.int64()), "name": ["a", "b"]})
        with pytest.raises(zb.ConversionError, match="column 'id' is NOT NULL in the table but row 1 is null"):
            w.send_batch_sync(bad)
    got = DeltaTable(emu.table_location(table)).to_pyarrow_table().sort_by("id")
    assert got.column("id").to_pylist() == list(range(n))
    assert got.column("name").to_pylist() == data.column("name").to_pylist()


def test_an_unknown_transport_is_a_configuration_error(emu, table):
    with pytest.raises(zb.ConfigurationError, match="transport 'pigeon' is not proto or flight"):
        emu.wrapper(table, transport="pigeon")


def test_100_tasks_and_8_threads_at_once(emu, table):
    w = emu.wrapper(table)

    async def tasks():
        results = await asyncio.gather(
            *(w.send_batch(ids_batch(i * 100, i * 100 + 100)) for i in range(100))
        )
        return results

    def thread(k: int):
        for j in range(5):
            base = 100_000 + k * 1_000 + j * 100
            w.send_batch_sync(ids_batch(base, base + 100))

    threads = [threading.Thread(target=thread, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    results = asyncio.run(tasks())
    for t in threads:
        t.join()
    w.shutdown_sync()
    assert all(r.success for r in results)
    expected = list(range(10_000)) + [
        100_000 + k * 1_000 + j * 100 + i for k in range(8) for j in range(5) for i in range(100)
    ]
    assert landed_ids(emu, table) == sorted(expected)


def test_exit_of_a_with_block_sends_everything(emu, table):
    with emu.wrapper(table) as w:
        for i in range(20):
            w.send_batch_sync(ids_batch(i * 10, i * 10 + 10))
    assert landed_ids(emu, table) == list(range(200))


def test_configuration_error_names_the_field(emu):
    with pytest.raises(zb.ConfigurationError, match="table_name"):
        ZerobusWrapper(emu.endpoint, "my_table", **emu.connection())
    with pytest.raises(zb.ZerobusError):
        ZerobusWrapper("not a url", "main.default.t", **emu.connection())


def test_conversion_error_names_the_column_and_sends_nothing(emu, table):
    with emu.wrapper(table) as w:
        bad = pa.RecordBatch.from_pydict({"id": ["x"], "name": ["a"]})
        with pytest.raises(zb.ConversionError, match="'id'") as e:
            w.send_batch_sync(bad)
        assert table in str(e.value)
        nulls = pa.RecordBatch.from_pydict(
            {"id": pa.array([1, None], pa.int64()), "name": ["a", "b"]}
        )
        with pytest.raises(zb.ConversionError, match="id"):
            w.send_batch_sync(nulls)
        w.send_batch_sync(ids_batch(7, 8))
    assert landed_ids(emu, table) == [7]


def test_authentication_error_does_not_show_the_secret(emu, table):
    secret = "wrong-s3cret-value"
    w = ZerobusWrapper(
        emu.endpoint,
        table,
        client_id=emu.client_id,
        client_secret=secret,
        unity_catalog_url=emu.unity_catalog_url,
    )
    with pytest.raises(zb.AuthenticationError) as e:
        w.send_batch_sync(ids_batch(0, 1))
    assert secret not in str(e.value) and secret not in repr(w)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_error_for_an_unreachable_workspace(emu, table):
    w = ZerobusWrapper(
        emu.endpoint,
        table,
        client_id=emu.client_id,
        client_secret=emu.client_secret,
        unity_catalog_url=f"http://127.0.0.1:{free_port()}",
    )
    with pytest.raises(zb.ConnectionError, match="127.0.0.1") as e:
        w.send_batch_sync(ids_batch(0, 1))
    # Retried, then the batch went to a dead-letter file that the message names.
    assert "after 5 attempts" in str(e.value) and "1 rows were written to" in str(e.value)


def test_token_refresh_error_when_the_token_endpoint_fails(emu, table):
    class Failing(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(500)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        w = ZerobusWrapper(
            emu.endpoint,
            table,
            client_id=emu.client_id,
            client_secret=emu.client_secret,
            unity_catalog_url=f"http://127.0.0.1:{server.server_port}",
        )
        with pytest.raises(zb.TokenRefreshError, match="500"):
            w.send_batch_sync(ids_batch(0, 1))
    finally:
        server.shutdown()


def test_transmission_error_after_shutdown(emu, table):
    w = emu.wrapper(table)
    w.send_batch_sync(ids_batch(0, 1))
    w.shutdown_sync()
    with pytest.raises(zb.TransmissionError, match="shut down"):
        w.send_batch_sync(ids_batch(1, 2))


def test_retry_exhausted_leaves_a_dead_letter_file_that_replays(tmp_path):
    warehouse = tmp_path / "wh"
    first = emulator.start(warehouse)
    name = "main.default.dl"
    first.create_table(name, COLUMNS)
    grpc_port = int(first.endpoint.rsplit(":", 1)[1])
    http_port = int(first.unity_catalog_url.rsplit(":", 1)[1])
    w = first.wrapper(
        name,
        dead_letter_dir=tmp_path / "dead",
        retry_max_attempts=2,
        retry_base_delay_ms=10,
        retry_max_delay_ms=50,
    )
    w.send_batch_sync(ids_batch(0, 10))
    first.stop()
    with pytest.raises(zb.RetryExhausted) as e:
        w.send_batch_sync(ids_batch(10, 30))
    err = e.value
    assert err.rows == 20 and err.attempts == 2 and err.dead_letter, vars(err)
    assert err.dead_letters == [err.dead_letter], vars(err)
    assert err.rows_acknowledged == 0 and err.rows_dead_lettered == 20 and err.input_complete
    with pa.ipc.open_file(err.dead_letter) as f:
        assert f.read_all().column("id").to_pylist() == list(range(10, 30))
    # A table of three batches: every batch's dead-letter file is named, in one error.
    table3 = pa.Table.from_batches([ids_batch(30 + 20 * k, 50 + 20 * k) for k in range(3)])
    with pytest.raises(zb.RetryExhausted) as e:
        w.send_batch_sync(table3)
    many = e.value
    assert len(many.dead_letters) == 3 and many.rows_dead_lettered == 60, vars(many)
    assert many.rows_read == 60 and many.rows_acknowledged == 0
    for path in many.dead_letters:
        assert path in str(many)
    # The service is back on the same warehouse and ports: the whole directory replays.
    with emulator.start(warehouse, grpc_port=grpc_port, http_port=http_port) as again:
        replayer = again.wrapper(name)
        assert replayer.replay_dead_letters(tmp_path / "dead") == 80
        replayer.shutdown_sync()
        assert landed_ids(again, name) == list(range(90))


def test_errors_form_the_contract_hierarchy():
    for cls in (
        zb.ConfigurationError,
        zb.AuthenticationError,
        zb.ConnectionError,
        zb.ConversionError,
        zb.TransmissionError,
        zb.RetryExhausted,
        zb.TokenRefreshError,
    ):
        assert issubclass(cls, zb.ZerobusError) and issubclass(cls, Exception)


def credentials(emu) -> dict:
    """The emulator's client id, secret and UC URL, as ZerobusWrapper keywords."""
    return dict(client_id=emu.client_id, client_secret=emu.client_secret, unity_catalog_url=emu.unity_catalog_url)


class _OtlpCollector(http.server.BaseHTTPRequestHandler):
    """OTLP/HTTP receiver: keeps (path, headers, body) of every export."""

    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        _OtlpCollector.received.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_observability_config_exports_metrics_and_spans_over_otlp_http(emu, table):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OtlpCollector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with ZerobusWrapper(
            emu.endpoint,
            table,
            **credentials(emu),
            observability_enabled=True,
            observability_config={
                "endpoint": f"http://127.0.0.1:{server.server_address[1]}",
                "protocol": "http/protobuf",
                "headers": {"x-team-key": "py-k3y"},
                "service_name": "py-loader",
                "export_interval_ms": 600000,
            },
        ) as w:
            assert w.send_batch_sync(ids_batch(0, 1234)).rows == 1234
        # Exiting the block flushed the exports.
        paths = {p for p, _, _ in _OtlpCollector.received}
        assert {"/v1/traces", "/v1/metrics"} <= paths, paths
        assert all(h.get("x-team-key") == "py-k3y" for _, h, _ in _OtlpCollector.received)
        metrics = b"".join(b for p, _, b in _OtlpCollector.received if p == "/v1/metrics")
        traces = b"".join(b for p, _, b in _OtlpCollector.received if p == "/v1/traces")
        for name in (b"zerobus.rows.sent", b"zerobus.rows.acknowledged", b"zerobus.send.duration"):
            assert name in metrics, name
        for name in (b"zerobus.send_batch", b"zerobus.encode", b"zerobus.ingest", b"zerobus.flush"):
            assert name in traces, name
        assert table.encode() in metrics and b"py-loader" in traces
        assert landed_ids(emu, table) == list(range(1234))
    finally:
        server.shutdown()


def test_bad_observability_config_is_a_configuration_error(emu, table):
    with pytest.raises(zb.ConfigurationError, match=r"observability_config\['protocol'\]"):
        ZerobusWrapper(
            emu.endpoint,
            table,
            **credentials(emu),
            observability_enabled=True,
            observability_config={"protocol": "smoke-signals"},
        )


def test_ack_timeout_ms_reaches_the_stream_and_is_validated(emu, table):
    conn = credentials(emu)
    with pytest.raises(zb.ConfigurationError, match="ack_timeout_ms"):
        ZerobusWrapper(emu.endpoint, table, ack_timeout_ms=0, **conn)
    with ZerobusWrapper(emu.endpoint, table, ack_timeout_ms=5000, **conn) as w:
        assert w.send_batch_sync(ids_batch(0, 10)).rows == 10
    assert landed_ids(emu, table) == list(range(10))


def test_max_inflight_bytes_is_validated_and_a_send_over_it_goes_alone(emu, table):
    conn = credentials(emu)
    with pytest.raises(zb.ConfigurationError, match="max_inflight_bytes: 1000 is below"):
        ZerobusWrapper(emu.endpoint, table, max_inflight_bytes=1000, **conn)
    with pytest.raises(TypeError, match="max_inflight_bytes"):
        ZerobusWrapper(emu.endpoint, table, max_inflight_bytes="lots", **conn)
    # The smallest budget, 64 KiB, under a table of batches of about 180 KiB each: every
    # send is larger than the whole budget and goes alone; nothing is lost or refused.
    data = pa.Table.from_batches([ids_batch(k * 10_000, (k + 1) * 10_000) for k in range(5)])
    with ZerobusWrapper(emu.endpoint, table, max_inflight_bytes=65_536, **conn) as w:
        assert w.send_batch_sync(data).rows == 50_000
    assert landed_ids(emu, table) == list(range(50_000))


def test_ctrl_c_stops_a_blocking_send_with_the_account(emu, table, tmp_path):
    """KeyboardInterrupt during send_batch_sync of a long table: reading stops, the batches
    in flight settle, and the KeyboardInterrupt carries the load's account as __cause__;
    what it says was acknowledged is exactly what landed."""
    import _thread

    w = emu.wrapper(table, dead_letter_dir=tmp_path / "dead")
    big = pa.Table.from_batches([ids_batch(k * 2_000, (k + 1) * 2_000) for k in range(1_000)])
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as e:
            w.send_batch_sync(big)
    finally:
        timer.cancel()
    cause = e.value.__cause__
    assert isinstance(cause, zb.TransmissionError), repr(cause)
    assert "interrupted" in str(cause) and cause.input_complete is False
    assert 0 < cause.rows_read < 2_000_000
    assert cause.rows_acknowledged + cause.rows_dead_lettered == cause.rows_read
    w.shutdown_sync()
    assert len(landed_ids(emu, table)) == cause.rows_acknowledged


def test_lanes_under_a_stream_quota_and_the_emulator_stats(tmp_path):
    # Each stream is held to 5,000 records/s, as the service holds it to its quota.
    with emulator.start(tmp_path / "wh", stream_max_records_per_sec=5_000) as quota_emu:
        quota_emu.create_table("main.default.lanes", COLUMNS)
        n = 60_000
        data = pa.table({"id": pa.array(range(n), pa.int64()), "name": [f"n{i}" for i in range(n)]})
        with quota_emu.wrapper("main.default.lanes", max_streams=1) as w:
            one = w.send_batch_sync(data.slice(0, 10_000))
        # 10,000 rows on one stream at 5,000/s: at least 2 s, whatever the machine.
        assert one.rows == 10_000 and one.latency_ms >= 2_000
        assert quota_emu.stats()["tables"]["main.default.lanes"]["streams_opened"] == 1
        with quota_emu.wrapper("main.default.lanes", max_streams=6) as w:
            many = w.send_batch_sync(data.slice(10_000))
        assert many.rows == 50_000
        stats = quota_emu.stats()["tables"]["main.default.lanes"]
        # One large table, sent as parts over the lanes: more streams than the first load.
        assert stats["streams_opened"] >= 3, stats
        assert stats["streams_open"] == 0, stats
        assert stats["records_acknowledged"] == n
        assert stats["seconds_paced"] > 0
        assert landed_ids(quota_emu, "main.default.lanes") == list(range(n))
        with pytest.raises(zb.ConfigurationError, match="max_streams"):
            quota_emu.wrapper("main.default.lanes", max_streams=0)


def test_every_default_in_the_python_signatures_is_the_rust_default():
    """Defaults are written once, in the Rust configuration builder; the Python signatures
    (the contract shows them) and the type stubs must repeat exactly those values."""
    import ast
    import pathlib

    from arrow_zerobus_sdk_wrapper import _native

    defaults = _native.DEFAULTS
    assert defaults["retry_max_attempts"] == 5 and defaults["max_streams"] == 16
    package = pathlib.Path(_native.__file__).parent
    checked = 0
    for source in ["__init__.py", "_native.pyi"]:
        tree = ast.parse((package / source).read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            args = fn.args.kwonlyargs
            for arg, default in zip(args, fn.args.kw_defaults):
                if arg.arg in defaults and isinstance(default, ast.Constant):
                    assert default.value == defaults[arg.arg], (
                        f"{source} {fn.name}({arg.arg}={default.value!r}): "
                        f"the Rust default is {defaults[arg.arg]!r}"
                    )
                    checked += 1
    # ZerobusWrapper and register in __init__.py, four signatures in the stubs.
    assert checked >= 30, checked


def test_readers_backed_by_python_generators_are_pulled_off_the_runtime(emu, table):
    """A RecordBatchReader over a slow Python generator is pulled on a blocking thread,
    not on the runtime's workers: four such sends at once (more than the workers of a
    2-core machine), each sleeping between batches, all land every row."""
    import asyncio
    import time

    def slow(start: int):
        for k in range(5):
            time.sleep(0.05)
            yield ids_batch(start + 100 * k, start + 100 * (k + 1))

    def reader(start: int):
        return pa.RecordBatchReader.from_batches(ids_batch(0, 1).schema, slow(start))

    async def main():
        with emu.wrapper(table) as w:
            results = await asyncio.gather(*(w.send_batch(reader(1_000 * t)) for t in range(4)))
        return results

    results = asyncio.run(main())
    assert [r.rows for r in results] == [500] * 4
    want = sorted(i for t in range(4) for i in range(1_000 * t, 1_000 * t + 500))
    assert landed_ids(emu, table) == want


def test_copy_into_is_journaled_skips_what_landed_and_fills_lineage_columns(emu, tmp_path):
    import pyarrow.parquet as pq

    table = f"main.default.t{next(_tables)}"
    emu.create_table(table, COLUMNS + ", src_file STRING, src_row BIGINT")
    inputs = tmp_path / "in"
    inputs.mkdir()
    for n, (start, stop) in enumerate([(0, 3000), (3000, 5000)]):
        pq.write_table(pa.Table.from_batches([ids_batch(start, stop)]), inputs / f"part-{n}.parquet")
    journal = tmp_path / "journal"
    with emu.wrapper(table) as w:
        first = w.copy_into(
            str(inputs / "*.parquet"),
            journal_dir=journal,
            source_file_column="src_file",
            source_row_column="src_row",
        )
        again = w.copy_into(inputs, journal_dir=journal)
    assert (first["files"], first["rows_acknowledged"], first["rows_resent"]) == (2, 5000, 0)
    assert again["rows_sent"] == 0 and again["files_skipped"] == 2
    assert again["summary"] == f"2 of 2 files already loaded into {table} (force to load again)"
    data = DeltaTable(emu.table_location(table)).to_pyarrow_table().sort_by("id")
    assert data.column("id").to_pylist() == list(range(5000))
    # Each row names its file and its row number in it.
    assert data.column("src_row").to_pylist() == list(range(3000)) + list(range(2000))
    files = data.column("src_file").to_pylist()
    assert files[0].endswith("/in/part-0.parquet") and files[-1].endswith("/in/part-1.parquet")
    assert files[0].startswith("file://")


def test_copy_into_refuses_a_changed_file_until_forced(emu, table, tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "one.parquet"
    pq.write_table(pa.Table.from_batches([ids_batch(0, 100)]), path)
    journal = tmp_path / "journal"
    with emu.wrapper(table) as w:
        w.copy_into(path, journal_dir=journal)
        pq.write_table(pa.Table.from_batches([ids_batch(0, 150)]), path)
        with pytest.raises(zb.ConfigurationError, match="changed since a load journaled it"):
            w.copy_into(path, journal_dir=journal)
        forced = w.copy_into(path, journal_dir=journal, force=True)
    assert forced["rows_acknowledged"] == 150
    assert len(landed_ids(emu, table)) == 250
