"""The official Python SDK (PyPI databricks-zerobus-ingest-sdk) against the emulator.

JSON and protobuf records are ingested over plain-text gRPC (an ``http://`` endpoint),
then read back from the Delta table with the ``deltalake`` package.
"""

from __future__ import annotations

import datetime
import json

import pytest
from deltalake import DeltaTable
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from zerobus.sdk.shared import NonRetriableException, RecordType, StreamConfigurationOptions, TableProperties
from zerobus.sdk.sync import ZerobusSdk

from conftest import start_emulator, stop_emulator

JSON_TABLE = "main.default.py_json"
PROTO_TABLE = "main.default.py_proto"
ARROW_TABLE = "main.default.py_arrow"
COLUMNS = "id BIGINT NOT NULL, name STRING, score DOUBLE, tags ARRAY<STRING>, day DATE"
ARROW_COLUMNS = COLUMNS + ", amount DECIMAL(10,2), at TIMESTAMP"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emu = start_emulator(
        tmp_path_factory.mktemp("warehouse"),
        [f"{JSON_TABLE}:{COLUMNS}", f"{PROTO_TABLE}:{COLUMNS}", f"{ARROW_TABLE}:{ARROW_COLUMNS}"],
    )
    yield emu
    stop_emulator(emu)


def expected(i: int) -> dict:
    return {
        "id": i,
        "name": None if i % 10 == 0 else f"naïve-{i}",
        "score": i / 4,
        "tags": [f"t{k}" for k in range(i % 3)],
        "day": 19000 + i % 100,
    }


def read_rows(emu, table: str) -> dict[int, dict]:
    rows = DeltaTable(str(emu.table_path(table))).to_pyarrow_table().to_pylist()
    out = {}
    for r in rows:
        assert r["id"] not in out, f"duplicate id {r['id']}"
        out[r["id"]] = r
    return out


def check(rows: dict[int, dict], n: int) -> None:
    assert sorted(rows) == list(range(n))
    for i in range(n):
        want = expected(i)
        got = rows[i]
        assert got["name"] == want["name"], i
        assert got["score"] == want["score"], i
        assert got["tags"] == want["tags"], i
        assert (got["day"] - datetime.date(1970, 1, 1)).days == want["day"], i


def test_json_records_land_in_delta(emulator):
    sdk = ZerobusSdk(emulator.grpc_url, emulator.http_url)
    options = StreamConfigurationOptions(record_type=RecordType.JSON)
    stream = sdk.create_stream(emulator.client_id, emulator.client_secret, TableProperties(JSON_TABLE), options)
    try:
        stream.ingest_records_offset([json.dumps(expected(i)) for i in range(0, 1500)])
        for i in range(1500, 1600):
            stream.ingest_record_offset(json.dumps(expected(i)))
        stream.flush()
    finally:
        stream.close()
    check(read_rows(emulator, JSON_TABLE), 1600)


def proto_class():
    """A protobuf message class for the table, built at run time (no protoc needed)."""
    fdp = descriptor_pb2.FileDescriptorProto(name="py_proto.proto", syntax="proto2")
    msg = fdp.message_type.add(name="PyRow")
    label_opt = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    for number, (name, ftype, label) in enumerate(
        [
            ("id", descriptor_pb2.FieldDescriptorProto.TYPE_INT64, descriptor_pb2.FieldDescriptorProto.LABEL_REQUIRED),
            ("name", descriptor_pb2.FieldDescriptorProto.TYPE_STRING, label_opt),
            ("score", descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE, label_opt),
            ("tags", descriptor_pb2.FieldDescriptorProto.TYPE_STRING, descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED),
            ("day", descriptor_pb2.FieldDescriptorProto.TYPE_INT32, label_opt),
        ],
        start=1,
    ):
        msg.field.add(name=name, number=number, type=ftype, label=label)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("PyRow"))


