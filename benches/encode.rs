//! Encoder benchmark: `RowEncoder::encode_batch` against (a) prost-reflect
//! `DynamicMessage` per row, (b) arrow-json row encoding (what a JSON client sends), and
//! (c) a plain memcpy of the same output size, on a 10-column mixed schema and a
//! 100-column wide schema. Data is generated from a fixed seed.
//!
//! `cargo bench --bench encode`

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array,
    ListArray, MapArray, RecordBatch, StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields, Float64Type, Int32Type, Int64Type, TimeUnit};
use arrow_zerobus_sdk_wrapper::convert::{descriptor_from_arrow, RowEncoder};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use prost::Message as _;
use prost_reflect::{DynamicMessage, MapKey, MessageDescriptor, Value};

const ROWS: usize = 100_000;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }
}

fn mixed(rows: usize) -> RecordBatch {
    let mut r = Lcg(42);
    let s: Vec<Option<String>> = (0..rows)
        .map(|i| (i % 13 != 0).then(|| format!("device-{}-{}", r.next() % 1000, i)))
        .collect();
    let i32s: Vec<i32> = (0..rows)
        .map(|_| (r.next() % 100_000) as i32 - 50_000)
        .collect();
    let i64s: Vec<i64> = (0..rows).map(|_| r.next() as i64).collect();
    let f64s: Vec<f64> = (0..rows)
        .map(|_| (r.next() % 1_000_000) as f64 / 7.0)
        .collect();
    let bools: Vec<bool> = (0..rows).map(|_| r.next() % 2 == 0).collect();
    let ts: Vec<i64> = (0..rows)
        .map(|i| 1_700_000_000_000_000 + i as i64 * 1000)
        .collect();
    let dates: Vec<i32> = (0..rows).map(|i| 19_000 + (i % 365) as i32).collect();
    let lens: Vec<usize> = (0..rows).map(|_| (r.next() % 4) as usize).collect();
    let list_vals = Int64Array::from(
        (0..lens.iter().sum::<usize>())
            .map(|_| (r.next() % 1_000_000) as i64)
            .collect::<Vec<_>>(),
    );
    let list = ListArray::new(
        Arc::new(Field::new("item", DataType::Int64, false)),
        OffsetBuffer::from_lengths(lens),
        Arc::new(list_vals),
        None,
    );
    let st = StructArray::new(
        Fields::from(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Utf8, true),
        ]),
        vec![
            Arc::new(Int32Array::from((0..rows as i32).collect::<Vec<_>>())),
            Arc::new(StringArray::from(
                (0..rows).map(|i| format!("s{i}")).collect::<Vec<_>>(),
            )),
        ],
        None,
    );
    let map_lens: Vec<usize> = (0..rows).map(|i| i % 3).collect();
    let n_entries: usize = map_lens.iter().sum();
    let entries = StructArray::new(
        Fields::from(vec![
            Field::new("keys", DataType::Utf8, false),
            Field::new("values", DataType::Float64, true),
        ]),
        vec![
            Arc::new(StringArray::from(
                (0..n_entries)
                    .map(|k| format!("k{}", k % 3))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                (0..n_entries).map(|k| k as f64).collect::<Vec<_>>(),
            )),
        ],
        None,
    );
    let DataType::Struct(entry_fields) = entries.data_type().clone() else {
        unreachable!()
    };
    let map = MapArray::new(
        Arc::new(Field::new("entries", DataType::Struct(entry_fields), false)),
        OffsetBuffer::from_lengths(map_lens),
        entries,
        None,
        false,
    );
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("device", Arc::new(StringArray::from(s))),
        ("temp_i32", Arc::new(Int32Array::from(i32s))),
        ("counter", Arc::new(Int64Array::from(i64s))),
        ("value", Arc::new(Float64Array::from(f64s))),
        ("ok", Arc::new(BooleanArray::from(bools))),
        (
            "seen",
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
        ),
        ("day", Arc::new(Date32Array::from(dates))),
        ("samples", Arc::new(list)),
        ("meta", Arc::new(st)),
        ("attrs", Arc::new(map)),
    ];
    RecordBatch::try_from_iter(columns).expect("mixed batch")
}

fn wide(rows: usize) -> RecordBatch {
    let mut r = Lcg(7);
    let columns: Vec<(String, ArrayRef)> = (0..100)
        .map(|c| {
            let a: ArrayRef = match c % 4 {
                0 => Arc::new(Int64Array::from(
                    (0..rows)
                        .map(|_| (r.next() % 1_000_000_000) as i64)
                        .collect::<Vec<_>>(),
                )),
                1 => Arc::new(Float64Array::from(
                    (0..rows).map(|_| r.next() as f64 / 3.0).collect::<Vec<_>>(),
                )),
                2 => Arc::new(StringArray::from(
                    (0..rows).map(|i| format!("c{c}-{i}")).collect::<Vec<_>>(),
                )),
                _ => Arc::new(Int32Array::from(
                    (0..rows)
                        .map(|_| (r.next() % 1000) as i32)
                        .collect::<Vec<_>>(),
                )),
            };
            (format!("col_{c}"), a)
        })
        .collect();
    RecordBatch::try_from_iter(columns).expect("wide batch")
}

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
        ("wide_100_columns", wide(ROWS / 10)),
    ] {
        let schema = batch.schema();
        let descriptor = descriptor_from_arrow(&schema, "main.default.bench").expect("descriptor");
        let md = databricks_zerobus_ingest_sdk::message_descriptor(&descriptor).expect("message");
        let mut encoder =
            RowEncoder::new("main.default.bench", &descriptor, &schema).expect("encoder");
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
        g.bench_function(BenchmarkId::new("RowEncoder::encode_batch", rows), |b| {
            b.iter(|| encoder.encode_batch(&batch).expect("encode").total_bytes())
        });
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
