//! The exporters' own runtime (exports work from any thread and outlive the caller's
//! runtime) and their HTTP client and headers.

use std::fmt;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;

use crate::error::{Result, ZerobusError};

use super::settings::{config_error, ExportSettings};

/// The runtime exports run on. The SDK's batch span processor and periodic metric reader
/// call exporters from threads of their own; tonic and our HTTP client need a Tokio
/// reactor, which this runtime provides whatever runtime (if any) the caller has.
pub(super) fn export_runtime() -> Result<&'static tokio::runtime::Runtime> {
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
pub(super) fn run_export<F: Future<Output = OTelSdkResult> + Send>(fut: F) -> OTelSdkResult {
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
pub(super) struct OnExportRuntime<E>(pub(super) E);

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
pub(super) struct HttpClient(pub(super) reqwest::Client);

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

pub(super) fn header_map(headers: &[(String, String)]) -> Result<http::HeaderMap> {
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
pub(super) fn with_tonic<
    B: opentelemetry_otlp::WithExportConfig + opentelemetry_otlp::WithTonicConfig,
>(
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
pub(super) fn with_http<
    B: opentelemetry_otlp::WithExportConfig + opentelemetry_otlp::WithHttpConfig,
>(
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

pub(super) fn build_error(what: &str, e: impl fmt::Display) -> ZerobusError {
    ZerobusError::Configuration(
        format!("observability: cannot build the {what} exporter: {e}").into(),
    )
}
