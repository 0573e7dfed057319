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

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _, UpDownCounter};
use opentelemetry::trace::{
    FutureExt as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanData};
use opentelemetry_sdk::Resource;

use crate::error::{Result, ZerobusError};

/// Keys accepted in `observability_config`.
pub const CONFIG_KEYS: [&str; 6] = [
    "endpoint",
    "protocol",
    "headers",
    "export_interval_ms",
    "timeout_ms",
    "service_name",
];

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// OTLP over gRPC (tonic).
    Grpc,
    /// OTLP over HTTP with protobuf bodies.
    HttpProtobuf,
}

/// The exporter settings, from `observability_config` (validated) and the environment.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ExportSettings {
    /// Collector URL (`None`: the exporter's own default and `OTEL_EXPORTER_OTLP_*`).
    pub endpoint: Option<String>,
    /// Transport.
    pub protocol: Protocol,
    /// Extra headers (`None`: `OTEL_EXPORTER_OTLP_HEADERS`).
    pub headers: Option<Vec<(String, String)>>,
    /// Metric push interval (`None`: `OTEL_METRIC_EXPORT_INTERVAL` or 60 s).
    pub export_interval: Option<Duration>,
    /// Per-export timeout (`None`: `OTEL_EXPORTER_OTLP_TIMEOUT` or 10 s).
    pub timeout: Option<Duration>,
    /// `service.name` (`None`: `OTEL_SERVICE_NAME` or `arrow-zerobus`).
    pub service_name: Option<String>,
}

impl fmt::Debug for ExportSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values are credentials more often than not.
        let headers: Option<Vec<String>> = self
            .headers
            .as_ref()
            .map(|h| h.iter().map(|(k, _)| format!("{k}=<redacted>")).collect());
        f.debug_struct("ExportSettings")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("headers", &headers)
            .field("export_interval", &self.export_interval)
            .field("timeout", &self.timeout)
            .field("service_name", &self.service_name)
            .finish()
    }
}

fn config_error(key: &str, why: impl fmt::Display) -> ZerobusError {
    ZerobusError::Configuration(format!("observability_config['{key}']: {why}").into())
}

/// The variable the OTLP exporter reads its headers from when the map has none.
const HEADERS_VARIABLE: &str = "OTEL_EXPORTER_OTLP_HEADERS";

/// Parse `key=value,key2=value2` (the `OTEL_EXPORTER_OTLP_HEADERS` format). An error
/// names the entry by its place, never any part of it: it may hold a credential.
fn parse_headers(raw: &str) -> Result<Vec<(String, String)>> {
    parse_headers_from(raw, |why| config_error("headers", why))
}

fn parse_headers_from(
    raw: &str,
    error: impl Fn(String) -> ZerobusError,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (i, pair) in raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        // The entry itself is not shown: it may hold a credential.
        let Some((k, v)) = pair.split_once('=') else {
            return Err(error(format!(
                "entry {} is not key=value (write key=value,key2=value2)",
                i + 1
            )));
        };
        let k = k.trim();
        if k.is_empty()
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(error(format!(
                "entry {} does not start with a header name (letters, digits, '-', '_', '.') \
                 before its '='",
                i + 1
            )));
        }
        out.push((k.to_ascii_lowercase(), v.trim().to_string()));
    }
    Ok(out)
}

fn parse_ms(map: &HashMap<String, String>, key: &str) -> Result<Option<Duration>> {
    map.get(key)
        .map(|v| match v.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
            _ => Err(config_error(
                key,
                format!("'{v}' is not a positive number of milliseconds"),
            )),
        })
        .transpose()
}

/// Refuse a malformed `OTEL_EXPORTER_OTLP_HEADERS`, naming the variable and the entry.
fn check_headers_variable(raw: &str) -> Result<()> {
    parse_headers_from(raw, |why| {
        ZerobusError::Configuration(format!("{HEADERS_VARIABLE}: {why}").into())
    })
    .map(|_| ())
}

