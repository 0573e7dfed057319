//! Shared by the integration tests that declare `mod common;`.

#![allow(dead_code)]

pub mod otlp;

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

/// Rows `ids` of a table `id BIGINT NOT NULL, body STRING` (body = "b<id>").
pub fn id_body_batch(ids: std::ops::Range<i64>) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("body", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(ids.clone())),
            Arc::new(StringArray::from_iter_values(ids.map(|i| format!("b{i}")))),
        ],
    )
    .unwrap()
}

/// The ids of an [`id_body_batch`] table: (rows, distinct ids, ids of 0..n missing); each
/// row's body is checked against its id (whatever stream carried it).
pub async fn id_body_landed(
    emu: &zerobus_emulator::EmulatorHandle,
    table: &str,
    n: i64,
) -> (usize, usize, usize) {
    id_body_landed_with(emu, table, n, |i| format!("b{i}")).await
}

/// [`id_body_landed`] of a table whose row `id` has the body `body(id)`.
#[allow(dead_code)]
pub async fn id_body_landed_with(
    emu: &zerobus_emulator::EmulatorHandle,
    table: &str,
    n: i64,
    body_of: impl Fn(i64) -> String,
) -> (usize, usize, usize) {
    use arrow::array::AsArray;
    let location = emu.table_location(table).expect("table exists");
    let batches = zerobus_emulator::storage::read_table(&location)
        .await
        .expect("table reads");
    let mut counts = std::collections::HashMap::<i64, usize>::new();
    for b in &batches {
        let ids = b
            .column_by_name("id")
            .expect("id")
            .as_primitive::<arrow::datatypes::Int64Type>();
        for v in ids.values() {
            *counts.entry(*v).or_default() += 1;
        }
        let body = b.column_by_name("body").expect("body").as_string::<i32>();
        for i in 0..ids.len() {
            assert_eq!(body.value(i), body_of(ids.value(i)));
        }
    }
    let rows = counts.values().sum();
    let missing = (0..n).filter(|i| !counts.contains_key(i)).count();
    (rows, counts.len(), missing)
}

/// A Parquet file at `path` of rows `(id, body)`: `id` over `ids`, `body` the SQL
/// expression `body` of `value` (the id), written by DataFusion.
#[cfg(feature = "datafusion")]
pub async fn id_parquet(path: &std::path::Path, ids: std::ops::Range<i64>, body: &str) {
    datafusion::prelude::SessionContext::new()
        .sql(&format!(
            "COPY (SELECT CAST(value AS BIGINT) AS id, {body} AS body FROM generate_series({}, {})) \
             TO '{}' STORED AS PARQUET",
            ids.start,
            ids.end - 1,
            path.display()
        ))
        .await
        .expect("COPY plans")
        .collect()
        .await
        .expect("the Parquet file is written");
}

/// A wrapper configuration for `table` on `emu`: its endpoints and credentials, dead
/// letters under `dir/dead`.
pub fn wrapper_config(
    emu: &zerobus_emulator::EmulatorHandle,
    table: &str,
    dir: &std::path::Path,
) -> arrow_zerobus_sdk_wrapper::WrapperConfigBuilder {
    arrow_zerobus_sdk_wrapper::WrapperConfig::builder(emu.grpc_url(), table)
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .unity_catalog_url(emu.http_url())
        .dead_letter_dir(dir.join("dead"))
}

/// `http://127.0.0.1:<port>` where nothing listens (the port was free a moment ago).
pub fn dead_endpoint() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}
