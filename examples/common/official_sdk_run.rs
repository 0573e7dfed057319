//! The official Rust SDK used directly, the way its documentation shows, on the batches of
//! an Arrow IPC file: the program of the peers of `benches/compare`, shared by
//! `examples/official_sdk.rs` (SDK 2.12, in this workspace) and
//! `benches/compare/official-rust-sdk3` (SDK 3.x, on arrow 60, a Cargo project of its own).
//! It uses only what both releases have; each program gives its TLS setting and protobuf
//! message. The includer declares `mod cpu` (`common/cpu.rs`) beside it.
//!
//! - `json`: each batch written as JSON lines with arrow-json (TIMESTAMP cast to epoch
//!   microseconds, as Zerobus JSON expects), one `JsonString` record per line;
//! - `proto`: one `DynamicRecord` (prost-reflect) per row, filled field by field from the
//!   Arrow arrays, encoded and sent as `ProtoBytes`;
//! - `proto-mux`: as `proto`, on the SDK's multiplexed stream (`.multiplexed(n)`; n from
//!   `ZEROBUS_BENCH_MUX`, default 8), `ingest_records` per batch;
//! - `arrow`: the SDK's Arrow Flight stream (`.arrow(schema).build_arrow()`, `ingest_batch`):
//!   each batch cast (arrow's `cast`) to the types the service takes (strings as
//!   `LargeUtf8`, timestamps as µs UTC, binary as `LargeBinary`), as a user of the SDK must.
//!
//! They send a batch per ingest call and `flush` once at the end. `cpu_seconds` is the
//! process's CPU (every thread) over the timed phase: reading the file is not counted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use arrow::ipc::reader::FileReader;
use databricks_zerobus_ingest_sdk::{DynamicRecord, JsonString, ProtoBytes, TlsConfig, ZerobusSdk};
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One JSON text per row; TIMESTAMP columns as epoch microseconds.
fn json_records(batch: &RecordBatch) -> Result<Vec<JsonString>, BoxError> {
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                arrow::compute::cast(c, &DataType::Int64)
            }
            _ => Ok(c.clone()),
        })
        .collect::<Result<_, _>>()?;
    let fields: Vec<_> = batch
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
        .collect();
    let batch = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns)?;
    let mut out = Vec::new();
    let mut writer = arrow::json::LineDelimitedWriter::new(&mut out);
    writer.write(&batch)?;
    writer.finish()?;
    let text = String::from_utf8(out)?;
    Ok(text.lines().map(|l| JsonString(l.to_string())).collect())
}

/// The protobuf value of row `i` of `array` for `field` (`None` for null).
fn value(array: &dyn Array, i: usize, field: &FieldDescriptor) -> Option<Value> {
    if array.is_null(i) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(i).to_string()),
        DataType::Int32 => Value::I32(array.as_primitive::<arrow::datatypes::Int32Type>().value(i)),
        DataType::Int64 => Value::I64(array.as_primitive::<Int64Type>().value(i)),
        DataType::Float64 => Value::F64(
            array
                .as_primitive::<arrow::datatypes::Float64Type>()
                .value(i),
        ),
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Value::I64(
            array
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .value(i),
        ),
        DataType::Date32 => Value::I32(
            array
                .as_primitive::<arrow::datatypes::Date32Type>()
                .value(i),
        ),
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(i);
            Value::List(
                (0..items.len())
                    .filter_map(|j| value(items.as_ref(), j, field))
                    .collect(),
            )
        }
        DataType::Struct(_) => {
            let s = array.as_struct();
            let Kind::Message(desc) = field.kind() else {
                return None;
            };
            let mut m = DynamicMessage::new(desc.clone());
            for (name, col) in s.column_names().iter().zip(s.columns()) {
                if let Some(f) = desc.get_field_by_name(name) {
                    if let Some(v) = value(col.as_ref(), i, &f) {
                        m.set_field(&f, v);
                    }
                }
            }
            Value::Message(m)
        }
        DataType::Map(_, _) => {
            let entries = array.as_map().value(i);
            let Kind::Message(entry) = field.kind() else {
                return None;
            };
            let value_field = entry.map_entry_value_field();
            let keys = entries.column(0).as_string::<i32>();
            let mut map = HashMap::new();
            for j in 0..entries.len() {
                if let Some(v) = value(entries.column(1).as_ref(), j, &value_field) {
                    map.insert(MapKey::String(keys.value(j).to_string()), v);
                }
            }
            Value::Map(map)
        }
        other => panic!("the benchmark schema has no {other} column"),
    })
}