impl ExportSettings {
    /// Read `observability_config` (unknown keys and bad values are errors naming the
    /// key) and `OTEL_EXPORTER_OTLP_PROTOCOL` for the transport when the map has none.
    pub fn from_config(map: Option<&HashMap<String, String>>) -> Result<ExportSettings> {
        let empty = HashMap::new();
        let map = map.unwrap_or(&empty);
        if let Some(k) = map.keys().find(|k| !CONFIG_KEYS.contains(&k.as_str())) {
            return Err(config_error(
                k,
                format!("unknown key; known keys: {}", CONFIG_KEYS.join(", ")),
            ));
        }
        let protocol_source = map
            .get("protocol")
            .map(|p| ("protocol", p.clone()))
            .or_else(|| {
                std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL")
                    .ok()
                    .map(|p| ("OTEL_EXPORTER_OTLP_PROTOCOL", p))
            });
        let protocol = match protocol_source {
            None => Protocol::Grpc,
            Some((source, p)) => match p.trim().to_ascii_lowercase().as_str() {
                "grpc" => Protocol::Grpc,
                "http/protobuf" | "http" => Protocol::HttpProtobuf,
                other => {
                    return Err(config_error(
                        source,
                        format!("'{other}' is not supported; use grpc or http/protobuf"),
                    ))
                }
            },
        };
        let endpoint = match map.get("endpoint").map(|e| e.trim()) {
            None => None,
            Some(e) => {
                let url = url::Url::parse(e).map_err(|err| {
                    config_error("endpoint", format!("'{e}' is not a URL ({err})"))
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(config_error(
                        "endpoint",
                        format!("'{e}' must be http://host:port or https://host:port"),
                    ));
                }
                Some(e.trim_end_matches('/').to_string())
            }
        };
        let headers = map.get("headers").map(|h| parse_headers(h)).transpose()?;
        if headers.is_none() {
            // The exporter reads the variable itself and skips an entry it cannot parse:
            // a mistyped auth header would go missing without a word. Check it here.
            if let Ok(raw) = std::env::var(HEADERS_VARIABLE) {
                check_headers_variable(&raw)?;
            }
        }
        let service_name = match map.get("service_name").map(|s| s.trim()) {
            Some("") => return Err(config_error("service_name", "is empty")),
            s => s.map(str::to_string),
        };
        Ok(ExportSettings {
            endpoint,
            protocol,
            headers,
            export_interval: parse_ms(map, "export_interval_ms")?,
            timeout: parse_ms(map, "timeout_ms")?,
            service_name,
        })
    }
}

/// The runtime exports run on. The SDK's batch span processor and periodic metric reader
/// call exporters from threads of their own; tonic and our HTTP client need a Tokio
/// reactor, which this runtime provides whatever runtime (if any) the caller has.
fn export_runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("zerobus-otel-export")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| {
            ZerobusError::Configuration(
                format!("observability: cannot start the export runtime: {e}").into(),
            )
        })
}

/// Run an export future to completion on [`export_runtime`].
fn run_export<F: Future<Output = OTelSdkResult> + Send>(fut: F) -> OTelSdkResult {
    let rt = export_runtime()
        .map_err(|e| opentelemetry_sdk::error::OTelSdkError::InternalFailure(e.to_string()))?;
    if tokio::runtime::Handle::try_current().is_ok() {
        // Called from inside a runtime (not the SDK's own threads): blocking here would
        // stall that runtime's worker, so hand the wait to a plain thread.
        return std::thread::scope(|s| {
            s.spawn(|| rt.block_on(fut)).join().unwrap_or_else(|_| {
                Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure(
                    "export panicked".into(),
                ))
            })
        });
    }
    rt.block_on(fut)
}

/// An exporter whose exports run on [`export_runtime`].
#[derive(Debug)]
struct OnExportRuntime<E>(E);

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for OnExportRuntime<E>
{
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        std::future::ready(run_export(self.0.export(batch)))
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource)
    }
}

