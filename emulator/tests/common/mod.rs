//! Shared helpers for the emulator's integration tests: the official SDK as the client,
//! the UC API over HTTP for schemas, and Delta tables read back from disk.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use base64::Engine as _;
use databricks_zerobus_ingest_sdk::schema::{descriptor_from_uc_columns, UcColumn};
use databricks_zerobus_ingest_sdk::{ZerobusSdk, ZerobusStream};
use deltalake_core::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use deltalake_core::arrow::datatypes::DataType;
use serde_json::{json, Value};
use zerobus_emulator::{Emulator, EmulatorConfig, EmulatorHandle};

pub struct TestEmulator {
    pub emu: EmulatorHandle,
    pub dir: tempfile::TempDir,
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,deltalake_core::writer::stats=error")
            }),
        )
        .with_test_writer()
        .try_init();
}

pub async fn start(config: impl FnOnce(EmulatorConfig) -> EmulatorConfig) -> TestEmulator {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let emu = Emulator::start(config(EmulatorConfig::new(dir.path().join("warehouse"))))
        .await
        .expect("emulator starts");
    TestEmulator { emu, dir }
}

pub fn sdk(emu: &EmulatorHandle) -> ZerobusSdk {
    ZerobusSdk::builder()
        .endpoint(emu.grpc_url())
        .unity_catalog_url(emu.http_url())
        .no_tls()
        .build()
        .expect("sdk builds")
}

/// A token for the UC API, from the emulator's OAuth endpoint.
pub async fn uc_token(emu: &EmulatorHandle) -> String {
    let resp: Value = reqwest::Client::new()
        .post(format!("{}/oidc/v1/token", emu.http_url()))
        .basic_auth(emu.client_id(), Some(emu.client_secret()))
        .form(&[("grant_type", "client_credentials"), ("scope", "all-apis")])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token json");
    resp["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// The table's columns as the UC tables API reports them.
pub async fn uc_columns(emu: &EmulatorHandle, table: &str) -> Vec<UcColumn> {
    let token = uc_token(emu).await;
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/api/2.1/unity-catalog/tables/{table}",
            emu.http_url()
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("uc get");
    assert!(
        resp.status().is_success(),
        "GET table {table}: {}",
        resp.status()
    );
    let body: Value = resp.json().await.expect("uc json");
    serde_json::from_value(body["columns"].clone()).expect("UcColumn list")
}

/// The descriptor a client derives from the UC schema with the SDK's own mapping.
pub async fn descriptor(emu: &EmulatorHandle, table: &str) -> prost_types::DescriptorProto {
    descriptor_from_uc_columns(&uc_columns(emu, table).await, "Row").expect("descriptor from UC")
}

pub async fn proto_stream(emu: &EmulatorHandle, table: &str) -> ZerobusStream {
    let desc = descriptor(emu, table).await;
    sdk(emu)
        .stream_builder()
        .table(table)
        .oauth(emu.client_id(), emu.client_secret())
        .compiled_proto(desc)
        .build()
        .await
        .expect("proto stream")
}

pub async fn json_stream(emu: &EmulatorHandle, table: &str) -> ZerobusStream {
    sdk(emu)
        .stream_builder()
        .table(table)
        .oauth(emu.client_id(), emu.client_secret())
        .json()
        .build()
        .await
        .expect("json stream")
}

/// Every row of the Delta table at `location`.
pub async fn read_table(location: &Path) -> Vec<RecordBatch> {
    zerobus_emulator::storage::read_table(location)
        .await
        .expect("read Delta table")
}

pub fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// Every value of column `id` (BIGINT) across batches.
pub fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    let mut out = Vec::new();
    for b in batches {
        let col = b.column_by_name("id").expect("id column");
        let col = col
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("id is BIGINT");
        out.extend(col.iter().flatten());
    }
    out
}

/// (distinct ids, duplicates, missing out of 0..n)
pub fn id_stats(batches: &[RecordBatch], n: i64) -> (usize, usize, Vec<i64>) {
    let all = ids(batches);
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for id in &all {
        *counts.entry(*id).or_default() += 1;
    }
    let dups = all.len() - counts.len();
    let missing: Vec<i64> = (0..n).filter(|i| !counts.contains_key(i)).collect();
    (counts.len(), dups, missing)
}

/// A value of an Arrow array as canonical JSON: integers (dates in days, timestamps in
/// µs), decimals as exact text, binary as base64, maps as sorted objects.
pub fn canonical(array: &ArrayRef, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Int8 => json!(array
            .as_any()
            .downcast_ref::<Int8Array>()
            .unwrap()
            .value(row)),
        DataType::Int16 => json!(array
            .as_any()
            .downcast_ref::<Int16Array>()
            .unwrap()
            .value(row)),
        DataType::Int32 => json!(array
            .as_any()
            .downcast_ref::<Int32Array>()
            .unwrap()
            .value(row)),
        DataType::Int64 => json!(array
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(row)),
        DataType::Float32 => json!(array
            .as_any()
            .downcast_ref::<Float32Array>()
            .unwrap()
            .value(row) as f64),
        DataType::Float64 => json!(array
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .value(row)),
        DataType::Boolean => json!(array
            .as_any()
            .downcast_ref::<BooleanArray>()
            .unwrap()
            .value(row)),
        DataType::Utf8 => json!(array
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .value(row)),
        DataType::Binary => json!(base64::engine::general_purpose::STANDARD.encode(
            array
                .as_any()
                .downcast_ref::<BinaryArray>()
                .unwrap()
                .value(row)
        )),
        DataType::Date32 => json!(array
            .as_any()
            .downcast_ref::<Date32Array>()
            .unwrap()
            .value(row)),
        DataType::Timestamp(_, _) => {
            json!(array
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .unwrap()
                .value(row))
        }
        DataType::Decimal128(_, _) => {
            json!(array
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap()
                .value_as_string(row))
        }
        DataType::List(_) => {
            let l = array.as_list::<i32>().value(row);
            Value::Array((0..l.len()).map(|i| canonical(&l, i)).collect())
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let mut obj = serde_json::Map::new();
            for (i, f) in fields.iter().enumerate() {
                obj.insert(f.name().clone(), canonical(s.column(i), row));
            }
            Value::Object(obj)
        }
        DataType::Map(_, _) => {
            let m = array.as_map();
            let entries = m.value(row);
            let (k, v) = (entries.column(0).clone(), entries.column(1).clone());
            let mut sorted = BTreeMap::new();
            for i in 0..entries.len() {
                let key = match canonical(&k, i) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                sorted.insert(key, canonical(&v, i));
            }
            Value::Object(sorted.into_iter().collect())
        }
        other => panic!("unexpected type {other}"),
    }
}

/// All rows of the table, keyed by `id`, each as a JSON object of canonical values.
pub fn rows_by_id(batches: &[RecordBatch]) -> BTreeMap<i64, Value> {
    let mut out = BTreeMap::new();
    for b in batches {
        let schema = b.schema();
        for row in 0..b.num_rows() {
            let mut obj = serde_json::Map::new();
            for (i, f) in schema.fields().iter().enumerate() {
                obj.insert(f.name().clone(), canonical(b.column(i), row));
            }
            let id = obj["id"].as_i64().expect("id");
            out.insert(id, Value::Object(obj));
        }
    }
    out
}
