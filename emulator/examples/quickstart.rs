//! Quickstart: start the emulator in-process, create a table, ingest 10,000 records with
//! the official Rust SDK exactly as against Databricks (OAuth, descriptor from the Unity
//! Catalog API), then read the Delta table back.
//!
//! ```text
//! cargo run -p zerobus-emulator --example quickstart [-- WAREHOUSE_DIR]
//! ```

use std::time::Instant;

use databricks_zerobus_ingest_sdk::schema::{descriptor_from_uc_columns, UcColumn};
use databricks_zerobus_ingest_sdk::{message_descriptor, ProtoBytes, ZerobusSdk};
use prost::Message as _;
use prost_reflect::DynamicMessage;
use zerobus_emulator::{Emulator, EmulatorConfig};

const TABLE: &str = "main.default.quickstart";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let warehouse = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "./zerobus-warehouse".into());
    let emu = Emulator::start(EmulatorConfig::new(&warehouse)).await?;
    println!(
        "emulator: grpc={} http={} warehouse={}",
        emu.grpc_url(),
        emu.http_url(),
        emu.warehouse().display()
    );
    if emu.table_location(TABLE).is_none() {
        emu.create_table(
            TABLE,
            "id BIGINT NOT NULL, device STRING, temp DOUBLE, tags ARRAY<STRING>, seen TIMESTAMP",
        )
        .await?;
    }

    // What any client does: a token, the table's columns from Unity Catalog, a descriptor.
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/oidc/v1/token", emu.http_url()))
        .basic_auth(emu.client_id(), Some(emu.client_secret()))
        .form(&[("grant_type", "client_credentials"), ("scope", "all-apis")])
        .send()
        .await?
        .json()
        .await?;
    let table: serde_json::Value = http
        .get(format!(
            "{}/api/2.1/unity-catalog/tables/{TABLE}",
            emu.http_url()
        ))
        .bearer_auth(token["access_token"].as_str().unwrap_or_default())
        .send()
        .await?
        .json()
        .await?;
    let columns: Vec<UcColumn> = serde_json::from_value(table["columns"].clone())?;
    let descriptor = descriptor_from_uc_columns(&columns, "Reading")?;
    let message = message_descriptor(&descriptor)?;

    let sdk = ZerobusSdk::builder()
        .endpoint(emu.grpc_url())
        .unity_catalog_url(emu.http_url())
        .no_tls()
        .build()?;
    let stream = sdk
        .stream_builder()
        .table(TABLE)
        .oauth(emu.client_id(), emu.client_secret())
        .compiled_proto(descriptor)
        .build()
        .await?;
    let before =
        zerobus_emulator::storage::read_table(&emu.warehouse().join("main/default/quickstart"))
            .await?
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>() as i64;
    let started = Instant::now();
    const N: i64 = 10_000;
    let mut batch = Vec::with_capacity(1000);
    for id in before..before + N {
        let row = serde_json::json!({
            "id": id,
            "device": format!("sensor-{}", id % 10),
            "temp": 20.0 + (id % 15) as f64 / 2.0,
            "tags": ["quickstart"],
            "seen": 1_700_000_000_000_000i64 + id * 1_000_000,
        });
        batch.push(ProtoBytes(
            DynamicMessage::deserialize(message.clone(), row)?.encode_to_vec(),
        ));
        if batch.len() == 1000 {
            stream
                .ingest_records_offset(std::mem::take(&mut batch))
                .await?;
        }
    }
    stream.flush().await?;
    let mut stream = stream;
    stream.close().await?;
    println!(
        "ingested {N} records in {:?} (all acknowledged = committed to Delta)",
        started.elapsed()
    );

    let location = emu.table_location(TABLE).ok_or("table vanished")?;
    let batches = zerobus_emulator::storage::read_table(&location).await?;
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    println!(
        "Delta table {} now holds {total} rows; a sample:",
        location.display()
    );
    if let Some(first) = batches.first() {
        let sample = first.slice(0, first.num_rows().min(3));
        println!("{}", arrow::util::pretty::pretty_format_batches(&[sample])?);
    }
    emu.shutdown().await;
    Ok(())
}