impl<E: opentelemetry_sdk::metrics::exporter::PushMetricExporter>
    opentelemetry_sdk::metrics::exporter::PushMetricExporter for OnExportRuntime<E>
{
    fn export(
        &self,
        metrics: &opentelemetry_sdk::metrics::data::ResourceMetrics,
    ) -> impl Future<Output = OTelSdkResult> + Send {
        std::future::ready(run_export(self.0.export(metrics)))
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self) -> Temporality {
        self.0.temporality()
    }
}

/// OTLP/HTTP through the same reqwest (rustls, native roots) the wrapper uses for Unity
/// Catalog.
#[derive(Debug, Clone)]
struct HttpClient(reqwest::Client);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for HttpClient {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> std::result::Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        let mut req = self.0.request(parts.method, parts.uri.to_string());
        for (k, v) in &parts.headers {
            req = req.header(k, v);
        }
        let resp = req.body(body).send().await?;
        let mut out = http::Response::builder().status(resp.status().as_u16());
        for (k, v) in resp.headers() {
            out = out.header(k.as_str(), v.as_bytes());
        }
        let body = resp.bytes().await?;
        Ok(out.body(body)?)
    }
}

fn header_map(headers: &[(String, String)]) -> Result<http::HeaderMap> {
    let mut map = http::HeaderMap::new();
    for (k, v) in headers {
        let name = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| config_error("headers", format!("'{k}' is not a valid header name")))?;
        let value = http::HeaderValue::from_str(v).map_err(|_| {
            config_error(
                "headers",
                format!("the value of '{k}' is not a valid header value"),
            )
        })?;
        map.insert(name, value);
    }
    Ok(map)
}

/// The gRPC exporter settings that were given (the rest: `OTEL_*` and the crate's defaults).
fn with_tonic<B: opentelemetry_otlp::WithExportConfig + opentelemetry_otlp::WithTonicConfig>(
    mut b: B,
    settings: &ExportSettings,
    url: Option<String>,
    headers: Option<&http::HeaderMap>,
) -> B {
    if let Some(u) = url {
        b = b.with_endpoint(u);
    }
    if let Some(h) = headers {
        b = b.with_metadata(tonic::metadata::MetadataMap::from_headers(h.clone()));
    }
    if let Some(t) = settings.timeout {
        b = b.with_timeout(t);
    }
    b
}

/// The HTTP exporter settings that were given, and our HTTP client.
fn with_http<B: opentelemetry_otlp::WithExportConfig + opentelemetry_otlp::WithHttpConfig>(
    mut b: B,
    settings: &ExportSettings,
    url: Option<String>,
    client: HttpClient,
) -> B {
    b = b.with_http_client(client);
    if let Some(u) = url {
        b = b.with_endpoint(u);
    }
    if let Some(h) = &settings.headers {
        b = b.with_headers(h.iter().cloned().collect());
    }
    if let Some(t) = settings.timeout {
        b = b.with_timeout(t);
    }
    b
}

fn build_error(what: &str, e: impl fmt::Display) -> ZerobusError {
    ZerobusError::Configuration(
        format!("observability: cannot build the {what} exporter: {e}").into(),
    )
}

/// The instruments of one pipeline.
pub(crate) struct Instruments {
    pub rows_sent: Counter<u64>,
    pub batches_sent: Counter<u64>,
    pub bytes_sent: Counter<u64>,
    pub rows_acknowledged: Counter<u64>,
    pub retries: Counter<u64>,
    pub errors: Counter<u64>,
    pub send_duration: Histogram<f64>,
    pub rows_in_flight: UpDownCounter<i64>,
    pub streams_created: Counter<u64>,
    pub streams_open: UpDownCounter<i64>,
    pub rows_dead_lettered: Counter<u64>,
}

struct Pipeline {
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    tracer: SdkTracer,
    instruments: Instruments,
}

