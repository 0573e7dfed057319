//! No secret leaks: a full ingest (debug files on, every crate's tracing at TRACE,
//! OpenTelemetry exported to an in-process collector, a retry after an authentication
//! failure, a dead-letter file, DataFusion INSERT), then every log line, error message,
//! Debug print, file written and telemetry export is searched for the client secret and
//! for any bearer token, and everything but the collector's own requests for the
//! collector's credential. Its own test binary: the tracing subscriber is global.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow_zerobus_sdk_wrapper::{WrapperConfig, ZerobusWrapper};
use zerobus_emulator::{Emulator, EmulatorConfig};

const TABLE: &str = "main.default.secrets";
/// Every token the emulator issues starts with this.
const TOKEN_PREFIX: &str = "zbe1.";
/// The telemetry collector's credential: sent to the collector, shown nowhere else.
const COLLECTOR_KEY: &str = "otel-collector-k3y";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn batch(ids: std::ops::Range<i64>) -> RecordBatch {
    common::id_body_batch(ids)
}

/// Every file below `dir`, as bytes.
fn files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p.display().to_string(), bytes));
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_token_in_logs_errors_debug_prints_or_files() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig::new(dir.path().join("wh")))
        .await
        .unwrap();
    emu.create_table(TABLE, "id BIGINT NOT NULL, body STRING")
        .await
        .unwrap();
    let secret = emu.client_secret().to_string();
    let mut texts: Vec<String> = Vec::new();
    // The search is for the right thing: the emulator's tokens do start with the prefix.
    let issued: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/oidc/v1/token", emu.http_url()))
        .basic_auth(emu.client_id(), Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "all-apis")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(issued["access_token"]
        .as_str()
        .is_some_and(|t| t.starts_with(TOKEN_PREFIX)));

    // A full ingest with debug files and telemetry.
    let (collector, collector_addr) = common::otlp::Collector::grpc().await;
    let config = WrapperConfig::builder(emu.grpc_url(), TABLE)
        .client_id(emu.client_id())
        .client_secret(secret.clone())
        .unity_catalog_url(emu.http_url())
        .debug_enabled(true)
        .debug_output_dir(dir.path().join("debug"))
        .debug_flush_interval_secs(1)
        .dead_letter_dir(dir.path().join("dead"))
        .retry_max_attempts(2)
        .retry_base_delay_ms(10)
        .observability_enabled(true)
        .observability_config(
            [
                ("endpoint", format!("http://{collector_addr}")),
                ("protocol", "grpc".to_string()),
                ("headers", format!("x-api-key={COLLECTOR_KEY}")),
                ("export_interval_ms", "200".to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        )
        .build()
        .unwrap();
    texts.push(format!("{config:?}"));
    let wrapper = ZerobusWrapper::new(config.clone()).unwrap();
    texts.push(format!("{wrapper:?}"));
    for i in 0..5 {
        let r = wrapper
            .send_batch(&batch(i * 1000..(i + 1) * 1000))
            .await
            .unwrap();
        texts.push(format!("{r:?}"));
    }
    wrapper.flush().await.unwrap();

    // The same through SQL.
    let ctx = datafusion::prelude::SessionContext::new();
    arrow_zerobus_sdk_wrapper::datafusion::register(&ctx, "zerobus", config.connection.clone());
    let out = arrow_zerobus_sdk_wrapper::datafusion::sql(
        &ctx,
        "INSERT INTO zerobus.main.default.secrets SELECT value AS id, 'sql' AS body FROM generate_series(5000, 5999)",
    )
    .await
    .unwrap()
    .collect()
    .await
    .unwrap();
    texts.push(format!("{out:?}"));

    // A secret written in OPTIONS of COPY and CREATE EXTERNAL TABLE: the plans, EXPLAIN
    // (plain, VERBOSE, ANALYZE) and the TRACE logs of planning and running them.
    let options = format!(
        "OPTIONS ('endpoint' '{}', 'unity_catalog_url' '{}', 'client_id' '{}', 'client_secret' '{secret}')",
        emu.grpc_url(),
        emu.http_url(),
        emu.client_id()
    );
    let query = "(SELECT CAST(7000 AS BIGINT) AS id, 'copy' AS body)";
    for statement in [
        format!("EXPLAIN COPY {query} TO 'zerobus://{TABLE}' {options}"),
        format!("EXPLAIN VERBOSE COPY {query} TO 'zerobus://{TABLE}' {options}"),
        format!("EXPLAIN ANALYZE COPY {query} TO 'zerobus://{TABLE}' {options}"),
        format!("COPY {query} TO 'zerobus://{TABLE}' {options}"),
        format!("CREATE EXTERNAL TABLE with_secret STORED AS ZEROBUS LOCATION '{TABLE}' {options}"),
        "INSERT INTO with_secret SELECT CAST(7001 AS BIGINT) AS id, 'ext' AS body".to_string(),
    ] {
        let df = arrow_zerobus_sdk_wrapper::datafusion::sql(&ctx, &statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
        texts.push(format!("{:?}", df.logical_plan()));
        texts.push(df.logical_plan().display_indent().to_string());
        let out = df.collect().await.unwrap();
        texts.push(
            arrow::util::pretty::pretty_format_batches(&out)
                .unwrap()
                .to_string(),
        );
    }
    let landed = zerobus_emulator::storage::read_table(&emu.table_location(TABLE).unwrap())
        .await
        .unwrap();
    let ids: Vec<i64> = landed
        .iter()
        .flat_map(|b| {
            use arrow::array::AsArray;
            b.column_by_name("id")
                .unwrap()
                .as_primitive::<arrow::datatypes::Int64Type>()
                .values()
                .to_vec()
        })
        .collect();
    assert!(
        ids.contains(&7000) && ids.contains(&7001),
        "the COPY and the INSERT with secrets in OPTIONS landed"
    );

    // Errors: wrong secret (authentication), and a vanished service (dead letters).
    let mut wrong = config.clone();
    wrong.client_secret = Some(arrow_zerobus_sdk_wrapper::Secret::new(format!(
        "{secret}-typo"
    )));
    let e = ZerobusWrapper::new(wrong)
        .unwrap()
        .send_batch(&batch(0..1))
        .await
        .unwrap_err();
    texts.push(e.to_string());
    texts.push(format!("{e:?}"));
    let mut gone = config.clone();
    gone.endpoint = common::dead_endpoint();
    let e = ZerobusWrapper::new(gone)
        .unwrap()
        .send_batch(&batch(9000..9010))
        .await
        .unwrap_err();
    texts.push(e.to_string());
    texts.push(format!("{e:?}"));

    wrapper.shutdown().await.unwrap();
    emu.shutdown().await;

    let logs = captured.0.lock().unwrap().clone();
    assert!(
        logs.len() > 10_000,
        "TRACE logging captured {} bytes: the search would be meaningless",
        logs.len()
    );
    let mut written = Vec::new();
    files(&dir.path().join("debug"), &mut written);
    files(&dir.path().join("dead"), &mut written);
    assert!(
        written
            .iter()
            .any(|(p, _)| p.ends_with(".arrows") || p.contains("arrow"))
            && written.iter().any(|(p, _)| p.contains("dead")),
        "debug and dead-letter files were written: {:?}",
        written.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    // Debug and dead-letter files are readable by their owner only.
    #[cfg(unix)]
    for (path, _) in &written {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{path} has mode {mode:o}");
    }
    let mut leaks = Vec::new();
    let exported = collector.0.lock().unwrap().raw.clone();
    let spans = collector.spans().len();
    assert!(
        spans > 10 && collector.sum("zerobus.rows.acknowledged", &[]).is_some(),
        "telemetry was exported ({spans} spans): the search would be meaningless"
    );
    for needle in [secret.as_str(), TOKEN_PREFIX] {
        if contains(&exported, needle) {
            leaks.push(format!("telemetry export: contains {needle:?}"));
        }
    }
    assert!(
        contains(&exported, COLLECTOR_KEY),
        "the collector received its credential"
    );
    for needle in [secret.as_str(), TOKEN_PREFIX, COLLECTOR_KEY] {
        if contains(&logs, needle) {
            let text = String::from_utf8_lossy(&logs);
            let line = text
                .lines()
                .find(|l| l.contains(needle))
                .unwrap_or_default();
            leaks.push(format!(
                "log: {needle:?} in: {}",
                &line[..line.len().min(300)]
            ));
        }
        for t in &texts {
            if t.contains(needle) {
                leaks.push(format!("message/Debug: {needle:?} in: {t}"));
            }
        }
        for (path, bytes) in &written {
            if contains(bytes, needle) {
                leaks.push(format!("file {path}: contains {needle:?}"));
            }
        }
    }
    println!(
        "searched {} bytes of TRACE logs, {} messages and Debug prints, {} files, {} bytes of \
         telemetry ({spans} spans)",
        logs.len(),
        texts.len(),
        written.len(),
        exported.len()
    );
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}
