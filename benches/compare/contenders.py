"""The Python contenders of `benches/compare`, each run in a process of its own by
`run.py`:

    python contenders.py MODE FILE.arrow TABLE ENDPOINT UC_URL CLIENT_ID

MODE is one of
  ours         arrow_zerobus_sdk_wrapper: `send_batch_sync(table)` of the whole pyarrow Table
  sdk-json     official SDK (PyPI): one JSON text per row, `ingest_record_offset` loop
  sdk-proto    official SDK: one protobuf message per row (a class made from a descriptor
               matching the table), `ingest_records_offset` per 8,192-row batch
  sdk-flight   official SDK: its Arrow Flight stream (`create_arrow_stream`)

The secret comes from DATABRICKS_CLIENT_SECRET. Prints one JSON line: rows and seconds
(from the first byte sent to the last acknowledgement; reading the file is not timed).
"""

from __future__ import annotations

import json
import resource
import os
import sys
import time

import pyarrow as pa
import pyarrow.ipc


def read(path: str) -> pa.Table:
    with pa.ipc.open_file(path) as f:
        return f.read_all()


def ours(table: pa.Table, name: str, endpoint: str, uc: str, client_id: str, secret: str) -> float:
    from arrow_zerobus_sdk_wrapper import ZerobusWrapper

    t0 = time.perf_counter()
    # ZEROBUS_TRANSPORT, ZEROBUS_FLIGHT_COMPRESSION and ZEROBUS_MAX_STREAMS, as zerobus-sql reads them.
    transport = {
        k: os.environ[v]
        for k, v in [("transport", "ZEROBUS_TRANSPORT"), ("flight_compression", "ZEROBUS_FLIGHT_COMPRESSION")]
        if os.environ.get(v)
    }
    if os.environ.get("ZEROBUS_MAX_STREAMS"):
        transport["max_streams"] = int(os.environ["ZEROBUS_MAX_STREAMS"])
    w = ZerobusWrapper(
        endpoint, name, client_id=client_id, client_secret=secret, unity_catalog_url=uc, **transport
    )
    r = w.send_batch_sync(table)
    w.shutdown_sync()
    assert r.rows == table.num_rows, r
    return time.perf_counter() - t0


def plain_rows(table: pa.Table) -> list[dict]:
    """Rows as Python values Zerobus JSON takes: TIMESTAMP as epoch microseconds, DATE as
    days, MAP as an object."""
    i = table.schema.get_field_index("seen")
    table = table.set_column(i, "seen", table.column("seen").cast(pa.int64()))
    i = table.schema.get_field_index("day")
    table = table.set_column(i, "day", table.column("day").cast(pa.int32()))
    rows = table.to_pylist()
    for row in rows:
        row["attrs"] = dict(row["attrs"] or [])
    return rows


def sdk_json(table: pa.Table, name: str, endpoint: str, uc: str, client_id: str, secret: str) -> float:
    from zerobus.sdk.shared import RecordType, StreamConfigurationOptions, TableProperties
    from zerobus.sdk.sync import ZerobusSdk

    # Converting Arrow to Python values is the user's work with this SDK: it is timed.
    t0 = time.perf_counter()
    rows = plain_rows(table)
    sdk = ZerobusSdk(endpoint, uc)
    stream = sdk.create_stream(
        client_id, secret, TableProperties(name), StreamConfigurationOptions(record_type=RecordType.JSON)
    )
    for row in rows:
        stream.ingest_record_offset(json.dumps(row))
    stream.flush()
    secs = time.perf_counter() - t0
    stream.close()
    return secs


