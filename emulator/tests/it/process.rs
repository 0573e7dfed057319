//! The `zerobus-emulator` program: its ready line, acknowledged data surviving `kill -9`,
//! a restart on the same warehouse and port, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use databricks_zerobus_ingest_sdk::{message_descriptor, ProtoBytes, ZerobusSdk};
use prost::Message as _;
use prost_reflect::DynamicMessage;
use serde_json::json;

use crate::common::*;

const TABLE: &str = "main.default.durable";

struct Running {
    child: Child,
    grpc: String,
    http: String,
    warehouse: String,
}

fn spawn(warehouse: &std::path::Path, extra: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zerobus-emulator"))
        .arg("--warehouse")
        .arg(warehouse)
        .args([
            "--table",
            &format!("{TABLE}:id BIGINT NOT NULL, note STRING"),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn zerobus-emulator");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready line");
    let line = line.trim_end().to_string();
    let parts: Vec<&str> = line.split(' ').collect();
    assert_eq!(parts.len(), 4, "ready line: {line}");
    assert_eq!(parts[0], "ready", "ready line: {line}");
    let field = |p: &str, key: &str| {
        p.strip_prefix(key)
            .unwrap_or_else(|| panic!("{key} in {line}"))
            .to_string()
    };
    let grpc = field(parts[1], "grpc=");
    let http = field(parts[2], "http=");
    let warehouse_out = field(parts[3], "warehouse=");
    for url in [&grpc, &http] {
        let port: u16 = url
            .strip_prefix("http://127.0.0.1:")
            .unwrap_or_else(|| panic!("loopback URL expected: {url}"))
            .parse()
            .expect("port");
        assert_ne!(port, 0, "the real port is printed, not 0");
    }
    Running {
        child,
        grpc,
        http,
        warehouse: warehouse_out,
    }
}

fn client(r: &Running) -> ZerobusSdk {
    ZerobusSdk::builder()
        .endpoint(&r.grpc)
        .unity_catalog_url(&r.http)
        .no_tls()
        .build()
        .unwrap()
}

async fn ingest(r: &Running, ids: std::ops::Range<i64>) {
    let token = reqwest::Client::new()
        .post(format!("{}/oidc/v1/token", r.http))
        .basic_auth("local", Some("local-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let cols: Vec<databricks_zerobus_ingest_sdk::schema::UcColumn> = serde_json::from_value(
        reqwest::Client::new()
            .get(format!("{}/api/2.1/unity-catalog/tables/{TABLE}", r.http))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()["columns"]
            .clone(),
    )
    .unwrap();
    let desc =
        databricks_zerobus_ingest_sdk::schema::descriptor_from_uc_columns(&cols, "Row").unwrap();
    let md = message_descriptor(&desc).unwrap();
    let stream = client(r)
        .stream_builder()
        .table(TABLE)
        .oauth("local", "local-secret")
        .compiled_proto(desc)
        .build()
        .await
        .expect("stream");
    let recs: Vec<Vec<u8>> = ids
        .map(|id| {
            DynamicMessage::deserialize(md.clone(), json!({"id": id, "note": "n"}))
                .unwrap()
                .encode_to_vec()
        })
        .collect();
    for chunk in recs.chunks(1000) {
        stream
            .ingest_records_offset(chunk.iter().cloned().map(ProtoBytes))
            .await
            .unwrap();
    }
    stream.flush().await.expect("acknowledged");
    let mut stream = stream;
    stream.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_rows_survive_kill_9_and_a_restart_serves_the_same_tables() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("wh");
    let mut first = spawn(&warehouse, &[]);
    assert_eq!(
        std::path::Path::new(&first.warehouse),
        warehouse.canonicalize().unwrap()
    );
    ingest(&first, 0..5000).await;
    first.child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
    first.child.wait().unwrap();

    let location = warehouse.join("main").join("default").join("durable");
    let batches = read_table(&location).await;
    let (distinct, dups, missing) = id_stats(&batches, 5000);
    assert_eq!(
        (distinct, dups, missing.len()),
        (5000, 0, 0),
        "every acknowledged row is committed"
    );

    // Restart on the same warehouse and the same gRPC port.
    let grpc_addr = first.grpc.trim_start_matches("http://").to_string();
    let mut second = None;
    for _ in 0..50 {
        let r = std::panic::catch_unwind(|| spawn(&warehouse, &["--grpc-addr", &grpc_addr]));
        if let Ok(r) = r {
            second = Some(r);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut second = second.expect("restart on the same port");
    assert_eq!(second.grpc, first.grpc);
    ingest(&second, 5000..6000).await;
    let batches = read_table(&location).await;
    assert_eq!(
        id_stats(&batches, 6000).2.len(),
        0,
        "old and new rows all present"
    );

    // SIGTERM: clean exit, status 0.
    let pid = second.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let exit = second.child.wait().unwrap();
    assert!(exit.success(), "exit on SIGTERM: {exit:?}");
}

/// An Arrow Flight stream of the official SDK across `kill -9` of the emulator and a
/// restart on the same ports: the SDK reconnects and replays what was not acknowledged,
/// and every id is in the table (duplicates, from rows committed but not yet acknowledged
/// when the process died, are counted and printed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_arrow_flight_stream_survives_kill_9_and_a_restart() {
    use arrow::array::{Int64Array, LargeStringArray, RecordBatch};
    use std::sync::Arc;
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("wh");
    let mut first = spawn(&warehouse, &[]);
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, false),
        arrow::datatypes::Field::new("note", arrow::datatypes::DataType::LargeUtf8, true),
    ]));
    let mut stream = client(&first)
        .stream_builder()
        .table(TABLE)
        .oauth("local", "local-secret")
        .arrow(schema.clone())
        .recovery_backoff_ms(200)
        .recovery_retries(100)
        .build_arrow()
        .await
        .expect("arrow stream");
    const N: i64 = 60_000;
    const BATCH: i64 = 2_000;
    let batch = |start: i64| {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(start..start + BATCH)),
                Arc::new(LargeStringArray::from_iter_values(
                    (start..start + BATCH).map(|i| format!("n{i}")),
                )),
            ],
        )
        .unwrap()
    };
    let mut second = None;
    for start in (0..N).step_by(BATCH as usize) {
        stream
            .ingest_batch(batch(start))
            .await
            .expect("ingest_batch");
        if start == N / 2 {
            first.child.kill().expect("SIGKILL");
            first.child.wait().unwrap();
            let grpc = first.grpc.trim_start_matches("http://").to_string();
            let http = first.http.trim_start_matches("http://").to_string();
            for _ in 0..50 {
                let args = ["--grpc-addr", grpc.as_str(), "--http-addr", http.as_str()];
                if let Ok(r) = std::panic::catch_unwind(|| spawn(&warehouse, &args)) {
                    second = Some(r);
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            assert!(second.is_some(), "restart on the same ports");
        }
    }
    stream
        .flush()
        .await
        .expect("every batch acknowledged after the restart");
    stream.close().await.expect("close");
    let location = warehouse.join("main").join("default").join("durable");
    let batches = read_table(&location).await;
    let (distinct, dups, missing) = id_stats(&batches, N);
    println!(
        "arrow flight across kill -9: sent {N}, distinct {distinct}, duplicates {dups}, missing {}",
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "missing {:?}",
        &missing[..missing.len().min(10)]
    );
    if let Some(mut s) = second {
        let _ = s.child.kill();
        let _ = s.child.wait();
    }
}