def test_proto_records_land_in_delta(emulator):
    PyRow = proto_class()

    def record(i: int):
        e = expected(i)
        m = PyRow(id=e["id"], score=e["score"], tags=e["tags"], day=e["day"])
        if e["name"] is not None:
            m.name = e["name"]
        return m

    sdk = ZerobusSdk(emulator.grpc_url, emulator.http_url)
    stream = sdk.create_stream(emulator.client_id, emulator.client_secret, TableProperties(PROTO_TABLE, PyRow.DESCRIPTOR))
    try:
        stream.ingest_records_offset([record(i) for i in range(0, 1000)])
        for i in range(1000, 1200):
            stream.ingest_record_offset(record(i))
        stream.flush()
    finally:
        stream.close()
    check(read_rows(emulator, PROTO_TABLE), 1200)


def test_wrong_secret_is_non_retriable(emulator):
    sdk = ZerobusSdk(emulator.grpc_url, emulator.http_url)
    options = StreamConfigurationOptions(record_type=RecordType.JSON)
    with pytest.raises(NonRetriableException) as info:
        sdk.create_stream(emulator.client_id, "wrong-secret", TableProperties(JSON_TABLE), options)
    assert "wrong-secret" not in str(info.value)


def test_unknown_table_is_non_retriable(emulator):
    sdk = ZerobusSdk(emulator.grpc_url, emulator.http_url)
    options = StreamConfigurationOptions(record_type=RecordType.JSON)
    with pytest.raises(NonRetriableException) as info:
        sdk.create_stream(emulator.client_id, emulator.client_secret, TableProperties("main.default.missing"), options)
    assert "main.default.missing" in str(info.value)


def arrow_schema():
    """The table's schema as Arrow Flight carries it (the SDK's UC mapping: STRING and
    DECIMAL as large_string, TIMESTAMP as timestamp[us, UTC])."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("name", pa.large_string()),
            pa.field("score", pa.float64()),
            pa.field("tags", pa.list_(pa.large_string())),
            pa.field("day", pa.date32()),
            pa.field("amount", pa.large_string()),
            pa.field("at", pa.timestamp("us", tz="UTC")),
        ]
    )


def arrow_batch(ids: range):
    import pyarrow as pa

    rows = [expected(i) for i in ids]
    return pa.RecordBatch.from_pylist(
        [
            {
                **r,
                "day": datetime.date(1970, 1, 1) + datetime.timedelta(days=r["day"]),
                "amount": f"{r['id'] // 100}.{r['id'] % 100:02d}",
                "at": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
                + datetime.timedelta(microseconds=r["id"]),
            }
            for r in rows
        ],
        schema=arrow_schema(),
    )


def test_arrow_flight_batches_land_in_delta(emulator):
    """create_arrow_stream + ingest_batch (Arrow Flight DoPut) into the emulator: every row
    and value lands, decimals exact, timestamps to the microsecond."""
    sdk = ZerobusSdk(emulator.grpc_url, emulator.http_url)
    stream = sdk.create_arrow_stream(ARROW_TABLE, arrow_schema(), emulator.client_id, emulator.client_secret)
    try:
        for start in range(0, 3000, 500):
            stream.ingest_batch(arrow_batch(range(start, start + 500)))
        stream.flush()
    finally:
        stream.close()
    rows = read_rows(emulator, ARROW_TABLE)
    check(rows, 3000)
    for i in (0, 1, 99, 2999):
        assert str(rows[i]["amount"]) == f"{i // 100}.{i % 100:02d}", rows[i]
        assert rows[i]["at"] == datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(
            microseconds=i
        ), rows[i]


def test_an_arrow_schema_that_does_not_fit_is_refused(emulator):
    import pyarrow as pa

    sdk = ZerobusSdk(emulator.grpc_url, emulator.http_url)
    wrong = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("name", pa.string())])
    with pytest.raises(Exception) as info:
        sdk.create_arrow_stream(ARROW_TABLE, wrong, emulator.client_id, emulator.client_secret)
    assert "column 'name'" in str(info.value) and "LargeUtf8" in str(info.value), info.value
