//! OpenTelemetry metrics and traces of the wrapper, exported over OTLP (gRPC or HTTP).
//!
//! On when [`crate::ZerobusConnection::observability_enabled`] is set. The exporter is
//! configured by [`crate::ZerobusConnection::observability_config`] (keys below) and, for what that map leaves
//! out, by the standard `OTEL_EXPORTER_OTLP_*`, `OTEL_METRIC_EXPORT_INTERVAL`,
//! `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` variables:
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `endpoint` | collector URL; for HTTP the base, `/v1/traces` and `/v1/metrics` are appended | `OTEL_EXPORTER_OTLP_ENDPOINT`, else `http://localhost:4317` (gRPC) / `:4318` (HTTP) |
//! | `protocol` | `grpc` or `http/protobuf` | `OTEL_EXPORTER_OTLP_PROTOCOL`, else `grpc` |
//! | `headers` | `key=value,key2=value2` sent with every export (values never logged) | `OTEL_EXPORTER_OTLP_HEADERS` |
//! | `export_interval_ms` | how often metrics are pushed | `OTEL_METRIC_EXPORT_INTERVAL`, else 60000 |
//! | `timeout_ms` | per-export timeout | `OTEL_EXPORTER_OTLP_TIMEOUT`, else 10000 |
//! | `service_name` | `service.name` of the resource | `OTEL_SERVICE_NAME`, else `arrow-zerobus` |
//!
//! Metrics (every one with the attribute `zerobus.table`): `zerobus.rows.sent`,
//! `zerobus.batches.sent`, `zerobus.bytes.sent`, `zerobus.rows.acknowledged`,
//! `zerobus.retries`, `zerobus.errors` (+ `error.kind`), `zerobus.send.duration` (seconds),
//! `zerobus.rows.in_flight`, `zerobus.streams.created`, `zerobus.rows.dead_lettered`.
//!
//! Spans: `zerobus.send_batch` with children `zerobus.encode`, `zerobus.create_stream`,
//! `zerobus.ingest`, `zerobus.flush` and `zerobus.retry` (one per backoff);
//! `zerobus.insert` around each DataFusion INSERT or COPY, parent of its batches. The
//! `tracing` span of each `send_batch` carries the same `trace_id` and `span_id`, so log
//! lines can be joined with the traces.
//!
//! Pipelines are shared by every wrapper of the process with the same settings (an INSERT
//! makes a wrapper per statement); exports run on a small runtime of their own, so they
//! work from any thread and outlive the caller's runtime. `ZerobusWrapper::shutdown`
//! flushes them.

//!
//! The pieces: [`settings`] (what to export where: [`ExportSettings`], read from the map and
//! the variables), `export` (the exporters' own runtime and HTTP client), `pipeline` (the
//! providers and instruments, one per settings), `spans` (helpers that run code in a span).

mod export;
mod pipeline;
mod settings;
mod spans;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use opentelemetry::trace::{SpanKind, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};

use crate::error::Result;

pub(crate) use pipeline::Instruments;
use pipeline::Pipeline;
pub use settings::{ExportSettings, Protocol, CONFIG_KEYS};
pub(crate) use spans::{end_span, ids, in_context};

/// The telemetry of one wrapper: a shared pipeline and the table attribute.
pub(crate) struct Telemetry {
    pipeline: Arc<Pipeline>,
    table: [KeyValue; 1],
}

impl Telemetry {
    /// The telemetry of `table`, exported with `observability_config`: the pipeline for
    /// these settings, built on first use and shared by every table that has them.
    pub fn for_table(
        table: &str,
        observability_config: Option<&HashMap<String, String>>,
    ) -> Result<Telemetry> {
        let settings = ExportSettings::from_config(observability_config)?;
        static PIPELINES: OnceLock<Mutex<HashMap<ExportSettings, Arc<Pipeline>>>> = OnceLock::new();
        let mut pipelines = PIPELINES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let pipeline = match pipelines.get(&settings) {
            Some(p) => p.clone(),
            None => {
                let p = Arc::new(Pipeline::build(&settings)?);
                pipelines.insert(settings, p.clone());
                p
            }
        };
        Ok(Telemetry {
            pipeline,
            table: [KeyValue::new("zerobus.table", table.to_string())],
        })
    }

    /// The instruments.
    pub fn metrics(&self) -> &Instruments {
        &self.pipeline.instruments
    }

    /// `zerobus.table = <table>`.
    pub fn attrs(&self) -> &[KeyValue] {
        &self.table
    }

    /// `zerobus.table` and one more attribute.
    pub fn attrs_with(&self, kv: KeyValue) -> [KeyValue; 2] {
        [self.table[0].clone(), kv]
    }

    /// Start a span named `name`, child of the current context, and return the context
    /// holding it.
    pub fn start(&self, name: &'static str, attributes: Vec<KeyValue>) -> Context {
        let parent = Context::current();
        let mut attrs = Vec::with_capacity(attributes.len() + 1);
        attrs.push(self.table[0].clone());
        attrs.extend(attributes);
        let span = self
            .pipeline
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Internal)
            .with_attributes(attrs)
            .start_with_context(&self.pipeline.tracer, &parent);
        parent.with_span(span)
    }

    /// Export what is buffered (spans and metrics), waiting at most the exporters'
    /// timeouts. Runs on a blocking thread.
    pub async fn flush(&self) {
        let pipeline = self.pipeline.clone();
        let done = tokio::task::spawn_blocking(move || {
            let traces = pipeline.tracer_provider.force_flush();
            let metrics = pipeline.meter_provider.force_flush();
            (traces, metrics)
        })
        .await;
        match done {
            Ok((Ok(()), Ok(()))) => {}
            Ok((t, m)) => {
                tracing::warn!(traces = ?t.err(), metrics = ?m.err(), "telemetry export failed")
            }
            Err(e) => tracing::warn!(error = %e, "telemetry flush did not finish"),
        }
    }
}