impl Pipeline {
    fn build(settings: &ExportSettings) -> Result<Pipeline> {
        let rt = export_runtime()?;
        // tonic's channel spawns its worker when it is built.
        let _entered = rt.enter();
        let signal_url = |path: &str| {
            settings.endpoint.as_ref().map(|e| match settings.protocol {
                Protocol::Grpc => e.clone(),
                Protocol::HttpProtobuf => format!("{e}{path}"),
            })
        };
        let http_client = || {
            reqwest::Client::builder()
                .build()
                .map(HttpClient)
                .map_err(|e| build_error("HTTP", e))
        };
        let headers = match &settings.headers {
            Some(h) => Some(header_map(h)?),
            None => None,
        };

        let spans = match settings.protocol {
            Protocol::Grpc => with_tonic(
                opentelemetry_otlp::SpanExporter::builder().with_tonic(),
                settings,
                signal_url("/v1/traces"),
                headers.as_ref(),
            )
            .build(),
            Protocol::HttpProtobuf => with_http(
                opentelemetry_otlp::SpanExporter::builder().with_http(),
                settings,
                signal_url("/v1/traces"),
                http_client()?,
            )
            .build(),
        }
        .map_err(|e| build_error("span", e))?;
        let metrics = match settings.protocol {
            Protocol::Grpc => with_tonic(
                opentelemetry_otlp::MetricExporter::builder().with_tonic(),
                settings,
                signal_url("/v1/metrics"),
                headers.as_ref(),
            )
            .build(),
            Protocol::HttpProtobuf => with_http(
                opentelemetry_otlp::MetricExporter::builder().with_http(),
                settings,
                signal_url("/v1/metrics"),
                http_client()?,
            )
            .build(),
        }
        .map_err(|e| build_error("metric", e))?;

        let service_name = settings.service_name.clone().or_else(|| {
            match std::env::var("OTEL_SERVICE_NAME") {
                Ok(s) if !s.trim().is_empty() => None, // the resource detector reads it
                _ => Some("arrow-zerobus".to_string()),
            }
        });
        let mut resource = Resource::builder();
        if let Some(name) = service_name {
            resource = resource.with_service_name(name);
        }
        let resource = resource.build();

        let tracer_provider = SdkTracerProvider::builder()
            .with_batch_exporter(OnExportRuntime(spans))
            .with_resource(resource.clone())
            .build();
        let mut reader = PeriodicReader::builder(OnExportRuntime(metrics));
        if let Some(i) = settings.export_interval {
            reader = reader.with_interval(i);
        }
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(reader.build())
            .with_resource(resource)
            .build();

        let scope = opentelemetry::InstrumentationScope::builder("arrow-zerobus")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        let tracer = tracer_provider.tracer_with_scope(scope.clone());
        let meter = meter_provider.meter_with_scope(scope);
        let rows = |name: &'static str, doc: &'static str| {
            meter
                .u64_counter(name)
                .with_unit("{row}")
                .with_description(doc)
                .build()
        };
        let instruments = Instruments {
            rows_sent: rows(
                "zerobus.rows.sent",
                "Rows handed to the Zerobus stream (resends after a failure count again)",
            ),
            batches_sent: meter
                .u64_counter("zerobus.batches.sent")
                .with_unit("{batch}")
                .with_description("Arrow batches encoded and submitted to the stream")
                .build(),
            bytes_sent: meter
                .u64_counter("zerobus.bytes.sent")
                .with_unit("By")
                .with_description("Encoded protobuf bytes handed to the stream")
                .build(),
            rows_acknowledged: rows(
                "zerobus.rows.acknowledged",
                "Rows the service acknowledged as durable",
            ),
            retries: meter
                .u64_counter("zerobus.retries")
                .with_unit("{retry}")
                .with_description("Retries after a transient failure")
                .build(),
            errors: meter
                .u64_counter("zerobus.errors")
                .with_unit("{error}")
                .with_description("Failed send_batch calls, by error.kind")
                .build(),
            send_duration: meter
                .f64_histogram("zerobus.send.duration")
                .with_unit("s")
                .with_description("send_batch latency: call to last acknowledgement")
                .build(),
            rows_in_flight: meter
                .i64_up_down_counter("zerobus.rows.in_flight")
                .with_unit("{row}")
                .with_description("Rows encoded and not yet acknowledged or given up")
                .build(),
            streams_created: meter
                .u64_counter("zerobus.streams.created")
                .with_unit("{stream}")
                .with_description("Zerobus streams opened (first and re-created)")
                .build(),
            streams_open: meter
                .i64_up_down_counter("zerobus.streams.open")
                .with_unit("{stream}")
                .with_description("Zerobus streams (lanes) open now")
                .build(),
            rows_dead_lettered: rows(
                "zerobus.rows.dead_lettered",
                "Rows written to a dead-letter file",
            ),
        };
        Ok(Pipeline {
            tracer_provider,
            meter_provider,
            tracer,
            instruments,
        })
    }
}

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