/// `field` with the type Arrow Flight ingest takes for it: strings `LargeUtf8`, binary
/// `LargeBinary`, timestamps µs UTC; lists, structs and maps field by field.
fn flight_field(field: &arrow::datatypes::Field) -> arrow::datatypes::Field {
    use arrow::datatypes::{Field, Fields};
    let ty = match field.data_type() {
        DataType::Utf8 | DataType::Utf8View => DataType::LargeUtf8,
        DataType::Binary | DataType::BinaryView => DataType::LargeBinary,
        DataType::Timestamp(_, _) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        DataType::List(item) => DataType::List(Arc::new(flight_field(item))),
        DataType::Struct(children) => {
            DataType::Struct(children.iter().map(|c| flight_field(c)).collect::<Fields>())
        }
        DataType::Map(entries, sorted) => DataType::Map(Arc::new(flight_field(entries)), *sorted),
        other => other.clone(),
    };
    Field::new(field.name(), ty, field.is_nullable())
}

/// The program: `PROGRAM json|proto|proto-mux|arrow FILE.arrow TABLE ENDPOINT UC_URL
/// CLIENT_ID` (the secret from `DATABRICKS_CLIENT_SECRET`), with `tls` for the SDK and
/// `message` giving the protobuf message of the file's first batch for the table (the
/// SDK releases differ in both). Prints one JSON line: rows, seconds and `cpu_seconds`.
pub async fn run(
    program: &str,
    tls: Arc<dyn TlsConfig>,
    message: impl FnOnce(&str, &RecordBatch, &str) -> Result<MessageDescriptor, BoxError>,
) -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, file, table, endpoint, uc, client_id] = args.as_slice() else {
        return Err(format!(
            "usage: {program} json|proto|proto-mux|arrow FILE.arrow TABLE ENDPOINT UC_URL CLIENT_ID"
        )
        .into());
    };
    let secret =
        std::env::var("DATABRICKS_CLIENT_SECRET").map_err(|_| "set DATABRICKS_CLIENT_SECRET")?;
    let batches =
        FileReader::try_new(std::fs::File::open(file)?, None)?.collect::<Result<Vec<_>, _>>()?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let sdk = ZerobusSdk::builder()
        .endpoint(endpoint.as_str())
        .unity_catalog_url(uc.as_str())
        .tls_config(tls)
        .build()?;
    let started = Instant::now();
    let cpu_started = super::cpu::cpu_seconds();
    let builder = sdk
        .stream_builder()
        .table(table.as_str())
        .oauth(client_id.as_str(), secret.as_str());
    match mode.as_str() {
        "json" => {
            let stream = builder.json().build().await?;
            for batch in &batches {
                stream.ingest_records_offset(json_records(batch)?).await?;
            }
            stream.flush().await?;
        }
        "proto" | "proto-mux" => {
            let message = message(file, &batches[0], table)?;
            let fields: Vec<FieldDescriptor> = batches[0]
                .schema()
                .fields()
                .iter()
                .map(|f| message.get_field_by_name(f.name()).ok_or("field"))
                .collect::<Result<_, _>>()?;
            let encode = |batch: &RecordBatch| -> Result<Vec<ProtoBytes>, BoxError> {
                let mut records = Vec::with_capacity(batch.num_rows());
                for i in 0..batch.num_rows() {
                    let mut record = DynamicRecord::new(message.clone());
                    for (col, field) in batch.columns().iter().zip(&fields) {
                        if let Some(v) = value(col.as_ref(), i, field) {
                            record.set(field.name(), v)?;
                        }
                    }
                    records.push(ProtoBytes(record.encode()?));
                }
                Ok(records)
            };
            if mode == "proto" {
                let stream = builder.dynamic_proto(message.clone()).build().await?;
                for batch in &batches {
                    stream.ingest_records_offset(encode(batch)?).await?;
                }
                stream.flush().await?;
            } else {
                let n = std::env::var("ZEROBUS_BENCH_MUX")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(8);
                let mut stream = builder
                    .dynamic_proto(message.clone())
                    .multiplexed(n)
                    .build()
                    .await?;
                for batch in &batches {
                    stream.ingest_records(encode(batch)?).await?;
                }
                stream.flush().await?;
                stream.close().await?;
            }
        }
        "arrow" => {
            let schema = Arc::new(arrow::datatypes::Schema::new(
                batches[0]
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| flight_field(f))
                    .collect::<Vec<_>>(),
            ));
            let mut stream = builder.arrow(schema.clone()).build_arrow().await?;
            for batch in &batches {
                let columns = batch
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
                    .collect::<Result<Vec<_>, _>>()?;
                stream
                    .ingest_batch(RecordBatch::try_new(schema.clone(), columns)?)
                    .await?;
            }
            stream.flush().await?;
            stream.close().await?;
        }
        other => {
            return Err(format!("unknown mode '{other}': json, proto, proto-mux or arrow").into())
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = super::cpu::cpu_seconds() - cpu_started;
    println!(r#"{{"rows": {rows}, "seconds": {seconds:.4}, "cpu_seconds": {cpu:.4}}}"#);
    Ok(())
}