def message_class():
    """A protobuf class for the table (field numbers = column positions), as a user of the
    SDK writes it: TIMESTAMP int64 micros, DATE int32 days. No package, nested types named
    from the message: the SDK sends the message's DescriptorProto alone."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="bench.proto", syntax="proto2")
    msg = fdp.message_type.add(name="Row")
    meta = msg.nested_type.add(name="Meta")
    meta.field.add(name="a", number=1, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    meta.field.add(name="b", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    entry = msg.nested_type.add(name="AttrsEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    for number, (col, ty, label, type_name) in enumerate(
        [
            ("device", F.TYPE_STRING, F.LABEL_OPTIONAL, None),
            ("temp_i32", F.TYPE_INT32, F.LABEL_OPTIONAL, None),
            ("counter", F.TYPE_INT64, F.LABEL_REQUIRED, None),
            ("value", F.TYPE_DOUBLE, F.LABEL_OPTIONAL, None),
            ("ok", F.TYPE_BOOL, F.LABEL_OPTIONAL, None),
            ("seen", F.TYPE_INT64, F.LABEL_OPTIONAL, None),
            ("day", F.TYPE_INT32, F.LABEL_OPTIONAL, None),
            ("samples", F.TYPE_INT64, F.LABEL_REPEATED, None),
            ("meta", F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".Row.Meta"),
            ("attrs", F.TYPE_MESSAGE, F.LABEL_REPEATED, ".Row.AttrsEntry"),
        ],
        start=1,
    ):
        f = msg.field.add(name=col, number=number, type=ty, label=label)
        if type_name:
            f.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("Row"))


def sdk_proto(table: pa.Table, name: str, endpoint: str, uc: str, client_id: str, secret: str) -> float:
    from zerobus.sdk.shared import RecordType, StreamConfigurationOptions, TableProperties
    from zerobus.sdk.sync import ZerobusSdk

    Row = message_class()
    t0 = time.perf_counter()
    sdk = ZerobusSdk(endpoint, uc)
    stream = sdk.create_stream(
        client_id,
        secret,
        TableProperties(name, Row.DESCRIPTOR),
        StreamConfigurationOptions(record_type=RecordType.PROTO),
    )
    for batch in table.to_batches(max_chunksize=8192):
        payloads = []
        for row in plain_rows(pa.Table.from_batches([batch])):
            m = Row()
            for k, v in row.items():
                if v is None:
                    continue
                if k == "samples":
                    m.samples.extend(v)
                elif k == "meta":
                    m.meta.a, m.meta.b = v["a"], v["b"]
                elif k == "attrs":
                    m.attrs.update(v)
                else:
                    setattr(m, k, v)
            payloads.append(m.SerializeToString())
        stream.ingest_records_offset(payloads)
    stream.flush()
    secs = time.perf_counter() - t0
    stream.close()
    return secs


def flight_type(t: pa.DataType) -> pa.DataType:
    """The type Arrow Flight ingest takes for `t`: strings large_string, binary
    large_binary, timestamps us UTC; lists, structs and maps field by field."""
    if pa.types.is_string(t) or pa.types.is_string_view(t):
        return pa.large_string()
    if pa.types.is_binary(t) or pa.types.is_binary_view(t):
        return pa.large_binary()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC")
    if pa.types.is_map(t):
        return pa.map_(flight_type(t.key_type), flight_type(t.item_type))
    if pa.types.is_list(t):
        return pa.list_(pa.field(t.value_field.name, flight_type(t.value_type), t.value_field.nullable))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, flight_type(f.type), f.nullable) for f in t])
    return t


def sdk_flight(table: pa.Table, name: str, endpoint: str, uc: str, client_id: str, secret: str) -> float:
    from zerobus.sdk.sync import ZerobusSdk

    t0 = time.perf_counter()
    # The cast to the service's Flight types is the user's job with the SDK: timed.
    schema = pa.schema([pa.field(f.name, flight_type(f.type), f.nullable) for f in table.schema])
    sdk = ZerobusSdk(endpoint, uc)
    stream = sdk.create_arrow_stream(name, schema, client_id, secret)
    for batch in table.to_batches(max_chunksize=8192):
        stream.ingest_batch(batch.cast(schema))
    stream.flush()
    secs = time.perf_counter() - t0
    stream.close()
    return secs


def main() -> None:
    mode, path, name, endpoint, uc, client_id = sys.argv[1:7]
    secret = os.environ["DATABRICKS_CLIENT_SECRET"]
    table = read(path)
    run = {"ours": ours, "sdk-json": sdk_json, "sdk-proto": sdk_proto, "sdk-flight": sdk_flight}[mode]
    # The send's own CPU (every thread of the process), reading the file and starting
    # Python not counted: from just before the timed phase to the stream's close.
    cpu0 = cpu_seconds()
    secs = run(table, name, endpoint, uc, client_id, secret)
    cpu = cpu_seconds() - cpu0
    print(json.dumps({"rows": table.num_rows, "seconds": round(secs, 4), "cpu_seconds": round(cpu, 4)}))


def cpu_seconds() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


if __name__ == "__main__":
    main()
