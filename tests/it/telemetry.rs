//! OpenTelemetry: a real ingest into the emulator with telemetry on, exported over OTLP to
//! an in-process collector (gRPC and HTTP); the metrics and spans received must name the
//! table and count exactly the rows that landed in Delta (read back).

#![cfg(feature = "datafusion")]

use crate::common;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::common::otlp::{attr, hex, Collector};
use arrow::array::{AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow_zerobus_sdk_wrapper::{WrapperConfig, ZerobusConnection, ZerobusError, ZerobusWrapper};
use zerobus_emulator::{Emulator, EmulatorConfig, EmulatorHandle};

const COLUMNS: &str = "id BIGINT NOT NULL, body STRING";

fn batch(ids: std::ops::Range<i64>) -> RecordBatch {
    common::id_body_batch(ids)
}

/// Ids in the Delta table, with their counts.
async fn landed(emu: &EmulatorHandle, table: &str) -> HashMap<i64, usize> {
    let mut counts = HashMap::new();
    for b in zerobus_emulator::storage::read_table(&emu.table_location(table).unwrap())
        .await
        .unwrap()
    {
        for id in b
            .column_by_name("id")
            .unwrap()
            .as_primitive::<Int64Type>()
            .iter()
        {
            *counts.entry(id.unwrap()).or_default() += 1;
        }
    }
    counts
}

fn otel(
    collector: std::net::SocketAddr,
    protocol: &str,
    extra: &[(&str, &str)],
) -> HashMap<String, String> {
    let mut m: HashMap<String, String> = [
        ("endpoint", format!("http://{collector}")),
        ("protocol", protocol.to_string()),
        // Longer than the test: what arrives is what shutdown() flushed.
        ("export_interval_ms", "600000".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        m.insert(k.to_string(), v.to_string());
    }
    m
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn grpc_export_counts_every_row_and_traces_every_step() {
    // Logs of this thread (the test runtime is single-threaded) are captured.
    let captured = Captured::default();
    let writer = captured.clone();
    let _logs = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "warn,arrow_zerobus_sdk_wrapper=debug",
            ))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    );
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig::new(dir.path().join("wh")))
        .await
        .unwrap();
    let table = "main.default.otel_grpc";
    emu.create_table(table, COLUMNS).await.unwrap();
    let (collector, addr) = Collector::grpc().await;
    let config = WrapperConfig::builder(emu.grpc_url(), table)
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .unity_catalog_url(emu.http_url())
        .observability_enabled(true)
        .observability_config(otel(
            addr,
            "grpc",
            &[
                ("headers", "x-collector-key=k3y-value"),
                ("service_name", "otel-test-loader"),
            ],
        ))
        .dead_letter_dir(dir.path().join("dead"))
        .build()
        .unwrap();
    let wrapper = ZerobusWrapper::new(config).unwrap();
    let sizes = [1_000i64, 2_500, 500];
    let mut bytes = 0;
    let mut start = 0;
    for n in sizes {
        let r = wrapper.send_batch(&batch(start..start + n)).await.unwrap();
        assert_eq!(r.rows as i64, n);
        bytes += r.batch_size_bytes as i64;
        start += n;
    }
    // A batch the table cannot take: counted as an error, nothing sent.
    let bad = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)])),
        vec![Arc::new(StringArray::from(vec!["x"]))],
    )
    .unwrap();
    let e = wrapper.send_batch(&bad).await.unwrap_err();
    assert!(matches!(e, ZerobusError::Conversion(_)), "{e}");
    wrapper.shutdown().await.unwrap();

    let total: i64 = sizes.iter().sum();
    let counts = landed(&emu, table).await;
    assert_eq!(counts.len() as i64, total, "distinct ids in Delta");
    assert!(counts.values().all(|c| *c == 1), "duplicates in Delta");

    // Metrics: names, the table attribute, and counts equal to what landed.
    let t = [("zerobus.table", table)];
    assert_eq!(collector.sum("zerobus.rows.sent", &t), Some(total));
    assert_eq!(collector.sum("zerobus.rows.acknowledged", &t), Some(total));
    assert_eq!(collector.sum("zerobus.batches.sent", &t), Some(3));
    assert_eq!(collector.sum("zerobus.bytes.sent", &t), Some(bytes));
    assert_eq!(collector.sum("zerobus.streams.created", &t), Some(1));
    assert_eq!(collector.sum("zerobus.streams.open", &t), Some(0));
    assert_eq!(collector.sum("zerobus.rows.in_flight", &t), Some(0));
    assert_eq!(
        collector.sum(
            "zerobus.errors",
            &[("zerobus.table", table), ("error.kind", "ConversionError")]
        ),
        Some(1)
    );
    let (count, sum) = collector
        .histogram(
            "zerobus.send.duration",
            &[("zerobus.table", table), ("outcome", "ok")],
        )
        .unwrap();
    assert_eq!(count, 3);
    assert!(sum > 0.0);
    assert_eq!(
        collector.sum("zerobus.retries", &t),
        None,
        "no retry happened"
    );

    // Spans: one send_batch per call, its steps as children in the same trace.
    let spans = collector.spans();
    assert!(spans
        .iter()
        .all(|(service, _)| service == "otel-test-loader"));
    let sends: Vec<_> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.name == "zerobus.send_batch")
        .collect();
    assert_eq!(sends.len(), 4, "3 good batches and the refused one");
    for s in &sends {
        assert_eq!(attr(&s.attributes, "zerobus.table").as_deref(), Some(table));
    }
    let failed: Vec<_> = sends
        .iter()
        .filter(|s| s.status.as_ref().is_some_and(|st| st.code == 2))
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "the refused batch's span has an error status"
    );
    assert_eq!(
        attr(&failed[0].attributes, "error.kind").as_deref(),
        Some("ConversionError")
    );
    let mut good_rows = Vec::new();
    for send in sends
        .iter()
        .filter(|s| !failed.iter().any(|f| f.span_id == s.span_id))
    {
        good_rows.push(attr(&send.attributes, "zerobus.rows").unwrap());
        let children: HashSet<&str> = spans
            .iter()
            .map(|(_, s)| s)
            .filter(|c| c.parent_span_id == send.span_id && c.trace_id == send.trace_id)
            .map(|c| c.name.as_str())
            .collect();
        for step in ["zerobus.encode", "zerobus.ingest", "zerobus.flush"] {
            assert!(
                children.contains(step),
                "{step} under send_batch: {children:?}"
            );
        }
    }
    good_rows.sort();
    assert_eq!(good_rows, ["1000", "2500", "500"]);
    let creations = spans
        .iter()
        .filter(|(_, s)| s.name == "zerobus.create_stream")
        .count();
    assert_eq!(creations, 1);

    // The collector got the configured header; the log lines carry the trace ids.
    let received = collector.0.lock().unwrap().headers.clone();
    assert!(received
        .iter()
        .any(|(k, v)| k == "x-collector-key" && v == "k3y-value"));
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for send in &sends {
        let id = format!("trace_id={}", hex(&send.trace_id));
        assert!(
            logs.lines().any(|l| l.contains(&id)),
            "no log line with {id}:\n{}",
            &logs[..logs.len().min(2000)]
        );
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_export_of_an_insert_a_retry_and_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig::new(dir.path().join("wh")))
        .await
        .unwrap();
    let table = "main.default.otel_http";
    emu.create_table(table, COLUMNS).await.unwrap();
    let (collector, addr) = Collector::http().await;
    let otel = otel(
        addr,
        "http/protobuf",
        &[("headers", "authorization=Bearer collector-t0ken")],
    );
    let template = ZerobusConnection::new(emu.grpc_url())
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .unity_catalog_url(emu.http_url())
        .observability_enabled(true)
        .observability_config(otel.clone())
        .retry_max_attempts(30)
        .retry_base_delay_ms(5)
        .retry_max_delay_ms(50)
        .dead_letter_dir(dir.path().join("dead"))
        .validated()
        .unwrap();
    // Batches of 500 rows: 100 send_batch spans under the INSERT's.
    let ctx = datafusion::prelude::SessionContext::new_with_config(
        datafusion::prelude::SessionConfig::new().with_batch_size(500),
    );
    arrow_zerobus_sdk_wrapper::datafusion::register(&ctx, "zerobus", template.clone());
    let n = 50_000i64;
    let out = arrow_zerobus_sdk_wrapper::datafusion::sql(
        &ctx,
        &format!(
            "INSERT INTO zerobus.main.default.otel_http \
             SELECT value AS id, concat('b', CAST(value AS VARCHAR)) AS body \
             FROM generate_series(0, {}) ORDER BY value",
            n - 1
        ),
    )
    .await
    .unwrap()
    .collect()
    .await
    .unwrap();
    let inserted = out[0]
        .column(0)
        .as_primitive::<arrow::datatypes::UInt64Type>()
        .value(0);
    assert_eq!(inserted as i64, n);

    // A service that is gone: one retry, then the rows go to a dead-letter file, and the
    // metrics say so.
    let mut gone = template.clone();
    gone.retry_max_attempts = 2;
    gone.endpoint = common::dead_endpoint();
    let gone = ZerobusWrapper::new(gone.for_table(table).unwrap()).unwrap();
    let e = gone.send_batch(&batch(n..n + 70)).await.unwrap_err();
    assert!(
        matches!(e, ZerobusError::RetryExhausted { rows: 70, .. }),
        "{e}"
    );
    gone.shutdown().await.unwrap();

    let counts = landed(&emu, table).await;
    assert_eq!(counts.len() as i64, n, "distinct ids in Delta");
    let t = [("zerobus.table", table)];
    assert_eq!(collector.sum("zerobus.rows.acknowledged", &t), Some(n));
    assert_eq!(collector.sum("zerobus.rows.sent", &t), Some(n));
    assert_eq!(collector.sum("zerobus.batches.sent", &t), Some(n / 500 + 1));
    // The INSERT's lanes: as many streams created as the emulator saw, none left open.
    let opened = emu.stats()[table].streams_opened as i64;
    assert!(opened >= 1);
    assert_eq!(collector.sum("zerobus.streams.created", &t), Some(opened));
    assert_eq!(collector.sum("zerobus.streams.open", &t), Some(0));
    assert_eq!(
        collector.sum(
            "zerobus.retries",
            &[("zerobus.table", table), ("error.kind", "transient")]
        ),
        Some(1)
    );
    assert_eq!(collector.sum("zerobus.rows.dead_lettered", &t), Some(70));
    assert_eq!(collector.sum("zerobus.rows.in_flight", &t), Some(0));
    assert_eq!(
        collector.sum(
            "zerobus.errors",
            &[("zerobus.table", table), ("error.kind", "RetryExhausted")]
        ),
        Some(1)
    );
    for name in [
        "zerobus.rows.sent",
        "zerobus.batches.sent",
        "zerobus.bytes.sent",
        "zerobus.rows.acknowledged",
        "zerobus.retries",
        "zerobus.errors",
        "zerobus.send.duration",
        "zerobus.rows.in_flight",
        "zerobus.streams.created",
        "zerobus.streams.open",
        "zerobus.rows.dead_lettered",
    ] {
        assert!(collector.metric_names().contains(name), "{name} missing");
    }

    // One INSERT span per partition of the query (each writes on its own); each is the
    // parent of every batch its partition sent, in its trace.
    let spans = collector.spans();
    let inserts: Vec<_> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.name == "zerobus.insert")
        .collect();
    assert!(!inserts.is_empty());
    let rows_of = |s: &&opentelemetry_proto::tonic::trace::v1::Span| {
        attr(&s.attributes, "zerobus.rows")
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    assert_eq!(inserts.iter().map(rows_of).sum::<i64>(), n);
    let mut rows_in_spans = 0;
    for insert in &inserts {
        assert!(attr(&insert.attributes, "zerobus.partition").is_some());
        let under_insert: Vec<_> = spans
            .iter()
            .map(|(_, s)| s)
            .filter(|s| s.name == "zerobus.send_batch" && s.parent_span_id == insert.span_id)
            .collect();
        assert!(under_insert.iter().all(|s| s.trace_id == insert.trace_id));
        rows_in_spans += under_insert.iter().map(rows_of).sum::<i64>();
    }
    assert_eq!(rows_in_spans, n);
    assert!(spans.iter().any(|(_, s)| s.name == "zerobus.retry"));
    let received = collector.0.lock().unwrap().headers.clone();
    assert!(received
        .iter()
        .any(|(k, v)| k == "authorization" && v == "Bearer collector-t0ken"));
    emu.shutdown().await;
}

#[test]
fn telemetry_settings_are_validated_up_front() {
    let e = WrapperConfig::builder("http://127.0.0.1:1", "main.default.t")
        .client_id("id")
        .client_secret("secret")
        .unity_catalog_url("http://127.0.0.1:2")
        .observability_enabled(true)
        .observability_config(HashMap::from([(
            "protocol".to_string(),
            "carrier-pigeon".to_string(),
        )]))
        .build()
        .unwrap_err();
    assert!(
        e.to_string().contains("observability_config['protocol']"),
        "{e}"
    );
}
