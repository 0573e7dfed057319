//! Encoder benchmark: `RowEncoder::encode_batch` against (a) prost-reflect
//! `DynamicMessage` per row, (b) arrow-json row encoding (what a JSON client sends), and
//! (c) a plain memcpy of the same output size, on a 10-column mixed schema and a
//! 100-column wide schema. Data is generated from a fixed seed.
//!
//! `cargo bench --bench encode`

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type, TimeUnit};
use arrow_zerobus_sdk_wrapper::convert::{RowEncoder, TableSchema};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use prost::Message as _;
use prost_reflect::{DynamicMessage, MapKey, MessageDescriptor, Value};

mod common;
use common::{mixed, wide};

const ROWS: usize = 100_000;

/// The baseline: one DynamicMessage per row, fields set by reflection, then encoded.
fn dynamic_rows(batch: &RecordBatch, md: &MessageDescriptor) -> usize {
    let schema = batch.schema();
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| md.get_field_by_name(f.name()).expect("field"))
        .collect();
    let mut total = 0;
    for row in 0..batch.num_rows() {
        let mut msg = DynamicMessage::new(md.clone());
        for (c, fd) in fields.iter().enumerate() {
            let col = batch.column(c);
            if col.is_null(row) {
                continue;
            }
            if let Some(v) = value(col, row, fd) {
                msg.set_field(fd, v);
            }
        }
        total += msg.encode_to_vec().len();
    }
    total
}

fn value(col: &ArrayRef, row: usize, fd: &prost_reflect::FieldDescriptor) -> Option<Value> {
    Some(match col.data_type() {
        DataType::Utf8 => Value::String(col.as_string::<i32>().value(row).to_string()),
        DataType::Int32 => Value::I32(col.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => Value::I64(col.as_primitive::<Int64Type>().value(row)),
        DataType::Float64 => Value::F64(col.as_primitive::<Float64Type>().value(row)),
        DataType::Boolean => Value::Bool(col.as_boolean().value(row)),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Value::I64(
            col.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .value(row),
        ),
        DataType::Date32 => Value::I32(
            col.as_primitive::<arrow::datatypes::Date32Type>()
                .value(row),
        ),
        DataType::List(_) => {
            let l = col.as_list::<i32>().value(row);
            Value::List(
                l.as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .map(|v| Value::I64(*v))
                    .collect(),
            )
        }
        DataType::Struct(_) => {
            let prost_reflect::Kind::Message(m) = fd.kind() else {
                return None;
            };
            let s = col.as_struct();
            let mut msg = DynamicMessage::new(m.clone());
            msg.set_field_by_name(
                "a",
                Value::I32(s.column(0).as_primitive::<Int32Type>().value(row)),
            );
            msg.set_field_by_name(
                "b",
                Value::String(s.column(1).as_string::<i32>().value(row).to_string()),
            );
            Value::Message(msg)
        }
        DataType::Map(_, _) => {
            let e = col.as_map().value(row);
            let (k, v) = (
                e.column(0).as_string::<i32>(),
                e.column(1).as_primitive::<Float64Type>(),
            );
            Value::Map(
                (0..e.len())
                    .map(|i| {
                        (
                            MapKey::String(k.value(i).to_string()),
                            Value::F64(v.value(i)),
                        )
                    })
                    .collect(),
            )
        }
        _ => return None,
    })
}

fn json_rows(batch: &RecordBatch) -> usize {
    let mut out = Vec::with_capacity(batch.num_rows() * 128);
    let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
    w.write(batch).expect("json");
    w.finish().expect("json");
    out.len()
}

fn bench(c: &mut Criterion) {
    for (name, batch) in [
        ("mixed_10_columns", mixed(ROWS)),
        // The size of the batches a DataFusion query hands the INSERT sink.
        ("mixed_10_columns_8192_rows", mixed(8192)),
        ("wide_100_columns", wide(ROWS / 10)),
    ] {
        let schema = batch.schema();
        let table = TableSchema::from_arrow("main.default.bench", &schema).expect("table");
        let md = table.message().clone();
        let mut encoder = RowEncoder::new(&table, &schema).expect("encoder");
        let out_bytes = encoder.encode_batch(&batch).expect("encode").total_bytes();
        let arrow_bytes = batch.get_array_memory_size();
        let rows = batch.num_rows() as u64;
        println!(
            "{name}: {rows} rows, {arrow_bytes} bytes of Arrow, {out_bytes} bytes of protobuf"
        );
        let src = vec![7u8; out_bytes];
        let mut dst = vec![0u8; out_bytes];
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(rows));
        g.sample_size(10);
        // As the wrapper encodes: the plan made once per schema, a clone of the planned
        // encoder per batch, the rows taken out and dropped (their buffers come back for
        // a later batch, as a send's do once acknowledged).
        g.bench_function(BenchmarkId::new("RowEncoder, as the wrapper", rows), |b| {
            b.iter(|| {
                let mut e = encoder.clone();
                e.encode_batch(&batch).expect("encode");
                e.take_rows().total_bytes()
            })
        });
        // Buffers reused from batch to batch: the encoder's floor.
        g.bench_function(BenchmarkId::new("RowEncoder, buffers reused", rows), |b| {
            b.iter(|| encoder.encode_batch(&batch).expect("encode").total_bytes())
        });
        // Planned per batch, as the wrapper did before plans were kept per schema.
        g.bench_function(
            BenchmarkId::new("RowEncoder, planned per batch", rows),
            |b| {
                b.iter(|| {
                    let mut e = RowEncoder::new(&table, &schema).expect("encoder");
                    e.encode_batch(&batch).expect("encode");
                    e.take_rows().total_bytes()
                })
            },
        );
        g.bench_function(
            BenchmarkId::new("prost-reflect DynamicMessage per row", rows),
            |b| b.iter(|| dynamic_rows(&batch, &md)),
        );
        g.bench_function(BenchmarkId::new("arrow-json rows", rows), |b| {
            b.iter(|| json_rows(&batch))
        });
        g.bench_function(BenchmarkId::new("memcpy of the output size", rows), |b| {
            b.iter(|| {
                dst.copy_from_slice(&src);
                dst[out_bytes / 2]
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
