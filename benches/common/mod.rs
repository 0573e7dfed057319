//! Seeded data sets shared by the benchmarks: the 10-column mixed schema (strings with
//! nulls, INT, BIGINT, DOUBLE, BOOLEAN, TIMESTAMP, DATE, ARRAY, STRUCT, MAP) and a
//! 100-column wide one. The same seed gives the same rows on every machine.

#![allow(dead_code)]

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, ListArray,
    MapArray, RecordBatch, StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields};

/// The Unity Catalog columns of a table that takes [`mixed`] batches.
pub const MIXED_COLUMNS: &str = "device STRING, temp_i32 INT, counter BIGINT NOT NULL, \
    value DOUBLE, ok BOOLEAN, seen TIMESTAMP, day DATE, samples ARRAY<BIGINT>, \
    meta STRUCT<a: INT, b: STRING>, attrs MAP<STRING, DOUBLE>";

/// A small seeded generator (Knuth's MMIX LCG).
pub struct Lcg(pub u64);
impl Lcg {
    /// The next 53 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }
}

/// `rows` rows of the 10-column mixed schema (seed 42).
pub fn mixed(rows: usize) -> RecordBatch {
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
    let bools: Vec<bool> = (0..rows).map(|_| r.next().is_multiple_of(2)).collect();
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

/// `rows` rows of 100 columns: BIGINT, DOUBLE, STRING and INT in turn (seed 7).
pub fn wide(rows: usize) -> RecordBatch {
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