/// End the span in `cx` with an error status (or OK) and the given attributes.
pub(crate) fn end_span(cx: &Context, error: Option<&str>, attributes: Vec<KeyValue>) {
    let span = cx.span();
    span.set_attributes(attributes);
    if let Some(e) = error {
        span.set_status(Status::error(e.to_string()));
    }
    span.end();
}

/// Await `fut` with `cx` (when telemetry is on) as the current OpenTelemetry context, so
/// spans started inside are its children.
pub(crate) async fn in_context<F: Future>(cx: Option<&Context>, fut: F) -> F::Output {
    match cx {
        Some(cx) => fut.with_context(cx.clone()).await,
        None => fut.await,
    }
}

/// The ids of the span in `cx`, as hex, for `tracing` fields.
pub(crate) fn ids(cx: &Context) -> (String, String) {
    let span = cx.span();
    let sc = span.span_context();
    (sc.trace_id().to_string(), sc.span_id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn error_of(pairs: &[(&str, &str)]) -> String {
        match ExportSettings::from_config(Some(&map(pairs))) {
            Err(ZerobusError::Configuration(m)) => m.to_string(),
            other => panic!("expected a ConfigurationError, got {other:?}"),
        }
    }

    #[test]
    fn settings_are_read_and_checked() {
        let s = ExportSettings::from_config(Some(&map(&[
            ("endpoint", "http://127.0.0.1:4318/"),
            ("protocol", "http/protobuf"),
            ("headers", "Authorization=Bearer abc, x-team = data"),
            ("export_interval_ms", "250"),
            ("service_name", "loader"),
        ])))
        .unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:4318"));
        assert_eq!(s.protocol, Protocol::HttpProtobuf);
        assert_eq!(
            s.headers.as_deref(),
            Some(
                &[
                    ("authorization".to_string(), "Bearer abc".to_string()),
                    ("x-team".to_string(), "data".to_string())
                ][..]
            )
        );
        assert_eq!(s.export_interval, Some(Duration::from_millis(250)));
        let shown = format!("{s:?}");
        assert!(!shown.contains("abc"), "{shown}");
        assert!(shown.contains("authorization=<redacted>"), "{shown}");

        assert!(error_of(&[("endpont", "x")]).contains("['endpont']: unknown key"));
        assert!(error_of(&[("protocol", "http/json")]).contains("use grpc or http/protobuf"));
        assert!(error_of(&[("endpoint", "collector:4317")]).contains("['endpoint']"));
        assert!(error_of(&[("export_interval_ms", "0")]).contains("positive"));
        assert!(error_of(&[("timeout_ms", "soon")]).contains("['timeout_ms']"));
        let m = error_of(&[("headers", "Authorization: Bearer s3cr3t")]);
        assert!(m.contains("not key=value") && !m.contains("s3cr3t"), "{m}");
        // A colon instead of '=' before base64 padding: the name part would be the
        // credential; nothing of it is echoed.
        let m = error_of(&[("headers", "x-team=a, Authorization: Basic dXNlcjpwYXNz==")]);
        assert!(m.contains("entry 2") && !m.contains("dXNlcjpwYXNz"), "{m}");
        let m = check_headers_variable("Authorization: Basic dXNlcjpwYXNz==")
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("OTEL_EXPORTER_OTLP_HEADERS")
                && m.contains("entry 1")
                && !m.contains("dXNl"),
            "{m}"
        );
        assert!(check_headers_variable("api-key=abc%3D%3D,x=y").is_ok());
    }
}
