"""Zerobus tables in datafusion-python 55 sessions, across datafusion-ffi: INSERT from a
multi-partition source (every partition's rows must land), the 4-part-name helper,
CREATE EXTERNAL TABLE … STORED AS ZEROBUS, a single registered table, and errors."""

from __future__ import annotations

import pyarrow as pa
import pytest
from datafusion import SessionContext
from deltalake import DeltaTable

import arrow_zerobus_sdk_wrapper as zb
from arrow_zerobus_sdk_wrapper import emulator

COLUMNS = (
    "id BIGINT NOT NULL, name STRING, score DOUBLE, tags ARRAY<STRING>, "
    "s STRUCT<a: INT, b: STRING>, ts TIMESTAMP, amount DECIMAL(10,2)"
)
SELECT = (
    "SELECT n AS id, CASE WHEN n % 7 = 0 THEN NULL ELSE concat('név-', CAST(n AS VARCHAR)) END AS name, "
    "CAST(n AS DOUBLE) / 4 AS score, make_array(concat('t', CAST(n AS VARCHAR))) AS tags, "
    "named_struct('a', CAST(n % 1000 AS INT), 'b', CAST(n AS VARCHAR)) AS s, "
    "arrow_cast(to_timestamp_micros(1700000000000000 + n), 'Timestamp(Microsecond, Some(\"UTC\"))') AS ts, "
    "CAST(CAST(n AS DOUBLE) / 100 AS DECIMAL(10,2)) AS amount FROM src"
)


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    with emulator.start(tmp_path_factory.mktemp("warehouse")) as e:
        yield e


def session(emu, partitions: int, rows_per_partition: int, offset: int = 0) -> SessionContext:
    ctx = SessionContext()
    zb.register(ctx, emu.endpoint, **emu.connection())
    parts = [
        [pa.RecordBatch.from_pydict({"n": pa.array(range(offset + p * rows_per_partition, offset + (p + 1) * rows_per_partition), pa.int64())})]
        for p in range(partitions)
    ]
    ctx.register_record_batches("src", parts)
    return ctx


def count(df) -> int:
    return df.collect()[0].column(0)[0].as_py()


def landed(emu, table: str) -> pa.Table:
    return DeltaTable(emu.table_location(table)).to_pyarrow_table().sort_by("id")


def test_insert_from_four_partitions_lands_every_row_and_value(emu):
    emu.create_table("main.default.df_insert", COLUMNS)
    ctx = session(emu, partitions=4, rows_per_partition=5_000)
    n = count(zb.sql(ctx, f"INSERT INTO zerobus.main.default.df_insert {SELECT}"))
    assert n == 20_000, "the count covers all four partitions"
    got = landed(emu, "main.default.df_insert")
    assert got.column("id").to_pylist() == list(range(20_000)), "every partition's rows landed once"
    want = ctx.sql(f"{SELECT} ORDER BY id").to_arrow_table()
    for column in ["name", "score", "tags", "s", "amount"]:
        assert got.column(column).to_pylist() == want.column(column).to_pylist(), column
    assert got.column("ts").cast(pa.int64()).to_pylist() == want.column("ts").cast(pa.int64()).to_pylist()


def test_three_part_spelling_and_the_fold_helper(emu):
    emu.create_table("main.default.df_three", "id BIGINT NOT NULL")
    ctx = session(emu, partitions=2, rows_per_partition=10)
    assert count(ctx.sql('INSERT INTO zerobus."main.default".df_three SELECT n AS id FROM src')) == 20
    assert zb.fold_sql("INSERT INTO zerobus.main.default.df_three SELECT 1") == (
        'INSERT INTO zerobus."main.default".df_three SELECT 1'
    )
    assert zb.fold_sql("SELECT 1") == "SELECT 1", "other SQL passes through unchanged"
    assert sorted(landed(emu, "main.default.df_three").column("id").to_pylist()) == list(range(20))


def test_create_external_table_stored_as_zerobus(emu):
    emu.create_table("main.default.df_ext", "id BIGINT NOT NULL, label STRING")
    ctx = session(emu, partitions=3, rows_per_partition=100)
    ctx.sql("CREATE EXTERNAL TABLE ext STORED AS ZEROBUS LOCATION 'main.default.df_ext'").collect()
    assert count(ctx.sql("INSERT INTO ext SELECT n AS id, 'x' AS label FROM src")) == 300
    # A column list in the DDL is used instead of a Unity Catalog look-up.
    ctx.sql(
        "CREATE EXTERNAL TABLE ext2 (id BIGINT NOT NULL, label VARCHAR) STORED AS ZEROBUS "
        "LOCATION 'main.default.df_ext'"
    ).collect()
    assert count(ctx.sql("INSERT INTO ext2 SELECT n + 1000 AS id, 'y' AS label FROM src")) == 300
    ids = landed(emu, "main.default.df_ext").column("id").to_pylist()
    assert ids == list(range(300)) + list(range(1000, 1300))


def test_options_of_zerobus_tables(emu):
    emu.create_table("main.default.df_opts", "id BIGINT NOT NULL")
    ctx = session(emu, partitions=2, rows_per_partition=50)
    ctx.sql(
        "CREATE EXTERNAL TABLE tuned STORED AS ZEROBUS LOCATION 'main.default.df_opts' "
        "OPTIONS ('retry_max_attempts' '3', 'ack_timeout_ms' '20000', 'max_streams' '2')"
    ).collect()
    assert count(ctx.sql("INSERT INTO tuned SELECT n AS id FROM src")) == 100
    with pytest.raises(Exception, match="unknown Zerobus option 'retries'"):
        ctx.sql(
            "CREATE EXTERNAL TABLE bad STORED AS ZEROBUS LOCATION 'main.default.df_opts' "
            "OPTIONS ('retries' '3')"
        ).collect()
    with pytest.raises(Exception, match="give client_id and client_secret"):
        ctx.sql(
            "CREATE EXTERNAL TABLE away STORED AS ZEROBUS LOCATION 'main.default.df_opts' "
            "OPTIONS ('unity_catalog_url' 'http://127.0.0.1:9')"
        ).collect()
    assert landed(emu, "main.default.df_opts").column("id").to_pylist() == list(range(100))


