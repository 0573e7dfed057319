//! How many records per second the emulator accepts from the official Rust SDK: with
//! `--discard` (acknowledge without decoding or writing) and with Delta commits, from 1 and
//! 4 concurrent streams, the per-stream quota turned off (the emulator's own speed is
//! measured, not the service's quota). Client and emulator share this process (and its cores), so the
//! figures are for the whole loop on this machine. Not a test: it prints a table.
//!
//! `cargo bench -p zerobus-emulator --bench ingest [-- ROWS]`

use std::sync::Arc;
use std::time::Instant;

use databricks_zerobus_ingest_sdk::schema::{descriptor_from_uc_columns, UcColumn};
use databricks_zerobus_ingest_sdk::{message_descriptor, ProtoBytes, ZerobusSdk};
use prost::Message as _;
use prost_reflect::DynamicMessage;
use zerobus_emulator::{Emulator, EmulatorConfig, StreamQuota};

const TABLE: &str = "main.default.bench";
const COLUMNS: &str =
    "id BIGINT NOT NULL, device STRING, temp DOUBLE, tags ARRAY<STRING>, seen TIMESTAMP";
const BATCH: usize = 1000;

async fn run(
    discard: bool,
    streams: usize,
    records: Arc<Vec<Vec<u8>>>,
    desc: prost_types::DescriptorProto,
) -> (f64, usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let emu = Emulator::start(
        EmulatorConfig::new(dir.path())
            .with_discard(discard)
            .with_stream_quota(StreamQuota::OFF),
    )
    .await
    .expect("emulator");
    emu.create_table(TABLE, COLUMNS).await.expect("table");
    let sdk = Arc::new(
        ZerobusSdk::builder()
            .endpoint(emu.grpc_url())
            .unity_catalog_url(emu.http_url())
            .no_tls()
            .build()
            .expect("sdk"),
    );
    let mut opened = Vec::new();
    for _ in 0..streams {
        opened.push(
            sdk.stream_builder()
                .table(TABLE)
                .oauth(emu.client_id(), emu.client_secret())
                .compiled_proto(desc.clone())
                .build()
                .await
                .expect("stream"),
        );
    }
    let per = records.len() / streams;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, stream) in opened.into_iter().enumerate() {
        let records = records.clone();
        tasks.push(tokio::spawn(async move {
            for chunk in records[i * per..(i + 1) * per].chunks(BATCH) {
                let batch: Vec<ProtoBytes> = chunk.iter().cloned().map(ProtoBytes).collect();
                stream.ingest_records_offset(batch).await.expect("ingest");
            }
            stream.flush().await.expect("flush");
            let mut stream = stream;
            stream.close().await.expect("close");
        }));
    }
    for t in tasks {
        t.await.expect("stream task");
    }
    let secs = started.elapsed().as_secs_f64();
    if !discard {
        let rows: usize =
            zerobus_emulator::storage::read_table(&emu.table_location(TABLE).expect("location"))
                .await
                .expect("read")
                .iter()
                .map(|b| b.num_rows())
                .sum();
        assert_eq!(rows, per * streams, "every record landed");
    }
    emu.shutdown().await;
    (secs, per * streams)
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // The descriptor a client derives from the UC schema (same mapping as the SDK's).
        let dir = tempfile::tempdir().expect("tempdir");
        let emu = Emulator::start(EmulatorConfig::new(dir.path()))
            .await
            .expect("emulator");
        emu.create_table(TABLE, COLUMNS).await.expect("table");
        let cols: Vec<UcColumn> = {
            let http = reqwest::Client::new();
            let tok: serde_json::Value = http
                .post(format!("{}/oidc/v1/token", emu.http_url()))
                .basic_auth(emu.client_id(), Some(emu.client_secret()))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .expect("token")
                .json()
                .await
                .expect("json");
            let t: serde_json::Value = http
                .get(format!(
                    "{}/api/2.1/unity-catalog/tables/{TABLE}",
                    emu.http_url()
                ))
                .bearer_auth(tok["access_token"].as_str().unwrap_or_default())
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            serde_json::from_value(t["columns"].clone()).expect("columns")
        };
        emu.shutdown().await;
        let desc = descriptor_from_uc_columns(&cols, "Row").expect("descriptor");
        let md = message_descriptor(&desc).expect("message");
        let records: Vec<Vec<u8>> = (0..n as i64)
            .map(|id| {
                let row = serde_json::json!({
                    "id": id, "device": format!("sensor-{}", id % 100), "temp": id as f64 * 0.1,
                    "tags": ["a", "b"], "seen": 1_700_000_000_000_000i64 + id,
                });
                DynamicMessage::deserialize(md.clone(), row)
                    .expect("row")
                    .encode_to_vec()
            })
            .collect();
        let bytes: usize = records.iter().map(Vec::len).sum();
        let records = Arc::new(records);
        println!(
            "{n} records, {:.1} MB of protobuf, batches of {BATCH}, {} cores",
            bytes as f64 / 1e6,
            std::thread::available_parallelism()
                .map(|p| p.get())
                .unwrap_or(1)
        );
        println!("| mode | streams | seconds | records/s | MB/s |");
        println!("|---|---:|---:|---:|---:|");
        for discard in [true, false] {
            for streams in [1usize, 4] {
                let (secs, rows) = run(discard, streams, records.clone(), desc.clone()).await;
                let mode = if discard {
                    "--discard, no quota"
                } else {
                    "Delta commits, no quota"
                };
                println!(
                    "| {mode} | {streams} | {secs:.2} | {:.0} | {:.1} |",
                    rows as f64 / secs,
                    bytes as f64 * rows as f64 / n as f64 / secs / 1e6
                );
            }
        }
    });
}