def test_catalog_keywords_are_the_wrappers_and_are_checked_alike(emu, tmp_path):
    """register() and the catalog classes take every keyword of ZerobusWrapper, read by
    the one options parser of the Rust core: debug files appear where debug_output_dir
    says; a wrong type or an unknown keyword is a TypeError naming it."""
    emu.create_table("main.default.df_kw", "id BIGINT NOT NULL")
    ctx = SessionContext()
    zb.register(
        ctx,
        emu.endpoint,
        **emu.connection(),
        max_streams=2,
        debug_enabled=True,
        debug_output_dir=tmp_path / "debug",
    )
    ctx.register_record_batches("src", [[pa.RecordBatch.from_pydict({"n": pa.array(range(300), pa.int64())})]])
    assert count(zb.sql(ctx, "INSERT INTO zerobus.main.default.df_kw SELECT n AS id FROM src")) == 300
    assert landed(emu, "main.default.df_kw").column("id").to_pylist() == list(range(300))
    written = sorted(p.suffix for p in (tmp_path / "debug").iterdir())
    assert ".arrows" in written and ".pb" in written, written
    with pytest.raises(TypeError, match="max_streams must be an int, not str"):
        zb.ZerobusCatalog(emu.endpoint, **emu.connection(), max_streams="2")
    with pytest.raises(TypeError, match="debug_enabled must be a bool"):
        zb.ZerobusCatalog(emu.endpoint, **emu.connection(), debug_enabled=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'retries'.*max_streams"):
        zb.ZerobusTableFactory(emu.endpoint, **emu.connection(), retries=3)
    with pytest.raises(zb.ConfigurationError, match="max_streams: 0 is not between 1 and 256"):
        zb.ZerobusTable(emu.endpoint, "main.default.df_kw", **emu.connection(), max_streams=0)


def test_a_single_registered_table(emu):
    emu.create_table("main.default.df_single", "id BIGINT NOT NULL")
    ctx = session(emu, partitions=4, rows_per_partition=250)
    ctx.register_table(
        "events", zb.ZerobusTable(emu.endpoint, "main.default.df_single", **emu.connection())
    )
    assert count(ctx.sql("INSERT INTO events SELECT n AS id FROM src")) == 1000
    assert landed(emu, "main.default.df_single").column("id").to_pylist() == list(range(1000))


def test_errors_reach_python_with_names(emu):
    emu.create_table("main.default.df_err", "id BIGINT NOT NULL")
    ctx = session(emu, partitions=1, rows_per_partition=5)
    with pytest.raises(Exception, match="df_missing"):
        zb.sql(ctx, "INSERT INTO zerobus.main.default.df_missing SELECT n AS id FROM src").collect()
    with pytest.raises(Exception, match="write-only"):
        zb.sql(ctx, "SELECT * FROM zerobus.main.default.df_err").collect()
    with pytest.raises(Exception, match="only appends"):
        zb.sql(ctx, "INSERT OVERWRITE zerobus.main.default.df_err SELECT n AS id FROM src").collect()
    with pytest.raises(ValueError, match="INSERT INTO zerobus.main.default.df_err"):
        zb.fold_sql("COPY (SELECT 1 AS id) TO 'zerobus://main.default.df_err'")
    assert DeltaTable(emu.table_location("main.default.df_err")).to_pyarrow_table().num_rows == 0


def test_insert_is_exact_in_datafusion_python(emu):
    """datafusion-python would cast each query column to the table's type (rounding
    1.239 to 1.24, truncating 2.7 to 2); through zb.sql the query keeps its types and a
    value that would change is refused, naming table, column, row and value."""
    emu.create_table("main.default.df_exact", "id BIGINT NOT NULL, amt DECIMAL(10,2), n INT")
    ctx = session(emu, partitions=1, rows_per_partition=3)
    table = "zerobus.main.default.df_exact"
    # (Errors cross datafusion-ffi as text: the class is datafusion's, the words ours.)
    with pytest.raises(Exception, match=r"conversion error: table 'main.default.df_exact': column 'amt', row \d+: .*1\.239"):
        zb.sql(
            ctx,
            f"INSERT INTO {table} (id, amt) SELECT n, "
            "CASE WHEN n = 2 THEN CAST(1.239 AS DECIMAL(10,3)) ELSE CAST(1.5 AS DECIMAL(10,3)) END FROM src",
        ).collect()
    with pytest.raises(Exception, match=r"column 'n', row 0: .*2\.7"):
        zb.sql(ctx, f"INSERT INTO {table} (id, n) SELECT 1, 2.7").collect()
    with pytest.raises(Exception, match="by position"):
        zb.sql(ctx, f"INSERT INTO {table} SELECT n AS n, 1 AS id, NULL AS amt FROM src")
    assert DeltaTable(emu.table_location("main.default.df_exact")).to_pyarrow_table().num_rows == 0
    assert count(zb.sql(ctx, f"INSERT INTO {table} (id, amt, n) SELECT n AS id, CAST(1.230 AS DECIMAL(10,3)), 2.0 FROM src")) == 3
    got = landed(emu, "main.default.df_exact")
    assert [str(a) for a in got.column("amt").to_pylist()] == ["1.23"] * 3
    assert got.column("n").to_pylist() == [2, 2, 2]
